//! The error taxonomy: every failure is a value that says what broke, where, and what to do.
//!
//! A [`TtsError`] carries its [`ErrorKind`] (which decides retry and failover),
//! the provider, the [`Phase`] it happened in, the endpoint (redacted), the HTTP
//! status, a `Retry-After` hint, a short excerpt of the response body and an
//! actionable hint. Its `Display` is one line a person can act on.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::secret::Secret;

/// Shorthand for results whose error is a [`TtsError`].
pub type Result<T, E = TtsError> = std::result::Result<T, E>;

/// What kind of failure this is; decides whether to retry, fail over, or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input is wrong for every provider (empty text, over the size bound).
    InvalidInput,
    /// The provider is misconfigured (no API key, bad URL, unknown setting).
    Config,
    /// The provider rejected the credentials (401/403), or the endpoint is wrong.
    Auth,
    /// The endpoint or the voice does not exist (404).
    NotFound,
    /// The provider rejected the request itself (400/422).
    InvalidRequest,
    /// The provider asked us to slow down (429).
    RateLimited,
    /// The provider is down or the connection broke (5xx, refused, reset, closed mid-stream).
    Unavailable,
    /// No first audio in time, or the stream stalled.
    Timeout,
    /// The provider sent something the protocol does not allow (bad JSON, bad base64).
    Protocol,
    /// The stream ended without a single audio byte.
    NoAudio,
    /// The provider's own engine failed in a way none of the above describes (e.g. a panic).
    Internal,
    /// The caller cancelled; never retried, never failed over.
    Cancelled,
    /// This provider cannot serve this request (a language, rate, encoding,
    /// speed or voice it does not offer); another provider may.
    Unsupported,
}

/// Whose fault a failure is; decides whether it may change a provider's health.
///
/// A request can never change a provider's health: only provider-scoped
/// failures (and transient ones whose retries ran out) mark an entry down, so
/// one tenant's bad input never moves other tenants onto the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorScope {
    /// The provider itself is broken for everyone: bad key, wrong endpoint, quota, protocol.
    Provider,
    /// Only this request failed: a refused field, an unknown voice, an unsupported language.
    Request,
    /// Passing trouble (rate limit, 5xx, reset, stall): retry, then fail over.
    Transient,
}

impl ErrorScope {
    /// A stable lower-case name, for logs, metrics and wire formats.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Request => "request",
            Self::Transient => "transient",
        }
    }
}

impl fmt::Display for ErrorScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorKind {
    /// Whether trying the same provider again may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Timeout)
    }

    /// Whether another provider should be tried after this error.
    pub fn may_fail_over(self) -> bool {
        !matches!(self, Self::InvalidInput | Self::Cancelled)
    }

    /// Whether this error (without retries left) says the provider should be marked down.
    pub fn marks_provider_down(self) -> bool {
        self.scope() != ErrorScope::Request
    }

    /// The scope an error of this kind has unless its maker says otherwise
    /// (a 404 is provider-scoped by default: the endpoint; a provider that
    /// knows the voice was missing sets [`ErrorScope::Request`]).
    pub fn scope(self) -> ErrorScope {
        match self {
            Self::RateLimited | Self::Unavailable | Self::Timeout => ErrorScope::Transient,
            Self::InvalidInput | Self::InvalidRequest | Self::Unsupported | Self::Cancelled => {
                ErrorScope::Request
            }
            Self::Config
            | Self::Auth
            | Self::NotFound
            | Self::Protocol
            | Self::NoAudio
            | Self::Internal => ErrorScope::Provider,
        }
    }

    /// Every kind, for code that lists or parses them (`FromStr` reads `as_str` names).
    pub const ALL: [ErrorKind; 13] = [
        Self::InvalidInput,
        Self::Config,
        Self::Auth,
        Self::NotFound,
        Self::InvalidRequest,
        Self::RateLimited,
        Self::Unavailable,
        Self::Timeout,
        Self::Protocol,
        Self::NoAudio,
        Self::Internal,
        Self::Cancelled,
        Self::Unsupported,
    ];

    /// A stable lower-case name, for logs, metrics and wire formats.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Config => "config",
            Self::Auth => "auth",
            Self::NotFound => "not_found",
            Self::InvalidRequest => "invalid_request",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::NoAudio => "no_audio",
            Self::Internal => "internal",
            Self::Cancelled => "cancelled",
            Self::Unsupported => "unsupported",
        }
    }

    /// Classifies an HTTP status the way every HTTP-based provider should.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            401 | 403 => Self::Auth,
            404 | 410 => Self::NotFound,
            408 => Self::Timeout,
            429 => Self::RateLimited,
            400..=499 => Self::InvalidRequest,
            _ => Self::Unavailable,
        }
    }
}

