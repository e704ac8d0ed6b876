//! Incremental synthesis sessions: text goes in piece by piece, audio events come out.
//!
//! [`channel`] makes the two ends. The caller keeps the [`SynthesisSession`]
//! (or splits it into [`SessionInput`] and [`SessionEvents`]); the provider
//! runs a task around the [`SessionDriver`]. Both queues are bounded, so a slow
//! consumer slows the provider instead of growing memory. A caller that sends
//! many utterances must therefore read events while it writes (split the
//! session and drive the halves from two tasks): writing everything first
//! fills both queues and waits forever.
//!
//! Cancel (barge-in) does not wait in the command queue: it bumps a generation
//! counter the driver checks first, commands sent before it are discarded, and
//! the events side drops audio from before it until the driver's
//! [`SessionEvent::Cleared`] arrives.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::future::{self, Either};
use futures::task::AtomicWaker;
use futures::{SinkExt, Stream, StreamExt};

use crate::audio::{AudioChunk, AudioFormat};
use crate::error::{ErrorKind, Result, TtsError};
use crate::provider::{AudioStream, Extensions, SynthesisRequest};

/// Commands and events each queue holds before the sender waits.
pub const DEFAULT_QUEUE_CAPACITY: usize = 32;

/// How a streaming session should speak; the same fields as a request, minus the text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamConfig {
    /// Voice id; `None` for the provider's default.
    pub voice: Option<String>,
    /// BCP-47 language; `None` for the provider's default.
    pub language: Option<String>,
    /// Output format; `None` for the provider's native one.
    pub format: Option<AudioFormat>,
    /// Speaking rate multiplier.
    pub speed: Option<f32>,
    /// Provider-specific options.
    pub extensions: Extensions,
}

impl StreamConfig {
    /// The whole-text request for one utterance of this session.
    pub fn request(&self, text: impl Into<String>) -> SynthesisRequest {
        SynthesisRequest {
            text: text.into(),
            voice: self.voice.clone(),
            language: self.language.clone(),
            format: self.format,
            speed: self.speed,
            extensions: self.extensions.clone(),
        }
    }
}

/// What a session produces.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The next piece of audio.
    Audio(AudioChunk),
    /// Every chunk of utterance `id` (the number [`SessionInput::flush`] returned) has been sent.
    UtteranceDone {
        /// The utterance id.
        id: u64,
    },
    /// The provider stopped everything queued before cancel number `generation`.
    Cleared {
        /// Which cancel this acknowledges.
        generation: u64,
    },
    /// A router's chain entry `entry` (provider `provider`) serves the audio
    /// that follows; sent before the first audio of each utterance, so a
    /// client can show who speaks. Sent again when the audio switches
    /// between the phrase cache and the live provider.
    Serving {
        /// The chain entry's name (its provider id unless the config names it).
        entry: String,
        /// The entry's provider id.
        provider: String,
        /// The audio that follows is the entry's, stored in the router's
        /// phrase cache: no vendor was asked for it.
        cached: bool,
    },
    /// A router switched providers; the audio that follows comes from `to`.
    ProviderChanged {
        /// The provider that served until now.
        from: String,
        /// The provider that serves from here on.
        to: String,
        /// Why: a kind to match on and a line for people.
        reason: crate::failover::FailoverReason,
    },
}

#[derive(Debug, Default)]
struct CancelState {
    generation: AtomicU64,
    /// The caller dropped its events half: nobody hears the session any more.
    abandoned: AtomicBool,
    waker: AtomicWaker,
}

#[derive(Debug)]
enum Command {
    Text(String),
    Flush(u64),
    Finish,
}

#[derive(Debug)]
struct Tagged {
    generation: u64,
    command: Command,
}

/// Makes a connected session: the caller's end and the provider's end.
pub fn channel(capacity: usize) -> (SynthesisSession, SessionDriver) {
    let capacity = capacity.max(1);
    let (cmd_tx, cmd_rx) = mpsc::channel(capacity);
    let (ev_tx, ev_rx) = mpsc::channel(capacity);
    let cancel = Arc::new(CancelState::default());
    let session = SynthesisSession {
        input: SessionInput {
            tx: cmd_tx,
            cancel: cancel.clone(),
            next_utterance: 0,
            dirty: false,
            finished: false,
        },
        events: SessionEvents {
            rx: ev_rx,
            cancel: cancel.clone(),
            acknowledged: 0,
        },
    };
    let driver = SessionDriver {
        rx: cmd_rx,
        cancel,
        seen: 0,
        tx: ev_tx,
    };
    (session, driver)
}

