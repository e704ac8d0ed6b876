//! `POST /tts/sse`: the generation as server-sent events, plain
//! `data: <json>` lines with no `event:` names (the SDK decodes every
//! `data` as JSON and dispatches on its `type`).

use std::collections::VecDeque;
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};

use super::error_body;
use super::request::{audio_for, Asked};
use crate::kit::audio::expected_words;
use crate::kit::{sse_event, stepped_body, Kit, Step, UtteranceEffects};

/// Characters of the transcript per `chunk` event.
pub const CHARS_PER_EVENT: usize = 7;

/// The `word_timestamps` of the whole transcript, in seconds from its start.
fn word_timestamps(text: &str) -> Value {
    let words = expected_words(text);
    json!({
        "words": words.iter().map(|w| &text[w.span.start..w.span.end]).collect::<Vec<_>>(),
        "start": words.iter().map(|w| w.start.as_secs_f64()).collect::<Vec<_>>(),
        "end": words.iter().map(|w| w.end.as_secs_f64()).collect::<Vec<_>>(),
    })
}

/// The events for `asked`, faults applied: `chunk`s of base64 audio,
/// `timestamps` when asked, then `done` (or an `error` event, or a cut).
fn events(asked: &Asked, body: &Value, fx: &UtteranceEffects) -> VecDeque<Step> {
    let context = body.get("context_id").cloned().unwrap_or(Value::Null);
    let chars: Vec<char> = asked.text.chars().collect();
    let pieces: Vec<String> = if fx.zero_audio {
        Vec::new()
    } else {
        chars
            .chunks(CHARS_PER_EVENT)
            .map(|c| c.iter().collect())
            .collect()
    };
    let mut out = VecDeque::new();
    let mut sent = 0usize;
    let mut stall = fx.stall;
    for piece in pieces {
        if let Some((_, pause)) = stall.filter(|(at, _)| sent >= *at) {
            out.push_back(Step::Sleep(pause));
            stall = None;
        }
        if fx.close.is_some_and(|(at, _)| sent >= at) {
            out.push_back(Step::Cut);
            return out;
        }
        if let Some((message, ..)) = fx.error.as_ref().filter(|(_, _, at)| sent >= *at) {
            let e = error_body(super::ErrorShape::Titled, 500, "internal_error", message);
            out.push_back(Step::Send(sse_event(
                &serde_json::from_str(&e).unwrap_or(Value::Null),
            )));
            return out;
        }
        if let Some(d) = fx.drip.filter(|_| sent > 0) {
            out.push_back(Step::Sleep(d));
        }
        let audio = audio_for(&piece, asked.container);
        sent += audio.len();
        out.push_back(Step::Send(sse_event(&json!({
            "type": "chunk", "data": base64::engine::general_purpose::STANDARD.encode(audio),
            "done": false, "status_code": 206, "step_time": 12.5, "context_id": context,
        }))));
    }
    if body["add_timestamps"].as_bool() == Some(true) {
        out.push_back(Step::Send(sse_event(&json!({
            "type": "timestamps", "done": false, "status_code": 206, "context_id": context,
            "word_timestamps": word_timestamps(&asked.text),
        }))));
    }
    out.push_back(Step::Send(sse_event(&json!({
        "type": "done", "done": true, "status_code": 200, "context_id": context,
    }))));
    out
}

/// The streamed answer.
pub(super) fn answer(
    kit: Arc<Kit>,
    asked: &Asked,
    body: &Value,
    fx: &UtteranceEffects,
) -> Response {
    let mut response = Response::new(stepped_body(events(asked, body, fx), kit, (), "Cartesia"));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}
