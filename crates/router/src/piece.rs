//! Speaking one piece (a sentence) with retries and failover.
//!
//! The error's scope decides an entry's health (see DESIGN.md's error table):
//! a provider-scoped failure marks the entry down; a transient one is retried
//! within the deadline and marks it down only once retries are exhausted; a
//! request-scoped one (an invalid request, an unknown voice, a language or
//! rate it cannot serve) fails over for this piece only and touches nothing.
//! Entries whose capabilities say they cannot serve the piece are skipped
//! before they are tried, with the reason in the attempt record.
//!
//! An attempt that dies after sending audio is dealt with in one of two ways
//! (see `handover`): if none of the piece's audio has reached the caller
//! yet (it was held behind the sentence being heard), its audio is dropped
//! and the next entry speaks the piece whole, as if the attempt had never
//! been; if some of it has, [`Progress`] bounds what is heard twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::Instrument;
use voxwire_core::{AudioFormat, ErrorKind, ErrorScope, Phase, TtsError};

use crate::attempt::{self, AttemptPlan, AttemptResult, PieceMsg};
use crate::balance::Sticky;
use crate::events::{AttemptOutcome, AttemptRecord, FailoverKind, FailoverReason};
use crate::handover::{Deaths, Handover};
use crate::hedge::{self, LoserEnd, Race, RaceEnd, Racer};
use crate::jitter;
use crate::member::{Plan, Template};
use crate::resume;
use crate::rt::{self, until, Instant};
use crate::Inner;

/// One piece to speak and how.
pub(crate) struct PieceJob {
    /// Index of the piece in its request or session.
    pub index: usize,
    /// Whether the piece starts its utterance (offset 0): only then is a
    /// position in it a position in the caller's request.
    pub opens_utterance: bool,
    pub text: String,
    pub template: Arc<Template>,
    pub target: AudioFormat,
    /// Per entry, how it delivers `target`.
    pub plans: Arc<Vec<Plan>>,
    /// The member of each weighted group the session keeps.
    pub sticky: Arc<Sticky>,
    /// What of the piece the session has handed on: a take that dies before
    /// any of it was is retracted.
    pub handover: Arc<Handover>,
    /// The entries that died in the session.
    pub deaths: Arc<Deaths>,
}

/// Why entry `idx` cannot serve the piece, if it cannot.
pub(crate) fn why_not(inner: &Inner, job: &PieceJob, idx: usize) -> Option<String> {
    match &job.plans[idx] {
        Plan::Cannot(reason) => Some(reason.clone()),
        _ => inner.members[idx].cannot_serve(&job.template, &job.text),
    }
}

/// An attempt made before the usual loop (a hedge race's): its result and
/// wall time.
struct Done {
    result: AttemptResult,
    elapsed: Duration,
    hedge: bool,
}

/// Where a piece's audio stands after the attempts so far: the duplicate bound.
///
/// Only attempts of which some audio reached the caller count here (one whose
/// audio was all still held is retracted instead). The first attempt that dies mid-stream is replayed from the start by the
/// next entry (its audio heard in part once more). From the second death on,
/// the next attempt drops its audio up to where the dying one got, so however
/// many failovers a piece takes, its audio is heard in part at most once more.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Progress {
    interruptions: u32,
    skip: Duration,
    furthest: Duration,
    /// The byte of the text the listener has heard whole up to, by the word
    /// times of a take that died (see `resume`).
    resume: Option<usize>,
}

impl Progress {
    /// Audio the next attempt drops from its start.
    pub fn skip(&self) -> Duration {
        self.skip
    }

    /// An attempt died after `reached` of the piece's audio.
    pub fn interrupted(&mut self, reached: Duration) {
        self.interruptions += 1;
        self.furthest = self.furthest.max(reached);
        if self.interruptions >= 2 {
            self.skip = self.skip.max(reached);
        }
    }

