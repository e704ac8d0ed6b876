//! A faithful mock of Cartesia's REST text-to-speech (wire notes:
//! `shared/providers/cartesia.md`), on the mock-server kit.
//!
//! [`MockCartesia::start`] serves on `127.0.0.1` at an ephemeral port (the
//! SDK's `base_url` and voxwire's are both [`MockCartesia::base_url`]):
//! - every route wants a key (`Authorization: Bearer` — what the SDK sends —
//!   or `X-API-Key`, what other clients send) and a `Cartesia-Version`
//!   header (`YYYY-MM-DD`); 401 otherwise. Errors come in the version's
//!   shape ([`error_body`]): `{"error"}` before 2026, else
//!   `{"type":"error","title","message","error_code","doc_url","request_id","status_code","done"}`.
//! - `POST /tts/bytes`: `model_id` (`sonic…`, else 404), a non-empty
//!   `transcript`, `voice` as a string, `{"id"}` or `{"mode":"id","id"}`
//!   (unknown id: 404 `voice_not_found`), `output_format` raw
//!   (`pcm_s16le`, `pcm_f32le`, `pcm_mulaw`, `pcm_alaw`), `wav` or `mp3` at
//!   8000 to 48000 Hz, `generation_config.speed` 0.6 to 1.5; `Accept` is
//!   ignored (the SDK sends `audio/wav` for every format). The audio is
//!   streamed in odd-sized pieces; `save: true` adds a `Cartesia-File-ID`.
//! - `POST /tts/sse`: the same body (raw formats only, plus `context_id`
//!   and `add_timestamps`) answered as plain `data: <json>` events:
//!   `chunk`s of base64 audio ([`CHARS_PER_EVENT`] characters each),
//!   `timestamps` (`word_timestamps` in seconds) when asked, then `done`; a
//!   scripted `ErrorFrame` is an `error` event in the 2026 shape.
//! - `GET /voices`: cursor pages (`limit`, `starting_after`) of
//!   `{"data":[…],"has_more"}`, voices with `language` and `locales`.
//! - `GET /tts/websocket`: the streaming socket, many contexts at once
//!   (see [`WsConfig`] and the `ws` module: concurrency, timestamps,
//!   cancel, idle close, half-open sockets, the connection cap).
//! - anything else: 404.
//!
//! Faults follow the kit's [`FaultPlan`] (per speech request): `Reject`
//! answers with its status and body (see [`error_fault`]); `ErrorFrame` at
//! 0 bytes is a 500 in the version's shape, later a cut body; `Close`,
//! `Stall`, `SlowDrip` and `ZeroAudio` as the kit says.

mod request;
mod sse;
mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::kit::{
    json_response, streamed_audio, Fault, FaultPlan, KeyPlace, Kit, Mock, MockDialect, Rejection,
    RequestKind,
};
pub use request::{audio_for, voice_id, Container, RATES};
pub use sse::CHARS_PER_EVENT;
pub use ws::{WsConfig, WsStats};

/// The key the mock accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sk_car_mock-cartesia";
/// The version the SDK sends (its error bodies take the 2026 shape).
pub const SDK_VERSION: &str = "2026-08-14";
/// The voices `GET /voices` lists (id, name, gender, native locale).
pub const VOICES: [(&str, &str, &str, &str); 3] = [
    (
        "6ccbfb76-1fc6-48f7-b71d-91ac6298247b",
        "Tessa",
        "feminine",
        "en-US",
    ),
    (
        "a0e99841-438c-4a64-b679-ae501e7d6091",
        "Barbershop Man",
        "masculine",
        "en-GB",
    ),
    (
        "65b25c5d-ff07-4687-a04c-da2f43ef6fa9",
        "Helpful French Lady",
        "feminine",
        "fr-FR",
    ),
];
/// A voice the mock speaks with but does not list (another account's public voice).
pub const UNLISTED_VOICE: &str = "00000000-0000-4000-8000-00000000cafe";
/// Body piece size of `/tts/bytes`: odd, so samples straddle pieces.
pub const CHUNK_SIZE: usize = 1001;

/// The dialect: Cartesia's REST API and WebSocket on the kit (the socket's
/// switches and counters in [`CartesiaDialect::ws`], the rest the kit's).
#[derive(Debug, Default)]
pub struct CartesiaDialect {
    /// The socket's switches and counters.
    pub ws: WsConfig,
}

