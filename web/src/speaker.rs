//! The `Speaker` JavaScript class.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use base64::Engine as _;
use js_sys::{Function, Object, Promise, Reflect};
use voxwire_core::ErrorKind;
use voxwire_xai::protocol::{parse_server_message, ClientMessage, Incoming, ServerMessage};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::options::Options;
use crate::player::Player;

/// Characters one utterance may hold (the relay's default bound).
const MAX_UTTERANCE_CHARS: usize = 15_000;

/// An utterance sent and not yet played out.
struct Pending {
    resolve: Function,
    reject: Function,
    sent_at: f64,
    first_audio: bool,
}

#[derive(Default, Clone, Copy)]
struct Stats {
    time_to_first_audio_ms: Option<f64>,
    time_to_first_sound_ms: Option<f64>,
    chunks: u32,
    bytes: u64,
}

struct Inner {
    options: Options,
    socket: Option<WebSocket>,
    open: Option<Promise>,
    player: Option<Player>,
    handlers: HashMap<String, Function>,
    pending: VecDeque<Pending>,
    stats: Stats,
    written: usize,
    /// Keeps the socket callbacks alive as long as the speaker.
    callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
    /// JavaScript calls to make once the state is no longer borrowed: a handler
    /// may call back into the speaker (e.g. `stats()`), which must not find it
    /// borrowed.
    outbox: Vec<(Function, JsValue)>,
}

/// Runs what a state change queued, after the borrow has been released.
fn deliver(inner: &Rc<RefCell<Inner>>) {
    let calls = std::mem::take(&mut inner.borrow_mut().outbox);
    for (f, arg) in calls {
        let _ = f.call1(&JsValue::NULL, &arg);
    }
}

/// Streams speech from an xAI-protocol endpoint and plays it.
#[wasm_bindgen]
pub struct Speaker {
    inner: Rc<RefCell<Inner>>,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// `{ kind, message }`, the shape of every error this client reports.
fn error_value(kind: ErrorKind, message: &str) -> JsValue {
    let e = Object::new();
    let _ = Reflect::set(&e, &"kind".into(), &kind.as_str().into());
    let _ = Reflect::set(&e, &"message".into(), &message.into());
    e.into()
}

/// The kind of an `error` frame, read from its text as voxwire-xai does.
fn frame_kind(text: &str) -> ErrorKind {
    let lower = text.to_ascii_lowercase();
    if ["unauthorized", "forbidden", "api key", "token"]
        .iter()
        .any(|w| lower.contains(w))
    {
        ErrorKind::Auth
    } else if ["rate limit", "too many"].iter().any(|w| lower.contains(w)) {
        ErrorKind::RateLimited
    } else if ["invalid", "unknown", "over ", "not supported", "too long"]
        .iter()
        .any(|w| lower.contains(w))
    {
        ErrorKind::InvalidRequest
    } else {
        ErrorKind::Unavailable
    }
}

impl Inner {
    fn emit(&mut self, event: &str, detail: &JsValue) {
        if let Some(f) = self.handlers.get(event) {
            self.outbox.push((f.clone(), detail.clone()));
        }
    }

    fn fail_all(&mut self, kind: ErrorKind, message: &str) {
        let error = error_value(kind, message);
        self.emit("error", &error);
        let rejects: Vec<Function> = self.pending.drain(..).map(|p| p.reject).collect();
        for reject in rejects {
            self.outbox.push((reject, error.clone()));
        }
    }

    fn send(&self, message: &ClientMessage) -> Result<(), JsValue> {
        match &self.socket {
            Some(s) if s.ready_state() == WebSocket::OPEN => s.send_with_str(&message.to_json()),
            _ => Err(error_value(
                ErrorKind::Unavailable,
                "not connected: call connect() first",
            )),
        }
    }

