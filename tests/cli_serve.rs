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
    let demo = demo_url(&mut stderr);
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

/// The demo page's URL `serve` prints after where it listens (empty if it
/// prints none within three lines).
fn demo_url(stderr: &mut impl BufRead) -> String {
    for _ in 0..3 {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        if let Some(url) = line.trim().strip_prefix("voxwire: demo page: ") {
            return url.to_string();
        }
    }
    String::new()
}

/// One HTTP/1.1 GET on loopback: the status line and the body.
async fn get(addr: &str, path: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.lines().next().unwrap_or_default().to_string();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let mut body = answer[split + 4..].to_vec();
    if chunked {
        let mut plain = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            plain.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = plain;
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_clone_serves_the_demo_page_with_its_wasm() {
    // `voxwire serve` from a clone of the repository, as the README says:
    // the committed bundle is the page's, with no build step of its own.
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("voxwire");
    let cloned = Command::new("git")
        .args(["clone", "--quiet", "--no-local"])
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg(&clone)
        .status()
        .expect("git");
    assert!(cloned.success(), "git clone of the repository");
    let cfg = config(dir.path(), "[[chain]]\nprovider = \"espeak\"\n");
    let mut child = voxwire(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        cfg.to_str().unwrap(),
    ])
    .current_dir(&clone)
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = common::announced_addr(&mut stderr);
    let demo = demo_url(&mut stderr);
    let page = demo
        .strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("no demo URL: {demo}"));
    let (status, html) = get(&addr, page).await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(String::from_utf8_lossy(&html).contains("<voxwire-speaker>"));
    let (status, wasm) = get(&addr, "/pkg/voxwire_web_bg.wasm").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(wasm.starts_with(b"\0asm"), "a wasm module");
    assert_eq!(
        wasm,
        std::fs::read(clone.join("web/pkg/voxwire_web_bg.wasm")).unwrap(),
        "the committed bundle"
    );
    let (status, _) = get(&addr, "/pkg/voxwire_web.js").await;
    assert!(status.contains(" 200 "), "{status}");
    let _ = child.kill();
    let _ = child.wait();
}