    /// An entry that is itself a router died mid-piece after replaying it
    /// once already, its audio having got to `position` of the piece: the
    /// next attempt resumes there (the one replay allowed is spent).
    pub fn interrupted_after_replay(&mut self, position: Duration) {
        self.interruptions = self.interruptions.saturating_add(1).max(2);
        self.furthest = self.furthest.max(position);
        self.skip = self.skip.max(position);
    }

    /// Whether nothing of the piece was heard from an attempt that died and
    /// nothing is to be skipped: the next attempt speaks it whole, fresh.
    pub fn clean(&self) -> bool {
        self.interruptions == 0 && self.resume.is_none() && self.skip.is_zero()
    }

    /// Whether the one replay allowed is spent: a replay died mid-piece too
    /// (one death alone leaves the router in front its own replay).
    pub fn replay_spent(&self) -> bool {
        self.interruptions >= 2
    }

    /// A take that reported word times died with the text heard whole up to
    /// byte `at`.
    pub fn heard_to(&mut self, at: usize) {
        self.resume = Some(self.resume.map_or(at, |r| r.max(at)));
    }

    /// Where an entry that reports word times resumes the piece, if known.
    pub fn resume(&self) -> Option<usize> {
        self.resume
    }

    /// The furthest any attempt's audio got into the piece.
    pub fn furthest(&self) -> Duration {
        self.furthest
    }
}

/// Attached (as its source) to the error of an utterance's first piece that
/// failed after audio was already replayed once: a router in front of this
/// one (in process, or the browser's in front of a relay's, which sends it as
/// `voxwire_replayed_ms` in its error frame) then resumes at
/// `position` instead of replaying again, so the duplicate bound holds
/// across nested routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// How far into the sentence its audio got.
    pub position: Duration,
}

impl std::fmt::Display for Replayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the sentence was already replayed once; its audio got to {} ms",
            self.position.as_millis()
        )
    }
}

impl std::error::Error for Replayed {}

impl Replayed {
    /// The note a router attached to `error` (its source), if any.
    pub fn of(error: &TtsError) -> Option<Replayed> {
        let source = std::error::Error::source(error)?;
        source.downcast_ref::<Replayed>().copied()
    }
}

/// Why a take of an entry that died on another sentence is dropped.
const DIED_ELSEWHERE: &str = "it died while speaking another sentence; this one was not heard yet";

/// Why a hedge serves in place of the entry asked first. Ends in one
/// lower-case word, the label the relay's failover metric takes.
fn hedge_reason(delay: Duration) -> FailoverReason {
    FailoverReason::new(
        FailoverKind::Hedged,
        format!("no audio from it within {} ms: hedged", delay.as_millis()),
    )
}

/// Why an entry that failed with `error` is left.
fn failed(error: &TtsError) -> FailoverReason {
    FailoverReason::new(FailoverKind::Failed(error.kind()), error.to_string())
}

/// Which racer of a hedge race carries the piece on.
enum Hedged {
    /// No hedge was started.
    Alone,
    /// The primary won; whether the secondary had failed.
    Primary { partner_failed: bool },
    /// The secondary won; whether the primary had failed.
    Secondary { primary_failed: bool },
}

