//! `GET /v1/speak`: the speak WebSocket.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::time::Instant;
use voxwire_core::AudioFormat;

use super::{error_body, error_frame, format_of, MockDeepgram, St, MAX_SPEAK_CHARS};
use crate::kit::audio::expected_audio;
use crate::kit::fault::ErrorField;
use crate::kit::socket::{close, send, Next, Utterance};
use crate::kit::{Effects, Kit, RequestKind};

/// A refusal in Deepgram's shape: JSON body, `dg-error`, `dg-request-id`.
pub(crate) fn deny(status: u16, err_code: &str, err_msg: &str, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = crate::kit::json_response(status, error_body(err_code, err_msg, request_id));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(err_msg) {
        h.insert("dg-error", v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("dg-request-id", v);
    }
    r
}

/// The query as pairs.
pub(crate) fn pairs(uri: &Uri) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// Records a request with the key masked everywhere (query and subprotocol included).
pub(crate) fn record(
    kit: &Kit,
    kind: RequestKind,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> u64 {
    let id = kit.record_http(kind, method, uri, headers, None);
    let masker = kit.masker(headers);
    kit.update(id, |r| {
        for (_, v) in r.headers.iter_mut() {
            *v = masker.mask(v);
        }
    });
    id
}

pub(crate) async fn upgrade(
    State((dg, kit)): State<St>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let id = record(&kit, RequestKind::WebSocket, "GET", &uri, &headers);
    let request_id = dg.request_id();
    let response = match MockDeepgram::authorized(&kit, &headers) {
        Err(()) => deny(401, "INVALID_AUTH", "Invalid credentials.", &request_id),
        Ok(protocol) => match kit.effects_for(id, true) {
            Err(rejected) => *rejected,
            Ok(effects) => match format_of(&pairs(&uri), false) {
                Err(msg) => deny(400, "Bad Request", &msg, &request_id),
                Ok((format, _)) => {
                    kit.count_upgrade();
                    let ws = match protocol {
                        Some(p) => ws.protocols([p]),
                        None => ws,
                    };
                    let (dg2, kit2, rid) = (dg.clone(), kit.clone(), request_id.clone());
                    let mut r = ws.on_upgrade(move |socket| async move {
                        tokio::select! {
                            () = serve(socket, &dg2, &kit2, id, format, &rid, effects) => {}
                            () = kit2.stopped() => {}
                        }
                    });
                    if let Ok(v) = HeaderValue::from_str(&request_id) {
                        r.headers_mut().insert("dg-request-id", v);
                    }
                    r
                }
            },
        },
    };
    kit.answered(id, response)
}

/// One utterance being spoken: its audio (the kit paces it and applies its
/// faults) and the `sequence_id` its `Flushed` carries.
struct Spoken {
    audio: Utterance,
    sequence_id: u64,
}

enum Step {
    Go,
    End,
}

/// The flush-rate `Warning`, in the newer (`code`/`description`) or the
/// older (`warn_code`/`warn_msg`) shape.
pub(crate) fn warning(shape_old: bool) -> String {
    let (code, msg) = (
        "FLUSH_LIMIT",
        "Too many Flush messages: flush ignored (mock)",
    );
    if shape_old {
        serde_json::json!({"type":"Warning","warn_code":code,"warn_msg":msg}).to_string()
    } else {
        serde_json::json!({"type":"Warning","code":code,"description":msg}).to_string()
    }
}

fn flushed(seq: u64) -> String {
    serde_json::json!({"type":"Flushed","sequence_id":seq}).to_string()
}

async fn serve(
    mut ws: WebSocket,
    dg: &MockDeepgram,
    kit: &Kit,
    id: u64,
    format: AudioFormat,
    request_id: &str,
    effects: Effects,
) {
    let cfg = dg.config().clone();
    let masker = kit.masker(&HeaderMap::new());
    let metadata = serde_json::json!({
        "type": "Metadata",
        "request_id": request_id,
        "model_name": "aura-mock",
        "model_version": "2026-01-01",
        "model_uuid": "00000000-0000-0000-0000-000000000000",
        "additional_model_uuids": [],
    });
    if !send(&mut ws, Message::text(metadata.to_string())).await {
        return;
    }
    let mut buffer = String::new();
    let mut queue: VecDeque<Spoken> = VecDeque::new();
    let mut next_seq = 0u64;
    let mut flushes: VecDeque<Instant> = VecDeque::new();
    let mut chars: VecDeque<(Instant, usize)> = VecDeque::new();
    let mut last_text = Instant::now();
    let mut warnings = 0u64;
    let frame_bytes = cfg.frame_bytes.max(1);
    loop {
        let playing = !queue.is_empty();
        let wake = queue.front().map(|u| u.audio.next_at());
        let idle_at = cfg.idle_timeout.map_or_else(
            || Instant::now() + crate::kit::fault::FOREVER,
            |t| last_text + t,
        );
        tokio::select! {
            m = ws.recv() => {
                let Some(Ok(m)) = m else { return };
                let text = match m {
                    Message::Binary(_) => {
                        close(&mut ws, 1003, "MESSAGE-0000").await;
                        return;
                    }
                    Message::Close(_) => return,
                    Message::Text(t) => t.as_str().to_string(),
                    _ => continue,
                };
                kit.record_message(id, masker.mask(&text));
                last_text = Instant::now();
                let v: Option<Value> = serde_json::from_str(&text).ok();
                let kind = v.as_ref().and_then(|v| v.get("type")).and_then(Value::as_str).unwrap_or("");
                match kind {
                    "Speak" => {
                        let t = v.as_ref().and_then(|v| v.get("text")).and_then(Value::as_str).unwrap_or("");
                        let n = t.chars().count();
                        if n > MAX_SPEAK_CHARS {
                            close(&mut ws, 1009, "BIG-0001").await;
                            return;
                        }
                        let now = Instant::now();
                        while chars.front().is_some_and(|(at, _)| *at + cfg.chars_window <= now) {
                            chars.pop_front();
                        }
                        let used: usize = chars.iter().map(|(_, n)| n).sum();
                        if used + n > cfg.chars_limit {
                            close(&mut ws, 1008, "DATA-0001").await;
                            return;
                        }
                        chars.push_back((now, n));
                        buffer.push_str(t);
                    }
                    "Flush" => {
                        let now = Instant::now();
                        while flushes.front().is_some_and(|at| *at + cfg.flush_window <= now) {
                            flushes.pop_front();
                        }
                        if flushes.len() >= cfg.flush_limit {
                            dg.warnings.fetch_add(1, Ordering::SeqCst);
                            warnings += 1;
                            if !send(&mut ws, Message::text(warning(warnings % 2 == 0))).await {
                                return;
                            }
                            continue;
                        }
                        flushes.push_back(now);
                        let said = std::mem::take(&mut buffer);
                        kit.update(id, |r| r.utterances.push(masker.mask(&said)));
                        let audio = Bytes::from(expected_audio(&said, format));
                        let fx = kit.utterance_effects(&effects, next_seq as usize);
                        let first_at = Instant::now() + cfg.frame_delay;
                        let audio = Utterance::new(audio, frame_bytes, cfg.frame_delay, fx, first_at);
                        queue.push_back(Spoken { audio, sequence_id: next_seq });
                        next_seq += 1;
                    }
                    "Clear" => {
                        buffer.clear();
                        if let Some(u) = queue.front_mut() {
                            for _ in 0..cfg.leak_after_clear {
                                let Next::Audio { bytes, .. } = u.audio.step() else { break };
                                if !send(&mut ws, Message::binary(bytes)).await {
                                    return;
                                }
                                dg.stale_sent.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        queue.clear();
                        let cleared = serde_json::json!({"type":"Cleared","sequence_id":next_seq.saturating_sub(1)});
                        if !send(&mut ws, Message::text(cleared.to_string())).await {
                            return;
                        }
                    }
                    "Close" => {
                        dg.closes.fetch_add(1, Ordering::SeqCst);
                        close(&mut ws, 1000, "").await;
                        return;
                    }
                    _ => {
                        close(&mut ws, 1008, "DATA-0000").await;
                        return;
                    }
                }
            }
            () = pace(wake), if playing => {
                if let Step::End = step(&mut ws, &mut queue).await {
                    return;
                }
            }
            () = tokio::time::sleep_until(idle_at), if cfg.idle_timeout.is_some() && !playing => {
                close(&mut ws, 1011, "NET-0001").await;
                return;
            }
        }
    }
}

/// Waits until the front utterance's next step; one already due only
/// yields (a zero `sleep` would still wait for the timer wheel's next
/// millisecond tick).
async fn pace(at: Option<Instant>) {
    match at {
        Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
        _ => tokio::task::yield_now().await,
    }
}

/// Sends the next piece of the utterance in front (or its fault, or its
/// `Flushed`); the `Flushed` follows the last frame at once.
async fn step(ws: &mut WebSocket, queue: &mut VecDeque<Spoken>) -> Step {
    loop {
        let Some(u) = queue.front_mut() else {
            return Step::Go;
        };
        let sent = match u.audio.step() {
            Next::Wait => return Step::Go,
            Next::Audio { bytes, .. } => {
                if !send(ws, Message::binary(bytes)).await {
                    return Step::End;
                }
                if !u.audio.all_sent() {
                    return Step::Go;
                }
                continue;
            }
            Next::Inject { .. } => {
                let fx = u.audio.effects();
                let frames = [
                    fx.inject_text.clone(),
                    fx.bad_json.then(|| "{\"type\":\"Flushed\",".to_string()),
                ];
                for text in frames.into_iter().flatten() {
                    if !send(ws, Message::text(text)).await {
                        return Step::End;
                    }
                }
                continue;
            }
            Next::Close { abrupt: true, .. } => return Step::End,
            Next::Close { frame, .. } => {
                let (code, reason) = frame.unwrap_or((1011, "NET-0000".into()));
                close(ws, code, &reason).await;
                return Step::End;
            }
            Next::Error { message, field } => match field {
                ErrorField::Raw => message,
                _ => error_frame(500, &message),
            },
            Next::End => flushed(u.sequence_id),
        };
        queue.pop_front();
        return if send(ws, Message::text(sent)).await {
            Step::Go
        } else {
            Step::End
        };
    }
}
