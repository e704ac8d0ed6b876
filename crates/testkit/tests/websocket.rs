//! The mock's WebSocket surface, checked with a raw tungstenite client.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::{AudioFormat, Encoding};
use voxwire_testkit::mock_xai::{
    expected_audio, expected_audio_len, expected_audio_per_sentence, expected_body,
    expected_timestamps, Fault, FaultPlan, MockCodec, MockConfig, MockXai, RequestKind, Stall,
};

fn pcm24() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

async fn mock() -> MockXai {
    MockXai::start(MockConfig::default()).await
}

#[tokio::test]
async fn one_utterance_is_byte_equal() {
    let mock = mock().await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["Hello, ", "world!"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Done);
    assert!(u.odd_frames.is_empty(), "{:?}", u.odd_frames);
    assert_eq!(u.audio, expected_audio("Hello, world!", pcm24()));
    assert_eq!(u.audio.len().div_ceil(4096), u.deltas, "default chunk 4096");
    assert_eq!(mock.stats().utterances_done, 1);
}

#[tokio::test]
async fn two_utterances_on_one_connection() {
    let mock = mock().await;
    let mut ws = connect(&mock, "voice=Ara&language=en&codec=ulaw&sample_rate=8000").await;
    let mulaw = AudioFormat::mono(Encoding::Mulaw, 8_000);
    say(&mut ws, &["First one."]).await;
    assert_eq!(
        read(&mut ws).await.audio,
        expected_audio("First one.", mulaw)
    );
    say(&mut ws, &["Second", " one."]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Done);
    assert_eq!(u.audio, expected_audio("Second one.", mulaw));
    assert_eq!(mock.stats().ws_accepted, 1);
}

#[tokio::test]
async fn fifty_utterances_pipelined_on_one_connection() {
    let mock = mock().await;
    let mut ws = connect(&mock, "voice=eve&language=en&codec=alaw&sample_rate=8000").await;
    let alaw = AudioFormat::mono(Encoding::Alaw, 8_000);
    // Send every utterance before reading anything: they are spoken in order.
    for i in 0..50 {
        say(&mut ws, &[&format!("Sentence {i}.")]).await;
    }
    for i in 0..50 {
        let u = read(&mut ws).await;
        assert_eq!(u.end, End::Done, "utterance {i}");
        assert_eq!(
            u.audio,
            expected_audio(&format!("Sentence {i}."), alaw),
            "utterance {i}"
        );
    }
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].utterances.len(), 50);
    assert_eq!(recorded[0].messages.len(), 100);
    assert_eq!(mock.stats().utterances_done, 50);
}

#[tokio::test]
async fn tiny_and_huge_chunk_sizes() {
    for chunk in (1..=7).chain([65_536]) {
        let mock = MockXai::start(MockConfig::default().with_chunk_size(chunk)).await;
        let mut ws = connect(&mock, "voice=eve&language=en&codec=mulaw&sample_rate=8000").await;
        say(&mut ws, &["Hi!"]).await;
        let u = read(&mut ws).await;
        let expected = expected_audio("Hi!", AudioFormat::mono(Encoding::Mulaw, 8_000));
        assert_eq!(u.end, End::Done, "chunk {chunk}");
        assert_eq!(u.audio, expected, "chunk {chunk}");
        assert_eq!(u.deltas, expected.len().div_ceil(chunk), "chunk {chunk}");
    }
    // 64 KiB is the largest delta: bigger settings are clamped.
    let mock = MockXai::start(MockConfig::default().with_chunk_size(1 << 20)).await;
    let mut ws = connect(&mock, "voice=eve&language=en&codec=pcm&sample_rate=48000").await;
    let text = "A longer sentence to make more than sixty-four kibibytes.";
    say(&mut ws, &[text]).await;
    let u = read(&mut ws).await;
    let expected = expected_audio(text, AudioFormat::pcm16_mono(48_000));
    assert_eq!(u.audio, expected);
    assert_eq!(u.deltas, expected.len().div_ceil(65_536));
}

#[tokio::test]
async fn deltas_are_concatenated_exactly_without_inserted_spaces() {
    let mock = mock().await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["Hel", "lo", "wor", "ld"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.audio, expected_audio("Helloworld", pcm24()));
    assert_ne!(u.audio, expected_audio("Hel lo wor ld", pcm24()));
    assert_eq!(
        mock.requests()[0].utterances,
        vec!["Helloworld".to_string()]
    );
}

