//! Cartesia's `/tts/websocket` as a [`Dialect`] on the transport's shared
//! path: many utterances at once on one socket, each its own `context_id`.
//!
//! Out (JSON text frames, wire notes "WebSocket protocol"):
//! - each piece of text: the full generation request with `context_id`,
//!   `transcript` and `continue: true` (inputs on a context are
//!   concatenated verbatim, so the text is sent as the caller gave it);
//! - the end: the same object with `transcript: ""` and `continue: false`;
//! - barge-in: `{"context_id","cancel":true}`. Cartesia ends a cancelled
//!   context with its `done` (the docs' example), after the audio already
//!   generating: that `done` is the acknowledgement
//!   ([`CancelPlan::Clear`] with `acknowledged: true`), so the slot stays
//!   held while Cartesia still counts the context against the plan's
//!   concurrency, and the audio until then is dropped.
//!
//! In: `chunk` (base64 audio), `timestamps` (`word_timestamps` in seconds
//! from the start of the context's audio, mapped onto [`CharMark`]s of
//! the text sent, see `CartesiaDialect::word_timing`), `done` (end of the context),
//! `flush_done` and unknown types (skipped), `error` in either shape
//! (`message`, else `error`, else `title`): with a `context_id` it fails
//! that context only (a 4xx error is followed by `done`, which the driver
//! then ignores); without one it fails the socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use voxwire_core::{ErrorKind, ErrorScope, Phase, Result, Secret, TtsError, WantTimestamps};
use voxwire_transport::dialect::{json_text, CancelPlan};
use voxwire_transport::settings::Resolved;
use voxwire_transport::{
    errors, CharMark, Decoded, Dialect, Frame, Multiplex, Outgoing, Timing, UpgradeRequest, Voicing,
};

use crate::provider::VERSION_HEADER;
use crate::settings::CartesiaSettings;
use crate::wire::{self, ErrorBody};
use crate::PROVIDER_ID;

/// How long a shared socket with no live context is kept: below the
/// shortest idle close reported (60 s; the docs say 5 minutes).
pub const SHARED_IDLE: Duration = Duration::from_secs(45);

/// The WebSocket's path after the base URL.
pub const SOCKET_PATH: &str = "/tts/websocket";

/// Most contexts whose text is remembered for timestamp mapping (a bound
/// against contexts that end without a `done`, a close say).
const MAX_REMEMBERED: usize = 4_096;

/// The Cartesia dialect: settings, resolved endpoints, and the text sent
/// on each open context (word timestamps are aligned against it).
#[derive(Debug)]
pub struct CartesiaDialect {
    pub(crate) settings: CartesiaSettings,
    pub(crate) resolved: Arc<Resolved>,
    texts: Mutex<HashMap<String, Sent>>,
}

/// The text of one context and how far its timestamps have marked it.
#[derive(Debug, Default)]
struct Sent {
    text: String,
    /// Byte offset of the first character not yet marked.
    cursor: usize,
}

impl CartesiaDialect {
    /// The dialect for these settings and endpoints.
    pub fn new(settings: CartesiaSettings, resolved: Arc<Resolved>) -> Self {
        Self {
            settings,
            resolved,
            texts: Mutex::new(HashMap::new()),
        }
    }

    /// `{base}/tts/websocket` with ws/wss (the REST path is `/tts/bytes`).
    pub fn socket_url(&self) -> String {
        let ws = &self.resolved.ws_url;
        let base = ws.strip_suffix(crate::settings::VENDOR.path).unwrap_or(ws);
        format!("{base}{SOCKET_PATH}")
    }

