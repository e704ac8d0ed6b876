//! Deepgram's `/v1/speak` WebSocket as a [`Dialect`]: `Speak`/`Flush`/`Clear`/`Close`
//! out; binary audio, `Metadata`, `Flushed`, `Cleared`, `Warning` and error frames in;
//! one utterance at a time per socket.

use std::sync::Arc;

use voxwire_core::{ErrorKind, ErrorScope, Result, Secret, TtsError};
use voxwire_transport::dialect::CancelPlan;
use voxwire_transport::{errors, Decoded, Dialect, Frame, Outgoing, UpgradeRequest, Voicing};

use crate::protocol::{self, ServerMessage};
use crate::settings::DeepgramSettings;
use crate::PROVIDER_ID;
use voxwire_transport::settings::Resolved;

/// The Deepgram dialect: settings plus resolved endpoints.
#[derive(Debug)]
pub struct DeepgramDialect {
    pub(crate) settings: DeepgramSettings,
    pub(crate) resolved: Arc<Resolved>,
}

impl DeepgramDialect {
    /// The query both endpoints share for `voicing` (REST adds `container`).
    pub(crate) fn query(&self, v: &Voicing) -> Vec<(&'static str, String)> {
        let s = &self.settings;
        let mut q = vec![
            ("model", v.voice.clone().unwrap_or_else(|| s.model.clone())),
            (
                "encoding",
                protocol::encoding_name(v.wire.encoding).to_string(),
            ),
            ("sample_rate", v.wire.sample_rate.to_string()),
        ];
        if let Some(speed) = v.speed.or(s.speed) {
            q.push(("speed", speed.to_string()));
        }
        if s.mip_opt_out {
            q.push(("mip_opt_out", "true".to_string()));
        }
        q
    }

