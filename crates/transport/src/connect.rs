//! The authenticated WebSocket upgrade, and the open connection it gives.
//!
//! The upgrade goes through reqwest over HTTP/1.1 only (an h2 ALPN answer can
//! never carry an upgrade), rather than tungstenite's own client handshake,
//! which logs the whole request, headers included, at TRACE level: that
//! would put the key in logs. The key travels only in headers marked
//! sensitive; every error is classified, names the endpoint without its
//! query, and is scrubbed of the key.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use voxwire_core::{Phase, Result, Secret, TtsError};

use crate::dialect::{Frame, Outgoing};
use crate::{errors, http};

/// Each socket's read buffer. tungstenite's default (128 KiB, allocated per
/// connection) would make a relay's upstream sockets cost 128 KiB each before
/// any audio; messages larger than this are still read whole, in more reads.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The largest frame or message accepted from a server by default.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// An HTTP client for providers: HTTP/1.1 only, TCP_NODELAY, a connect timeout.
pub fn http_client(connect_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| TtsError::config(format!("cannot build the HTTP client: {e}")))
}

/// What to upgrade: built by a dialect for one voice/format.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// `ws://` or `wss://` URL, query included; it must carry no secret.
    pub url: String,
    /// Headers marked sensitive (the key): never logged, never in an error.
    pub secret_headers: Vec<(String, Secret)>,
    /// Other headers (versions, subprotocols).
    pub headers: Vec<(String, String)>,
}

impl UpgradeRequest {
    /// An upgrade of `url` with no headers yet.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret_headers: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a sensitive header (e.g. `authorization`, `Bearer <key>`).
    pub fn secret_header(mut self, name: &str, value: Secret) -> Self {
        self.secret_headers.push((name.to_string(), value));
        self
    }

    /// Adds a plain header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The URL without its query: what errors and logs show.
    pub fn endpoint(&self) -> String {
        let base = self.url.split(['?', '#']).next().unwrap_or_default();
        voxwire_core::error::redact_url(base)
    }
}

/// Limits and names for [`connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The provider id errors carry.
    pub provider: &'static str,
    /// TCP (and TLS) plus the HTTP answer.
    pub connect_timeout: Duration,
    /// The upgraded connection after the 101.
    pub upgrade_timeout: Duration,
    /// Largest frame and message accepted.
    pub max_message_bytes: usize,
    /// Scrubbed from every error.
    pub secret: Secret,
}

/// An open WebSocket, with what it was opened for.
pub struct WsConn {
    socket: WebSocketStream<reqwest::Upgraded>,
    key: String,
    endpoint: String,
    opened: Instant,
    provider: &'static str,
    pings: u64,
    /// When recent utterance-ending flushes went out (for vendors that limit them per socket).
    flushes: std::collections::VecDeque<tokio::time::Instant>,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn")
            .field("endpoint", &self.endpoint)
            .field("age", &self.age())
            .finish()
    }
}

fn http_url(ws_url: &str) -> Option<String> {
    if let Some(rest) = ws_url.strip_prefix("wss://") {
        Some(format!("https://{rest}"))
    } else if let Some(rest) = ws_url.strip_prefix("ws://") {
        Some(format!("http://{rest}"))
    } else if ws_url.starts_with("https://") || ws_url.starts_with("http://") {
        Some(ws_url.to_string())
    } else {
        None
    }
}

