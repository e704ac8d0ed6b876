//! `GET /v1/tts`: the streaming WebSocket.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::config::{Effects, ErrorField, UtteranceEffects, MAX_TEXT_CHARS};
use super::params::{parse_bool, Params, RawParams};
use super::{json_error, Shared};
use crate::kit::audio::{char_offsets, expected_body_with_bit_rate, expected_timestamps, CharTime};
use crate::kit::record::RequestKind;
use crate::kit::socket::{self, sleep_until_opt, Next, Utterance};

/// The query parameters the WebSocket takes.
const QUERY_PARAMS: [&str; 8] = [
    "voice",
    "language",
    "codec",
    "sample_rate",
    "speed",
    "optimize_streaming_latency",
    "text_normalization",
    "with_timestamps",
];

/// Utterances a connection may have queued (finished but not yet spoken).
const MAX_QUEUED_UTTERANCES: usize = 1024;

/// `GET /v1/tts`: auth, faults and query checks answer with an HTTP status
/// before upgrading; then the session runs.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let id = shared.record(RequestKind::WebSocket, &method, &uri, &headers, None);
    let response = answer_upgrade(&shared, id, &uri, &headers, ws);
    shared.finish_record(id, &response);
    response
}

fn answer_upgrade(
    shared: &Arc<Shared>,
    id: u64,
    uri: &Uri,
    headers: &HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(r) = shared.auth_failure(headers) {
        return r;
    }
    let effects = match shared.kit.effects_for(id, true) {
        Ok(e) => e,
        Err(rejected) => return *rejected,
    };
    let params = match parse_query(shared, uri) {
        Ok(p) => p,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let max = shared.config().max_message_size.max(1024);
    let masker = shared.kit.masker(headers);
    let shared = Arc::clone(shared);
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "mock xAI: WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let session = Session {
                chunk: shared.config().effective_chunk_size(),
                shared,
                socket,
                id,
                masker,
                params,
                effects,
                buffer: String::new(),
                buffer_chars: 0,
                queue: VecDeque::new(),
                playing: None,
                utterances_started: 0,
            };
            session.run().await;
        })
}

fn parse_query(shared: &Shared, uri: &Uri) -> Result<Params, String> {
    let pairs: Vec<(String, String)> = Query::try_from_uri(uri)
        .map(|q: Query<Vec<(String, String)>>| q.0)
        .map_err(|e| format!("invalid query string: {e}"))?;
    let mut get = std::collections::HashMap::new();
    for (k, v) in &pairs {
        if !QUERY_PARAMS.contains(&k.as_str()) {
            return Err(format!(
                "unknown query parameter `{k}`: the WebSocket takes {}",
                QUERY_PARAMS.join(", ")
            ));
        }
        get.insert(k.as_str(), v.as_str());
    }
    let sample_rate = get
        .get("sample_rate")
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| format!("`sample_rate` must be a number, not `{v}`"))
        })
        .transpose()?;
    let speed = get
        .get("speed")
        .map(|v| {
            v.parse::<f64>()
                .map_err(|_| format!("`speed` must be a number, not `{v}`"))
        })
        .transpose()?;
    let optimize_streaming_latency = get
        .get("optimize_streaming_latency")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("`optimize_streaming_latency` must be an integer, not `{v}`"))
        })
        .transpose()?;
    if let Some(v) = get.get("text_normalization") {
        parse_bool("text_normalization", v)?;
    }
    let with_timestamps = match get.get("with_timestamps") {
        Some(v) => parse_bool("with_timestamps", v)?,
        None => false,
    };
    RawParams {
        voice_field: "voice",
        voice: get.get("voice").copied(),
        language: get.get("language").copied(),
        codec: get.get("codec").copied(),
        sample_rate,
        bit_rate: None,
        speed,
        optimize_streaming_latency,
        with_timestamps,
    }
    .validate(shared)
}

/// Whether the session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// What woke the session up.
enum Event {
    Shutdown,
    Deadline,
    Message(Option<Result<Message, axum::Error>>),
    Step,
}

/// The utterance being spoken.
struct Playing {
    audio: Utterance,
    /// Byte offset in the audio where each character starts (timestamps only).
    offsets: Vec<usize>,
    times: Vec<CharTime>,
    next_char: usize,
}

