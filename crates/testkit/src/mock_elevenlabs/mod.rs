//! A faithful mock of ElevenLabs' text-to-speech, REST and the multi-context socket (wire notes:
//! `shared/providers/elevenlabs.md`), on the mock-server kit.
//!
//! [`MockElevenLabs::start`] serves on `127.0.0.1` at an ephemeral port
//! (the SDK's `base_url` is [`Mock::url`](crate::kit::Mock::url)`("")`, voxwire's
//! [`MockElevenLabs::base_url`]):
//! - `POST /v1/text-to-speech/{voice_id}[/stream][/with-timestamps]`: the
//!   key in `xi-api-key` (else 401 `invalid_api_key`), `output_format` in
//!   the query (default `mp3_44100_128`; `pcm_<rate>` s16le, `ulaw_8000`,
//!   `alaw_8000`, mp3), `pcm_44100` refused with 403 `subscription_required`
//!   below a Pro plan ([`Plan`]), `text` required (422 in FastAPI's shape),
//!   the model's character limit (400 `max_character_limit_exceeded`), an
//!   unknown voice 404 `voice_not_found`; `audio_effects` accepted and
//!   ignored. `/stream` is chunked raw audio in odd-sized pieces,
//!   `/stream/with-timestamps` JSON lines (`audio_base64`, `alignment`,
//!   `normalized_alignment`, chunk-relative times unless
//!   [`Switches::cumulative_times`]) with blank lines between some.
//! - `GET /v1/text-to-speech/{voice_id}/multi-stream-input`: the
//!   multi-context socket (see the `ws` module's notes: contexts by
//!   `context_id`, at most [`MAX_SOCKET_CONTEXTS`], `voice_settings` only on
//!   a socket's first context, `close_context` brings `isFinal`, the input
//!   timeout, the quota's silent contexts, both spellings); 403 at the
//!   upgrade for a bad key or `eleven_v3`; [`MockElevenLabs::sockets`]
//!   counts what the sockets saw.
//! - `GET /v1/voices`: `{"voices":[…]}` with `labels` and `verified_languages`.
//! - anything else: 404 `{"detail":"Not Found"}`.
//!
//! Every answer carries an `x-trace-id`. Faults follow the kit's
//! [`FaultPlan`]: `Reject` answers with its status and body (see
//! [`quota_exceeded`], [`detail_error`]); `ErrorFrame` at 0 bytes is a 500
//! `something_went_wrong`; `Close` cuts the body after N audio bytes
//! (`abrupt`: the connection breaks); `Stall`, `SlowDrip` and `ZeroAudio`
//! as the kit says; `BadJson` and `BadBase64` put a malformed line first
//! (timed answers only).

mod body;
mod ws;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::kit::{
    json_response, stepped_body, Fault, FaultPlan, KeyPlace, Kit, Mock, MockDialect, Rejection,
    RequestKind,
};
pub use body::{audio_for, Wire};
pub use ws::SocketCounts;

/// The key the mock accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "xi-mock-elevenlabs";
/// The voices `GET /v1/voices` lists (id, name, gender, verified language locale).
pub const VOICES: [(&str, &str, &str, &str); 3] = [
    ("JBFqnCBsd6RMkjVDRZzb", "George", "male", "en-GB"),
    ("EXAVITQu4vr4xnSDxMaL", "Sarah", "female", "en-US"),
    ("pFZP5JQG7iQjIQuC4Bku", "Lily", "female", "fr-FR"),
];
/// A voice the mock speaks with but does not list (a library voice).
pub const UNLISTED_VOICE: &str = "library-voice-0001";
/// Characters per line of `/stream/with-timestamps`.
pub const CHARS_PER_LINE: usize = 7;
/// Body piece size of `/stream`: odd, so samples straddle pieces.
pub const CHUNK_SIZE: usize = 1001;

/// The account's plan: what it may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plan {
    /// Free (no `pcm_44100`, no `mp3_44100_192`).
    #[default]
    Free,
    /// Creator (`mp3_44100_192`).
    Creator,
    /// Pro and up (`pcm_44100` too).
    Pro,
}

/// Live contexts one `multi-stream-input` socket takes (a sixth closes it 1008).
pub const MAX_SOCKET_CONTEXTS: usize = 5;

/// How the mock behaves beyond faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switches {
    /// The account's plan.
    pub plan: Plan,
    /// Times in `alignment` counted from the start of the utterance rather
    /// than of each line.
    pub cumulative_times: bool,
    /// The socket: the pause before each audio message of a context.
    pub socket_chunk_delay: Duration,
    /// The socket: closed 1008 after this long without a client message (20 s).
    pub socket_inactivity: Duration,
    /// The socket ends every context with `isFinal` and no audio, as it
    /// does when the account's quota is exhausted.
    pub quota_exhausted: bool,
    /// The socket spells `context_id`, `is_final` and `charsDurationsMs`
    /// (the notes' other spellings).
    pub snake_case_socket: bool,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            plan: Plan::default(),
            cumulative_times: false,
            socket_chunk_delay: Duration::from_millis(2),
            socket_inactivity: Duration::from_secs(20),
            quota_exhausted: false,
            snake_case_socket: false,
        }
    }
}

