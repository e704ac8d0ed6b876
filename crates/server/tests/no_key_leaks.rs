//! The provider key appears in no response, no frame and no log line of the
//! relay, whatever the upstream does; the server token is never echoed either.

mod common;

use common::*;
use futures::StreamExt;
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_testkit::mock_xai::Fault;
use voxwire_xai::Transport;

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_key_is_in_no_response_frame_or_log_line() {
    let logs = voxwire_testkit::assert::LogCapture::install();

    let mut seen = Vec::new();
    for fault in [
        Fault::None,
        Fault::websocket_forbidden(),
        Fault::reject(401, "bad key"),
        Fault::error_frame("invalid api key"),
        Fault::close_after(500),
    ] {
        let s = setup_with(fault, |_| {}).await;
        // Raw WebSocket: every frame.
        let mut ws = connect_pcm(&s).await;
        delta(&mut ws, "Secret? No. Never.").await;
        done(&mut ws).await;
        let frames = read_until(&mut ws, |f| {
            f["type"] == "audio.done" || f["type"] == "error"
        })
        .await;
        seen.extend(frames.iter().map(|f| f.to_string()));
        // An xAI client over both transports.
        for transport in [Transport::Websocket, Transport::Rest] {
            let p = client(&s, transport);
            match p.synthesize(SynthesisRequest::new("Keep it.")).await {
                Ok(mut stream) => {
                    while let Some(item) = stream.next().await {
                        if let Err(e) = item {
                            seen.push(format!("{e} {e:?}"));
                        }
                    }
                }
                Err(e) => seen.push(format!("{e} {e:?}")),
            }
        }
        // Every plain HTTP answer.
        let http = reqwest::Client::new();
        for path in [
            "/v1/tts/voices",
            "/v1/tts/voices/eve",
            "/metrics",
            "/healthz",
            "/",
        ] {
            let reply = http
                .get(format!("http://{}{path}", s.addr))
                .bearer_auth(SERVER_TOKEN)
                .send()
                .await
                .unwrap();
            seen.push(format!("{:?}", reply.headers()));
            seen.push(reply.text().await.unwrap());
        }
        let rest = http
            .post(format!("http://{}/v1/tts", s.addr))
            .bearer_auth(SERVER_TOKEN)
            .json(&serde_json::json!({"text": "Hi.", "output_format": {"codec": "mp3"}}))
            .send()
            .await
            .unwrap();
        seen.push(rest.text().await.unwrap());
        let denied = http
            .get(format!("http://{}/v1/tts/voices", s.addr))
            .send()
            .await
            .unwrap();
        seen.push(denied.text().await.unwrap());
    }

    for text in &seen {
        assert!(
            !text.contains(UPSTREAM_KEY),
            "provider key in a response or frame: {text}"
        );
        assert!(!text.contains(SERVER_TOKEN), "server token echoed: {text}");
    }
    let logs = logs.text();
    assert!(!logs.is_empty());
    for (i, line) in logs.lines().enumerate() {
        assert!(
            !line.contains(UPSTREAM_KEY),
            "log line {i} holds the provider key: {line}"
        );
    }
}
