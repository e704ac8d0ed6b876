//! The router's session loop: text in, sentences out to providers, audio back.
//!
//! Text is cut into sentences as it arrives; one sentence at a time is spoken
//! by a task that retries and fails over on its own (see `piece`), so the loop
//! always knows which sentences are finished. A cancel aborts that task at once.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use voxwire_core::session::{DriverInput, SessionDriver, SessionEvent};
use voxwire_core::{AudioChunk, AudioFormat, ErrorKind, TextSpan, TtsError};

use crate::attempt::PieceMsg;
use crate::events::RouterEvent;
use crate::member::Template;
use crate::piece;
use crate::rt::{self, Task};
use crate::segment::{split_to_limit, IncrementalSegmenter};
use crate::Inner;

/// Messages a piece's task may run ahead of the loop.
const PIECE_QUEUE: usize = 16;

enum Item {
    /// A piece of text and its byte offset in its utterance.
    Piece { text: String, offset: usize },
    /// End of utterance `id`: report it once everything before it is spoken.
    End(u64),
}

/// The piece in flight; dropping it aborts its task.
struct Running {
    _task: Task,
    rx: mpsc::Receiver<PieceMsg>,
    offset: usize,
}

pub(crate) struct SessionLoop {
    inner: Arc<Inner>,
    driver: SessionDriver,
    template: Template,
    target: AudioFormat,
    segmenter: IncrementalSegmenter,
    queue: VecDeque<Item>,
    queued_chars: usize,
    /// Byte offset, in the current utterance, of the next text the segmenter releases.
    offset: usize,
    pieces: usize,
    sequence: u64,
    serving: Option<String>,
}

impl SessionLoop {
    pub fn new(
        inner: Arc<Inner>,
        driver: SessionDriver,
        template: Template,
        target: AudioFormat,
    ) -> Self {
        Self {
            inner,
            driver,
            template,
            target,
            segmenter: IncrementalSegmenter::new(),
            queue: VecDeque::new(),
            queued_chars: 0,
            offset: 0,
            pieces: 0,
            sequence: 0,
            serving: None,
        }
    }

    pub async fn run(mut self) {
        let mut current: Option<Running> = None;
        let mut input_open = true;
        loop {
            while current.is_none() {
                match self.queue.pop_front() {
                    Some(Item::Piece { text, offset }) => {
                        self.queued_chars = self.queued_chars.saturating_sub(text.chars().count());
                        current = Some(self.start(text, offset));
                    }
                    Some(Item::End(id)) => {
                        if self
                            .driver
                            .emit(SessionEvent::UtteranceDone { id })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    None => break,
                }
            }
            if current.is_none() && !input_open {
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
                        current = None; // aborts the piece in flight
                        self.queue.clear();
                        self.queued_chars = 0;
                        self.segmenter = IncrementalSegmenter::new();
                        self.offset = 0;
                        if self.driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                            return;
                        }
                    }
                },
                msg = recv(&mut current) => {
                    let offset = current.as_ref().map_or(0, |c| c.offset);
                    match msg {
                        Some(PieceMsg::Serving { provider, left }) => {
                            let previous = self.serving.replace(provider.clone());
                            // A change from the provider that served before, or, at
                            // the start, from the one this piece gave up on.
                            let change = match (previous, left) {
                                (Some(from), left) if from != provider => {
                                    let reason = left.map_or_else(|| format!("{from} is not available"), |(_, why)| why);
                                    Some((from, reason))
                                }
                                (None, Some((from, why))) => Some((from, why)),
                                _ => None,
                            };
                            if let Some((from, reason)) = change {
                                tracing::info!(%from, to = %provider, %reason, "failover");
                                let _ = self.inner.events.send(RouterEvent::Failover {
                                    from: from.clone(),
                                    to: provider.clone(),
                                    reason: reason.clone(),
                                });
                                let event = SessionEvent::ProviderChanged { from, to: provider, reason };
                                if self.driver.emit(event).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Some(PieceMsg::Audio { data, span }) => {
                            let chunk = AudioChunk {
                                data,
                                format: self.target,
                                sequence: self.sequence,
                                span: span.map(|s| TextSpan { start: s.start + offset, end: s.end + offset }),
                                times: None,
                            };
                            self.sequence += 1;
                            if self.driver.emit(SessionEvent::Audio(chunk)).await.is_err() {
                                return;
                            }
                        }
                        Some(PieceMsg::Done) => current = None,
                        Some(PieceMsg::Failed(error)) => return self.driver.fail(error).await,
                        None => {
                            let error = TtsError::new(ErrorKind::Internal, "a piece's task ended without a result")
                                .with_provider("router");
                            return self.driver.fail(error).await;
                        }
                    }
                }
            }
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
        let index = self.pieces;
        self.pieces += 1;
        let task = rt::spawn(piece::speak(
            self.inner.clone(),
            index,
            text,
            self.template.clone(),
            self.target,
            tx,
        ));
        Running {
            _task: task,
            rx,
            offset,
        }
    }
}

/// The next message of the piece in flight; pending forever when there is none
/// (the `select!` branch is then never chosen).
async fn recv(current: &mut Option<Running>) -> Option<PieceMsg> {
    match current {
        Some(running) => running.rx.recv().await,
        None => std::future::pending().await,
    }
}