/// One accepted WebSocket connection.
struct Session {
    shared: Arc<Shared>,
    socket: WebSocket,
    id: u64,
    masker: crate::kit::record::Masker,
    params: Params,
    effects: Effects,
    chunk: usize,
    buffer: String,
    buffer_chars: usize,
    queue: VecDeque<String>,
    playing: Option<Playing>,
    utterances_started: usize,
}

impl Session {
    async fn run(mut self) {
        let _open = self.shared.open_connection();
        let age = [
            self.effects.deadline,
            self.shared.config().max_connection_age,
        ]
        .into_iter()
        .flatten()
        .min();
        let deadline = age.map(|a| Instant::now() + a);
        let silence_seen = self.shared.silence_count();
        loop {
            if self.playing.is_none() {
                if let Some(text) = self.queue.pop_front() {
                    self.playing = Some(self.start(&text));
                }
            }
            let wake = self.playing.as_ref().map(|p| p.audio.next_at());
            let shared = Arc::clone(&self.shared);
            let event = tokio::select! {
                biased;
                _ = shared.kit.stopped() => Event::Shutdown,
                _ = shared.silenced(silence_seen) => {
                    // Hold the socket, never read it again, until shutdown.
                    shared.kit.stopped().await;
                    break;
                }
                _ = sleep_until_opt(deadline) => Event::Deadline,
                msg = self.socket.recv() => Event::Message(msg),
                _ = sleep_until_opt(wake) => Event::Step,
            };
            let flow = match event {
                Event::Shutdown => self.close(1001, "server shutting down").await,
                Event::Deadline => self.close(1001, "maximum connection age reached").await,
                Event::Message(msg) => self.on_message(msg).await,
                Event::Step => self.step().await,
            };
            if flow == Flow::Stop {
                break;
            }
        }
    }

