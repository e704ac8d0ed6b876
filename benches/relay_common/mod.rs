//! Client and relay setup shared by `relay_load` and `relay_soak`: start
//! `voxwire serve` as a child on a mock xAI upstream, read its /proc usage,
//! and speak the relay's WebSocket protocol as a client.

// Each bench uses a subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_testkit::mock_xai::MockXai;

/// The upstream key the relay presents to the mock.
pub const KEY: &str = "xai-bench-upstream-key";
/// The relay token the bench clients present.
pub const TOKEN: &str = "relay-bench-token-0123456789";

/// A client WebSocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A process's resident memory (kB) and CPU time (s), from /proc.
pub fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (rss, ticks / 100.0)
}

/// Starts `voxwire serve` on 127.0.0.1:0 with one xAI chain entry on `mock`;
/// `server_extra` is appended to the `[server]` table. Returns the child and
/// its `host:port`.
pub fn start_relay(
    mock: &MockXai,
    dir: &std::path::Path,
    server_extra: &str,
    echo_stderr: bool,
) -> (Child, String) {
    let chain = format!(
        "[[chain]]\nprovider = \"xai\"\napi_key = \"{KEY}\"\nbase_url = \"{}\"\npool_size = 64\n",
        mock.base_url()
    );
    start_relay_with_chain(dir, server_extra, &chain, echo_stderr)
}

/// Starts `voxwire serve` on 127.0.0.1:0 with the `[[chain]]` tables of
/// `chain`; `server_extra` is appended to the `[server]` table. Returns the
/// child and its `host:port`.
pub fn start_relay_with_chain(
    dir: &std::path::Path,
    server_extra: &str,
    chain: &str,
    echo_stderr: bool,
) -> (Child, String) {
    let config = dir.join("voxwire.toml");
    let mut f = std::fs::File::create(&config).expect("config");
    writeln!(
        f,
        "[server]\ntokens = [{{ id = \"bench\", secret = \"{TOKEN}\" }}]\nmax_sessions = 5000\nmax_sessions_per_token = 5000\n{server_extra}\n\n{chain}"
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxwire"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env(
            "RUST_LOG",
            std::env::var("VOXWIRE_BENCH_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxwire serve");
    let echo_stderr = echo_stderr || std::env::var_os("VOXWIRE_BENCH_LOG").is_some();
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    reader.read_line(&mut line).expect("listening line");
    // Keep draining the relay's stderr so it never writes to a closed pipe.
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            if echo_stderr {
                eprintln!("relay: {l}");
            }
        }
    });
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("address")
        .to_string();
    (child, addr)
}

/// Opens `ws://{addr}/v1/tts` (24 kHz PCM) with `bearer`.
pub async fn connect(addr: &str, bearer: &str) -> Result<Ws, String> {
    let mut request = format!("ws://{addr}/v1/tts?codec=pcm&sample_rate=24000")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {bearer}").parse().map_err(|_| "header")?,
    );
    // TCP_NODELAY, as any speech client should: without it Nagle holds
    // `text.done` behind `text.delta` until the relay's delayed ACK (~40 ms).
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio_tungstenite::connect_async_with_config(request, None, true),
    )
    .await
    .map_err(|_| "connect timeout".to_string())?
    .map(|(ws, _)| ws)
    .map_err(|e| e.to_string())
}

/// Sends one utterance: a `text.delta` then `text.done`.
pub async fn utterance(ws: &mut Ws, text: &str) -> Result<(), String> {
    let delta = serde_json::json!({"type": "text.delta", "delta": text}).to_string();
    ws.send(Message::text(delta))
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .map_err(|e| e.to_string())
}

/// Reads up to the next `audio.done` (Ok: its audio) or an error/close (Err);
/// `on_first` runs at the first `audio.delta`.
pub async fn audio_until_done(ws: &mut Ws, mut on_first: impl FnMut()) -> Result<Vec<u8>, String> {
    let mut audio = Vec::new();
    let mut first = true;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| "timeout")?
            .ok_or("closed")?
            .map_err(|e| e.to_string())?;
        match frame {
            Message::Text(text) => {
                let v: serde_json::Value =
                    serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
                match v["type"].as_str() {
                    Some("audio.delta") => {
                        if first {
                            first = false;
                            on_first();
                        }
                        audio.extend(
                            base64::engine::general_purpose::STANDARD
                                .decode(v["delta"].as_str().unwrap_or_default())
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    Some("audio.done") => return Ok(audio),
                    _ => return Err(v.to_string()),
                }
            }
            Message::Close(c) => return Err(format!("close {c:?}")),
            _ => {}
        }
    }
}
