//! Scripted faults: what a mock does instead of behaving, per request and per utterance.
//!
//! A [`FaultPlan`] maps the n-th request (or connection) to a [`Fault`]; a
//! dialect flattens it with [`Effects::of`] and applies the parts it speaks.

use std::time::Duration;

/// The longest any "forever" wait lasts (it also ends on shutdown or when the client leaves).
pub const FOREVER: Duration = Duration::from_secs(3600);

/// An HTTP answer instead of audio or an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status (e.g. 401, 403, 404, 429, 500).
    pub status: u16,
    /// The response body, sent as it is (JSON or text).
    pub body: String,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// More response headers (a vendor's request id, ...).
    pub headers: Vec<(String, String)>,
}

/// How long a stall lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Pause this long, then carry on normally.
    For(Duration),
    /// Never carry on (bounded by [`FOREVER`], shutdown, or the client leaving).
    Forever,
}

impl Stall {
    /// The pause as a duration ([`FOREVER`] for `Forever`).
    pub fn duration(self) -> Duration {
        match self {
            Self::For(d) => d,
            Self::Forever => FOREVER,
        }
    }
}

/// Which JSON field of an `error` frame carries the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorField {
    /// `{"type":"error","message":"..."}` (the documented shape).
    #[default]
    Message,
    /// `{"type":"error","error":"..."}` (what some servers send).
    Error,
    /// The text is the whole frame, sent as it is (a vendor-shaped error or
    /// warning, built by the test).
    Raw,
}

/// An `after_bytes` meaning "once all the utterance's audio was sent, before
/// its end marker" (see [`UtteranceEffects::due_at_end`]).
pub const END: usize = usize::MAX;

/// One scripted misbehaviour. Connection-level faults (rejections, deadlines)
/// act on the request or upgrade; the others act on each utterance of a
/// WebSocket connection (or the one utterance of a REST call), unless wrapped
/// in [`Fault::Utterances`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// Answer the REST call or the WebSocket upgrade with this status and body.
    Reject(Rejection),
    /// Answer only WebSocket upgrades with this (REST works): "REST fine, WebSocket 403".
    RejectWebSocket(Rejection),
    /// Send an `error` frame once `after_bytes` audio bytes of the utterance were sent
    /// (0: instead of any audio); no `audio.done` follows, the connection stays open.
    /// REST answers 500 with the message when `after_bytes` is 0, else breaks the body.
    ErrorFrame {
        /// The error text.
        message: String,
        /// Whether it goes under `message` or `error`.
        field: ErrorField,
        /// Audio bytes of the utterance sent first.
        after_bytes: usize,
    },
    /// Close the connection once `after_bytes` audio bytes of the utterance were sent:
    /// with a close frame (code 1011), or `abrupt`ly by dropping the TCP connection.
    /// REST cuts the chunked body off after that many bytes.
    Close {
        /// Audio bytes of the utterance sent first.
        after_bytes: usize,
        /// Drop the TCP connection without a close frame.
        abrupt: bool,
    },
    /// [`Fault::Close`] with this close code and reason (for a vendor that
    /// tells its closes apart by code, as Deepgram does); never abrupt.
    CloseWith {
        /// Audio bytes of the utterance sent first.
        after_bytes: usize,
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Pause once `after_bytes` audio bytes of the utterance were sent (0: before the first audio).
    Stall {
        /// Audio bytes of the utterance sent first.
        after_bytes: usize,
        /// How long.
        stall: Stall,
    },
    /// Finish the utterance (`audio.done`, or an empty 200 body) without any audio.
    ZeroAudio,
    /// Send a text frame that is not JSON before the first `audio.delta` (WebSocket only).
    BadJson,
    /// Send an `audio.delta` whose `delta` is not base64 before the first real one (WebSocket only).
    BadBase64,
    /// Send a binary frame before the first `audio.delta` (WebSocket only).
    BinaryFrame,
    /// Send this text frame as it is before the first audio, then behave
    /// (WebSocket only): a vendor-shaped warning, an unknown type, not JSON.
    InjectText(String),
    /// Wait this long between chunks / deltas.
    SlowDrip(Duration),
    /// Close the WebSocket (code 1001) once it is this old, even mid-utterance.
    ConnectionDeadline(Duration),
    /// Answer the WebSocket upgrade only after this pause (bounded by
    /// shutdown): a slow dial, for a caller dropped or a shutdown mid-dial.
    /// Applied by the dialects that speak it (the multiplexing toy).
    SlowUpgrade(Duration),
    /// Per-utterance faults for a WebSocket connection: utterance `i` gets entry `i`,
    /// later utterances behave. A REST call uses the first entry.
    Utterances(Vec<Fault>),
    /// Several faults at once (e.g. a slow drip and a deadline).
    All(Vec<Fault>),
}