    fn texts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sent>> {
        self.texts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether word timestamps are asked for `voicing` (the request's
    /// [`WantTimestamps`], else the entry's `timestamps`).
    pub fn timestamps(&self, v: &Voicing) -> bool {
        v.extensions
            .get::<WantTimestamps>()
            .map_or(self.settings.timestamps, |w| w.0)
    }

    /// The generation request of `context` for `voicing`, with `transcript`
    /// and `continue` (every input of a context repeats the same fields).
    pub fn request(&self, v: &Voicing, context: &str, transcript: &str, more: bool) -> Value {
        let s = &self.settings;
        let voice = v
            .voice
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or(&s.voice);
        let mut body = json!({
            "model_id": s.model,
            "transcript": transcript,
            "voice": wire::voice(voice, s.version.trim()),
            "output_format": wire::output_format(v.wire),
            "context_id": context,
            "continue": more,
            "max_buffer_delay_ms": s.max_buffer_delay_ms,
        });
        if let Some(language) = &v.language {
            body["language"] = json!(language);
        }
        if let Some(speed) = v.speed {
            body["generation_config"] = json!({ "speed": speed });
        }
        if self.timestamps(v) {
            body["add_timestamps"] = json!(true);
        }
        body
    }

    /// The [`Timing`] of a `word_timestamps` object for `context`: each word
    /// found in the text sent from where the last one ended gets one mark
    /// over its characters with the vendor's start and end; what lies
    /// between (spaces, punctuation the vendor leaves out) a mark at the
    /// previous word's end. A word not found in the text (normalized
    /// timestamps) is marked over as many characters as it has.
    fn word_timing(&self, context: &str, stamps: &Value) -> Option<Timing> {
        let words = stamps["words"].as_array()?;
        let starts = stamps["start"].as_array()?;
        let ends = stamps["end"].as_array()?;
        let mut texts = self.texts();
        let sent = texts.entry(context.to_string()).or_default();
        let mut marks = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let Some(word) = word.as_str().filter(|w| !w.is_empty()) else {
                continue;
            };
            let start = seconds(starts.get(i).and_then(Value::as_f64).unwrap_or(0.0));
            let end = seconds(ends.get(i).and_then(Value::as_f64).unwrap_or(0.0)).max(start);
            let rest = sent.text.get(sent.cursor..).unwrap_or_default();
            let (gap, len) = match rest.find(word) {
                Some(at) => (rest[..at].chars().count(), word.len()),
                None => (0, 0),
            };
            if gap > 0 {
                let at = marks.last().map_or(start, |m: &CharMark| m.end);
                marks.push(CharMark {
                    chars: gap,
                    start: at,
                    end: at,
                });
            }
            let skipped = rest.char_indices().nth(gap).map_or(rest.len(), |(b, _)| b);
            sent.cursor += skipped + len;
            marks.push(CharMark {
                chars: word.chars().count(),
                start,
                end,
            });
        }
        (!marks.is_empty()).then_some(Timing { marks })
    }

    fn forget(&self, context: &str) {
        self.texts().remove(context);
    }
}

fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 86_400.0)
    } else {
        0.0
    })
}

/// The hint for a refused upgrade's status.
pub(crate) fn hint(status: u16) -> Option<String> {
    let h = match status {
        401 | 403 => "the key or the Cartesia-Version header was rejected: check CARTESIA_API_KEY (or api_key in the cartesia chain entry) and the entry's `version`",
        404 => "there is no Cartesia WebSocket here: check base_url (https://api.cartesia.ai, without a path)",
        429 => "Cartesia refused another connection (at most 10 × the plan's concurrency): voxwire backs off; lower max connections or fail over",
        s if s >= 500 => "Cartesia is having trouble: retry, or fail over",
        _ => return None,
    };
    Some(h.to_string())
}

/// An `error` frame as the error the driver routes: kind from its
/// `status_code` (else its text), worded from `message`/`error`/`title`,
/// request-scoped when it names a context and is a 4xx other than 429.
pub(crate) fn error_frame(endpoint: &str, v: &Value, context: Option<&str>) -> TtsError {
    let body = ErrorBody::parse(v.to_string().as_bytes());
    let status = v["status_code"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok());
    let said = body.message.clone().unwrap_or_else(|| "no message".into());
    let lower = format!("{} {said}", body.code.as_deref().unwrap_or_default()).to_ascii_lowercase();
    let kind = match status {
        Some(401 | 403) => ErrorKind::Auth,
        Some(404) => ErrorKind::NotFound,
        Some(429) => ErrorKind::RateLimited,
        Some(s) if (400..500).contains(&s) => ErrorKind::InvalidRequest,
        Some(s) if s >= 500 => ErrorKind::Unavailable,
        _ if lower.contains("api key") || lower.contains("unauthorized") => ErrorKind::Auth,
        _ if lower.contains("not found") => ErrorKind::NotFound,
        _ if lower.contains("concurrency") || lower.contains("rate limit") => {
            ErrorKind::RateLimited
        }
        _ if context.is_some() => ErrorKind::InvalidRequest,
        _ => ErrorKind::Unavailable,
    };
    let status_text = status.map_or(String::new(), |s| format!(" {s}"));
    let mut e = TtsError::new(
        kind,
        format!(
            "error frame{status_text}: {}",
            voxwire_core::error::body_excerpt(said.as_bytes())
        ),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint)
    .with_body(v.to_string().as_bytes());
    if let Some(s) = status {
        e = e.with_status(s);
    }
    if let Some(id) = &body.request_id {
        e = e.with_request_id(id.chars().take(128).collect::<String>());
    }
    let request_scoped = matches!(kind, ErrorKind::InvalidRequest)
        || (kind == ErrorKind::NotFound && (lower.contains("voice") || lower.contains("model")));
    if context.is_some() && request_scoped {
        e = e.with_scope(ErrorScope::Request);
    }
    e
}