#[tokio::test]
async fn every_codec_and_rate_over_websocket() {
    let mock = mock().await;
    for codec in ["pcm", "wav", "mulaw", "alaw", "mp3"] {
        for rate in [8_000, 16_000, 22_050, 24_000, 44_100, 48_000] {
            let q = format!("voice=leo&language=auto&codec={codec}&sample_rate={rate}");
            let mut ws = connect(&mock, &q).await;
            say(&mut ws, &["Ok."]).await;
            let u = read(&mut ws).await;
            let parsed = MockCodec::parse(codec).expect("codec");
            assert_eq!(
                u.audio,
                expected_body("Ok.", parsed, rate),
                "{codec} {rate}"
            );
            ws.close(None).await.ok();
        }
    }
}

#[tokio::test]
async fn timestamps_cover_every_char_and_continue_across_deltas() {
    let mock = MockXai::start(MockConfig::default().with_chunk_size(1000)).await;
    let q = format!("{PCM_QUERY}&with_timestamps=true");
    let mut ws = connect(&mock, &q).await;
    let text = "Hi, you.";
    say(&mut ws, &[text]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Done);
    assert_eq!(u.audio, expected_audio(text, pcm24()));
    let chars: String = u.chars.concat();
    assert_eq!(chars, text, "spaces and punctuation included");
    let expected = expected_timestamps(text, 24_000);
    assert_eq!(u.times.len(), expected.len());
    for (got, want) in u.times.iter().zip(&expected) {
        assert!((got[0] - want.start).abs() < 1e-9 && (got[1] - want.end).abs() < 1e-9);
    }
    assert!((u.times[7][1] - 0.48).abs() < 1e-9);
    // A second utterance starts again from 0.
    say(&mut ws, &["ab"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.times, vec![[0.0, 0.06], [0.06, 0.12]]);
    // Without the flag there are none.
    let mut plain = connect(&mock, PCM_QUERY).await;
    say(&mut plain, &["ab"]).await;
    assert!(read(&mut plain).await.chars.is_empty());
}

#[tokio::test]
async fn text_clear_is_acknowledged_and_stops_audio() {
    let mock = MockXai::start(
        MockConfig::default()
            .with_chunk_size(960)
            .with_faults(Fault::SlowDrip(Duration::from_millis(20))),
    )
    .await;
    let mut ws = connect(&mock, "voice=eve&language=en&codec=pcm&sample_rate=8000").await;
    // Buffered text only: clear drops it.
    delta(&mut ws, "never spoken").await;
    send_json(&mut ws, json!({ "type": "text.clear" })).await;
    assert_eq!(read(&mut ws).await.end, End::Cleared);
    // Audio in flight: clear stops it.
    say(&mut ws, &["a fairly long utterance that takes a while"]).await;
    let first = bounded("first delta", ws.next()).await;
    assert!(matches!(first, Some(Ok(Message::Text(_)))));
    send_json(&mut ws, json!({ "type": "text.clear" })).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Cleared);
    let total = expected_audio_len(
        "a fairly long utterance that takes a while",
        AudioFormat::pcm16_mono(8_000),
    );
    assert!(u.audio.len() < total / 2, "audio stopped early");
    // Nothing more for the cleared utterance, and the connection still works.
    say(&mut ws, &["next"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Done);
    assert_eq!(
        u.audio,
        expected_audio("next", AudioFormat::pcm16_mono(8_000))
    );
}

#[tokio::test]
async fn unknown_messages_and_binary_get_error_frames_but_keep_the_connection() {
    let mock = mock().await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    send_json(&mut ws, json!({ "type": "text.shout", "delta": "x" })).await;
    let u = read(&mut ws).await;
    let End::Error(e) = u.end else {
        panic!("{:?}", u.end)
    };
    assert!(e["message"]
        .as_str()
        .expect("message")
        .contains("text.shout"));
    bounded("send", ws.send(Message::text("{nope")))
        .await
        .expect("send");
    assert!(matches!(read(&mut ws).await.end, End::Error(_)));
    bounded("send", ws.send(Message::binary(vec![1u8, 2, 3])))
        .await
        .expect("send");
    assert!(matches!(read(&mut ws).await.end, End::Error(_)));
    send_json(&mut ws, json!({ "type": "text.delta" })).await;
    assert!(matches!(read(&mut ws).await.end, End::Error(_)));
    say(&mut ws, &["still here"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Done);
    assert_eq!(u.audio, expected_audio("still here", pcm24()));
    assert!(mock.requests()[0]
        .messages
        .contains(&"<binary 3 bytes>".to_string()));
}

#[tokio::test]
async fn too_long_utterances_are_refused_with_an_error_frame() {
    let mock = mock().await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    let big = "x".repeat(10_000);
    delta(&mut ws, &big).await;
    delta(&mut ws, &big).await;
    let u = read(&mut ws).await;
    let End::Error(e) = u.end else {
        panic!("{:?}", u.end)
    };
    assert!(e["message"].as_str().expect("message").contains("15000"));
}

#[tokio::test]
async fn oversized_messages_end_the_connection_not_the_server() {
    let mock = MockXai::start(MockConfig {
        max_message_size: 4096,
        ..MockConfig::default()
    })
    .await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    let _ = ws.send(Message::text("y".repeat(10_000))).await;
    let u = read(&mut ws).await;
    assert!(
        matches!(u.end, End::Broken(_) | End::Closed(_)),
        "{:?}",
        u.end
    );
    // The server still serves new connections.
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["ok"]).await;
    assert_eq!(read(&mut ws).await.end, End::Done);
}

#[tokio::test]
async fn upgrade_auth_and_validation_fail_with_real_http_statuses() {
    let mock = mock().await;
    let (status, _, body) = upgrade_refusal(&mock, PCM_QUERY, None).await;
    assert_eq!(status, 401);
    assert!(body.contains("Authorization"));
    let (status, _, _) = upgrade_refusal(&mock, PCM_QUERY, Some("not-the-key")).await;
    assert_eq!(status, 401);
    let (status, _, body) = upgrade_refusal(
        &mock,
        "voice=eve&codec=pcm&sample_rate=24000",
        Some(mock.api_key()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("language"));
    let (status, _, body) = upgrade_refusal(
        &mock,
        "voice_id=eve&language=en&codec=pcm",
        Some(mock.api_key()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("voice_id"));
    let (status, _, _) = upgrade_refusal(
        &mock,
        "voice=eve&language=en&codec=pcm&sample_rate=12345",
        Some(mock.api_key()),
    )
    .await;
    assert_eq!(status, 400);
    // The old realtime path is refused with 403 at the upgrade.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            mock.ws_url()
                .replace("/v1/tts", "/v1/realtime/audio/speech"),
        )
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", mock.api_key())
            .parse()
            .expect("header"),
    );
    match bounded("old path", tokio_tungstenite::connect_async(request)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(mock.stats().ws_accepted, 0);
}

#[tokio::test]
async fn scripted_upgrade_rejections() {
    let mock = MockXai::start(MockConfig::default().with_faults(vec![
        Fault::reject(401, "bad key"),
        Fault::reject(403, "forbidden"),
        Fault::reject(404, "no such endpoint"),
        Fault::rate_limited(3),
        Fault::reject(500, "oops"),
    ]))
    .await;
    let key = Some(mock.api_key().to_string());
    for want in [401, 403, 404, 429, 500] {
        let (status, retry, _) = upgrade_refusal(&mock, PCM_QUERY, key.as_deref()).await;
        assert_eq!(status, want);
        assert_eq!(retry.as_deref(), (want == 429).then_some("3"));
    }
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["fine now"]).await;
    assert_eq!(read(&mut ws).await.end, End::Done);
    let indices: Vec<Option<usize>> = mock.requests().iter().map(|r| r.index).collect();
    assert_eq!(
        indices,
        [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)]
    );
}