impl Fault {
    /// Adds a response header to a rejection (e.g. `x-request-id`); other faults are unchanged.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Reject(r) | Self::RejectWebSocket(r) = &mut self {
            r.headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Reject with `status` and a JSON body `{"code":..,"error":message}`.
    pub fn reject(status: u16, message: &str) -> Self {
        Self::Reject(Rejection {
            status,
            body: error_body(status, message),
            retry_after: None,
            headers: Vec::new(),
        })
    }

    /// Reject with `status` and exactly `body`.
    pub fn reject_with_body(status: u16, body: impl Into<String>) -> Self {
        Self::Reject(Rejection {
            status,
            body: body.into(),
            retry_after: None,
            headers: Vec::new(),
        })
    }

    /// 429 with `Retry-After: secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::Reject(Rejection {
            status: 429,
            body: error_body(429, "rate limit exceeded (mock)"),
            retry_after: Some(retry_after_secs),
            headers: Vec::new(),
        })
    }

    /// REST works, WebSocket upgrades get 403 (as with a key lacking WebSocket access or a wrong path).
    pub fn websocket_forbidden() -> Self {
        Self::RejectWebSocket(Rejection {
            status: 403,
            body: error_body(403, "forbidden (mock: WebSocket access denied)"),
            retry_after: None,
            headers: Vec::new(),
        })
    }

    /// An `error` frame with the text under `message`, instead of audio.
    pub fn error_frame(message: impl Into<String>) -> Self {
        Self::ErrorFrame {
            message: message.into(),
            field: ErrorField::Message,
            after_bytes: 0,
        }
    }

    /// An `error` frame with the text under `error`, instead of audio.
    pub fn error_frame_in_error_field(message: impl Into<String>) -> Self {
        Self::ErrorFrame {
            message: message.into(),
            field: ErrorField::Error,
            after_bytes: 0,
        }
    }

    /// Close with a close frame after `bytes` audio bytes of the utterance.
    pub fn close_after(bytes: usize) -> Self {
        Self::Close {
            after_bytes: bytes,
            abrupt: false,
        }
    }

    /// Drop the TCP connection after `bytes` audio bytes of the utterance.
    pub fn drop_after(bytes: usize) -> Self {
        Self::Close {
            after_bytes: bytes,
            abrupt: true,
        }
    }

    /// Close with `code` and `reason` after `bytes` audio bytes of the utterance.
    pub fn close_with(code: u16, reason: &str, bytes: usize) -> Self {
        Self::CloseWith {
            after_bytes: bytes,
            code,
            reason: reason.to_string(),
        }
    }

    /// Send `frame` as it is instead of the utterance's audio (no end marker follows).
    pub fn raw_frame(frame: impl Into<String>) -> Self {
        Self::ErrorFrame {
            message: frame.into(),
            field: ErrorField::Raw,
            after_bytes: 0,
        }
    }

    /// Stall before the first audio.
    pub fn stall_before_audio(stall: Stall) -> Self {
        Self::Stall {
            after_bytes: 0,
            stall,
        }
    }

    /// Stall after `bytes` audio bytes of the utterance.
    pub fn stall_after(bytes: usize, stall: Stall) -> Self {
        Self::Stall {
            after_bytes: bytes,
            stall,
        }
    }
}

/// The JSON error body the mock uses: `{"code":"<reason>","error":"<message>"}`.
pub fn error_body(status: u16, message: &str) -> String {
    let code = match status {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        413 => "payload_too_large",
        422 => "unprocessable_entity",
        429 => "rate_limited",
        s if s >= 500 => "server_error",
        _ => "error",
    };
    serde_json::json!({ "code": code, "error": message }).to_string()
}

/// Which request or connection gets which fault: a script by index, then a default.
///
/// Indices count TTS requests (`POST /v1/tts` and WebSocket upgrades to `/v1/tts`)
/// that passed authentication, from 0, since the plan was set. Voice lookups
/// never consume an index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    /// Faults for requests 0, 1, 2, ….
    pub script: Vec<Fault>,
    /// The fault for every request after the script.
    pub then: Fault,
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// `fault` for every request.
    pub fn always(fault: Fault) -> Self {
        Self {
            script: Vec::new(),
            then: fault,
        }
    }

    /// `script[i]` for request `i`, then no faults.
    pub fn script(script: Vec<Fault>) -> Self {
        Self {
            script,
            then: Fault::None,
        }
    }

    /// `fault` for the first `n` requests, then no faults (for retry tests).
    pub fn first(n: usize, fault: Fault) -> Self {
        Self::script(vec![fault; n])
    }

    /// Replace what happens after the script.
    pub fn then(mut self, fault: Fault) -> Self {
        self.then = fault;
        self
    }

    /// The fault for request `index`.
    pub fn fault_for(&self, index: usize) -> Fault {
        self.script
            .get(index)
            .cloned()
            .unwrap_or_else(|| self.then.clone())
    }
}

