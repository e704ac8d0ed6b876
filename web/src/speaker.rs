//! The `Speaker` JavaScript class: a `voxwire-router` session over one or
//! more WebSocket endpoints, played with Web Audio.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use futures::channel::mpsc;
use futures::StreamExt;
use js_sys::{Function, Object, Promise, Reflect};
use voxwire_core::session::{
    CancelHandle, SessionEvent, SessionEvents, SessionInput, StreamConfig,
};
use voxwire_core::{AudioFormat, ErrorKind, TextSpan, TtsError, TtsProvider};
use voxwire_router::{Policy, Router, RouterSettings};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::endpoint::{Endpoint, EndpointConfig, Notices};
use crate::options::Options;
use crate::player::Player;

/// Characters one utterance may hold: the router cuts it into sentences for
/// the endpoints, and holds at most this much text waiting.
const MAX_UTTERANCE_CHARS: usize = 100_000;
/// Calls (`pushText`, `flush`) waiting to enter the session; more is refused.
const MAX_WAITING_CALLS: usize = 256;
/// `mark` timeouts remembered for a cancel; older ones have fired.
const MAX_MARKS: usize = 1024;

/// When an utterance began (its first text) and whether its audio started.
#[derive(Clone, Copy)]
struct Timing {
    started_at: f64,
    first_audio: bool,
}

/// An utterance flushed and not yet played out.
struct Pending {
    /// The speaker's number for it, known at once.
    key: u64,
    /// Its text, which the audio's spans point into.
    text: String,
    /// The session's utterance id, known once the flush entered the session.
    id: Option<u64>,
    resolve: Function,
    reject: Function,
    timing: Timing,
}

/// A call waiting to enter the session, tagged with the cancel generation it belongs to.
enum Call {
    Text(String),
    Flush { key: u64 },
}

#[derive(Default, Clone, Copy)]
struct Stats {
    time_to_first_audio_ms: Option<f64>,
    time_to_first_sound_ms: Option<f64>,
    chunks: u32,
    bytes: u64,
}

/// The open session: where calls go, and how to cancel it.
struct Live {
    calls: mpsc::Sender<(u64, Call)>,
    cancel: CancelHandle,
    serial: u64,
}

type Handlers = Rc<RefCell<HashMap<String, Function>>>;

struct Inner {
    options: Options,
    router: Router,
    endpoints: Vec<Arc<Endpoint>>,
    handlers: Handlers,
    player: Option<Player>,
    live: Option<Live>,
    sessions: u64,
    pending: VecDeque<Pending>,
    /// The utterance being written (text pushed, not yet flushed).
    open: Option<Timing>,
    /// The text of the utterance being written.
    open_text: String,
    /// `mark` events waiting for their audio to be heard (timeout ids), so a
    /// cancel can drop them.
    marks: VecDeque<i32>,
    next_key: u64,
    /// Bumped by every cancel: calls from before it are dropped.
    generation: u64,
    stats: Stats,
    written: usize,
    /// JavaScript calls to make once the state is no longer borrowed: a handler
    /// may call back into the speaker (e.g. `stats()`), which must not find it
    /// borrowed.
    outbox: Vec<(Function, JsValue)>,
}

/// Streams speech from xAI-protocol endpoints, failing over between them, and plays it.
#[wasm_bindgen]
pub struct Speaker {
    inner: Rc<RefCell<Inner>>,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn set(o: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(o, &key.into(), value);
}

/// `{ kind, message }`, the shape of every error this client reports.
fn error_value(kind: ErrorKind, message: &str) -> JsValue {
    let e = Object::new();
    set(&e, "kind", &kind.as_str().into());
    set(&e, "message", &message.into());
    e.into()
}

/// A `TtsError` as `{ kind, message, provider, phase, endpoint, status }`.
fn error_from(error: &TtsError) -> JsValue {
    let value = error_value(error.kind(), &error.to_string());
    let o: &Object = value.unchecked_ref();
    if let Some(p) = error.provider() {
        set(o, "provider", &p.into());
    }
    set(o, "phase", &error.phase().to_string().into());
    if let Some(e) = error.endpoint() {
        set(o, "endpoint", &e.into());
    }
    if let Some(s) = error.status() {
        set(o, "status", &JsValue::from(s));
    }
    value
}

/// Runs what a state change queued, after the borrow has been released.
fn deliver(inner: &Rc<RefCell<Inner>>) {
    let calls = std::mem::take(&mut inner.borrow_mut().outbox);
    for (f, arg) in calls {
        let _ = f.call1(&JsValue::NULL, &arg);
    }
}

fn set_timeout(f: &Function, ms: f64) -> Result<i32, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    window.set_timeout_with_callback_and_timeout_and_arguments_0(f, ms.max(0.0) as i32)
}