/// The dialect: ElevenLabs' REST API on the kit.
#[derive(Debug, Default)]
pub struct ElevenLabsDialect {
    switches: Mutex<Switches>,
    ids: AtomicU64,
    sockets: Arc<SocketCounts>,
}

#[derive(Clone)]
struct AppState {
    kit: Arc<Kit>,
    dialect: Arc<ElevenLabsDialect>,
}

impl MockDialect for ElevenLabsDialect {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        let state = AppState { kit, dialect: self };
        Router::new()
            .route("/v1/text-to-speech/{voice}", post(speech))
            .route(
                "/v1/text-to-speech/{voice}/{a}",
                post(speech_suffixed).get(socket),
            )
            .route("/v1/text-to-speech/{voice}/{a}/{b}", post(speech_suffixed2))
            .route("/v1/voices", get(voices))
            .fallback(any(not_found))
            .with_state(state)
    }
}

/// A running mock; dropping it stops the server. The kit's [`Mock`]
/// (URLs, faults, recordings) is reached through it.
#[derive(Debug)]
pub struct MockElevenLabs {
    mock: Mock<ElevenLabsDialect>,
}

impl std::ops::Deref for MockElevenLabs {
    type Target = Mock<ElevenLabsDialect>;
    fn deref(&self) -> &Self::Target {
        &self.mock
    }
}

impl MockElevenLabs {
    /// Starts with the default key and switches.
    pub async fn start() -> Self {
        Self::start_with(DEFAULT_API_KEY, Switches::default()).await
    }

    /// Starts accepting `api_key`, behaving per `switches`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with(api_key: &str, switches: Switches) -> Self {
        let dialect = ElevenLabsDialect {
            switches: Mutex::new(switches),
            ids: AtomicU64::new(0),
            sockets: Arc::default(),
        };
        let mock = Mock::launch(dialect, api_key, FaultPlan::none()).await;
        Self { mock }
    }

    /// `http://127.0.0.1:PORT/v1`: what voxwire's `base_url` is set to.
    pub fn base_url(&self) -> String {
        self.mock.url("/v1")
    }

    /// `ws://127.0.0.1:PORT/v1`, the socket's base.
    pub fn ws_base_url(&self) -> String {
        self.mock.ws_url("/v1")
    }

    /// What the `multi-stream-input` sockets counted.
    pub fn sockets(&self) -> &SocketCounts {
        &self.mock.dialect().sockets
    }

    /// Changes the switches while running.
    pub fn switch(&self, f: impl FnOnce(&mut Switches)) {
        f(&mut self
            .mock
            .dialect()
            .switches
            .lock()
            .unwrap_or_else(|e| e.into_inner()));
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}

/// ElevenLabs' error body: `{"detail":{"status":…,"message":…}}`.
pub fn detail_body(status: &str, message: &str) -> String {
    json!({ "detail": { "status": status, "message": message } }).to_string()
}

/// A rejection with ElevenLabs' error body.
pub fn detail_error(http: u16, status: &str, message: &str) -> Fault {
    Fault::Reject(Rejection {
        status: http,
        body: detail_body(status, message),
        retry_after: None,
        headers: vec![("content-type".into(), "application/json".into())],
    })
}

/// The exhausted quota: HTTP 401 with `quota_exceeded` (not a 429).
pub fn quota_exceeded() -> Fault {
    detail_error(
        401,
        "quota_exceeded",
        "This request exceeds your quota of 10000. You have 0 credits remaining, while 19 credits are required for this request.",
    )
}

fn detail(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, detail_body(code, message))
}

fn authorized(kit: &Kit, headers: &HeaderMap) -> bool {
    kit.check_key(&[KeyPlace::Header("xi-api-key")], headers, None)
        .accepted()
}

fn unauthorized() -> Response {
    detail(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "Invalid API key",
    )
}

fn finish(state: &AppState, id: u64, mut response: Response) -> Response {
    let trace = format!(
        "trace-mock-{}",
        state.dialect.ids.fetch_add(1, Ordering::SeqCst)
    );
    if let Ok(v) = HeaderValue::from_str(&trace) {
        response.headers_mut().insert("x-trace-id", v);
    }
    state.kit.answered(id, response)
}

async fn voices(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let id = state
        .kit
        .record_request(RequestKind::Other, "GET", uri.path(), &headers);
    let response = if authorized(&state.kit, &headers) {
        let voices: Vec<Value> = VOICES
            .iter()
            .map(|(id, name, gender, locale)| {
                let language = locale.split('-').next().unwrap_or(locale);
                json!({
                    "voice_id": id, "name": name, "category": "premade",
                    "labels": { "gender": gender, "accent": "neutral" },
                    "verified_languages": [{ "language": language, "model_id": "eleven_multilingual_v2", "locale": locale }],
                })
            })
            .collect();
        json_response(StatusCode::OK, json!({ "voices": voices }).to_string())
    } else {
        unauthorized()
    };
    finish(&state, id, response)
}