impl Dialect for CartesiaDialect {
    type State = ();

    fn provider(&self) -> &'static str {
        PROVIDER_ID
    }

    fn upgrade(&self, _: &Voicing) -> Result<UpgradeRequest> {
        let key = self.resolved.key.expose();
        Ok(UpgradeRequest::new(self.socket_url())
            .header(VERSION_HEADER, self.settings.version.trim())
            .secret_header("authorization", Secret::new(format!("Bearer {key}"))))
    }

    fn http_hint(&self, status: u16) -> Option<String> {
        hint(status)
    }

    fn multiplex(&self) -> Multiplex {
        Multiplex::ByContext
    }

    /// The entry's `concurrency`: Cartesia counts each live context against
    /// the plan's limit.
    fn max_contexts(&self) -> usize {
        self.settings.concurrency.max(1)
    }

    fn shared_idle(&self) -> Duration {
        SHARED_IDLE
    }

    fn text(&self, v: &Voicing, context: &str, text: &str) -> Outgoing {
        if self.timestamps(v) {
            // The driver builds an open's texts before its `begin_on`, so
            // the text is remembered here, not at the begin.
            let mut texts = self.texts();
            if texts.len() >= MAX_REMEMBERED && !texts.contains_key(context) {
                texts.clear();
            }
            texts
                .entry(context.to_string())
                .or_default()
                .text
                .push_str(text);
        }
        Outgoing::Text(self.request(v, context, text, true).to_string())
    }

    fn flush(&self, v: &Voicing, context: &str) -> Vec<Outgoing> {
        vec![Outgoing::Text(
            self.request(v, context, "", false).to_string(),
        )]
    }

    fn cancel(&self, context: &str) -> CancelPlan {
        self.forget(context);
        CancelPlan::Clear {
            messages: vec![Outgoing::Text(
                json!({ "context_id": context, "cancel": true }).to_string(),
            )],
            acknowledged: true,
        }
    }

    fn decode(&self, _: &mut (), endpoint: &str, frame: Frame) -> Result<Decoded> {
        let text = json_text(self, endpoint, frame)?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            errors::protocol(PROVIDER_ID, endpoint, format!("bad server message: {e}"))
        })?;
        let context = v["context_id"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(match v["type"].as_str().unwrap_or_default() {
            "chunk" => {
                let data = match v["data"].as_str() {
                    Some(b64) => base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .map_err(|e| {
                            errors::protocol(
                                PROVIDER_ID,
                                endpoint,
                                format!("bad base64 in a chunk: {e}"),
                            )
                        })?,
                    None => Vec::new(),
                };
                Decoded::Audio {
                    context,
                    data: Bytes::from(data),
                    timing: None,
                }
            }
            "timestamps" => {
                let timing = context
                    .as_deref()
                    .and_then(|c| self.word_timing(c, &v["word_timestamps"]));
                match timing {
                    Some(timing) => Decoded::Audio {
                        context,
                        data: Bytes::new(),
                        timing: Some(timing),
                    },
                    None => Decoded::Skip,
                }
            }
            "done" => {
                if let Some(c) = &context {
                    self.forget(c);
                }
                Decoded::Done { context }
            }
            "error" => {
                if let Some(c) = &context {
                    self.forget(c);
                }
                Decoded::Error {
                    error: error_frame(endpoint, &v, context.as_deref()),
                    context,
                }
            }
            _ if v["done"].as_bool() == Some(true) && v["type"].is_null() => {
                Decoded::Done { context }
            }
            other => {
                tracing::debug!(kind = %other, "skipping a Cartesia message");
                Decoded::Skip
            }
        })
    }

    fn close_error(&self, endpoint: &str, code: Option<u16>, reason: &str) -> TtsError {
        let why = match code {
            Some(c) => format!("close code {c} {reason}"),
            None => "close frame".to_string(),
        };
        TtsError::new(
            ErrorKind::Unavailable,
            format!("the connection closed before the context's done: {why}"),
        )
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Receive)
        .with_endpoint(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::{AudioFormat, Extensions};
    use voxwire_transport::NetworkVendor;

    fn dialect(timestamps: bool) -> CartesiaDialect {
        let s = CartesiaSettings {
            api_key: Some(Secret::new("k")),
            timestamps,
            ..CartesiaSettings::default()
        };
        let r = crate::Cartesia::resolve(&s).unwrap();
        CartesiaDialect::new(s, Arc::new(r))
    }

    fn voicing() -> Voicing {
        Voicing {
            voice: None,
            language: Some("en".into()),
            speed: None,
            wire: AudioFormat::pcm16_mono(24_000),
            extensions: Extensions::default(),
        }
    }

    fn sent(o: &Outgoing) -> Value {
        let Outgoing::Text(t) = o else { panic!() };
        serde_json::from_str(t).unwrap()
    }

    #[test]
    fn text_continues_and_the_end_is_an_empty_transcript() {
        let d = dialect(false);
        let v = voicing();
        let m = sent(&d.text(&v, "c1", "Hello "));
        assert_eq!(
            (m["continue"].clone(), m["transcript"].clone()),
            (json!(true), json!("Hello "))
        );
        assert_eq!(m["context_id"], "c1");
        assert_eq!(m["output_format"]["encoding"], "pcm_s16le");
        assert!(m.get("add_timestamps").is_none());
        let end = sent(&d.flush(&v, "c1")[0]);
        assert_eq!(
            (end["continue"].clone(), end["transcript"].clone()),
            (json!(false), json!(""))
        );
        assert_eq!(end["model_id"], m["model_id"]);
        let CancelPlan::Clear {
            messages,
            acknowledged,
        } = d.cancel("c1")
        else {
            panic!()
        };
        assert!(acknowledged);
        assert_eq!(sent(&messages[0]), json!({"context_id":"c1","cancel":true}));
    }

    #[test]
    fn word_times_become_marks_over_the_text_sent() {
        let d = dialect(true);
        let v = voicing();
        assert_eq!(
            sent(&d.text(&v, "c", "Hi there, you."))["add_timestamps"],
            true
        );
        let frame = json!({"type":"timestamps","context_id":"c","word_timestamps":
            {"words":["Hi","there,"],"start":[0.0,0.2],"end":[0.15,0.5]}});
        let Decoded::Audio {
            data,
            timing: Some(t),
            ..
        } = d
            .decode(&mut (), "e", Frame::Text(frame.to_string()))
            .unwrap()
        else {
            panic!()
        };
        assert!(data.is_empty());
        let chars: Vec<usize> = t.marks.iter().map(|m| m.chars).collect();
        assert_eq!(chars, vec![2, 1, 6]);
        assert_eq!(t.marks[2].start, Duration::from_millis(200));
        let next = json!({"type":"timestamps","context_id":"c","word_timestamps":
            {"words":["you."],"start":[0.6],"end":[0.9]}});
        let Decoded::Audio {
            timing: Some(t), ..
        } = d
            .decode(&mut (), "e", Frame::Text(next.to_string()))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            t.marks.iter().map(|m| m.chars).collect::<Vec<_>>(),
            vec![1, 4]
        );
    }

    #[test]
    fn errors_name_their_context_and_read_both_shapes() {
        let d = dialect(false);
        let old = json!({"type":"error","context_id":"c","status_code":400,"done":true,"error":"empty transcript"});
        let Decoded::Error { context, error } = d
            .decode(&mut (), "e", Frame::Text(old.to_string()))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(context.as_deref(), Some("c"));
        assert_eq!(
            (error.kind(), error.scope()),
            (ErrorKind::InvalidRequest, ErrorScope::Request)
        );
        assert!(error.message().contains("empty transcript"));
        let new = json!({"type":"error","status_code":500,"title":"Internal","message":"boom","request_id":"r1"});
        let Decoded::Error { context, error } = d
            .decode(&mut (), "e", Frame::Text(new.to_string()))
            .unwrap()
        else {
            panic!()
        };
        assert!(context.is_none());
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert_eq!(error.request_id(), Some("r1"));
        let unknown = json!({"type":"flush_done","context_id":"c","flush_id":1});
        assert!(matches!(
            d.decode(&mut (), "e", Frame::Text(unknown.to_string()))
                .unwrap(),
            Decoded::Skip
        ));
        assert!(d.decode(&mut (), "e", Frame::Text("{".into())).is_err());
    }
}
