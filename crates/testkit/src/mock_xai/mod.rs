//! A faithful mock of xAI's text-to-speech API, with scripted faults.
//!
//! [`MockXai::start`] serves, on `127.0.0.1` at an ephemeral port:
//! - `POST /v1/tts` (REST): bearer auth, the JSON body of the protocol page,
//!   the audio as a chunked body;
//! - `GET /v1/tts` (WebSocket): bearer auth on the upgrade, `text.delta` /
//!   `text.done` / `text.clear` in, `audio.delta` / `audio_timestamps` /
//!   `audio.done` / `audio.clear` / `error` out, many utterances per connection;
//! - `GET /v1/tts/voices` and `GET /v1/tts/voices/{id}`;
//! - `/v1/realtime/audio/speech` answers 403 like the real service (it is not a
//!   TTS endpoint); anything else 404.
//!
//! The audio is deterministic ([`expected_audio`], [`expected_body`]) so tests
//! compare bytes, every request is recorded with the key masked
//! ([`Mock::requests`](crate::kit::Mock::requests)), and faults follow a [`FaultPlan`] that can be
//! changed while the server runs ([`Mock::set_fault`](crate::kit::Mock::set_fault)).
//!
//! ```no_run
//! # async fn demo() {
//! use voxwire_testkit::mock_xai::{Fault, MockConfig, MockXai};
//! let mock = MockXai::start(MockConfig::default().with_faults(vec![Fault::reject(500, "boom")])).await;
//! let base = mock.base_url(); // http://127.0.0.1:PORT/v1
//! // ... first request gets 500, later ones audio ...
//! mock.shutdown().await;
//! # }
//! ```

mod config;
mod params;
mod rest;
mod ws;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use tokio::sync::watch;

use crate::kit::{KeyCheck, KeyPlace, Kit, Mock, MockDialect};

pub use crate::kit::audio::{
    char_frequency, char_samples, expected_audio, expected_audio_len, expected_audio_per_sentence,
    expected_body, expected_body_with_bit_rate, expected_mp3, expected_samples,
    expected_timestamps, expected_words, samples_per_char, wav_header, CharTime, MockCodec,
    AMPLITUDE, DEFAULT_BIT_RATE, DEFAULT_SAMPLE_RATE, FADE_MS, MP3_BIT_RATES, MS_PER_CHAR,
    SAMPLE_RATES, WAV_HEADER_LEN,
};
pub use crate::kit::record::{RecordedRequest, RequestKind, MASK, MAX_RECORDED_MESSAGES};
pub use config::{
    error_body, ErrorField, Fault, FaultPlan, MockConfig, MockVoice, Rejection, Stall,
    DEFAULT_API_KEY, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_MESSAGE_SIZE, FOREVER, MAX_CHUNK_SIZE,
    MAX_TEXT_CHARS,
};

/// The built-in voices: (id, display name).
pub const BUILTIN_VOICES: [(&str, &str); 5] = [
    ("eve", "Eve"),
    ("ara", "Ara"),
    ("leo", "Leo"),
    ("rex", "Rex"),
    ("sal", "Sal"),
];

/// The voice used when a request names none.
pub const DEFAULT_VOICE: &str = "eve";

/// Counters of what the mock served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MockStats {
    /// `POST /v1/tts` requests that got a 200.
    pub rest_ok: usize,
    /// WebSocket upgrades accepted.
    pub ws_accepted: usize,
    /// WebSocket connections open right now.
    pub ws_open: usize,
    /// Utterances finished with `audio.done` (WebSocket) or a complete body (REST).
    pub utterances_done: usize,
    /// Requests answered with a non-2xx status (auth, validation or a fault).
    pub rejected: usize,
}

#[derive(Debug, Default)]
struct Counters {
    rest_ok: AtomicUsize,
    ws_open: AtomicUsize,
    utterances_done: AtomicUsize,
    rejected: AtomicUsize,
}

/// xAI's protocol as a [`MockDialect`] of the kit: what is xAI's own (the
/// configuration, the served counters, the half-open switch); the fault plan,
/// the recorder, the upgrade count and the stop signal are the kit's.
#[derive(Debug)]
pub struct XaiDialect {
    config: MockConfig,
    counters: Counters,
    /// Set: every open WebSocket stops reading and answering (a half-open socket).
    silence: watch::Sender<u64>,
}

impl MockDialect for XaiDialect {
    fn name(&self) -> &'static str {
        "xai"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        let body_limit = self.config.max_message_size.max(1024);
        let shared = Arc::new(Shared { kit, xai: self });
        Router::new()
            .route("/v1/tts", post(rest::synthesize).get(ws::upgrade))
            .route("/v1/tts/voices", get(rest::list_voices))
            .route("/v1/tts/voices/{voice_id}", get(rest::get_voice))
            .route("/v1/realtime/audio/speech", any(rest::old_realtime_path))
            .fallback(rest::not_found)
            .layer(DefaultBodyLimit::max(body_limit))
            .with_state(shared)
    }
}

/// State every handler shares: the kit's and xAI's.
#[derive(Debug)]
pub(crate) struct Shared {
    kit: Arc<Kit>,
    xai: Arc<XaiDialect>,
}

impl Shared {
    /// The configuration the mock was started with.
    pub(crate) fn config(&self) -> &MockConfig {
        &self.xai.config
    }

    /// How many times [`MockXai::go_silent`] was called.
    pub(crate) fn silence_count(&self) -> u64 {
        *self.xai.silence.borrow()
    }

