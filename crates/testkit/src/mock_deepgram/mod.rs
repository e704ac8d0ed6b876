//! A faithful mock of Deepgram's Aura text-to-speech (`/v1/speak`), on the kit.
//!
//! [`MockDeepgram::start`] serves, on `127.0.0.1` at an ephemeral port:
//! - `GET /v1/speak` (WebSocket): `Authorization: Token|Bearer <key>` or
//!   `Sec-WebSocket-Protocol: token, <key>`; `model`, `encoding` (linear16,
//!   mulaw, alaw) and `sample_rate` validated per encoding (44100 refused,
//!   400 with `dg-error`); `speed`, `mip_opt_out` accepted,
//!   `x-deepgram-session-id` ignored; `Metadata` first; `Speak` buffered,
//!   `Flush` answered by raw binary audio in odd-sized frames then
//!   `{"type":"Flushed","sequence_id":n}`, `Clear` by `Cleared` (after
//!   [`DeepgramConfig::leak_after_clear`] stale frames), `Close` by close 1000;
//!   the limits closed as documented: a `Speak` over 2000 characters 1009
//!   `BIG-0001`, the character window 1008 `DATA-0001`, an unknown type 1008
//!   `DATA-0000`, a binary frame 1003 `MESSAGE-0000`, idleness 1011
//!   `NET-0001`; flushes over the window's limit are ignored with a `Warning`
//!   (alternating the `description`/`code` and `warn_msg`/`warn_code` shapes);
//! - `POST /v1/speak` (REST): the same query plus `container` (`none`, or
//!   `wav` with its 44-byte header), `{"text"}` (or text/plain) in, chunked raw
//!   audio out with `content-type: audio/l16;rate=…` and `dg-*` headers;
//!   errors as `{"err_code","err_msg","request_id"}` (401, 400 unknown model,
//!   422 text over 1000 characters).
//!
//! Faults come from the kit: rejections (401, 402, 403, 429, 503 …, at REST
//! or the upgrade) from its fault plan ([`Kit::set_fault`] with
//! [`dg_reject`]); what happens to each utterance after a `Flush` from the
//! plan too (per socket), or from [`Kit::script_utterances`] (the next
//! utterances, across sockets), applied by [`crate::kit::socket`]: a
//! plain close is `1011 NET-0000`, [`Fault::close_with`] picks the code and
//! reason, an error frame is Deepgram's `Error` ([`dg_error_frame`]; a raw
//! frame as it is), [`Fault::InjectText`] goes before the audio, and
//! [`dg_silent`], [`dg_no_flushed`] and [`dg_warning_instead_of_flushed`]
//! are the ways a `Flushed` goes missing. Audio is the kit's deterministic audio
//! ([`crate::kit::audio::expected_audio`]), so tests compare bytes.

mod rest;
mod ws;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use voxwire_core::{AudioFormat, Encoding};

use crate::kit::fault::{ErrorField, Fault, Rejection, Stall, END};
use crate::kit::{KeyCheck, KeyPlace, Kit, Mock, MockDialect};

/// The key the mock accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "dg-mock-key-0123456789";
/// The most characters one `Speak` may carry.
pub const MAX_SPEAK_CHARS: usize = 2000;
/// The most characters one REST request may carry (Aura-2).
pub const MAX_REST_CHARS: usize = 1000;

/// Models the mock knows (a sample of Deepgram's Aura list, every language).
pub const MODELS: &[&str] = &[
    "aura-2-thalia-en",
    "aura-2-andromeda-en",
    "aura-2-apollo-en",
    "aura-2-asteria-en",
    "aura-2-helena-en",
    "aura-2-luna-en",
    "aura-2-orion-en",
    "aura-2-zeus-en",
    "aura-2-sirio-es",
    "aura-2-celeste-es",
    "aura-2-nestor-es",
    "aura-2-julius-de",
    "aura-2-rhea-nl",
    "aura-2-agathe-fr",
    "aura-2-livia-it",
    "aura-2-izanami-ja",
    "aura-asteria-en",
    "aura-luna-en",
];