    fn on_text(&mut self, text: &str) {
        let message = match parse_server_message(text) {
            Ok(Incoming::Known(m)) => m,
            Ok(Incoming::Unknown(kind)) => {
                if kind == "voxwire.provider_changed" {
                    let detail = js_sys::JSON::parse(text).unwrap_or(JsValue::NULL);
                    self.emit("failover", &detail);
                }
                return;
            }
            Err(why) => {
                return self.fail_all(ErrorKind::Protocol, &format!("bad server message: {why}"))
            }
        };
        match message {
            ServerMessage::AudioDelta { delta, .. } => {
                let Some(b64) = delta else { return };
                let bytes = match base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
                    Ok(b) => b,
                    Err(e) => {
                        return self.fail_all(
                            ErrorKind::Protocol,
                            &format!("bad base64 in audio.delta: {e}"),
                        )
                    }
                };
                self.stats.chunks += 1;
                self.stats.bytes += bytes.len() as u64;
                let Some(player) = self.player.as_mut() else {
                    return;
                };
                let now_clock = player.now();
                let started = match player.play(&bytes) {
                    Ok(s) => s,
                    Err(_) => {
                        return self.fail_all(ErrorKind::Internal, "Web Audio refused a buffer")
                    }
                };
                let wall = now_ms();
                if let Some(front) = self.pending.front_mut() {
                    if !front.first_audio {
                        front.first_audio = true;
                        let ttfa = wall - front.sent_at;
                        self.stats.time_to_first_audio_ms.get_or_insert(ttfa);
                        if let Some(start) = started {
                            let sound = ttfa + (start - now_clock) * 1000.0;
                            self.stats.time_to_first_sound_ms.get_or_insert(sound);
                        }
                        self.emit("start", &JsValue::from_f64(ttfa));
                    }
                }
                self.emit("audio", &JsValue::from_f64(bytes.len() as f64));
            }
            ServerMessage::AudioDone => {
                let remaining = self.player.as_ref().map_or(0.0, Player::remaining);
                if let Some(player) = self.player.as_mut() {
                    player.utterance_done();
                }
                // When the scheduled audio has played out: `end`, then the promise.
                let end = self.handlers.get("end").cloned();
                let resolve = self.pending.pop_front().map(|p| p.resolve);
                let played_out = Closure::once_into_js(move || {
                    if let Some(end) = end {
                        let _ = end.call1(&JsValue::NULL, &JsValue::from_f64(remaining));
                    }
                    if let Some(resolve) = resolve {
                        let _ = resolve.call0(&JsValue::NULL);
                    }
                });
                let _ = set_timeout(played_out.unchecked_ref(), remaining * 1000.0);
            }
            ServerMessage::AudioClear => {}
            error @ ServerMessage::Error { .. } => {
                let text = error.error_text().unwrap_or_default();
                let value = error_value(frame_kind(&text), &text);
                self.emit("error", &value);
                if let Some(p) = self.pending.pop_front() {
                    self.outbox.push((p.reject, value));
                }
            }
        }
    }
}

/// Opens endpoint `index`; on a refusal before it opened, tries the next one.
fn open_socket(inner: &Rc<RefCell<Inner>>, index: usize, resolve: Function, reject: Function) {
    let (url, token) = {
        let state = inner.borrow();
        (state.options.ws_url(index), state.options.token.clone())
    };
    let socket = match &token {
        Some(t) => WebSocket::new_with_str(&url, &format!("xai-client-secret.{t}")),
        None => WebSocket::new(&url),
    };
    let socket = match socket {
        Ok(s) => s,
        Err(_) => {
            let error = error_value(ErrorKind::Config, "the WebSocket URL was refused");
            let _ = reject.call1(&JsValue::NULL, &error);
            return;
        }
    };
    let opened = Rc::new(RefCell::new(false));
    let on_open = {
        let opened = opened.clone();
        let resolve = resolve.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            *opened.borrow_mut() = true;
            let _ = resolve.call0(&JsValue::NULL);
        })
    };
    let on_message = {
        let inner = inner.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            match event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                Some(text) => inner.borrow_mut().on_text(&text),
                None => inner.borrow_mut().fail_all(
                    ErrorKind::Protocol,
                    "a binary frame where JSON text was expected",
                ),
            }
            deliver(&inner);
        })
    };
    let on_close = {
        let inner = inner.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let code = event.dyn_ref::<CloseEvent>().map_or(0, CloseEvent::code);
            let was_open = *opened.borrow();
            let endpoints = inner.borrow().options.urls.len();
            if !was_open && index + 1 < endpoints {
                {
                    let mut state = inner.borrow_mut();
                    let detail = Object::new();
                    let from = state.options.urls[index].clone();
                    let to = state.options.urls[index + 1].clone();
                    let reason = format!("could not connect to {from} (closed with {code})");
                    let _ = Reflect::set(&detail, &"from".into(), &from.into());
                    let _ = Reflect::set(&detail, &"to".into(), &to.into());
                    let _ = Reflect::set(&detail, &"reason".into(), &reason.into());
                    state.emit("failover", &detail.into());
                }
                deliver(&inner);
                open_socket(&inner, index + 1, resolve.clone(), reject.clone());
                return;
            }
            closed(&inner, code, was_open, index, &reject);
            deliver(&inner);
        })
    };
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut state = inner.borrow_mut();
    state.callbacks.extend([on_open, on_message, on_close]);
    state.socket = Some(socket);
}