/// A relay's event frames as JavaScript events: who speaks behind it
/// (`provider`: `{ endpoint, entry, provider }`) and its own failovers
/// (`failover`: `{ from, to, reason, endpoint, scope: "relay" }`).
fn relay_notices(handlers: &Handlers) -> Notices {
    let handlers = Rc::downgrade(handlers);
    Rc::new(move |endpoint: &str, event: SessionEvent| {
        let Some(handlers) = handlers.upgrade() else {
            return;
        };
        let (name, detail) = match event {
            SessionEvent::Serving {
                entry,
                provider,
                cached,
            } => {
                let detail = Object::new();
                set(&detail, "endpoint", &endpoint.into());
                set(&detail, "entry", &entry.into());
                set(&detail, "provider", &provider.into());
                set(&detail, "cached", &cached.into());
                ("provider", detail)
            }
            SessionEvent::ProviderChanged { from, to, reason } => (
                "failover",
                failover_detail(from, to, reason, endpoint, "relay"),
            ),
            _ => return,
        };
        let handler = handlers.borrow().get(name).cloned();
        if let Some(handler) = handler {
            let _ = handler.call1(&JsValue::NULL, &detail.into());
        }
    })
}

/// `{ from, to, kind, reason, endpoint, scope }` (`kind` the failover kind's label: `auth`, `timeout`, `down`, `kept`, …): `scope` is `"relay"` when a relay
/// changed its upstream provider, `"endpoint"` when this page changed endpoints.
fn failover_detail(
    from: String,
    to: String,
    reason: voxwire_core::FailoverReason,
    endpoint: &str,
    scope: &str,
) -> Object {
    let detail = Object::new();
    set(&detail, "from", &from.into());
    set(&detail, "to", &to.into());
    set(&detail, "kind", &reason.label().into());
    set(&detail, "reason", &reason.message.into());
    set(&detail, "endpoint", &endpoint.into());
    set(&detail, "scope", &scope.into());
    detail
}

/// A byte offset of `text` in UTF-16 code units (JavaScript string indices).
fn utf16_offset(text: &str, byte: usize) -> usize {
    let mut at = byte.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].encode_utf16().count()
}

impl Inner {
    /// A `mark` event `{ utterance, start, end }` (UTF-16 indices into the
    /// utterance's text) for when the audio of `span` starts to be heard,
    /// `delay_s` from now.
    fn schedule_mark(&mut self, span: TextSpan, delay_s: f64) {
        let Some(handler) = self.handlers.borrow().get("mark").cloned() else {
            return;
        };
        let (key, text) = match self.pending.front() {
            Some(p) => (p.key, p.text.as_str()),
            None => (self.next_key, self.open_text.as_str()),
        };
        let detail = Object::new();
        set(&detail, "utterance", &JsValue::from_f64(key as f64));
        set(
            &detail,
            "start",
            &JsValue::from_f64(utf16_offset(text, span.start) as f64),
        );
        set(
            &detail,
            "end",
            &JsValue::from_f64(utf16_offset(text, span.end) as f64),
        );
        let fire = Closure::once_into_js(move || {
            let _ = handler.call1(&JsValue::NULL, &detail.into());
        });
        if let Ok(id) = set_timeout(fire.unchecked_ref(), delay_s * 1000.0) {
            if self.marks.len() >= MAX_MARKS {
                self.marks.pop_front(); // long since fired
            }
            self.marks.push_back(id);
        }
    }

