//! A raw xAI client for testing the mock: nothing from voxwire but the expected audio.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use voxwire_testkit::mock_xai::MockXai;

/// A connected raw WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The bound on every test step.
pub const STEP: Duration = Duration::from_secs(20);

/// Runs `f` with a time bound, failing the test when it is exceeded.
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// The query of a WebSocket URL.
pub fn ws_url(mock: &MockXai, query: &str) -> String {
    if query.is_empty() {
        mock.ws_url()
    } else {
        format!("{}?{query}", mock.ws_url())
    }
}

/// Tries to connect with `key` (None: no Authorization header).
pub async fn try_connect(
    mock: &MockXai,
    query: &str,
    key: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = ws_url(mock, query)
        .into_client_request()
        .expect("valid request");
    if let Some(key) = key {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).expect("header"),
        );
    }
    bounded(
        "connect",
        tokio_tungstenite::connect_async_with_config(request, None, true),
    )
    .await
    .map(|(ws, _)| ws)
}

/// Connects with the mock's key.
pub async fn connect(mock: &MockXai, query: &str) -> Ws {
    try_connect(mock, query, Some(mock.api_key()))
        .await
        .expect("upgrade accepted")
}

/// The HTTP status (and `Retry-After`, body) of a refused upgrade.
pub async fn upgrade_refusal(
    mock: &MockXai,
    query: &str,
    key: Option<&str>,
) -> (u16, Option<String>, String) {
    match try_connect(mock, query, key).await {
        Ok(_) => panic!("upgrade unexpectedly accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let retry = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status().as_u16(), retry, body)
        }
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
    }
}

/// The usual query: pcm at 24 kHz.
pub const PCM_QUERY: &str = "voice=eve&language=en&codec=pcm&sample_rate=24000";

pub async fn send_json(ws: &mut Ws, value: Value) {
    bounded("send", ws.send(Message::text(value.to_string())))
        .await
        .expect("send");
}

pub async fn delta(ws: &mut Ws, text: &str) {
    send_json(ws, json!({ "type": "text.delta", "delta": text })).await;
}

pub async fn done(ws: &mut Ws) {
    send_json(ws, json!({ "type": "text.done" })).await;
}

/// Sends one utterance as the given deltas, then `text.done`.
pub async fn say(ws: &mut Ws, deltas: &[&str]) {
    for d in deltas {
        delta(ws, d).await;
    }
    done(ws).await;
}

/// How an utterance ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// `audio.done`.
    Done,
    /// `audio.clear`.
    Cleared,
    /// An `error` frame with this JSON.
    Error(Value),
    /// A close frame with this code.
    Closed(Option<u16>),
    /// The connection broke without a close frame.
    Broken(String),
    /// No frame within the wait.
    Silent,
}

/// Everything received for one utterance.
#[derive(Debug, Clone)]
pub struct Utterance {
    pub audio: Vec<u8>,
    pub deltas: usize,
    pub chars: Vec<String>,
    pub times: Vec<[f64; 2]>,
    pub odd_frames: Vec<String>,
    pub end: End,
}

/// Reads frames until the utterance ends (or `wait` passes with no frame).
pub async fn read_utterance(ws: &mut Ws, wait: Duration) -> Utterance {
    let mut u = Utterance {
        audio: Vec::new(),
        deltas: 0,
        chars: Vec::new(),
        times: Vec::new(),
        odd_frames: Vec::new(),
        end: End::Silent,
    };
    loop {
        let next = match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => {
                u.end = End::Silent;
                return u;
            }
            Ok(n) => n,
        };
        let msg = match next {
            None => {
                u.end = End::Broken("stream ended".into());
                return u;
            }
            Some(Err(e)) => {
                u.end = End::Broken(e.to_string());
                return u;
            }
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(t) => {
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    u.odd_frames.push(format!("not json: {}", t.as_str()));
                    continue;
                };
                match v["type"].as_str() {
                    Some("audio.delta") => {
                        if let Some(ts) = v.get("audio_timestamps") {
                            for c in ts["graph_chars"].as_array().expect("chars") {
                                u.chars.push(c.as_str().expect("char").to_string());
                            }
                            for t in ts["graph_times"].as_array().expect("times") {
                                u.times.push([
                                    t[0].as_f64().expect("start"),
                                    t[1].as_f64().expect("end"),
                                ]);
                            }
                        }
                        match v["delta"]
                            .as_str()
                            .map(|d| base64::engine::general_purpose::STANDARD.decode(d))
                        {
                            Some(Ok(bytes)) => {
                                u.deltas += 1;
                                u.audio.extend(bytes);
                            }
                            _ => u.odd_frames.push(format!("bad delta: {v}")),
                        }
                    }
                    Some("audio.done") => {
                        u.end = End::Done;
                        return u;
                    }
                    Some("audio.clear") => {
                        u.end = End::Cleared;
                        return u;
                    }
                    Some("error") => {
                        u.end = End::Error(v);
                        return u;
                    }
                    _ => u.odd_frames.push(format!("unexpected: {v}")),
                }
            }
            Message::Binary(b) => u.odd_frames.push(format!("binary {} bytes", b.len())),
            Message::Close(frame) => {
                u.end = End::Closed(frame.map(|f| u16::from(f.code)));
                return u;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// Reads one utterance with the default wait.
pub async fn read(ws: &mut Ws) -> Utterance {
    read_utterance(ws, STEP).await
}

/// A reqwest client that never waits forever.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(STEP)
        .build()
        .expect("client")
}

/// A REST request body.
pub fn rest_body(text: &str, codec: &str, rate: u32) -> Value {
    json!({
        "text": text,
        "voice_id": "eve",
        "language": "en",
        "output_format": { "codec": codec, "sample_rate": rate },
    })
}

/// Posts `body` with the mock's key.
/// `method {base}{path}` with the mock's key, within the test's time bound.
pub async fn authed(mock: &MockXai, method: reqwest::Method, path: &str) -> reqwest::Response {
    bounded(
        path,
        http()
            .request(method, format!("{}{path}", mock.base_url()))
            .bearer_auth(mock.api_key())
            .send(),
    )
    .await
    .expect("sent")
}

pub async fn post(mock: &MockXai, body: &Value) -> reqwest::Response {
    bounded(
        "post",
        http()
            .post(format!("{}/tts", mock.base_url()))
            .bearer_auth(mock.api_key())
            .json(body)
            .send(),
    )
    .await
    .expect("request sent")
}

/// The body's chunks as they arrived, and the error that ended it, if any.
pub async fn body_chunks(response: reqwest::Response) -> (Vec<Vec<u8>>, Option<String>) {
    let mut stream = response.bytes_stream();
    let mut chunks = Vec::new();
    loop {
        match bounded("body chunk", stream.next()).await {
            None => return (chunks, None),
            Some(Ok(b)) => chunks.push(b.to_vec()),
            Some(Err(e)) => return (chunks, Some(e.to_string())),
        }
    }
}