/// An [`ErrorKind::as_str`] name that names no kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownErrorKind(pub String);

impl fmt::Display for UnknownErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown error kind `{}`", self.0)
    }
}

impl std::error::Error for UnknownErrorKind {}

/// Reads the names [`ErrorKind::as_str`] writes (e.g. a relay's error frame's `kind`).
impl std::str::FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    fn from_str(name: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| UnknownErrorKind(name.to_string()))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The step of a request in which an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Checking the caller's input, before any provider is involved.
    Input,
    /// Reading configuration or building a provider.
    Config,
    /// Opening a connection (DNS, TCP, TLS) or starting a process.
    Connect,
    /// The HTTP request or WebSocket upgrade was answered with an error.
    Upgrade,
    /// Sending text to the provider.
    Send,
    /// Waiting for or reading the provider's answer.
    Receive,
    /// Turning the provider's bytes into audio (JSON, base64, WAV, codecs).
    Decode,
    /// A local engine producing audio.
    Synthesize,
    /// Playing audio (the browser client).
    Playback,
}

impl Phase {
    /// A stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Config => "config",
            Self::Connect => "connect",
            Self::Upgrade => "upgrade",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Decode => "decode",
            Self::Synthesize => "synthesize",
            Self::Playback => "playback",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest body excerpt an error keeps, in characters.
pub const BODY_EXCERPT_CHARS: usize = 200;

/// A failure from a provider, the router or an edge, with everything needed to act on it.
///
/// Cheap to clone (the router keeps one per attempt). Build one with
/// [`TtsError::new`] and the chained setters:
///
/// ```
/// use voxwire_core::{ErrorKind, Phase, TtsError};
/// let err = TtsError::new(ErrorKind::Auth, "forbidden")
///     .with_provider("xai")
///     .with_phase(Phase::Upgrade)
///     .with_endpoint("wss://api.x.ai/v1/tts")
///     .with_status(403)
///     .with_hint("check XAI_API_KEY and the endpoint");
/// assert_eq!(
///     err.to_string(),
///     "xai: HTTP 403 at upgrade to wss://api.x.ai/v1/tts: forbidden — check XAI_API_KEY and the endpoint"
/// );
/// ```
#[derive(Clone)]
pub struct TtsError {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    scope: Option<ErrorScope>,
    request_id: Option<String>,
    provider: Option<Cow<'static, str>>,
    phase: Phase,
    endpoint: Option<String>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message: String,
    body: Option<String>,
    hint: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl TtsError {
    /// A new error of `kind`; the phase defaults to one that fits the kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let phase = match kind {
            ErrorKind::InvalidInput => Phase::Input,
            ErrorKind::Config => Phase::Config,
            ErrorKind::Protocol => Phase::Decode,
            _ => Phase::Receive,
        };
        Self {
            inner: Box::new(Inner {
                kind,
                scope: None,
                request_id: None,
                provider: None,
                phase,
                endpoint: None,
                status: None,
                retry_after: None,
                message: message.into(),
                body: None,
                hint: None,
                source: None,
            }),
        }
    }