    /// Drops the `mark` events not yet fired.
    fn clear_marks(&mut self) {
        if let Some(window) = web_sys::window() {
            for id in self.marks.drain(..) {
                window.clear_timeout_with_handle(id);
            }
        }
    }

    fn emit(&mut self, event: &str, detail: &JsValue) {
        if let Some(f) = self.handlers.borrow().get(event) {
            self.outbox.push((f.clone(), detail.clone()));
        }
    }

    fn reject_all(&mut self, error: &JsValue) {
        let rejects: Vec<Function> = self.pending.drain(..).map(|p| p.reject).collect();
        for reject in rejects {
            self.outbox.push((reject, error.clone()));
        }
    }

    /// The audio output, opened on first use: from a call the page makes
    /// (ideally in a click handler, which lets the browser start audio).
    fn ensure_player(&mut self) -> Result<(), JsValue> {
        if self.player.is_none() {
            let player = Player::new(self.options.sample_rate)
                .map_err(|_| error_value(ErrorKind::Internal, "Web Audio is not available"))?;
            self.player = Some(player);
        }
        Ok(())
    }

    /// The open session, opening one if there is none.
    fn live(&mut self, me: &Weak<RefCell<Inner>>) -> Result<&mut Live, JsValue> {
        if self.live.is_none() {
            let config = StreamConfig {
                format: Some(AudioFormat::pcm16_mono(self.options.sample_rate)),
                ..StreamConfig::default()
            };
            let session = self.router.session(&config).map_err(|e| error_from(&e))?;
            let (input, events) = session.split();
            let (calls, waiting) = mpsc::channel(MAX_WAITING_CALLS);
            self.sessions += 1;
            let serial = self.sessions;
            let cancel = input.cancel_handle();
            wasm_bindgen_futures::spawn_local(feed(me.clone(), input, waiting));
            wasm_bindgen_futures::spawn_local(listen(me.clone(), events, serial));
            self.live = Some(Live {
                calls,
                cancel,
                serial,
            });
        }
        self.live
            .as_mut()
            .ok_or_else(|| error_value(ErrorKind::Internal, "no session"))
    }

    /// The utterance being written, begun now if none is.
    fn begin_utterance(&mut self) -> Timing {
        if self.open.is_none() {
            if let Some(p) = self.player.as_mut() {
                p.idle_if_done();
            }
        }
        *self.open.get_or_insert(Timing {
            started_at: now_ms(),
            first_audio: false,
        })
    }

    fn call(&mut self, me: &Weak<RefCell<Inner>>, call: Call) -> Result<(), JsValue> {
        self.ensure_player()?;
        let generation = self.generation;
        let live = self.live(me)?;
        live.calls.try_send((generation, call)).map_err(|e| {
            if e.is_full() {
                error_value(
                    ErrorKind::InvalidInput,
                    "too many calls are waiting: await flush() before pushing more",
                )
            } else {
                error_value(ErrorKind::Unavailable, "the session has ended")
            }
        })
    }

