//! Hedged first audio: when an utterance's first sentence has no audio from
//! the entry asked first after its `hedge_after_ms`, the next entry is asked
//! too. The first to give audio wins and is forwarded; the other attempt is
//! dropped, which cancels its stream. Neither forwards anything before it
//! wins, so the caller hears exactly one of them. Hedges only ever start
//! before an utterance has audio.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use voxwire_core::{AudioFormat, SynthesisRequest};

use crate::attempt::{self, AttemptPlan, AttemptResult, PieceMsg};
use crate::events::FailoverReason;
use crate::member::Member;
use crate::rt::{self, Instant};

/// Messages one racer may run ahead of the race (its own audio is held
/// here only until it wins or loses).
const RACE_QUEUE: usize = 256;

/// One side of a race.
pub(crate) struct Racer<'a> {
    pub member: &'a Member,
    pub request: SynthesisRequest,
    /// The `left` its `Serving` message carries if it wins.
    pub left: Option<(String, FailoverReason)>,
    /// It is the hedge, started beside the primary.
    pub hedge: bool,
}

/// What the race needs besides the racers.
pub(crate) struct Race<'a> {
    pub target: AudioFormat,
    /// The piece's channel to the session: only the winner's messages reach it.
    pub tx: &'a mpsc::Sender<PieceMsg>,
    /// The first-audio bound when an entry sets none (the deadline left).
    pub fallback_first_audio: Duration,
    /// The primary's hedge delay.
    pub delay: Duration,
    /// The piece's take both racers are (only the winner's messages reach
    /// the piece's channel).
    pub take: u32,
}

/// How the loser of a race ended.
pub(crate) enum LoserEnd {
    /// Dropped when the winner gave audio first.
    Cancelled {
        elapsed: Duration,
        /// Audio it had sent by then (dropped).
        received: Duration,
    },
    /// It ended without audio before the winner did.
    Failed {
        result: AttemptResult,
        elapsed: Duration,
    },
}

/// How a race ended.
pub(crate) enum RaceEnd {
    /// The primary gave audio, or ended, before the delay: no hedge.
    Alone(AttemptResult),
    /// The hedge started. `secondary_won`: which racer carries the piece on
    /// with `result` (when neither gave audio, the one that ended last).
    Raced {
        secondary_won: bool,
        result: AttemptResult,
        elapsed: Duration,
        loser: LoserEnd,
    },
}

async fn run_into(
    member: &Member,
    request: SynthesisRequest,
    left: Option<(String, FailoverReason)>,
    target: AudioFormat,
    fallback_first_audio: Duration,
    hedge: bool,
    (tx, take): (mpsc::Sender<PieceMsg>, u32),
) -> AttemptResult {
    attempt::run(
        member,
        AttemptPlan {
            request,
            target,
            tx: &tx,
            take,
            left,
            skip: Duration::ZERO,
            resume: None,
            fallback_first_audio,
            hedge,
            watch: None,
            record: None,
        },
    )
    .await
}

struct Lane<F> {
    fut: Option<Pin<Box<F>>>,
    rx: mpsc::Receiver<PieceMsg>,
    started: Instant,
    end: Option<(AttemptResult, Duration)>,
}

enum Ev {
    Msg(usize, Option<PieceMsg>),
    Done(usize, AttemptResult),
    Hedge,
}

/// The next event of a lane still running; pending for none.
async fn lane_event<F: Future<Output = AttemptResult>>(lane: Option<&mut Lane<F>>, i: usize) -> Ev {
    let Some(lane) = lane else {
        return std::future::pending().await;
    };
    let Some(fut) = lane.fut.as_mut().filter(|_| lane.end.is_none()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        biased;
        msg = lane.rx.recv() => Ev::Msg(i, msg),
        result = fut.as_mut() => Ev::Done(i, result),
    }
}

