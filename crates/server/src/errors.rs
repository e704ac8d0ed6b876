//! Errors as untrusted clients see them: a kind, the chain entry, a short
//! reason and what to do. Never upstream URLs, bodies, operator hints or the
//! other attempts of the chain: the operator's log keeps the whole line.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use voxwire_core::{ErrorKind, ErrorScope, TtsError};

use crate::state::AppState;

/// One error for one client: safe to send to anyone holding a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// What went wrong, as `ErrorKind::as_str` names it on the wire.
    pub kind: ErrorKind,
    /// The chain entry that failed last, when the router said.
    pub entry: Option<String>,
    /// A short reason, written by the relay (never copied from upstream).
    pub reason: Cow<'static, str>,
    /// What the client can do about it.
    pub action: &'static str,
    /// How far into its sentence the audio got when the relay's router had
    /// already replayed it once: a router in front (the browser's) resumes
    /// there rather than replaying again (the duplicate bound across relays).
    pub replayed: Option<std::time::Duration>,
}

impl ClientError {
    /// An error the relay itself decided (a limit, a bad frame, shutdown).
    pub fn relay(
        kind: ErrorKind,
        reason: impl Into<Cow<'static, str>>,
        action: &'static str,
    ) -> Self {
        Self {
            kind,
            entry: None,
            reason: reason.into(),
            action,
            replayed: None,
        }
    }

    /// The safe form of a router failure. Provider-scoped kinds (a bad key,
    /// a wrong endpoint, a protocol fault upstream) are the operator's
    /// business: the client sees `unavailable`. The words of each reason keep
    /// today's clients, which classify error frames by their text
    /// (`voxwire_xai::protocol::error_frame_kind`), on the same kind.
    pub fn from_router(error: &TtsError) -> Self {
        let entry = error
            .provider()
            .and_then(|p| p.rsplit(", ").next())
            .filter(|p| !p.is_empty() && *p != "router")
            .map(str::to_string);
        let kind = match error.scope() {
            ErrorScope::Provider => ErrorKind::Unavailable,
            _ => error.kind(),
        };
        let (reason, action): (&'static str, &'static str) = match kind {
            ErrorKind::InvalidInput => (
                "invalid text: it is empty or over the relay's bound",
                "send shorter, non-empty utterances",
            ),
            ErrorKind::InvalidRequest | ErrorKind::Unsupported | ErrorKind::NotFound => (
                "no voice provider accepts this request (unsupported voice, language, codec or speed)",
                "check the voice, language, codec, sample rate and speed you asked for",
            ),
            ErrorKind::RateLimited => (
                "the voice providers are rate limited",
                "retry this utterance in a few seconds",
            ),
            ErrorKind::Timeout => (
                "no voice provider answered in time",
                "retry this utterance; if it keeps failing, tell the relay's operator",
            ),
            ErrorKind::Cancelled => ("the utterance was cancelled", "nothing to do"),
            _ => (
                "no voice provider could speak this utterance",
                "retry shortly; the relay's operator has the details in its log",
            ),
        };
        let replayed = voxwire_router::Replayed::of(error).map(|r| r.position);
        Self {
            kind,
            entry,
            reason: Cow::Borrowed(reason),
            action,
            replayed,
        }
    }

    /// The one-line message of the error frame: reason, then what to do.
    pub fn message(&self) -> String {
        format!("{}: {}", self.reason, self.action)
    }
}

/// Text from a request, cut and stripped of control characters, fit to echo
/// in a refusal (an Origin header is the caller's own, but still bounded).
pub(crate) fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(120).collect()
}

/// `{"error": message}` with a status; messages never hold credentials.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// A safe reply for a router failure: kind, entry, reason and what to do;
/// the whole error goes to the log.
pub(crate) fn router_error(
    state: &AppState,
    status: StatusCode,
    error: &voxwire_core::TtsError,
) -> Response {
    tracing::warn!(%error, "request failed");
    let safe = ClientError::from_router(error);
    state.metrics.client_error(safe.kind);
    let mut body = serde_json::json!({ "error": safe.message(), "kind": safe.kind.as_str() });
    if let Some(entry) = &safe.entry {
        body["entry"] = serde_json::Value::String(entry.clone());
    }
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::Phase;

    #[test]
    fn router_errors_lose_urls_bodies_hints_and_other_attempts() {
        let e = TtsError::from_http(
            503,
            Phase::Connect,
            "https://api.x.ai/v1/tts?key=secret",
            b"upstream body with details",
        )
        .with_provider("xai, backup")
        .with_hint("operator: rotate the key in vault://ops");
        let safe = ClientError::from_router(&e);
        assert_eq!(safe.kind, ErrorKind::Unavailable);
        assert_eq!(safe.entry.as_deref(), Some("backup"));
        let text = safe.message();
        for leak in ["api.x.ai", "secret", "upstream body", "vault", "xai,"] {
            assert!(!text.contains(leak), "{text}");
        }
    }

    #[test]
    fn provider_scoped_kinds_read_as_unavailable_and_keep_their_words() {
        let auth = TtsError::new(ErrorKind::Auth, "401 from https://h/").with_provider("xai");
        let safe = ClientError::from_router(&auth);
        assert_eq!(safe.kind, ErrorKind::Unavailable);
        assert_eq!(
            voxwire_xai::protocol::error_frame_kind(&safe.message()),
            ErrorKind::Unavailable
        );
        let limited = TtsError::new(ErrorKind::RateLimited, "429").with_provider("router");
        let safe = ClientError::from_router(&limited);
        assert_eq!(safe.entry, None);
        assert_eq!(
            voxwire_xai::protocol::error_frame_kind(&safe.message()),
            ErrorKind::RateLimited
        );
        let bad = TtsError::new(ErrorKind::Unsupported, "no such language").with_provider("xai");
        assert_eq!(
            voxwire_xai::protocol::error_frame_kind(&ClientError::from_router(&bad).message()),
            ErrorKind::InvalidRequest
        );
    }
}
