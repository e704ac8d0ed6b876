//! A toy multiplexing protocol on the kit, for the transport driver's
//! shared-socket tests: many utterances at once on one socket by context id,
//! as ElevenLabs multi-stream and Cartesia do.
//!
//! `GET /mux?rate=HZ` with header `authorization: <key>` upgrades. Client
//! text frames: `first:<ctx>` (a context that carries the socket's settings;
//! a second one on the same socket is refused with close 1008, as ElevenLabs
//! does with re-sent `voice_settings`) or `open:<ctx>`; `say:<ctx>:<text>`;
//! `end:<ctx>` (speak it); `keepalive` (counted in [`MuxEcho::keep_alives`]); `cancel:<ctx>` (stop it, then `done:<ctx>`, or
//! with [`MuxEcho::ack_clears`] `cleared:<ctx>`, as a vendor that
//! acknowledges a clear does).
//! Server text frames: `audio:<ctx>:<base64>` (one per character, the kit's
//! pcm16 audio, [`MuxEcho::char_delay`] apart, so contexts interleave),
//! `done:<ctx>`, `error:<ctx>:<text>` (an empty `<ctx>` concerns the socket).
//! Text starting `fail:` gets `error:<ctx>:<rest>` then `done:<ctx>` (a
//! per-context error; the socket goes on); text containing `crash` gets
//! `error::internal crash` then close 1011 (an error without a context id);
//! text containing `hang` gets nothing. More than [`MuxEcho::max_contexts`]
//! live contexts get `error::too many contexts` and close 1008. A socket
//! with no live context and no client message for [`MuxEcho::idle_close`]
//! is closed 1000 "connection idle timeout"; with
//! [`MuxEcho::close_second_context`] a socket is closed so as its second
//! context opens (an idle close racing a request); with
//! [`MuxEcho::silent_from_context`] a socket goes silent as its n-th context
//! opens: it is held open but never read or written again, pings
//! unanswered (a half-open socket); with [`MuxEcho::close_after`] every
//! socket is closed 1001 "going away" that long after it opened, whatever it
//! carries. [`MuxEcho::contexts_opened`] counts contexts opened and
//! [`MuxEcho::ended_texts`] / [`MuxEcho::end_times`] say which texts were
//! ended (`end:<ctx>`) in which order, when. The kit's fault plan applies
//! per upgrade: rejections (e.g. a 429 connection cap) and
//! [`Fault::SlowUpgrade`](super::Fault::SlowUpgrade) (a dial that takes its
//! time, for a caller dropped or a shutdown mid-dial).
//! [`MuxEcho::wait_open_sockets`] waits, within a limit, until a given
//! number of sockets is open (how a test sees a client close its sockets).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Notify};
use voxwire_core::AudioFormat;

use super::audio::expected_audio;
use super::fault::Effects;
use super::{rejection_response, Kit, MockDialect, RequestKind};

/// The multiplexing toy mock's switches and counters.
#[derive(Debug, Clone)]
pub struct MuxEcho {
    /// Live contexts one socket takes (the sixth on ElevenLabs is refused).
    pub max_contexts: usize,
    /// Closes a quiet socket with no live context after this (Cartesia's idle close).
    pub idle_close: Option<Duration>,
    /// The pause between the audio frames of one context.
    pub char_delay: Duration,
    /// Closes a socket 1000 "connection idle timeout" as its second context
    /// opens: a vendor's idle close racing the request.
    pub close_second_context: bool,
    /// Answers a `cancel:<ctx>` with `cleared:<ctx>` (an acknowledged clear)
    /// instead of `done:<ctx>`.
    pub ack_clears: bool,
    /// Goes silent as this context of a socket opens (1 is its first): the
    /// socket stays open, nothing is read or sent on it any more, pings go
    /// unanswered (a half-open connection).
    pub silent_from_context: Option<usize>,
    /// The most live contexts seen on one socket.
    pub peak_contexts: Arc<AtomicUsize>,
    /// `keepalive` messages received (all sockets).
    pub keep_alives: Arc<AtomicUsize>,
    /// Sockets open now.
    pub open_sockets: Arc<AtomicUsize>,
    /// Told each time a socket opens or ends, or a keep-alive comes (see
    /// [`MuxEcho::wait_open_sockets`]).
    pub sockets_changed: Arc<Notify>,
    /// Contexts opened (all sockets).
    pub contexts_opened: Arc<AtomicUsize>,
    /// Each `end:<ctx>` received (all sockets): when, and the context's text.
    pub ends: Arc<Mutex<Vec<(Instant, String)>>>,
    /// Closes each socket 1001 "going away" this long after it opened,
    /// whatever it carries (a vendor restarting its servers).
    pub close_after: Option<Duration>,
}

