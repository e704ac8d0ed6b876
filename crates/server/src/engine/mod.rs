//! The session engine: everything a relay session does that no client
//! protocol decides. A front (the xAI WebSocket today) turns its wire frames
//! into [`Input`]s and [`Output`]s back into frames; the engine owns the
//! router session, limits, timers, backpressure and the rule that every
//! utterance gets exactly one end.
//!
//! - Outputs go through a bounded queue to the front's writer task. When the
//!   queue is full the engine stops taking audio from the router (upstream
//!   backpressure) but its timers keep running; if the writer accepts nothing
//!   for `client_send_timeout_ms`, the client is closed as not reading and
//!   the upstream session is released.
//! - Idle counts client frames *and* audio sent; the session age and the
//!   shutdown grace fire whatever the client does; at the end of the grace,
//!   stalled utterances end with an error.
//! - Every utterance (each `Done` input) ends with [`Output::Done`] or
//!   [`Output::Error`], or with [`Output::Cleared`] when the client cleared it.
//!   After a router failure the failed utterance gets its error and the ones
//!   the client pipelined behind it are resubmitted on a fresh router session.

mod utterances;
mod words;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant as Deadline};
use voxwire_core::session::{SessionEvent, SessionEvents, SessionInput};
use voxwire_core::{AudioChunk, ErrorKind, StreamConfig, TtsProvider};

use crate::errors::ClientError;
use crate::limits::TokenBucket;
use crate::state::AppState;
use crate::usage::Counts;
use utterances::{End, Step, Utterances};

/// Close codes (RFC 6455) the engine ends sessions with.
pub mod close {
    /// Normal closure (idle timeout, the session ended).
    pub const NORMAL: u16 = 1000;
    /// Going away (shutdown, maximum age, no provider).
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation: the client stopped reading.
    pub const NOT_READING: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
}

/// What a front reads from its client, in protocol-neutral terms.
#[derive(Debug)]
pub enum Input {
    /// More text for the utterance being written.
    Delta(String),
    /// The utterance being written is complete: speak it.
    Done,
    /// Drop every utterance not yet spoken (barge-in).
    Clear,
    /// A frame the front could not read; answered with this error, the session goes on.
    Bad(ClientError),
    /// A frame over the size bound: the session closes with 1009.
    TooBig,
    /// The client went away.
    Closed,
}

/// What the engine asks a front to send.
#[derive(Debug)]
pub enum Output {
    /// Audio of the utterance being spoken.
    Audio {
        /// The audio.
        chunk: AudioChunk,
        /// The text this chunk speaks, when the client asked for timestamps and it is known.
        text: Option<String>,
        /// Seconds of this utterance's audio sent before this chunk.
        offset_s: f64,
    },
    /// The utterance being spoken is complete.
    Done,
    /// The client's clear took effect: the utterances it dropped end here.
    Cleared,
    /// An utterance (or the session) failed; the reason is safe to show.
    Error(ClientError),
    /// The chain entry that serves the audio that follows.
    Serving {
        /// The entry's name.
        entry: String,
        /// Its provider id.
        provider: String,
        /// The audio comes from the router's phrase cache.
        cached: bool,
    },
    /// The router switched entries mid-session.
    ProviderChanged {
        /// The entry that served until now.
        from: String,
        /// The entry that serves from here on.
        to: String,
        /// The failover kind's label (`auth`, `timeout`, `down`, `kept`, …), never the upstream text.
        reason: String,
    },
    /// The last output: close with this code.
    Close {
        /// RFC 6455 close code.
        code: u16,
        /// A short reason.
        reason: &'static str,
    },
}

/// How a session was opened; a front fills it from its query or body.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// The router that speaks (the chain, or the one a model names).
    pub router: voxwire_router::Router,
    /// What the router is asked for.
    pub stream: StreamConfig,
    /// Whether outputs carry the text each chunk speaks.
    pub timestamps: bool,
    /// The credential the session counts against (`token:<id>`, `browser:<sub>`, `open`).
    pub principal: String,
    /// The kind of that credential: it picks the session's utterance rate.
    pub credential: crate::CredentialKind,
}

/// The queue between the engine and a front's writer: a bounded channel.
pub fn outbox(capacity: usize) -> (mpsc::Sender<Output>, mpsc::Receiver<Output>) {
    mpsc::channel(capacity.max(1))
}

