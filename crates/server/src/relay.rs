//! `GET /v1/tts`: the xAI streaming protocol, served by the router.
//!
//! Same query parameters and messages as xAI (`text.delta`, `text.done`,
//! `text.clear` in; `audio.delta`, `audio.done`, `audio.clear`, `error` out),
//! many utterances per connection. As with xAI, an utterance is synthesized
//! from its `text.done`: the relay holds its text until then (bounded), so a
//! refused utterance never disturbs those in flight. Each limit answers with
//! an `error` frame or a close code and a metric, never a crash: oversize
//! message → close 1009; an utterance over the character bound or over the
//! rate → `error` frame and that utterance alone is dropped; idle or too old
//! → close 1000 / 1001.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use voxwire_core::session::{SessionEvent, SessionEvents, SessionInput};
use voxwire_core::{AudioFormat, Encoding, StreamConfig, TtsProvider};
use voxwire_xai::protocol::ClientMessage;

use crate::access::{self, Principal};
use crate::routes::json_error;
use crate::state::{AppState, Refused, Sessions};

/// Close codes (RFC 6455).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_TOO_BIG: u16 = 1009;

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
    let slot = match Sessions::open(&state, &principal.key) {
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
    };
    let config = StreamConfig {
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
    let limit = state.settings.max_message_bytes;
    let mut ws = ws.max_message_size(limit).max_frame_size(limit);
    if let Some(protocol) = principal.subprotocol.clone() {
        ws = ws.protocols([protocol]);
    }
    ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        Relay::new(state, principal, config, events, timestamps)
            .run(socket)
            .await;
    })
}

struct Relay {
    state: Arc<AppState>,
    principal: Principal,
    config: StreamConfig,
    events_wanted: bool,
    /// Whether the client asked for `audio_timestamps`.
    timestamps: bool,
    /// The text of the utterance being written (sent to the router at `text.done`).
    writing: String,
    /// The utterance being written was refused; its remaining deltas are ignored.
    discarding: bool,
    /// Texts of flushed utterances whose audio is still owed (front = speaking),
    /// and the audio time already sent for the front one.
    spoken: std::collections::VecDeque<String>,
    spoken_audio: f64,
    /// Characters of the utterance being written.
    utterance_chars: usize,
    /// `text.done`s sent to the router whose `audio.done` is still owed.
    owed: usize,
    /// When the oldest owed utterance was flushed (for time to first audio).
    flushed_at: Option<Instant>,
    /// Clears the client asked for (answered with `audio.clear`); others are internal.
    client_clears: Vec<u64>,
}

/// What ends a relay session.
enum End {
    Close(u16, &'static str),
    Gone,
}

impl Relay {
    fn new(
        state: Arc<AppState>,
        principal: Principal,
        config: StreamConfig,
        events_wanted: bool,
        timestamps: bool,
    ) -> Self {
        Self {
            state,
            principal,
            config,
            events_wanted,
            timestamps,
            writing: String::new(),
            discarding: false,
            spoken: std::collections::VecDeque::new(),
            spoken_audio: 0.0,
            utterance_chars: 0,
            owed: 0,
            flushed_at: None,
            client_clears: Vec::new(),
        }
    }

