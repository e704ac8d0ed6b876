//! One xAI-protocol WebSocket endpoint (a voxwire relay, or anything that
//! speaks the protocol) as a `TtsProvider`, so `voxwire-router` can retry and
//! fail over between endpoints inside the browser.
//!
//! One connection is kept open and reused utterance after utterance; an
//! utterance dropped half-way (a cancel) sends `text.clear` and the
//! connection is reused once the server's `audio.clear` has drained it.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use voxwire_core::audio::SampleAligner;
use voxwire_core::session::{self, SessionEvent, StreamConfig, SynthesisSession};
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, Phase, Result,
    SynthesisRequest, TextSpan, TtsError, TtsProvider, Voice,
};
use voxwire_core::{FailoverKind, FailoverReason};
use voxwire_router::rt::timeout;
use voxwire_xai::protocol::{
    error_frame_kind, parse_server_message, ClientMessage, Incoming, ServerMessage, MAX_TEXT_CHARS,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// Longest wait for a WebSocket to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for `audio.clear` before a cancelled connection is given up on.
const CLEAR_TIMEOUT: Duration = Duration::from_secs(2);
/// The most received bytes waiting to be read; more closes the connection
/// (the browser's WebSocket has no backpressure, so the bound lives here).
const MAX_QUEUED_BYTES: usize = 16 << 20;

/// Hears a relay's `voxwire.*` event frames, as session events, with the id
/// of the endpoint that sent them: `voxwire.provider` as
/// [`SessionEvent::Serving`] (the relay's upstream provider for the next
/// utterance), `voxwire.provider_changed` as [`SessionEvent::ProviderChanged`]
/// (the relay's own failover).
pub type Notices = Rc<dyn Fn(&str, SessionEvent)>;

/// Longest entry, provider or reason taken from a relay's event frame.
const MAX_NOTICE_FIELD: usize = 500;

/// A relay's `voxwire.*` event frame as a session event; `None` for frames
/// of other types or without the fields.
pub(crate) fn notice_event(text: &str) -> Option<SessionEvent> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = |name: &str| -> Option<String> {
        let s = value.get(name)?.as_str()?;
        Some(s.chars().take(MAX_NOTICE_FIELD).collect())
    };
    match value.get("type")?.as_str()? {
        "voxwire.provider" => Some(SessionEvent::Serving {
            provider: field("provider")?,
            entry: field("entry").or_else(|| field("provider"))?,
            cached: value.get("cached").and_then(|v| v.as_bool()) == Some(true),
        }),
        "voxwire.provider_changed" => {
            // The relay sends the kind's label; an unknown one (a newer
            // relay's) reads as the endpoint's entry having failed.
            let label = field("reason").unwrap_or_default();
            let kind = FailoverKind::from_label(&label)
                .unwrap_or(FailoverKind::Failed(ErrorKind::Unavailable));
            Some(SessionEvent::ProviderChanged {
                from: field("from")?,
                to: field("to")?,
                reason: FailoverReason::new(kind, label),
            })
        }
        _ => None,
    }
}

/// Where in the request text the characters of an `audio_timestamps` list
/// are: the byte span after `cursor`, if the text holds them there.
pub(crate) fn span_of(text: &str, cursor: usize, chars: &[String]) -> Option<TextSpan> {
    let piece: String = chars.concat();
    if piece.is_empty() {
        return None;
    }
    let at = cursor + text.get(cursor..)?.find(&piece)?;
    Some(TextSpan {
        start: at,
        end: at + piece.len(),
    })
}

/// How to reach one endpoint and what to ask it for.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The WebSocket URL. With credentials masked (`token=***`) it is the
    /// provider id in events and errors; pass tokens as `token`, not in it.
    pub url: String,
    /// A browser token, sent as the subprotocol `xai-client-secret.<token>`.
    pub token: Option<String>,
    /// The voice (`voice` query parameter); `None` for the endpoint's default.
    pub voice: Option<String>,
    /// The language (`language` query parameter); `None` for the endpoint's default.
    pub language: Option<String>,
    /// The PCM sample rate asked for (one of the protocol's rates).
    pub sample_rate: u32,
}

