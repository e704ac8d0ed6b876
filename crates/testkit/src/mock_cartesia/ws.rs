//! `GET /tts/websocket`: Cartesia's streaming socket, many contexts at once
//! by `context_id` (wire notes "WebSocket protocol", "Limits", "What a
//! faithful mock must do" 1–4).
//!
//! - The upgrade wants a key (`Authorization: Bearer` — the SDK's —,
//!   `X-API-Key`, `?api_key` or `?access_token`) and a version
//!   (`Cartesia-Version` header — the SDK's — or `?cartesia_version`);
//!   401 otherwise. More open sockets than [`WsConfig::max_connections`]
//!   (default 10 × the concurrency, the documented cap) get a 429; the
//!   kit's fault plan applies per upgrade (a scripted 429, say). The
//!   answer names `X-Request-Id`.
//! - Client frames (JSON): a generation input (`context_id`, `transcript`,
//!   `continue`, `model_id`, `voice` in any of its three shapes,
//!   `output_format` raw, `language`?, `add_timestamps`?) or
//!   `{"context_id","cancel":true}`. Inputs of a context are concatenated
//!   verbatim and spoken as they come: `timestamps` (`word_timestamps` in
//!   seconds from the start of the context's audio) ahead of the `chunk`s
//!   they cover when `add_timestamps` is set — none for a model or
//!   language in [`WsConfig::untimed`], nor on `sonic` outside en/de/es/fr —
//!   then `chunk`s of [`CHARS_PER_EVENT`](super::CHARS_PER_EVENT)
//!   characters of the kit's audio, and `done` once the `continue: false`
//!   input is spoken. A continued context whose fields differ is refused
//!   (400 then `done`), except the empty `continue: false` that ends it.
//! - A new context over [`WsConfig::concurrency`] live ones (counted
//!   across the mock's sockets, as Cartesia counts per account; per socket
//!   with [`WsConfig::per_socket`]) gets `error` 429 then `done`.
//! - `cancel`: work not started is dropped, up to
//!   [`WsConfig::late_chunks_after_cancel`] chunks already "generating"
//!   still come, then `done` (the docs' example; the context counts
//!   against the concurrency until then).
//! - A transcript starting `fail:` gets a per-context `error` 400 then
//!   `done` (the socket goes on); one containing `crash` gets an `error`
//!   without a context, then close 1011.
//! - A socket with no live context and no client message for
//!   [`WsConfig::idle_close`] (5 minutes by default) is closed 1000
//!   "connection idle timeout"; with [`WsConfig::silent_from_context`] it
//!   goes silent as its n-th context opens (half-open: never read or
//!   written again, pings unanswered).
//! - Kit faults per context (the n-th context of a socket takes utterance
//!   fault n): stalls, drips, zero audio, an `error` (500, naming the
//!   context, no `done`), a close (1011 or abrupt), bad JSON, bad base64, a
//!   binary frame; `ConnectionDeadline` closes the socket 1001 at that age.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use super::request::{audio_for, voice_id, Container};
use super::{dated, error_body, ErrorShape, CHARS_PER_EVENT, UNLISTED_VOICE, VOICES};
use crate::kit::audio::{expected_words, MS_PER_CHAR};
use crate::kit::{Due, Effects, KeyPlace, Kit, RequestKind, UtteranceEffects};

/// The socket's switches and counters (cloned into the server; the
/// counters are shared).
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Live contexts allowed at once (the plan's concurrency); a new one
    /// over it is answered `error` 429 then `done`.
    pub concurrency: usize,
    /// Count the limit per socket rather than across all sockets.
    pub per_socket: bool,
    /// Open sockets allowed (`None`: 10 × `concurrency`); over it, 429 at the upgrade.
    pub max_connections: Option<usize>,
    /// Close a socket with no live context, quiet this long (1000 "connection idle timeout").
    pub idle_close: Duration,
    /// The pause before each `chunk`.
    pub chunk_delay: Duration,
    /// Go silent as this context of a socket opens (1 is its first).
    pub silent_from_context: Option<usize>,
    /// Model ids or languages for which `add_timestamps` yields nothing.
    pub untimed: Vec<String>,
    /// Chunks still sent for a context after its `cancel`.
    pub late_chunks_after_cancel: usize,
    /// What happened.
    pub stats: Arc<WsStats>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            concurrency: 15,
            per_socket: false,
            max_connections: None,
            idle_close: Duration::from_secs(300),
            chunk_delay: Duration::from_millis(1),
            silent_from_context: None,
            untimed: Vec::new(),
            late_chunks_after_cancel: 1,
            stats: Arc::new(WsStats::default()),
        }
    }
}

