//! The upgrade against raw loopback servers: HTTP/1.1 only, the key only in
//! its header, a 2xx that is not 101 is Protocol, a refusal keeps its
//! status, Retry-After and request id.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voxwire_core::{ErrorKind, Phase, Secret};
use voxwire_transport::{connect, http_client, ConnectOptions, UpgradeRequest};

const KEY: &str = "sk-transport-SECRET-42";

/// Answers one request with `answer`; returns what the client sent.
async fn one_shot(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/tts?voice=eve", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        tcp.write_all(answer.as_bytes()).await.unwrap();
        let _ = tcp.shutdown().await;
        String::from_utf8_lossy(&got).into_owned()
    });
    (url, task)
}

fn options() -> ConnectOptions {
    ConnectOptions {
        provider: "toy",
        connect_timeout: Duration::from_secs(2),
        upgrade_timeout: Duration::from_secs(2),
        max_message_bytes: 1 << 20,
        secret: Secret::new(KEY),
    }
}

fn request(url: &str) -> UpgradeRequest {
    UpgradeRequest::new(url).secret_header("authorization", Secret::new(format!("Bearer {KEY}")))
}

#[tokio::test]
async fn a_2xx_instead_of_101_is_protocol_and_the_request_is_http11_without_h2() {
    let (url, server) = one_shot("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let http = http_client(Duration::from_secs(2)).unwrap();
    let e = connect(&http, &request(&url), &options(), &|_| None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert_eq!(e.phase(), Phase::Upgrade);
    let sent = server.await.unwrap();
    assert!(
        sent.starts_with("GET /v1/tts?voice=eve HTTP/1.1\r\n"),
        "{sent}"
    );
    assert!(
        !sent.contains("PRI * HTTP/2.0") && !sent.to_ascii_lowercase().contains("http2-settings"),
        "{sent}"
    );
    assert!(
        !sent.to_ascii_lowercase().contains("upgrade: h2c"),
        "{sent}"
    );
    assert!(
        sent.to_ascii_lowercase().contains("upgrade: websocket"),
        "{sent}"
    );
    let all = format!("{e} {e:?}");
    assert!(!all.contains(KEY), "{all}");
    assert!(
        !all.contains("voice=eve"),
        "the endpoint in errors drops the query: {all}"
    );
}

#[tokio::test]
async fn a_refused_upgrade_keeps_status_retry_after_request_id_and_body() {
    let (url, _server) = one_shot(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\nx-request-id: rq-9\r\ncontent-length: 14\r\n\r\n{\"error\":\"no\"}",
    )
    .await;
    let http = http_client(Duration::from_secs(2)).unwrap();
    let e = connect(&http, &request(&url), &options(), &|s| {
        (s == 429).then(|| "vendor says wait".into())
    })
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.status(), Some(429));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(e.request_id(), Some("rq-9"));
    assert_eq!(e.hint(), Some("vendor says wait"));
    assert!(e.body().unwrap_or_default().contains("no"));
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_at_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let http = http_client(Duration::from_secs(2)).unwrap();
    let e = connect(&http, &request(&url), &options(), &|_| None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.phase()),
        (ErrorKind::Unavailable, Phase::Connect),
        "{e}"
    );
}
