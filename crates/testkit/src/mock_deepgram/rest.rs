//! `POST /v1/speak`: the streamed REST endpoint.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::ws::{deny, pairs, record};
use super::{format_of, St, MAX_REST_CHARS};
use crate::kit::audio::{expected_audio, wav_header};
use crate::kit::{streamed_audio, RequestKind};

/// Bytes per body chunk (odd, so chunks split samples).
const CHUNK: usize = 999;

pub(crate) async fn speak(
    State((dg, kit)): State<St>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = record(&kit, RequestKind::Rest, "POST", &uri, &headers);
    let masker = kit.masker(&headers);
    let body_text = String::from_utf8_lossy(&body).into_owned();
    kit.update(id, |r| r.body = Some(masker.mask(&body_text)));
    let request_id = dg.request_id();
    let response = answer(&kit, id, &uri, &headers, &body_text, &request_id).await;
    kit.answered(id, response)
}

async fn answer(
    kit: &crate::kit::Kit,
    id: u64,
    uri: &Uri,
    headers: &HeaderMap,
    body: &str,
    request_id: &str,
) -> Response {
    if super::MockDeepgram::authorized(kit, headers).is_err() {
        return deny(401, "INVALID_AUTH", "Invalid credentials.", request_id);
    }
    let fx = match kit.effects_for(id, false) {
        Ok(e) => e,
        Err(rejected) => return *rejected,
    };
    let query = pairs(uri);
    let (format, kind) = match format_of(&query, true) {
        Ok(f) => f,
        Err(msg) => return deny(400, "Bad Request", &msg, request_id),
    };
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = if json {
        match serde_json::from_str::<Value>(body) {
            Ok(v) => match v.get("text").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => {
                    return deny(
                        400,
                        "PAYLOAD_ERROR",
                        "Request body must contain `text`.",
                        request_id,
                    )
                }
            },
            Err(_) => return deny(400, "PAYLOAD_ERROR", "Invalid JSON body.", request_id),
        }
    } else {
        body.to_string()
    };
    if text.trim().is_empty() {
        return deny(
            400,
            "Bad Request",
            "Input text contains no characters.",
            request_id,
        );
    }
    if text.chars().count() > MAX_REST_CHARS {
        return deny(
            422,
            "UNPROCESSABLE_ENTITY",
            "Input text exceeds the maximum character limit of 1000.",
            request_id,
        );
    }
    kit.update(id, |r| r.utterances.push(text.clone()));
    let wav = query.iter().any(|(k, v)| k == "container" && v == "wav")
        || !query.iter().any(|(k, _)| k == "container");
    let mut audio = expected_audio(&text, format);
    if wav {
        let mut with = wav_header(format.sample_rate).to_vec();
        with.append(&mut audio);
        audio = with;
    }
    let body = streamed_audio(audio, &fx.utterance, CHUNK);
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    let content_type = if wav {
        "audio/wav".to_string()
    } else {
        format!("{kind};rate={}", format.sample_rate)
    };
    for (k, v) in [
        ("content-type", content_type),
        ("dg-request-id", request_id.to_string()),
        (
            "dg-model-name",
            query
                .iter()
                .find(|(k, _)| k == "model")
                .map_or("aura-asteria-en".into(), |(_, v)| v.clone()),
        ),
        (
            "dg-model-uuid",
            "00000000-0000-0000-0000-000000000000".into(),
        ),
        ("dg-char-count", text.chars().count().to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    r
}