    fn on_event(&mut self, event: voxwire_core::Result<SessionEvent>, serial: u64) {
        match event {
            Ok(SessionEvent::Audio(chunk)) => {
                self.stats.chunks += 1;
                self.stats.bytes += chunk.data.len() as u64;
                let Some(player) = self.player.as_mut() else {
                    return;
                };
                let clock = player.now();
                let started = match player.play(&chunk.data) {
                    Ok(s) => s,
                    Err(_) => {
                        let error = error_value(ErrorKind::Internal, "Web Audio refused a buffer");
                        self.emit("error", &error);
                        return;
                    }
                };
                let wall = now_ms();
                if let (Some(span), Some(start)) = (chunk.span, started) {
                    self.schedule_mark(span, start - clock);
                }
                // Audio belongs to the oldest utterance not played out: a
                // flushed one, else the one still being written.
                let timing = match self.pending.front_mut() {
                    Some(front) => Some(&mut front.timing),
                    None => self.open.as_mut(),
                };
                if let Some(timing) = timing {
                    if !timing.first_audio {
                        timing.first_audio = true;
                        let ttfa = wall - timing.started_at;
                        self.stats.time_to_first_audio_ms.get_or_insert(ttfa);
                        if let Some(start) = started {
                            let sound = ttfa + (start - clock) * 1000.0;
                            self.stats.time_to_first_sound_ms.get_or_insert(sound);
                        }
                        self.emit("start", &JsValue::from_f64(ttfa));
                    }
                }
                self.emit("audio", &JsValue::from_f64(chunk.data.len() as f64));
            }
            Ok(SessionEvent::UtteranceDone { id }) => {
                let Some(at) = self.pending.iter().position(|p| p.id == Some(id)) else {
                    return; // cancelled meanwhile
                };
                let done = self.pending.remove(at);
                let remaining = self.player.as_ref().map_or(0.0, Player::remaining);
                if let Some(player) = self.player.as_mut() {
                    player.utterance_done();
                }
                // When the scheduled audio has played out: `end`, then the promise.
                let end = self.handlers.borrow().get("end").cloned();
                let resolve = done.map(|p| p.resolve);
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
            Ok(SessionEvent::Cleared { .. }) => {}
            Ok(SessionEvent::ProviderChanged { from, to, reason }) => {
                let endpoint = to.clone();
                let detail = failover_detail(from, to, reason, &endpoint, "endpoint");
                self.emit("failover", &detail.into());
            }
            Ok(SessionEvent::Serving { entry, .. }) => {
                let detail = Object::new();
                set(&detail, "endpoint", &entry.into());
                self.emit("endpoint", &detail.into());
            }
            Ok(_) => {}
            Err(error) => {
                // The session is over; the next call opens a new one.
                if self.live.as_ref().is_some_and(|l| l.serial == serial) {
                    self.live = None;
                }
                self.open = None;
                self.open_text.clear();
                self.written = 0;
                let value = error_from(&error);
                self.emit("error", &value);
                self.reject_all(&value);
            }
        }
    }
}

/// Moves calls into the session in order, skipping those a cancel overtook.
async fn feed(
    me: Weak<RefCell<Inner>>,
    mut input: SessionInput,
    mut waiting: mpsc::Receiver<(u64, Call)>,
) {
    while let Some((generation, call)) = waiting.next().await {
        let Some(inner) = me.upgrade() else { return };
        if inner.borrow().generation != generation {
            continue;
        }
        drop(inner);
        match call {
            Call::Text(text) => {
                if input.push_text(&text).await.is_err() {
                    return; // the session ended; its events carry the error
                }
            }
            Call::Flush { key } => {
                let flushed = input.flush().await;
                let Some(inner) = me.upgrade() else { return };
                let mut state = inner.borrow_mut();
                let Some(at) = state.pending.iter().position(|p| p.key == key) else {
                    continue;
                };
                match flushed {
                    Ok(id) => state.pending[at].id = Some(id),
                    Err(error) => {
                        if let Some(p) = state.pending.remove(at) {
                            state.outbox.push((p.reject, error_from(&error)));
                        }
                        drop(state);
                        deliver(&inner);
                        return;
                    }
                }
            }
        }
    }
}

/// Plays the session's audio and turns its events into JavaScript events.
async fn listen(me: Weak<RefCell<Inner>>, mut events: SessionEvents, serial: u64) {
    while let Some(event) = events.next().await {
        let Some(inner) = me.upgrade() else { return };
        let ended = event.is_err();
        inner.borrow_mut().on_event(event, serial);
        deliver(&inner);
        if ended {
            return;
        }
    }
}

#[wasm_bindgen]
impl Speaker {
    /// `new Speaker({ url | urls, token, voice, language, sampleRate, firstAudioTimeoutMs })`;
    /// bad options throw a `{kind, message}`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Speaker, JsValue> {
        let options =
            Options::from_js(&options).map_err(|m| error_value(ErrorKind::InvalidInput, &m))?;
        let handlers: Handlers = Rc::default();
        let notices = relay_notices(&handlers);
        #[allow(clippy::arc_with_non_send_sync)] // the router holds `Arc<dyn TtsProvider>`
        let endpoints: Vec<Arc<Endpoint>> = options
            .urls
            .iter()
            .map(|url| {
                Arc::new(Endpoint::new(
                    EndpointConfig {
                        url: url.clone(),
                        token: options.token.clone(),
                        voice: options.voice.clone(),
                        language: options.language.clone(),
                        sample_rate: options.sample_rate,
                    },
                    Some(notices.clone()),
                ))
            })
            .collect();
        let policy = Policy {
            max_retries: 1,
            first_audio_timeout_ms: Some(u64::from(options.first_audio_timeout_ms)),
            ..Policy::default()
        };
        let chain = endpoints
            .iter()
            .map(|e| (e.clone() as Arc<dyn TtsProvider>, policy.clone()))
            .collect();
        // No lookahead here: each sentence asked ahead would be an utterance
        // on a second connection to the relay, whose own router already
        // pipelines the sentences it is sent.
        let settings = RouterSettings {
            lookahead: 0,
            ..RouterSettings::default()
        };
        let router = Router::new(chain, settings).map_err(|e| error_from(&e))?;
        Ok(Speaker {
            inner: Rc::new(RefCell::new(Inner {
                options,
                router,
                endpoints,
                handlers,
                player: None,
                live: None,
                sessions: 0,
                pending: VecDeque::new(),
                open: None,
                open_text: String::new(),
                marks: VecDeque::new(),
                next_key: 0,
                generation: 0,
                stats: Stats::default(),
                written: 0,
                outbox: Vec::new(),
            })),
        })
    }