impl MuxEcho {
    /// Waits until exactly `n` sockets are open, within `limit`; `false` if
    /// they were not by then.
    pub async fn wait_open_sockets(&self, n: usize, limit: Duration) -> bool {
        self.wait_for(|| self.open_sockets.load(Ordering::SeqCst) == n, limit)
            .await
    }

    /// Waits until at least `n` keep-alives came, within `limit`; `false` if
    /// they had not by then.
    pub async fn wait_keep_alives(&self, n: usize, limit: Duration) -> bool {
        self.wait_for(|| self.keep_alives.load(Ordering::SeqCst) >= n, limit)
            .await
    }

    /// The texts of the contexts ended (`end:<ctx>`), in the order they came.
    pub fn ended_texts(&self) -> Vec<String> {
        self.ends_lock().iter().map(|(_, t)| t.clone()).collect()
    }

    /// When each context was ended (`end:<ctx>`), in the order they came.
    pub fn end_times(&self) -> Vec<Instant> {
        self.ends_lock().iter().map(|(at, _)| *at).collect()
    }

    fn ends_lock(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, String)>> {
        self.ends.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `done()` holds, checked at each change, within `limit`.
    async fn wait_for(&self, done: impl Fn() -> bool, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.sockets_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done();
            }
        }
    }
}

impl Default for MuxEcho {
    fn default() -> Self {
        Self {
            max_contexts: 5,
            idle_close: None,
            char_delay: Duration::from_millis(1),
            close_second_context: false,
            ack_clears: false,
            silent_from_context: None,
            peak_contexts: Arc::new(AtomicUsize::new(0)),
            keep_alives: Arc::new(AtomicUsize::new(0)),
            open_sockets: Arc::new(AtomicUsize::new(0)),
            sockets_changed: Arc::new(Notify::new()),
            contexts_opened: Arc::new(AtomicUsize::new(0)),
            ends: Arc::new(Mutex::new(Vec::new())),
            close_after: None,
        }
    }
}

/// The audio the mock sends for `text` at `rate` (one frame per character).
pub fn mux_audio(text: &str, rate: u32) -> Vec<u8> {
    expected_audio(text, AudioFormat::pcm16_mono(rate))
}

#[derive(serde::Deserialize)]
struct Rate {
    rate: Option<u32>,
}

struct Shared {
    config: MuxEcho,
    kit: Arc<Kit>,
}

impl MockDialect for MuxEcho {
    fn name(&self) -> &'static str {
        "mux-echo"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        let shared = Arc::new(Shared {
            config: (*self).clone(),
            kit,
        });
        Router::new().route("/mux", get(upgrade)).with_state(shared)
    }
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Rate>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let kit = &shared.kit;
    let id = kit.record_request(RequestKind::WebSocket, "GET", "/mux", &headers);
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == kit.api_key().as_bytes());
    let (index, fault) = kit.take_fault();
    let effects = Effects::of(&fault);
    if let Some(delay) = effects.upgrade_delay {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = kit.stopped() => {}
        }
    }
    let response = if !authorized {
        (StatusCode::UNAUTHORIZED, "bad key").into_response()
    } else if let Some(r) = effects.reject.as_ref().or(effects.reject_ws.as_ref()) {
        rejection_response(r)
    } else {
        kit.count_upgrade();
        let rate = q.rate.unwrap_or(16_000).clamp(8_000, 48_000);
        let shared = Arc::clone(&shared);
        ws.on_upgrade(move |socket| async move {
            shared.config.open_sockets.fetch_add(1, Ordering::SeqCst);
            shared.config.sockets_changed.notify_waiters();
            tokio::select! {
                () = serve(socket, &shared.config, rate) => {}
                () = shared.kit.stopped() => {}
            }
            shared.config.open_sockets.fetch_sub(1, Ordering::SeqCst);
            shared.config.sockets_changed.notify_waiters();
        })
    };
    let status = response.status().as_u16();
    kit.update(id, |r| {
        r.index = Some(index);
        r.status = status;
    });
    response
}