/// Sentences (and their bytes) sent to the router ahead of the audio: more
/// than its lookahead (at most 8 in flight) so pipelining loses nothing, few
/// enough that their commands (two each) always fit the router session's
/// input queue, so sending never waits, and their text stays far under the
/// router's `max_queued_chars` (100 000 by default).
const SEND_LIMIT: utterances::SendLimit = utterances::SendLimit {
    sentences: 12,
    bytes: 48 * 1024,
};

/// Outputs the engine holds beyond the writer's queue before it stops reading the client.
const LOCAL_BACKLOG: usize = 64;

type Halves = (SessionInput, SessionEvents);

/// One running session.
struct Engine {
    state: Arc<AppState>,
    spec: SessionSpec,
    utterances: Utterances,
    rate: TokenBucket,
    /// Outputs waiting for room in the writer's queue.
    backlog: std::collections::VecDeque<Output>,
    /// The entry that serves now, for metric labels.
    entry: String,
    /// Clears the client asked for (answered with `Cleared`); others are internal.
    client_clears: Vec<u64>,
    /// When the utterance waiting for its turn under the rate limits may try again.
    rate_deadline: Option<Deadline>,
}

/// Runs a session until the client leaves, a limit ends it, or the relay stops.
/// Returns when every output (the close included) is queued or the writer is gone.
pub async fn run<I>(
    state: Arc<AppState>,
    spec: SessionSpec,
    inputs: I,
    outbox: mpsc::Sender<Output>,
) where
    I: Stream<Item = Input> + Unpin,
{
    let settings = &state.settings;
    let rate = match spec.credential {
        crate::CredentialKind::Browser => TokenBucket::new(
            settings.browser_utterances_per_second,
            settings.browser_utterance_burst,
        ),
        crate::CredentialKind::Server | crate::CredentialKind::Open => {
            TokenBucket::new(settings.utterances_per_second, settings.utterance_burst)
        }
    };
    let entry = spec.router.chain().into_iter().next().unwrap_or_default();
    let mut engine = Engine {
        utterances: Utterances::new(spec.timestamps),
        spec,
        rate,
        backlog: Default::default(),
        entry,
        client_clears: Vec::new(),
        rate_deadline: None,
        state,
    };
    engine.run(inputs, outbox).await;
}

/// Why the loop stopped.
enum Stop {
    /// Send these last outputs (errors, then a close).
    Close(u16, &'static str),
    /// Nobody to send to.
    Gone,
}

impl Engine {
    async fn open(&self) -> Result<Halves, ClientError> {
        match self.spec.router.stream(self.spec.stream.clone()).await {
            Ok(session) => Ok(session.split()),
            Err(e) => {
                tracing::warn!(principal = %self.spec.principal, error = %e, "relay session: no router session");
                Err(ClientError::from_router(&e))
            }
        }
    }

