//! ElevenLabs' multi-context socket (`multi-stream-input`) as a [`Dialect`]
//! on the transport's shared-socket path: a context per utterance, at most
//! five live on one socket, `voice_settings` only on a socket's first
//! context, `flush` then `close_context` to end one (a bare flush never
//! brings `isFinal`), `close_context` to cancel one (the vendor answers it
//! with `isFinal`, so its slot is held until then), a keep-alive per open
//! context inside the vendor's 20 s input timeout, and both spellings of
//! the fields the notes list (`contextId`/`context_id`, `isFinal`/`is_final`,
//! `charDurationsMs`/`charsDurationsMs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use voxwire_core::{ErrorKind, ErrorScope, Phase, Result, TtsError};
use voxwire_transport::dialect::{json_text, CancelPlan};
use voxwire_transport::settings::Resolved;
use voxwire_transport::{
    errors, Decoded, Dialect, Frame, Multiplex, Outgoing, UpgradeRequest, Voicing,
};

use crate::settings::ElevenLabsSettings;
use crate::timed::Clock;
use crate::wire::{self, Alignment, VoiceSettings};
use crate::PROVIDER_ID;

/// Contexts one socket carries at once (the vendor closes the socket with
/// 1008 on a sixth).
pub const MAX_CONTEXTS: usize = 5;
/// How often an open context whose text pauses is kept alive (Pipecat's
/// figure; the vendor ends a context after 20 s without input).
pub const CONTEXT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// How long a socket with no context is kept for reuse: below the vendor's
/// 20 s input timeout, so voxwire closes it before the vendor does.
pub const SHARED_IDLE: Duration = Duration::from_secs(15);

/// The model the socket does not offer (403 at the upgrade): it is spoken over REST.
pub fn rest_only_model(model: &str) -> bool {
    model.starts_with("eleven_v3")
}

/// A message to the socket; only the fields set are sent.
#[derive(Debug, Default, Serialize)]
struct ClientMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voice_settings: Option<&'a VoiceSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flush: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_context: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_socket: Option<bool>,
}

impl ClientMessage<'_> {
    fn out(&self) -> Outgoing {
        // Serializing plain strings, numbers and booleans cannot fail.
        Outgoing::Text(serde_json::to_string(self).unwrap_or_default())
    }
}

/// The socket's alignment: per character, in milliseconds from the chunk's start.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SocketAlignment {
    #[serde(default)]
    chars: Vec<String>,
    #[serde(default, alias = "charsStartTimesMs")]
    char_start_times_ms: Vec<f64>,
    #[serde(default, alias = "charsDurationsMs")]
    char_durations_ms: Vec<f64>,
}

impl SocketAlignment {
    /// As the REST answer's alignment (seconds, start and end).
    fn in_seconds(&self) -> Alignment {
        Alignment {
            characters: self.chars.clone(),
            character_start_times_seconds: self
                .char_start_times_ms
                .iter()
                .map(|ms| ms / 1000.0)
                .collect(),
            character_end_times_seconds: self
                .char_start_times_ms
                .iter()
                .zip(&self.char_durations_ms)
                .map(|(start, length)| (start + length) / 1000.0)
                .collect(),
        }
    }
}

/// A message from the socket: audio, a context's end, or an error.
#[derive(Debug, Default, Deserialize)]
struct ServerMessage {
    #[serde(default)]
    audio: Option<String>,
    #[serde(default, rename = "isFinal", alias = "is_final")]
    is_final: Option<bool>,
    #[serde(default, rename = "contextId", alias = "context_id")]
    context_id: Option<String>,
    #[serde(default)]
    alignment: Option<SocketAlignment>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Per socket: each context's clock (its times come chunk-relative).
#[derive(Debug, Default)]
pub struct SocketState {
    clocks: HashMap<String, Clock>,
}

/// The ElevenLabs socket dialect: the entry's settings and endpoints.
#[derive(Debug)]
pub struct ElevenLabsDialect {
    pub(crate) settings: ElevenLabsSettings,
    pub(crate) resolved: Arc<Resolved>,
}

impl ElevenLabsDialect {
    fn voice_settings(&self, v: &Voicing) -> VoiceSettings {
        let s = &self.settings;
        VoiceSettings {
            stability: s.stability,
            similarity_boost: s.similarity_boost,
            speed: v.speed.or(s.speed),
        }
    }