/// Opens a WebSocket: upgrade over HTTP/1.1, `hint(status)` for a refused one.
///
/// Classification: connect failures and resets are `Unavailable` at
/// `Connect`; a refused upgrade follows its status (401/403 `Auth`, 404
/// `NotFound`, 429 `RateLimited` with `Retry-After`, 5xx `Unavailable`); a 2xx
/// that is not 101, or a 101 without a valid `Sec-WebSocket-Accept`, is
/// `Protocol` (the server does not speak WebSocket there: fail over, do not retry).
pub async fn connect(
    http: &reqwest::Client,
    request: &UpgradeRequest,
    options: &ConnectOptions,
    hint: &(dyn Fn(u16) -> Option<String> + Sync),
) -> Result<WsConn> {
    let provider = options.provider;
    let endpoint = request.endpoint();
    let url = http_url(&request.url).ok_or_else(|| {
        TtsError::config(format!(
            "`{endpoint}` is not a ws://, wss://, http:// or https:// URL"
        ))
        .with_provider(provider)
    })?;
    let nonce = generate_key();
    let mut builder = http
        .get(url)
        .version(reqwest::Version::HTTP_11)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", &nonce);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    for (name, value) in &request.secret_headers {
        builder = builder.header(name.as_str(), http::sensitive(provider, value)?);
    }
    let response = tokio::time::timeout(options.connect_timeout, builder.send())
        .await
        .map_err(|_| {
            errors::timeout(
                provider,
                &endpoint,
                Phase::Connect,
                "no WebSocket upgrade",
                options.connect_timeout,
            )
        })?
        .map_err(|e| {
            if e.is_timeout() {
                errors::timeout(
                    provider,
                    &endpoint,
                    Phase::Connect,
                    "no connection",
                    options.connect_timeout,
                )
            } else {
                errors::connect_error(provider, &endpoint, e).scrub(&options.secret)
            }
        })?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Err(errors::protocol(
            provider,
            &endpoint,
            format!("the upgrade was answered {status} instead of 101: no WebSocket here"),
        )
        .with_phase(Phase::Upgrade)
        .with_status(status)
        .with_hint("check base_url: this URL serves HTTP, not the streaming WebSocket"));
    }
    if status != 101 {
        return Err(http::error_from_response(
            provider,
            response,
            Phase::Upgrade,
            &endpoint,
            options.connect_timeout,
            &options.secret,
            hint,
        )
        .await);
    }
    let accepted = response
        .headers()
        .get("sec-websocket-accept")
        .is_some_and(|v| v.as_bytes() == derive_accept_key(nonce.as_bytes()).as_bytes());
    if !accepted {
        return Err(errors::protocol(
            provider,
            &endpoint,
            "the upgrade answer has no valid Sec-WebSocket-Accept",
        )
        .with_phase(Phase::Upgrade));
    }
    let upgraded = tokio::time::timeout(options.upgrade_timeout, response.upgrade())
        .await
        .map_err(|_| {
            errors::timeout(
                provider,
                &endpoint,
                Phase::Upgrade,
                "no upgraded connection",
                options.upgrade_timeout,
            )
        })?
        .map_err(|e| errors::connect_error(provider, &endpoint, e).with_phase(Phase::Upgrade))?;
    let mut config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    config.max_message_size = Some(options.max_message_bytes);
    config.max_frame_size = Some(options.max_message_bytes);
    let socket = WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await;
    Ok(WsConn {
        socket,
        key: request.url.clone(),
        endpoint,
        opened: Instant::now(),
        provider,
        pings: 0,
        flushes: std::collections::VecDeque::new(),
    })
}

impl WsConn {
    /// What it was opened for (the upgrade URL): pooled connections are reused only for the same.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The URL without query or credentials, for errors.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How long ago it was opened.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Sends one message, within `limit`.
    pub async fn send(&mut self, message: Outgoing, limit: Duration) -> Result<()> {
        let message = match message {
            Outgoing::Text(t) => Message::text(t),
            Outgoing::Binary(b) => Message::binary(b),
        };
        self.send_message(message, limit).await
    }

    async fn send_message(&mut self, message: Message, limit: Duration) -> Result<()> {
        match tokio::time::timeout(limit, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(errors::send_failed(self.provider, &self.endpoint, e)),
            Err(_) => Err(errors::timeout(
                self.provider,
                &self.endpoint,
                Phase::Send,
                "could not send",
                limit,
            )),
        }
    }