/// The caller's end of a streaming session.
#[derive(Debug)]
pub struct SynthesisSession {
    input: SessionInput,
    events: SessionEvents,
}

impl SynthesisSession {
    /// Appends text to the current utterance.
    pub async fn push_text(&mut self, text: &str) -> Result<()> {
        self.input.push_text(text).await
    }

    /// Ends the current utterance; returns its id for matching `UtteranceDone`.
    pub async fn flush(&mut self) -> Result<u64> {
        self.input.flush().await
    }

    /// No more text: flushes what is pending; the events end after the last utterance.
    pub async fn finish(&mut self) -> Result<()> {
        self.input.finish().await
    }

    /// Barge-in: stops audio now and discards text not yet spoken. Returns the cancel number.
    pub fn cancel(&self) -> u64 {
        self.input.cancel()
    }

    /// The next event; `None` once the session has ended.
    pub async fn next_event(&mut self) -> Option<Result<SessionEvent>> {
        self.events.next().await
    }

    /// Splits into the input and event halves, to drive them from different tasks.
    pub fn split(self) -> (SessionInput, SessionEvents) {
        (self.input, self.events)
    }
}

/// The sending half of a session.
#[derive(Debug)]
pub struct SessionInput {
    tx: mpsc::Sender<Tagged>,
    cancel: Arc<CancelState>,
    next_utterance: u64,
    dirty: bool,
    finished: bool,
}

impl SessionInput {
    /// Appends text to the current utterance; whitespace is kept exactly as given.
    pub async fn push_text(&mut self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.send(Command::Text(text.to_string())).await?;
        self.dirty = true;
        Ok(())
    }

    /// Ends the current utterance; returns its id.
    pub async fn flush(&mut self) -> Result<u64> {
        let id = self.next_utterance;
        self.send(Command::Flush(id)).await?;
        self.next_utterance += 1;
        self.dirty = false;
        Ok(id)
    }

    /// No more text: flushes pending text, then closes the input.
    pub async fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        if self.dirty {
            self.flush().await?;
        }
        self.send(Command::Finish).await?;
        self.finished = true;
        Ok(())
    }

    /// Barge-in: stops audio now and discards queued text. Returns the cancel number.
    pub fn cancel(&self) -> u64 {
        self.cancel_handle().cancel()
    }

    /// A handle that cancels from elsewhere (a stop button) while this half
    /// is busy in another task.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            cancel: self.cancel.clone(),
        }
    }

    async fn send(&mut self, command: Command) -> Result<()> {
        if self.finished {
            return Err(TtsError::invalid_input(
                "the session was finished: open a new one to speak more",
            ));
        }
        let generation = self.cancel.generation.load(Ordering::SeqCst);
        self.tx
            .send(Tagged {
                generation,
                command,
            })
            .await
            .map_err(|_| {
                TtsError::new(ErrorKind::Unavailable, "the session has ended")
                    .with_hint("read the session's events for the error that ended it")
            })
    }
}

/// Cancels a session without holding its input half; cheap to clone.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    cancel: Arc<CancelState>,
}

impl CancelHandle {
    /// Barge-in, as [`SessionInput::cancel`]. Returns the cancel number.
    pub fn cancel(&self) -> u64 {
        let generation = self.cancel.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.cancel.waker.wake();
        generation
    }
}

/// The receiving half of a session: a stream of events, errors included.
///
/// After an `Err` the session is over. Audio from before a cancel is dropped here.
#[derive(Debug)]
pub struct SessionEvents {
    rx: mpsc::Receiver<Result<SessionEvent>>,
    cancel: Arc<CancelState>,
    acknowledged: u64,
}

impl Drop for SessionEvents {
    fn drop(&mut self) {
        self.cancel.abandoned.store(true, Ordering::SeqCst);
        self.cancel.waker.wake();
    }
}