/// The socket's counters (all sockets of the mock).
#[derive(Debug, Default)]
pub struct WsStats {
    /// Sockets open now.
    pub open_sockets: AtomicUsize,
    /// Sockets ever opened.
    pub sockets_opened: AtomicUsize,
    /// Live contexts now, all sockets.
    pub live: AtomicUsize,
    /// The most live contexts seen at once, all sockets.
    pub peak_live: AtomicUsize,
    /// The most live contexts seen at once on one socket.
    pub peak_per_socket: AtomicUsize,
    /// Contexts accepted.
    pub contexts: AtomicUsize,
    /// Contexts refused over the concurrency (429).
    pub over_limit: AtomicUsize,
    /// `cancel` messages received.
    pub cancels: AtomicUsize,
    /// Upgrades refused over the connection cap.
    pub refused_upgrades: AtomicUsize,
    /// Sockets closed idle.
    pub idle_closes: AtomicUsize,
    /// Told when a socket opens or ends, or a context ends.
    pub changed: Notify,
}

impl WsStats {
    /// Waits until `done()` holds, checked at each change, within `limit`.
    pub async fn wait_for(&self, done: impl Fn(&Self) -> bool, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(self);
            }
        }
    }

    fn get(a: &AtomicUsize) -> usize {
        a.load(Ordering::SeqCst)
    }

    /// Live contexts now (all sockets).
    pub fn live_now(&self) -> usize {
        Self::get(&self.live)
    }
}

/// The mock's shared state for the socket route.
pub(super) struct WsState {
    pub config: WsConfig,
    pub kit: Arc<Kit>,
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Where the upgrade carries its key: a Bearer token (the SDK's), `X-API-Key`,
/// `?api_key` or `?access_token`.
const SOCKET_KEY: [KeyPlace; 4] = [
    KeyPlace::BEARER,
    KeyPlace::Header("x-api-key"),
    KeyPlace::Query("api_key"),
    KeyPlace::Query("access_token"),
];

/// The upgrade: key, version, connection cap, kit faults.
pub(super) async fn upgrade(
    State(state): State<Arc<WsState>>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let kit = &state.kit;
    let id = kit.record_http(RequestKind::WebSocket, "GET", &uri, &headers, None);
    let key = kit.check_key(&SOCKET_KEY, &headers, Some(&uri));
    let version = query
        .get("cartesia_version")
        .map(String::as_str)
        .or_else(|| text(&headers, "cartesia-version"));
    let shape = ErrorShape::of(version);
    let refuse = |status: u16, code: &str, message: &str| {
        let s = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        crate::kit::json_response(s, error_body(shape, status, code, message))
    };
    let response = if !key.accepted() {
        refuse(401, "invalid_api_key", "Invalid API key")
    } else if !version.is_some_and(dated) {
        let e = "Cartesia-Version header is missing or not a YYYY-MM-DD date";
        refuse(401, "invalid_version", e)
    } else {
        let cap = state
            .config
            .max_connections
            .unwrap_or(10 * state.config.concurrency.max(1));
        let stats = &state.config.stats;
        if WsStats::get(&stats.open_sockets) >= cap {
            stats.refused_upgrades.fetch_add(1, Ordering::SeqCst);
            refuse(
                429,
                "too_many_connections",
                "Too many concurrent connections",
            )
        } else {
            match kit.effects_for(id, true) {
                Err(rejected) => *rejected,
                Ok(effects) => {
                    kit.count_upgrade();
                    let state = Arc::clone(&state);
                    stats.open_sockets.fetch_add(1, Ordering::SeqCst);
                    stats.sockets_opened.fetch_add(1, Ordering::SeqCst);
                    ws.on_upgrade(move |socket| async move {
                        stats_changed(&state.config.stats);
                        tokio::select! {
                            () = serve(socket, &state, id, effects) => {}
                            () = state.kit.stopped() => {}
                        }
                        state
                            .config
                            .stats
                            .open_sockets
                            .fetch_sub(1, Ordering::SeqCst);
                        stats_changed(&state.config.stats);
                    })
                }
            }
        }
    };
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&format!("req-mock-ws-{id}")) {
        response.headers_mut().insert("x-request-id", v);
    }
    kit.answered(id, response)
}

fn stats_changed(stats: &WsStats) {
    stats.changed.notify_waiters();
}

/// What a context's task or the reader asks the writer to do.
enum Out {
    Text(String),
    Binary(Vec<u8>),
    Close(u16, &'static str),
    /// Drop the connection without a close frame.
    Abort,
    /// A context finished (its `done` was sent): free its slot.
    Finished(String, String),
}

/// What the reader hands a context's task.
enum Input {
    Piece(String),
    End,
    Cancel,
}

/// One context on a socket.
struct Ctx {
    /// The fields every input must repeat (model, voice, format, language).
    fields: Value,
    tx: mpsc::UnboundedSender<Input>,
    cancelled: Arc<AtomicBool>,
}

fn fields(v: &Value) -> Value {
    json!({
        "model_id": v["model_id"],
        "voice": voice_id(&v["voice"]),
        "output_format": v["output_format"],
        "language": v["language"],
    })
}

fn reply(kind: &str, context: &str, extra: Value) -> String {
    let mut m =
        json!({ "type": kind, "context_id": context, "status_code": 206, "done": kind == "done" });
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), extra) {
        m.extend(extra);
    }
    m.to_string()
}

