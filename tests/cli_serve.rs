//! `voxwire serve` as a program: it refuses unsafe settings, relays speech
//! from the offline voice to a raw xAI-protocol client, and stops on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "serve-test-token-0123456789";

fn config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("voxwire.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

fn voxwire(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(args)
        .env_remove("XAI_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("VOXWIRE_SERVER_TOKEN");
    cmd
}

#[test]
fn open_mode_is_refused_off_loopback_and_a_relay_needs_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let open = config(dir.path(), "[server]\nopen = true\n");
    let out = voxwire(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--config",
        open.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("open mode") && stderr.contains("refusing"),
        "{stderr}"
    );
    let none = config(dir.path(), "");
    let out = voxwire(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--config",
        none.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no server tokens"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_tokens_on_loopback_it_prints_a_ready_demo_url() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[[chain]]\nprovider = \"espeak\"\n");
    let mut child = voxwire(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .env_remove("VOXWIRE_SERVER_TOKEN")
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = common::announced_addr(&mut stderr);
    let mut demo = String::new();
    for _ in 0..3 {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        if let Some(url) = line.trim().strip_prefix("voxwire: demo page: ") {
            demo = url.to_string();
            break;
        }
    }
    let token = demo
        .strip_prefix(&format!("http://{addr}/?token="))
        .unwrap_or_else(|| panic!("no ready URL: {demo}"))
        .to_string();
    // The page's own origin with the token in its query: the way the demo connects.
    let mut request = format!("ws://{addr}/v1/tts?codec=pcm&sample_rate=16000&token={token}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", format!("http://{addr}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(r#"{"type":"text.delta","delta":"Hi."}"#))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = frame else { continue };
        let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        if v["type"] == "audio.done" {
            break;
        }
        assert_eq!(v["type"], "audio.delta", "{v}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn it_relays_the_offline_voice_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[[chain]]\nprovider = \"espeak\"\n");
    let mut child = voxwire(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .env("VOXWIRE_SERVER_TOKEN", TOKEN)
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = common::announced_addr(&mut stderr);

    let mut request = format!("ws://{addr}/v1/tts?codec=pcm&sample_rate=16000")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(
        r#"{"type":"text.delta","delta":"Hello from the relay."}"#,
    ))
    .await
    .unwrap();
    ws.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .unwrap();
    let mut audio = 0usize;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = frame else { continue };
        let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        match v["type"].as_str() {
            Some("audio.delta") => audio += v["delta"].as_str().unwrap().len() * 3 / 4,
            Some("audio.done") => break,
            other => panic!("{other:?}: {v}"),
        }
    }
    assert!(
        audio > 16_000,
        "about a second of 16 kHz audio at least: {audio} bytes"
    );

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let closed = tokio::time::timeout(Duration::from_secs(15), ws.next())
        .await
        .unwrap();
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a going-away close, got {other:?}"),
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    for l in stderr.lines() {
        rest.push_str(&l.unwrap());
        rest.push('\n');
    }
    assert!(rest.contains("relay stopped"), "{rest}");
}
