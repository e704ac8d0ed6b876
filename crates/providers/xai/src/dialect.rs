//! xAI's streaming WebSocket as a [`Dialect`]: `text.delta`/`text.done`/`text.clear`
//! out; `audio.delta` (base64, optional `audio_timestamps`), `audio.done`,
//! `audio.clear`, `error` in; one utterance at a time per socket.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use voxwire_core::{ErrorKind, ErrorScope, Phase, Result, TtsError};
use voxwire_transport::dialect::{json_text, CancelPlan};
use voxwire_transport::{
    errors, CharMark, Decoded, Dialect, Frame, Outgoing, Timing, UpgradeRequest, Voicing,
};

use crate::protocol::{
    self, parse_server_message, ClientMessage, Incoming, ServerMessage, StreamQuery,
};
use crate::settings::XaiSettings;
use crate::PROVIDER_ID;
use voxwire_transport::settings::Resolved;

/// Per-request switch for `audio_timestamps`: core's vendor-neutral
/// [`voxwire_core::WantTimestamps`] (the relay sets it from its client's
/// `with_timestamps`), under the name this crate first gave it.
pub use voxwire_core::WantTimestamps as WithTimestamps;

/// The xAI dialect: settings plus resolved endpoints.
#[derive(Debug)]
pub struct XaiDialect {
    pub(crate) settings: XaiSettings,
    pub(crate) resolved: Arc<Resolved>,
}

impl XaiDialect {
    /// The WebSocket query for `voicing`.
    pub(crate) fn query(&self, v: &Voicing) -> StreamQuery {
        let s = &self.settings;
        let timestamps = v
            .extensions
            .get::<WithTimestamps>()
            .map_or(s.timestamps, |w| w.0);
        StreamQuery {
            voice: v.voice.as_deref().unwrap_or(&s.voice).to_ascii_lowercase(),
            language: v.language.as_deref().unwrap_or(&s.language).to_string(),
            codec: protocol::codec_name(v.wire.encoding).to_string(),
            sample_rate: v.wire.sample_rate,
            speed: v.speed.or(s.speed).map(|v| v.to_string()),
            optimize_streaming_latency: s.optimize_streaming_latency,
            text_normalization: s.text_normalization,
            with_timestamps: timestamps.then_some(true),
        }
    }
}

/// The hint for a refused request, at the upgrade (`websocket`) or at REST.
pub(crate) fn hint(status: u16, websocket: bool) -> Option<String> {
    let h = match status {
        401 | 403 if websocket => "the key was rejected or the endpoint is wrong: check XAI_API_KEY, and that XAI_BASE_URL points at the TTS API (the WebSocket is wss://api.x.ai/v1/tts)",
        401 | 403 => "the key was rejected: check XAI_API_KEY (and XAI_BASE_URL)",
        404 => "there is no TTS endpoint at this URL: check XAI_BASE_URL (default https://api.x.ai/v1)",
        400 | 422 => "xAI rejected the request fields: check voice, language and output format",
        429 => "rate limited: slow down or retry after the given delay",
        _ if status >= 500 => "xAI is having trouble: retry, or fail over",
        _ => return None,
    };
    Some(h.to_string())
}

/// Refused fields and unknown voices belong to the request, not to xAI's health.
pub(crate) fn scoped(e: TtsError) -> TtsError {
    let about_voice = e
        .body()
        .is_some_and(|b| b.to_ascii_lowercase().contains("voice"));
    match e.kind() {
        ErrorKind::InvalidRequest => e.with_scope(ErrorScope::Request),
        ErrorKind::NotFound if about_voice && e.phase() != Phase::Connect => {
            e.with_scope(ErrorScope::Request)
        }
        _ => e,
    }
}

/// An `error` frame: the kind is read from its text when recognizable.
pub(crate) fn error_frame(endpoint: &str, text: &str) -> TtsError {
    let kind = protocol::error_frame_kind(text);
    let e = TtsError::new(
        kind,
        format!(
            "error frame: {}",
            voxwire_core::error::body_excerpt(text.as_bytes())
        ),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint);
    if kind == ErrorKind::InvalidRequest {
        e.with_scope(ErrorScope::Request)
    } else {
        e
    }
}