#[tokio::test]
async fn error_frames_in_both_shapes_keep_the_connection() {
    let mock = MockXai::start(MockConfig::default().with_faults(Fault::Utterances(vec![
        Fault::error_frame("voice engine failed"),
        Fault::error_frame_in_error_field("quota exceeded"),
        Fault::None,
    ])))
    .await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["one"]).await;
    let u = read(&mut ws).await;
    assert_eq!(
        u.end,
        End::Error(json!({ "type": "error", "message": "voice engine failed" }))
    );
    assert!(u.audio.is_empty());
    say(&mut ws, &["two"]).await;
    let u = read(&mut ws).await;
    assert_eq!(
        u.end,
        End::Error(json!({ "type": "error", "error": "quota exceeded" }))
    );
    say(&mut ws, &["three"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Done);
    assert_eq!(u.audio, expected_audio("three", pcm24()));
}

#[tokio::test]
async fn error_frame_mid_stream_after_n_bytes() {
    let mock = MockXai::start(MockConfig::default().with_faults(Fault::ErrorFrame {
        message: "mid-stream failure".into(),
        field: voxwire_testkit::mock_xai::ErrorField::Message,
        after_bytes: 5000,
    }))
    .await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["long enough text"]).await;
    let u = read(&mut ws).await;
    assert!(matches!(u.end, End::Error(_)));
    assert_eq!(u.audio, expected_audio("long enough text", pcm24())[..5000]);
}

