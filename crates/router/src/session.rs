//! The router's session loop: text in, sentences out to providers, audio back.
//!
//! Text is cut into sentences as it arrives. Each sentence is spoken by a task
//! that retries and fails over on its own (see `piece`), and sentences are
//! **pipelined**: as soon as sentence k is requested (once the entry asked
//! first has proven itself), up to `lookahead` following sentences are
//! requested too, their audio held in their own bounded
//! channel until k ends, so a provider's first-audio latency is paid once per
//! utterance rather than once per sentence. Audio is still forwarded strictly
//! in order, so the loop always knows which sentences are finished. A cancel
//! aborts every task at once.
//!
//! **Failover without repeats.** When an entry dies, every sentence it was
//! speaking fails over inside its own task. Only the sentence being handed
//! on at that moment has reached the caller; the others' partial audio is
//! still held in their channels. Each attempt is a *take* of its piece and
//! tags its messages with it; a take that dies before any of its piece's
//! audio was handed on is retracted (`handover`), and the loop skips its
//! messages when it reaches the piece, so that sentence is heard once, whole,
//! from the replacement. The decision is made under one lock per piece: the
//! loop either hands the take's audio on first (the piece is then the one
//! being heard, and `piece::Progress` bounds its repeat to one partial replay)
//! or finds it retracted and drops it. Since each stream finds out alone
//! that its entry died, the loop also drops, itself, a held take whose
//! entry another sentence saw die (`handover::Deaths`) instead of starting
//! to hand it on. A piece whose audio was complete
//! before its entry died is kept whole (the change of voice is reported).
//! So per failover at most one sentence is heard partly twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use voxwire_core::session::{DriverInput, SessionDriver, SessionEvent};
use voxwire_core::{AudioChunk, AudioFormat, ErrorKind, SpanTimes, TextSpan, TtsError, WordTime};

use crate::attempt::PieceMsg;
use crate::balance::Sticky;
use crate::events::{FailoverKind, FailoverReason, RouterEvent};
use crate::handover::{Deaths, Found, Handover};
use crate::member::{Plan, Template};
use crate::piece::{self, PieceJob};
use crate::rt::{self, Task};
use crate::segment::{split_to_limit, IncrementalSegmenter};
use crate::Inner;

/// Messages a piece's task may run ahead of the loop (audio held while an
/// earlier sentence plays is bounded by this).
const PIECE_QUEUE: usize = 256;

enum Item {
    /// A piece of text and its byte offset in its utterance.
    Piece { text: String, offset: usize },
    /// End of utterance `id`: report it once everything before it is spoken.
    End(u64),
}

/// What the pipeline holds, in order: pieces in flight and utterance ends.
enum Slot {
    Running(Running),
    End(u64),
}

/// What the loop does after a piece's message.
enum Flow {
    Continue,
    Stop,
    Fail(TtsError),
}

/// A piece in flight; dropping it aborts its task.
struct Running {
    _task: Task,
    rx: mpsc::Receiver<PieceMsg>,
    offset: usize,
    /// Its first audio has arrived.
    streaming: bool,
    /// An entry accepted its request (see `PieceMsg::Accepted`).
    accepted: bool,
    /// What of it has been handed on; which of its takes are retracted.
    handover: Arc<Handover>,
    /// The entry serving its latest take that was not skipped.
    entry: Option<String>,
    /// Where, in the session's audio, the timeline of the take being handed
    /// on starts (its first audio handed on, less what it dropped from its
    /// start): the vendor's times, relative to the take, are moved by it.
    audio_base: Option<Duration>,
}

pub(crate) struct SessionLoop {
    inner: Arc<Inner>,
    driver: SessionDriver,
    template: Arc<Template>,
    target: AudioFormat,
    plans: Arc<Vec<Plan>>,
    /// The member of each weighted group this session keeps.
    sticky: Arc<Sticky>,
    segmenter: IncrementalSegmenter,
    queue: VecDeque<Item>,
    pipeline: VecDeque<Slot>,
    queued_chars: usize,
    /// Byte offset, in the current utterance, of the next text the segmenter releases.
    offset: usize,
    pieces: usize,
    sequence: u64,
    /// How much audio the session has sent.
    audio_sent: Duration,
    /// The entry that served last.
    serving: Option<String>,
    /// Whether this utterance's `Serving` event has been sent.
    announced: bool,
    /// Whether the audio served last came from the phrase cache.
    serving_cached: bool,
    /// Whether the entry that served last won a hedge.
    served_by_hedge: bool,
    /// The entries that died in this session.
    deaths: Arc<Deaths>,
    /// Entries whose failure was reported as a `RouterEvent::Failover` and
    /// that have not served a sentence begun since: not reported again.
    reported: Vec<String>,
}