impl From<Fault> for FaultPlan {
    fn from(fault: Fault) -> Self {
        Self::always(fault)
    }
}

impl From<Vec<Fault>> for FaultPlan {
    fn from(script: Vec<Fault>) -> Self {
        Self::script(script)
    }
}

/// A fault flattened into what each layer has to do.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// Answer the request (REST or upgrade) with this instead.
    pub reject: Option<Rejection>,
    /// Answer only a WebSocket upgrade with this instead.
    pub reject_ws: Option<Rejection>,
    /// Close the connection this long after it opened.
    pub deadline: Option<Duration>,
    /// Answer the upgrade only after this pause.
    pub upgrade_delay: Option<Duration>,
    /// Per-utterance faults of a connection, by index (else `utterance` for all).
    pub utterances: Option<Vec<Fault>>,
    /// What happens to every utterance when `utterances` is unset.
    pub utterance: UtteranceEffects,
}

/// What happens to one utterance.
#[derive(Debug, Clone, Default)]
pub struct UtteranceEffects {
    /// Send an error frame (message, field) after this many audio bytes.
    pub error: Option<(String, ErrorField, usize)>,
    /// Close after this many audio bytes; `true`: abruptly, without a close frame.
    pub close: Option<(usize, bool)>,
    /// The close code and reason, when the fault chose them ([`Fault::CloseWith`]).
    pub close_frame: Option<(u16, String)>,
    /// Stop sending for this long after this many audio bytes.
    pub stall: Option<(usize, Duration)>,
    /// Finish the utterance without any audio.
    pub zero_audio: bool,
    /// Send a frame that is not JSON before the first audio.
    pub bad_json: bool,
    /// Send audio whose base64 does not decode before the first audio.
    pub bad_base64: bool,
    /// Send a binary frame before the first audio.
    pub binary_frame: bool,
    /// Send this text frame as it is before the first audio.
    pub inject_text: Option<String>,
    /// Wait this long between audio frames.
    pub drip: Option<Duration>,
}

/// What an utterance's faults call for before its next audio frame (see
/// [`UtteranceEffects::due`]): a socket mock maps each onto its wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Send the audio.
    Audio,
    /// Pause this long first (then ask again).
    Stall(Duration),
    /// Close the socket instead; `abrupt`: without a close frame.
    Close {
        /// Whether the connection just breaks.
        abrupt: bool,
    },
    /// Send this error for the utterance instead, and end it.
    Error(String),
}

impl UtteranceEffects {
    /// Whether a frame is injected before the first delta.
    pub fn injects(&self) -> bool {
        self.bad_json || self.bad_base64 || self.binary_frame || self.inject_text.is_some()
    }

    /// What is due before the next audio frame, `sent` audio bytes into the
    /// utterance: a stall once (it is then spent), else a close, else an
    /// error, else the audio.
    pub fn due(&mut self, sent: usize) -> Due {
        self.due_when(|at| sent >= at)
    }

    /// [`UtteranceEffects::due`] once all `sent` bytes of audio went out,
    /// before the end marker: faults set at [`END`] are due too.
    pub fn due_at_end(&mut self, sent: usize) -> Due {
        self.due_when(|at| sent >= at || at == END)
    }

    fn due_when(&mut self, reached: impl Fn(usize) -> bool) -> Due {
        if let Some((at, pause)) = self.stall {
            if reached(at) {
                self.stall = None;
                return Due::Stall(pause);
            }
        }
        if let Some((at, abrupt)) = self.close {
            if reached(at) {
                return Due::Close { abrupt };
            }
        }
        match &self.error {
            Some((message, _, at)) if reached(*at) => Due::Error(message.clone()),
            _ => Due::Audio,
        }
    }

    /// The first fault threshold past `sent` bytes (an audio frame stops
    /// there, so the fault lands exactly), if any.
    pub fn next_threshold(&self, sent: usize) -> Option<usize> {
        [
            self.error.as_ref().map(|(_, _, at)| *at),
            self.close.map(|(at, _)| at),
            self.stall.map(|(at, _)| at),
        ]
        .into_iter()
        .flatten()
        .filter(|&at| at > sent)
        .min()
    }
}