/// The socket closed: before it opened (the connect promise fails), or with
/// utterances still owed (they fail).
fn closed(inner: &Rc<RefCell<Inner>>, code: u16, opened: bool, index: usize, reject: &Function) {
    let mut state = inner.borrow_mut();
    state.open = None;
    if !opened {
        let error = error_value(
            ErrorKind::Unavailable,
            &format!(
                "could not connect to {} (closed with {code}: refused, or rejected at the upgrade, e.g. 401/403)",
                state.options.urls[index]
            ),
        );
        state.outbox.push((reject.clone(), error.clone()));
        state.emit("error", &error);
    } else if !state.pending.is_empty() {
        let kind = if code == 1009 {
            ErrorKind::InvalidRequest
        } else {
            ErrorKind::Unavailable
        };
        state.fail_all(
            kind,
            &format!("the connection closed before audio.done (code {code})"),
        );
    }
}

fn set_timeout(f: &Function, ms: f64) -> Result<i32, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    window.set_timeout_with_callback_and_timeout_and_arguments_0(f, ms.max(0.0) as i32)
}

#[wasm_bindgen]
impl Speaker {
    /// `new Speaker({ url, token, voice, language, sampleRate })`; bad options throw a `{kind, message}`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Speaker, JsValue> {
        let options =
            Options::from_js(&options).map_err(|m| error_value(ErrorKind::InvalidInput, &m))?;
        Ok(Speaker {
            inner: Rc::new(RefCell::new(Inner {
                options,
                socket: None,
                open: None,
                player: None,
                handlers: HashMap::new(),
                pending: VecDeque::new(),
                stats: Stats::default(),
                written: 0,
                callbacks: Vec::new(),
                outbox: Vec::new(),
            })),
        })
    }

    /// Registers the handler for `start`, `audio`, `end`, `error` or `failover`.
    pub fn on(&self, event: String, handler: Function) {
        self.inner.borrow_mut().handlers.insert(event, handler);
    }

    /// Opens the WebSocket (and the audio output); resolves once open. With
    /// several `urls`, an endpoint that refuses the connection hands over to
    /// the next (a `failover` event says so).
    pub fn connect(&self) -> Promise {
        if let Some(p) = self.inner.borrow().open.clone() {
            return p;
        }
        let inner = self.inner.clone();
        let promise = Promise::new(&mut |resolve, reject| {
            let player = Player::new(inner.borrow().options.sample_rate);
            match player {
                Ok(p) => inner.borrow_mut().player = Some(p),
                Err(_) => {
                    let error = error_value(ErrorKind::Internal, "Web Audio is not available");
                    let _ = reject.call1(&JsValue::NULL, &error);
                    return;
                }
            }
            open_socket(&inner, 0, resolve, reject);
        });
        self.inner.borrow_mut().open = Some(promise.clone());
        promise
    }

    /// Appends text to the current utterance (whitespace kept as given).
    #[wasm_bindgen(js_name = pushText)]
    pub fn push_text(&self, delta: String) -> Result<(), JsValue> {
        let mut state = self.inner.borrow_mut();
        state.written += delta.chars().count();
        if state.written > MAX_UTTERANCE_CHARS {
            state.written = 0;
            return Err(error_value(
                ErrorKind::InvalidInput,
                "the utterance is over 15000 characters: flush more often",
            ));
        }
        state.send(&ClientMessage::TextDelta { delta })
    }

    /// Ends the utterance; resolves when its audio has played out.
    pub fn flush(&self) -> Promise {
        let inner = self.inner.clone();
        Promise::new(&mut |resolve, reject| {
            let mut state = inner.borrow_mut();
            state.written = 0;
            if let Some(p) = state.player.as_mut() {
                p.idle_if_done();
            }
            match state.send(&ClientMessage::TextDone) {
                Ok(()) => {
                    let sent_at = now_ms();
                    state.pending.push_back(Pending {
                        resolve,
                        reject,
                        sent_at,
                        first_audio: false,
                    });
                    // Every network wait is bounded: no first audio in time fails the speaker.
                    let limit = f64::from(state.options.first_audio_timeout_ms);
                    let watched = inner.clone();
                    let check = Closure::once_into_js(move || {
                        let stalled = watched
                            .borrow()
                            .pending
                            .iter()
                            .any(|p| p.sent_at == sent_at && !p.first_audio);
                        if stalled {
                            watched.borrow_mut().fail_all(
                                ErrorKind::Timeout,
                                &format!("no audio within {limit} ms of text.done"),
                            );
                            deliver(&watched);
                        }
                    });
                    let _ = set_timeout(check.unchecked_ref(), limit);
                }
                Err(e) => {
                    let _ = reject.call1(&JsValue::NULL, &e);
                }
            }
        })
    }

    /// Speaks `text` (connecting first if needed); resolves when playback ends.
    pub fn speak(&self, text: String) -> Promise {
        if text.trim().is_empty() {
            return Promise::reject(&error_value(ErrorKind::InvalidInput, "the text is empty"));
        }
        if text.chars().count() > MAX_UTTERANCE_CHARS {
            return Promise::reject(&error_value(
                ErrorKind::InvalidInput,
                "the text is over 15000 characters",
            ));
        }
        let connect = self.connect();
        let me = Speaker {
            inner: self.inner.clone(),
        };
        wasm_bindgen_futures::future_to_promise(async move {
            wasm_bindgen_futures::JsFuture::from(connect).await?;
            me.push_text(text)?;
            wasm_bindgen_futures::JsFuture::from(me.flush()).await
        })
    }

    /// Barge-in: stops playback now, drops what is queued, sends text.clear.
    pub fn cancel(&self) {
        let mut state = self.inner.borrow_mut();
        if let Some(p) = state.player.as_mut() {
            p.stop();
        }
        state.written = 0;
        let _ = state.send(&ClientMessage::TextClear);
        let cancelled = error_value(ErrorKind::Cancelled, "cancelled by the caller");
        for p in state.pending.drain(..) {
            let _ = p.reject.call1(&JsValue::NULL, &cancelled);
        }
    }

    /// `{ timeToFirstAudioMs, timeToFirstSoundMs, chunks, underruns, bytes }`.
    pub fn stats(&self) -> JsValue {
        let state = self.inner.borrow();
        let s = state.stats;
        let o = Object::new();
        let num = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
        let _ = Reflect::set(
            &o,
            &"timeToFirstAudioMs".into(),
            &num(s.time_to_first_audio_ms),
        );
        let _ = Reflect::set(
            &o,
            &"timeToFirstSoundMs".into(),
            &num(s.time_to_first_sound_ms),
        );
        let _ = Reflect::set(&o, &"chunks".into(), &JsValue::from(s.chunks));
        let underruns = state.player.as_ref().map_or(0, |p| p.underruns);
        let _ = Reflect::set(&o, &"underruns".into(), &JsValue::from(underruns));
        let _ = Reflect::set(&o, &"bytes".into(), &JsValue::from_f64(s.bytes as f64));
        o.into()
    }

    /// Closes the connection.
    pub fn close(&self) {
        let mut state = self.inner.borrow_mut();
        if let Some(s) = state.socket.take() {
            let _ = s.close();
        }
        state.open = None;
    }
}
