//! The notes' failure table: an ElevenLabs refusal, classified by
//! `detail.status` before the HTTP status (an exhausted quota is a 401).

use voxwire_core::{ErrorKind, ErrorScope, TtsError};
use voxwire_transport::http::{self, HttpFailure};

use crate::wire::ErrorDetail;
use crate::PROVIDER_ID;

/// The header ElevenLabs names a request by (for support).
pub const TRACE_HEADER: &str = "x-trace-id";

/// A refused call (synthesis or voice list) as the error the router acts on.
pub(crate) fn classify(failure: &HttpFailure<'_>) -> TtsError {
    let detail = ErrorDetail::parse(failure.body);
    let mut base = http::classify(PROVIDER_ID, failure, |_| None);
    if base.request_id().is_none() {
        if let Some(id) = http::header(failure.headers, TRACE_HEADER) {
            base = base.with_request_id(id.chars().take(128).collect::<String>());
        }
    }
    let said = detail.message.clone().unwrap_or_default();
    let status = detail.status.as_deref().unwrap_or_default();
    let lower = format!("{status} {said}").to_ascii_lowercase();
    let (kind, scope, message, hint): (ErrorKind, ErrorScope, String, &str) = match status {
        "quota_exceeded" => (
            ErrorKind::Auth,
            ErrorScope::Provider,
            format!("the ElevenLabs quota is exhausted: {said}"),
            "the account has no credits left: upgrade the plan or wait for the quota to reset; retrying will not help",
        ),
        "invalid_api_key" | "needs_authorization" => (
            ErrorKind::Auth,
            ErrorScope::Provider,
            format!("the key was rejected ({status}): {said}"),
            "check ELEVENLABS_API_KEY (or api_key in the elevenlabs chain entry)",
        ),
        "voice_not_found" => (
            ErrorKind::NotFound,
            ErrorScope::Request,
            format!("the voice was not found: {said}"),
            "check the voice id (`voxwire voices --provider elevenlabs` lists the account's voices)",
        ),
        "max_character_limit_exceeded" => (
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
            format!("the text is over the model's character limit: {said}"),
            "send shorter texts, or a model with a higher limit (eleven_flash_v2_5: 40000)",
        ),
        "too_many_concurrent_requests" | "system_busy" => (
            ErrorKind::RateLimited,
            base.scope(),
            format!("ElevenLabs is busy ({status}): {said}"),
            "too many requests at once for the plan: retry shortly, or fail over",
        ),
        _ if lower.contains("output format") || lower.contains("output_format") => (
            ErrorKind::Unsupported,
            ErrorScope::Request,
            format!("the plan does not offer this output format: {said}"),
            "pcm_44100 needs a Pro plan: set `pcm_44100 = false` in the elevenlabs chain entry to have 44.1 kHz converted from 24 kHz",
        ),
        "subscription_required" | "only_for_creator+" => (
            ErrorKind::Auth,
            ErrorScope::Request,
            format!("the plan does not include this feature ({status}): {said}"),
            "upgrade the ElevenLabs plan, or leave the feature out",
        ),
        _ => return generic(base, failure.status, &detail),
    };
    let message = match message.strip_suffix(": ") {
        Some(m) => m.to_string(),
        None => message,
    };
    base.with_kind(kind)
        .with_scope(scope)
        .with_message(message)
        .with_hint(hint)
}

/// A refusal without a known `detail.status`: by its HTTP status.
fn generic(base: TtsError, status: u16, detail: &ErrorDetail) -> TtsError {
    let said = detail.message.as_deref().unwrap_or("");
    match status {
        400 | 422 => base.with_scope(ErrorScope::Request).with_hint(format!(
            "the request was refused{}: check voice, model, language and output format",
            if said.is_empty() {
                String::new()
            } else {
                format!(" ({said})")
            }
        )),
        401 | 403 => {
            base.with_hint("the key was rejected: check ELEVENLABS_API_KEY (and base_url)")
        }
        404 => base.with_hint(
            "there is no text-to-speech endpoint here: check base_url (it should end in /v1)",
        ),
        s if s >= 500 => base.with_hint("ElevenLabs is having trouble: retry, or fail over"),
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use voxwire_core::Phase;

    fn refused(status: u16, body: &str) -> TtsError {
        let mut headers = HeaderMap::new();
        headers.insert(TRACE_HEADER, HeaderValue::from_static("trace-1"));
        classify(&HttpFailure {
            status,
            phase: Phase::Upgrade,
            endpoint: "http://127.0.0.1:9/v1/text-to-speech",
            headers: &headers,
            body: body.as_bytes(),
        })
    }

    #[test]
    fn the_status_in_the_body_decides_before_the_http_status() {
        let e = refused(
            401,
            r#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota of 10000. You have 0 credits remaining."}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.scope(), ErrorScope::Provider);
        assert!(e.message().contains("quota"), "{e}");
        assert_eq!(e.request_id(), Some("trace-1"));
        let e = refused(
            404,
            r#"{"detail":{"status":"voice_not_found","message":"A voice with the voice_id x was not found."}}"#,
        );
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::NotFound, ErrorScope::Request)
        );
        let e = refused(
            403,
            r#"{"detail":{"status":"subscription_required","message":"Output format 'pcm_44100' is only available on the Pro tier and above."}}"#,
        );
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::Unsupported, ErrorScope::Request)
        );
        assert!(e.hint().is_some_and(|h| h.contains("pcm_44100")));
        let e = refused(
            429,
            r#"{"detail":{"status":"system_busy","message":"busy"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        let e = refused(
            422,
            r#"{"detail":[{"loc":["body","text"],"msg":"field required","type":"x"}]}"#,
        );
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::InvalidRequest, ErrorScope::Request)
        );
        let e = refused(
            500,
            r#"{"detail":{"status":"something_went_wrong","message":"oops"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }
}