/// Deepgram's socket `Error` frame in the asyncapi shape.
pub(crate) fn error_frame(code: u16, message: &str) -> String {
    serde_json::json!({
        "type": "Error",
        "error_code": code,
        "error_message": message,
        "request_id": "mock-error-request",
    })
    .to_string()
}

/// An `Error` frame (asyncapi shape, `request_id` `mock-error-request`)
/// instead of the utterance's audio; no `Flushed` follows.
pub fn dg_error_frame(code: u16, message: &str) -> Fault {
    Fault::raw_frame(error_frame(code, message))
}

/// The utterance's audio, then a flush-rate `Warning` instead of `Flushed`.
pub fn dg_warning_instead_of_flushed() -> Fault {
    Fault::ErrorFrame {
        message: ws::warning(false),
        field: ErrorField::Raw,
        after_bytes: END,
    }
}

/// The utterance's audio, then nothing (no `Flushed`).
pub fn dg_no_flushed() -> Fault {
    Fault::stall_after(END, Stall::Forever)
}

/// Neither audio nor `Flushed`: the socket took the text and went quiet.
pub fn dg_silent() -> Fault {
    Fault::stall_before_audio(Stall::Forever)
}

/// A Deepgram-shaped rejection for the kit's fault plan: `status`, a
/// `{"err_code","err_msg","request_id"}` body, and `dg-error`/`dg-request-id` headers.
pub fn dg_reject(status: u16, err_code: &str, err_msg: &str) -> Fault {
    Fault::Reject(Rejection {
        status,
        body: error_body(err_code, err_msg, "mock-rejected-request"),
        retry_after: (status == 429).then_some(1),
        headers: vec![
            ("dg-error".into(), err_msg.into()),
            ("dg-request-id".into(), "mock-rejected-request".into()),
        ],
    })
}

/// [`dg_reject`] for WebSocket upgrades only (REST keeps working).
pub fn dg_reject_websocket(status: u16, err_code: &str, err_msg: &str) -> Fault {
    match dg_reject(status, err_code, err_msg) {
        Fault::Reject(r) => Fault::RejectWebSocket(r),
        other => other,
    }
}

/// Deepgram's REST error body.
pub fn error_body(err_code: &str, err_msg: &str, request_id: &str) -> String {
    serde_json::json!({ "err_code": err_code, "err_msg": err_msg, "request_id": request_id })
        .to_string()
}

/// The mock's switches.
#[derive(Debug, Clone)]
pub struct DeepgramConfig {
    /// The key accepted.
    pub api_key: String,
    /// Bytes per binary audio frame (odd by default, so frames split samples).
    pub frame_bytes: usize,
    /// The pause between audio frames (zero: as fast as the socket takes them).
    pub frame_delay: Duration,
    /// Close an idle socket (`1011 NET-0001`) when no text message came for this long.
    pub idle_timeout: Option<Duration>,
    /// Flushes honoured per `flush_window`; more are ignored with a `Warning`.
    pub flush_limit: usize,
    /// The flush window.
    pub flush_window: Duration,
    /// Characters accepted per `chars_window`; more close the socket (1008 `DATA-0001`).
    pub chars_limit: usize,
    /// The character window.
    pub chars_window: Duration,
    /// Audio frames still sent after a `Clear` before `Cleared` (stale frames).
    pub leak_after_clear: usize,
}

impl Default for DeepgramConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_string(),
            frame_bytes: 1001,
            frame_delay: Duration::ZERO,
            idle_timeout: None,
            flush_limit: 20,
            flush_window: Duration::from_secs(60),
            chars_limit: 2400,
            chars_window: Duration::from_secs(60),
            leak_after_clear: 0,
        }
    }
}

/// The Deepgram dialect of the kit: config, counters.
#[derive(Debug, Default)]
pub struct MockDeepgram {
    config: DeepgramConfig,
    requests: AtomicU64,
    closes: AtomicU64,
    warnings: AtomicU64,
    stale_sent: AtomicU64,
}

impl MockDeepgram {
    /// Serves the mock with `config`.
    pub async fn start(config: DeepgramConfig) -> std::io::Result<Mock<MockDeepgram>> {
        let key = config.api_key.clone();
        Mock::start(
            MockDeepgram {
                config,
                ..Default::default()
            },
            &key,
        )
        .await
    }