impl SessionLoop {
    pub fn new(
        inner: Arc<Inner>,
        driver: SessionDriver,
        template: Template,
        target: AudioFormat,
    ) -> Self {
        let plans = inner.members.iter().map(|m| m.plan(target)).collect();
        Self {
            inner,
            driver,
            template: Arc::new(template),
            target,
            plans: Arc::new(plans),
            sticky: Arc::default(),
            segmenter: IncrementalSegmenter::new(),
            queue: VecDeque::new(),
            pipeline: VecDeque::new(),
            queued_chars: 0,
            offset: 0,
            pieces: 0,
            sequence: 0,
            audio_sent: Duration::ZERO,
            serving: None,
            announced: false,
            serving_cached: false,
            served_by_hedge: false,
            deaths: Arc::default(),
            reported: Vec::new(),
        }
    }

    fn running(&self) -> usize {
        self.pipeline
            .iter()
            .filter(|s| matches!(s, Slot::Running(_)))
            .count()
    }

    /// Moves queued items into the pipeline while fewer than `1 + lookahead`
    /// pieces are in flight. When the entry asked first has spoken since it
    /// was last down, sentences k+1..=k+lookahead are requested as soon as k
    /// is, so their first-audio latencies overlap with k's (their audio waits
    /// in their own channel until k ends). An entry not proven yet (a fresh
    /// chain, or every entry down) is tried by one sentence first: the others
    /// are requested once it has accepted that sentence (its upgrade or HTTP
    /// answer succeeded), so a broken key or endpoint is found by one
    /// sentence, not by every sentence in flight at once, while a healthy
    /// cold entry pays its first audio once.
    fn fill(&mut self) {
        let front_streams = match self.pipeline.front() {
            Some(Slot::Running(r)) => r.streaming || r.accepted,
            _ => false,
        };
        let limit = if front_streams || self.inner.first_choice_proven(&self.sticky) {
            1 + self.inner.settings.lookahead()
        } else {
            1
        };
        while self.running() < limit {
            match self.queue.pop_front() {
                Some(Item::Piece { text, offset }) => {
                    self.queued_chars = self.queued_chars.saturating_sub(text.chars().count());
                    let running = self.start(text, offset);
                    self.pipeline.push_back(Slot::Running(running));
                }
                Some(Item::End(id)) => self.pipeline.push_back(Slot::End(id)),
                None => break,
            }
        }
        // Ends right behind the last piece started are ready too.
        while let Some(Item::End(_)) = self.queue.front() {
            if let Some(Item::End(id)) = self.queue.pop_front() {
                self.pipeline.push_back(Slot::End(id));
            }
        }
    }

    pub async fn run(mut self) {
        let mut input_open = true;
        loop {
            self.fill();
            while let Some(Slot::End(_)) = self.pipeline.front() {
                if let Some(Slot::End(id)) = self.pipeline.pop_front() {
                    self.announced = false;
                    if self
                        .driver
                        .emit(SessionEvent::UtteranceDone { id })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                self.fill();
            }
            if self.pipeline.is_empty() && !input_open {
                return;
            }
            tokio::select! {
                // Input first: a cancel is never queued behind audio.
                biased;
                input = self.driver.next_input(), if input_open => match input {
                    Some(DriverInput::Text(text)) => {
                        let released = self.segmenter.push(&text);
                        self.enqueue(released);
                        if self.queued_chars > self.inner.settings.max_queued_chars {
                            let limit = self.inner.settings.max_queued_chars;
                            return self.driver.fail(TtsError::invalid_input(format!(
                                "over {limit} characters are waiting to be spoken: read audio while writing, or raise max_queued_chars"
                            ))).await;
                        }
                    }
                    Some(DriverInput::Flush { id }) => {
                        let rest = self.segmenter.flush();
                        self.enqueue(rest.into_iter().collect());
                        self.queue.push_back(Item::End(id));
                        self.offset = 0;
                    }
                    Some(DriverInput::Finish) | None => {
                        let rest = self.segmenter.flush();
                        self.enqueue(rest.into_iter().collect());
                        input_open = false;
                    }
                    Some(DriverInput::Cancel { generation }) => {
                        self.pipeline.clear(); // aborts every piece in flight
                        self.queue.clear();
                        self.queued_chars = 0;
                        self.segmenter = IncrementalSegmenter::new();
                        self.offset = 0;
                        self.announced = false;
                        if self.driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                            return;
                        }
                    }
                },
                msg = recv(&mut self.pipeline) => match self.handle(msg).await {
                    Flow::Continue => {}
                    Flow::Stop => return,
                    Flow::Fail(error) => return self.driver.fail(error).await,
                }
            }
        }
    }

