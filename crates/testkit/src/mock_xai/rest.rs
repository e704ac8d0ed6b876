//! `POST /v1/tts`, the voices endpoints, and the answers for wrong paths.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::config::MAX_TEXT_CHARS;
use super::params::RawParams;
use super::{json_error, Shared};
use crate::kit::audio::expected_body_with_bit_rate;
use crate::kit::record::RequestKind;
use crate::kit::{audio_steps, stepped_body_then, Step};

/// The REST request body (unknown fields are a 400, as a strict server would answer).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestBody {
    text: Option<String>,
    voice_id: Option<String>,
    language: Option<String>,
    output_format: Option<OutputFormat>,
    speed: Option<f64>,
    optimize_streaming_latency: Option<i64>,
    text_normalization: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputFormat {
    codec: Option<String>,
    sample_rate: Option<u32>,
    bit_rate: Option<u32>,
}

/// `POST /v1/tts`.
pub(crate) async fn synthesize(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = shared.record(RequestKind::Rest, &method, &uri, &headers, Some(&body));
    let response = answer(&shared, id, &headers, &body);
    shared.finish_record(id, &response);
    response
}

fn answer(shared: &Arc<Shared>, id: u64, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Some(r) = shared.auth_failure(headers) {
        return r;
    }
    let effects = match shared.kit.effects_for(id, false) {
        Ok(e) => e,
        Err(rejected) => return *rejected,
    };
    let parsed: RestBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return bad_request(&format!("invalid JSON body: {e}")),
    };
    let Some(text) = parsed.text else {
        return bad_request("`text` is required");
    };
    if text.trim().is_empty() {
        return bad_request("`text` must not be empty");
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return bad_request(&format!(
            "`text` is {chars} characters long: at most {MAX_TEXT_CHARS} are allowed"
        ));
    }
    let format = parsed.output_format.as_ref();
    let raw = RawParams {
        voice_field: "voice_id",
        voice: parsed.voice_id.as_deref(),
        language: parsed.language.as_deref(),
        codec: format.and_then(|f| f.codec.as_deref()),
        sample_rate: format.and_then(|f| f.sample_rate),
        bit_rate: format.and_then(|f| f.bit_rate),
        speed: parsed.speed,
        optimize_streaming_latency: parsed.optimize_streaming_latency,
        with_timestamps: false,
    };
    let _ = parsed.text_normalization;
    let params = match raw.validate(shared) {
        Ok(p) => p,
        Err(message) => return bad_request(&message),
    };
    shared.kit.update(id, |r| r.utterances.push(text.clone()));

    let effects = effects.for_utterance(0);
    if let Some((message, _, 0)) = &effects.error {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, message);
    }
    let audio = if effects.zero_audio {
        Bytes::new()
    } else {
        Bytes::from(expected_body_with_bit_rate(
            &text,
            params.codec,
            params.sample_rate,
            params.bit_rate,
        ))
    };
    let chunk = shared.config().effective_chunk_size();
    let (mut steps, stopped) = audio_steps(&audio, chunk, &effects, Bytes::copy_from_slice);
    if stopped.is_some() {
        steps.push_back(Step::Cut);
    }
    shared.count_rest_ok();
    let counted = Arc::clone(shared);
    let kit = Arc::clone(&shared.kit);
    let body = stepped_body_then(steps, kit, (), "xAI", move || counted.count_utterance());
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(params.codec.content_type()),
    );
    response
}

fn bad_request(message: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, message)
}

/// `GET /v1/tts/voices`.
pub(crate) async fn list_voices(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let id = shared.record(RequestKind::Voices, &method, &uri, &headers, None);
    let response = match shared.auth_failure(&headers) {
        Some(r) => r,
        None => {
            let voices: Vec<serde_json::Value> = shared
                .voices()
                .into_iter()
                .map(|(id, name)| serde_json::json!({ "voice_id": id, "name": name }))
                .collect();
            axum::Json(serde_json::json!({ "voices": voices })).into_response()
        }
    };
    shared.finish_record(id, &response);
    response
}

/// `GET /v1/tts/voices/{voice_id}`.
pub(crate) async fn get_voice(
    State(shared): State<Arc<Shared>>,
    Path(voice_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let id = shared.record(RequestKind::Voices, &method, &uri, &headers, None);
    let response = match shared.auth_failure(&headers) {
        Some(r) => r,
        None => match shared.find_voice(&voice_id) {
            Some((id, name)) => {
                axum::Json(serde_json::json!({ "voice_id": id, "name": name })).into_response()
            }
            None => json_error(
                StatusCode::NOT_FOUND,
                &format!("voice `{voice_id}` not found"),
            ),
        },
    };
    shared.finish_record(id, &response);
    response
}

/// The old `/v1/realtime/audio/speech` path: 403 at once, as the real service answers.
pub(crate) async fn old_realtime_path(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let message = "forbidden: this is not a TTS endpoint (use /v1/tts)";
    answer_other(
        &shared,
        &method,
        &uri,
        &headers,
        StatusCode::FORBIDDEN,
        message,
    )
}

/// Every other path: 404.
pub(crate) async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let message = format!("no route for {method} {}", uri.path());
    answer_other(
        &shared,
        &method,
        &uri,
        &headers,
        StatusCode::NOT_FOUND,
        &message,
    )
}

/// Records a request to a non-TTS path and answers it with a JSON error.
fn answer_other(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    status: StatusCode,
    message: &str,
) -> Response {
    let id = shared.record(RequestKind::Other, method, uri, headers, None);
    let response = json_error(status, message);
    shared.finish_record(id, &response);
    response
}
