//! Shared by the workspace's end-to-end tests that run `voxwire serve`
//! (each test binary uses part of it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Reads the relay's first stderr line (`... listening on http://HOST:PORT ...`)
/// and returns `HOST:PORT`.
pub fn announced_addr(stderr: &mut impl BufRead) -> String {
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("the relay did not say where it listens: {line}"))
        .to_string()
}

/// A `voxwire serve` child, killed when the test ends, however it ends.
pub struct Relay(pub Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `voxwire serve` on an ephemeral loopback port with `config` written to
/// `dir/voxwire.toml`, the environment's `VOXWIRE_*` and `{vendor}_*`
/// variables removed and `envs` set.
pub fn serve_command(dir: &Path, config: &str, vendor: &str, envs: &[(&str, &str)]) -> Command {
    let cfg = dir.join("voxwire.toml");
    std::fs::File::create(&cfg)
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .current_dir(dir)
        .env_remove("RUST_LOG");
    let vendor = format!("{vendor}_");
    for (name, _) in std::env::vars() {
        if name.starts_with("VOXWIRE_") || name.starts_with(&vendor) {
            cmd.env_remove(name);
        }
    }
    cmd.envs(envs.iter().copied());
    cmd
}

/// Starts `cmd` (a [`serve_command`]) and waits for where it listens.
pub async fn start(mut cmd: Command) -> (Relay, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let relay = Relay(child);
    let addr = tokio::task::spawn_blocking(move || announced_addr(&mut stderr))
        .await
        .unwrap();
    (relay, addr)
}

/// A WebSocket session on a relay's xAI front.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A session on `addr` (24 kHz pcm) with `token` as a bearer, or the
/// upgrade's HTTP status.
pub async fn open_session(addr: &str, token: &str) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/v1/tts?codec=pcm&sample_rate=24000")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let connect = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(std::time::Duration::from_secs(10), connect)
        .await
        .expect("an answer in time")
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// Sends `text` as one utterance (`text.delta`, `text.done`).
pub async fn send_utterance(ws: &mut Ws, text: &str) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let delta = serde_json::json!({"type": "text.delta", "delta": text}).to_string();
    ws.send(Message::text(delta)).await.unwrap();
    ws.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .unwrap();
}

/// Reads the utterance to its end: the count of its audio frames at its
/// `audio.done`, or its error frame's message.
pub async fn finish_utterance(ws: &mut Ws) -> Result<usize, String> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut chunks = 0;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
            .await
            .expect("a frame within 30 s")
            .expect("the session stays open")
            .expect("a frame");
        let Message::Text(frame) = frame else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        match v["type"].as_str() {
            Some("audio.delta") => chunks += 1,
            Some("audio.done") => return Ok(chunks),
            Some("error") => return Err(v["message"].as_str().unwrap_or_default().to_string()),
            _ => {}
        }
    }
}