fn error_frame(context: Option<&str>, status: u16, code: &str, text: &str) -> String {
    let mut v: Value = serde_json::from_str(&error_body(ErrorShape::Titled, status, code, text))
        .unwrap_or_default();
    v["done"] = json!(context.is_some());
    if let Some(c) = context {
        v["context_id"] = json!(c);
    }
    v["error"] = json!(text);
    v.to_string()
}

/// Whether `add_timestamps` yields times for this model and language.
fn timed(config: &WsConfig, v: &Value) -> bool {
    let model = v["model_id"].as_str().unwrap_or_default();
    let language = v["language"].as_str().unwrap_or("en");
    if config.untimed.iter().any(|u| u == model || u == language) {
        return false;
    }
    model != "sonic" || ["en", "de", "es", "fr"].contains(&language)
}

/// Checks a generation input as the API does; the refusal's status, code, text.
fn check(v: &Value) -> Result<Container, (u16, &'static str, String)> {
    let model = v["model_id"].as_str().unwrap_or("sonic-latest");
    if !model.starts_with("sonic") {
        return Err((404, "model_not_found", format!("Model {model} not found")));
    }
    if !v["transcript"].is_string() {
        return Err((400, "invalid_request", "transcript is required".into()));
    }
    let format = if v["output_format"].is_null() {
        json!({"container":"raw","encoding":"pcm_f32le","sample_rate":44_100})
    } else {
        v["output_format"].clone()
    };
    let container = match Container::parse(&format) {
        Some(c @ (Container::Raw(_) | Container::F32(_))) => c,
        _ => {
            let e = "output_format must be raw on the WebSocket";
            return Err((400, "invalid_output_format", e.into()));
        }
    };
    if !v["voice"].is_null() {
        let Some(voice) = voice_id(&v["voice"]) else {
            let e = "voice must be an id or {\"id\": ...}";
            return Err((400, "invalid_voice", e.into()));
        };
        if !VOICES.iter().any(|(id, ..)| *id == voice) && voice != UNLISTED_VOICE {
            return Err((404, "voice_not_found", format!("Voice {voice} not found")));
        }
    }
    Ok(container)
}

