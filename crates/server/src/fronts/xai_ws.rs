//! `GET /v1/tts`: the xAI streaming protocol, a front of the session engine.
//!
//! Same query parameters and messages as xAI (`text.delta`, `text.done`,
//! `text.clear` in; `audio.delta`, `audio.done`, `audio.clear`, `error` out),
//! many utterances per connection. This module only translates: frames in
//! become [`Input`]s, [`Output`]s become frames; limits, timers and
//! backpressure are the engine's. Error frames keep xAI's shape
//! (`{"type":"error","message":…}`) and add `kind` (`ErrorKind::as_str`) and,
//! when known, `entry` (the chain entry). With `voxwire_events=true` the
//! client also gets `voxwire.provider` (before each utterance's audio, from
//! the router's `Serving`) and `voxwire.provider_changed` frames.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt;
use serde::Deserialize;
use voxwire_core::{AudioFormat, Encoding, ErrorKind, StreamConfig, WantTimestamps};
use voxwire_xai::protocol::ClientMessage;

use crate::access;
use crate::engine::{self, Input, Output, SessionSpec};
use crate::errors::{json_error, ClientError};
use crate::state::{AppState, Refused, Sessions};
use crate::writer::{Encoder, Writer};

/// The xAI WebSocket query, plus the relay's own `token` and `voxwire_events`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WsQuery {
    voice: Option<String>,
    language: Option<String>,
    codec: Option<String>,
    sample_rate: Option<u32>,
    speed: Option<f32>,
    #[allow(dead_code)]
    optimize_streaming_latency: Option<u8>,
    #[allow(dead_code)]
    text_normalization: Option<bool>,
    with_timestamps: Option<bool>,
    token: Option<String>,
    voxwire_events: Option<bool>,
}

/// The format a codec name and rate ask for (mp3 and wav are REST-only here).
pub(crate) fn stream_format(codec: Option<&str>, rate: Option<u32>) -> Result<AudioFormat, String> {
    let encoding = match codec.unwrap_or("pcm").to_ascii_lowercase().as_str() {
        "pcm" => Encoding::PcmS16le,
        "mulaw" | "ulaw" => Encoding::Mulaw,
        "alaw" => Encoding::Alaw,
        other => {
            return Err(format!(
                "codec `{other}` is not served here: use pcm, mulaw or alaw"
            ))
        }
    };
    let format = AudioFormat::mono(encoding, rate.unwrap_or(24_000));
    format.validate().map_err(|e| e.message().to_string())?;
    Ok(format)
}

/// Why a new session is refused while the fleet's Redis is down under
/// `on_redis_down = "refuse"`.
pub(crate) const SHARED_DOWN: &str =
    "the relay cannot reach its fleet's shared state (Redis), so it takes no new sessions now: retry shortly";

pub(crate) async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return json_error(StatusCode::BAD_REQUEST, "bad query parameters");
    };
    let principal = match access::authenticate(&state, &headers, query.token.as_deref()) {
        Ok(p) => p,
        Err(denied) => {
            state.metrics.auth_rejected(denied.reason);
            return denied.into_response();
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    if *state.shutdown.borrow() {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay is shutting down",
        );
    }
    let format = match stream_format(query.codec.as_deref(), query.sample_rate) {
        Ok(f) => f,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, &why),
    };
    if let Some(speed) = query.speed {
        if !(voxwire_core::provider::MIN_SPEED..=voxwire_core::provider::MAX_SPEED).contains(&speed)
        {
            return json_error(StatusCode::BAD_REQUEST, "speed is out of range");
        }
    }
    let slot = match Sessions::open(&state, &principal.key).await {
        Ok(slot) => slot,
        Err(Refused::Total) => {
            state.metrics.limit_breached("max_sessions");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay is at its session limit",
            );
        }
        Err(Refused::PerPrincipal) => {
            state.metrics.limit_breached("max_sessions_per_token");
            return json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many concurrent sessions for this credential",
            );
        }
        Err(Refused::SharedDown) => {
            state.metrics.limit_breached("shared_state_down");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, SHARED_DOWN);
        }
    };
    let mut config = StreamConfig {
        voice: query.voice.clone(),
        language: query
            .language
            .clone()
            .filter(|l| !l.eq_ignore_ascii_case("auto")),
        format: Some(format),
        speed: query.speed,
        extensions: Default::default(),
    };
    let events = query.voxwire_events.unwrap_or(false);
    let timestamps = query.with_timestamps.unwrap_or(false);
    // Providers that can report their own times are asked to.
    config.extensions.insert(WantTimestamps(timestamps));
    let limit = state.settings.max_message_bytes;
    let mut ws = ws.max_message_size(limit).max_frame_size(limit);
    if let Some(protocol) = principal.subprotocol.clone() {
        ws = ws.protocols([protocol]);
    }
    let spec = SessionSpec {
        router: state.router.clone(),
        stream: config,
        timestamps,
        principal: principal.key,
        credential: principal.kind,
    };
    ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        serve(state, spec, events, socket).await;
    })
}