    /// Sets up the next utterance's audio and faults.
    fn start(&mut self, text: &str) -> Playing {
        let effects = self
            .shared
            .kit
            .utterance_effects(&self.effects, self.utterances_started);
        self.utterances_started += 1;
        let p = &self.params;
        let (audio, offsets, times) = if effects.zero_audio {
            (Bytes::new(), Vec::new(), Vec::new())
        } else {
            let audio = expected_body_with_bit_rate(text, p.codec, p.sample_rate, p.bit_rate);
            let (offsets, times) = if p.with_timestamps {
                (
                    char_offsets(text, p.codec, p.sample_rate, p.bit_rate),
                    expected_timestamps(text, p.sample_rate),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            (Bytes::from(audio), offsets, times)
        };
        Playing {
            audio: Utterance::new(audio, self.chunk, Duration::ZERO, effects, Instant::now()),
            offsets,
            times,
            next_char: 0,
        }
    }

    async fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) -> Flow {
        let msg = match msg {
            None => return Flow::Stop,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "mock xAI: WebSocket receive failed");
                return Flow::Stop;
            }
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(text) => {
                self.record_message(self.masker.mask(text.as_str()));
                self.on_text(text.as_str()).await
            }
            Message::Binary(data) => {
                self.record_message(format!("<binary {} bytes>", data.len()));
                self.send_error("binary frames are not supported: send JSON text frames")
                    .await
            }
            Message::Ping(_) | Message::Pong(_) => Flow::Continue,
            Message::Close(_) => Flow::Stop,
        }
    }

    fn record_message(&self, text: String) {
        self.shared.kit.record_message(self.id, text);
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.send_error(&format!("invalid JSON message: {e}")).await,
        };
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return self
                .send_error(
                    "message without a string `type`: expected text.delta, text.done or text.clear",
                )
                .await;
        };
        match kind {
            "text.delta" => {
                let Some(delta) = value.get("delta").and_then(Value::as_str) else {
                    return self.send_error("`text.delta` needs a string `delta`").await;
                };
                let n = delta.chars().count();
                if self.buffer_chars + n > MAX_TEXT_CHARS {
                    self.buffer.clear();
                    self.buffer_chars = 0;
                    return self
                        .send_error(&format!(
                            "utterance text exceeds {MAX_TEXT_CHARS} characters; its buffered text was dropped"
                        ))
                        .await;
                }
                self.buffer.push_str(delta);
                self.buffer_chars += n;
                Flow::Continue
            }
            "text.done" => {
                if self.queue.len() >= MAX_QUEUED_UTTERANCES {
                    return self
                        .send_error("too many utterances queued; wait for audio.done")
                        .await;
                }
                let text = std::mem::take(&mut self.buffer);
                self.buffer_chars = 0;
                let recorded = self.masker.mask(&text);
                self.shared
                    .kit
                    .update(self.id, |r| r.utterances.push(recorded));
                self.queue.push_back(text);
                Flow::Continue
            }
            "text.clear" => {
                self.buffer.clear();
                self.buffer_chars = 0;
                self.queue.clear();
                self.playing = None;
                self.send_json(json!({ "type": "audio.clear" })).await
            }
            other => {
                let message = format!(
                    "unknown message type `{other}`: expected text.delta, text.done or text.clear"
                );
                self.send_error(&message).await
            }
        }
    }

    /// Sends the next piece of the current utterance (or its fault, or its end).
    async fn step(&mut self) -> Flow {
        let with_timestamps = self.params.with_timestamps;
        let Some(p) = self.playing.as_mut() else {
            return Flow::Continue;
        };
        match p.audio.step() {
            Next::Wait => Flow::Continue,
            Next::Inject { first } => {
                let e = p.audio.effects().clone();
                self.inject(&e, first).await
            }
            Next::Close { abrupt: true, .. } => Flow::Stop,
            Next::Close { frame, .. } => {
                let (code, reason) =
                    frame.unwrap_or((1011, "mock: connection closed mid-utterance".into()));
                self.close(code, &reason).await
            }
            Next::Error { message, field } => {
                self.playing = None;
                self.send_text(error_frame(&message, field)).await
            }
            Next::End => {
                self.playing = None;
                self.shared.count_utterance();
                self.send_json(json!({ "type": "audio.done" })).await
            }
            Next::Audio { bytes, range } => {
                let mut frame = json!({
                    "type": "audio.delta",
                    "delta": base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
                if with_timestamps {
                    let mut chars = Vec::new();
                    let mut times = Vec::new();
                    while p.next_char < p.offsets.len() && p.offsets[p.next_char] < range.end {
                        if let Some(t) = p.times.get(p.next_char) {
                            chars.push(t.ch.to_string());
                            times.push([t.start, t.end]);
                        }
                        p.next_char += 1;
                    }
                    if !chars.is_empty() {
                        frame["audio_timestamps"] =
                            json!({ "graph_chars": chars, "graph_times": times });
                    }
                }
                self.send_json(frame).await
            }
        }
    }

    /// Sends the malformed frames a fault asks for, before the first delta.
    async fn inject(&mut self, e: &UtteranceEffects, first: Bytes) -> Flow {
        if let Some(text) = &e.inject_text {
            if self.send_text(text.clone()).await == Flow::Stop {
                return Flow::Stop;
            }
        }
        if e.bad_json
            && self
                .send(Message::Text(
                    r#"{"type":"audio.delta","delta":"AAAA"#.into(),
                ))
                .await
                == Flow::Stop
        {
            return Flow::Stop;
        }
        if e.bad_base64
            && self
                .send_json(json!({ "type": "audio.delta", "delta": "!!not*base64%%" }))
                .await
                == Flow::Stop
        {
            return Flow::Stop;
        }
        if e.binary_frame {
            let data = if first.is_empty() {
                Bytes::from_static(b"\x00mock binary frame")
            } else {
                first
            };
            return self.send(Message::Binary(data)).await;
        }
        Flow::Continue
    }

    async fn send_error(&mut self, message: &str) -> Flow {
        self.send_text(error_frame(message, ErrorField::Message))
            .await
    }

    async fn send_json(&mut self, value: Value) -> Flow {
        self.send_text(value.to_string()).await
    }

    async fn send_text(&mut self, text: String) -> Flow {
        self.send(Message::Text(text.into())).await
    }

    async fn send(&mut self, message: Message) -> Flow {
        if socket::send(&mut self.socket, message).await {
            Flow::Continue
        } else {
            Flow::Stop
        }
    }

    /// Sends a close frame, waits briefly for the client's reply, and stops.
    async fn close(&mut self, code: u16, reason: &str) -> Flow {
        socket::close(&mut self.socket, code, reason).await;
        Flow::Stop
    }
}

/// xAI's `error` frame (or the fault's raw frame as it is).
fn error_frame(message: &str, field: ErrorField) -> String {
    match field {
        ErrorField::Message => json!({ "type": "error", "message": message }).to_string(),
        ErrorField::Error => json!({ "type": "error", "error": message }).to_string(),
        ErrorField::Raw => message.to_string(),
    }
}