    /// Input that no provider could accept; rejected before routing.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A configuration mistake.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// The caller cancelled.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "cancelled by the caller")
    }

    /// An error built from an HTTP status: kind from the status, body excerpt kept.
    pub fn from_http(status: u16, phase: Phase, endpoint: &str, body: &[u8]) -> Self {
        let kind = ErrorKind::from_http_status(status);
        let reason = http_reason(status);
        let mut err = Self::new(kind, reason)
            .with_status(status)
            .with_phase(phase)
            .with_endpoint(endpoint);
        if !body.is_empty() {
            err = err.with_body(body);
        }
        err
    }

    /// The same error with another kind; every other field (phase, endpoint,
    /// status, body, request id, hint, retry delay, source and any scope
    /// override) is kept.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// The same error with another message; every other field is kept.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = message.into();
        self
    }

    /// Sets the provider id.
    pub fn with_provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        self.inner.provider = Some(provider.into());
        self
    }

    /// Sets the provider id unless one is already set.
    pub fn or_provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        if self.inner.provider.is_none() {
            self.inner.provider = Some(provider.into());
        }
        self
    }

    /// Sets the phase.
    pub fn with_phase(mut self, phase: Phase) -> Self {
        self.inner.phase = phase;
        self
    }

    /// Sets the endpoint; credentials in the URL are redacted.
    pub fn with_endpoint(mut self, endpoint: impl AsRef<str>) -> Self {
        self.inner.endpoint = Some(redact_url(endpoint.as_ref()));
        self
    }

    /// Overrides the scope the kind implies (see [`ErrorKind::scope`]).
    pub fn with_scope(mut self, scope: ErrorScope) -> Self {
        self.inner.scope = Some(scope);
        self
    }

    /// Keeps the vendor's request id (from a response header or frame), for support tickets.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.inner.request_id = Some(request_id.into());
        self
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Sets how long the provider asked us to wait.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.inner.retry_after = Some(retry_after);
        self
    }

    /// Keeps a short, single-line excerpt of a response body.
    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.inner.body = Some(body_excerpt(body));
        self
    }

    /// Sets what the reader should do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.inner.hint = Some(hint.into());
        self
    }

    /// Sets the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// Replaces every occurrence of `secret` in the error's text with `***`.
    ///
    /// Providers call this on errors that may echo what they sent (a body that
    /// quotes the Authorization header, a URL with a token).
    pub fn scrub(mut self, secret: &Secret) -> Self {
        let s = secret.expose();
        if s.is_empty() {
            return self;
        }
        let fix = |text: &mut String| {
            if text.contains(s) {
                *text = text.replace(s, "***");
            }
        };
        fix(&mut self.inner.message);
        for text in [
            &mut self.inner.body,
            &mut self.inner.endpoint,
            &mut self.inner.hint,
        ]
        .into_iter()
        .flatten()
        {
            fix(text);
        }
        if let Some(source) = &self.inner.source {
            if source.to_string().contains(s) {
                self.inner.source = None;
            }
        }
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whose fault it is: set by the maker, else implied by the kind.
    pub fn scope(&self) -> ErrorScope {
        self.inner.scope.unwrap_or_else(|| self.inner.kind.scope())
    }

    /// Whether only this request failed (the provider stays healthy).
    pub fn is_request_scoped(&self) -> bool {
        self.scope() == ErrorScope::Request
    }

    /// The vendor's request id, when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The provider that failed, when known.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }

    /// The step in which it failed.
    pub fn phase(&self) -> Phase {
        self.inner.phase
    }

    /// The endpoint involved (credentials redacted).
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// How long the provider asked us to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The short description.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The excerpt of the response body, when there was one.
    pub fn body(&self) -> Option<&str> {
        self.inner.body.as_deref()
    }

    /// The suggested fix, when there is one.
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// Whether trying the same provider again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// Whether another provider should be tried.
    pub fn may_fail_over(&self) -> bool {
        self.inner.kind.may_fail_over()
    }
}