async fn not_found(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let id = state
        .kit
        .record_request(RequestKind::Other, method.as_str(), uri.path(), &headers);
    let r = json_response(
        StatusCode::NOT_FOUND,
        json!({ "detail": "Not Found" }).to_string(),
    );
    finish(&state, id, r)
}

type QueryMap = Query<std::collections::HashMap<String, String>>;

async fn socket(
    State(state): State<AppState>,
    Path((_voice, a)): Path<(String, String)>,
    Query(query): QueryMap,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if a != "multi-stream-input" {
        return not_found(State(state), Method::GET, uri, headers).await;
    }
    let kit = &state.kit;
    let id = kit.record_http(RequestKind::WebSocket, "GET", &uri, &headers, None);
    let model = query.get("model_id").map_or("", String::as_str);
    let response = if !authorized(kit, &headers) {
        detail(StatusCode::FORBIDDEN, "invalid_api_key", "Invalid API key")
    } else if model.starts_with("eleven_v3") {
        detail(
            StatusCode::FORBIDDEN,
            "model_not_supported",
            "eleven_v3 is not available over WebSockets",
        )
    } else if let Some(asked) = ws::Asked::of(&query) {
        let effects = match kit.effects_for(id, true) {
            Ok(effects) => effects,
            Err(rejected) => return finish(&state, id, *rejected),
        };
        kit.count_upgrade();
        let sw = state
            .dialect
            .switches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let counts = Arc::clone(&state.dialect.sockets);
        let stop = Arc::clone(kit);
        upgrade
            .max_message_size(16 * 1024 * 1024)
            .on_upgrade(move |socket| async move {
                tokio::select! {
                    () = ws::serve(socket, asked, sw, counts, effects) => {}
                    () = stop.stopped() => {}
                }
            })
    } else {
        json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "detail": [{ "loc": ["query", "output_format"], "msg": "unknown output_format", "type": "value_error" }] }).to_string(),
        )
    };
    finish(&state, id, response)
}

async fn speech(
    State(state): State<AppState>,
    Path(voice): Path<String>,
    Query(query): QueryMap,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shape = body::Shape {
        streamed: false,
        timed: false,
    };
    handle(&state, &voice, shape, &query, &uri, &headers, &body)
}

async fn speech_suffixed(
    State(state): State<AppState>,
    Path((voice, a)): Path<(String, String)>,
    Query(query): QueryMap,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shape = match a.as_str() {
        "stream" => body::Shape {
            streamed: true,
            timed: false,
        },
        "with-timestamps" => body::Shape {
            streamed: false,
            timed: true,
        },
        _ => return not_found(State(state), Method::POST, uri, headers).await,
    };
    handle(&state, &voice, shape, &query, &uri, &headers, &body)
}

async fn speech_suffixed2(
    State(state): State<AppState>,
    Path((voice, a, b)): Path<(String, String, String)>,
    Query(query): QueryMap,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if (a.as_str(), b.as_str()) != ("stream", "with-timestamps") {
        return not_found(State(state), Method::POST, uri, headers).await;
    }
    let shape = body::Shape {
        streamed: true,
        timed: true,
    };
    handle(&state, &voice, shape, &query, &uri, &headers, &body)
}

fn handle(
    state: &AppState,
    voice: &str,
    shape: body::Shape,
    query: &std::collections::HashMap<String, String>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let kit = &state.kit;
    let id = kit.record_http(RequestKind::Rest, "POST", uri, headers, Some(body));
    let response = answer(state, id, voice, shape, query, headers, body);
    finish(state, id, response)
}

fn answer(
    state: &AppState,
    id: u64,
    voice: &str,
    shape: body::Shape,
    query: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let kit = &state.kit;
    if !authorized(kit, headers) {
        return unauthorized();
    }
    let effects = match kit.effects_for(id, false) {
        Ok(e) => e,
        Err(rejected) => return *rejected,
    };
    let sw = state
        .dialect
        .switches
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let asked = match body::validate(voice, query, body, sw.plan) {
        Ok(a) => a,
        Err((status, code, message)) => {
            return match code {
                Some(code) => detail(status, code, &message),
                None => json_response(status, message),
            }
        }
    };
    kit.update(id, |r| r.utterances.push(asked.text.clone()));
    let fx = effects.for_utterance(0);
    if let Some((message, _, 0)) = &fx.error {
        return detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "something_went_wrong",
            message,
        );
    }
    if !shape.streamed {
        return body::whole(&asked, shape.timed, &fx);
    }
    let steps = body::plan(&asked, shape.timed, sw.cumulative_times, &fx);
    let content_type = if shape.timed {
        "application/json"
    } else {
        asked.wire.content_type()
    };
    let body = stepped_body(steps, Arc::clone(kit), (), "ElevenLabs");
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
