//! `GET /v1/text-to-speech/{voice_id}/multi-stream-input`: ElevenLabs'
//! multi-context socket, as the notes describe it.
//!
//! The key in `xi-api-key` (else 403 at the upgrade, as for `eleven_v3`);
//! `model_id`, `output_format` (default mp3) and `sync_alignment` in the
//! query. Client JSON: `{"text":" ","context_id","voice_settings"?}` opens a
//! context (`voice_settings` after the socket's first context closes the
//! socket 1008, as the vendor does when they are sent again); `text`
//! appends; `flush: true` speaks what is buffered (audio in messages of
//! [`CHARS_PER_LINE`](super::CHARS_PER_LINE) characters,
//! [`Switches::socket_chunk_delay`](super::Switches) apart, with
//! chunk-relative `alignment` in milliseconds when `sync_alignment`);
//! `close_context: true` ends a context: its flushed audio still arrives,
//! then `{"isFinal":true}` (a bare flush never brings it); `{"text":""}` on
//! a context is a keep-alive; `close_socket: true` closes 1000. A sixth live
//! context gets an error frame `max_active_conversations` and close 1008.
//! No client message for [`Switches::socket_inactivity`](super::Switches)
//! closes 1008 "Have not received a new text input…". With
//! [`Switches::quota_exhausted`](super::Switches) every context ends with
//! `isFinal` and no audio (what the vendor does); with
//! [`Switches::snake_case_socket`](super::Switches) the server spells
//! `context_id`, `is_final` and `charsDurationsMs`. Text containing `crash`
//! gets an error frame without a context id, then close 1011; text
//! containing `hang` is never spoken. The kit's fault plan applies per
//! upgrade (a 429 connection cap, say).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::body::{audio_for, output_format, Wire};
use super::{Switches, CHARS_PER_LINE};
use crate::kit::audio::MS_PER_CHAR;
use crate::kit::{Due, Effects, UtteranceEffects};

/// What the sockets of one mock counted.
#[derive(Debug, Default)]
pub struct SocketCounts {
    /// Sockets open now.
    pub open: AtomicUsize,
    /// Sockets opened so far.
    pub opened: AtomicUsize,
    /// The most live contexts seen on one socket.
    pub peak_contexts: AtomicUsize,
    /// Contexts opened (all sockets).
    pub contexts: AtomicUsize,
    /// Context keep-alives (`{"text":"","context_id"}`) received.
    pub keep_alives: AtomicUsize,
    /// Messages carrying `voice_settings` (all sockets).
    pub voice_settings: AtomicUsize,
    /// Sockets the mock closed with 1008 (settings sent again, a sixth
    /// context, the input timeout).
    pub policy_closes: AtomicUsize,
}

/// What the socket's query asked for.
pub(super) struct Asked {
    pub wire: Wire,
    pub aligned: bool,
}

impl Asked {
    /// Reads the query; `None` for an `output_format` the mock does not serve.
    pub(super) fn of(query: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            wire: Wire::parse(output_format(query))?,
            aligned: query.get("sync_alignment").is_some_and(|v| v == "true"),
        })
    }
}

enum Out {
    Text(String),
    Binary(Vec<u8>),
    Close(u16, String),
    /// The connection breaks without a close frame.
    Abort,
    /// A context's flushed audio was all sent.
    Spoken(String),
}