/// An xAI-protocol endpoint reached over a browser WebSocket: a `TtsProvider`
/// whose id is its URL. Clones share the idle connection and the counter.
#[derive(Clone)]
pub struct Endpoint {
    config: EndpointConfig,
    /// The URL with any credentials in it masked: the id in events and errors.
    id: String,
    idle: Rc<RefCell<Option<Connection>>>,
    notices: Option<Notices>,
    opened: Rc<Cell<u64>>,
}

impl Endpoint {
    /// An endpoint; `notices` hears the relay's `voxwire.*` event frames
    /// (its upstream provider, its own failovers).
    pub fn new(config: EndpointConfig, notices: Option<Notices>) -> Self {
        Self {
            id: voxwire_core::error::redact_url(&config.url),
            config,
            idle: Rc::default(),
            notices,
            opened: Rc::default(),
        }
    }

    /// How many WebSocket connections this endpoint has opened: reuse keeps
    /// it at one while the connection stays healthy.
    pub fn connections_opened(&self) -> u64 {
        self.opened.get()
    }

    fn format(&self) -> AudioFormat {
        AudioFormat::pcm16_mono(self.config.sample_rate)
    }

    /// The WebSocket URL for a request: the xAI query parameters, never the token.
    fn url_for(&self, voice: Option<&str>, language: Option<&str>) -> String {
        let c = &self.config;
        crate::options::ws_url(
            &c.url,
            c.sample_rate,
            voice.or(c.voice.as_deref()),
            language.or(c.language.as_deref()),
        )
    }

    fn error(&self, kind: ErrorKind, phase: Phase, message: impl Into<String>) -> TtsError {
        TtsError::new(kind, message)
            .with_provider(self.id.clone())
            .with_phase(phase)
            .with_endpoint(&self.id)
    }

    /// Closes the idle connection, if any.
    pub fn close_idle(&self) {
        self.idle.borrow_mut().take();
    }

    /// Opens a connection now, so the first utterance skips the handshake.
    pub async fn prewarm(&self) -> Result<()> {
        let url = self.url_for(None, None);
        let connection = self.acquire(&url).await?;
        *self.idle.borrow_mut() = Some(connection);
        Ok(())
    }

    /// The idle connection to `url` if it is still usable, else a new one.
    async fn acquire(&self, url: &str) -> Result<Connection> {
        let reusable = self.idle.borrow_mut().take();
        if let Some(mut connection) = reusable.filter(|c| c.url == url && c.is_open()) {
            let ready = if connection.owes_clear {
                connection.drain_until_clear().await
            } else {
                // Anything that arrived while idle (an error frame, a close)
                // belongs to no utterance: a fresh connection is safer.
                !connection.has_queued_frames()
            };
            if ready {
                connection.owes_clear = false;
                return Ok(connection);
            }
        }
        self.connect(url).await
    }

