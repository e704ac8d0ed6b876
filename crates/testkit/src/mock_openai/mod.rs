//! A faithful mock of OpenAI's speech endpoint (and of the compatible
//! servers that imitate it), on the mock-server kit.
//!
//! [`MockOpenAi::start`] serves on `127.0.0.1` at an ephemeral port:
//! - `POST /v1/audio/speech`: Bearer auth (401 with OpenAI's error JSON),
//!   the request validated as the spec does (`model`, `input` ≤ 4096,
//!   `voice` per model, `response_format`, `speed` 0.25–4, `stream_format`,
//!   unknown fields refused: `additionalProperties: false`), then a chunked
//!   body of odd-sized pieces: `audio/pcm` (24 kHz s16le), `audio/wav`,
//!   `audio/mpeg`, or with `stream_format: "sse"` on a non-`tts-1*` model
//!   `text/event-stream` (`speech.audio.delta` with base64 `audio`, then
//!   `speech.audio.done` with `usage`). It never negotiates on `Accept` (the
//!   SDK sends `application/octet-stream` even with SSE). Every answer has an
//!   `x-request-id`.
//! - `GET /v1/models`: the model list.
//! - anything else: 404 `Invalid URL (METHOD /path)`.
//!
//! Switches ([`Switches`]) make it a compatible server that ignores
//! `stream_format`, one that only answers mp3, one that spells the SSE field
//! `delta`, or OpenAI past the 2027-01-06 shutdown (404 `model_not_found`
//! for the deprecated names). Faults follow the kit's [`FaultPlan`]; on this
//! endpoint they mean: `Reject` answers with its status and body (see
//! [`quota_exhausted`], [`rate_limited`], [`openai_error`]); `ErrorFrame`
//! sends an `error` event inside the 200 SSE stream after N audio bytes (raw
//! audio: a 500 at 0 bytes, else a cut body); `Close` ends the body after N
//! audio bytes (`abrupt`: breaks the connection; else an SSE stream simply
//! ends without `speech.audio.done`); `Stall`, `SlowDrip`, `ZeroAudio`
//! (an empty 200, or SSE `done` with no delta), `BadJson` and `BadBase64`
//! (SSE only) as the kit describes.
//!
//! The audio is the kit's deterministic audio ([`crate::kit::audio`]), so
//! tests compare bytes. The mock does not make opus, aac or flac: those
//! formats get a 400 naming the mock (a real server would serve them).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use voxwire_core::AudioFormat;

use crate::kit::audio::{expected_audio, expected_mp3, wav_header, DEFAULT_BIT_RATE};
use crate::kit::{
    audio_steps, json_response, sse_event, stepped_body, Fault, FaultPlan, KeyPlace, Kit, Mock,
    MockDialect, Rejection, RequestKind, Step, UtteranceEffects,
};

/// The key the mock accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sk-mock-openai";
/// The rate of `pcm` (and of `wav`) answers.
pub const SAMPLE_RATE: u32 = 24_000;
/// The body piece size: odd, so PCM samples straddle pieces.
pub const DEFAULT_CHUNK_SIZE: usize = 1001;
/// The most characters of `input` and `instructions`.
pub const MAX_INPUT_CHARS: usize = 4096;
/// The models `GET /v1/models` lists by default (OpenAI's speech models).
pub const MODELS: [&str; 5] = [
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-03-20",
    "gpt-4o-mini-tts-2025-12-15",
];
/// Every built-in voice.
pub const VOICES: [&str; 13] = [
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
];
/// The voices `gpt-4o-mini-tts` has and `tts-1*` refuse with 400.
pub const GPT_ONLY_VOICES: [&str; 4] = ["ballad", "verse", "marin", "cedar"];

/// Which field of `speech.audio.delta` carries the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeltaField {
    /// `audio` (the spec's).
    #[default]
    Audio,
    /// `delta` (the Realtime API's spelling, which some compatible servers send).
    Delta,
}

/// How the mock behaves beyond faults: which server it imitates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switches {
    /// The SSE audio field.
    pub delta_field: DeltaField,
    /// Ignore `stream_format` always (compatible servers do): raw audio.
    pub ignore_stream_format: bool,
    /// Answer mp3 whatever was asked (an edge-tts style server).
    pub mp3_only: bool,
    /// Refuse the deprecated OpenAI model names with 404 `model_not_found` (past 2027-01-06).
    pub refuse_deprecated: bool,
    /// Body piece size in audio bytes.
    pub chunk_size: usize,
    /// What `GET /v1/models` lists.
    pub models: Vec<String>,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            delta_field: DeltaField::Audio,
            ignore_stream_format: false,
            mp3_only: false,
            refuse_deprecated: false,
            chunk_size: DEFAULT_CHUNK_SIZE,
            models: MODELS.iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// The dialect: OpenAI's speech API on the kit.