    async fn open_session(&self) -> Result<(SessionInput, SessionEvents), String> {
        self.state
            .router
            .stream(self.config.clone())
            .await
            .map(|s| s.split())
            .map_err(|e| e.to_string())
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut tx, mut rx) = socket.split();
        let (mut input, mut events) = match self.open_session().await {
            Ok(halves) => halves,
            Err(e) => {
                let _ = tx.send(error_frame(&e)).await;
                let _ = tx
                    .send(close(CLOSE_GOING_AWAY, "no provider available"))
                    .await;
                return;
            }
        };
        let started = tokio::time::Instant::now();
        let max_age = started + self.state.settings.max_age();
        let idle = self.state.settings.idle_timeout();
        let mut idle_deadline = started + idle;
        let mut shutdown = self.state.shutdown.clone();
        let mut draining: Option<tokio::time::Instant> = None;
        let end = loop {
            if let Some(grace_end) = draining {
                if self.owed == 0 || tokio::time::Instant::now() >= grace_end {
                    break End::Close(CLOSE_GOING_AWAY, "the relay is shutting down");
                }
            }
            tokio::select! {
                message = rx.next() => {
                    idle_deadline = tokio::time::Instant::now() + idle;
                    match message {
                        None | Some(Ok(Message::Close(_))) => break End::Gone,
                        Some(Err(e)) => {
                            // Oversize messages surface here as read errors.
                            let text = e.to_string();
                            if text.contains("too long") || text.contains("size") || text.contains("Space limit") {
                                self.state.metrics.limit_breached("max_message_bytes");
                                break End::Close(CLOSE_TOO_BIG, "message too big");
                            }
                            break End::Gone;
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if tx.send(error_frame("binary frames are not part of the protocol: send JSON text frames")).await.is_err() {
                                break End::Gone;
                            }
                        }
                        Some(Ok(Message::Text(text))) => {
                            if draining.is_some() {
                                let _ = tx.send(error_frame("the relay is shutting down: no new text")).await;
                                continue;
                            }
                            if let Err(end) = self.client_message(text.as_str(), &mut input, &mut tx).await {
                                break end;
                            }
                        }
                        Some(Ok(_)) => {} // ping/pong are answered by the library
                    }
                }
                event = events.next() => {
                    match event {
                        Some(Ok(event)) => {
                            if let Err(end) = self.router_event(event, &mut tx).await {
                                break end;
                            }
                        }
                        Some(Err(e)) => {
                            // The router gave up on this utterance: tell the client,
                            // and open a fresh session for the next one.
                            self.owed = 0;
                            self.flushed_at = None;
                            self.forget_texts();
                            if tx.send(error_frame(&e.to_string())).await.is_err() {
                                break End::Gone;
                            }
                            match self.open_session().await {
                                Ok(halves) => (input, events) = halves,
                                Err(e) => {
                                    let _ = tx.send(error_frame(&e)).await;
                                    break End::Close(CLOSE_GOING_AWAY, "no provider available");
                                }
                            }
                        }
                        None => break End::Close(CLOSE_NORMAL, "session ended"),
                    }
                }
                () = tokio::time::sleep_until(idle_deadline), if draining.is_none() => {
                    self.state.metrics.limit_breached("idle_timeout");
                    break End::Close(CLOSE_NORMAL, "idle timeout");
                }
                () = tokio::time::sleep_until(max_age) => {
                    self.state.metrics.limit_breached("max_session_age");
                    break End::Close(CLOSE_GOING_AWAY, "maximum session age reached: reconnect");
                }
                changed = shutdown.changed(), if draining.is_none() => {
                    if changed.is_err() || *shutdown.borrow() {
                        draining = Some(tokio::time::Instant::now() + self.state.settings.grace());
                    }
                }
            }
        };
        if let End::Close(code, reason) = end {
            let _ = tx.send(close(code, reason)).await;
        }
        let _ = tx.close().await;
    }