    /// Handles a message of the piece at the front.
    async fn handle(&mut self, msg: Option<PieceMsg>) -> Flow {
        let offset = match self.pipeline.front() {
            Some(Slot::Running(r)) => r.offset,
            _ => 0,
        };
        match msg {
            Some(PieceMsg::Serving {
                take,
                entry,
                provider,
                left,
                hedge,
                head,
                cached,
            }) => {
                let sent = self.audio_sent;
                let found = match self.pipeline.front_mut() {
                    Some(Slot::Running(r)) => {
                        let found = r.handover.check(take, &entry, &self.deaths);
                        if found != Found::Retracted {
                            r.streaming = true;
                            r.entry = Some(entry.clone());
                            // The take's times count from its own start,
                            // `head` before its first audio handed on.
                            r.audio_base = Some(sent.saturating_sub(head));
                        }
                        found
                    }
                    _ => Found::Live,
                };
                if found == Found::Retracted {
                    return Flow::Continue;
                }
                let kept = found == Found::Kept;
                if !kept && !cached {
                    // It serves a sentence begun since it failed, if it did.
                    self.reported.retain(|e| *e != entry);
                }
                let previous = self.serving.replace(entry.clone());
                let after_hedge = std::mem::replace(&mut self.served_by_hedge, hedge);
                // A change from the entry that served before, or, at the
                // start, from the one this piece gave up on.
                let change = match (previous, left) {
                    (Some(from), left) if from != entry => {
                        let reason = match left {
                            // Stored from an earlier time the entry spoke it.
                            _ if cached => FailoverReason::new(
                                FailoverKind::Cached,
                                format!("{entry} spoke this sentence before: cached"),
                            ),
                            // Spoken whole before its entry failed.
                            _ if kept => FailoverReason::new(
                                FailoverKind::Kept,
                                format!("{entry} had spoken this sentence whole before it failed: kept"),
                            ),
                            Some((_, why)) => why,
                            // The last piece went to a hedge that won; this one
                            // is served by the entry asked first again.
                            None if after_hedge => FailoverReason::new(
                                FailoverKind::Preferred,
                                format!("{entry} is asked first again after {from} won a hedge: preferred"),
                            ),
                            None => FailoverReason::new(
                                FailoverKind::Preferred,
                                format!("{entry} is asked first again: preferred"),
                            ),
                        };
                        Some((from, reason))
                    }
                    (None, Some((from, why))) => Some((from, why)),
                    _ => None,
                };
                let changed = change.is_some();
                if let Some((from, reason)) = change {
                    tracing::info!(%from, to = %entry, %reason, kind = reason.label(), "serving entry changed");
                    // Once per failure: not for a kept sentence, nor again
                    // for the same failure after one.
                    let failure =
                        !matches!(reason.kind, FailoverKind::Kept | FailoverKind::Preferred);
                    let again = failure && self.reported.contains(&from);
                    if failure && !again {
                        self.reported.push(from.clone());
                    }
                    if !matches!(reason.kind, FailoverKind::Kept | FailoverKind::Cached) && !again {
                        let _ = self.inner.events.send(RouterEvent::Failover {
                            from: from.clone(),
                            to: entry.clone(),
                            reason: reason.clone(),
                        });
                    }
                    let event = SessionEvent::ProviderChanged {
                        from,
                        to: entry.clone(),
                        reason,
                    };
                    if self.driver.emit(event).await.is_err() {
                        return Flow::Stop;
                    }
                }
                let source_changed = std::mem::replace(&mut self.serving_cached, cached) != cached;
                if changed || !self.announced || source_changed {
                    self.announced = true;
                    let event = SessionEvent::Serving {
                        entry,
                        provider,
                        cached,
                    };
                    if self.driver.emit(event).await.is_err() {
                        return Flow::Stop;
                    }
                }
                Flow::Continue
            }
            Some(PieceMsg::Accepted) => {
                if let Some(Slot::Running(r)) = self.pipeline.front_mut() {
                    r.accepted = true;
                }
                Flow::Continue
            }
            Some(PieceMsg::Audio { take, .. }) if !self.hand_on(take) => Flow::Continue,
            Some(PieceMsg::Audio {
                take: _,
                data,
                span,
                times,
                words,
            }) => {
                let sent = self.audio_sent;
                let base = match self.pipeline.front_mut() {
                    Some(Slot::Running(r)) => *r.audio_base.get_or_insert(sent),
                    _ => sent,
                };
                let chunk = AudioChunk {
                    data,
                    format: self.target,
                    sequence: self.sequence,
                    span: span.map(|s| TextSpan {
                        start: s.start + offset,
                        end: s.end + offset,
                    }),
                    times: times.map(|t| SpanTimes {
                        start: t.start + base,
                        end: t.end + base,
                    }),
                    words: words
                        .into_iter()
                        .map(|w| WordTime {
                            span: TextSpan {
                                start: w.span.start + offset,
                                end: w.span.end + offset,
                            },
                            start: w.start + base,
                            end: w.end + base,
                        })
                        .collect(),
                };
                self.sequence += 1;
                self.audio_sent += chunk.duration();
                match self.driver.emit(SessionEvent::Audio(chunk)).await {
                    Ok(()) => Flow::Continue,
                    Err(_) => Flow::Stop,
                }
            }
            Some(PieceMsg::Done) => {
                self.pipeline.pop_front();
                Flow::Continue
            }
            Some(PieceMsg::Failed(error)) => Flow::Fail(error),
            None => Flow::Fail(
                TtsError::new(ErrorKind::Internal, "a piece's task ended without a result")
                    .with_provider("router"),
            ),
        }
    }