    async fn connect(&self, url: &str) -> Result<Connection> {
        let socket = match &self.config.token {
            Some(token) => WebSocket::new_with_str(url, &format!("xai-client-secret.{token}")),
            None => WebSocket::new(url),
        }
        .map_err(|_| {
            self.error(
                ErrorKind::Config,
                Phase::Connect,
                "the browser refused the WebSocket URL",
            )
            .with_hint("use a ws:// or wss:// URL the page may connect to")
        })?;
        self.opened.set(self.opened.get() + 1);
        let mut connection = Connection::new(socket, url.to_string());
        let first = timeout(CONNECT_TIMEOUT, connection.frames.next())
            .await
            .ok();
        if let Some(Some(frame)) = &first {
            connection.took(frame);
        }
        match first {
            Some(Some(Frame::Open)) => Ok(connection),
            Some(Some(Frame::Closed { code, .. })) => Err(self
                .error(
                    ErrorKind::Unavailable,
                    Phase::Upgrade,
                    format!(
                        "could not connect to {} (closed with {code}): refused, or rejected at the upgrade (e.g. 401/403)",
                        self.id
                    ),
                )
                .with_hint("browsers hide the HTTP status of a refused upgrade: check the endpoint URL, the token and the server's Origin allowlist, and the server's log")),
            Some(_) => Err(self.error(
                ErrorKind::Protocol,
                Phase::Upgrade,
                "a frame arrived before the connection opened",
            )),
            None => Err(self.error(
                ErrorKind::Timeout,
                Phase::Connect,
                format!(
                    "the connection to {} did not open within {} s",
                    self.id,
                    CONNECT_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

#[voxwire_core::async_trait(?Send)]
impl TtsProvider for Endpoint {
    fn id(&self) -> &str {
        &self.id
    }

    fn describe(&self) -> String {
        format!("{} (xAI protocol over a browser WebSocket)", self.id)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le],
            sample_rates: vec![self.config.sample_rate],
            native_format: self.format(),
            languages: Vec::new(),
            max_text_chars: MAX_TEXT_CHARS,
            timestamps: false,
            speed_range: None,
        }
    }

    /// Endpoints list their voices over HTTP (`GET /v1/tts/voices` on a
    /// relay), which this WebSocket client does not fetch: the voice is chosen
    /// in the options and sent as the `voice` query parameter.
    async fn voices(&self) -> Result<Vec<Voice>> {
        Ok(Vec::new())
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(MAX_TEXT_CHARS)?;
        let url = self.url_for(request.voice.as_deref(), request.language.as_deref());
        let connection = self.acquire(&url).await?;
        let text = request.text;
        for message in [
            ClientMessage::TextDelta {
                delta: text.clone(),
            },
            ClientMessage::TextDone,
        ] {
            connection
                .socket
                .send_with_str(&message.to_json())
                .map_err(|_| {
                    self.error(
                        ErrorKind::Unavailable,
                        Phase::Send,
                        "the connection closed while sending text",
                    )
                })?;
        }
        Ok(Box::pin(Utterance {
            connection: Some(connection),
            idle: self.idle.clone(),
            endpoint: self.id.clone(),
            format: self.format(),
            aligner: SampleAligner::new(2),
            sequence: 0,
            notices: self.notices.clone(),
            text,
            cursor: 0,
            span: None,
        }))
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        let (session, task) = session::buffered(self.clone(), config, MAX_TEXT_CHARS);
        wasm_bindgen_futures::spawn_local(task);
        Ok(session)
    }
}

/// What the socket's callbacks hand to the reader.
enum Frame {
    Open,
    Text(String),
    Binary,
    Closed { code: u16, reason: String },
}

impl Frame {
    /// What it counts against `MAX_QUEUED_BYTES`: never 0, so a zero count
    /// means nothing is queued.
    fn size(&self) -> usize {
        match self {
            Frame::Text(t) => t.len().max(1),
            _ => 1,
        }
    }
}

/// An open WebSocket and the frames it received.
struct Connection {
    socket: WebSocket,
    url: String,
    frames: mpsc::UnboundedReceiver<Frame>,
    inbox: Rc<Inbox>,
    /// A cancelled utterance's audio may still arrive, up to `audio.clear`.
    owes_clear: bool,
    _callbacks: [Closure<dyn FnMut(JsValue)>; 3],
}

/// Where the socket's callbacks put frames for the reader, with the count
/// that bounds them.
struct Inbox {
    tx: mpsc::UnboundedSender<Frame>,
    /// Bytes received and not yet read (bounded by `MAX_QUEUED_BYTES`).
    queued: Cell<usize>,
    /// The bound was hit and the connection closed because of it.
    overflowed: Cell<bool>,
}

impl Inbox {
    /// Queues a frame; `false` when it would pass the bound (it is dropped).
    fn push(&self, frame: Frame) -> bool {
        let total = self.queued.get() + frame.size();
        if total > MAX_QUEUED_BYTES && matches!(frame, Frame::Text(_) | Frame::Binary) {
            self.overflowed.set(true);
            return false;
        }
        self.queued.set(total);
        let _ = self.tx.unbounded_send(frame);
        true
    }
}

impl Connection {
    fn new(socket: WebSocket, url: String) -> Self {
        socket.set_binary_type(BinaryType::Arraybuffer);
        let (tx, frames) = mpsc::unbounded();
        let inbox = Rc::new(Inbox {
            tx,
            queued: Cell::new(0),
            overflowed: Cell::new(false),
        });
        let on_open = {
            let inbox = inbox.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| {
                inbox.push(Frame::Open);
            })
        };
        let on_message = {
            let inbox = inbox.clone();
            let socket = socket.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let Some(data) = event.dyn_ref::<MessageEvent>().map(MessageEvent::data) else {
                    return;
                };
                let frame = data.as_string().map_or(Frame::Binary, Frame::Text);
                if !inbox.push(frame) {
                    // The reader fell too far behind: end the connection
                    // rather than buffer without bound.
                    let _ = socket.close_with_code_and_reason(1008, "client queue full");
                }
            })
        };
        let on_close = {
            let inbox = inbox.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let (code, reason) = event
                    .dyn_ref::<CloseEvent>()
                    .map_or((1006, String::new()), |c| (c.code(), c.reason()));
                inbox.push(Frame::Closed { code, reason });
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Self {
            socket,
            url,
            frames,
            inbox,
            owes_clear: false,
            _callbacks: [on_open, on_message, on_close],
        }
    }

    fn is_open(&self) -> bool {
        self.socket.ready_state() == WebSocket::OPEN
    }

    fn has_queued_frames(&self) -> bool {
        self.inbox.queued.get() > 0
    }

    fn took(&self, frame: &Frame) {
        let inbox = &self.inbox;
        inbox
            .queued
            .set(inbox.queued.get().saturating_sub(frame.size()));
    }

    /// Skips a cancelled utterance's leftovers; whether `audio.clear` came in time.
    async fn drain_until_clear(&mut self) -> bool {
        let drained = timeout(CLEAR_TIMEOUT, async {
            while let Some(frame) = self.frames.next().await {
                self.took(&frame);
                match frame {
                    Frame::Text(text) => {
                        if let Ok(Incoming::Known(ServerMessage::AudioClear)) =
                            parse_server_message(&text)
                        {
                            return true;
                        }
                    }
                    Frame::Closed { .. } => return false,
                    Frame::Open | Frame::Binary => {}
                }
            }
            false
        })
        .await;
        drained == Ok(true)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

/// One utterance's audio, read off the connection until `audio.done`.
struct Utterance {
    /// `None` once the utterance ended (the connection went back or was dropped).
    connection: Option<Connection>,
    idle: Rc<RefCell<Option<Connection>>>,
    endpoint: String,
    format: AudioFormat,
    aligner: SampleAligner,
    sequence: u64,
    notices: Option<Notices>,
    /// The text sent, which `audio_timestamps` characters are found in.
    text: String,
    /// Bytes of `text` already matched to timestamps.
    cursor: usize,
    /// Text the timestamps placed that no chunk carried yet.
    span: Option<TextSpan>,
}

impl Utterance {
    /// Notes which text the timestamps of a delta speak (for the next chunk).
    fn place(&mut self, stamps: Option<&voxwire_xai::protocol::AudioTimestamps>) {
        let Some(found) = stamps.and_then(|t| span_of(&self.text, self.cursor, &t.graph_chars))
        else {
            return;
        };
        self.cursor = found.end;
        self.span = Some(match self.span {
            Some(s) => TextSpan {
                start: s.start,
                end: found.end,
            },
            None => found,
        });
    }

    fn fail(&mut self, kind: ErrorKind, message: String) -> Poll<Option<Result<AudioChunk>>> {
        self.failed(TtsError::new(kind, message))
    }

    /// Ends the utterance with `error`, naming this endpoint.
    fn failed(&mut self, error: TtsError) -> Poll<Option<Result<AudioChunk>>> {
        self.connection = None; // never reused after an error
        Poll::Ready(Some(Err(error
            .with_provider(self.endpoint.clone())
            .with_phase(Phase::Receive)
            .with_endpoint(&self.endpoint))))
    }

    /// What one text frame means for the stream: audio, the end, an error, or nothing.
    fn on_text(&mut self, text: &str) -> Option<Poll<Option<Result<AudioChunk>>>> {
        let message = match parse_server_message(text) {
            Ok(Incoming::Known(message)) => message,
            Ok(Incoming::Unknown(kind)) => {
                if kind.starts_with("voxwire.") {
                    if let (Some(notices), Some(event)) = (&self.notices, notice_event(text)) {
                        notices(&self.endpoint, event);
                    }
                }
                return None;
            }
            Err(why) => {
                return Some(self.fail(ErrorKind::Protocol, format!("bad server message: {why}")))
            }
        };
        match message {
            ServerMessage::AudioClear => None,
            ServerMessage::AudioDelta {
                delta: None,
                audio_timestamps,
            } => {
                self.place(audio_timestamps.as_ref());
                None
            }
            ServerMessage::AudioDelta {
                delta: Some(b64),
                audio_timestamps,
            } => match base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
                Ok(bytes) => {
                    self.place(audio_timestamps.as_ref());
                    let data = self.aligner.push(bytes.into());
                    if data.is_empty() {
                        return None;
                    }
                    let chunk = AudioChunk {
                        data,
                        format: self.format,
                        sequence: self.sequence,
                        span: self.span.take(),
                        times: None,
                        words: Vec::new(),
                    };
                    self.sequence += 1;
                    Some(Poll::Ready(Some(Ok(chunk))))
                }
                Err(e) => Some(self.fail(
                    ErrorKind::Protocol,
                    format!("bad base64 in audio.delta: {e}"),
                )),
            },
            ServerMessage::AudioDone => {
                let _ = self.aligner.finish(); // a trailing odd byte cannot be played
                *self.idle.borrow_mut() = self.connection.take();
                Some(Poll::Ready(None))
            }
            error @ ServerMessage::Error { .. } => {
                let message = error.error_text().unwrap_or_default();
                let excerpt = voxwire_core::error::body_excerpt(message.as_bytes());
                let frame = error_fields(text);
                let mut error =
                    TtsError::new(relay_error_kind(&frame), format!("error frame: {excerpt}"));
                if let Some(note) = relay_replayed(&frame) {
                    error = error.with_source(note);
                }
                Some(self.failed(error))
            }
        }
    }
}

impl Stream for Utterance {
    type Item = Result<AudioChunk>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(connection) = self.connection.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match connection.frames.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            if let Some(frame) = &frame {
                connection.took(frame);
            }
            let overflowed = connection.inbox.overflowed.get();
            match frame {
                Some(Frame::Text(text)) => {
                    if let Some(result) = self.on_text(&text) {
                        return result;
                    }
                }
                Some(Frame::Open) => {}
                Some(Frame::Binary) => {
                    return self.fail(
                        ErrorKind::Protocol,
                        "a binary frame where JSON text was expected".into(),
                    )
                }
                Some(Frame::Closed { .. }) if overflowed => {
                    return self.fail(
                        ErrorKind::Internal,
                        format!("the page fell behind: over {} MiB of received audio waited to be read, so the connection was closed", MAX_QUEUED_BYTES >> 20),
                    )
                }
                Some(Frame::Closed { code, reason }) => {
                    let kind = match code {
                        1009 => ErrorKind::InvalidRequest,
                        _ => ErrorKind::Unavailable,
                    };
                    let why = if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    };
                    return self.fail(
                        kind,
                        format!("the connection closed before audio.done (code {code}{why})"),
                    );
                }
                None => {
                    return self.fail(
                        ErrorKind::Internal,
                        "the socket's callbacks are gone".into(),
                    )
                }
            }
        }
    }
}