async fn serve(ws: WebSocket, state: &WsState, id: u64, effects: Effects) {
    let config = &state.config;
    let stats = &config.stats;
    let kit = &state.kit;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let mut contexts: HashMap<String, Ctx> = HashMap::new();
    let mut refused: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut opened = 0usize;
    let far = Duration::from_secs(86_400);
    let deadline = tokio::time::sleep(effects.deadline.unwrap_or(far));
    tokio::pin!(deadline);
    loop {
        let quiet = contexts.is_empty();
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(t)) => {
                    if sink.send(Message::text(t)).await.is_err() { break }
                }
                Some(Out::Binary(b)) => {
                    if sink.send(Message::binary(b)).await.is_err() { break }
                }
                Some(Out::Finished(c, spoken)) => {
                    if contexts.remove(&c).is_some() {
                        stats.live.fetch_sub(1, Ordering::SeqCst);
                        kit.update(id, |r| r.utterances.push(spoken));
                        stats_changed(stats);
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                Some(Out::Abort) | None => break,
            },
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(t) = message else { continue };
                kit.record_message(id, kit.masker(&HeaderMap::new()).mask(t.as_str()));
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    let _ = tx.send(Out::Text(error_frame(None, 400, "invalid_json", "invalid JSON")));
                    continue;
                };
                let Some(c) = v["context_id"].as_str().map(str::to_string) else {
                    let e = "context_id is required";
                    let _ = tx.send(Out::Text(error_frame(None, 400, "invalid_request", e)));
                    continue;
                };
                if v["cancel"].as_bool() == Some(true) {
                    stats.cancels.fetch_add(1, Ordering::SeqCst);
                    if let Some(ctx) = contexts.get(&c) {
                        ctx.cancelled.store(true, Ordering::SeqCst);
                        let _ = ctx.tx.send(Input::Cancel);
                    }
                    continue;
                }
                let more = v["continue"].as_bool().unwrap_or(false);
                let transcript = v["transcript"].as_str().unwrap_or_default().to_string();
                if refused.contains(&c) {
                    if !more { refused.remove(&c); }
                    continue;
                }
                if let Some(ctx) = contexts.get(&c) {
                    let closing = transcript.is_empty() && !more;
                    if !closing && fields(&v) != ctx.fields {
                        let e = "every input of a context must repeat its model, voice, format and language";
                        let _ = tx.send(Out::Text(error_frame(Some(&c), 400, "invalid_request", e)));
                        let _ = ctx.tx.send(Input::Cancel);
                        ctx.cancelled.store(true, Ordering::SeqCst);
                        continue;
                    }
                    if !transcript.is_empty() { let _ = ctx.tx.send(Input::Piece(transcript)); }
                    if !more { let _ = ctx.tx.send(Input::End); }
                    continue;
                }
                // A new context.
                opened += 1;
                if config.silent_from_context == Some(opened) {
                    // Held open, never read or written again (no pong either): half-open.
                    std::future::pending::<()>().await;
                }
                let container = match check(&v) {
                    Ok(c) => c,
                    Err((status, code, e)) => {
                        let _ = tx.send(Out::Text(error_frame(Some(&c), status, code, &e)));
                        let _ = tx.send(Out::Text(reply("done", &c, json!({}))));
                        if more { refused.insert(c); }
                        continue;
                    }
                };
                let live = if config.per_socket { contexts.len() } else { stats.live_now() };
                if live >= config.concurrency.max(1) {
                    stats.over_limit.fetch_add(1, Ordering::SeqCst);
                    let e = "Concurrency limit exceeded for your plan";
                    let _ = tx.send(Out::Text(error_frame(Some(&c), 429, "concurrency_limit_exceeded", e)));
                    let _ = tx.send(Out::Text(reply("done", &c, json!({}))));
                    if more { refused.insert(c); }
                    continue;
                }
                let now = stats.live.fetch_add(1, Ordering::SeqCst) + 1;
                stats.peak_live.fetch_max(now, Ordering::SeqCst);
                stats.peak_per_socket.fetch_max(contexts.len() + 1, Ordering::SeqCst);
                stats.contexts.fetch_add(1, Ordering::SeqCst);
                let (itx, irx) = mpsc::unbounded_channel();
                let cancelled = Arc::new(AtomicBool::new(false));
                let job = Job {
                    out: tx.clone(),
                    context: c.clone(),
                    container,
                    timestamps: v["add_timestamps"].as_bool() == Some(true) && timed(config, &v),
                    fx: effects.for_utterance(opened - 1),
                    delay: config.chunk_delay,
                    late: config.late_chunks_after_cancel,
                    cancelled: cancelled.clone(),
                };
                tokio::spawn(job.run(irx));
                if !transcript.is_empty() { let _ = itx.send(Input::Piece(transcript)); }
                if !more { let _ = itx.send(Input::End); }
                contexts.insert(c, Ctx { fields: fields(&v), tx: itx, cancelled });
            }
            () = &mut deadline, if effects.deadline.is_some() => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "going away".into() }))).await;
                break;
            }
            () = tokio::time::sleep(config.idle_close), if quiet => {
                stats.idle_closes.fetch_add(1, Ordering::SeqCst);
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "connection idle timeout".into() }))).await;
                break;
            }
        }
    }
    let left = contexts.len();
    if left > 0 {
        stats.live.fetch_sub(left, Ordering::SeqCst);
        stats_changed(stats);
    }
    for ctx in contexts.values() {
        ctx.cancelled.store(true, Ordering::SeqCst);
        let _ = ctx.tx.send(Input::Cancel);
    }
}

