//! What the relay benches share: a relay on loopback, a WebSocket client of
//! its xAI front with Nagle off, an utterance's first audio, percentiles.

#![allow(dead_code)] // each bench uses its part

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_router::Router;
use voxwire_server::{Relay, ServerSettings};

/// A WebSocket to the relay's xAI front.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A relay on a free loopback port over `router`, as `voxwire serve` runs
/// one; it stops when the sender is dropped or sent to.
pub async fn start(
    router: Router,
    settings: ServerSettings,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let relay = Relay::bind("127.0.0.1:0".parse().expect("addr"), router, settings)
        .await
        .expect("relay");
    let addr = relay.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(relay.serve(async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Opens `/v1/tts?{query}` with `token` as a bearer. Nagle off, as a voice
/// client's should be: with it on, the second of an utterance's two small
/// frames waits for the delayed ACK of the first (about 40 ms).
pub async fn connect(addr: SocketAddr, query: &str, token: &str) -> Ws {
    let mut request = format!("ws://{addr}/v1/tts?{query}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("upgrade")
        .0
}

/// Sends `text` as one utterance (`text.delta`, `text.done`).
pub async fn send_utterance(ws: &mut Ws, text: &str) {
    for frame in [
        serde_json::json!({"type": "text.delta", "delta": text}),
        serde_json::json!({"type": "text.done"}),
    ] {
        ws.send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }
}

/// Reads the utterance's frames to its `audio.done`; the time from `from`
/// to its first `audio.delta`.
pub async fn first_audio(ws: &mut Ws, from: Instant) -> Duration {
    let mut first = None;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        let Message::Text(text) = frame else { continue };
        let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("json");
        match value["type"].as_str() {
            Some("audio.delta") => {
                first.get_or_insert_with(|| from.elapsed());
            }
            Some("audio.done") => return first.expect("audio before its end"),
            Some("error") => panic!("{value}"),
            _ => {}
        }
    }
}

/// The `p` quantile (0 to 1) of `samples`, nearest rank.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64) * p).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}
