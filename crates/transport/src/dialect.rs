//! What a vendor's streaming WebSocket protocol must say for [`WsProvider`](crate::WsProvider)
//! to drive it: how to open, what to send, how to read what comes back.
//!
//! The driver knows no vendor. It owns pooling, timeouts, NoAudio detection,
//! cancel and chunking; a dialect is a few small, synchronous functions
//! from and to messages. The shapes cover the protocols voxwire meets:
//! one utterance at a time per socket (xAI, Deepgram) or many by context id
//! (ElevenLabs multi-stream, Cartesia); audio as binary frames (Deepgram) or
//! base64 in JSON (xAI, ElevenLabs, Cartesia); clear acknowledged (xAI
//! `audio.clear`, Deepgram `Cleared`) or not (ElevenLabs `close_context`);
//! sockets that close after one utterance (ElevenLabs `stream-input`);
//! keep-alives (ElevenLabs, Deepgram).

use std::time::Duration;

use bytes::Bytes;
use voxwire_core::{AudioFormat, Extensions, Result, TtsError};

use crate::connect::UpgradeRequest;

/// How one utterance (or session) should sound: what the upgrade and the
/// messages are built from.
#[derive(Debug, Clone)]
pub struct Voicing {
    /// Voice id; `None` for the dialect's default.
    pub voice: Option<String>,
    /// BCP-47 language; `None` for the dialect's default.
    pub language: Option<String>,
    /// Speaking rate multiplier.
    pub speed: Option<f32>,
    /// The format asked of the vendor (the driver converts it to the caller's).
    pub wire: AudioFormat,
    /// Provider-specific options from the request.
    pub extensions: Extensions,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text frame (JSON, usually).
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

/// A message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
    /// The server's close frame (code and reason, when it sent them).
    Close {
        /// The close code.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
}

/// The vendor's own times for the audio of one message: the next characters
/// of the utterance text, each with when it is spoken (from the start of the
/// utterance), in text order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// One mark per character (or per grapheme the vendor reports as one).
    pub marks: Vec<CharMark>,
}

/// When `chars` characters of the text (one, unless the vendor reports a
/// grapheme of several as one) are spoken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CharMark {
    /// How many characters of the text this mark covers.
    pub chars: usize,
    /// When the first of them starts.
    pub start: Duration,
    /// When the last of them ends.
    pub end: Duration,
}

/// What a server message meant.
#[derive(Debug)]
pub enum Decoded {
    /// Audio bytes in the wire format (possibly empty), maybe with times.
    Audio {
        /// The context it belongs to (`None` on sequential sockets).
        context: Option<String>,
        /// The bytes.
        data: Bytes,
        /// The vendor's times for it.
        timing: Option<Timing>,
    },
    /// The utterance is complete.
    Done {
        /// The context (`None` on sequential sockets).
        context: Option<String>,
    },
    /// A clear (cancel) was acknowledged.
    Cleared {
        /// The context (`None` on sequential sockets).
        context: Option<String>,
    },
    /// The vendor reported an error (already classified by the dialect).
    Error {
        /// The context it concerns, `None` for the socket or the current utterance.
        context: Option<String>,
        /// The error.
        error: TtsError,
    },
    /// Nothing for the driver (unknown types, metadata, warnings).
    Skip,
}

/// Whether one socket carries one utterance at a time or several by context id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiplex {
    /// One utterance at a time; what arrives belongs to the utterance in flight.
    Sequential,
    /// Messages carry a context id; the driver gives each utterance its own.
    ByContext,
}

/// What a cancel takes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelPlan {
    /// Send these messages; with `acknowledged`, wait for [`Decoded::Cleared`]
    /// (audio until then is discarded), else the context is dropped at once
    /// and its late messages ignored. The socket is kept.
    Clear {
        /// What to send.
        messages: Vec<Outgoing>,
        /// Whether the server acknowledges the clear.
        acknowledged: bool,
    },
    /// The protocol cannot stop an utterance: close the socket, open a new one.
    Reconnect,
}