/// Sends `first` and everything after it on `rx` to `tx`; on a closed `tx`
/// it stops, and dropping `rx` then cancels the attempt's sends.
async fn forward(first: PieceMsg, mut rx: mpsc::Receiver<PieceMsg>, tx: &mpsc::Sender<PieceMsg>) {
    if tx.send(first).await.is_err() {
        return;
    }
    while let Some(msg) = rx.recv().await {
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Audio waiting on a loser's channel.
fn drained(rx: &mut mpsc::Receiver<PieceMsg>, target: AudioFormat) -> Duration {
    let mut bytes = 0usize;
    while let Ok(msg) = rx.try_recv() {
        if let PieceMsg::Audio { data, .. } = msg {
            bytes += data.len();
        }
    }
    target.duration_of(bytes)
}

/// Runs `primary`; if it has no audio after `race.delay`, runs `secondary`
/// beside it; forwards the first to give audio and cancels the other.
pub(crate) async fn race<'a>(primary: Racer<'a>, secondary: Racer<'a>, race: Race<'_>) -> RaceEnd {
    let Race {
        target,
        tx,
        fallback_first_audio,
        delay,
        take,
    } = race;
    let lane = |racer: Racer<'a>| {
        let (ltx, rx) = mpsc::channel(RACE_QUEUE);
        let started = Instant::now();
        let fut = run_into(
            racer.member,
            racer.request,
            racer.left,
            target,
            fallback_first_audio,
            racer.hedge,
            (ltx, take),
        );
        (Box::pin(fut), rx, started)
    };
    let (fut, rx, started) = lane(primary);
    let mut lanes = vec![Lane {
        fut: Some(fut),
        rx,
        started,
        end: None,
    }];
    let mut secondary = Some(secondary);
    let mut timer = Box::pin(rt::sleep(delay));
    let mut accepted = false;
    let (winner, first) = loop {
        let ev = {
            let (a, b) = lanes.split_at_mut(1);
            tokio::select! {
                biased;
                ev = lane_event(a.first_mut(), 0) => ev,
                ev = lane_event(b.first_mut(), 1) => ev,
                _ = timer.as_mut(), if secondary.is_some() => Ev::Hedge,
            }
        };
        match ev {
            Ev::Hedge => {
                if let Some(racer) = secondary.take() {
                    let (fut, rx, started) = lane(racer);
                    lanes.push(Lane {
                        fut: Some(fut),
                        rx,
                        started,
                        end: None,
                    });
                }
            }
            // An acceptance is no audio: it wins nothing, but the session
            // learns that an entry took the sentence (once).
            Ev::Msg(_, Some(PieceMsg::Accepted)) => {
                if !accepted {
                    accepted = true;
                    let _ = tx.send(PieceMsg::Accepted).await;
                }
            }
            Ev::Msg(i, Some(msg)) => break (i, msg),
            Ev::Msg(i, None) => {
                // Its channel closed: its attempt is over; collect the result.
                if let Some(fut) = lanes[i].fut.as_mut() {
                    let result = fut.as_mut().await;
                    let elapsed = lanes[i].started.elapsed();
                    lanes[i].end = Some((result, elapsed));
                }
                if let Some(end) = settle(&mut lanes, i) {
                    return end;
                }
            }
            Ev::Done(i, result) => {
                let elapsed = lanes[i].started.elapsed();
                let first = std::iter::from_fn(|| lanes[i].rx.try_recv().ok())
                    .find(|m| !matches!(m, PieceMsg::Accepted));
                if let Some(msg) = first {
                    // It gave audio and ended in one go: it wins.
                    lanes[i].end = Some((result, elapsed));
                    break (i, msg);
                }
                lanes[i].end = Some((result, elapsed));
                if let Some(end) = settle(&mut lanes, i) {
                    return end;
                }
            }
        }
    };
    // `winner` gave audio first: the other is cancelled (or had failed).
    let loser = if lanes.len() > 1 {
        let other = &mut lanes[1 - winner];
        Some(match other.end.take() {
            Some((result, elapsed)) => LoserEnd::Failed { result, elapsed },
            None => {
                other.fut = None; // drops its stream: the vendor request is cancelled
                LoserEnd::Cancelled {
                    elapsed: other.started.elapsed(),
                    received: drained(&mut other.rx, target),
                }
            }
        })
    } else {
        None
    };
    let Lane {
        fut,
        rx,
        started,
        end,
    } = lanes.swap_remove(winner);
    let result = match (end, fut) {
        (Some((result, _)), _) => {
            forward(first, rx, tx).await;
            result
        }
        (None, Some(mut fut)) => {
            let (result, ()) = futures::future::join(fut.as_mut(), forward(first, rx, tx)).await;
            result
        }
        // A lane's future is only dropped when it loses.
        (None, None) => AttemptResult {
            error: Some(
                voxwire_core::TtsError::new(
                    voxwire_core::ErrorKind::Internal,
                    "a hedge race lost its winner",
                )
                .with_provider("router"),
            ),
            first_audio: None,
            audio: Duration::ZERO,
            reached: Duration::ZERO,
            words: Vec::new(),
            abandoned: false,
        },
    };
    let elapsed = started.elapsed();
    match loser {
        None => RaceEnd::Alone(result),
        Some(loser) => RaceEnd::Raced {
            secondary_won: winner == 1,
            result,
            elapsed,
            loser,
        },
    }
}

/// Lane `i` ended without audio: the race is over when it was the only
/// lane, or when the other one ended too.
fn settle<F>(lanes: &mut [Lane<F>], i: usize) -> Option<RaceEnd> {
    if lanes.len() == 1 {
        let (result, _) = lanes[0].end.take()?;
        return Some(RaceEnd::Alone(result));
    }
    // The other lane still runs: the race goes on.
    lanes[1 - i].end.as_ref()?;
    let (loser, loser_elapsed) = lanes[1 - i].end.take()?;
    let (result, elapsed) = lanes[i].end.take()?;
    Some(RaceEnd::Raced {
        secondary_won: i == 1,
        result,
        elapsed,
        loser: LoserEnd::Failed {
            result: loser,
            elapsed: loser_elapsed,
        },
    })
}