impl fmt::Display for TtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(p) = &i.provider {
            write!(f, "{p}: ")?;
        }
        match i.status {
            Some(status) => write!(f, "HTTP {status} at {}", i.phase)?,
            None => write!(f, "{} error at {}", i.kind, i.phase)?,
        }
        if let Some(e) = &i.endpoint {
            write!(f, " to {e}")?;
        }
        write!(f, ": {}", i.message)?;
        if let Some(body) = &i.body {
            write!(f, " (body: \"{body}\")")?;
        }
        if let Some(after) = i.retry_after {
            write!(f, " (retry after {:.1} s)", after.as_secs_f64())?;
        }
        if let Some(id) = &i.request_id {
            write!(f, " (request id {id})")?;
        }
        if let Some(hint) = &i.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("TtsError");
        d.field("kind", &i.kind)
            .field("scope", &self.scope())
            .field("phase", &i.phase);
        if let Some(id) = &i.request_id {
            d.field("request_id", id);
        }
        if let Some(p) = &i.provider {
            d.field("provider", p);
        }
        if let Some(e) = &i.endpoint {
            d.field("endpoint", e);
        }
        if let Some(s) = i.status {
            d.field("status", &s);
        }
        if let Some(r) = i.retry_after {
            d.field("retry_after", &r);
        }
        d.field("message", &i.message);
        if let Some(b) = &i.body {
            d.field("body", b);
        }
        if let Some(h) = &i.hint {
            d.field("hint", h);
        }
        if let Some(s) = &i.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for TtsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The standard reason phrase for the statuses providers actually send.
fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        408 => "request timeout",
        410 => "gone",
        413 => "payload too large",
        422 => "unprocessable entity",
        429 => "too many requests",
        500 => "internal server error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ if status >= 500 => "server error",
        _ => "request rejected",
    }
}

/// A short, single-line, printable excerpt of a response body.
pub fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT_CHARS * 4)]);
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if count == BODY_EXCERPT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    out.trim().to_string()
}

/// Query parameter names whose values are credentials and never printed.
const SECRET_QUERY_KEYS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "secret",
    "client_secret",
    "password",
    "auth",
    "authorization",
];