impl Drop for Utterance {
    fn drop(&mut self) {
        // Dropped before audio.done: a cancel. Tell the server, and keep the
        // connection for the next utterance once it has drained.
        if let Some(mut connection) = self.connection.take() {
            if connection
                .socket
                .send_with_str(&ClientMessage::TextClear.to_json())
                .is_ok()
            {
                connection.owes_clear = true;
                *self.idle.borrow_mut() = Some(connection);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn relay_frames_become_session_events() {
        assert_eq!(
            notice_event(r#"{"type":"voxwire.provider","entry":"backup","provider":"espeak"}"#),
            Some(SessionEvent::Serving {
                entry: "backup".into(),
                provider: "espeak".into(),
                cached: false,
            })
        );
        assert_eq!(
            notice_event(
                r#"{"type":"voxwire.provider","entry":"xai","provider":"xai","cached":true}"#
            ),
            Some(SessionEvent::Serving {
                entry: "xai".into(),
                provider: "xai".into(),
                cached: true,
            })
        );
        assert_eq!(
            notice_event(
                r#"{"type":"voxwire.provider_changed","from":"xai","to":"espeak","reason":"timeout"}"#
            ),
            Some(SessionEvent::ProviderChanged {
                from: "xai".into(),
                to: "espeak".into(),
                reason: FailoverReason::new(FailoverKind::Failed(ErrorKind::Timeout), "timeout")
            })
        );
        assert_eq!(notice_event(r#"{"type":"voxwire.provider"}"#), None);
        assert_eq!(notice_event(r#"{"type":"voxwire.other","x":1}"#), None);
        assert_eq!(notice_event("not json"), None);
        let long = "x".repeat(5000);
        let frame = format!(r#"{{"type":"voxwire.provider","provider":"{long}"}}"#);
        match notice_event(&frame) {
            Some(SessionEvent::Serving {
                provider, entry, ..
            }) => {
                assert_eq!(provider.len(), MAX_NOTICE_FIELD);
                assert_eq!(entry, provider);
            }
            other => panic!("{other:?}"),
        }
    }

    #[wasm_bindgen_test]
    fn timestamp_characters_are_found_after_the_cursor() {
        let text = "Hi there. Hi again.";
        let chars = |s: &str| s.chars().map(String::from).collect::<Vec<_>>();
        let first = span_of(text, 0, &chars("Hi ")).unwrap();
        assert_eq!((first.start, first.end), (0, 3));
        let again = span_of(text, 9, &chars("Hi")).unwrap();
        assert_eq!((again.start, again.end), (10, 12));
        assert_eq!(span_of(text, 0, &chars("nowhere")), None);
        assert_eq!(span_of(text, 0, &[]), None);
        assert_eq!(span_of(text, 99, &chars("Hi")), None);
    }
}

/// The kind of an error frame: the relay's `kind` field (`ErrorKind::as_str`)
/// when the frame has one, else the words of its text (other xAI servers).
/// A relay's note that it had already replayed the sentence once (its router
/// attaches it), so this router resumes there: the duplicate bound holds
/// through a relay.
fn relay_replayed(frame: &serde_json::Value) -> Option<voxwire_router::Replayed> {
    let ms = frame.get("voxwire_replayed_ms")?.as_u64()?;
    Some(voxwire_router::Replayed {
        position: Duration::from_millis(ms),
    })
}

/// An error frame's fields (`Null` for one that is not JSON: its words are then
/// classified as xAI's are). Parsed once for every field read from it.
fn error_fields(frame: &str) -> serde_json::Value {
    serde_json::from_str(frame).unwrap_or_default()
}

fn relay_error_kind(value: &serde_json::Value) -> ErrorKind {
    if let Some(kind) = value.get("kind").and_then(|k| k.as_str()) {
        if let Ok(k) = kind.parse::<ErrorKind>() {
            return k;
        }
    }
    let text = value
        .get("message")
        .or_else(|| value.get("error"))
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    error_frame_kind(text)
}

#[cfg(test)]
mod kind_tests {
    use super::*;
    use wasm_bindgen_test::*;

    #[wasm_bindgen_test]
    fn the_kind_field_wins_over_the_words() {
        let frame = r#"{"type":"error","message":"rate limited: slow down","kind":"unavailable"}"#;
        assert_eq!(
            relay_error_kind(&error_fields(frame)),
            ErrorKind::Unavailable
        );
        let frame = r#"{"type":"error","message":"invalid frame","kind":"invalid_input"}"#;
        assert_eq!(
            relay_error_kind(&error_fields(frame)),
            ErrorKind::InvalidInput
        );
        // Without the field (another xAI server): the words decide.
        let frame = r#"{"type":"error","message":"rate limited"}"#;
        assert_eq!(
            relay_error_kind(&error_fields(frame)),
            ErrorKind::RateLimited
        );
        let frame = r#"{"type":"error","message":"x","kind":"from-the-future"}"#;
        assert_eq!(
            relay_error_kind(&error_fields(frame)),
            ErrorKind::Unavailable
        );
    }

    #[wasm_bindgen_test]
    fn a_relays_replay_note_becomes_the_routers_replayed() {
        let frame =
            r#"{"type":"error","message":"x","kind":"unavailable","voxwire_replayed_ms":1250}"#;
        assert_eq!(
            relay_replayed(&error_fields(frame)),
            Some(voxwire_router::Replayed {
                position: Duration::from_millis(1250)
            })
        );
        assert_eq!(
            relay_replayed(&error_fields(r#"{"type":"error","message":"x"}"#)),
            None
        );
        assert_eq!(relay_replayed(&error_fields("not json")), None);
    }
}