/// xAI's per-character times as marks; a character without times gets the
/// end of the one before it.
fn timing(stamps: &protocol::AudioTimestamps) -> Timing {
    let mut last = Duration::ZERO;
    let marks = stamps
        .graph_chars
        .iter()
        .enumerate()
        .map(|(i, chars)| {
            let (start, end) = match stamps.graph_times.get(i) {
                Some([start, end]) => (seconds(*start), seconds(*end)),
                None => (last, last),
            };
            last = end;
            CharMark {
                chars: chars.chars().count(),
                start,
                end: end.max(start),
            }
        })
        .collect();
    Timing { marks }
}

fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 86_400.0)
    } else {
        0.0
    })
}

impl Dialect for XaiDialect {
    type State = ();

    fn provider(&self) -> &'static str {
        PROVIDER_ID
    }

    fn upgrade(&self, voicing: &Voicing) -> Result<UpgradeRequest> {
        let url = format!(
            "{}?{}",
            self.resolved.ws_url,
            self.query(voicing).to_query_string()
        );
        Ok(UpgradeRequest::new(url).secret_header(
            "authorization",
            voxwire_core::Secret::new(format!("Bearer {}", self.resolved.key.expose())),
        ))
    }

    fn http_hint(&self, status: u16) -> Option<String> {
        hint(status, true)
    }

    fn text(&self, _: &Voicing, _: &str, text: &str) -> Outgoing {
        Outgoing::Text(
            ClientMessage::TextDelta {
                delta: text.to_string(),
            }
            .to_json(),
        )
    }

    fn flush(&self, _: &Voicing, _: &str) -> Vec<Outgoing> {
        vec![Outgoing::Text(ClientMessage::TextDone.to_json())]
    }

    fn cancel(&self, _: &str) -> CancelPlan {
        CancelPlan::Clear {
            messages: vec![Outgoing::Text(ClientMessage::TextClear.to_json())],
            acknowledged: true,
        }
    }

    fn decode(&self, _: &mut (), endpoint: &str, frame: Frame) -> Result<Decoded> {
        let text = json_text(self, endpoint, frame)?;
        let message = match parse_server_message(&text) {
            Err(why) => {
                return Err(errors::protocol(
                    PROVIDER_ID,
                    endpoint,
                    format!("bad server message: {why}"),
                ))
            }
            Ok(Incoming::Unknown(kind)) => {
                tracing::debug!(%kind, "skipping unknown xAI message type");
                return Ok(Decoded::Skip);
            }
            Ok(Incoming::Known(m)) => m,
        };
        Ok(match message {
            ServerMessage::AudioDelta {
                delta,
                audio_timestamps,
            } => {
                let data = match delta {
                    Some(b64) => base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .map_err(|e| {
                            errors::protocol(
                                PROVIDER_ID,
                                endpoint,
                                format!("bad base64 in audio.delta: {e}"),
                            )
                        })?,
                    None => Vec::new(),
                };
                let timing = audio_timestamps.map(|t| timing(&t));
                Decoded::Audio {
                    context: None,
                    data: Bytes::from(data),
                    timing,
                }
            }
            ServerMessage::AudioDone => Decoded::Done { context: None },
            ServerMessage::AudioClear => Decoded::Cleared { context: None },
            error @ ServerMessage::Error { .. } => Decoded::Error {
                context: None,
                error: error_frame(endpoint, &error.error_text().unwrap_or_default()),
            },
        })
    }

    fn close_error(&self, endpoint: &str, code: Option<u16>, reason: &str) -> TtsError {
        let why = match code {
            Some(c) => format!("close code {c} {reason}"),
            None => "close frame".to_string(),
        };
        TtsError::new(
            ErrorKind::Unavailable,
            format!("the connection closed before audio.done: {why}"),
        )
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Receive)
        .with_endpoint(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_at_upgrade_names_both_causes() {
        assert!(hint(403, true)
            .unwrap()
            .contains("key was rejected or the endpoint is wrong"));
    }

    #[test]
    fn error_frames_classify_by_text() {
        assert_eq!(error_frame("x", "Invalid API key").kind(), ErrorKind::Auth);
        assert_eq!(
            error_frame("x", "rate limit exceeded").kind(),
            ErrorKind::RateLimited
        );
        let voice = error_frame("x", "unknown voice zed");
        assert_eq!(voice.kind(), ErrorKind::InvalidRequest);
        assert_eq!(voice.scope(), ErrorScope::Request);
        assert_eq!(
            error_frame("x", "internal hiccup").kind(),
            ErrorKind::Unavailable
        );
    }
}
