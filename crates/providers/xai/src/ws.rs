//! The streaming WebSocket: connecting, reading frames, one utterance at a time.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use voxwire_core::{Phase, Result, TtsError};

use crate::errors;
use crate::protocol::{parse_server_message, ClientMessage, Incoming, ServerMessage, StreamQuery};
use crate::settings::Resolved;

/// The largest frame or message accepted from the server.
const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

type Socket = WebSocketStream<reqwest::Upgraded>;

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
    ///
    /// The upgrade request goes through reqwest rather than tungstenite's own
    /// client handshake, which logs the whole request, headers included, at
    /// TRACE level: that would put the key in logs.
    pub async fn open(http: &reqwest::Client, r: &Resolved, query: &StreamQuery) -> Result<Self> {
        let query = query.to_query_string();
        let endpoint = r.ws_url.clone();
        let nonce = generate_key();
        let request = http
            .get(format!("{}?{query}", r.rest_url))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", &nonce)
            .bearer_auth(r.key.expose())
            .send();
        let response = tokio::time::timeout(r.connect_timeout, request)
            .await
            .map_err(|_| {
                errors::timeout(
                    &endpoint,
                    Phase::Connect,
                    "no WebSocket upgrade",
                    r.connect_timeout,
                )
            })?
            .map_err(|e| errors::connect_error(&endpoint, e).scrub(&r.key))?;
        let status = response.status().as_u16();
        if status != 101 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = crate::rest::read_limited(response, r).await;
            return Err(errors::http_error(
                status,
                Phase::Upgrade,
                &endpoint,
                &body,
                retry_after.as_deref(),
                true,
            )
            .scrub(&r.key));
        }
        let accepted = response
            .headers()
            .get("sec-websocket-accept")
            .is_some_and(|v| v.as_bytes() == derive_accept_key(nonce.as_bytes()).as_bytes());
        if !accepted {
            return Err(errors::protocol(
                &endpoint,
                "the upgrade answer has no valid Sec-WebSocket-Accept",
            )
            .with_phase(Phase::Upgrade));
        }
        let upgraded = tokio::time::timeout(r.connect_timeout, response.upgrade())
            .await
            .map_err(|_| {
                errors::timeout(
                    &endpoint,
                    Phase::Upgrade,
                    "no upgraded connection",
                    r.connect_timeout,
                )
            })?
            .map_err(|e| errors::connect_error(&endpoint, e))?;
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_MESSAGE_BYTES);
        config.max_frame_size = Some(MAX_MESSAGE_BYTES);
        let socket = WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await;
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