#[derive(Debug, Default)]
pub struct OpenAiDialect {
    switches: Mutex<Switches>,
    ids: AtomicU64,
    open_bodies: Arc<AtomicUsize>,
}

/// Counts a speech body while the server streams it; dropped when it ends or the client leaves.
struct OpenBody(Arc<AtomicUsize>);

impl OpenBody {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for OpenBody {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl OpenAiDialect {
    fn switches(&self) -> Switches {
        self.switches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn request_id(&self) -> String {
        format!("req_mock_{}", self.ids.fetch_add(1, Ordering::SeqCst))
    }
}

#[derive(Clone)]
struct AppState {
    kit: Arc<Kit>,
    dialect: Arc<OpenAiDialect>,
}

impl MockDialect for OpenAiDialect {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        let state = AppState { kit, dialect: self };
        Router::new()
            .route("/v1/audio/speech", post(speech))
            .route("/v1/models", get(models))
            .fallback(any(invalid_url))
            .with_state(state)
    }
}

/// A running mock; dropping it stops the server. The kit's [`Mock`]
/// (URLs, faults, recordings) is reached through it.
#[derive(Debug)]
pub struct MockOpenAi {
    mock: Mock<OpenAiDialect>,
}

impl std::ops::Deref for MockOpenAi {
    type Target = Mock<OpenAiDialect>;
    fn deref(&self) -> &Self::Target {
        &self.mock
    }
}

impl MockOpenAi {
    /// Starts with the default key and switches.
    pub async fn start() -> Self {
        Self::start_with(DEFAULT_API_KEY, Switches::default()).await
    }

    /// Starts accepting `api_key`, behaving per `switches`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with(api_key: &str, switches: Switches) -> Self {
        let dialect = OpenAiDialect {
            switches: Mutex::new(switches),
            ..OpenAiDialect::default()
        };
        let mock = Mock::launch(dialect, api_key, FaultPlan::none()).await;
        Self { mock }
    }

    /// `http://127.0.0.1:PORT/v1`: what a client's `base_url` is set to.
    pub fn base_url(&self) -> String {
        self.mock.url("/v1")
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

    /// Speech bodies being streamed right now (a client that hangs up ends its body).
    pub fn open_bodies(&self) -> usize {
        self.mock.dialect().open_bodies.load(Ordering::SeqCst)
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.mock.shutdown().await;
    }
}

/// OpenAI's error body.
pub fn error_json(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> String {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
        .to_string()
}

/// A rejection with OpenAI's error body.
pub fn openai_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Fault {
    Fault::Reject(Rejection {
        status,
        body: error_json(message, kind, None, code),
        retry_after: None,
        headers: Vec::new(),
    })
}

/// 429 for an exhausted quota: `insufficient_quota`, no `Retry-After` (it needs user action).
pub fn quota_exhausted() -> Fault {
    openai_error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        Some("insufficient_quota"),
    )
}

/// 429 for a rate limit, with `Retry-After: secs`.
pub fn rate_limited(secs: u64) -> Fault {
    Fault::Reject(Rejection {
        status: 429,
        body: error_json(
            "Rate limit reached for requests per min (RPM) (mock)",
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        retry_after: Some(secs),
        headers: Vec::new(),
    })
}

fn json_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    json_response(status, error_json(message, kind, param, code))
}

fn bad_request(message: &str, param: Option<&str>) -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        param,
        None,
    )
}

fn authorized(kit: &Kit, headers: &HeaderMap) -> bool {
    kit.check_key(&[KeyPlace::BEARER], headers, None).accepted()
}

fn unauthorized() -> Response {
    json_error(
        StatusCode::UNAUTHORIZED,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    )
}

fn finish(state: &AppState, id: u64, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&state.dialect.request_id()) {
        response.headers_mut().insert("x-request-id", v);
    }
    state.kit.answered(id, response)
}

async fn models(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let id = state
        .kit
        .record_request(RequestKind::Other, "GET", uri.path(), &headers);
    let response = if authorized(&state.kit, &headers) {
        let data: Vec<Value> = state
            .dialect
            .switches()
            .models
            .iter()
            .map(|m| json!({ "id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system" }))
            .collect();
        axum::Json(json!({ "object": "list", "data": data })).into_response()
    } else {
        unauthorized()
    };
    finish(&state, id, response)
}