    /// The switches it runs with.
    pub fn config(&self) -> &DeepgramConfig {
        &self.config
    }

    /// `{"type":"Close"}` messages received so far.
    pub fn close_messages(&self) -> u64 {
        self.closes.load(Ordering::SeqCst)
    }

    /// Flush-rate `Warning`s sent so far.
    pub fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::SeqCst)
    }

    /// Audio frames sent between a `Clear` and its `Cleared`.
    pub fn stale_frames_sent(&self) -> u64 {
        self.stale_sent.load(Ordering::SeqCst)
    }

    fn request_id(&self) -> String {
        format!(
            "mock-dg-{:08}",
            self.requests.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Checks the credentials: `Authorization: Token|Bearer <key>` or
    /// `Sec-WebSocket-Protocol: token, <key>`; `Some(offered subprotocol)` when
    /// they came that way.
    pub(crate) fn authorized(kit: &Kit, headers: &HeaderMap) -> Result<Option<&'static str>, ()> {
        let places = [
            KeyPlace::Authorization {
                schemes: &["token", "bearer"],
                any_case: true,
            },
            KeyPlace::Subprotocol(&["token", "bearer"]),
        ];
        match kit.check_key(&places, headers, None) {
            // An `Authorization` header decides alone, whatever its scheme.
            KeyCheck::Accepted { place: 1, .. } if headers.contains_key("authorization") => Err(()),
            KeyCheck::Accepted { place: 1, scheme } => Ok(scheme),
            KeyCheck::Accepted { .. } => Ok(None),
            KeyCheck::Missing | KeyCheck::Wrong => Err(()),
        }
    }
}

/// The format a query asks for, or the `dg-error` text refusing it.
pub(crate) fn format_of(
    query: &[(String, String)],
    rest: bool,
) -> Result<(AudioFormat, &'static str), String> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let model = get("model").unwrap_or("aura-asteria-en");
    if !MODELS.contains(&model) {
        return Err("No such model/version combination found.".into());
    }
    let encoding = match get("encoding").unwrap_or("linear16") {
        "linear16" => Encoding::PcmS16le,
        "mulaw" => Encoding::Mulaw,
        "alaw" => Encoding::Alaw,
        other => {
            return Err(format!(
                "Unsupported audio format: encoding `{other}` is not supported{}",
                if rest {
                    " by this mock"
                } else {
                    " for streaming"
                }
            ))
        }
    };
    let (allowed, default): (&[u32], u32) = match encoding {
        Encoding::PcmS16le => (&[8_000, 16_000, 24_000, 32_000, 48_000], 24_000),
        _ => (&[8_000, 16_000], 8_000),
    };
    let rate = match get("sample_rate") {
        None => default,
        Some(r) => match r.parse::<u32>() {
            Ok(r) if allowed.contains(&r) => r,
            _ => {
                return Err(format!(
                    "Unsupported audio format: `sample_rate` must be one of {allowed:?}"
                ))
            }
        },
    };
    if let Some(speed) = get("speed") {
        if speed
            .parse::<f32>()
            .map_or(true, |s| !(s.is_finite() && s > 0.0))
        {
            return Err("Invalid query parameter: `speed`".into());
        }
    }
    Ok((AudioFormat::mono(encoding, rate), content_kind(encoding)))
}

fn content_kind(e: Encoding) -> &'static str {
    match e {
        Encoding::PcmS16le => "audio/l16",
        Encoding::Mulaw => "audio/mulaw",
        Encoding::Alaw => "audio/alaw",
    }
}

impl MockDialect for MockDeepgram {
    fn name(&self) -> &'static str {
        "deepgram"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        Router::new()
            .route("/v1/speak", get(ws::upgrade).post(rest::speak))
            .with_state((self, kit))
    }
}

/// Shared handler state.
pub(crate) type St = (Arc<MockDeepgram>, Arc<Kit>);

/// The mock's base URL for a provider or an SDK (`http://127.0.0.1:PORT`).
pub fn base_url(mock: &Mock<MockDeepgram>) -> String {
    mock.url("")
}