    /// `{ws}/{voice}/multi-stream-input?model_id=…&output_format=…`.
    fn url(&self, v: &Voicing) -> Result<reqwest::Url> {
        let s = &self.settings;
        let voice = v.voice.as_deref().filter(|v| !v.trim().is_empty());
        let voice = voice.unwrap_or(&s.voice);
        let mut url = reqwest::Url::parse(&self.resolved.ws_url).map_err(|e| {
            TtsError::config(format!("bad base_url: {e}")).with_provider(PROVIDER_ID)
        })?;
        url.path_segments_mut()
            .map_err(|()| {
                TtsError::config("base_url cannot take a path").with_provider(PROVIDER_ID)
            })?
            .push(voice)
            .push("multi-stream-input");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("model_id", &s.model);
            q.append_pair("output_format", &wire::output_format(v.wire));
            if let Some(lang) = v
                .language
                .as_deref()
                .filter(|_| wire::takes_language_code(&s.model))
            {
                q.append_pair("language_code", lang);
            }
            if !s.enable_logging {
                q.append_pair("enable_logging", "false");
            }
            if s.timestamps {
                q.append_pair("sync_alignment", "true");
            }
        }
        Ok(url)
    }
}

/// What an error the vendor sent (a JSON message or a close reason) means.
pub(crate) fn vendor_error(text: &str, endpoint: &str, close: Option<u16>) -> TtsError {
    let lower = text.to_ascii_lowercase();
    let why = match close {
        Some(code) => format!("close code {code}: {text}"),
        None => text.to_string(),
    };
    let (kind, scope, message, hint) = if lower.contains("quota") {
        (
            ErrorKind::Auth,
            ErrorScope::Provider,
            format!("the ElevenLabs quota is exhausted ({why})"),
            "the account has no credits left: upgrade the plan or wait for the quota to reset; retrying will not help",
        )
    } else if lower.contains("voice_settings") {
        (
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
            format!("voice_settings were sent again on the socket ({why})"),
            "a client bug: voice_settings go only on a socket's first context",
        )
    } else if lower.contains("max_active_conversations")
        || lower.contains("simultaneous contexts")
        || lower.contains("too many")
    {
        (
            ErrorKind::RateLimited,
            ErrorScope::Transient,
            format!("too many contexts on the socket ({why})"),
            "contexts beyond five per socket wait their turn: a stale context was left open",
        )
    } else if lower.contains("timeout") || lower.contains("have not received") {
        (
            ErrorKind::Timeout,
            ErrorScope::Transient,
            format!("the socket's input timed out ({why})"),
            "a context went 20 s without text: keep-alives keep it open",
        )
    } else {
        (
            ErrorKind::Unavailable,
            ErrorScope::Transient,
            format!("ElevenLabs ended the socket ({why})"),
            "retry, or fail over",
        )
    };
    TtsError::new(kind, message)
        .with_provider(PROVIDER_ID)
        .with_scope(scope)
        .with_phase(Phase::Receive)
        .with_endpoint(endpoint)
        .with_body(text.as_bytes())
        .with_hint(hint)
}

impl Dialect for ElevenLabsDialect {
    type State = SocketState;