impl MockDialect for CartesiaDialect {
    fn name(&self) -> &'static str {
        "cartesia"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        let ws = Arc::new(ws::WsState {
            config: self.ws.clone(),
            kit: Arc::clone(&kit),
        });
        let socket = Router::new()
            .route("/tts/websocket", get(ws::upgrade))
            .with_state(ws);
        Router::new()
            .merge(socket)
            .route("/tts/bytes", post(bytes))
            .route("/tts/sse", post(sse))
            .route("/voices", get(voices))
            .fallback(any(not_found))
            .with_state(kit)
    }
}

/// A running mock; dropping it stops the server. The kit's [`Mock`]
/// (URLs, faults, recordings) is reached through it.
#[derive(Debug)]
pub struct MockCartesia {
    mock: Mock<CartesiaDialect>,
}

impl std::ops::Deref for MockCartesia {
    type Target = Mock<CartesiaDialect>;
    fn deref(&self) -> &Self::Target {
        &self.mock
    }
}

impl MockCartesia {
    /// Starts with the default key.
    pub async fn start() -> Self {
        Self::start_with(DEFAULT_API_KEY).await
    }

    /// Starts accepting `api_key`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with(api_key: &str) -> Self {
        Self::start_socket(api_key, WsConfig::default()).await
    }

    /// Starts accepting `api_key`, its socket configured by `ws`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_socket(api_key: &str, ws: WsConfig) -> Self {
        let mock = Mock::launch(CartesiaDialect { ws }, api_key, FaultPlan::none()).await;
        Self { mock }
    }

    /// The socket's counters.
    pub fn ws_stats(&self) -> &WsStats {
        &self.mock.dialect().ws.stats
    }

    /// `http://127.0.0.1:PORT`: voxwire's `base_url` and the SDK's.
    pub fn base_url(&self) -> String {
        self.mock.url("")
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}

/// Which error-body shape a version gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// 2025: `{"error":"…"}`.
    Plain,
    /// 2026: `{"type":"error","title","message","error_code",…}`.
    Titled,
}

impl ErrorShape {
    /// The shape of `version` (`Titled` from 2026 on, and when none is sent).
    pub fn of(version: Option<&str>) -> Self {
        match version {
            Some(v) if v < "2026" => Self::Plain,
            _ => Self::Titled,
        }
    }
}

/// An error body in `shape`.
pub fn error_body(shape: ErrorShape, status: u16, code: &str, message: &str) -> String {
    match shape {
        ErrorShape::Plain => json!({ "error": message }).to_string(),
        ErrorShape::Titled => json!({
            "type": "error",
            "status_code": status,
            "done": true,
            "title": title(status),
            "message": message,
            "error_code": code,
            "doc_url": "https://docs.cartesia.ai/api-reference/errors",
            "request_id": "req-mock-fault",
        })
        .to_string(),
    }
}

/// A rejection with Cartesia's error body in `shape`.
pub fn error_fault(status: u16, shape: ErrorShape, code: &str, message: &str) -> Fault {
    Fault::Reject(Rejection {
        status,
        body: error_body(shape, status, code, message),
        retry_after: None,
        headers: vec![("content-type".into(), "application/json".into())],
    })
}

fn title(status: u16) -> &'static str {
    match status {
        400 | 422 => "Invalid request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        429 => "Too many requests",
        _ => "Internal server error",
    }
}