#[derive(Default)]
struct Context {
    text: String,
    /// Its flushed audio is being sent.
    speaking: bool,
    /// `close_context` came: `isFinal` once its audio is sent.
    closing: bool,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Cuts a close reason to the 123 bytes a close frame holds, on a char boundary.
fn reason(text: &str) -> String {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// A context's end: `{"isFinal":true,"contextId":…}` in the switched spelling.
fn ended(final_key: &str, id_key: &str, context: &str) -> String {
    let mut m = json!({});
    m[final_key] = json!(true);
    m[id_key] = json!(context);
    m.to_string()
}

/// Serves one socket until it closes.
pub(super) async fn serve(
    ws: WebSocket,
    asked: Asked,
    sw: Switches,
    counts: Arc<SocketCounts>,
    effects: Effects,
) {
    counts.open.fetch_add(1, Ordering::SeqCst);
    counts.opened.fetch_add(1, Ordering::SeqCst);
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let mut contexts: HashMap<String, Context> = HashMap::new();
    let mut had_settings = false;
    let mut spoken = 0usize;
    let inactivity = sw.socket_inactivity;
    let (id_key, final_key) = if sw.snake_case_socket {
        ("context_id", "is_final")
    } else {
        ("contextId", "isFinal")
    };
    loop {
        let quiet = tokio::time::sleep(inactivity);
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(t)) => {
                    if sink.send(Message::text(t)).await.is_err() { break }
                }
                Some(Out::Binary(b)) => {
                    if sink.send(Message::binary(b)).await.is_err() { break }
                }
                Some(Out::Abort) => break,
                Some(Out::Spoken(c)) => {
                    let Some(ctx) = contexts.get_mut(&c) else { continue };
                    ctx.speaking = false;
                    ctx.task = None;
                    if ctx.closing {
                        contexts.remove(&c);
                        let end = ended(final_key, id_key, &c);
                        if sink.send(Message::text(end)).await.is_err() { break }
                    }
                }
                Some(Out::Close(code, why)) => {
                    if code == 1008 {
                        counts.policy_closes.fetch_add(1, Ordering::SeqCst);
                    }
                    let frame = CloseFrame { code, reason: reason(&why).into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                None => break,
            },
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(t) = message else { continue };
                let Ok(m) = serde_json::from_str::<Value>(t.as_str()) else {
                    let _ = tx.send(Out::Close(1008, "invalid JSON".into()));
                    continue;
                };
                if m["close_socket"] == json!(true) {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
                    break;
                }
                let c = m["context_id"].as_str().unwrap_or("default").to_string();
                if !m["voice_settings"].is_null() {
                    counts.voice_settings.fetch_add(1, Ordering::SeqCst);
                    if had_settings {
                        let why = "voice_settings field must be provided in the first message and then either be not provided or not change";
                        let _ = tx.send(Out::Text(json!({ "message": why, "error": "policy_violation", "code": 1008 }).to_string()));
                        let _ = tx.send(Out::Close(1008, why.into()));
                        continue;
                    }
                    had_settings = true;
                }
                let text = m["text"].as_str();
                if !contexts.contains_key(&c) {
                    if text.is_none() {
                        continue; // a flush or close for a context already ended
                    }
                    contexts.insert(c.clone(), Context::default());
                    counts.contexts.fetch_add(1, Ordering::SeqCst);
                    let live = contexts.len();
                    counts.peak_contexts.fetch_max(live, Ordering::SeqCst);
                    if live > super::MAX_SOCKET_CONTEXTS {
                        let why = "Maximum simultaneous contexts per WebSocket connection exceeded (5)";
                        let _ = tx.send(Out::Text(json!({ "message": why, "error": "max_active_conversations", "code": 1008 }).to_string()));
                        let _ = tx.send(Out::Close(1008, why.into()));
                        continue;
                    }
                }
                let Some(ctx) = contexts.get_mut(&c) else { continue };
                match text {
                    Some("") => { counts.keep_alives.fetch_add(1, Ordering::SeqCst); }
                    Some(" ") if ctx.text.is_empty() => {}
                    Some(more) => ctx.text.push_str(more),
                    None => {}
                }
                let flush = m["flush"] == json!(true);
                let close = m["close_context"] == json!(true);
                if (flush || close) && !ctx.speaking && !ctx.text.trim().is_empty() {
                    let said = std::mem::take(&mut ctx.text);
                    if said.contains("crash") {
                        // The error and the close go out now: nothing follows them.
                        let error = json!({ "message": "internal error", "error": "internal" }).to_string();
                        let _ = sink.send(Message::text(error)).await;
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1011, reason: "internal error".into() }))).await;
                        break;
                    }
                    ctx.speaking = true;
                    let fx = effects.for_utterance(spoken);
                    spoken += 1;
                    let plan = Speak { c: c.clone(), text: said, asked: Asked { wire: asked.wire, aligned: asked.aligned }, zero: sw.quota_exhausted || fx.zero_audio, delay: fx.drip.unwrap_or(sw.socket_chunk_delay), id_key, snake: sw.snake_case_socket, fx };
                    ctx.task = Some(tokio::spawn(plan.run(tx.clone())));
                }
                if close {
                    ctx.closing = true;
                    if !ctx.speaking {
                        contexts.remove(&c);
                        let end = ended(final_key, id_key, &c);
                        if sink.send(Message::text(end)).await.is_err() { break }
                    }
                }
            }
            () = quiet => {
                counts.policy_closes.fetch_add(1, Ordering::SeqCst);
                let why = format!("Have not received a new text input within the timeout of {} seconds", inactivity.as_secs());
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1008, reason: reason(&why).into() }))).await;
                break;
            }
        }
    }
    for (_, ctx) in contexts {
        if let Some(task) = ctx.task {
            task.abort();
        }
    }
    counts.open.fetch_sub(1, Ordering::SeqCst);
}