/// Removes credentials from a URL: user-info and secret-looking query values.
///
/// ```
/// use voxwire_core::error::redact_url;
/// assert_eq!(
///     redact_url("wss://user:pw@host/v1/tts?voice=eve&token=abc"),
///     "wss://host/v1/tts?voice=eve&token=***"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => before_query.to_string(),
    };
    if let Some(query) = query {
        out.push('?');
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
        }
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len(), "names are distinct");
        assert_eq!(
            "bogus".parse::<ErrorKind>(),
            Err(UnknownErrorKind("bogus".into()))
        );
    }

    #[test]
    fn kind_and_message_change_without_losing_the_rest() {
        let e = TtsError::from_http(402, Phase::Connect, "https://h/x", b"no credits")
            .with_provider("p")
            .with_request_id("r-1")
            .with_hint("top up");
        let out = e
            .clone()
            .with_kind(ErrorKind::Auth)
            .with_message(format!("{}: billing", e.message()));
        assert_eq!(out.kind(), ErrorKind::Auth);
        assert_eq!(out.scope(), ErrorScope::Provider);
        assert_eq!(out.message(), format!("{}: billing", e.message()));
        assert_eq!(out.status(), Some(402));
        assert_eq!(out.phase(), Phase::Connect);
        assert_eq!(out.provider(), Some("p"));
        assert_eq!(out.endpoint(), e.endpoint());
        assert_eq!(out.body(), e.body());
        assert_eq!(out.request_id(), Some("r-1"));
        assert_eq!(out.hint(), Some("top up"));
        let scoped = e
            .with_scope(ErrorScope::Request)
            .with_kind(ErrorKind::NotFound);
        assert_eq!(scoped.scope(), ErrorScope::Request);
    }

    #[test]
    fn scope_follows_the_design_table_and_can_be_overridden() {
        assert_eq!(ErrorKind::Auth.scope(), ErrorScope::Provider);
        assert_eq!(ErrorKind::NotFound.scope(), ErrorScope::Provider);
        assert_eq!(ErrorKind::InvalidRequest.scope(), ErrorScope::Request);
        assert_eq!(ErrorKind::Unsupported.scope(), ErrorScope::Request);
        assert_eq!(ErrorKind::RateLimited.scope(), ErrorScope::Transient);
        assert!(!ErrorKind::InvalidRequest.marks_provider_down());
        assert!(ErrorKind::Protocol.marks_provider_down());
        let voice = TtsError::new(ErrorKind::NotFound, "unknown voice `zed`")
            .with_scope(ErrorScope::Request)
            .with_request_id("req-42");
        assert!(voice.is_request_scoped());
        assert_eq!(voice.request_id(), Some("req-42"));
        assert!(voice.to_string().contains("(request id req-42)"));
    }

    #[test]
    fn retry_and_failover_follow_the_design_table() {
        use ErrorKind::*;
        for kind in [Config, Auth, NotFound, InvalidRequest, Protocol, NoAudio] {
            assert!(!kind.is_retryable(), "{kind}");
            assert!(kind.may_fail_over(), "{kind}");
        }
        for kind in [RateLimited, Unavailable, Timeout] {
            assert!(kind.is_retryable(), "{kind}");
            assert!(kind.may_fail_over(), "{kind}");
        }
        for kind in [InvalidInput, Cancelled] {
            assert!(!kind.is_retryable(), "{kind}");
            assert!(!kind.may_fail_over(), "{kind}");
        }
    }

    #[test]
    fn http_statuses_classify() {
        assert_eq!(ErrorKind::from_http_status(401), ErrorKind::Auth);
        assert_eq!(ErrorKind::from_http_status(403), ErrorKind::Auth);
        assert_eq!(ErrorKind::from_http_status(404), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_http_status(400), ErrorKind::InvalidRequest);
        assert_eq!(ErrorKind::from_http_status(422), ErrorKind::InvalidRequest);
        assert_eq!(ErrorKind::from_http_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_http_status(500), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::from_http_status(503), ErrorKind::Unavailable);
    }

    #[test]
    fn display_is_one_actionable_line() {
        let err = TtsError::from_http(
            403,
            Phase::Upgrade,
            "wss://api.x.ai/v1/tts",
            b"{\"error\":\n \"no such\"}",
        )
        .with_provider("xai")
        .with_hint("the key was rejected or the endpoint is wrong");
        let line = err.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(
            line,
            "xai: HTTP 403 at upgrade to wss://api.x.ai/v1/tts: forbidden (body: \"{\"error\": \"no such\"}\") — the key was rejected or the endpoint is wrong"
        );
        assert_eq!(err.kind(), ErrorKind::Auth);
    }

    #[test]
    fn scrub_removes_a_secret_everywhere() {
        let key = Secret::new("xai-SECRET123");
        let err = TtsError::new(ErrorKind::Auth, "bad key xai-SECRET123")
            .with_body(b"Authorization: Bearer xai-SECRET123")
            .with_hint("xai-SECRET123")
            .scrub(&key);
        let all = format!("{err} {err:?}");
        assert!(!all.contains("SECRET123"), "{all}");
    }

    #[test]
    fn body_excerpt_is_bounded_and_single_line() {
        let body = "x\n".repeat(1000);
        let ex = body_excerpt(body.as_bytes());
        assert!(ex.chars().count() <= BODY_EXCERPT_CHARS + 1);
        assert!(!ex.contains('\n'));
    }

    #[test]
    fn redact_url_keeps_non_secrets() {
        assert_eq!(redact_url("https://api.x.ai/v1"), "https://api.x.ai/v1");
        assert_eq!(
            redact_url("ws://127.0.0.1:9/v1/tts?API_KEY=zz&voice=eve"),
            "ws://127.0.0.1:9/v1/tts?API_KEY=***&voice=eve"
        );
    }
}
