//! Producing an `AudioStream` from a task that sends into a bounded channel.
//!
//! The task's owner is the stream: once the consumer drops it, the task's
//! next send fails and it ends (every wait inside it is bounded by a timeout).

use std::future::Future;

use tokio::sync::mpsc;
use voxwire_core::{AudioChunk, AudioStream, Result};

use crate::body::BodyReader;
use crate::chunker::Chunker;

/// Chunks the producing task may run ahead of the consumer.
pub const AHEAD: usize = 8;

/// Where a producer sends; `send` returns `false` once the consumer dropped the stream.
#[derive(Debug)]
pub struct Emitter(mpsc::Sender<Result<AudioChunk>>);

impl Emitter {
    /// Sends one item; `false` when the consumer is gone.
    pub async fn send(&self, item: Result<AudioChunk>) -> bool {
        self.0.send(item).await.is_ok()
    }

    /// Sends what a chunker step produced: a chunk (if any) or its error.
    /// `false` means stop: the consumer is gone, or an error ended the stream.
    pub async fn forward(&self, step: Result<Option<AudioChunk>>) -> bool {
        match step {
            Ok(Some(chunk)) => self.send(Ok(chunk)).await,
            Ok(None) => true,
            Err(e) => {
                self.send(Err(e)).await;
                false
            }
        }
    }

    /// Whether the consumer dropped the stream.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Resolves once the consumer drops the stream: a producer waiting on the
    /// vendor races it, so a dropped request is stopped at once, not at the
    /// vendor's next message.
    pub async fn closed(&self) {
        self.0.closed().await
    }
}

/// Runs `produce` on a task; the returned stream yields what it sends and ends
/// when it returns. Dropping the stream makes the next `send` return `false`.
pub fn spawn_stream<F, Fut>(produce: F) -> AudioStream
where
    F: FnOnce(Emitter) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(AHEAD);
    tokio::spawn(produce(Emitter(tx)));
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// The stream of a streamed body: its frames through `chunker`, then what the
/// chunker holds back (`endpoint` names the body in its errors); the first
/// error ends it.
pub fn stream_body(mut reader: BodyReader, mut chunker: Chunker, endpoint: String) -> AudioStream {
    spawn_stream(move |out| async move {
        loop {
            match reader.next().await {
                Ok(Some(bytes)) => {
                    if !out.forward(chunker.push(bytes)).await {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.send(Err(e)).await;
                    return;
                }
            }
        }
        out.forward(chunker.finish(&endpoint)).await;
    })
}
