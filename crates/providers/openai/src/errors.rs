//! The notes' failure table: an error answer of `/audio/speech` (or an SSE
//! error event) as a classified, scoped, scrubbed `TtsError`.

use std::time::Duration;

use reqwest::header::HeaderMap;
use voxwire_core::{ErrorKind, ErrorScope, Phase, TtsError};
use voxwire_transport::http::{self, HttpFailure};

use crate::wire::{self, ErrorBody};
use crate::OpenAiSettings;
use crate::PROVIDER_ID;

/// A refusal (its status, headers and body excerpt) as the error the router
/// acts on: the shared classification, refined where OpenAI says more (an
/// exhausted quota, `retry-after-ms`, a voice or the fields refused).
pub(crate) fn classify(failure: &HttpFailure<'_>, cx: &OpenAiSettings) -> TtsError {
    let text = String::from_utf8_lossy(failure.body);
    let parsed = ErrorBody::parse(&text);
    let base = http::classify(PROVIDER_ID, failure, |s| {
        hint(s, &parsed, failure.endpoint, cx)
    });
    match failure.status {
        429 if parsed.is_quota() || (parsed == ErrorBody::default() && text.contains("quota")) => {
            let what = parsed.message.as_deref().unwrap_or("insufficient_quota");
            base.with_kind(ErrorKind::Auth)
                .with_message(format!("the quota is exhausted (billing): {what}"))
                .with_scope(ErrorScope::Provider)
                .with_hint(
                    "the account's quota or billing limit is used up: add credit, raise the limit, or use another key; retrying will not help",
                )
        }
        429 => match (base.retry_after(), retry_after_ms(failure.headers)) {
            (None, Some(after)) => base.with_retry_after(after),
            _ => base,
        },
        404 if parsed.is_about_voice() && !parsed.is_model_not_found() => {
            base.with_scope(ErrorScope::Request)
        }
        400 | 422 => base.with_scope(ErrorScope::Request),
        _ => base,
    }
}

/// The non-standard `retry-after-ms` the SDK also honours.
fn retry_after_ms(headers: &HeaderMap) -> Option<Duration> {
    let ms: f64 = http::header(headers, "retry-after-ms")?.parse().ok()?;
    (ms.is_finite() && ms >= 0.0)
        .then(|| Duration::from_secs_f64((ms / 1000.0).min(http::MAX_RETRY_AFTER.as_secs_f64())))
}

fn hint(status: u16, body: &ErrorBody, url: &str, cx: &OpenAiSettings) -> Option<String> {
    let deprecated = wire::DEPRECATED_MODELS.contains(&cx.model.as_str());
    let h = match status {
        401 | 403 => format!(
            "the key was rejected: check {} (and base_url: {})",
            cx.api_key_env,
            voxwire_core::error::redact_url(url)
        ),
        404 if body.is_model_not_found() && deprecated => format!(
            "model `{}` is not served: OpenAI shut its Speech-API models down on {}; point base_url at a compatible server or pick another model",
            cx.model,
            wire::SHUTDOWN_DATE
        ),
        404 if body.is_model_not_found() => format!(
            "model `{}` is not served here: check `model` in the openai chain entry",
            cx.model
        ),
        404 if body.is_about_voice() => "the voice is not known here: check the voice id".into(),
        404 => format!(
            "there is no speech endpoint at {}: check base_url (it should end in /v1)",
            voxwire_core::error::redact_url(url)
        ),
        400 | 422 => match &body.message {
            Some(m) => format!("the server refused the request: {m}"),
            None => "the request fields were refused: check model, voice, speed and response_format".into(),
        },
        429 => "rate limited: slow down or retry after the given delay".into(),
        s if s >= 500 => "the server is having trouble: retry, or fail over".into(),
        _ => return None,
    };
    Some(h)
}

/// An error event inside a 200 SSE stream: its kind read from its text when recognisable, else Unavailable.
pub(crate) fn event_error(url: &str, kind: &str, raw: &str, parsed: &ErrorBody) -> TtsError {
    let text = parsed.message.clone().unwrap_or_else(|| raw.to_string());
    let lower = format!(
        "{} {}",
        text.to_ascii_lowercase(),
        parsed.code.clone().unwrap_or_default()
    );
    let error_kind = if parsed.is_quota() {
        ErrorKind::Auth
    } else if lower.contains("rate limit") || lower.contains("rate_limit") {
        ErrorKind::RateLimited
    } else if lower.contains("invalid_request") || lower.contains("invalid request") {
        ErrorKind::InvalidRequest
    } else {
        ErrorKind::Unavailable
    };
    TtsError::new(
        error_kind,
        format!(
            "`{kind}` event inside the 200 stream: {}",
            voxwire_core::error::body_excerpt(text.as_bytes())
        ),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(url)
    .with_hint("the server failed mid-answer: retry, or fail over")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classification of one refusal of `url`.
    fn classify(status: u16, headers: &HeaderMap, body: &[u8], url: &str) -> TtsError {
        let cx = OpenAiSettings {
            model: "tts-1".into(),
            ..OpenAiSettings::default()
        };
        super::classify(
            &HttpFailure {
                status,
                phase: Phase::Upgrade,
                endpoint: url,
                headers,
                body,
            },
            &cx,
        )
    }

    #[test]
    fn the_failure_table() {
        let h = HeaderMap::new();
        let url = "https://api.openai.com/v1/audio/speech";
        let e = classify(401, &h, b"{}", url);
        assert_eq!(e.kind(), ErrorKind::Auth);
        let e = classify(
            404,
            &h,
            br#"{"error":{"message":"Invalid URL (POST /v1/audio/speec)","type":"invalid_request_error","param":null,"code":null}}"#,
            url,
        );
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::NotFound, ErrorScope::Provider)
        );
        assert!(e.to_string().contains(url), "{e}");
        let e = classify(
            404,
            &h,
            br#"{"error":{"message":"The model `tts-1` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
            url,
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.hint().unwrap_or_default().contains(wire::SHUTDOWN_DATE));
        let e = classify(
            404,
            &h,
            br#"{"error":{"message":"Voice voice_x not found","type":"invalid_request_error"}}"#,
            url,
        );
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::NotFound, ErrorScope::Request)
        );
        let e = classify(400, &h, br#"{"error":{"message":"bad voice"}}"#, url);
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::InvalidRequest, ErrorScope::Request)
        );
        let e = classify(422, &h, b"{}", url);
        assert_eq!(e.scope(), ErrorScope::Request);
        let mut h429 = HeaderMap::new();
        h429.insert("retry-after-ms", "1500".parse().unwrap());
        let e = classify(
            429,
            &h429,
            br#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#,
            url,
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        let e = classify(429, &h, br#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}"#, url);
        assert_eq!(
            (e.kind(), e.scope()),
            (ErrorKind::Auth, ErrorScope::Provider)
        );
        assert!(e.to_string().contains("quota"));
        assert!(!e.is_retryable());
        let e = classify(503, &h, b"overloaded", url);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }
}