/// One context's generation.
struct Job {
    out: mpsc::UnboundedSender<Out>,
    context: String,
    container: Container,
    timestamps: bool,
    fx: UtteranceEffects,
    delay: Duration,
    late: usize,
    cancelled: Arc<AtomicBool>,
}

impl Job {
    fn send(&self, text: String) -> bool {
        self.out.send(Out::Text(text)).is_ok()
    }

    async fn run(self, mut rx: mpsc::UnboundedReceiver<Input>) {
        let c = self.context.clone();
        let mut spoken = String::new();
        let mut chars_done = 0usize;
        let mut sent = 0usize;
        let mut fx = self.fx.clone();
        let mut late = self.late;
        let mut injected = false;
        while let Some(input) = rx.recv().await {
            let piece = match input {
                Input::Piece(p) => p,
                Input::End | Input::Cancel => break,
            };
            if piece.contains("crash") {
                let _ = self.send(error_frame(None, 500, "internal_error", "internal crash"));
                let _ = self.out.send(Out::Close(1011, "internal error"));
                return;
            }
            if let Some(m) = piece.strip_prefix("fail:") {
                let _ = self.send(error_frame(Some(&c), 400, "invalid_request", m));
                break;
            }
            if !injected && self.fx.injects() {
                injected = true;
                if self.fx.bad_json {
                    let _ = self.send("{not json".into());
                } else if self.fx.bad_base64 {
                    let _ = self.send(reply(
                        "chunk",
                        &c,
                        json!({"data": "!!not base64!!", "step_time": 1.0}),
                    ));
                } else {
                    let _ = self.out.send(Out::Binary(vec![0, 1, 2, 3]));
                }
            }
            spoken.push_str(&piece);
            let chars: Vec<char> = piece.chars().collect();
            if self.timestamps {
                let offset = Duration::from_millis(u64::from(MS_PER_CHAR)) * chars_done as u32;
                let words = expected_words(&piece);
                let stamps = json!({
                    "words": words.iter().map(|w| &piece[w.span.start..w.span.end]).collect::<Vec<_>>(),
                    "start": words.iter().map(|w| (w.start + offset).as_secs_f64()).collect::<Vec<_>>(),
                    "end": words.iter().map(|w| (w.end + offset).as_secs_f64()).collect::<Vec<_>>(),
                });
                if !words.is_empty() {
                    let _ = self.send(reply(
                        "timestamps",
                        &c,
                        json!({ "word_timestamps": stamps }),
                    ));
                }
            }
            chars_done += chars.len();
            if self.fx.zero_audio {
                continue;
            }
            for part in chars.chunks(CHARS_PER_EVENT) {
                if self.cancelled.load(Ordering::SeqCst) {
                    if late == 0 {
                        break;
                    }
                    late -= 1;
                }
                loop {
                    match fx.due(sent) {
                        Due::Audio => break,
                        Due::Stall(pause) => tokio::time::sleep(pause).await,
                        Due::Close { abrupt } => {
                            let _ = self.out.send(if abrupt {
                                Out::Abort
                            } else {
                                Out::Close(1011, "internal error")
                            });
                            return;
                        }
                        Due::Error(m) => {
                            let _ = self.send(error_frame(Some(&c), 500, "internal_error", &m));
                            return;
                        }
                    }
                }
                tokio::time::sleep(self.fx.drip.filter(|_| sent > 0).unwrap_or(self.delay)).await;
                let text: String = part.iter().collect();
                let audio = audio_for(&text, self.container);
                sent += audio.len();
                let data = base64::engine::general_purpose::STANDARD.encode(audio);
                if !self.send(reply(
                    "chunk",
                    &c,
                    json!({"data": data, "step_time": 12.5, "flush_id": 1}),
                )) {
                    return;
                }
            }
            if self.cancelled.load(Ordering::SeqCst) {
                break;
            }
        }
        // Freed before `done` leaves, so a client that opens a context on
        // seeing it is never counted against the one that ended.
        let _ = self.out.send(Out::Finished(c.clone(), spoken));
        let _ = self.send(reply("done", &c, json!({})));
    }
}