    /// Handles one client frame; `Err` ends the session.
    async fn client_message<S>(
        &mut self,
        text: &str,
        input: &mut SessionInput,
        tx: &mut S,
    ) -> Result<(), End>
    where
        S: futures::Sink<Message> + Unpin,
    {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(_) => {
                let kind = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
                let why = match kind {
                    Some(kind) => format!("unknown message type `{kind}`: expected text.delta, text.done or text.clear"),
                    None => "not a JSON message with a `type`".to_string(),
                };
                return send(tx, error_frame(&why)).await;
            }
        };
        match message {
            ClientMessage::TextDelta { delta } => {
                if self.discarding {
                    return Ok(()); // the rest of an utterance already refused
                }
                self.utterance_chars += delta.chars().count();
                if self.utterance_chars > self.state.settings.max_utterance_chars {
                    self.state.metrics.limit_breached("max_utterance_chars");
                    self.refuse_utterance();
                    let why = format!(
                        "the utterance is over {} characters and was dropped: send text.done more often",
                        self.state.settings.max_utterance_chars
                    );
                    return send(tx, error_frame(&why)).await;
                }
                self.writing.push_str(&delta);
                Ok(())
            }
            ClientMessage::TextDone => {
                if std::mem::take(&mut self.discarding) {
                    return Ok(()); // its error frame was already sent
                }
                let over_rate = !self.state.rates.allow(
                    &self.principal.key,
                    self.state.settings.utterances_per_second,
                    self.state.settings.utterance_burst,
                );
                if over_rate {
                    self.state.metrics.limit_breached("utterances_per_second");
                    self.writing.clear();
                    self.utterance_chars = 0;
                    return send(
                        tx,
                        error_frame(
                            "rate limited: too many utterances per second; this one was dropped",
                        ),
                    )
                    .await;
                }
                // Like xAI, synthesis starts at text.done: the whole utterance goes
                // to the router now, so a refused utterance never touches the
                // ones already in flight.
                self.utterance_chars = 0;
                let text = std::mem::take(&mut self.writing);
                input.push_text(&text).await.map_err(|_| End::Gone)?;
                input.flush().await.map_err(|_| End::Gone)?;
                if self.timestamps {
                    self.spoken.push_back(text);
                }
                if self.owed == 0 {
                    self.flushed_at = Some(Instant::now());
                }
                self.owed += 1;
                Ok(())
            }
            ClientMessage::TextClear => {
                self.forget_texts();
                self.discarding = false;
                self.utterance_chars = 0;
                self.owed = 0;
                self.flushed_at = None;
                let generation = input.cancel();
                self.client_clears.push(generation);
                Ok(())
            }
        }
    }

    /// Drops the utterance being written (only it): the rest of its text is
    /// ignored up to its `text.done`.
    fn refuse_utterance(&mut self) {
        self.writing.clear();
        self.utterance_chars = 0;
        self.discarding = true;
    }

    fn forget_texts(&mut self) {
        self.writing.clear();
        self.spoken.clear();
        self.spoken_audio = 0.0;
    }

    /// `audio_timestamps` for a chunk that speaks `span` of the current
    /// utterance: its characters, with times spread evenly over the chunk
    /// (providers report which text a chunk speaks, not each character's time).
    fn timestamps_for(
        &mut self,
        span: Option<voxwire_core::TextSpan>,
        seconds: f64,
    ) -> Option<serde_json::Value> {
        let start = self.spoken_audio;
        self.spoken_audio += seconds;
        let text = self.spoken.front()?;
        let span = span?;
        let piece = text.get(span.start..span.end)?;
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

    async fn router_event<S>(&mut self, event: SessionEvent, tx: &mut S) -> Result<(), End>
    where
        S: futures::Sink<Message> + Unpin,
    {
        match event {
            SessionEvent::Audio(chunk) => {
                if let Some(flushed) = self.flushed_at.take() {
                    self.state.metrics.first_audio(flushed.elapsed());
                }
                self.state
                    .metrics
                    .audio_seconds(chunk.duration().as_secs_f64());
                let delta = base64::engine::general_purpose::STANDARD.encode(&chunk.data);
                let mut frame = serde_json::json!({ "type": "audio.delta", "delta": delta });
                if self.timestamps {
                    let seconds = chunk.duration().as_secs_f64();
                    if let Some(stamps) = self.timestamps_for(chunk.span, seconds) {
                        frame["audio_timestamps"] = stamps;
                    }
                }
                send(tx, Message::Text(frame.to_string().into())).await
            }
            SessionEvent::UtteranceDone { .. } => {
                self.state.metrics.utterance_done();
                self.spoken.pop_front();
                self.spoken_audio = 0.0;
                self.owed = self.owed.saturating_sub(1);
                if self.owed > 0 {
                    self.flushed_at = Some(Instant::now());
                }
                send(tx, Message::Text(r#"{"type":"audio.done"}"#.into())).await
            }
            SessionEvent::Cleared { generation } => {
                if let Some(at) = self.client_clears.iter().position(|g| *g <= generation) {
                    self.client_clears.drain(..=at);
                    return send(tx, Message::Text(r#"{"type":"audio.clear"}"#.into())).await;
                }
                Ok(())
            }
            SessionEvent::ProviderChanged { from, to, reason } => {
                self.state.metrics.failover(&from, &reason_label(&reason));
                tracing::info!(%from, %to, %reason, principal = %self.principal.key, "relay session failed over");
                if self.events_wanted {
                    let frame = serde_json::json!({ "type": "voxwire.provider_changed", "from": from, "to": to, "reason": reason });
                    return send(tx, Message::Text(frame.to_string().into())).await;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

async fn send<S>(tx: &mut S, message: Message) -> Result<(), End>
where
    S: futures::Sink<Message> + Unpin,
{
    tx.send(message).await.map_err(|_| End::Gone)
}

/// A short, bounded label for a failover reason (metric cardinality stays low):
/// `http_403` for HTTP statuses, else the error kind (`timeout`, `protocol`, …).
pub(crate) fn reason_label(reason: &str) -> String {
    if let Some(rest) = reason.split("HTTP ").nth(1) {
        let status: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !status.is_empty() {
            return format!("http_{status}");
        }
    }
    reason
        .split(" error at ")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .filter(|kind| kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !kind.is_empty())
        .unwrap_or("other")
        .to_string()
}

fn error_frame(message: &str) -> Message {
    Message::Text(
        serde_json::json!({ "type": "error", "message": message })
            .to_string()
            .into(),
    )
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