impl Stream for SessionEvents {
    type Item = Result<SessionEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let item = match self.rx.poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => item,
                other => return other,
            };
            let current = self.cancel.generation.load(Ordering::SeqCst);
            match &item {
                Ok(SessionEvent::Cleared { generation }) => {
                    self.acknowledged = self.acknowledged.max(*generation);
                }
                Ok(_) if self.acknowledged < current => continue, // spoken before the cancel
                _ => {}
            }
            return Poll::Ready(Some(item));
        }
    }
}

/// What the driver reads from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverInput {
    /// More text for the current utterance.
    Text(String),
    /// End of utterance `id`: speak it and report `UtteranceDone { id }`.
    Flush {
        /// The utterance id.
        id: u64,
    },
    /// No more text will come.
    Finish,
    /// Drop queued text and audio in flight, then emit `Cleared { generation }`.
    Cancel {
        /// The cancel number to acknowledge.
        generation: u64,
    },
}

/// The caller dropped the events half; the driver should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// The provider's end of a session.
#[derive(Debug)]
pub struct SessionDriver {
    rx: mpsc::Receiver<Tagged>,
    cancel: Arc<CancelState>,
    seen: u64,
    tx: mpsc::Sender<Result<SessionEvent>>,
}

impl SessionDriver {
    /// The next input, cancels first; `None` once the caller dropped the input half.
    pub async fn next_input(&mut self) -> Option<DriverInput> {
        future::poll_fn(|cx| self.poll_input(cx)).await
    }

    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<DriverInput>> {
        self.cancel.waker.register(cx.waker());
        loop {
            let current = self.cancel.generation.load(Ordering::SeqCst);
            if current > self.seen {
                self.seen = current;
                return Poll::Ready(Some(DriverInput::Cancel {
                    generation: current,
                }));
            }
            match self.rx.poll_next_unpin(cx) {
                Poll::Ready(Some(tagged)) if tagged.generation < self.seen => continue,
                Poll::Ready(Some(tagged)) => {
                    return Poll::Ready(Some(match tagged.command {
                        Command::Text(t) => DriverInput::Text(t),
                        Command::Flush(id) => DriverInput::Flush { id },
                        Command::Finish => DriverInput::Finish,
                    }))
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// A handle that tells whether a cancel arrived after this moment; cheap, `Send`,
    /// usable from a blocking thread.
    pub fn cancel_watch(&self) -> CancelWatch {
        CancelWatch {
            state: self.cancel.clone(),
            generation: self.seen.max(self.cancel.generation.load(Ordering::SeqCst)),
        }
    }

    /// A watch that also fires for a cancel that arrived but that
    /// [`next_input`](Self::next_input) has not returned yet (for a driver
    /// that stops a long wait when the caller cancels).
    pub fn unseen_cancel_watch(&self) -> CancelWatch {
        CancelWatch {
            state: self.cancel.clone(),
            generation: self.seen,
        }
    }

    /// Sends an event; `Err(Closed)` when the caller is gone.
    pub async fn emit(&mut self, event: SessionEvent) -> Result<(), Closed> {
        self.tx.send(Ok(event)).await.map_err(|_| Closed)
    }

    /// Sends an event unless `watch` sees a cancel first; `Ok(false)` when cancelled.
    pub async fn emit_unless_cancelled(
        &mut self,
        event: SessionEvent,
        watch: &CancelWatch,
    ) -> Result<bool, Closed> {
        let send = self.tx.send(Ok(event));
        let cancelled = watch.cancelled();
        futures::pin_mut!(send, cancelled);
        match future::select(send, cancelled).await {
            Either::Left((sent, _)) => sent.map(|()| true).map_err(|_| Closed),
            Either::Right(((), _)) => Ok(false),
        }
    }

    /// Ends the session with an error.
    pub async fn fail(mut self, error: TtsError) {
        let _ = self.tx.send(Err(error)).await;
    }
}

/// Tells whether the caller cancelled since the watch was taken.
#[derive(Debug, Clone)]
pub struct CancelWatch {
    state: Arc<CancelState>,
    generation: u64,
}

impl CancelWatch {
    /// Whether a cancel arrived since this watch was taken.
    pub fn is_cancelled(&self) -> bool {
        self.state.generation.load(Ordering::SeqCst) > self.generation
    }

    /// Whether the caller dropped the session's events half (nobody hears
    /// it any more: a driver waiting for something stops).
    pub fn is_abandoned(&self) -> bool {
        self.state.abandoned.load(Ordering::SeqCst)
    }

    /// Resolves when the caller drops the session's events half (for the
    /// driver's own task, like [`cancelled`](Self::cancelled)).
    pub fn abandoned(&self) -> impl Future<Output = ()> + '_ {
        future::poll_fn(move |cx| {
            if self.is_abandoned() {
                return Poll::Ready(());
            }
            self.state.waker.register(cx.waker());
            if self.is_abandoned() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Resolves when a cancel arrives (for the driver's own task).
    pub fn cancelled(&self) -> impl Future<Output = ()> + '_ {
        future::poll_fn(move |cx| {
            if self.is_cancelled() {
                return Poll::Ready(());
            }
            self.state.waker.register(cx.waker());
            if self.is_cancelled() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// A session for a provider without incremental input, spoken through its
/// `synthesize` as [`run_buffered`] describes: the caller's end, and the task
/// that drives it, to spawn on whatever executor the provider runs on.
pub fn buffered<P>(
    provider: P,
    config: StreamConfig,
    max_buffered_chars: usize,
) -> (SynthesisSession, impl Future<Output = ()>)
where
    P: crate::TtsProvider + Clone + 'static,
{
    let (session, driver) = channel(DEFAULT_QUEUE_CAPACITY);
    let task = run_buffered(driver, config, max_buffered_chars, move |request| {
        let provider = provider.clone();
        async move { provider.synthesize(request).await }
    });
    (session, task)
}

/// Drives a session for a provider without incremental input: text is buffered
/// until each flush, then spoken with `synthesize`, and its chunks forwarded.
///
/// `max_buffered_chars` bounds one utterance; going over ends the session with
/// an `InvalidInput` error. Runs until the caller finishes, drops the session,
/// or an error ends it. Runtime-agnostic: spawn it on any executor.
pub async fn run_buffered<F, Fut>(
    mut driver: SessionDriver,
    config: StreamConfig,
    max_buffered_chars: usize,
    mut synthesize: F,
) where
    F: FnMut(SynthesisRequest) -> Fut,
    Fut: Future<Output = Result<AudioStream>>,
{
    let mut buffer = String::new();
    let mut sequence = 0u64;
    while let Some(input) = driver.next_input().await {
        match input {
            DriverInput::Text(text) => {
                buffer.push_str(&text);
                if buffer.chars().count() > max_buffered_chars {
                    let err = TtsError::invalid_input(format!(
                        "one utterance grew over {max_buffered_chars} characters: flush more often"
                    ));
                    return driver.fail(err).await;
                }
            }
            DriverInput::Cancel { generation } => {
                buffer.clear();
                if driver
                    .emit(SessionEvent::Cleared { generation })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            DriverInput::Finish => return,
            DriverInput::Flush { id } => {
                let text = std::mem::take(&mut buffer);
                if !text.trim().is_empty() {
                    let watch = driver.cancel_watch();
                    let stream = synthesize(config.request(text));
                    futures::pin_mut!(stream);
                    let stream = match future::select(stream, watch.cancelled()).await {
                        Either::Left((Ok(stream), _)) => stream,
                        Either::Left((Err(err), _)) => return driver.fail(err).await,
                        Either::Right(_) => continue, // the Cancel input comes next
                    };
                    match forward(&mut driver, stream, &watch, &mut sequence).await {
                        Forwarded::Done => {}
                        Forwarded::Cancelled => continue,
                        Forwarded::Closed => return,
                        Forwarded::Failed(err) => return driver.fail(err).await,
                    }
                }
                if driver
                    .emit(SessionEvent::UtteranceDone { id })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

enum Forwarded {
    Done,
    Cancelled,
    Closed,
    Failed(TtsError),
}

async fn forward(
    driver: &mut SessionDriver,
    mut stream: AudioStream,
    watch: &CancelWatch,
    sequence: &mut u64,
) -> Forwarded {
    loop {
        let next = stream.next();
        let cancelled = watch.cancelled();
        futures::pin_mut!(cancelled);
        let item = match future::select(next, cancelled).await {
            Either::Left((item, _)) => item,
            Either::Right(_) => return Forwarded::Cancelled,
        };
        match item {
            None => return Forwarded::Done,
            Some(Err(err)) => return Forwarded::Failed(err),
            Some(Ok(mut chunk)) => {
                chunk.sequence = *sequence;
                *sequence += 1;
                match driver
                    .emit_unless_cancelled(SessionEvent::Audio(chunk), watch)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return Forwarded::Cancelled,
                    Err(Closed) => return Forwarded::Closed,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::executor::block_on;

    fn chunk(byte: u8) -> AudioChunk {
        AudioChunk {
            data: Bytes::from(vec![byte; 2]),
            format: AudioFormat::pcm16_mono(8_000),
            sequence: 0,
            span: None,
            times: None,
            words: Vec::new(),
        }
    }

    /// A fake provider: each utterance becomes one chunk per character.
    fn fake_synth(req: SynthesisRequest) -> impl Future<Output = Result<AudioStream>> {
        let chunks: Vec<Result<AudioChunk>> = req.text.bytes().map(|b| Ok(chunk(b))).collect();
        future::ready(Ok(Box::pin(futures::stream::iter(chunks)) as AudioStream))
    }

    #[test]
    fn text_flushes_into_audio_and_done_events_in_order() {
        let (mut session, driver) = channel(64);
        block_on(async {
            let run = run_buffered(driver, StreamConfig::default(), 100, fake_synth);
            let talk = async {
                session.push_text("ab").await.unwrap();
                session.push_text("c").await.unwrap();
                let first = session.flush().await.unwrap();
                session.push_text("d").await.unwrap();
                session.finish().await.unwrap();
                let mut seen = Vec::new();
                while let Some(ev) = session.next_event().await {
                    seen.push(ev.unwrap());
                }
                (first, seen)
            };
            let ((), (first, seen)) = futures::join!(run, talk);
            assert_eq!(first, 0);
            let bytes: Vec<u8> = seen
                .iter()
                .filter_map(|e| match e {
                    SessionEvent::Audio(c) => Some(c.data[0]),
                    _ => None,
                })
                .collect();
            assert_eq!(bytes, b"abcd");
            let seqs: Vec<u64> = seen
                .iter()
                .filter_map(|e| match e {
                    SessionEvent::Audio(c) => Some(c.sequence),
                    _ => None,
                })
                .collect();
            assert_eq!(seqs, vec![0, 1, 2, 3]);
            assert_eq!(seen[3], SessionEvent::UtteranceDone { id: 0 });
            assert_eq!(seen[5], SessionEvent::UtteranceDone { id: 1 });
        });
    }

    #[test]
    fn cancel_discards_queued_text_and_stale_audio() {
        let (mut session, mut driver) = channel(64);
        block_on(async {
            session.push_text("old").await.unwrap();
            session.flush().await.unwrap();
            // The driver has not read anything yet; the cancel overtakes the queue.
            let generation = session.cancel();
            assert_eq!(
                driver.next_input().await,
                Some(DriverInput::Cancel { generation })
            );
            session.push_text("new").await.unwrap();
            assert_eq!(
                driver.next_input().await,
                Some(DriverInput::Text("new".into()))
            );
            // Audio emitted before the driver acknowledged is dropped by the reader.
            driver.emit(SessionEvent::Audio(chunk(1))).await.unwrap();
            driver
                .emit(SessionEvent::Cleared { generation })
                .await
                .unwrap();
            driver.emit(SessionEvent::Audio(chunk(2))).await.unwrap();
            drop(driver);
            let mut seen = Vec::new();
            while let Some(ev) = session.next_event().await {
                seen.push(ev.unwrap());
            }
            assert_eq!(
                seen,
                vec![
                    SessionEvent::Cleared { generation },
                    SessionEvent::Audio(chunk(2))
                ]
            );
        });
    }

    #[test]
    fn oversize_utterance_ends_the_session_with_invalid_input() {
        let (mut session, driver) = channel(8);
        block_on(async {
            let run = run_buffered(driver, StreamConfig::default(), 3, fake_synth);
            let talk = async {
                session.push_text("abcd").await.unwrap();
                session.next_event().await
            };
            let ((), ev) = futures::join!(run, talk);
            assert_eq!(ev.unwrap().unwrap_err().kind(), ErrorKind::InvalidInput);
        });
    }

    #[test]
    fn pushing_after_finish_is_refused() {
        let (mut session, _driver) = channel(8);
        block_on(async {
            session.finish().await.unwrap();
            assert!(session.push_text("x").await.is_err());
        });
    }
}
