//! A connection's writer task: takes the engine's outputs from a bounded
//! queue, encodes them for the front's protocol and writes each with a
//! timeout. A client that stops reading makes a write time out: the task
//! ends, which the engine sees as the writer gone, and the socket is dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::Output;
use crate::metrics::Metrics;

/// Turns engine outputs into a front's frames.
pub(crate) trait Encoder: Send + 'static {
    /// The frame for `output`; `None` sends nothing.
    fn encode(&mut self, output: Output) -> Option<Message>;
}

/// A spawned writer, aborted when dropped (so it never outlives its session).
pub(crate) struct Writer(Option<JoinHandle<()>>);

impl Writer {
    /// Starts writing `outputs` to `sink` through `encoder`.
    pub fn spawn<E: Encoder>(
        sink: SplitSink<WebSocket, Message>,
        outputs: mpsc::Receiver<Output>,
        encoder: E,
        send_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self(Some(tokio::spawn(write_loop(
            sink,
            outputs,
            encoder,
            send_timeout,
            metrics,
        ))))
    }

    /// Waits for the writer to send what it holds, at most `limit`.
    pub async fn finish(mut self, limit: Duration) {
        if let Some(handle) = self.0.take() {
            let abort = handle.abort_handle();
            if tokio::time::timeout(limit, handle).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

async fn write_loop<E: Encoder>(
    mut sink: SplitSink<WebSocket, Message>,
    mut outputs: mpsc::Receiver<Output>,
    mut encoder: E,
    send_timeout: Duration,
    metrics: Arc<Metrics>,
) {
    while let Some(output) = outputs.recv().await {
        let last = match &output {
            Output::Close { code, reason } => Some(Message::Close(Some(CloseFrame {
                code: *code,
                reason: (*reason).into(),
            }))),
            _ => None,
        };
        let frame = match last {
            Some(close) => close,
            None => match encoder.encode(output) {
                Some(frame) => frame,
                None => continue,
            },
        };
        let closing = matches!(frame, Message::Close(_));
        match tokio::time::timeout(send_timeout, sink.send(frame)).await {
            Ok(Ok(())) if !closing => {}
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => {
                metrics.limit_breached("client_send_timeout");
                tracing::info!("relay writer: a send to the client timed out; dropping it");
                return; // the socket is dropped unflushed
            }
        }
    }
    let _ = tokio::time::timeout(send_timeout, sink.close()).await;
}
