//! The relay end to end on loopback: conformance for xAI clients, failover,
//! every message type, REST, and the access controls and limits.

mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::session::SessionEvent;
use voxwire_core::{StreamConfig, TtsProvider};
use voxwire_testkit::mock_xai::{expected_audio, Fault};
use voxwire_xai::Transport;

#[tokio::test]
async fn an_xai_client_works_unchanged_over_websocket_and_rest() {
    let s = setup().await;
    for transport in [Transport::Websocket, Transport::Rest] {
        let p = client(&s, transport);
        let text = "Hello through the relay.";
        assert_eq!(
            collect(&p, text).await,
            expected_audio(text, pcm()),
            "{transport:?}"
        );
    }
}

#[tokio::test]
async fn many_utterances_and_a_cancel_on_one_connection() {
    let s = setup().await;
    let p = client(&s, Transport::Websocket);
    let session = p
        .stream(StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (mut input, mut events) = session.split();
    let texts: Vec<String> = (0..5).map(|i| format!("Utterance number {i}. ")).collect();
    let to_send = texts.clone();
    let writer = tokio::spawn(async move {
        for t in &to_send {
            input.push_text(t).await.unwrap();
            input.flush().await.unwrap();
        }
        input
    });
    let mut per = vec![Vec::new(); texts.len()];
    let mut done = 0;
    while done < texts.len() {
        match tokio::time::timeout(LIMIT, events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            SessionEvent::Audio(c) => per[done].extend_from_slice(&c.data),
            SessionEvent::UtteranceDone { .. } => done += 1,
            other => panic!("{other:?}"),
        }
    }
    for (t, got) in texts.iter().zip(&per) {
        assert_eq!(got, &expected_audio(t, pcm()));
    }
    let mut input = writer.await.unwrap();
    input
        .push_text("A sentence to interrupt, long enough to be still speaking when cleared. ")
        .await
        .unwrap();
    input.flush().await.unwrap();
    let generation = input.cancel();
    loop {
        match tokio::time::timeout(LIMIT, events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            SessionEvent::Cleared { generation: g } => {
                assert_eq!(g, generation);
                break;
            }
            SessionEvent::Audio(_) | SessionEvent::UtteranceDone { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn every_message_type_on_the_wire() {
    let s = setup().await;
    let mut ws = with_token(&s, "voice=eve&language=en&codec=pcm&sample_rate=24000")
        .await
        .unwrap();
    delta(&mut ws, "Hi ").await;
    delta(&mut ws, "there.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(frames.last().unwrap()["type"], "audio.done");
    assert_eq!(audio_of(&frames), expected_audio("Hi there.", pcm()));
    // Unknown types and binary frames get an error frame; the connection stays.
    send(&mut ws, serde_json::json!({"type": "session.update"})).await;
    let frames = read_until(&mut ws, |f| f["type"] == "error").await;
    assert!(frames.last().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("unknown message type"));
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let frames = read_until(&mut ws, |f| f["type"] == "error").await;
    assert!(frames.last().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("binary"));
    // text.clear is acknowledged with audio.clear.
    delta(&mut ws, "Never mind.").await;
    send(&mut ws, serde_json::json!({"type": "text.clear"})).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.clear").await;
    assert_eq!(frames.last().unwrap()["type"], "audio.clear");
    // And it still speaks afterwards.
    delta(&mut ws, "Still here.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(audio_of(&frames), expected_audio("Still here.", pcm()));
}

#[tokio::test]
async fn rest_speaks_pcm_wav_and_mp3_and_lists_voices() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/tts", s.addr);
    let body = |codec: &str| serde_json::json!({"text": "Rest works.", "voice_id": "eve", "language": "en", "output_format": {"codec": codec, "sample_rate": 24000}});
    let pcm_reply = http
        .post(&url)
        .bearer_auth(SERVER_TOKEN)
        .json(&body("pcm"))
        .send()
        .await
        .unwrap();
    assert_eq!(pcm_reply.status(), 200);
    assert_eq!(
        pcm_reply.bytes().await.unwrap().to_vec(),
        expected_audio("Rest works.", pcm())
    );
    let wav = http
        .post(&url)
        .bearer_auth(SERVER_TOKEN)
        .json(&body("wav"))
        .send()
        .await
        .unwrap();
    assert_eq!(wav.headers()["content-type"], "audio/wav");
    let wav = wav.bytes().await.unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(wav[44..].to_vec(), expected_audio("Rest works.", pcm()));
    let mp3 = http
        .post(&url)
        .bearer_auth(SERVER_TOKEN)
        .json(&body("mp3"))
        .send()
        .await
        .unwrap();
    // Encoded here (decoded back in openai_front.rs); an unknown codec is refused.
    assert_eq!(mp3.status(), 200);
    assert_eq!(mp3.headers()["content-type"], "audio/mpeg");
    let aac = http
        .post(&url)
        .bearer_auth(SERVER_TOKEN)
        .json(&body("aac"))
        .send()
        .await
        .unwrap();
    assert_eq!(aac.status(), 400);
    let voices: serde_json::Value = http
        .get(format!("http://{}/v1/tts/voices", s.addr))
        .bearer_auth(SERVER_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(voices["voices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["voice_id"] == "eve"));
}

#[tokio::test]
async fn with_the_upstream_refusing_clients_still_hear_audio_and_no_error() {
    let s = setup_with(Fault::websocket_forbidden(), |_| {}).await;
    let mut ws = connect_pcm(&s).await;
    delta(&mut ws, "Failover, please. Twice.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert!(frames.iter().all(|f| f["type"] != "error"), "{frames:?}");
    assert_eq!(
        audio_of(&frames),
        [
            expected_audio("Failover, please. ", pcm()),
            expected_audio("Twice.", pcm())
        ]
        .concat()
    );
    assert!(!s.fallback.calls().is_empty());
    let metrics = reqwest::get(format!("http://{}/metrics", s.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("voxwire_failovers_total{entry=\"xai\",reason=\"auth\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn access_control_at_the_upgrade() {
    let s = setup().await;
    assert_eq!(status(raw(&s, "", &[]).await), 401, "no token");
    assert_eq!(
        status(raw(&s, "", &[("authorization", "Bearer wrong-token-000000000")]).await),
        401
    );
    assert_eq!(
        status(
            raw(
                &s,
                "",
                &[
                    ("authorization", &bearer()),
                    ("origin", "http://evil.example")
                ]
            )
            .await
        ),
        403
    );
    // Browser tokens: minted with the server token, bound to an origin.
    let http = reqwest::Client::new();
    let mint = |origin: &str, ttl: u64| {
        http.post(format!("http://{}/v1/tokens", s.addr))
            .bearer_auth(SERVER_TOKEN)
            .json(&serde_json::json!({"origin": origin, "ttl_s": ttl}))
            .send()
    };
    let minted: serde_json::Value = mint(ORIGIN, 60).await.unwrap().json().await.unwrap();
    let token = minted["value"].as_str().unwrap().to_string();
    assert_eq!(
        status(raw(&s, &format!("token={token}"), &[("origin", ORIGIN)]).await),
        101
    );
    let protocol = format!("xai-client-secret.{token}");
    assert_eq!(
        status(
            raw(
                &s,
                "",
                &[("origin", ORIGIN), ("sec-websocket-protocol", &protocol)]
            )
            .await
        ),
        101
    );
    assert_eq!(
        status(raw(&s, &format!("token={token}x"), &[("origin", ORIGIN)]).await),
        401,
        "bad"
    );
    assert_eq!(
        status(raw(&s, &format!("token={token}"), &[]).await),
        403,
        "no origin"
    );
    let other: serde_json::Value = mint(OTHER_ORIGIN, 60).await.unwrap().json().await.unwrap();
    let other = other["value"].as_str().unwrap();
    assert_eq!(
        status(raw(&s, &format!("token={other}"), &[("origin", ORIGIN)]).await),
        403,
        "other origin"
    );
    let expired: serde_json::Value = mint(ORIGIN, 1).await.unwrap().json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let expired = expired["value"].as_str().unwrap();
    assert_eq!(
        status(raw(&s, &format!("token={expired}"), &[("origin", ORIGIN)]).await),
        401,
        "expired"
    );
    assert_eq!(mint("http://evil.example", 60).await.unwrap().status(), 400);
    let unauthorized = http
        .post(format!("http://{}/v1/tokens", s.addr))
        .json(&serde_json::json!({"origin": ORIGIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
}

#[tokio::test]
async fn limits_answer_with_close_codes_and_error_frames() {
    let s = setup_with(Fault::None, |settings| {
        settings.max_message_bytes = 2048;
        settings.utterances_per_second = 1.0;
        settings.utterance_burst = 2.0;
        settings.max_pending_utterances = 3;
        settings.max_utterance_chars = 100;
    })
    .await;
    // Oversize message: close 1009.
    let mut ws = with_token(&s, "").await.unwrap();
    delta(&mut ws, "x".repeat(5000)).await;
    let frames = read_until(&mut ws, |_| false).await;
    assert_eq!(frames.last().unwrap()["code"], 1009, "{frames:?}");
    // Too much text in one utterance: an error frame, the connection stays.
    let mut ws = with_token(&s, "").await.unwrap();
    delta(&mut ws, "word ".repeat(30)).await;
    let frames = read_until(&mut ws, |f| f["type"] == "error").await;
    assert!(frames.last().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("over 100 characters"));
    // Flooding utterances: over the rate they wait; past the pending bound,
    // a rate-limit error frame naming it.
    let mut limited = false;
    for _ in 0..6 {
        delta(&mut ws, "Hi.").await;
        done(&mut ws).await;
    }
    let frames = read_until(&mut ws, |f| {
        f["type"] == "error"
            && f["message"]
                .as_str()
                .unwrap_or_default()
                .contains("rate limited")
    })
    .await;
    if frames.last().unwrap()["type"] == "error" {
        limited = true;
    }
    assert!(limited, "{frames:?}");
    let metrics = reqwest::get(format!("http://{}/metrics", s.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("voxwire_utterance_delays_total{limit=\"utterances_per_second\"}"),
        "{metrics}"
    );
    for limit in [
        "max_message_bytes",
        "max_utterance_chars",
        "max_pending_utterances",
    ] {
        assert!(
            metrics.contains(&format!(
                "voxwire_limit_breaches_total{{limit=\"{limit}\"}}"
            )),
            "{limit}: {metrics}"
        );
    }
    let _ = &s.upstream;
    let _ = &s.state;
}

#[tokio::test]
async fn timestamps_reach_an_xai_client_through_the_relay() {
    let s = setup_full(Fault::None, |_| {}, true).await;
    let p = voxwire_xai::XaiProvider::new(voxwire_xai::XaiSettings {
        api_key: Some(voxwire_core::Secret::new(SERVER_TOKEN)),
        base_url: Some(format!("http://{}/v1", s.addr)),
        timestamps: true,
        ..voxwire_xai::XaiSettings::default()
    })
    .unwrap();
    let text = "Héllo there. Second sentence, wörld.";
    let mut stream = p
        .synthesize(voxwire_core::SynthesisRequest::new(text).format(pcm()))
        .await
        .unwrap();
    let mut spans = Vec::new();
    let mut audio = Vec::new();
    while let Some(chunk) = tokio::time::timeout(LIMIT, stream.next()).await.unwrap() {
        let chunk = chunk.unwrap();
        audio.extend_from_slice(&chunk.data);
        if let Some(span) = chunk.span {
            spans.push(span);
        }
    }
    voxwire_testkit::assert::assert_spans_cover(text, &spans);
    assert_eq!(
        audio,
        [
            expected_audio("Héllo there. ", pcm()),
            expected_audio("Second sentence, wörld.", pcm())
        ]
        .concat()
    );
}

#[tokio::test]
async fn session_counts_idle_and_age_limits() {
    let s = setup_with(Fault::None, |settings| {
        settings.max_sessions_per_token = 1;
        settings.idle_timeout_s = 1;
    })
    .await;
    let mut first = with_token(&s, "").await.unwrap();
    assert_eq!(status(with_token(&s, "").await), 429, "per token");
    // Idle for over a second: closed with 1000, and the place is free again.
    let frames = read_until(&mut first, |_| false).await;
    assert_eq!(frames.last().unwrap()["code"], 1000, "{frames:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(with_token(&s, "").await), 101);

    let s = setup_with(Fault::None, |settings| {
        settings.max_sessions = 1;
        settings.max_session_age_s = 1;
    })
    .await;
    let mut only = with_token(&s, "").await.unwrap();
    assert_eq!(status(with_token(&s, "").await), 503, "in all");
    // Busy but old: closed with 1001 at the age limit.
    delta(&mut only, "Keep").await;
    let frames = read_until(&mut only, |_| false).await;
    assert_eq!(frames.last().unwrap()["code"], 1001, "{frames:?}");
    let metrics = reqwest::get(format!("http://{}/metrics", s.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("voxwire_limit_breaches_total{limit=\"max_sessions\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("voxwire_limit_breaches_total{limit=\"max_session_age\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_refused_utterance_leaves_the_one_in_flight_alone() {
    let s = setup_with(Fault::SlowDrip(Duration::from_millis(20)), |settings| {
        settings.max_utterance_chars = 40;
    })
    .await;
    let mut ws = connect_pcm(&s).await;
    let first = "Speaking while refused.";
    delta(&mut ws, first).await;
    done(&mut ws).await;
    // The next utterance is too long: refused with an error frame, its done
    // ignored; ends come in the order utterances were sent, so the refusal
    // follows the first one's audio.done.
    delta(&mut ws, "x ".repeat(30)).await;
    delta(&mut ws, "more").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "error").await;
    let ends: Vec<_> = frames
        .iter()
        .filter_map(|f| f["type"].as_str())
        .filter(|t| matches!(*t, "audio.done" | "error"))
        .collect();
    assert_eq!(ends, ["audio.done", "error"]);
    assert_eq!(
        audio_of(&frames),
        expected_audio(first, pcm()),
        "the first utterance is whole"
    );
    // And the connection goes on.
    delta(&mut ws, "Next.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(audio_of(&frames), expected_audio("Next.", pcm()));
}
