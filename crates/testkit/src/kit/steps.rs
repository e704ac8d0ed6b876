//! A streamed body played from a plan of steps: pieces to send, pauses (that
//! end with the server) and a cut. Every mock whose answer is a planned
//! stream (raw audio in pieces, JSON lines, SSE events) writes it with
//! [`stepped_body`]; the vendor only plans the steps.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::Value;

use super::fault::UtteranceEffects;
use super::Kit;

/// How long a cut waits for what was sent to reach the client.
const CUT_GRACE: Duration = Duration::from_millis(50);

/// One step of a planned body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Sends these bytes.
    Send(Bytes),
    /// Pauses (ended early when the server stops: the body then ends).
    Sleep(Duration),
    /// Breaks the body (the connection fails) after a short grace.
    Cut,
}

/// A Server-Sent Events `data:` event of `v`.
pub fn sse_event(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// `audio` as steps of at most `chunk` bytes, each made a piece by `piece`
/// (raw bytes, an SSE event...), faults of `fx` applied: a pause once
/// `stall.0` bytes were sent (`0`: before the first), a pause between pieces
/// (`drip`), and no audio past the first of `close.0` and `error.2`. Returns
/// the steps and, when that cut point was reached, the offset where the audio
/// stopped (the vendor then ends the body its way: a [`Step::Cut`], an error
/// event...).
pub fn audio_steps(
    audio: &[u8],
    chunk: usize,
    fx: &UtteranceEffects,
    mut piece: impl FnMut(&[u8]) -> Bytes,
) -> (VecDeque<Step>, Option<usize>) {
    let chunk = chunk.max(1);
    let mut steps = VecDeque::new();
    let error_at = fx.error.as_ref().map(|(_, _, at)| *at);
    let close_at = fx.close.map(|(at, _)| at);
    let cut_at = [error_at, close_at].into_iter().flatten().min();
    let mut stall = fx.stall;
    let mut pos = 0;
    loop {
        if let Some((at, pause)) = stall {
            if pos >= at {
                steps.push_back(Step::Sleep(pause));
                stall = None;
            }
        }
        if pos >= audio.len() || cut_at.is_some_and(|c| pos >= c) {
            break;
        }
        let mut end = (pos + chunk).min(audio.len());
        if let Some(c) = cut_at {
            end = end.min(c);
        }
        if let Some((at, _)) = stall {
            if at > pos {
                end = end.min(at);
            }
        }
        if pos > 0 {
            if let Some(d) = fx.drip {
                steps.push_back(Step::Sleep(d));
            }
        }
        steps.push_back(Step::Send(piece(&audio[pos..end])));
        pos = end;
    }
    let stopped = cut_at.filter(|c| pos >= *c).map(|_| pos);
    (steps, stopped)
}

/// The body that plays `steps`; `guard` lives as long as the body does (a
/// counter of open bodies, say), `who` names the mock in the cut's error.
/// A pause the server's stop interrupts cuts the body.
pub fn stepped_body<G: Send + 'static>(
    steps: VecDeque<Step>,
    kit: Arc<Kit>,
    guard: G,
    who: &'static str,
) -> Body {
    stepped_body_then(steps, kit, guard, who, || {})
}

/// [`stepped_body`], calling `done` once every step was played (not when the
/// body was cut, nor when the client left).
pub fn stepped_body_then<G: Send + 'static>(
    steps: VecDeque<Step>,
    kit: Arc<Kit>,
    guard: G,
    who: &'static str,
    done: impl FnOnce() + Send + 'static,
) -> Body {
    let cut = move || {
        let e = format!("mock {who}: body cut off by a scripted fault");
        Err(std::io::Error::other(e))
    };
    let stream = futures::stream::unfold(
        (steps, kit, guard, Some(done)),
        move |(mut steps, kit, guard, mut done)| async move {
            loop {
                let Some(step) = steps.pop_front() else {
                    if let Some(done) = done.take() {
                        done();
                    }
                    return None;
                };
                match step {
                    Step::Send(b) => return Some((Ok(b), (steps, kit, guard, done))),
                    Step::Sleep(d) => {
                        tokio::select! {
                            _ = tokio::time::sleep(d) => {}
                            _ = kit.stopped() => {
                                steps.clear();
                                return Some((cut(), (steps, kit, guard, None)));
                            }
                        }
                    }
                    Step::Cut => {
                        tokio::time::sleep(CUT_GRACE).await;
                        steps.clear();
                        return Some((cut(), (steps, kit, guard, None)));
                    }
                }
            }
        },
    );
    Body::from_stream(stream)
}