#[tokio::test]
async fn close_mid_utterance_after_n_bytes_with_frame_or_abruptly() {
    for (fault, abrupt) in [
        (Fault::close_after(3000), false),
        (Fault::drop_after(3000), true),
    ] {
        let mock = MockXai::start(
            MockConfig::default()
                .with_chunk_size(1000)
                .with_faults(fault),
        )
        .await;
        let mut ws = connect(&mock, PCM_QUERY).await;
        say(&mut ws, &["some words"]).await;
        let u = read(&mut ws).await;
        assert_eq!(u.audio, expected_audio("some words", pcm24())[..3000]);
        if abrupt {
            assert!(matches!(u.end, End::Broken(_)), "{:?}", u.end);
        } else {
            assert_eq!(u.end, End::Closed(Some(1011)));
        }
    }
}

#[tokio::test]
async fn sentence_level_failover_material() {
    // The router's resume check: audio of a text is the audio of its sentences in a row,
    // and a close right after sentence one leaves exactly sentence one's audio.
    let sentences = ["One sentence. ", "Another one. ", "The last."];
    let parts = expected_audio_per_sentence(&sentences, pcm24());
    let mock =
        MockXai::start(MockConfig::default().with_faults(vec![Fault::close_after(parts[0].len())]))
            .await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &sentences).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Closed(Some(1011)));
    assert_eq!(u.audio, parts[0]);
    // The next connection is healthy and speaks the rest.
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &sentences[1..]).await;
    let rest = read(&mut ws).await;
    assert_eq!([u.audio, rest.audio].concat(), parts.concat());
    assert_eq!(parts.concat(), expected_audio(&sentences.concat(), pcm24()));
}

#[tokio::test]
async fn stall_before_first_audio_and_mid_stream() {
    let mock = MockXai::start(MockConfig::default().with_chunk_size(1000)).await;
    mock.set_fault(Fault::stall_before_audio(Stall::Forever));
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["stalled"]).await;
    let u = read_utterance(&mut ws, Duration::from_millis(400)).await;
    assert_eq!(u.end, End::Silent);
    assert!(u.audio.is_empty());
    // A stalled connection still answers text.clear.
    send_json(&mut ws, json!({ "type": "text.clear" })).await;
    assert_eq!(read(&mut ws).await.end, End::Cleared);

    mock.set_fault(Fault::stall_after(
        2000,
        Stall::For(Duration::from_millis(300)),
    ));
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["resumes"]).await;
    let first = read_utterance(&mut ws, Duration::from_millis(150)).await;
    assert_eq!(first.end, End::Silent);
    assert_eq!(first.audio.len(), 2000);
    let rest = read(&mut ws).await;
    assert_eq!(rest.end, End::Done);
    assert_eq!(
        [first.audio, rest.audio].concat(),
        expected_audio("resumes", pcm24())
    );

    mock.set_fault(Fault::stall_after(1000, Stall::Forever));
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["forever"]).await;
    let u = read_utterance(&mut ws, Duration::from_millis(300)).await;
    assert_eq!((u.end, u.audio.len()), (End::Silent, 1000));
}

#[tokio::test]
async fn zero_audio_bad_json_bad_base64_and_binary_frames() {
    let mock = mock().await;
    mock.set_fault(Fault::ZeroAudio);
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["nothing"]).await;
    let u = read(&mut ws).await;
    assert_eq!((u.end, u.deltas), (End::Done, 0));

    mock.set_fault(Fault::BadJson);
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["x"]).await;
    let u = read(&mut ws).await;
    assert!(
        u.odd_frames[0].starts_with("not json"),
        "{:?}",
        u.odd_frames
    );

    mock.set_fault(Fault::BadBase64);
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["x"]).await;
    let u = read(&mut ws).await;
    assert!(
        u.odd_frames[0].starts_with("bad delta"),
        "{:?}",
        u.odd_frames
    );

    mock.set_fault(Fault::BinaryFrame);
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["x"]).await;
    let u = read(&mut ws).await;
    assert!(u.odd_frames[0].starts_with("binary"), "{:?}", u.odd_frames);
    // The real audio still follows the injected frame.
    assert_eq!(u.audio, expected_audio("x", pcm24()));
}

