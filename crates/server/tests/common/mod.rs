//! Shared set-up for the relay's integration tests: a mock upstream, a
//! fallback, the relay on loopback, and a raw WebSocket client.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::{AudioFormat, Secret, SynthesisRequest, TtsProvider};
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_server::{Relay, ServerSettings, TokenEntry};
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai};
use voxwire_xai::{Transport, XaiProvider, XaiSettings};

pub const UPSTREAM_KEY: &str = "xai-UPSTREAM-provider-key-never-leaves";
pub const SERVER_TOKEN: &str = "relay-server-token-0123456789";
pub const ORIGIN: &str = "http://app.example";
pub const OTHER_ORIGIN: &str = "http://other.example:8443";
pub const LIMIT: Duration = Duration::from_secs(20);

pub fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

pub struct Setup {
    pub upstream: MockXai,
    pub fallback: FakeProvider,
    pub addr: std::net::SocketAddr,
    pub state: Arc<voxwire_server::AppState>,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn setup_with(fault: Fault, tweak: impl FnOnce(&mut ServerSettings)) -> Setup {
    setup_full(fault, tweak, false).await
}

/// Like [`setup_with`], with the upstream xAI provider asking for timestamps or not.
pub async fn setup_full(
    fault: Fault,
    tweak: impl FnOnce(&mut ServerSettings),
    upstream_timestamps: bool,
) -> Setup {
    let upstream = MockXai::start(
        MockConfig::new()
            .with_api_key(UPSTREAM_KEY)
            .with_faults(FaultPlan::always(fault)),
    )
    .await;
    let xai: Arc<dyn TtsProvider> = Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(UPSTREAM_KEY)),
            base_url: Some(upstream.base_url()),
            timestamps: upstream_timestamps,
            ..XaiSettings::default()
        })
        .unwrap(),
    );
    let fallback = FakeProvider::new("fallback");
    let policy = Policy {
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        ..Policy::default()
    };
    let router = Router::new(
        vec![(xai, policy.clone()), (fallback.arc(), policy)],
        RouterSettings::default(),
    )
    .unwrap();
    let mut settings = ServerSettings {
        tokens: vec![TokenEntry {
            id: "test".into(),
            secret: Secret::new(SERVER_TOKEN),
            chars_per_minute: None,
            chars_per_day: None,
        }],
        allowed_origins: vec![ORIGIN.into(), OTHER_ORIGIN.into()],
        ..ServerSettings::default()
    };
    tweak(&mut settings);
    let relay = Relay::bind("127.0.0.1:0".parse().unwrap(), router, settings)
        .await
        .unwrap();
    let addr = relay.local_addr().unwrap();
    let state = relay.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(relay.serve(async move {
        let _ = stopped.await;
    }));
    Setup {
        upstream,
        fallback,
        addr,
        state,
        stop,
    }
}

pub async fn setup() -> Setup {
    setup_with(Fault::None, |_| {}).await
}

/// voxwire-xai pointed at the relay, with the relay's server token as its key.
pub fn client(s: &Setup, transport: Transport) -> XaiProvider {
    XaiProvider::new(XaiSettings {
        api_key: Some(Secret::new(SERVER_TOKEN)),
        base_url: Some(format!("http://{}/v1", s.addr)),
        transport,
        ..XaiSettings::default()
    })
    .unwrap()
}

pub async fn collect(p: &XaiProvider, text: &str) -> Vec<u8> {
    tokio::time::timeout(LIMIT, async {
        let mut stream = p
            .synthesize(SynthesisRequest::new(text).format(pcm()))
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap().data);
        }
        out
    })
    .await
    .unwrap()
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn raw(
    s: &Setup,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/v1/tts?{query}", s.addr)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        request.headers_mut().insert(name, v.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

pub fn bearer() -> String {
    format!("Bearer {SERVER_TOKEN}")
}

pub async fn send(ws: &mut Ws, json: serde_json::Value) {
    ws.send(Message::text(json.to_string())).await.unwrap();
}

/// An upgrade with the server token as a bearer header.
pub async fn with_token(
    s: &Setup,
    query: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    raw(s, query, &[("authorization", &bearer())]).await
}

/// A WebSocket with the server token, asking for 24 kHz PCM.
pub async fn connect_pcm(s: &Setup) -> Ws {
    with_token(s, "codec=pcm&sample_rate=24000").await.unwrap()
}

/// Sends `text.delta` with `text`.
pub async fn delta(ws: &mut Ws, text: impl AsRef<str>) {
    send(
        ws,
        serde_json::json!({"type": "text.delta", "delta": text.as_ref()}),
    )
    .await;
}

/// Sends `text.done`.
pub async fn done(ws: &mut Ws) {
    send(ws, serde_json::json!({"type": "text.done"})).await;
}

/// Reads frames until `stop` says so; returns them as JSON (binary/close noted as such).
pub async fn read_until(
    ws: &mut Ws,
    stop: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("a frame in time");
        let value = match frame {
            Some(Ok(Message::Text(t))) => serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Close(c))) => {
                serde_json::json!({"type": "close", "code": c.map(|c| u16::from(c.code))})
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => serde_json::json!({"type": "ws_error", "error": e.to_string()}),
            None => serde_json::json!({"type": "eof"}),
        };
        let done =
            stop(&value) || matches!(value["type"].as_str(), Some("close" | "eof" | "ws_error"));
        seen.push(value);
        if done {
            return seen;
        }
    }
}