    fn provider(&self) -> &'static str {
        PROVIDER_ID
    }

    fn upgrade(&self, voicing: &Voicing) -> Result<UpgradeRequest> {
        if rest_only_model(&self.settings.model) {
            return Err(TtsError::new(
                ErrorKind::Unsupported,
                format!(
                    "ElevenLabs does not offer {} over its WebSocket (403 at the upgrade): it is spoken over REST",
                    self.settings.model
                ),
            )
            .with_provider(PROVIDER_ID)
            .with_scope(ErrorScope::Request));
        }
        let url = self.url(voicing)?;
        Ok(UpgradeRequest::new(url.to_string())
            .secret_header("xi-api-key", self.resolved.key.clone()))
    }

    fn http_hint(&self, status: u16) -> Option<String> {
        let h = match status {
            401 => "ElevenLabs refused the key (or the quota is exhausted): check ELEVENLABS_API_KEY",
            403 => "ElevenLabs refused the socket for this model or key: eleven_v3 is not offered over WebSockets (use transport = \"rest\")",
            404 => "there is no multi-stream-input at this URL: check ELEVENLABS_BASE_URL and the voice id",
            429 => "too many connections for the plan: the shared sockets back off",
            _ => return None,
        };
        Some(h.to_string())
    }

    fn multiplex(&self) -> Multiplex {
        Multiplex::ByContext
    }

    fn max_contexts(&self) -> usize {
        MAX_CONTEXTS
    }

    /// The URL, plus the voice settings: they are fixed for a socket's
    /// life (sent on its first context only), so different ones never share.
    fn socket_key(&self, voicing: &Voicing) -> Result<String> {
        let settings = serde_json::to_string(&self.voice_settings(voicing)).unwrap_or_default();
        Ok(format!("{} {settings}", self.url(voicing)?))
    }

    fn begin_on(&self, voicing: &Voicing, context: &str, first_on_socket: bool) -> Vec<Outgoing> {
        let settings = self.voice_settings(voicing);
        let message = ClientMessage {
            text: Some(" "),
            context_id: Some(context),
            voice_settings: (first_on_socket && !settings.is_empty()).then_some(&settings),
            ..ClientMessage::default()
        };
        vec![message.out()]
    }

    fn context_keep_alive(&self, context: &str) -> Option<(Duration, Outgoing)> {
        let message = ClientMessage {
            text: Some(""),
            context_id: Some(context),
            ..ClientMessage::default()
        };
        Some((CONTEXT_KEEP_ALIVE, message.out()))
    }

    fn shared_idle(&self) -> Duration {
        SHARED_IDLE
    }

    fn text(&self, _: &Voicing, context: &str, text: &str) -> Outgoing {
        ClientMessage {
            text: Some(text),
            context_id: Some(context),
            ..ClientMessage::default()
        }
        .out()
    }

    /// Everything buffered is spoken, then the context is closed: only a
    /// closed context brings `isFinal`.
    fn flush(&self, _: &Voicing, context: &str) -> Vec<Outgoing> {
        let flush = ClientMessage {
            context_id: Some(context),
            flush: Some(true),
            ..ClientMessage::default()
        };
        let close = ClientMessage {
            context_id: Some(context),
            close_context: Some(true),
            ..ClientMessage::default()
        };
        vec![flush.out(), close.out()]
    }

    /// `close_context`, which the vendor answers with `isFinal`: the slot is
    /// held until then, so barge-ins never open a sixth context.
    fn cancel(&self, context: &str) -> CancelPlan {
        let close = ClientMessage {
            context_id: Some(context),
            close_context: Some(true),
            ..ClientMessage::default()
        };
        CancelPlan::Clear {
            messages: vec![close.out()],
            acknowledged: true,
        }
    }

    fn goodbye(&self) -> Option<Outgoing> {
        Some(
            ClientMessage {
                close_socket: Some(true),
                ..ClientMessage::default()
            }
            .out(),
        )
    }

    fn decode(&self, state: &mut SocketState, endpoint: &str, frame: Frame) -> Result<Decoded> {
        let text = json_text(self, endpoint, frame)?;
        let m: ServerMessage = serde_json::from_str(&text).map_err(|e| {
            errors::protocol(
                PROVIDER_ID,
                endpoint,
                format!("a socket message is not the expected JSON: {e}"),
            )
        })?;
        let context = m.context_id.clone();
        if let Some(said) = m.error.as_deref().or(m.message.as_deref()) {
            if m.audio.is_none() {
                let said = match (&m.error, &m.message) {
                    (Some(e), Some(msg)) => format!("{e}: {msg}"),
                    _ => said.to_string(),
                };
                return Ok(Decoded::Error {
                    context,
                    error: vendor_error(&said, endpoint, None),
                });
            }
        }
        if let Some(b64) = m.audio.as_deref() {
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| {
                    errors::protocol(PROVIDER_ID, endpoint, format!("`audio` is not base64: {e}"))
                })?;
            let timing = match (&m.alignment, &context) {
                (Some(a), Some(c)) if !a.chars.is_empty() => {
                    let clock = state.clocks.entry(c.clone()).or_default();
                    Some(clock.marks(&a.in_seconds()).ok_or_else(|| {
                        errors::protocol(
                            PROVIDER_ID,
                            endpoint,
                            "`alignment` lists differ in length or hold a bad time",
                        )
                    })?)
                }
                _ => None,
            };
            return Ok(Decoded::Audio {
                context,
                data: data.into(),
                timing,
            });
        }
        if m.is_final == Some(true) {
            if let Some(c) = &context {
                state.clocks.remove(c);
            }
            return Ok(Decoded::Done { context });
        }
        Ok(Decoded::Skip) // flush_done, alignment-only messages, unknown types
    }

    fn close_error(&self, endpoint: &str, code: Option<u16>, reason: &str) -> TtsError {
        match code {
            Some(1000) | None if reason.is_empty() => {
                errors::closed_mid_stream(PROVIDER_ID, endpoint, "the socket closed before isFinal")
            }
            Some(code) => vendor_error(reason, endpoint, Some(code)),
            None => vendor_error(reason, endpoint, None),
        }
    }
}