#[tokio::test]
async fn slow_drip_spaces_deltas() {
    let mock = MockXai::start(
        MockConfig::default()
            .with_chunk_size(960)
            .with_faults(Fault::SlowDrip(Duration::from_millis(40))),
    )
    .await;
    let mut ws = connect(&mock, "voice=eve&language=en&codec=pcm&sample_rate=8000").await;
    let started = Instant::now();
    say(&mut ws, &["abcde"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.deltas, 5);
    assert!(started.elapsed() >= Duration::from_millis(160));
}

#[tokio::test]
async fn connection_deadline_closes_even_mid_utterance() {
    let mock = MockXai::start(MockConfig::default().with_faults(Fault::All(vec![
        Fault::ConnectionDeadline(Duration::from_millis(300)),
        Fault::SlowDrip(Duration::from_millis(100)),
    ])))
    .await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    let started = Instant::now();
    say(&mut ws, &["a long utterance that will not finish in time"]).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Closed(Some(1001)));
    assert!(!u.audio.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250));
    // The config-level age works too.
    let mock =
        MockXai::start(MockConfig::default().with_max_connection_age(Duration::from_millis(200)))
            .await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Closed(Some(1001)));
}

#[tokio::test]
async fn fail_first_connections_then_succeed() {
    let mock = MockXai::start(
        MockConfig::default().with_faults(FaultPlan::first(2, Fault::reject(503, "warming up"))),
    )
    .await;
    let key = mock.api_key().to_string();
    assert_eq!(upgrade_refusal(&mock, PCM_QUERY, Some(&key)).await.0, 503);
    assert_eq!(upgrade_refusal(&mock, PCM_QUERY, Some(&key)).await.0, 503);
    let mut ws = connect(&mock, PCM_QUERY).await;
    say(&mut ws, &["third time lucky"]).await;
    assert_eq!(read(&mut ws).await.end, End::Done);
}

#[tokio::test]
async fn recordings_mask_the_key_and_keep_messages() {
    let mock = MockXai::start(MockConfig::default().with_api_key("xai-SUPERSECRET-123")).await;
    let mut ws = connect(&mock, &format!("{PCM_QUERY}&with_timestamps=false")).await;
    // A client that (wrongly) puts the key in its text must not see it recorded either.
    say(&mut ws, &["my key is xai-SUPERSECRET-123"]).await;
    read(&mut ws).await;
    ws.close(None).await.ok();
    let _ = try_connect(&mock, PCM_QUERY, Some("xai-WRONG-KEY-999")).await;
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 2);
    let r = &recorded[0];
    assert_eq!(r.kind, RequestKind::WebSocket);
    assert_eq!(r.status, 101);
    assert_eq!(r.path, "/v1/tts");
    assert_eq!(r.query_param("voice").as_deref(), Some("eve"));
    assert_eq!(r.query_param("with_timestamps").as_deref(), Some("false"));
    assert_eq!(r.header("authorization"), Some("Bearer ***"));
    assert_eq!(r.utterances, vec!["my key is ***".to_string()]);
    let types: Vec<String> = r
        .json_messages()
        .iter()
        .map(|m| m["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(types, ["text.delta", "text.done"]);
    assert_eq!(recorded[1].status, 401);
    for r in &recorded {
        assert!(!r.contains("SUPERSECRET"), "{r:?}");
        assert!(!r.contains("xai-WRONG-KEY-999"), "{r:?}");
    }
    mock.clear_requests();
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let mock = mock().await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    assert_eq!(mock.stats().ws_open, 1);
    let stopping = tokio::spawn(mock.shutdown());
    let u = read(&mut ws).await;
    assert_eq!(u.end, End::Closed(Some(1001)));
    bounded("shutdown", stopping).await.expect("joined");
}

#[tokio::test]
async fn empty_utterance_finishes_without_audio() {
    let mock = mock().await;
    let mut ws = connect(&mock, PCM_QUERY).await;
    done(&mut ws).await;
    let u = read(&mut ws).await;
    assert_eq!((u.end, u.deltas), (End::Done, 0));
}