/// Runs the piece's first attempt on `primary` with a hedge on `secondary`
/// after `delay`, reports the loser's attempt (a cancelled or failed one)
/// and the race, and returns the result that carries the piece on.
#[allow(clippy::too_many_arguments)]
async fn hedged(
    inner: &Inner,
    job: &PieceJob,
    tx: &mpsc::Sender<PieceMsg>,
    (primary, secondary): (usize, usize),
    delay: Duration,
    left: &Option<(String, FailoverReason)>,
    deadline: Instant,
    (reasons, failed_names): (&mut Vec<String>, &mut Vec<String>),
) -> (Done, Hedged) {
    let chars = job.text.chars().count();
    let racer = |idx: usize, left: Option<(String, FailoverReason)>, hedge: bool| {
        let member = &inner.members[idx];
        let (request, unverified) = member.request(&job.template, &job.text, &job.plans[idx]);
        if unverified {
            inner.list_voices_in_background(idx);
        }
        Racer {
            member,
            request,
            left,
            hedge,
        }
    };
    let (p_name, s_name) = (
        inner.members[primary].name.clone(),
        inner.members[secondary].name.clone(),
    );
    let hedge_left = Some((p_name.clone(), hedge_reason(delay)));
    let started = Instant::now();
    let end = hedge::race(
        racer(primary, left.clone(), false),
        racer(secondary, hedge_left, true),
        Race {
            target: job.target,
            tx,
            fallback_first_audio: until(deadline).max(Duration::from_millis(1)),
            delay,
            // A race is always the piece's first attempt.
            take: 1,
        },
    )
    .instrument(tracing::info_span!("attempt", entry = %p_name, attempt = 1, hedge = %s_name))
    .await;
    let (secondary_won, result, elapsed, loser) = match end {
        RaceEnd::Alone(result) => {
            let done = Done {
                result,
                elapsed: started.elapsed(),
                hedge: false,
            };
            return (done, Hedged::Alone);
        }
        RaceEnd::Raced {
            secondary_won,
            result,
            elapsed,
            loser,
        } => (secondary_won, result, elapsed, loser),
    };
    let (winner, loser_idx) = if secondary_won {
        (secondary, primary)
    } else {
        (primary, secondary)
    };
    let winner_name = inner.members[winner].name.clone();
    let loser_member = &inner.members[loser_idx];
    let mut record = AttemptRecord {
        entry: loser_member.name.clone(),
        provider: loser_member.provider_id().to_string(),
        attempt: 1,
        piece: job.index,
        outcome: AttemptOutcome::Spoke,
        first_audio: None,
        audio: Duration::ZERO,
        chars,
        chars_sent: chars,
        audio_received: Duration::ZERO,
        hedge: loser_idx == secondary,
        elapsed: Duration::ZERO,
    };
    let loser_failed = match loser {
        LoserEnd::Cancelled { elapsed, received } => {
            tracing::info!(entry = %loser_member.name, winner = %winner_name, "hedge lost: cancelled");
            record.outcome = AttemptOutcome::Failed {
                kind: ErrorKind::Cancelled,
                message: format!("cancelled: {winner_name} gave audio first (hedged)"),
            };
            record.audio_received = received;
            record.elapsed = elapsed;
            // No audio after this long is a slow first audio, whatever came later.
            if loser_member
                .policy
                .first_audio_slo()
                .is_some_and(|slo| elapsed > slo)
            {
                inner.first_audio_latency(loser_idx, elapsed);
            }
            false
        }
        LoserEnd::Failed { result, elapsed } => {
            let error = result.error.unwrap_or_else(|| {
                TtsError::new(ErrorKind::NoAudio, "the hedged attempt gave no audio")
                    .with_provider(loser_member.name.clone())
            });
            record.outcome = AttemptOutcome::Failed {
                kind: error.kind(),
                message: error.to_string(),
            };
            record.audio_received = result.reached;
            record.elapsed = elapsed;
            reasons.push(format!("{} attempt 1: {error}", loser_member.name));
            if !failed_names.contains(&loser_member.name) {
                failed_names.push(loser_member.name.clone());
            }
            if error.scope() == ErrorScope::Provider {
                inner.mark_down(loser_idx, &error);
            }
            true
        }
    };
    inner.report_attempt(loser_idx, record);
    let _ = inner.events.send(crate::RouterEvent::Hedge {
        piece: job.index,
        primary: p_name,
        secondary: s_name,
        winner: result.first_audio.is_some().then_some(winner_name),
    });
    let done = Done {
        result,
        elapsed,
        hedge: secondary_won,
    };
    let hedged = if secondary_won {
        Hedged::Secondary {
            primary_failed: loser_failed,
        }
    } else {
        Hedged::Primary {
            partner_failed: loser_failed,
        }
    };
    (done, hedged)
}