async fn invalid_url(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let id = state
        .kit
        .record_request(RequestKind::Other, method.as_str(), uri.path(), &headers);
    let response = json_error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({method} {})", uri.path()),
        "invalid_request_error",
        None,
        None,
    );
    finish(&state, id, response)
}

async fn speech(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kit = &state.kit;
    let id = kit.record_request(RequestKind::Rest, "POST", uri.path(), &headers);
    let masker = kit.masker(&headers);
    kit.update(id, |r| {
        r.body = Some(masker.mask(&String::from_utf8_lossy(&body)));
    });
    let response = answer(&state, id, &headers, &body);
    finish(&state, id, response)
}

/// What a valid request asked for.
struct Asked {
    input: String,
    format: String,
    sse: bool,
}

// The error is the answer itself, made at most once per request.
#[allow(clippy::result_large_err)]
fn validate(body: &[u8], sw: &Switches) -> Result<Asked, Response> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(
            &format!("We could not parse the JSON body of your request: {e}"),
            None,
        )
    })?;
    let Some(obj) = v.as_object() else {
        return Err(bad_request("the body must be a JSON object", None));
    };
    const FIELDS: [&str; 7] = [
        "model",
        "input",
        "voice",
        "instructions",
        "response_format",
        "speed",
        "stream_format",
    ];
    if let Some(extra) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad_request(
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
            Some(extra),
        ));
    }
    let Some(model) = obj.get("model").and_then(Value::as_str) else {
        return Err(bad_request(
            "you must provide a model parameter",
            Some("model"),
        ));
    };
    let tts1 = model == "tts-1" || model == "tts-1-hd" || model.starts_with("tts-1-");
    if sw.refuse_deprecated && MODELS.contains(&model) {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            None,
            Some("model_not_found"),
        ));
    }
    let input = match obj.get("input").and_then(Value::as_str) {
        Some(i) if !i.trim().is_empty() => i.to_string(),
        _ => {
            return Err(bad_request(
                "`input` must be a non-empty string",
                Some("input"),
            ))
        }
    };
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(bad_request(
            &format!("`input` is too long: at most {MAX_INPUT_CHARS} characters"),
            Some("input"),
        ));
    }
    match obj.get("voice") {
        Some(Value::String(voice)) => {
            if tts1 && GPT_ONLY_VOICES.contains(&voice.as_str()) {
                return Err(bad_request(
                    &format!("Invalid voice '{voice}' for model {model}."),
                    Some("voice"),
                ));
            }
        }
        Some(Value::Object(o)) if o.get("id").is_some_and(Value::is_string) => {}
        _ => {
            return Err(bad_request(
                "`voice` must be a voice name or {\"id\": ...}",
                Some("voice"),
            ))
        }
    }
    if let Some(i) = obj.get("instructions") {
        match i.as_str() {
            Some(i) if i.chars().count() <= MAX_INPUT_CHARS => {}
            _ => {
                return Err(bad_request(
                    "`instructions` must be a string of at most 4096 characters",
                    Some("instructions"),
                ))
            }
        }
    }
    let format = match obj.get("response_format") {
        None => "mp3".to_string(),
        Some(Value::String(f))
            if ["mp3", "opus", "aac", "flac", "wav", "pcm"].contains(&f.as_str()) =>
        {
            f.clone()
        }
        Some(_) => {
            return Err(bad_request(
                "`response_format` must be one of mp3, opus, aac, flac, wav, pcm",
                Some("response_format"),
            ))
        }
    };
    if let Some(speed) = obj.get("speed") {
        match speed.as_f64() {
            Some(s) if (0.25..=4.0).contains(&s) => {}
            _ => {
                return Err(bad_request(
                    "`speed` must be a number from 0.25 to 4.0",
                    Some("speed"),
                ))
            }
        }
    }
    let stream = match obj.get("stream_format") {
        None => "audio",
        Some(Value::String(s)) if s == "audio" || s == "sse" => s.as_str(),
        Some(_) => {
            return Err(bad_request(
                "`stream_format` must be audio or sse",
                Some("stream_format"),
            ))
        }
    };
    // OpenAI ignores `sse` on tts-1*; compatible servers may ignore it always.
    let sse = stream == "sse" && !tts1 && !sw.ignore_stream_format && !sw.mp3_only;
    let format = if sw.mp3_only {
        "mp3".to_string()
    } else {
        format
    };
    if !["mp3", "wav", "pcm"].contains(&format.as_str()) {
        return Err(bad_request(
            &format!("the mock does not make `{format}` audio: use pcm, wav or mp3"),
            Some("response_format"),
        ));
    }
    Ok(Asked { input, format, sse })
}