    /// Resolves once [`MockXai::go_silent`] is called more than `seen` times.
    pub(crate) async fn silenced(&self, seen: u64) {
        let mut rx = self.xai.silence.subscribe();
        let _ = rx.wait_for(|n| *n > seen).await;
    }

    /// Checks `Authorization: Bearer <key>`; `Some` is the 401 response when it fails.
    pub(crate) fn auth_failure(&self, headers: &HeaderMap) -> Option<Response> {
        let bearer = KeyPlace::Authorization {
            schemes: &["Bearer"],
            any_case: true,
        };
        match self.kit.check_key(&[bearer], headers, None) {
            KeyCheck::Accepted { .. } => None,
            KeyCheck::Wrong => Some(unauthorized("incorrect API key provided")),
            KeyCheck::Missing if headers.contains_key(header::AUTHORIZATION) => Some(unauthorized(
                "malformed Authorization header: expected `Bearer <XAI_API_KEY>`",
            )),
            KeyCheck::Missing => Some(unauthorized(
                "missing Authorization header: send `Authorization: Bearer <XAI_API_KEY>`",
            )),
        }
    }

    /// Every voice: built-ins, then custom ones.
    pub(crate) fn voices(&self) -> Vec<(String, String)> {
        BUILTIN_VOICES
            .iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .chain(
                self.xai
                    .config
                    .custom_voices
                    .iter()
                    .map(|v| (v.voice_id.clone(), v.name.clone())),
            )
            .collect()
    }

    /// The voice with this id (case-insensitive).
    pub(crate) fn find_voice(&self, id: &str) -> Option<(String, String)> {
        self.voices()
            .into_iter()
            .find(|(v, _)| v.eq_ignore_ascii_case(id.trim()))
    }

    /// Records a new request (query and body too); returns its recording id.
    pub(crate) fn record(
        &self,
        kind: RequestKind,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> u64 {
        self.kit
            .record_http(kind, method.as_str(), uri, headers, body)
    }

    /// Stores the status answered and counts rejections.
    pub(crate) fn finish_record(&self, id: u64, response: &Response) {
        let status = response.status();
        if !(status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS) {
            self.count_rejected();
        }
        self.kit.update(id, |r| r.status = status.as_u16());
    }

    pub(crate) fn count_rest_ok(&self) {
        self.xai.counters.rest_ok.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rejected(&self) {
        self.xai.counters.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_utterance(&self) {
        self.xai
            .counters
            .utterances_done
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an accepted connection; the guard counts it closed when dropped.
    pub(crate) fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.kit.count_upgrade();
        self.xai.counters.ws_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(self))
    }
}

/// Decrements the open-connection count when dropped.
pub(crate) struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.xai.counters.ws_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A JSON error response `{"code":..,"error":..}`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    crate::kit::json_response(status, error_body(status.as_u16(), message))
}

fn unauthorized(message: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// A running mock xAI server. Dropping it stops the server. The kit's
/// [`Mock`] (address, key, faults, recordings) is reached through it.
#[derive(Debug)]
pub struct MockXai {
    mock: Mock<XaiDialect>,
}

impl std::ops::Deref for MockXai {
    type Target = Mock<XaiDialect>;
    fn deref(&self) -> &Self::Target {
        &self.mock
    }
}

impl MockXai {
    /// Starts a mock on `127.0.0.1` at an ephemeral port. Needs a tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound (use [`MockXai::try_start`] to handle that).
    pub async fn start(config: MockConfig) -> Self {
        match Self::try_start(config).await {
            Ok(mock) => mock,
            Err(e) => panic!("mock xAI: cannot listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts a mock on `127.0.0.1` at an ephemeral port, or says why it could not.
    pub async fn try_start(config: MockConfig) -> std::io::Result<Self> {
        let api_key = config.api_key.clone();
        let faults = config.faults.clone();
        let dialect = XaiDialect {
            config,
            counters: Counters::default(),
            silence: watch::channel(0).0,
        };
        let mock = Mock::start_with_faults(dialect, &api_key, faults).await?;
        Ok(Self { mock })
    }

    /// The API base, `http://127.0.0.1:PORT/v1` (REST is `{base}/tts`).
    pub fn base_url(&self) -> String {
        self.mock.url("/v1")
    }

    /// The WebSocket endpoint, `ws://127.0.0.1:PORT/v1/tts` (without a query).
    pub fn ws_url(&self) -> String {
        self.mock.ws_url("/v1/tts")
    }

    /// The REST endpoint, `http://127.0.0.1:PORT/v1/tts`.
    pub fn rest_url(&self) -> String {
        self.mock.url("/v1/tts")
    }

    /// Makes every WebSocket open now stop reading and answering, pings
    /// included, without closing: what a half-open socket looks like to a
    /// client. Connections opened later behave.
    pub fn go_silent(&self) {
        self.mock.dialect().silence.send_modify(|n| *n += 1);
    }

    /// Counters of what was served.
    pub fn stats(&self) -> MockStats {
        let c = &self.mock.dialect().counters;
        MockStats {
            rest_ok: c.rest_ok.load(Ordering::Relaxed),
            ws_accepted: self.mock.kit().upgrades(),
            ws_open: c.ws_open.load(Ordering::Relaxed),
            utterances_done: c.utterances_done.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
        }
    }

    /// Stops the server: open WebSockets get a close frame (1001), and it waits
    /// (at most 5 s) for connections to finish.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}
