//! What every socket mock does with an utterance's audio: frames cut to the
//! fault thresholds, paced, the faults ([`UtteranceEffects::due`]) asked
//! before each frame and at the end; and bounded sends and closes.
//!
//! A dialect keeps its framing: it turns each [`Next`] into its own frames
//! (an `audio.delta`, a binary frame, a `Flushed`, its error and close
//! wording) and calls [`Utterance::step`] again once [`Utterance::next_at`]
//! has come.

use std::ops::Range;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use tokio::time::Instant;

use super::fault::{Due, ErrorField, UtteranceEffects};

/// The longest a single send may block (a client that stops reading).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a closing connection waits for the client's close reply.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Sends `message` within [`SEND_TIMEOUT`]; `false` when the client is gone
/// (or stopped reading).
pub async fn send(ws: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(message)).await,
        Ok(Ok(()))
    )
}

/// Sends a close frame (bounded), then waits up to [`CLOSE_GRACE`] for the
/// client's close reply.
pub async fn close(ws: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if send(ws, Message::Close(Some(frame))).await {
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(m)) = ws.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Waits until `at` (forever for `None`); a time already passed needs no
/// timer, which matters for 1-byte frames (the timer ticks in milliseconds).
pub async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) if at <= Instant::now() => {}
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What an utterance sends next (see [`Utterance::step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing yet: a stall began; ask again at [`Utterance::next_at`].
    Wait,
    /// Send the malformed frames [`Utterance::effects`] asks for (once,
    /// before the first audio); `first` is the first audio frame's bytes.
    Inject {
        /// The audio the first frame would carry (for a binary-frame fault).
        first: Bytes,
    },
    /// Send these audio bytes (`range` of the whole utterance's audio).
    Audio {
        /// The bytes.
        bytes: Bytes,
        /// Where they sit in the utterance's audio.
        range: Range<usize>,
    },
    /// Close the socket: with `frame` (code, reason) when the fault chose
    /// one, else with the dialect's own; `abrupt`: no close frame at all.
    Close {
        /// Drop the connection without a close frame.
        abrupt: bool,
        /// The fault's close code and reason.
        frame: Option<(u16, String)>,
    },
    /// Send this error instead of the rest (in the dialect's shape, or as
    /// it is for [`ErrorField::Raw`]); the utterance is over.
    Error {
        /// The error text (the whole frame for `Raw`).
        message: String,
        /// Where the text goes.
        field: ErrorField,
    },
    /// All audio went out: send the dialect's end marker; the utterance is over.
    End,
}

/// One utterance's audio on its way out, with its faults.
#[derive(Debug)]
pub struct Utterance {
    audio: Bytes,
    pos: usize,
    frame: usize,
    pace: Duration,
    fx: UtteranceEffects,
    injected: bool,
    next_at: Instant,
}

impl Utterance {
    /// `audio` in frames of `frame` bytes, `pace` apart (the fault's slow
    /// drip instead, if any), the first due at `first_at`; no audio at all
    /// under a zero-audio fault.
    pub fn new(
        audio: Bytes,
        frame: usize,
        pace: Duration,
        fx: UtteranceEffects,
        first_at: Instant,
    ) -> Self {
        let audio = if fx.zero_audio { Bytes::new() } else { audio };
        Self {
            audio,
            pos: 0,
            frame: frame.max(1),
            pace: fx.drip.unwrap_or(pace),
            fx,
            injected: false,
            next_at: first_at,
        }
    }

    /// When the next step is due.
    pub fn next_at(&self) -> Instant {
        self.next_at
    }

    /// The utterance's faults (for the injections a dialect renders).
    pub fn effects(&self) -> &UtteranceEffects {
        &self.fx
    }

    /// Whether every audio byte went out.
    pub fn all_sent(&self) -> bool {
        self.pos >= self.audio.len()
    }

    /// The next step, due now: a fault due before the next frame (or, once
    /// all audio went out, before the end marker), else the injections,
    /// else the next frame (cut at the next fault threshold), else the end.
    pub fn step(&mut self) -> Next {
        let len = self.audio.len();
        let due = if self.pos >= len {
            self.fx.due_at_end(self.pos)
        } else {
            self.fx.due(self.pos)
        };
        match due {
            Due::Stall(pause) => {
                self.next_at = Instant::now() + pause;
                return Next::Wait;
            }
            Due::Close { abrupt } => {
                return Next::Close {
                    abrupt,
                    frame: self.fx.close_frame.clone(),
                }
            }
            Due::Error(message) => {
                let field = self
                    .fx
                    .error
                    .as_ref()
                    .map_or_else(ErrorField::default, |e| e.1);
                return Next::Error { message, field };
            }
            Due::Audio => {}
        }
        if !self.injected && self.fx.injects() {
            self.injected = true;
            let first = self.audio.slice(..len.min(self.frame));
            return Next::Inject { first };
        }
        if self.pos >= len {
            return Next::End;
        }
        let limit = self
            .fx
            .next_threshold(self.pos)
            .map_or(len, |at| at.min(len));
        let range = self.pos..(self.pos + self.frame).min(limit);
        self.pos = range.end;
        self.next_at = Instant::now() + self.pace;
        Next::Audio {
            bytes: self.audio.slice(range.clone()),
            range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::fault::{Effects, Fault, Stall, END};

    fn steps(fault: Fault, len: usize) -> Vec<Next> {
        let fx = Effects::of(&fault).utterance;
        let mut u = Utterance::new(
            Bytes::from(vec![7; len]),
            4,
            Duration::ZERO,
            fx,
            Instant::now(),
        );
        let mut out = Vec::new();
        for _ in 0..20 {
            let n = u.step();
            let over = !matches!(n, Next::Audio { .. } | Next::Wait | Next::Inject { .. });
            out.push(n);
            if over {
                break;
            }
        }
        out
    }

    fn ranges(steps: &[Next]) -> Vec<Range<usize>> {
        steps
            .iter()
            .filter_map(|n| match n {
                Next::Audio { range, .. } => Some(range.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn frames_stop_at_thresholds_and_faults_land_exactly() {
        let s = steps(Fault::close_with(1011, "NET-0000", 6), 10);
        assert_eq!(ranges(&s), vec![0..4, 4..6]);
        let frame = Some((1011, "NET-0000".to_string()));
        assert_eq!(
            s.last(),
            Some(&Next::Close {
                abrupt: false,
                frame
            })
        );
        let s = steps(Fault::None, 10);
        assert_eq!(ranges(&s), vec![0..4, 4..8, 8..10]);
        assert_eq!(s.last(), Some(&Next::End));
    }

    #[test]
    fn end_faults_come_after_all_audio() {
        let s = steps(Fault::stall_after(END, Stall::For(Duration::ZERO)), 6);
        assert_eq!(ranges(&s), vec![0..4, 4..6]);
        assert_eq!(s[2], Next::Wait);
        assert_eq!(s.last(), Some(&Next::End));
        let s = steps(Fault::raw_frame("x"), 6);
        let error = Next::Error {
            message: "x".into(),
            field: ErrorField::Raw,
        };
        assert_eq!(s, vec![error]);
        let s = steps(Fault::InjectText("w".into()), 2);
        assert!(matches!(s[0], Next::Inject { .. }));
        assert_eq!(s.last(), Some(&Next::End));
        assert_eq!(steps(Fault::ZeroAudio, 6), vec![Next::End]);
    }
}