/// What a context's generation task or the reader asks the writer to send.
enum Out {
    Text(String),
    Close(u16, &'static str),
    /// A context finished generating (its `done` was sent).
    Finished(String),
}

async fn serve(ws: WebSocket, config: &MuxEcho, rate: u32) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let mut texts: HashMap<String, String> = HashMap::new();
    let mut live: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut had_first = false;
    let mut opened = 0usize;
    let idle = config.idle_close.unwrap_or(Duration::from_secs(86_400));
    let far = Duration::from_secs(86_400);
    let going_away = tokio::time::sleep(config.close_after.unwrap_or(far));
    tokio::pin!(going_away);
    loop {
        let quiet = live.is_empty() && texts.is_empty();
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(t)) => {
                    if sink.send(Message::text(t)).await.is_err() { break }
                }
                Some(Out::Finished(c)) => { live.remove(&c); }
                Some(Out::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(t) = message else { continue };
                let t = t.as_str();
                let (verb, rest) = t.split_once(':').unwrap_or((t, ""));
                match verb {
                    "first" | "open" => {
                        if verb == "first" && had_first {
                            let _ = tx.send(Out::Close(1008, "settings may be sent only on the first context"));
                            continue;
                        }
                        had_first |= verb == "first";
                        opened += 1;
                        config.contexts_opened.fetch_add(1, Ordering::SeqCst);
                        if config.silent_from_context == Some(opened) {
                            // Held open, never read again (so no pong either): half-open.
                            std::future::pending::<()>().await;
                        }
                        if opened == 2 && config.close_second_context {
                            let _ = tx.send(Out::Close(1000, "connection idle timeout"));
                            continue;
                        }
                        texts.insert(rest.to_string(), String::new());
                        if texts.len() + live.len() > config.max_contexts {
                            let _ = tx.send(Out::Text("error::too many contexts".into()));
                            let _ = tx.send(Out::Close(1008, "too many contexts"));
                        }
                        let n = texts.len() + live.len();
                        config.peak_contexts.fetch_max(n, Ordering::SeqCst);
                    }
                    "say" => {
                        let Some((c, text)) = rest.split_once(':') else { continue };
                        texts.entry(c.to_string()).or_default().push_str(text);
                    }
                    "end" => {
                        let c = rest.to_string();
                        let Some(text) = texts.remove(&c) else {
                            let _ = tx.send(Out::Text(format!("error:{c}:unknown context")));
                            continue;
                        };
                        config.ends_lock().push((Instant::now(), text.clone()));
                        let task = tokio::spawn(generate(tx.clone(), c.clone(), text, rate, config.char_delay));
                        live.insert(c, task);
                    }
                    "keepalive" => {
                        config.keep_alives.fetch_add(1, Ordering::SeqCst);
                        config.sockets_changed.notify_waiters();
                    }
                    "cancel" => {
                        texts.remove(rest);
                        if let Some(task) = live.remove(rest) {
                            task.abort();
                        }
                        let verb = if config.ack_clears { "cleared" } else { "done" };
                        let _ = tx.send(Out::Text(format!("{verb}:{rest}")));
                    }
                    _ => {
                        let _ = tx.send(Out::Text(format!("error::unknown message {t}")));
                    }
                }
            }
            () = &mut going_away, if config.close_after.is_some() => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "going away".into() }))).await;
                break;
            }
            () = tokio::time::sleep(idle), if quiet => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "connection idle timeout".into() }))).await;
                break;
            }
        }
    }
    for (_, task) in live {
        task.abort();
    }
}

async fn generate(
    tx: mpsc::UnboundedSender<Out>,
    c: String,
    text: String,
    rate: u32,
    delay: Duration,
) {
    if text.contains("hang") {
        return;
    }
    if text.contains("crash") {
        let _ = tx.send(Out::Text("error::internal crash".into()));
        let _ = tx.send(Out::Close(1011, "internal error"));
        return;
    }
    if let Some(m) = text.strip_prefix("fail:") {
        let _ = tx.send(Out::Text(format!("error:{c}:{m}")));
    } else {
        for ch in text.chars() {
            tokio::time::sleep(delay).await;
            let audio = mux_audio(ch.encode_utf8(&mut [0; 4]), rate);
            let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
            if tx.send(Out::Text(format!("audio:{c}:{b64}"))).is_err() {
                return;
            }
        }
    }
    let _ = tx.send(Out::Text(format!("done:{c}")));
    let _ = tx.send(Out::Finished(c));
}