/// A context's flushed text, spoken as audio messages.
struct Speak {
    c: String,
    text: String,
    asked: Asked,
    zero: bool,
    delay: Duration,
    id_key: &'static str,
    snake: bool,
    /// The kit's faults for this context (stall, close, error, injections).
    fx: UtteranceEffects,
}

impl Speak {
    async fn run(self, tx: mpsc::UnboundedSender<Out>) {
        if self.text.contains("hang") {
            return;
        }
        let mut fx = self.fx.clone();
        if fx.bad_json {
            let _ = tx.send(Out::Text("{not json".into()));
        }
        if fx.bad_base64 {
            let mut m = json!({ "audio": "!!not base64!!" });
            m[self.id_key] = json!(self.c);
            let _ = tx.send(Out::Text(m.to_string()));
        }
        if fx.binary_frame {
            let _ = tx.send(Out::Binary(vec![0, 1, 2, 3]));
        }
        let mut sent = 0usize;
        if !self.zero {
            let chars: Vec<char> = self.text.chars().collect();
            let durations_key = if self.snake {
                "charsDurationsMs"
            } else {
                "charDurationsMs"
            };
            for part in chars.chunks(CHARS_PER_LINE) {
                loop {
                    match fx.due(sent) {
                        Due::Audio => break,
                        Due::Stall(pause) => tokio::time::sleep(pause).await,
                        Due::Close { abrupt } => {
                            let _ = tx.send(if abrupt {
                                Out::Abort
                            } else {
                                Out::Close(1011, "internal error".into())
                            });
                            return;
                        }
                        Due::Error(message) => {
                            let mut m = json!({ "message": message, "error": "internal" });
                            m[self.id_key] = json!(self.c);
                            let _ = tx.send(Out::Text(m.to_string()));
                            let _ = tx.send(Out::Spoken(self.c));
                            return;
                        }
                    }
                }
                tokio::time::sleep(self.delay).await;
                let piece: String = part.iter().collect();
                let audio = audio_for(&piece, self.asked.wire);
                sent += audio.len();
                let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
                let mut m = json!({ "audio": b64 });
                m[self.id_key] = json!(self.c);
                if self.asked.aligned {
                    let ms = f64::from(MS_PER_CHAR);
                    let mut al = json!({
                        "chars": part.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                        "charStartTimesMs": (0..part.len()).map(|i| i as f64 * ms).collect::<Vec<_>>(),
                    });
                    al[durations_key] = json!(vec![ms; part.len()]);
                    m["alignment"] = al.clone();
                    m["normalizedAlignment"] = al;
                }
                if tx.send(Out::Text(m.to_string())).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Out::Spoken(self.c));
    }
}
