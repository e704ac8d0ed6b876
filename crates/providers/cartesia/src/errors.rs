//! The notes' failure table for REST: a Cartesia refusal, classified by
//! its HTTP status, worded from its body in either shape.

use voxwire_core::{ErrorKind, ErrorScope, TtsError};
use voxwire_transport::http::{self, HttpFailure};

use crate::wire::ErrorBody;
use crate::PROVIDER_ID;

/// A refused call (synthesis or voice list) as the error the router acts on.
pub(crate) fn classify(failure: &HttpFailure<'_>) -> TtsError {
    let body = ErrorBody::parse(failure.body);
    let mut base = http::classify(PROVIDER_ID, failure, |_| None);
    if base.request_id().is_none() {
        if let Some(id) = &body.request_id {
            base = base.with_request_id(id.chars().take(128).collect::<String>());
        }
    }
    let said = body.message.clone().unwrap_or_default();
    let code = body.code.as_deref().unwrap_or_default();
    let lower = format!("{code} {said}").to_ascii_lowercase();
    let (kind, scope, what, hint): (ErrorKind, ErrorScope, &str, &str) = match failure.status {
        401 | 403 => (
            ErrorKind::Auth,
            ErrorScope::Provider,
            "the key or the Cartesia-Version header was rejected",
            "check CARTESIA_API_KEY (or api_key in the cartesia chain entry) and the entry's `version` (YYYY-MM-DD)",
        ),
        404 if lower.contains("voice") || lower.contains("model") => (
            ErrorKind::NotFound,
            ErrorScope::Request,
            "the voice or model was not found",
            "check the voice id (`voxwire voices --provider cartesia` lists the account's voices) and the model",
        ),
        404 => (
            ErrorKind::NotFound,
            ErrorScope::Provider,
            "there is no text-to-speech endpoint here",
            "check base_url (it should be https://api.cartesia.ai, without a path)",
        ),
        400 | 422 => (
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
            "the request was refused",
            "check voice, model, language and output format",
        ),
        429 => (
            ErrorKind::RateLimited,
            base.scope(),
            "Cartesia is over the plan's concurrency",
            "too many requests at once for the plan (Free 2, Pro 3, Startup 5, Scale 15): retry shortly, or fail over",
        ),
        s if s >= 500 => (
            ErrorKind::Unavailable,
            base.scope(),
            "Cartesia is having trouble",
            "retry, or fail over",
        ),
        _ => return base,
    };
    let message = if said.is_empty() {
        format!("{what} (HTTP {})", failure.status)
    } else {
        format!("{what} (HTTP {}): {said}", failure.status)
    };
    base.with_kind(kind)
        .with_scope(scope)
        .with_message(message)
        .with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use voxwire_core::Phase;

    fn refused(status: u16, body: &str) -> TtsError {
        classify(&HttpFailure {
            status,
            phase: Phase::Upgrade,
            endpoint: "http://127.0.0.1:9/tts/bytes",
            headers: &HeaderMap::new(),
            body: body.as_bytes(),
        })
    }

    #[test]
    fn each_row_of_the_table_in_both_body_shapes() {
        let e = refused(401, r#"{"error":"Invalid API key"}"#);
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::Auth, ErrorScope::Provider)
        );
        assert!(e.message().contains("Invalid API key"), "{e}");
        let e = refused(
            404,
            r#"{"title":"Not found","message":"Voice abc not found","error_code":"voice_not_found","request_id":"r-9"}"#,
        );
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::NotFound, ErrorScope::Request)
        );
        assert_eq!(e.request_id(), Some("r-9"));
        let e = refused(404, "Not Found");
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::NotFound, ErrorScope::Provider)
        );
        let e = refused(422, r#"{"error":"transcript must not be empty"}"#);
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::InvalidRequest, ErrorScope::Request)
        );
        assert_eq!(refused(429, "{}").kind(), ErrorKind::RateLimited);
        assert_eq!(refused(503, "").kind(), ErrorKind::Unavailable);
    }
}