/// Speaks the piece on the first entry that can, in chain order (entries
/// down are skipped unless all are down).
pub(crate) async fn speak(inner: Arc<Inner>, job: PieceJob, tx: mpsc::Sender<PieceMsg>) {
    let chars = job.text.chars().count();
    let span = tracing::info_span!("piece", index = job.index, chars);
    async move {
        if crate::cache::serve(&inner, &job, &tx).await {
            return;
        }
        let deadline = Instant::now() + inner.settings.deadline();
        let (order, mut left) = inner.order(&job.sticky);
        let mut queue: VecDeque<usize> = order.into();
        // Only an utterance's first sentence, and only its first attempt, is hedged.
        let mut may_hedge = job.opens_utterance;
        let mut reasons: Vec<String> = Vec::new();
        let mut failed_names: Vec<String> = Vec::new();
        let mut only_request_scoped = true;
        let mut last_kind = ErrorKind::Unavailable;
        // The kind every entry that was tried refused with, when they agree
        // (e.g. all answered 400): the caller learns what was wrong.
        let mut refused_kind: Option<ErrorKind> = None;
        let mut refusals_agree = true;
        let mut progress = Progress::default();
        // The piece's attempts across entries, numbered from 1.
        let mut take = 0u32;
        while let Some(mut idx) = queue.pop_front() {
            if let Some(reason) = why_not(&inner, &job, idx) {
                let member = &inner.members[idx];
                tracing::debug!(entry = %member.name, %reason, "skipped");
                inner.report_attempt(idx, AttemptRecord {
                    entry: member.name.clone(),
                    provider: member.provider_id().to_string(),
                    attempt: 0,
                    piece: job.index,
                    outcome: AttemptOutcome::Skipped {
                        reason: reason.clone(),
                    },
                    first_audio: None,
                    audio: Duration::ZERO,
                    chars,
                    chars_sent: 0,
                    audio_received: Duration::ZERO,
                    hedge: false,
                    elapsed: Duration::ZERO,
                });
                reasons.push(format!("{}: {reason}", member.name));
                continue;
            }
            let mut pre: Option<Done> = None;
            if std::mem::take(&mut may_hedge) {
                let delay = inner.members[idx].policy.hedge_after();
                let partner = queue.iter().position(|&i| why_not(&inner, &job, i).is_none());
                if let (Some(delay), Some(pos)) = (delay, partner) {
                    job.handover.begin(1, job.deaths.mark());
                    let (done, winner) = hedged(
                        &inner,
                        &job,
                        &tx,
                        (idx, queue[pos]),
                        delay,
                        &left,
                        deadline,
                        (&mut reasons, &mut failed_names),
                    )
                    .await;
                    let partner_idx = queue[pos];
                    match winner {
                        Hedged::Alone => {}
                        Hedged::Primary { partner_failed } => {
                            if partner_failed {
                                queue.remove(pos);
                            }
                        }
                        Hedged::Secondary { primary_failed } => {
                            queue.remove(pos);
                            if !primary_failed {
                                queue.push_front(idx);
                            }
                            left = Some((
                                inner.members[idx].name.clone(),
                                hedge_reason(delay),
                            ));
                            idx = partner_idx;
                        }
                    }
                    pre = Some(done);
                }
            }
            let member = &inner.members[idx];
            let mut attempt_no = 0u32;
            let mut without_voice = false;
            loop {
                attempt_no += 1;
                take += 1;
                if pre.is_none() {
                    job.handover.begin(take, job.deaths.mark());
                }
                let (mut request, unverified) = member.request(&job.template, &job.text, &job.plans[idx]);
                if unverified {
                    inner.list_voices_in_background(idx);
                }
                if without_voice {
                    request.voice = None;
                }
                let started = Instant::now();
                let resume_at = progress.resume().filter(|_| member.asks_times);
                // Kept for the phrase cache: a clean, unhedged attempt's audio.
                let mut recorder = match (&pre, without_voice) {
                    (None, false) => crate::cache::Recorder::start(&inner, idx, &job, &request, progress.clean()),
                    _ => None,
                };
                let (result, elapsed, hedge) = match pre.take() {
                    Some(done) => (done.result, done.elapsed, done.hedge),
                    None => {
                        let attempt_span = tracing::info_span!("attempt", entry = %member.name, attempt = attempt_no);
                        let result = attempt::run(
                            member,
                            AttemptPlan {
                                request,
                                target: job.target,
                                tx: &tx,
                                take,
                                left: left.clone(),
                                skip: if resume_at.is_some() { Duration::ZERO } else { progress.skip() },
                                resume: resume_at,
                                fallback_first_audio: until(deadline).max(Duration::from_millis(1)),
                                hedge: false,
                                watch: Some((&job.handover, &job.deaths)),
                                record: recorder.as_mut(),
                            },
                        )
                        .instrument(attempt_span)
                        .await;
                        (result, started.elapsed(), false)
                    }
                };
                if let Some(latency) = result.first_audio {
                    inner.first_audio_latency(idx, latency);
                    inner.served(idx, &job.sticky);
                }
                let died_mid_stream = result.first_audio.is_some();
                let failing_over = result
                    .error
                    .as_ref()
                    .is_some_and(|e| e.kind() != ErrorKind::Cancelled && e.may_fail_over());
                // Audio of this take the session holds but has not handed on
                // is dropped (the loop retracted the take, or it is retracted
                // now because it died before any of the piece was heard), and
                // the next entry speaks the piece whole: it costs no replay.
                let dropped = job.handover.retracted(take)
                    || (failing_over && died_mid_stream && job.handover.retract(take));
                inner.report_attempt(idx, AttemptRecord {
                    entry: member.name.clone(),
                    provider: member.provider_id().to_string(),
                    attempt: attempt_no,
                    piece: job.index,
                    outcome: match &result.error {
                        None if result.abandoned => AttemptOutcome::Failed {
                            kind: ErrorKind::Cancelled,
                            message: DIED_ELSEWHERE.to_string(),
                        },
                        None => AttemptOutcome::Spoke,
                        Some(e) => AttemptOutcome::Failed {
                            kind: e.kind(),
                            message: e.to_string(),
                        },
                    },
                    first_audio: result.first_audio,
                    audio: if dropped { Duration::ZERO } else { result.audio },
                    chars,
                    chars_sent: chars,
                    audio_received: result.reached,
                    hedge,
                    elapsed,
                });
                let error = match result.error {
                    None if !result.abandoned && job.handover.complete(take) => {
                        inner.mark_up(idx, "it spoke a request");
                        if let Some(recorder) = recorder {
                            recorder.keep(&inner).await;
                        }
                        let _ = tx.send(PieceMsg::Done).await;
                        return;
                    }
                    None => {
                        // The session dropped this take: its entry died on
                        // another sentence before any of this one was heard.
                        let why = DIED_ELSEWHERE;
                        tracing::info!(entry = %member.name, take, "{why}");
                        reasons.push(format!("{} attempt {attempt_no}: {why}", member.name));
                        if !failed_names.contains(&member.name) {
                            failed_names.push(member.name.clone());
                        }
                        only_request_scoped = false;
                        left = Some((
                            member.name.clone(),
                            FailoverReason::new(FailoverKind::Down, why),
                        ));
                        // It did speak this one: the last resort if no
                        // other entry can (a chain of one keeps it).
                        if !queue.contains(&idx) {
                            queue.push_back(idx);
                        }
                        break;
                    }
                    Some(e) => e,
                };
                if error.kind() == ErrorKind::Cancelled {
                    return; // the session stopped listening
                }
                if !error.may_fail_over() {
                    let _ = tx.send(PieceMsg::Failed(error)).await;
                    return;
                }
                // Otherwise the piece is the one being heard.
                if dropped {
                    tracing::info!(entry = %member.name, take, "nothing of the piece was heard: its audio is dropped");
                } else if died_mid_stream {
                    if let Some(at) = resume::resume_point(&job.text, &result.words, result.reached) {
                        progress.heard_to(at);
                    }
                    match Replayed::of(&error) {
                        Some(note) => progress.interrupted_after_replay(note.position),
                        None => progress.interrupted(result.reached),
                    }
                }
                // A voice passed before the entry's list was known, and refused:
                // the entry speaks with its own default voice instead.
                if unverified
                    && !without_voice
                    && !died_mid_stream
                    && error.kind() == ErrorKind::NotFound
                    && error.is_request_scoped()
                {
                    without_voice = true;
                    continue;
                }
                if !failed_names.contains(&member.name) {
                    failed_names.push(member.name.clone());
                }
                last_kind = error.kind();
                if error.is_request_scoped() {
                    refusals_agree &= refused_kind.is_none_or(|k| k == last_kind);
                    refused_kind = Some(last_kind);
                }
                reasons.push(format!("{} attempt {attempt_no}: {error}", member.name));
                match error.scope() {
                    ErrorScope::Request => {
                        tracing::info!(entry = %member.name, %error, "this request fails over; health untouched");
                        left = Some((member.name.clone(), failed(&error)));
                        break;
                    }
                    ErrorScope::Transient => {
                        only_request_scoped = false;
                        // A provider that dies mid-piece is left at once: retrying
                        // it would replay the same partial audio again.
                        if error.is_retryable()
                            && !died_mid_stream
                            && attempt_no <= member.policy.max_retries
                        {
                            let wait = member.policy.backoff(
                                attempt_no - 1,
                                error.retry_after(),
                                jitter::unit(),
                            );
                            if Instant::now() + wait < deadline {
                                tracing::info!(entry = %member.name, wait_ms = wait.as_millis() as u64, %error, "retrying");
                                rt::sleep(wait).await;
                                continue;
                            }
                        }
                    }
                    _ => only_request_scoped = false,
                }
                job.deaths.record(&member.name);
                inner.mark_down(idx, &error);
                left = Some((member.name.clone(), failed(&error)));
                break;
            }
            if progress.resume().is_some_and(|at| resume::heard_whole(&job.text, at)) {
                tracing::info!("every word of the piece was heard before its entry failed");
                let _ = tx.send(PieceMsg::Done).await;
                return;
            }
            if Instant::now() >= deadline {
                reasons.push(format!(
                    "deadline of {} ms passed",
                    inner.settings.deadline().as_millis()
                ));
                last_kind = ErrorKind::Timeout;
                only_request_scoped = false;
                break;
            }
        }
        let error = if only_request_scoped {
            let kind = match refused_kind {
                Some(kind) if refusals_agree => kind,
                _ => ErrorKind::Unsupported,
            };
            TtsError::new(
                kind,
                format!("no entry of the chain can serve this request: {}", reasons.join("; ")),
            )
            .with_scope(ErrorScope::Request)
            .with_hint("change the language, speed or format asked for, or add an entry that serves it (`voxwire voices` lists each provider's tags)")
        } else {
            TtsError::new(
                last_kind,
                format!("every provider failed: {}", reasons.join("; ")),
            )
            .with_hint("see each attempt's reason; `voxwire doctor` checks each provider")
        }
        .with_provider(if failed_names.is_empty() {
            "router".to_string()
        } else {
            failed_names.join(", ")
        })
        .with_phase(Phase::Receive);
        // Only an utterance's first piece's position is the request's position.
        let error = if job.opens_utterance && progress.replay_spent() {
            error.with_source(Replayed {
                position: progress.furthest(),
            })
        } else {
            error
        };
        let _ = tx.send(PieceMsg::Failed(error)).await;
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_interruption_replays_later_ones_resume() {
        let mut p = Progress::default();
        assert_eq!(p.skip(), Duration::ZERO);
        p.interrupted(Duration::from_millis(300));
        assert_eq!(
            p.skip(),
            Duration::ZERO,
            "the first failover replays the piece"
        );
        p.interrupted(Duration::from_millis(500));
        assert_eq!(p.skip(), Duration::from_millis(500));
        p.interrupted(Duration::from_millis(400));
        assert_eq!(p.skip(), Duration::from_millis(500), "never goes back");
    }
}