/// One vendor's streaming protocol.
pub trait Dialect: Send + Sync + 'static {
    /// Per-connection decoding state (e.g. running time offsets); most dialects use `()`.
    type State: Default + Send + 'static;

    /// The provider id errors carry.
    fn provider(&self) -> &'static str;

    /// The upgrade for `voicing`: URL (no secret in it) and headers. Sockets
    /// are pooled by URL, so everything that differs per voicing goes in it.
    fn upgrade(&self, voicing: &Voicing) -> Result<UpgradeRequest>;

    /// A vendor hint for a refused upgrade's status (the generic one otherwise).
    fn http_hint(&self, _status: u16) -> Option<String> {
        None
    }

    /// One utterance per socket at a time, or many by context id.
    fn multiplex(&self) -> Multiplex {
        Multiplex::Sequential
    }

    /// Messages that open an utterance (settings, an initial space); none by default.
    fn begin(&self, _voicing: &Voicing, _context: &str) -> Vec<Outgoing> {
        Vec::new()
    }

    /// How many utterances one socket may carry at once: the vendor's limit
    /// (ElevenLabs multi-stream 5, Cartesia many). Above 1, with
    /// [`Multiplex::ByContext`], the driver shares sockets between concurrent
    /// utterances and sessions (see [`crate::driver`]'s shared sockets).
    fn max_contexts(&self) -> usize {
        1
    }

    /// What shared sockets are grouped by: utterances with different keys
    /// never share one. The upgrade URL by default; a dialect whose first
    /// message fixes settings for the socket's life (ElevenLabs'
    /// `voice_settings`) adds them. Never holds a secret.
    fn socket_key(&self, voicing: &Voicing) -> Result<String> {
        Ok(self.upgrade(voicing)?.url)
    }

    /// The messages opening `context` on a shared socket; `first_on_socket`
    /// says whether it is the first context that socket carries (ElevenLabs
    /// sends `voice_settings` only then). [`begin`](Self::begin) by default.
    fn begin_on(&self, voicing: &Voicing, context: &str, first_on_socket: bool) -> Vec<Outgoing> {
        let _ = first_on_socket;
        self.begin(voicing, context)
    }

    /// A message keeping open context `context` alive while its text pauses,
    /// and how often (ElevenLabs' `{"text":"","context_id"}`); none by default.
    fn context_keep_alive(&self, _context: &str) -> Option<(Duration, Outgoing)> {
        None
    }

    /// How long a shared socket with no live context stays open for reuse;
    /// keep it below the vendor's idle close (60 s by default).
    fn shared_idle(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// The message carrying more text of utterance `context`.
    fn text(&self, voicing: &Voicing, context: &str, text: &str) -> Outgoing;

    /// The messages carrying more text of utterance `context`: one [`text`](Self::text)
    /// message by default; vendors with a per-message character limit split here.
    fn texts(&self, voicing: &Voicing, context: &str, text: &str) -> Vec<Outgoing> {
        vec![self.text(voicing, context, text)]
    }

    /// The messages that end utterance `context` (speak what was sent and report done).
    fn flush(&self, voicing: &Voicing, context: &str) -> Vec<Outgoing>;

    /// What stopping utterance `context` takes.
    fn cancel(&self, context: &str) -> CancelPlan;

    /// Reads one server message. `Err` is a protocol violation (bad JSON,
    /// bad base64, a binary frame where text was expected): `Protocol`,
    /// built with [`errors::protocol`](crate::errors::protocol).
    fn decode(&self, state: &mut Self::State, endpoint: &str, frame: Frame) -> Result<Decoded>;

    /// The error for the server closing the socket mid-utterance (the default: `Unavailable`).
    fn close_error(&self, endpoint: &str, code: Option<u16>, reason: &str) -> TtsError {
        let why = match code {
            Some(c) => format!("close code {c} {reason}"),
            None => "close frame".to_string(),
        };
        crate::errors::closed_mid_stream(self.provider(), endpoint, why)
    }

    /// Whether a socket may carry another utterance after one is done
    /// (`false` for protocols whose server closes after each).
    fn reusable_after_done(&self) -> bool {
        true
    }

    /// A message to send before closing a socket the driver retires (shutdown,
    /// pool rotation), for vendors whose sessions linger server-side otherwise.
    fn goodbye(&self) -> Option<Outgoing> {
        None
    }

    /// At most this many flushes per window on one socket (vendors that ignore
    /// extra flushes): a session then merges queued utterances into one flush,
    /// or holds a lone flush until the window has room, instead of losing it.
    /// On shared sockets each context's flush waits its turn in the socket's
    /// window (contexts cannot be merged), and utterances prefer a socket
    /// whose window has room.
    fn flush_limit(&self) -> Option<(usize, Duration)> {
        None
    }

    /// Whether the server greets a new socket with a message (Deepgram's
    /// `Metadata`): a pre-warmed socket reads it before it is pooled, so the
    /// pool's liveness check finds it clean.
    fn greets(&self) -> bool {
        false
    }

    /// A message to send when a session's socket has been quiet this long, if the vendor needs one.
    fn keep_alive(&self) -> Option<(Duration, Outgoing)> {
        None
    }
}

/// The text of a server message for a dialect whose vendor sends JSON text:
/// a binary frame is a `Protocol` error, a close the dialect's
/// [`close_error`](Dialect::close_error).
pub fn json_text<D: Dialect + ?Sized>(dialect: &D, endpoint: &str, frame: Frame) -> Result<String> {
    match frame {
        Frame::Text(text) => Ok(text),
        Frame::Binary(_) => Err(crate::errors::protocol(
            dialect.provider(),
            endpoint,
            "a binary frame where JSON text was expected",
        )),
        Frame::Close { code, reason } => Err(dialect.close_error(endpoint, code, &reason)),
    }
}
