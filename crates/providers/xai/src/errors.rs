//! Turning what xAI (or the network) does wrong into actionable `TtsError`s.

use std::time::Duration;

use voxwire_core::{ErrorKind, Phase, TtsError};

use crate::PROVIDER_ID;

/// An HTTP error answer at the REST call or the WebSocket upgrade.
pub(crate) fn http_error(
    status: u16,
    phase: Phase,
    endpoint: &str,
    body: &[u8],
    retry_after: Option<&str>,
    websocket: bool,
) -> TtsError {
    let mut err = TtsError::from_http(status, phase, endpoint, body).with_provider(PROVIDER_ID);
    if let Some(after) = retry_after.and_then(parse_retry_after) {
        err = err.with_retry_after(after);
    }
    let hint = match status {
        401 | 403 if websocket => Some(
            "the key was rejected or the endpoint is wrong: check XAI_API_KEY, and that XAI_BASE_URL points at the TTS API (the WebSocket is wss://api.x.ai/v1/tts)",
        ),
        401 | 403 => Some("the key was rejected: check XAI_API_KEY (and XAI_BASE_URL)"),
        404 => Some("there is no TTS endpoint at this URL: check XAI_BASE_URL (default https://api.x.ai/v1)"),
        400 | 422 => Some("xAI rejected the request fields: check voice, language and output format"),
        429 => Some("rate limited: slow down or retry after the given delay"),
        _ if status >= 500 => Some("xAI is having trouble: retry, or fail over"),
        _ => None,
    };
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// `Retry-After` as seconds (the HTTP-date form is rare for APIs and is ignored).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// The connection could not be opened (refused, DNS, TLS, reset).
pub(crate) fn connect_error(endpoint: &str, what: impl std::fmt::Display) -> TtsError {
    TtsError::new(ErrorKind::Unavailable, format!("cannot connect: {what}"))
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Connect)
        .with_endpoint(endpoint)
        .with_hint("check the network and XAI_BASE_URL")
}

/// A wait ran past its limit.
pub(crate) fn timeout(endpoint: &str, phase: Phase, what: &str, limit: Duration) -> TtsError {
    TtsError::new(
        ErrorKind::Timeout,
        format!("{what} within {} ms", limit.as_millis()),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(phase)
    .with_endpoint(endpoint)
}

/// The server broke the protocol.
pub(crate) fn protocol(endpoint: &str, what: impl Into<String>) -> TtsError {
    TtsError::new(ErrorKind::Protocol, what)
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Decode)
        .with_endpoint(endpoint)
}

/// The connection closed or broke while an utterance was in flight.
pub(crate) fn closed_mid_stream(endpoint: &str, what: impl std::fmt::Display) -> TtsError {
    TtsError::new(
        ErrorKind::Unavailable,
        format!("the connection closed before audio.done: {what}"),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint)
}

/// The utterance ended without audio.
pub(crate) fn no_audio(endpoint: &str) -> TtsError {
    TtsError::new(
        ErrorKind::NoAudio,
        "audio.done arrived with no audio (no audio frames were pushed)",
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint)
}

/// An `error` frame: the kind is read from its text when recognizable.
pub(crate) fn error_frame(endpoint: &str, text: &str) -> TtsError {
    let kind = crate::protocol::error_frame_kind(text);
    TtsError::new(
        kind,
        format!(
            "error frame: {}",
            voxwire_core::error::body_excerpt(text.as_bytes())
        ),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_at_upgrade_names_both_causes_and_the_url() {
        let e = http_error(
            403,
            Phase::Upgrade,
            "wss://api.x.ai/v1/tts",
            b"",
            None,
            true,
        );
        let line = e.to_string();
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(line.contains("wss://api.x.ai/v1/tts"), "{line}");
        assert!(
            line.contains("key was rejected or the endpoint is wrong"),
            "{line}"
        );
        assert!(line.contains("upgrade"), "{line}");
    }

    #[test]
    fn retry_after_is_kept() {
        let e = http_error(429, Phase::Upgrade, "x", b"", Some("2"), true);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn error_frames_classify_by_text() {
        assert_eq!(error_frame("x", "Invalid API key").kind(), ErrorKind::Auth);
        assert_eq!(
            error_frame("x", "rate limit exceeded").kind(),
            ErrorKind::RateLimited
        );
        assert_eq!(
            error_frame("x", "unknown voice zed").kind(),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            error_frame("x", "internal hiccup").kind(),
            ErrorKind::Unavailable
        );
    }
}