fn version(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("cartesia-version")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn dated(v: &str) -> bool {
    v.len() == 10
        && v.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn refuse(headers: &HeaderMap, status: StatusCode, code: &str, message: &str) -> Response {
    let shape = ErrorShape::of(version(headers));
    json_response(status, error_body(shape, status.as_u16(), code, message))
}

/// Where a REST call carries its key: a Bearer token (the SDK's), else `X-API-Key`.
const REST_KEY: [KeyPlace; 2] = [KeyPlace::BEARER, KeyPlace::Header("x-api-key")];

/// The refusal of a call without the key (Bearer or `X-API-Key`) or the
/// version: a 401; `None` when both are there.
fn unadmitted(kit: &Kit, headers: &HeaderMap) -> Option<Response> {
    if !kit.check_key(&REST_KEY, headers, None).accepted() {
        let e = "Invalid API key";
        return Some(refuse(
            headers,
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            e,
        ));
    }
    match version(headers) {
        Some(v) if dated(v) => None,
        _ => Some(refuse(
            headers,
            StatusCode::UNAUTHORIZED,
            "invalid_version",
            "Cartesia-Version header is missing or not a YYYY-MM-DD date",
        )),
    }
}

/// Names the answer `X-Request-Id: req-mock-<recording id>` and records its status.
fn finish(kit: &Kit, id: u64, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("req-mock-{id}")) {
        response.headers_mut().insert("x-request-id", v);
    }
    kit.answered(id, response)
}

fn voice_json((id, name, gender, locale): (&str, &str, &str, &str)) -> Value {
    let language = locale.split('-').next().unwrap_or(locale);
    json!({
        "id": id, "name": name, "description": format!("{name}, a mock voice"),
        "tagline": name, "language": language, "gender": gender,
        "locales": [{ "locale": locale, "is_native": true }],
        "access": "public", "visibility": "all", "is_owner": false,
        "created_at": "2025-01-01T00:00:00Z",
    })
}

async fn voices(
    State(kit): State<Arc<Kit>>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let id = kit.record_request(RequestKind::Other, "GET", uri.path(), &headers);
    let q = uri.query().map(str::to_string);
    kit.update(id, |r| r.query = q);
    if let Some(refused) = unadmitted(&kit, &headers) {
        return finish(&kit, id, refused);
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let from = query.get("starting_after").map_or(0, |after| {
        VOICES
            .iter()
            .position(|v| v.0 == after)
            .map_or(VOICES.len(), |i| i + 1)
    });
    let page: Vec<Value> = VOICES
        .iter()
        .skip(from)
        .take(limit)
        .map(|v| voice_json(*v))
        .collect();
    let has_more = from + page.len() < VOICES.len();
    let body = json!({ "data": page, "has_more": has_more }).to_string();
    finish(&kit, id, json_response(StatusCode::OK, body))
}

async fn not_found(
    State(kit): State<Arc<Kit>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let id = kit.record_request(RequestKind::Other, method.as_str(), uri.path(), &headers);
    let r = refuse(&headers, StatusCode::NOT_FOUND, "not_found", "Not Found");
    finish(&kit, id, r)
}

async fn bytes(State(kit): State<Arc<Kit>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    speech(kit, false, &uri, &headers, &body)
}

async fn sse(State(kit): State<Arc<Kit>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    speech(kit, true, &uri, &headers, &body)
}

/// `/tts/bytes`, or `/tts/sse` when `events`.
fn speech(kit: Arc<Kit>, events: bool, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let id = kit.record_request(RequestKind::Rest, "POST", uri.path(), headers);
    let masker = kit.masker(headers);
    kit.update(id, |r| {
        r.body = Some(masker.mask(&String::from_utf8_lossy(body)))
    });
    let response = answer(&kit, id, events, headers, body);
    finish(&kit, id, response)
}

fn answer(kit: &Arc<Kit>, id: u64, events: bool, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Some(refused) = unadmitted(kit, headers) {
        return refused;
    }
    let effects = match kit.effects_for(id, false) {
        Ok(e) => e,
        Err(rejected) => return *rejected,
    };
    let asked = match request::validate(body) {
        Ok(a) => a,
        Err((status, code, message)) => return refuse(headers, status, code, &message),
    };
    kit.update(id, |r| r.utterances.push(asked.text.clone()));
    let mut fx = effects.for_utterance(0);
    if events {
        if !matches!(asked.container, Container::Raw(_) | Container::F32(_)) {
            let e = "output_format must be raw for /tts/sse";
            return refuse(headers, StatusCode::BAD_REQUEST, "invalid_output_format", e);
        }
        let v = serde_json::from_slice(body).unwrap_or(Value::Null);
        return sse::answer(Arc::clone(kit), &asked, &v, &fx);
    }
    if let Some((message, _, at)) = fx.error.take() {
        if at == 0 {
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return refuse(headers, status, "internal_error", &message);
        }
        fx.close = Some((at, true));
    }
    let audio = audio_for(&asked.text, asked.container);
    let mut response = streamed_audio(audio, &fx, CHUNK_SIZE).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asked.container.content_type()),
    );
    if asked.save {
        if let Ok(v) = HeaderValue::from_str(&format!("file-mock-{id}")) {
            h.insert("cartesia-file-id", v);
        }
    }
    response
}