    async fn run<I>(&mut self, mut inputs: I, outbox: mpsc::Sender<Output>)
    where
        I: Stream<Item = Input> + Unpin,
    {
        let settings = self.state.settings.clone();
        let send_timeout = settings.client_send_timeout();
        let (mut input, mut events) = match self.open().await {
            Ok(halves) => halves,
            Err(e) => {
                self.backlog.push_back(Output::Error(e));
                self.finish(
                    &outbox,
                    Stop::Close(close::GOING_AWAY, "no provider available"),
                    send_timeout,
                )
                .await;
                return;
            }
        };
        let started = Deadline::now();
        let max_age = started + settings.max_age();
        let idle = settings.idle_timeout();
        let mut idle_deadline = started + idle;
        let mut shutdown = self.state.shutdown.clone();
        let mut draining: Option<Deadline> = None;
        // When the writer last took something while we had something to give.
        let mut stall_deadline: Option<Deadline> = None;
        let far = started + Duration::from_secs(86_400 * 365);
        let stop = loop {
            if draining.is_some() && self.utterances.is_empty() && self.backlog.is_empty() {
                break Stop::Close(close::GOING_AWAY, "the relay is shutting down");
            }
            if !self.backlog.is_empty() && stall_deadline.is_none() {
                stall_deadline = Some(Deadline::now() + send_timeout);
            }
            tokio::select! {
                permit = outbox.reserve(), if !self.backlog.is_empty() => {
                    let Ok(permit) = permit else { break Stop::Gone };
                    if let Some(output) = self.backlog.pop_front() {
                        if matches!(output, Output::Audio { .. }) {
                            idle_deadline = Deadline::now() + idle;
                        }
                        permit.send(output);
                    }
                    stall_deadline = None;
                }
                () = sleep_until(stall_deadline.unwrap_or(far)), if stall_deadline.is_some() => {
                    self.state.metrics.limit_breached("client_send_timeout");
                    tracing::info!(principal = %self.spec.principal, "relay session: the client stopped reading; closing");
                    // Its upstream is released when this function returns.
                    break Stop::Close(close::NOT_READING, "the client stopped reading");
                }
                item = inputs.next(), if self.backlog.len() < LOCAL_BACKLOG => {
                    idle_deadline = Deadline::now() + idle;
                    let item = item.unwrap_or(Input::Closed);
                    match self.client_input(item, draining.is_some(), &mut input).await {
                        Ok(()) => {}
                        Err(stop) => break stop,
                    }
                }
                event = events.next(), if self.backlog.is_empty() => {
                    match event {
                        Some(Ok(event)) => {
                            if self.router_event(event) {
                                self.pump(&mut input).await;
                            }
                        }
                        Some(Err(e)) => {
                            match self.router_failed(&e).await {
                                Some(halves) => (input, events) = halves,
                                None => break Stop::Close(close::GOING_AWAY, "no provider available"),
                            }
                        }
                        None => break Stop::Close(close::NORMAL, "session ended"),
                    }
                }
                () = sleep_until(self.rate_deadline.unwrap_or(far)), if self.rate_deadline.is_some() => {
                    self.take_turns().await;
                    self.pump(&mut input).await;
                }
                () = sleep_until(idle_deadline) => {
                    self.state.metrics.limit_breached("idle_timeout");
                    self.end_all(ClientError::relay(ErrorKind::Timeout, "the session was idle too long and was closed", "reconnect to speak again"));
                    break Stop::Close(close::NORMAL, "idle timeout");
                }
                () = sleep_until(max_age) => {
                    self.state.metrics.limit_breached("max_session_age");
                    self.end_all(ClientError::relay(ErrorKind::Unavailable, "the session reached its maximum age", "reconnect and send this utterance again"));
                    break Stop::Close(close::GOING_AWAY, "maximum session age reached: reconnect");
                }
                () = sleep_until(draining.unwrap_or(far)), if draining.is_some() => {
                    self.end_all(ClientError::relay(ErrorKind::Unavailable, "the relay is shutting down", "reconnect (to another relay) and send this utterance again"));
                    break Stop::Close(close::GOING_AWAY, "the relay is shutting down");
                }
                changed = shutdown.changed(), if draining.is_none() => {
                    if changed.is_err() || *shutdown.borrow() {
                        draining = Some(Deadline::now() + settings.grace());
                    }
                }
            }
        };
        // Release the upstream before waiting on the client.
        drop(input);
        drop(events);
        self.finish(&outbox, stop, send_timeout).await;
    }

    /// Queues the backlog and the close, each within the send timeout.
    async fn finish(&mut self, outbox: &mpsc::Sender<Output>, stop: Stop, send_timeout: Duration) {
        let Stop::Close(code, reason) = stop else {
            return;
        };
        if code != close::NOT_READING {
            while let Some(output) = self.backlog.pop_front() {
                if outbox.send_timeout(output, send_timeout).await.is_err() {
                    return;
                }
            }
        }
        let _ = outbox
            .send_timeout(Output::Close { code, reason }, send_timeout)
            .await;
    }

    /// Counts usage for this session's credential and, when given, the entry.
    fn used(&self, entry: Option<&str>, counts: Counts) {
        self.state
            .usage
            .record(&self.state.metrics, &self.spec.principal, entry, counts);
    }

    fn emit(&mut self, output: Output) {
        self.backlog.push_back(output);
    }

    /// Ends every utterance still owed with `error`.
    fn end_all(&mut self, error: ClientError) {
        for _ in 0..self.utterances.drain() {
            self.state.metrics.client_error(error.kind);
            self.emit(Output::Error(error.clone()));
        }
    }

    fn refuse(&mut self, error: ClientError) {
        self.state.metrics.client_error(error.kind);
        self.emit(Output::Error(error));
    }