fn answer(state: &AppState, id: u64, headers: &HeaderMap, body: &[u8]) -> Response {
    let kit = &state.kit;
    if !authorized(kit, headers) {
        return unauthorized();
    }
    let effects = match kit.effects_for(id, false) {
        Ok(e) => e,
        Err(rejected) => return *rejected,
    };
    let sw = state.dialect.switches();
    let asked = match validate(body, &sw) {
        Ok(a) => a,
        Err(r) => return r,
    };
    kit.update(id, |r| r.utterances.push(asked.input.clone()));
    let fx = effects.for_utterance(0);
    if !asked.sse {
        if let Some((message, _, 0)) = &fx.error {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                message,
                "server_error",
                None,
                None,
            );
        }
    }
    let (audio, content_type) = if fx.zero_audio {
        (Vec::new(), content_type(&asked.format))
    } else {
        (
            audio_for(&asked.input, &asked.format),
            content_type(&asked.format),
        )
    };
    let style = asked.sse.then_some(sw.delta_field);
    let steps = plan(
        &audio,
        sw.chunk_size.max(1),
        &fx,
        style,
        asked.input.chars().count(),
    );
    let open = OpenBody::new(&state.dialect.open_bodies);
    let body = stepped_body(steps, Arc::clone(kit), open, "OpenAI");
    let mut response = Response::new(body);
    let ct = if asked.sse {
        "text/event-stream"
    } else {
        content_type
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    response
}

fn content_type(format: &str) -> &'static str {
    match format {
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => "audio/mpeg",
    }
}

/// The whole body audio of `input` in `format` (pcm, wav or mp3).
pub fn audio_for(input: &str, format: &str) -> Vec<u8> {
    match format {
        "pcm" => expected_audio(input, AudioFormat::pcm16_mono(SAMPLE_RATE)),
        "wav" => {
            let mut out = wav_header(SAMPLE_RATE).to_vec();
            out.extend(expected_audio(input, AudioFormat::pcm16_mono(SAMPLE_RATE)));
            out
        }
        _ => expected_mp3(input, SAMPLE_RATE, DEFAULT_BIT_RATE),
    }
}

fn delta_event(style: DeltaField, audio: &[u8]) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
    let field = match style {
        DeltaField::Audio => "audio",
        DeltaField::Delta => "delta",
    };
    sse_event(&json!({ "type": "speech.audio.delta", field: b64 }))
}

/// The body as steps: pieces of audio (or SSE events), pauses, the end.
fn plan(
    audio: &[u8],
    chunk: usize,
    fx: &UtteranceEffects,
    sse: Option<DeltaField>,
    chars: usize,
) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    if let Some(style) = sse {
        if fx.bad_json {
            steps.push_back(Step::Send(Bytes::from_static(
                b"data: {\"type\": speech.audio.delta\n\n",
            )));
        }
        if fx.bad_base64 {
            let field = if style == DeltaField::Audio {
                "audio"
            } else {
                "delta"
            };
            steps.push_back(Step::Send(sse_event(
                &json!({ "type": "speech.audio.delta", field: "@@not base64@@" }),
            )));
        }
    }
    let (audio_steps, stopped) = audio_steps(audio, chunk, fx, |piece| match sse {
        Some(style) => delta_event(style, piece),
        None => Bytes::copy_from_slice(piece),
    });
    steps.extend(audio_steps);
    let cut = stopped.is_some();
    let pos = stopped.unwrap_or(0);
    match (&fx.error, fx.close, sse) {
        (Some((message, field, at)), _, Some(_)) if cut && pos >= *at => {
            let error = match field {
                crate::kit::fault::ErrorField::Error => {
                    json!({ "type": "error", "error": message })
                }
                crate::kit::fault::ErrorField::Message => {
                    json!({ "type": "error", "error": { "message": message, "type": "server_error", "code": null } })
                }
                crate::kit::fault::ErrorField::Raw => {
                    serde_json::from_str(message).unwrap_or_else(|_| json!(message))
                }
            };
            steps.push_back(Step::Send(sse_event(&error)));
        }
        (Some((_, _, at)), _, None) if cut && pos >= *at => steps.push_back(Step::Cut),
        (_, Some((_, true)), _) if cut => steps.push_back(Step::Cut),
        (_, Some((_, false)), _) if cut => {} // ends cleanly: SSE without `speech.audio.done`
        (_, _, Some(_)) => {
            let tokens = chars.div_ceil(4);
            steps.push_back(Step::Send(sse_event(&json!({
                "type": "speech.audio.done",
                "usage": { "input_tokens": tokens, "output_tokens": tokens * 7, "total_tokens": tokens * 8 }
            }))));
        }
        _ => {}
    }
    steps
}