    /// The next text, binary or close message within `limit` (pings are answered, pongs skipped).
    ///
    /// A broken connection is `Unavailable`; a WebSocket framing error (bad
    /// frame, bad UTF-8, over the size bound) is `Protocol`; the limit
    /// passing is `Timeout` with `waiting_for` in its message.
    pub async fn recv(&mut self, limit: Duration, waiting_for: &str) -> Result<Frame> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await;
            let message = match next {
                Err(_) => {
                    return Err(errors::timeout(
                        self.provider,
                        &self.endpoint,
                        Phase::Receive,
                        waiting_for,
                        limit,
                    ))
                }
                Ok(None) => {
                    return Err(errors::closed_mid_stream(
                        self.provider,
                        &self.endpoint,
                        "end of stream",
                    ))
                }
                Ok(Some(Err(e))) => return Err(self.classify(e)),
                Ok(Some(Ok(m))) => m,
            };
            match message {
                Message::Text(t) => return Ok(Frame::Text(t.as_str().to_string())),
                Message::Binary(b) => return Ok(Frame::Binary(b)),
                Message::Close(frame) => return Ok(close_frame(frame)),
                _ => continue, // ping (answered by tungstenite), pong
            }
        }
    }

    fn classify(&self, e: WsError) -> TtsError {
        match e {
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                errors::closed_mid_stream(self.provider, &self.endpoint, e)
            }
            WsError::Protocol(_) | WsError::Capacity(_) | WsError::Utf8(_) => errors::protocol(
                self.provider,
                &self.endpoint,
                format!("bad WebSocket framing: {e}"),
            )
            .with_phase(Phase::Receive),
            other => errors::closed_mid_stream(self.provider, &self.endpoint, other),
        }
    }

    /// Whether the connection still answers: nothing unexpected is waiting
    /// on it, and a ping gets its pong within `limit`. A half-open socket
    /// (the server stopped answering) fails here, not at first audio.
    pub async fn is_alive(&mut self, limit: Duration) -> bool {
        // Anything already waiting on an idle connection means it is not clean.
        loop {
            match self.socket.next().now_or_never() {
                None => break,
                Some(Some(Ok(Message::Pong(_)))) => continue,
                Some(_) => return false,
            }
        }
        self.pings += 1;
        let payload = Bytes::from(self.pings.to_be_bytes().to_vec());
        let check = async {
            self.socket
                .send(Message::Ping(payload.clone()))
                .await
                .ok()?;
            loop {
                match self.socket.next().await? {
                    Ok(Message::Pong(p)) if p == payload => return Some(()),
                    Ok(Message::Pong(_) | Message::Ping(_)) => continue,
                    _ => return None,
                }
            }
        };
        matches!(tokio::time::timeout(limit, check).await, Ok(Some(())))
    }

    /// Whether nothing unexpected (a close, data, an error) already waits on
    /// an idle connection: the cheap half of [`is_alive`](Self::is_alive).
    pub fn is_clean(&mut self) -> bool {
        loop {
            match self.socket.next().now_or_never() {
                None => return true,
                Some(Some(Ok(Message::Pong(_)))) => continue,
                Some(_) => return false,
            }
        }
    }

    /// Notes that an utterance-ending flush went out now (see [`flush_room`](Self::flush_room)).
    pub fn note_flush(&mut self) {
        if self.flushes.len() >= 1024 {
            self.flushes.pop_front();
        }
        self.flushes.push_back(tokio::time::Instant::now());
    }

    /// `None` when fewer than `limit` flushes went out on this socket in the
    /// last `window`; else when the oldest of them leaves the window.
    pub fn flush_room(&mut self, limit: usize, window: Duration) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        while self.flushes.front().is_some_and(|t| *t + window <= now) {
            self.flushes.pop_front();
        }
        if self.flushes.len() < limit.max(1) {
            return None;
        }
        self.flushes.front().map(|t| *t + window)
    }

    /// Reads what already waits on a connection that sat idle (a greeting, a
    /// warning: dropped); `false` when the server closed it or it broke
    /// meanwhile (e.g. a vendor's idle timeout), so the caller opens a new one.
    pub fn drain_idle(&mut self) -> bool {
        for _ in 0..1024 {
            match self.socket.next().now_or_never() {
                None => return true,
                Some(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return false,
                Some(Some(Ok(_))) => continue,
            }
        }
        false
    }

    /// Sends a ping without waiting for its pong; returns its payload for [`recv_probe`](Self::recv_probe).
    pub async fn send_ping(&mut self, limit: Duration) -> Result<Bytes> {
        self.pings += 1;
        let payload = Bytes::from(self.pings.to_be_bytes().to_vec());
        self.send_message(Message::Ping(payload.clone()), limit)
            .await?;
        Ok(payload)
    }

    /// Like [`recv`](Self::recv), but `Ok(None)` when the pong for `payload`
    /// comes first: the connection is proven alive while a request is
    /// already on its way, so the check costs no round trip.
    pub async fn recv_probe(&mut self, limit: Duration, payload: &Bytes) -> Result<Option<Frame>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => {
                    return Err(errors::timeout(
                        self.provider,
                        &self.endpoint,
                        Phase::Receive,
                        "no pong",
                        limit,
                    ))
                }
                Ok(Some(Ok(Message::Pong(p)))) if p == *payload => return Ok(None),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Ok(Some(Frame::Text(t.as_str().to_string())))
                }
                Ok(Some(Ok(Message::Binary(b)))) => return Ok(Some(Frame::Binary(b))),
                Ok(Some(Ok(Message::Close(frame)))) => return Ok(Some(close_frame(frame))),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Err(self.classify(e)),
                Ok(None) => {
                    return Err(errors::closed_mid_stream(
                        self.provider,
                        &self.endpoint,
                        "end of stream",
                    ))
                }
            }
        }
    }

    /// Closes politely (best effort, bounded).
    pub async fn close(self) {
        self.close_with(None).await;
    }

    /// Sends the vendor's goodbye message first (e.g. Deepgram's `Close`, so
    /// the server frees the session at once), then closes; best effort, bounded.
    pub async fn close_with(mut self, goodbye: Option<Outgoing>) {
        if let Some(message) = goodbye {
            let _ = self.send(message, Duration::from_millis(200)).await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), self.socket.close(None)).await;
    }
}

/// A close message as a [`Frame`].
fn close_frame(frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> Frame {
    let (code, reason) = frame
        .map(|f| (Some(u16::from(f.code)), f.reason.as_str().to_string()))
        .unwrap_or((None, String::new()));
    Frame::Close { code, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_drop_the_query() {
        let r = UpgradeRequest::new("wss://api.x.ai/v1/tts?voice=eve&codec=pcm");
        assert_eq!(r.endpoint(), "wss://api.x.ai/v1/tts");
        assert_eq!(http_url("ws://h:1/p?q").as_deref(), Some("http://h:1/p?q"));
        assert_eq!(http_url("ftp://h"), None);
    }
}