    async fn client_input(
        &mut self,
        item: Input,
        draining: bool,
        input: &mut SessionInput,
    ) -> Result<(), Stop> {
        let settings = &self.state.settings;
        match item {
            Input::Closed => return Err(Stop::Gone),
            Input::TooBig => {
                self.state.metrics.limit_breached("max_message_bytes");
                self.end_all(ClientError::relay(
                    ErrorKind::InvalidInput,
                    "invalid frame: over the relay's message size",
                    "send smaller frames",
                ));
                return Err(Stop::Close(close::TOO_BIG, "message too big"));
            }
            Input::Bad(error) => self.refuse(error),
            Input::Delta(text) => {
                let step = self.utterances.write(&text, settings.max_utterance_chars);
                self.after_step(step, draining, input).await;
            }
            Input::Done => {
                let Some(step) = self.utterances.complete(settings.max_utterance_chars) else {
                    return Ok(()); // the end of an utterance already refused
                };
                self.after_step(step, draining, input).await;
            }
            Input::Clear => {
                self.utterances.drain();
                self.rate_deadline = None;
                self.client_clears.push(input.cancel());
            }
        }
        Ok(())
    }

    /// Acts on what a delta or a `text.done` did to the utterance being
    /// written: refuse it over the bound, check the limits when it has its
    /// first sentence, send the sentences that are ready.
    async fn after_step(&mut self, step: Step, draining: bool, input: &mut SessionInput) {
        let settings = self.state.settings.clone();
        if step.over_bound {
            self.state.metrics.limit_breached("max_utterance_chars");
            let why = format!(
                "invalid utterance: it is over {} characters; the rest of it was dropped",
                settings.max_utterance_chars
            );
            self.refuse_writing(ClientError::relay(
                ErrorKind::InvalidInput,
                why,
                "send text.done more often",
            ));
            return;
        }
        if step.needs_admission {
            if let Err(refusal) = self.admission(draining) {
                self.refuse_writing(refusal);
                return;
            }
            self.utterances.admit();
            self.take_turns().await;
        }
        self.pump(input).await;
    }

    /// Lets the utterances waiting under the rate limits take their turns,
    /// in order, as the session's and the credential's buckets allow; sets
    /// when the next may try again. An utterance over a rate waits (inside
    /// `max_pending_utterances`); it is never refused for the rate.
    async fn take_turns(&mut self) {
        self.rate_deadline = None;
        while self.utterances.waiting() {
            let wait = self.rate.wait();
            let (wait, limit) = if wait.is_zero() {
                match self.state.take_rate(&self.spec.principal).await {
                    Ok(()) => {
                        let _ = self.rate.take();
                        self.utterances.clear_next();
                        continue;
                    }
                    Err(wait) => (wait, "token_utterances_per_second"),
                }
            } else {
                (wait, "utterances_per_second")
            };
            self.state.metrics.utterance_delayed(limit);
            self.rate_deadline = Some(Deadline::now() + wait);
            return;
        }
    }

    /// Sends the router the sentences there is room for, in order.
    async fn pump(&mut self, input: &mut SessionInput) {
        let timeout = self.state.settings.client_send_timeout();
        while let Some((index, sentence)) = self.utterances.next_to_send(&SEND_LIMIT) {
            if self.utterances.first_sending(index) {
                let chars = sentence.chars().count();
                if let Err(over) = self.state.charge_quota(&self.spec.principal, chars).await {
                    tracing::info!(principal = %self.spec.principal, quota = over.quota, "relay session: utterance over its quota");
                    self.utterances.refuse_unsent(index, over.client_error());
                    self.emit_ends();
                    continue;
                }
                self.used(
                    None,
                    Counts {
                        chars: u64::try_from(chars).unwrap_or(u64::MAX),
                        ..Counts::default()
                    },
                );
            }
            if submit(input, &sentence, timeout).await.is_err() {
                // The router session is gone: its events say why, and the
                // sentence goes to the next session with the others.
                return;
            }
            self.utterances.sent(index);
        }
    }

    /// What an utterance passes when its first sentence is ready (a refused
    /// one never touches the utterances already in flight). Rates do not
    /// refuse: they delay (see [`Self::take_turns`]).
    fn admission(&mut self, draining: bool) -> Result<(), ClientError> {
        let settings = &self.state.settings;
        if draining {
            return Err(ClientError::relay(
                ErrorKind::Unavailable,
                "the relay is shutting down: no new utterances",
                "reconnect (to another relay) and send it again",
            ));
        }
        if self.utterances.len() >= settings.max_pending_utterances {
            self.state.metrics.limit_breached("max_pending_utterances");
            return Err(ClientError::relay(
                ErrorKind::RateLimited,
                format!(
                    "rate limited: {} utterances are already waiting to be spoken on this session (max_pending_utterances); this one was dropped",
                    settings.max_pending_utterances
                ),
                "wait for audio.done before sending more",
            ));
        }
        Ok(())
    }