pub fn audio_of(frames: &[serde_json::Value]) -> Vec<u8> {
    use base64::Engine as _;
    frames
        .iter()
        .filter(|f| f["type"] == "audio.delta")
        .flat_map(|f| {
            base64::engine::general_purpose::STANDARD
                .decode(f["delta"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

/// The HTTP status an upgrade attempt got (101 when it succeeded).
pub fn status(result: Result<Ws, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    }
}

/// A relay on loopback over `router`, with `settings` as given.
pub struct Started {
    pub addr: std::net::SocketAddr,
    pub state: Arc<voxwire_server::AppState>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub done: tokio::task::JoinHandle<voxwire_core::Result<()>>,
    pub demo_url: String,
    pub generated: Option<String>,
}

pub async fn start(router: Router, settings: ServerSettings) -> Started {
    let relay = Relay::bind("127.0.0.1:0".parse().unwrap(), router, settings)
        .await
        .unwrap();
    let addr = relay.local_addr().unwrap();
    let state = relay.state();
    let demo_url = relay.demo_url().unwrap();
    let generated = relay.generated_token().map(|t| t.expose().to_string());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(relay.serve(async move {
        let _ = stopped.await;
    }));
    Started {
        addr,
        state,
        stop,
        done,
        demo_url,
        generated,
    }
}

/// A router over one fake provider.
pub fn fake_router(fake: &FakeProvider) -> Router {
    Router::new(
        vec![(
            fake.arc(),
            Policy {
                backoff_base_ms: 5,
                backoff_max_ms: 10,
                ..Policy::default()
            },
        )],
        RouterSettings::default(),
    )
    .unwrap()
}

/// Settings with the test server token and the test origins.
pub fn token_settings() -> ServerSettings {
    ServerSettings {
        tokens: vec![TokenEntry {
            id: "test".into(),
            secret: Secret::new(SERVER_TOKEN),
            chars_per_minute: None,
            chars_per_day: None,
        }],
        allowed_origins: vec![ORIGIN.into(), OTHER_ORIGIN.into()],
        ..ServerSettings::default()
    }
}

/// A WebSocket to `addr` with `query` and `headers`.
pub async fn raw_to(
    addr: std::net::SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}/v1/tts?{query}")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        request.headers_mut().insert(name, v.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// `GET /metrics` as text.
pub async fn metrics_of(addr: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample line (`name{labels} value`) in a metrics text.
pub fn sample(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

/// Mints a browser token for `origin` (and `sub`) with the test server token.
pub async fn mint(addr: std::net::SocketAddr, origin: &str, sub: Option<&str>) -> String {
    let mut body = serde_json::json!({ "origin": origin });
    if let Some(sub) = sub {
        body["sub"] = sub.into();
    }
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/v1/tokens"))
        .header("authorization", bearer())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["value"].as_str().unwrap().to_string()
}

/// The ends (`audio.done`, `error`) among `frames`, in order.
pub fn ends(frames: &[serde_json::Value]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| f["type"].as_str())
        .filter(|t| matches!(*t, "audio.done" | "error"))
        .map(str::to_string)
        .collect()
}

/// Reads frames until `n` ends have come.
pub async fn read_ends(ws: &mut Ws, n: usize) -> Vec<serde_json::Value> {
    let mut frames = Vec::new();
    while ends(&frames).len() < n {
        frames.extend(
            read_until(ws, |f| {
                matches!(f["type"].as_str(), Some("audio.done" | "error"))
            })
            .await,
        );
    }
    frames
}

/// The utterance `text` (already sent) ends with `audio.done` and exactly its
/// audio, and nothing more arrives for 300 ms (no second end).
pub async fn spoken_cleanly_then_quiet(ws: &mut Ws, text: &str) {
    let frames = read_ends(ws, 1).await;
    assert_eq!(ends(&frames), ["audio.done"], "{frames:?}");
    assert_eq!(
        audio_of(&frames),
        voxwire_testkit::mock_xai::expected_audio(text, pcm())
    );
    let extra = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(extra.is_err(), "nothing more: {extra:?}");
}

/// A session on `addr`'s xAI WebSocket front with `query` and the test
/// server token, or the upgrade's HTTP status when it is refused.
pub async fn session_at(addr: std::net::SocketAddr, query: &str) -> Result<Ws, u16> {
    match raw_to(addr, query, &[("authorization", &bearer())]).await {
        Ok(ws) => Ok(ws),
        Err(e) => Err(status(Err(e))),
    }
}

/// A real `redis-server` on a free loopback port.
pub fn redis_server() -> voxwire_testkit::redis_server::RedisServer {
    voxwire_testkit::redis_server::RedisServer::start()
        .expect("a redis-server (cargo xtask setup installs it)")
}

/// [`token_settings`] sharing the fleet's state through `redis`.
pub fn shared_settings(redis: &voxwire_testkit::redis_server::RedisServer) -> ServerSettings {
    let mut settings = token_settings();
    settings.shared.redis_url = Some(Secret::new(redis.url()));
    settings
}