impl Effects {
    /// Flattens `fault` (and nested `All`s).
    pub fn of(fault: &Fault) -> Self {
        let mut e = Self::default();
        e.add(fault);
        e
    }

    fn add(&mut self, fault: &Fault) {
        let u = &mut self.utterance;
        match fault {
            Fault::None => {}
            Fault::Reject(r) => self.reject = Some(r.clone()),
            Fault::RejectWebSocket(r) => self.reject_ws = Some(r.clone()),
            Fault::ErrorFrame {
                message,
                field,
                after_bytes,
            } => u.error = Some((message.clone(), *field, *after_bytes)),
            Fault::Close {
                after_bytes,
                abrupt,
            } => u.close = Some((*after_bytes, *abrupt)),
            Fault::CloseWith {
                after_bytes,
                code,
                reason,
            } => {
                u.close = Some((*after_bytes, false));
                u.close_frame = Some((*code, reason.clone()));
            }
            Fault::Stall { after_bytes, stall } => u.stall = Some((*after_bytes, stall.duration())),
            Fault::ZeroAudio => u.zero_audio = true,
            Fault::BadJson => u.bad_json = true,
            Fault::BadBase64 => u.bad_base64 = true,
            Fault::BinaryFrame => u.binary_frame = true,
            Fault::InjectText(t) => u.inject_text = Some(t.clone()),
            Fault::SlowDrip(d) => u.drip = Some(*d),
            Fault::ConnectionDeadline(d) => {
                self.deadline = Some(self.deadline.map_or(*d, |old| old.min(*d)));
            }
            Fault::SlowUpgrade(d) => self.upgrade_delay = Some(*d),
            Fault::Utterances(list) => self.utterances = Some(list.clone()),
            Fault::All(list) => {
                for f in list {
                    self.add(f);
                }
            }
        }
    }

    /// The effects for utterance `index` of a connection.
    pub fn for_utterance(&self, index: usize) -> UtteranceEffects {
        match &self.utterances {
            Some(list) => list
                .get(index)
                .map(|f| Effects::of(f).utterance)
                .unwrap_or_default(),
            None => self.utterance.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_due_once_then_the_close_then_nothing_else() {
        let mut fx = Effects::of(&Fault::All(vec![
            Fault::stall_after(10, Stall::For(Duration::from_millis(5))),
            Fault::close_after(20),
        ]))
        .utterance;
        assert_eq!(fx.due(0), Due::Audio);
        assert_eq!(fx.due(10), Due::Stall(Duration::from_millis(5)));
        assert_eq!(fx.due(15), Due::Audio, "the stall is spent");
        assert_eq!(fx.due(20), Due::Close { abrupt: false });
        let mut fx = Effects::of(&Fault::error_frame("boom")).utterance;
        assert_eq!(fx.due(0), Due::Error("boom".into()));
    }

    #[test]
    fn plans_script_then_default() {
        let plan = FaultPlan::first(2, Fault::reject(500, "boom"));
        assert!(matches!(plan.fault_for(0), Fault::Reject(_)));
        assert!(matches!(plan.fault_for(1), Fault::Reject(_)));
        assert_eq!(plan.fault_for(2), Fault::None);
        let plan: FaultPlan = Fault::ZeroAudio.into();
        assert_eq!(plan.fault_for(99), Fault::ZeroAudio);
    }

    #[test]
    fn all_flattens_and_utterances_select() {
        let e = Effects::of(&Fault::All(vec![
            Fault::SlowDrip(Duration::from_millis(5)),
            Fault::ConnectionDeadline(Duration::from_secs(2)),
            Fault::ConnectionDeadline(Duration::from_secs(1)),
        ]));
        assert_eq!(e.deadline, Some(Duration::from_secs(1)));
        assert_eq!(e.for_utterance(3).drip, Some(Duration::from_millis(5)));
        let e = Effects::of(&Fault::Utterances(vec![Fault::None, Fault::ZeroAudio]));
        assert!(!e.for_utterance(0).zero_audio);
        assert!(e.for_utterance(1).zero_audio);
        assert!(!e.for_utterance(2).zero_audio);
    }

    #[test]
    fn error_bodies_are_json() {
        let v: serde_json::Value = serde_json::from_str(&error_body(401, "no")).expect("json");
        assert_eq!(v["code"], "unauthorized");
        assert_eq!(v["error"], "no");
    }
}