    /// Ends the utterance being written with `error`, in order.
    fn refuse_writing(&mut self, error: ClientError) {
        self.utterances.refuse_writing(error);
        self.emit_ends();
    }

    /// Sends every end now owed, in order.
    fn emit_ends(&mut self) {
        while let Some(end) = self.utterances.next_end() {
            match end {
                End::Done => {
                    self.state.metrics.utterance_done(&self.entry);
                    self.used(
                        Some(&self.entry),
                        Counts {
                            utterances: 1,
                            ..Counts::default()
                        },
                    );
                    self.emit(Output::Done);
                }
                End::Failed(error) => self.refuse(error),
            }
        }
    }

    /// Handles one router event; `true` when a sentence ended (room to send more).
    fn router_event(&mut self, event: SessionEvent) -> bool {
        match event {
            SessionEvent::Audio(chunk) => {
                let seconds = chunk.duration().as_secs_f64();
                let Some(spoken) = self.utterances.audio(chunk.span, seconds) else {
                    return false; // audio nobody owes (cleared): dropped
                };
                if let Some(latency) = spoken.first_audio {
                    self.state.metrics.first_audio(&self.entry, latency);
                }
                self.state.metrics.audio_seconds(&self.entry, seconds);
                self.used(
                    Some(&self.entry),
                    Counts {
                        audio_seconds: seconds,
                        ..Counts::default()
                    },
                );
                self.emit(Output::Audio {
                    chunk,
                    text: spoken.text,
                    offset_s: spoken.offset_s,
                });
            }
            SessionEvent::UtteranceDone { .. } => {
                let chars = self.utterances.speaking_chars();
                self.state
                    .usage
                    .chars_spoken(&self.entry, u64::try_from(chars).unwrap_or(u64::MAX));
                self.utterances.sentence_done();
                self.emit_ends();
                return true;
            }
            SessionEvent::Cleared { generation } => {
                if let Some(at) = self.client_clears.iter().position(|g| *g <= generation) {
                    self.client_clears.drain(..=at);
                    self.emit(Output::Cleared);
                }
            }
            SessionEvent::Serving {
                entry,
                provider,
                cached,
            } => {
                self.entry.clone_from(&entry);
                // The router announces each sentence; the client hears of
                // each utterance's first entry and of changes.
                if self.utterances.announce(&entry, cached) {
                    self.emit(Output::Serving {
                        entry,
                        provider,
                        cached,
                    });
                }
            }
            SessionEvent::ProviderChanged { from, to, reason } => {
                // The kind's label only: bounded for metrics, and no upstream
                // text reaches a client. A voice changing back (a sentence
                // kept, the preferred entry again) is not a failover.
                let label = reason.label();
                if reason.kind.is_failover() {
                    self.state.metrics.failover(&from, label);
                    self.used(
                        Some(&from),
                        Counts {
                            failovers: 1,
                            ..Counts::default()
                        },
                    );
                }
                tracing::info!(%from, %to, %reason, kind = label, principal = %self.spec.principal, "relay session: serving entry changed");
                self.entry.clone_from(&to);
                self.emit(Output::ProviderChanged {
                    from,
                    to,
                    reason: label.to_string(),
                });
            }
            _ => {} // events newer than this engine: nothing to send
        }
        false
    }

    /// The router gave up on the sentence being spoken: its utterance ends
    /// with the error, the sentences behind it go to a fresh router session.
    async fn router_failed(&mut self, error: &voxwire_core::TtsError) -> Option<Halves> {
        tracing::warn!(principal = %self.spec.principal, %error, "relay session: utterance failed");
        let safe = ClientError::from_router(error);
        // With nothing owed the error is the session's; it is still told.
        if self.utterances.is_empty() {
            self.refuse(safe);
        } else {
            self.utterances.fail_speaking(safe);
            self.emit_ends();
        }
        let (mut input, events) = match self.open().await {
            Ok(halves) => halves,
            Err(e) => {
                self.end_all(e);
                return None;
            }
        };
        self.utterances.resubmit();
        self.pump(&mut input).await;
        Some((input, events))
    }
}

/// Sends one sentence to the router as an utterance of its own, bounded in time.
async fn submit(input: &mut SessionInput, text: &str, limit: Duration) -> Result<(), ()> {
    let work = async {
        input.push_text(text).await?;
        input.flush().await
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(()),
    }
}