    /// `base?query` with every value percent-encoded.
    pub(crate) fn url(base: &str, query: &[(&'static str, String)]) -> Result<String> {
        reqwest::Url::parse_with_params(base, query)
            .map(String::from)
            .map_err(|e| {
                TtsError::config(format!("bad Deepgram URL: {e}")).with_provider(PROVIDER_ID)
            })
    }

    /// `Token <key>`, the header value Deepgram documents for API keys.
    pub(crate) fn token(&self) -> Secret {
        Secret::new(format!("Token {}", self.resolved.key.expose()))
    }
}

/// The hint for a refused request (REST or upgrade).
pub(crate) fn hint(status: u16) -> Option<String> {
    let h = match status {
        401 => "Deepgram refused the key: check DEEPGRAM_API_KEY (sent as `Authorization: Token`)",
        402 => "the Deepgram project is out of credits: top up billing (retrying will not help)",
        403 => "the key may not use this model: check the project's permissions, or pick another Aura voice",
        404 => "there is no /v1/speak at this URL: check DEEPGRAM_BASE_URL (default https://api.deepgram.com)",
        400 | 415 | 422 => "Deepgram refused the request: check the model, encoding and sample_rate (and split long text)",
        413 => "the text is over Deepgram's limit: split it",
        429 => "rate or concurrency limited: slow down, and close idle sockets",
        _ if status >= 500 => "Deepgram is having trouble: retry, or fail over",
        _ => return None,
    };
    Some(h.to_string())
}

/// The failure table's HTTP rows: an unknown model is `NotFound` for this
/// request, refused fields and over-long text belong to the request, 402 is
/// an `Auth`-like billing failure.
pub(crate) fn scoped(e: TtsError) -> TtsError {
    let body = e.body().unwrap_or_default().to_ascii_lowercase();
    match (e.kind(), e.status()) {
        (ErrorKind::InvalidRequest, Some(400))
            if body.contains("no such model")
                || body.contains("model") && body.contains("not found") =>
        {
            let m = format!("{}: unknown model (voice)", e.message());
            e.with_kind(ErrorKind::NotFound)
                .with_message(m)
                .with_scope(ErrorScope::Request)
        }
        (_, Some(402)) => {
            let m = format!("{}: billing (out of credits)", e.message());
            e.with_kind(ErrorKind::Auth).with_message(m)
        }
        (ErrorKind::InvalidRequest, _) => e.with_scope(ErrorScope::Request),
        _ => e,
    }
}

impl Dialect for DeepgramDialect {
    type State = ();

    fn provider(&self) -> &'static str {
        PROVIDER_ID
    }

    fn upgrade(&self, voicing: &Voicing) -> Result<UpgradeRequest> {
        let url = Self::url(&self.resolved.ws_url, &self.query(voicing))?;
        Ok(UpgradeRequest::new(url).secret_header("authorization", self.token()))
    }

    fn http_hint(&self, status: u16) -> Option<String> {
        hint(status)
    }

    fn text(&self, _: &Voicing, _: &str, text: &str) -> Outgoing {
        Outgoing::Text(protocol::speak(text))
    }

    fn texts(&self, _: &Voicing, _: &str, text: &str) -> Vec<Outgoing> {
        protocol::split_text(text, self.settings.max_speak_chars)
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(|t| Outgoing::Text(protocol::speak(t)))
            .collect()
    }

    fn flush(&self, _: &Voicing, _: &str) -> Vec<Outgoing> {
        vec![Outgoing::Text(protocol::FLUSH.to_string())]
    }

    fn cancel(&self, _: &str) -> CancelPlan {
        CancelPlan::Clear {
            messages: vec![Outgoing::Text(protocol::CLEAR.to_string())],
            acknowledged: true,
        }
    }

    /// Deepgram greets with `Metadata`; a pre-warmed socket reads it first.
    fn greets(&self) -> bool {
        true
    }

    fn goodbye(&self) -> Option<Outgoing> {
        Some(Outgoing::Text(protocol::CLOSE.to_string()))
    }

    fn flush_limit(&self) -> Option<(usize, std::time::Duration)> {
        // Deepgram counts a flush when it arrives, later than it left here:
        // a tenth of the window (at least 100 ms) of margin keeps the
        // server's window from still holding the flush this one replaces.
        let window = self.settings.flush_window();
        let margin = (window / 10).max(std::time::Duration::from_millis(100));
        Some((self.settings.flush_limit.max(1), window + margin))
    }

    fn decode(&self, _: &mut (), endpoint: &str, frame: Frame) -> Result<Decoded> {
        let text = match frame {
            Frame::Binary(data) => {
                return Ok(Decoded::Audio {
                    context: None,
                    data,
                    timing: None,
                })
            }
            Frame::Text(t) => t,
            Frame::Close { code, reason } => return Err(self.close_error(endpoint, code, &reason)),
        };
        let message = protocol::parse_server_message(&text).map_err(|why| {
            errors::protocol(PROVIDER_ID, endpoint, format!("bad server message: {why}"))
        })?;
        Ok(match message {
            ServerMessage::Metadata { request_id } => {
                tracing::debug!(
                    request_id = request_id.as_deref().unwrap_or(""),
                    "Deepgram Metadata"
                );
                Decoded::Skip
            }
            ServerMessage::Flushed { .. } => Decoded::Done { context: None },
            ServerMessage::Cleared { .. } => Decoded::Cleared { context: None },
            ServerMessage::Warning { code, message } => {
                tracing::warn!(%code, %message, "Deepgram warning");
                Decoded::Skip
            }
            ServerMessage::Error { status, text } => Decoded::Error {
                context: None,
                error: protocol::error_frame(endpoint, status, &text),
            },
            ServerMessage::Unknown(kind) => {
                tracing::debug!(%kind, "skipping unknown Deepgram message type");
                Decoded::Skip
            }
        })
    }

    fn close_error(&self, endpoint: &str, code: Option<u16>, reason: &str) -> TtsError {
        protocol::close_error(endpoint, code, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_models_and_billing_are_reclassified() {
        let e = TtsError::from_http(
            400,
            voxwire_core::Phase::Upgrade,
            "x",
            br#"{"err_code":"Bad Request","err_msg":"No such model/version combination found."}"#,
        );
        let e = scoped(e);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.scope(), ErrorScope::Request);
        assert_eq!(e.status(), Some(400));
        let e = scoped(TtsError::from_http(
            402,
            voxwire_core::Phase::Upgrade,
            "x",
            b"{}",
        ));
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(e.to_string().contains("billing"));
        let e = scoped(TtsError::from_http(
            422,
            voxwire_core::Phase::Upgrade,
            "x",
            b"{}",
        ));
        assert_eq!(e.scope(), ErrorScope::Request);
    }
}