    /// Whether audio of take `take` of the piece at the front is handed on
    /// (if so, the piece counts as heard from now on; if not, it is dropped:
    /// the take was retracted, or is now because its entry died elsewhere).
    fn hand_on(&self, take: u32) -> bool {
        match self.pipeline.front() {
            Some(Slot::Running(r)) => r.handover.hand_on(take, r.entry.as_deref(), &self.deaths),
            _ => true,
        }
    }

    /// Queues released sentences, cut further to what every provider accepts.
    fn enqueue(&mut self, released: Vec<String>) {
        for sentence in released {
            let whole = 0..sentence.len();
            let pieces = split_to_limit(
                &sentence,
                std::slice::from_ref(&whole),
                self.inner.max_piece_chars,
            );
            for range in pieces {
                let text = &sentence[range.clone()];
                let offset = self.offset + range.start;
                if !text.trim().is_empty() {
                    self.queued_chars += text.chars().count();
                    self.queue.push_back(Item::Piece {
                        text: text.to_string(),
                        offset,
                    });
                }
            }
            self.offset += sentence.len();
        }
    }

    fn start(&mut self, text: String, offset: usize) -> Running {
        let (tx, rx) = mpsc::channel(PIECE_QUEUE);
        let handover = Arc::new(Handover::default());
        let index = self.pieces;
        self.pieces += 1;
        let job = PieceJob {
            index,
            opens_utterance: offset == 0,
            text,
            template: self.template.clone(),
            target: self.target,
            plans: self.plans.clone(),
            sticky: self.sticky.clone(),
            handover: handover.clone(),
            deaths: self.deaths.clone(),
        };
        let task = rt::spawn(piece::speak(self.inner.clone(), job, tx));
        Running {
            _task: task,
            rx,
            offset,
            streaming: false,
            accepted: false,
            handover,
            entry: None,
            audio_base: None,
        }
    }
}

/// The next message of the piece at the front of the pipeline; pending
/// forever when there is none (the `select!` branch is then never chosen).
async fn recv(pipeline: &mut VecDeque<Slot>) -> Option<PieceMsg> {
    match pipeline.front_mut() {
        Some(Slot::Running(running)) => running.rx.recv().await,
        _ => std::future::pending().await,
    }
}