/// One upgraded connection: a writer task, the engine, then a bounded drain.
async fn serve(state: Arc<AppState>, spec: SessionSpec, events: bool, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let send_timeout = state.settings.client_send_timeout();
    let (outbox, outputs) = engine::outbox(state.settings.client_queue_frames);
    let encoder = XaiEncoder {
        events,
        timestamps: spec.timestamps,
    };
    let writer = Writer::spawn(sink, outputs, encoder, send_timeout, state.metrics.clone());
    let inputs = stream
        .filter_map(|frame| std::future::ready(decode(frame)))
        .boxed();
    engine::run(state, spec, inputs, outbox).await;
    writer.finish(send_timeout).await;
}

/// A client frame as an engine input (`None`: nothing for the engine, e.g. a ping).
fn decode(frame: Result<Message, axum::Error>) -> Option<Input> {
    match frame {
        Ok(Message::Text(text)) => Some(decode_text(text.as_str())),
        Ok(Message::Binary(_)) => Some(Input::Bad(ClientError::relay(
            ErrorKind::InvalidInput,
            "invalid frame: binary frames are not part of the protocol",
            "send JSON text frames",
        ))),
        Ok(Message::Close(_)) => Some(Input::Closed),
        Ok(_) => None, // ping/pong are answered by the library
        Err(e) => {
            // Oversize messages surface here as read errors.
            let text = e.to_string();
            if text.contains("too long") || text.contains("size") || text.contains("Space limit") {
                Some(Input::TooBig)
            } else {
                Some(Input::Closed)
            }
        }
    }
}

fn decode_text(text: &str) -> Input {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::TextDelta { delta }) => Input::Delta(delta),
        Ok(ClientMessage::TextDone) => Input::Done,
        Ok(ClientMessage::TextClear) => Input::Clear,
        Err(_) => {
            let known = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
            let why = match known {
                Some(kind) => format!(
                    "invalid frame: unknown message type `{}`",
                    crate::errors::printable(&kind)
                ),
                None => "invalid frame: not a JSON message with a `type`".to_string(),
            };
            Input::Bad(ClientError::relay(
                ErrorKind::InvalidInput,
                why,
                "send text.delta, text.done or text.clear",
            ))
        }
    }
}

/// Engine outputs as xAI frames.
struct XaiEncoder {
    events: bool,
    timestamps: bool,
}

fn text_frame(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

impl Encoder for XaiEncoder {
    fn encode(&mut self, output: Output) -> Option<Message> {
        match output {
            Output::Audio {
                chunk,
                text,
                offset_s,
            } => {
                let delta = base64::engine::general_purpose::STANDARD.encode(&chunk.data);
                let mut frame = serde_json::json!({ "type": "audio.delta", "delta": delta });
                if self.timestamps {
                    // The vendor's own times when it reported them, else the
                    // chunk's place in the audio sent so far.
                    let (start, seconds) = match chunk.times {
                        Some(t) => (
                            t.start.as_secs_f64(),
                            t.end.saturating_sub(t.start).as_secs_f64(),
                        ),
                        None => (offset_s, chunk.duration().as_secs_f64()),
                    };
                    if let Some(stamps) = text.and_then(|t| timestamps(&t, start, seconds)) {
                        frame["audio_timestamps"] = stamps;
                    }
                }
                Some(text_frame(frame))
            }
            Output::Done => Some(Message::Text(r#"{"type":"audio.done"}"#.into())),
            Output::Cleared => Some(Message::Text(r#"{"type":"audio.clear"}"#.into())),
            Output::Error(error) => Some(error_frame(&error)),
            Output::Serving {
                entry,
                provider,
                cached,
            } => self.events.then(|| {
                let mut frame = serde_json::json!({ "type": "voxwire.provider", "entry": entry, "provider": provider });
                if cached {
                    frame["cached"] = true.into();
                }
                text_frame(frame)
            }),
            Output::ProviderChanged { from, to, reason } => self.events.then(|| {
                text_frame(serde_json::json!({ "type": "voxwire.provider_changed", "from": from, "to": to, "reason": reason }))
            }),
            // The writer turns Close into the close frame itself.
            Output::Close { .. } => None,
        }
    }
}

/// xAI's error frame, plus `kind` and `entry` for clients that read them, and
/// `voxwire_replayed_ms` when the sentence was already replayed once.
fn error_frame(error: &ClientError) -> Message {
    let mut frame = serde_json::json!({
        "type": "error",
        "message": error.message(),
        "kind": error.kind.as_str(),
    });
    if let Some(entry) = &error.entry {
        frame["entry"] = serde_json::Value::String(entry.clone());
    }
    if let Some(at) = error.replayed {
        frame["voxwire_replayed_ms"] = serde_json::Value::from(at.as_millis() as u64);
    }
    text_frame(frame)
}

/// `audio_timestamps` for a chunk that speaks `piece`: its characters, with
/// the chunk's time (the vendor's, where it reported one) spread evenly over
/// them (a chunk carries its span's times, not each character's).
fn timestamps(piece: &str, start: f64, seconds: f64) -> Option<serde_json::Value> {
    let chars: Vec<String> = piece.chars().map(String::from).collect();
    if chars.is_empty() {
        return None;
    }
    let step = seconds / chars.len() as f64;
    let times: Vec<[f64; 2]> = (0..chars.len())
        .map(|i| [start + step * i as f64, start + step * (i + 1) as f64])
        .collect();
    Some(serde_json::json!({ "graph_chars": chars, "graph_times": times }))
}
