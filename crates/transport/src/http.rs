//! HTTP failure classification: an error answer (at a REST call or a
//! WebSocket upgrade) becomes a `TtsError` with its kind from the status,
//! `Retry-After`, the vendor's request id, a bounded body excerpt and a hint.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use voxwire_core::{Phase, Secret, TtsError};

/// Most bytes of an error body read for the message.
pub const ERROR_BODY_LIMIT: usize = 4 * 1024;
/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Response headers vendors put their request id in, most specific first.
pub const REQUEST_ID_HEADERS: [&str; 6] = [
    "x-request-id",
    "request-id",
    "dg-request-id",
    "x-amzn-requestid",
    "x-ms-request-id",
    "cf-ray",
];

/// An HTTP error answer, before it is turned into a `TtsError`.
#[derive(Debug, Clone)]
pub struct HttpFailure<'a> {
    /// The status code.
    pub status: u16,
    /// Where it happened (`Upgrade` for a WebSocket upgrade or a REST call's answer).
    pub phase: Phase,
    /// The URL, without credentials.
    pub endpoint: &'a str,
    /// The answer's headers.
    pub headers: &'a HeaderMap,
    /// At most [`ERROR_BODY_LIMIT`] bytes of the body.
    pub body: &'a [u8],
}

/// Turns an HTTP error answer into a `TtsError`: kind from the status
/// (`ErrorKind::from_http_status`), `Retry-After`, request id, body excerpt,
/// and `hint(status)` when the vendor has one for it.
pub fn classify(
    provider: &'static str,
    failure: &HttpFailure<'_>,
    hint: impl Fn(u16) -> Option<String>,
) -> TtsError {
    let mut err = TtsError::from_http(
        failure.status,
        failure.phase,
        failure.endpoint,
        failure.body,
    )
    .with_provider(provider);
    if let Some(after) = header(failure.headers, "retry-after").and_then(|v| parse_retry_after(&v))
    {
        err = err.with_retry_after(after);
    }
    if let Some(id) = request_id(failure.headers) {
        err = err.with_request_id(id);
    }
    match hint(failure.status).or_else(|| default_hint(failure.status)) {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// What a person can do about a status, when the vendor gives no better hint.
pub fn default_hint(status: u16) -> Option<String> {
    let hint = match status {
        401 | 403 => "the key was rejected: check the API key (and base_url)",
        404 => "there is no such endpoint at this URL: check base_url",
        400 | 422 => "the request fields were rejected: check voice, language and output format",
        429 => "rate limited: slow down or retry after the given delay",
        _ if status >= 500 => "the provider is having trouble: retry, or fail over",
        _ => return None,
    };
    Some(hint.to_string())
}

/// A header value marked sensitive (never logged by the HTTP stack): where keys go.
pub fn sensitive(provider: &'static str, value: &Secret) -> Result<HeaderValue, TtsError> {
    let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
        TtsError::config("the key holds characters a header cannot carry").with_provider(provider)
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Authorization: <scheme> <key>` (`Bearer`, `Token`, …), marked sensitive.
pub fn authorization(
    provider: &'static str,
    scheme: &str,
    key: &Secret,
) -> Result<HeaderValue, TtsError> {
    sensitive(provider, &Secret::new(format!("{scheme} {}", key.expose())))
}

/// A header's value as text.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The vendor's request id, from the first of [`REQUEST_ID_HEADERS`] present (at most 128 characters).
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| header(headers, name))
        .map(|v| v.chars().take(128).collect())
}

/// `Retry-After` as delay-seconds (fractions tolerated) or as an HTTP date,
/// capped at [`MAX_RETRY_AFTER`]; a date in the past is zero.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// [`parse_retry_after`] relative to `now` (for tests).
pub fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or_default()
            .min(MAX_RETRY_AFTER),
    )
}

/// At most `limit` bytes of a response body, the whole read bounded by `time`:
/// an error answer that trickles or never ends costs no more than that.
pub async fn read_excerpt(
    mut response: reqwest::Response,
    limit: usize,
    time: Duration,
) -> Vec<u8> {
    let mut body = Vec::new();
    let deadline = tokio::time::Instant::now() + time;
    while body.len() < limit {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(limit);
    body
}

/// Reads the excerpt of an error answer and classifies it, scrubbing `secret`.
pub async fn error_from_response(
    provider: &'static str,
    response: reqwest::Response,
    phase: Phase,
    endpoint: &str,
    read_time: Duration,
    secret: &Secret,
    hint: impl Fn(u16) -> Option<String>,
) -> TtsError {
    refusal(response, phase, endpoint, read_time, secret, |failure| {
        classify(provider, failure, hint)
    })
    .await
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of an error answer (within
/// `read_time`) and hands the [`HttpFailure`] to `classify`, a vendor's own
/// classification (usually [`classify`] refined with `TtsError::with_kind`
/// or `with_message`); `secret` is scrubbed from what it returns.
pub async fn refusal(
    response: reqwest::Response,
    phase: Phase,
    endpoint: &str,
    read_time: Duration,
    secret: &Secret,
    classify: impl FnOnce(&HttpFailure<'_>) -> TtsError,
) -> TtsError {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = read_excerpt(response, ERROR_BODY_LIMIT, read_time).await;
    classify(&HttpFailure {
        status,
        phase,
        endpoint,
        headers: &headers,
        body: &body,
    })
    .scrub(secret)
}

/// What a streamed REST call is made with: names for its errors, the key to
/// scrub, its limits and the frame size its body is cut to.
#[derive(Debug, Clone)]
pub struct StreamedPost<'a> {
    /// The provider id errors carry.
    pub provider: &'static str,
    /// The endpoint errors name (without a query: it may carry options).
    pub endpoint: &'a str,
    /// Scrubbed from every error.
    pub secret: &'a Secret,
    /// Longest wait for the connection.
    pub connect_timeout: Duration,
    /// Longest wait for the answer once connected, then for its first audio.
    pub first_audio_timeout: Duration,
    /// Longest wait between body pieces (and to read an error answer's excerpt).
    pub inactivity_timeout: Duration,
    /// The body is read in whole frames of this many bytes.
    pub frame_bytes: usize,
}

/// Sends `request` (a POST whose answer streams audio) and returns its body
/// reader. The answer is awaited for the connect timeout plus the first-audio
/// timeout, the first audio byte again for the first-audio timeout. A refused
/// call is classified with `hint` (status, `Retry-After`, the vendor's request
/// id, a body excerpt); a failed one never quotes the URL (its query may carry
/// options), only the endpoint. `secret` is scrubbed from every error.
pub async fn post_streamed(
    request: reqwest::RequestBuilder,
    call: &StreamedPost<'_>,
    hint: impl Fn(u16) -> Option<String>,
) -> Result<crate::body::BodyReader, TtsError> {
    let (response, _) = send_streamed(request, call, |failure| {
        classify(call.provider, failure, hint)
    })
    .await?;
    Ok(call.body_reader(response, call.first_audio_timeout))
}

/// The lower half of [`post_streamed`], for a vendor that reads the answer
/// itself (by its `Content-Type`, say) or classifies refusals its own way:
/// sends `request`, awaits the answer for the connect timeout plus the
/// first-audio timeout, and returns it when its status is a success, with
/// the instant just before sending (to count a deadline from).
///
/// A refusal's excerpt is read within the inactivity timeout and handed to
/// `classify` as an [`HttpFailure`] (phase `Upgrade`, the endpoint without
/// its query); a failure to connect or answer names the endpoint, never the
/// URL. `secret` is scrubbed from every error.
pub async fn send_streamed(
    request: reqwest::RequestBuilder,
    call: &StreamedPost<'_>,
    classify: impl FnOnce(&HttpFailure<'_>) -> TtsError,
) -> Result<(reqwest::Response, Instant), TtsError> {
    let started = Instant::now();
    let limit = call.connect_timeout + call.first_audio_timeout;
    let response = match tokio::time::timeout(limit, request.send()).await {
        Err(_) => {
            return Err(crate::errors::timeout(
                call.provider,
                call.endpoint,
                Phase::Upgrade,
                "no HTTP answer",
                limit,
            ))
        }
        Ok(Err(e)) if e.is_timeout() => {
            return Err(crate::errors::timeout(
                call.provider,
                call.endpoint,
                Phase::Connect,
                "no connection",
                call.connect_timeout,
            ))
        }
        Ok(Err(e)) => {
            return Err(
                crate::errors::connect_error(call.provider, call.endpoint, e.without_url())
                    .scrub(call.secret),
            )
        }
        Ok(Ok(response)) => response,
    };
    if !response.status().is_success() {
        return Err(refusal(
            response,
            Phase::Upgrade,
            call.endpoint,
            call.inactivity_timeout,
            call.secret,
            classify,
        )
        .await);
    }
    Ok((response, started))
}

impl StreamedPost<'_> {
    /// A reader of `response`'s body in whole frames: the first piece due
    /// within `first_audio` (at least a millisecond), each later one within
    /// the inactivity timeout; its errors name the endpoint, the key scrubbed.
    pub fn body_reader(
        &self,
        response: reqwest::Response,
        first_audio: Duration,
    ) -> crate::body::BodyReader {
        crate::body::BodyReader::new(
            response,
            self.frame_bytes,
            first_audio.max(Duration::from_millis(1)),
            self.inactivity_timeout,
            self.provider,
            self.endpoint,
            self.secret.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::ErrorKind;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after_at("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after_at("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn classification_keeps_status_retry_after_request_id_body_and_hint() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        headers.insert("x-request-id", "req-42".parse().unwrap());
        let e = classify(
            "toy",
            &HttpFailure {
                status: 429,
                phase: Phase::Upgrade,
                endpoint: "wss://h/v1/tts",
                headers: &headers,
                body: br#"{"error":"slow down"}"#,
            },
            |_| None,
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.request_id(), Some("req-42"));
        assert_eq!(e.status(), Some(429));
        assert!(e.body().unwrap_or_default().contains("slow down"));
        assert!(e.hint().unwrap_or_default().contains("rate limited"));
        let e = classify(
            "toy",
            &HttpFailure {
                status: 403,
                phase: Phase::Upgrade,
                endpoint: "wss://h",
                headers: &HeaderMap::new(),
                body: b"",
            },
            |s| (s == 403).then(|| "vendor hint".to_string()),
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.hint(), Some("vendor hint"));
        assert_eq!(e.provider(), Some("toy"));
    }

    /// One HTTP/1.1 answer to the first request on a local port.
    async fn answer_once(answer: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(answer.as_bytes()).await;
        });
        format!("http://127.0.0.1:{port}/v1/speak")
    }

    fn call<'a>(endpoint: &'a str, secret: &'a Secret) -> StreamedPost<'a> {
        StreamedPost {
            provider: "acme",
            endpoint,
            secret,
            connect_timeout: Duration::from_secs(2),
            first_audio_timeout: Duration::from_secs(2),
            inactivity_timeout: Duration::from_secs(2),
            frame_bytes: 2,
        }
    }

    #[tokio::test]
    async fn a_refused_post_keeps_request_id_and_body_and_scrubs_the_key() {
        let endpoint = answer_once(
            "HTTP/1.1 429 Too Many Requests\r\nx-request-id: req-7\r\nretry-after: 3\r\ncontent-length: 22\r\nconnection: close\r\n\r\nslow down, key sk-XYZ!",
        )
        .await;
        let secret = Secret::new("sk-XYZ");
        let client = reqwest::Client::new();
        let request = client.post(format!("{endpoint}?model=m")).body("{}");
        let err = post_streamed(request, &call(&endpoint, &secret), default_hint)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.request_id(), Some("req-7"));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(err.body().unwrap().contains("slow down"));
        assert!(!err.to_string().contains("sk-XYZ"), "{err}");
    }

    #[tokio::test]
    async fn a_vendor_refines_a_refusal_and_reads_a_success_itself() {
        let endpoint = answer_once(
            "HTTP/1.1 429 Too Many Requests\r\nx-request-id: req-9\r\ncontent-length: 27\r\nconnection: close\r\n\r\n{\"code\":\"quota\",\"k\":\"sk-Q\"}",
        )
        .await;
        let secret = Secret::new("sk-Q");
        let client = reqwest::Client::new();
        let err = send_streamed(client.post(&endpoint), &call(&endpoint, &secret), |f| {
            let base = classify("acme", f, |_| None);
            match String::from_utf8_lossy(f.body).contains("quota") {
                true => base
                    .with_kind(ErrorKind::Auth)
                    .with_message(format!("quota used up (key {})", secret.expose())),
                false => base,
            }
        })
        .await
        .err()
        .unwrap();
        assert_eq!((err.kind(), err.status()), (ErrorKind::Auth, Some(429)));
        assert_eq!(err.request_id(), Some("req-9"));
        assert!(err.body().unwrap().contains("quota"));
        assert!(!format!("{err:?}").contains("sk-Q"), "{err:?}");

        let endpoint = answer_once(
            "HTTP/1.1 200 OK\r\ncontent-type: audio/pcm\r\ncontent-length: 4\r\nconnection: close\r\n\r\nabcd",
        )
        .await;
        let post = call(&endpoint, &secret);
        let (response, started) = send_streamed(client.post(&endpoint), &post, |f| {
            classify("acme", f, |_| None)
        })
        .await
        .unwrap();
        assert_eq!(
            header(response.headers(), "content-type").as_deref(),
            Some("audio/pcm")
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut reader = post.body_reader(response, Duration::ZERO);
        assert_eq!(&reader.next().await.unwrap().unwrap()[..], b"abcd");
    }

    #[tokio::test]
    async fn a_failed_post_names_the_endpoint_not_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let endpoint = format!("http://127.0.0.1:{port}/v1/speak");
        let secret = Secret::new("sk-abc");
        let client = reqwest::Client::new();
        let request = client
            .post(format!("{endpoint}?model=secretish"))
            .body("{}");
        let err = post_streamed(request, &call(&endpoint, &secret), default_hint)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.endpoint(), Some(endpoint.as_str()));
        assert!(!err.to_string().contains("secretish"), "{err}");
    }
}