    /// Registers the handler for `start`, `audio`, `end`, `error`, `failover`,
    /// `provider` (who speaks behind a relay), `endpoint` (which endpoint
    /// serves) or `mark` (which text is being heard).
    pub fn on(&self, event: String, handler: Function) {
        self.inner
            .borrow()
            .handlers
            .borrow_mut()
            .insert(event, handler);
    }

    /// Opens a connection to the first endpoint that accepts one (in failover
    /// order), so the first utterance skips the handshake; resolves once one
    /// is open, rejects with the last endpoint's error when none is. Needs no
    /// user gesture: the audio output opens with the first `speak`/`pushText`.
    pub fn connect(&self) -> Promise {
        let me = Rc::downgrade(&self.inner);
        let endpoints = {
            let mut state = self.inner.borrow_mut();
            if let Err(e) = state.live(&me) {
                return Promise::reject(&e);
            }
            state.endpoints.clone()
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let mut last = None;
            for endpoint in endpoints {
                match endpoint.prewarm().await {
                    Ok(()) => return Ok(JsValue::UNDEFINED),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.map_or(JsValue::UNDEFINED, |e| error_from(&e)))
        })
    }

    /// Appends text to the current utterance (whitespace kept as given). The
    /// router speaks it sentence by sentence as sentences complete.
    #[wasm_bindgen(js_name = pushText)]
    pub fn push_text(&self, delta: String) -> Result<(), JsValue> {
        let me = Rc::downgrade(&self.inner);
        let mut state = self.inner.borrow_mut();
        let written = state.written + delta.chars().count();
        if written > MAX_UTTERANCE_CHARS {
            return Err(error_value(
                ErrorKind::InvalidInput,
                &format!(
                    "the utterance is over {MAX_UTTERANCE_CHARS} characters: flush more often"
                ),
            ));
        }
        state.call(&me, Call::Text(delta.clone()))?;
        state.written = written;
        state.open_text.push_str(&delta);
        state.begin_utterance();
        Ok(())
    }

