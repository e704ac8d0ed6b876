//! The streaming WebSocket: connecting, reading frames, one utterance at a time.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use voxwire_core::{Phase, Result, Secret, TtsError};

use crate::errors;
use crate::protocol::{parse_server_message, ClientMessage, Incoming, ServerMessage, StreamQuery};
use crate::settings::Resolved;

/// The largest frame or message accepted from the server.
const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open WebSocket to the TTS endpoint, with what it was opened for.
pub(crate) struct Conn {
    socket: Socket,
    /// The query string: connections are only reused for the same one.
    pub query: String,
    /// The URL without credentials, for errors.
    pub endpoint: String,
    opened: Instant,
}

/// What a server frame meant.
#[derive(Debug)]
pub(crate) enum WireEvent {
    Audio { data: Bytes, timestamp_chars: usize },
    Done,
    Cleared,
}

impl Conn {
    /// Opens a connection; the key travels only in the upgrade's Authorization header.
    pub async fn open(r: &Resolved, query: &StreamQuery) -> Result<Self> {
        let query = query.to_query_string();
        let endpoint = r.ws_url.clone();
        let url = format!("{endpoint}?{query}");
        let mut request = url.as_str().into_client_request().map_err(|e| {
            TtsError::config(format!("bad WebSocket URL: {e}")).with_endpoint(&endpoint)
        })?;
        request
            .headers_mut()
            .insert("authorization", bearer(&r.key)?);
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_MESSAGE_BYTES);
        config.max_frame_size = Some(MAX_MESSAGE_BYTES);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (socket, _response) = tokio::time::timeout(r.connect_timeout, connect)
            .await
            .map_err(|_| {
                errors::timeout(
                    &endpoint,
                    Phase::Connect,
                    "no WebSocket connection",
                    r.connect_timeout,
                )
            })?
            .map_err(|e| upgrade_error(&endpoint, e).scrub(&r.key))?;
        Ok(Self {
            socket,
            query,
            endpoint,
            opened: Instant::now(),
        })
    }

    /// How long ago it was opened.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Sends one client message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        self.socket
            .send(Message::text(message.to_json()))
            .await
            .map_err(|e| {
                TtsError::new(
                    voxwire_core::ErrorKind::Unavailable,
                    format!("sending failed: {e}"),
                )
                .with_provider(crate::PROVIDER_ID)
                .with_phase(Phase::Send)
                .with_endpoint(&self.endpoint)
            })
    }

    /// Reads until a meaningful frame arrives, within `limit`.
    pub async fn next_event(&mut self, limit: Duration, waiting_for: &str) -> Result<WireEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| errors::timeout(&self.endpoint, Phase::Receive, waiting_for, limit))?;
            let text = match frame {
                None => return Err(errors::closed_mid_stream(&self.endpoint, "end of stream")),
                Some(Err(e)) => return Err(errors::closed_mid_stream(&self.endpoint, e)),
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map_or_else(
                        || "close frame".to_string(),
                        |f| format!("close code {} {}", u16::from(f.code), f.reason),
                    );
                    return Err(errors::closed_mid_stream(&self.endpoint, why));
                }
                Some(Ok(Message::Binary(_))) => {
                    return Err(errors::protocol(
                        &self.endpoint,
                        "a binary frame where JSON text was expected",
                    ))
                }
                Some(Ok(_)) => continue, // ping/pong are answered by tungstenite
            };
            match parse_server_message(text.as_str()) {
                Err(why) => {
                    return Err(errors::protocol(
                        &self.endpoint,
                        format!("bad server message: {why}"),
                    ))
                }
                Ok(Incoming::Unknown(kind)) => {
                    tracing::debug!(%kind, "skipping unknown xAI message type");
                }
                Ok(Incoming::Known(message)) => match message {
                    ServerMessage::AudioDelta {
                        delta,
                        audio_timestamps,
                    } => {
                        let data = match delta {
                            Some(b64) => base64::engine::general_purpose::STANDARD
                                .decode(b64.as_bytes())
                                .map_err(|e| {
                                    errors::protocol(
                                        &self.endpoint,
                                        format!("bad base64 in audio.delta: {e}"),
                                    )
                                })?,
                            None => Vec::new(),
                        };
                        let timestamp_chars = audio_timestamps.map_or(0, |t| t.graph_chars.len());
                        return Ok(WireEvent::Audio {
                            data: Bytes::from(data),
                            timestamp_chars,
                        });
                    }
                    ServerMessage::AudioDone => return Ok(WireEvent::Done),
                    ServerMessage::AudioClear => return Ok(WireEvent::Cleared),
                    error @ ServerMessage::Error { .. } => {
                        let text = error.error_text().unwrap_or_default();
                        return Err(errors::error_frame(&self.endpoint, &text));
                    }
                },
            }
        }
    }

    /// Closes politely (best effort).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(200), self.socket.close(None)).await;
    }
}

fn bearer(key: &Secret) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
        TtsError::config("the API key holds characters not allowed in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn upgrade_error(endpoint: &str, e: tungstenite::Error) -> TtsError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response.body().clone().unwrap_or_default();
            errors::http_error(
                status,
                Phase::Upgrade,
                endpoint,
                &body,
                retry_after.as_deref(),
                true,
            )
        }
        tungstenite::Error::Io(io) => errors::connect_error(endpoint, io),
        tungstenite::Error::Tls(tls) => errors::connect_error(endpoint, format!("TLS: {tls}")),
        tungstenite::Error::Url(url) => {
            TtsError::config(format!("bad WebSocket URL: {url}")).with_endpoint(endpoint)
        }
        other => errors::connect_error(endpoint, other),
    }
}