    /// Ends the utterance; resolves when its audio has played out.
    pub fn flush(&self) -> Promise {
        let me = Rc::downgrade(&self.inner);
        let inner = self.inner.clone();
        Promise::new(&mut |resolve, reject| {
            let mut state = inner.borrow_mut();
            state.written = 0;
            let key = state.next_key;
            state.next_key += 1;
            match state.call(&me, Call::Flush { key }) {
                Ok(()) => {
                    let timing = state.begin_utterance();
                    state.open = None;
                    let text = std::mem::take(&mut state.open_text);
                    state.pending.push_back(Pending {
                        key,
                        text,
                        id: None,
                        resolve,
                        reject,
                        timing,
                    });
                }
                Err(e) => {
                    let _ = reject.call1(&JsValue::NULL, &e);
                }
            }
        })
    }

    /// Speaks `text`; resolves when playback ends.
    pub fn speak(&self, text: String) -> Promise {
        if text.trim().is_empty() {
            return Promise::reject(&error_value(ErrorKind::InvalidInput, "the text is empty"));
        }
        if text.chars().count() > MAX_UTTERANCE_CHARS {
            return Promise::reject(&error_value(
                ErrorKind::InvalidInput,
                &format!("the text is over {MAX_UTTERANCE_CHARS} characters"),
            ));
        }
        if let Err(e) = self.push_text(text) {
            return Promise::reject(&e);
        }
        self.flush()
    }

    /// Barge-in: stops playback now, drops what is queued, and cancels the
    /// utterance in flight (its endpoint is sent `text.clear`).
    pub fn cancel(&self) {
        {
            let mut state = self.inner.borrow_mut();
            if let Some(p) = state.player.as_mut() {
                p.stop();
            }
            state.generation += 1;
            state.written = 0;
            state.open = None;
            state.open_text.clear();
            state.clear_marks();
            if let Some(live) = &state.live {
                live.cancel.cancel();
            }
            let cancelled = error_value(ErrorKind::Cancelled, "cancelled by the caller");
            state.reject_all(&cancelled);
        }
        deliver(&self.inner);
    }

    /// `{ timeToFirstAudioMs, timeToFirstSoundMs, chunks, underruns, bytes }`;
    /// the times run from the first utterance's first text (`pushText` or
    /// `speak`) to its first audio chunk, and to when that chunk is heard.
    pub fn stats(&self) -> JsValue {
        let state = self.inner.borrow();
        let s = state.stats;
        let o = Object::new();
        let num = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
        set(&o, "timeToFirstAudioMs", &num(s.time_to_first_audio_ms));
        set(&o, "timeToFirstSoundMs", &num(s.time_to_first_sound_ms));
        set(&o, "chunks", &JsValue::from(s.chunks));
        let underruns = state.player.as_ref().map_or(0, |p| p.underruns);
        set(&o, "underruns", &JsValue::from(underruns));
        set(&o, "bytes", &JsValue::from_f64(s.bytes as f64));
        o.into()
    }

    /// The output level now, 0 to 1 (RMS of what is being heard), for a meter.
    pub fn level(&self) -> f64 {
        self.inner
            .borrow()
            .player
            .as_ref()
            .map_or(0.0, Player::level)
    }

    /// The endpoints in failover order, as events name them (credentials masked).
    pub fn endpoints(&self) -> js_sys::Array {
        self.inner
            .borrow()
            .endpoints
            .iter()
            .map(|e| JsValue::from_str(e.id()))
            .collect()
    }

    /// The number the next `flush` (or `speak`) gets: `mark` events name
    /// their utterance by it (the first is 0).
    #[wasm_bindgen(js_name = nextUtterance)]
    pub fn next_utterance(&self) -> f64 {
        self.inner.borrow().next_key as f64
    }

    /// Ends the session and closes every connection.
    pub fn close(&self) {
        let mut state = self.inner.borrow_mut();
        if let Some(live) = state.live.take() {
            live.cancel.cancel();
        }
        for endpoint in &state.endpoints {
            endpoint.close_idle();
        }
    }
}
