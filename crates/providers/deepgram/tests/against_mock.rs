//! The provider against the test kit's Deepgram mock: byte-exact audio in
//! every native format over both transports, the failure table row by row,
//! and a check for each complaint of the wire notes.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::session::{SessionEvent, StreamConfig};
use voxwire_core::{AudioFormat, Encoding, ErrorKind, ErrorScope, SynthesisRequest, TtsProvider};
use voxwire_deepgram::{DeepgramProvider, DeepgramSettings, Transport};
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::kit::fault::{Fault, Stall};
use voxwire_testkit::kit::RequestKind;
use voxwire_testkit::mock_deepgram::{
    dg_error_frame, dg_reject, dg_silent, dg_warning_instead_of_flushed, DeepgramConfig,
};

mod common;
use common::{bounded, mock, provider, request, settings, speak, until_done};

fn pcm(rate: u32) -> AudioFormat {
    AudioFormat::pcm16_mono(rate)
}

#[tokio::test]
async fn every_native_format_is_asked_for_and_byte_exact_over_the_socket() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    for format in [
        pcm(24_000),
        pcm(8_000),
        pcm(48_000),
        AudioFormat::mono(Encoding::Mulaw, 8_000),
        AudioFormat::mono(Encoding::Alaw, 16_000),
    ] {
        let text = "Hello from Aura.";
        let got = speak(&p, request(text, format)).await.expect("audio");
        assert_eq!(got, expected_audio(text, format), "{format:?}");
    }
    let sockets: Vec<_> = m
        .kit()
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .collect();
    let first = &sockets[0];
    assert_eq!(first.header("authorization"), Some("Token ***"));
    assert_eq!(
        first.query_param("model").as_deref(),
        Some("aura-2-thalia-en")
    );
    assert_eq!(first.query_param("encoding").as_deref(), Some("linear16"));
    assert_eq!(first.query_param("sample_rate").as_deref(), Some("24000"));
    let mulaw = sockets
        .iter()
        .find(|r| r.query_param("encoding").as_deref() == Some("mulaw"))
        .expect("a mulaw socket");
    assert_eq!(mulaw.query_param("sample_rate").as_deref(), Some("8000"));
    assert!(!first.contains(common::KEY), "the key is in no recording");
    // Each socket got Speak then Flush.
    assert_eq!(
        first.json_messages()[..2],
        [
            serde_json::json!({"type":"Speak","text":"Hello from Aura."}),
            serde_json::json!({"type":"Flush"})
        ]
    );
}

#[tokio::test]
async fn a_rate_deepgram_lacks_is_asked_at_24_khz_and_converted() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    let got = speak(&p, request("Hi there.", pcm(44_100)))
        .await
        .expect("audio");
    let expected_len = expected_audio("Hi there.", pcm(44_100)).len();
    assert!(
        got.len().abs_diff(expected_len) <= 8,
        "{} vs {expected_len}",
        got.len()
    );
    let r = &m.kit().requests()[0];
    assert_eq!(r.query_param("sample_rate").as_deref(), Some("24000"));
    // mulaw at 24 kHz is not offered either: linear16 24 kHz asked, converted locally.
    let got = speak(
        &p,
        request("Hi.", AudioFormat::mono(Encoding::Mulaw, 24_000)),
    )
    .await
    .expect("audio");
    assert_eq!(
        got.len(),
        expected_audio("Hi.", AudioFormat::mono(Encoding::Mulaw, 24_000)).len()
    );
}

#[tokio::test]
async fn rest_streams_raw_audio_byte_exact_with_container_none() {
    let m = mock(DeepgramConfig::default()).await;
    let p = DeepgramProvider::new(DeepgramSettings {
        transport: Transport::Rest,
        ..settings(&m)
    })
    .unwrap();
    let text = "Streamed over REST.";
    for format in [pcm(16_000), AudioFormat::mono(Encoding::Alaw, 8_000)] {
        let got = speak(&p, request(text, format)).await.expect("audio");
        assert_eq!(got, expected_audio(text, format));
    }
    let r = &m.kit().requests()[0];
    assert_eq!(r.kind, RequestKind::Rest);
    assert_eq!(r.query_param("container").as_deref(), Some("none"));
    assert_eq!(r.json_body(), Some(serde_json::json!({"text": text})));
    assert_eq!(r.header("authorization"), Some("Token ***"));
    assert_eq!(m.kit().upgrades(), 0, "REST opened no socket");
}

#[tokio::test]
async fn long_text_is_split_into_speak_messages_of_at_most_2000_characters() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    let text = "Aura speaks a long paragraph. ".repeat(78); // 2340 characters
    let format = pcm(8_000);
    let got = speak(&p, request(&text, format)).await.expect("audio");
    assert_eq!(got, expected_audio(&text, format));
    let r = &m.kit().requests()[0];
    let speaks: Vec<_> = r
        .json_messages()
        .into_iter()
        .filter(|v| v["type"] == "Speak")
        .collect();
    assert_eq!(speaks.len(), 2);
    assert!(speaks
        .iter()
        .all(|v| v["text"].as_str().unwrap().chars().count() <= 2000));
    assert_eq!(r.utterances, vec![text.clone()]);
    // Over the per-minute character budget is refused before any network call.
    let e = speak(&p, request(&"x".repeat(2401), format))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_session_speaks_incremental_text_with_one_done_per_flush_on_one_socket() {
    let m = mock(DeepgramConfig {
        frame_bytes: 333,
        ..DeepgramConfig::default()
    })
    .await;
    let p = provider(&m);
    let format = pcm(16_000);
    let mut s = p
        .stream(StreamConfig {
            format: Some(format),
            ..StreamConfig::default()
        })
        .await
        .unwrap();
    for word in ["One ", "two ", "three."] {
        s.push_text(word).await.unwrap();
    }
    let first = s.flush().await.unwrap();
    s.push_text("Second utterance.").await.unwrap();
    let second = s.flush().await.unwrap();
    let (a, events) = until_done(&mut s, first).await.unwrap();
    assert_eq!(a, expected_audio("One two three.", format));
    let dones = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::UtteranceDone { .. }))
        .count();
    assert_eq!(
        dones, 1,
        "utterance-done once, on Flushed (pipecat PR #1465)"
    );
    let (b, _) = until_done(&mut s, second).await.unwrap();
    assert_eq!(b, expected_audio("Second utterance.", format));
    s.finish().await.unwrap();
    assert_eq!(m.kit().upgrades(), 1);
}

#[tokio::test]
async fn barge_in_drops_the_stale_frames_between_clear_and_cleared_and_keeps_the_socket() {
    let m = mock(DeepgramConfig {
        frame_delay: Duration::from_millis(2),
        frame_bytes: 481,
        leak_after_clear: 4,
        ..DeepgramConfig::default()
    })
    .await;
    let p = provider(&m);
    let format = pcm(8_000);
    let mut s = p
        .stream(StreamConfig {
            format: Some(format),
            ..StreamConfig::default()
        })
        .await
        .unwrap();
    s.push_text("This long answer is interrupted by the caller halfway through.")
        .await
        .unwrap();
    s.flush().await.unwrap();
    // Wait for the first audio, then cancel.
    bounded("first audio", async {
        loop {
            match s.next_event().await {
                Some(Ok(SessionEvent::Audio(_))) => break,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await;
    let generation = s.cancel();
    bounded("cleared", async {
        loop {
            match s.next_event().await {
                Some(Ok(SessionEvent::Cleared { generation: g })) if g == generation => break,
                Some(Ok(SessionEvent::UtteranceDone { .. })) => {
                    panic!("a cancelled utterance is not done")
                }
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await;
    assert_eq!(
        m.dialect().stale_frames_sent(),
        4,
        "the mock leaked stale frames"
    );
    // The next utterance carries exactly its own audio: no stale frame reached it.
    s.push_text("Next.").await.unwrap();
    let id = s.flush().await.unwrap();
    let (audio, _) = until_done(&mut s, id).await.unwrap();
    assert_eq!(audio, expected_audio("Next.", format));
    assert_eq!(
        m.kit().upgrades(),
        1,
        "the socket was kept through the barge-in"
    );
    let sent = &m.kit().requests()[0];
    assert!(sent
        .json_messages()
        .contains(&serde_json::json!({"type":"Clear"})));
}

#[tokio::test]
async fn flushes_over_deepgrams_limit_are_merged_or_held_never_ignored() {
    let window = Duration::from_millis(1_500);
    let m = mock(DeepgramConfig {
        flush_limit: 2,
        flush_window: window,
        ..DeepgramConfig::default()
    })
    .await;
    let p = DeepgramProvider::new(DeepgramSettings {
        flush_limit: 2,
        flush_window_ms: 1_500,
        ..settings(&m)
    })
    .unwrap();
    let format = pcm(8_000);
    let mut s = p
        .stream(StreamConfig {
            format: Some(format),
            ..StreamConfig::default()
        })
        .await
        .unwrap();
    let words = ["Alpha. ", "Bravo. ", "Charlie. ", "Delta. ", "Echo. "];
    let mut ids = Vec::new();
    for w in words {
        s.push_text(w).await.unwrap();
        ids.push(s.flush().await.unwrap());
    }
    let mut all = Vec::new();
    for id in &ids {
        let (audio, _) = until_done(&mut s, *id).await.unwrap();
        all.extend(audio);
    }
    assert_eq!(all, expected_audio(&words.concat(), format), "nothing lost");
    assert_eq!(m.dialect().warnings(), 0, "no flush was sent to be ignored");
    let flushes = m.kit().requests()[0]
        .json_messages()
        .into_iter()
        .filter(|v| v["type"] == "Flush")
        .count();
    assert!(
        flushes < words.len(),
        "{flushes} flushes for {} utterances",
        words.len()
    );
}

async fn fails(p: &DeepgramProvider, text: &str) -> voxwire_core::TtsError {
    speak(p, SynthesisRequest::new(text))
        .await
        .expect_err("an error")
}

#[tokio::test]
async fn a_socket_that_never_answers_or_never_says_flushed_times_out() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    // Silence and a missing `Flushed` are the conformance suite's; a
    // `Warning` in place of `Flushed` is Deepgram's own.
    m.script_utterances([dg_warning_instead_of_flushed()]);
    let e = fails(&p, "Hello?").await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("no more audio"), "{e}");
    // The same stall in a session: its deadline fires too (livekit/agents#5718).
    m.script_utterances([dg_silent()]);
    let mut s = p.stream(StreamConfig::default()).await.unwrap();
    s.push_text("Anyone?").await.unwrap();
    let id = s.flush().await.unwrap();
    let e = until_done(&mut s, id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn close_codes_mid_utterance_are_each_classified() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    for (fault, kind, scope) in [
        (
            Fault::close_with(1011, "NET-0000", 1500),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
        (
            Fault::close_with(1011, "NET-0002", 0),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
        (
            Fault::close_with(1011, "NET-0003", 700),
            ErrorKind::Timeout,
            ErrorScope::Transient,
        ),
        (
            Fault::close_with(1011, "NET-0001", 0),
            ErrorKind::Timeout,
            ErrorScope::Transient,
        ),
        (
            Fault::close_with(1008, "DATA-0001", 0),
            ErrorKind::RateLimited,
            ErrorScope::Transient,
        ),
        (
            Fault::close_with(1008, "DATA-0000", 0),
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
        ),
        (
            Fault::close_with(1009, "BIG-0001", 0),
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
        ),
        (
            Fault::close_with(1003, "MESSAGE-0000", 0),
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
        ),
        (
            Fault::close_with(1000, "", 900),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
        (
            Fault::drop_after(900),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
    ] {
        m.script_utterances([fault.clone()]);
        let e = fails(&p, "Interrupted by the server.").await;
        assert_eq!((e.kind(), e.scope()), (kind, scope), "{fault:?}: {e}");
        if let Fault::CloseWith { code, .. } = fault {
            assert!(e.to_string().contains(&code.to_string()), "{e}");
        }
    }
}

#[tokio::test]
async fn the_mocks_own_limits_close_as_documented_and_are_classified() {
    // Over the character window: 1008 DATA-0001.
    let m = mock(DeepgramConfig {
        chars_limit: 40,
        ..DeepgramConfig::default()
    })
    .await;
    let p = provider(&m);
    speak(&p, SynthesisRequest::new("Thirty characters of text ok."))
        .await
        .unwrap();
    let e = fails(&p, "Thirty characters of text ok.").await;
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert!(e.to_string().contains("DATA-0001"));
}

#[tokio::test]
async fn error_frames_bad_frames_and_empty_utterances_are_classified() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    for (fault, kind) in [
        (dg_error_frame(500, "internal"), ErrorKind::Unavailable),
        (dg_error_frame(429, "slow down"), ErrorKind::RateLimited),
        (dg_error_frame(400, "bad text"), ErrorKind::InvalidRequest),
        (
            Fault::raw_frame(r#"{"type":"error","err_code":"X","err_msg":"boom"}"#),
            ErrorKind::Unavailable,
        ),
        (Fault::InjectText("not json {".into()), ErrorKind::Protocol),
        (
            Fault::InjectText(r#"{"hello":"no type"}"#.into()),
            ErrorKind::Protocol,
        ),
    ] {
        m.script_utterances([fault.clone()]);
        let e = fails(&p, "Something.").await;
        assert_eq!(e.kind(), kind, "{fault:?}: {e}");
    }
    let e = {
        m.script_utterances([dg_error_frame(500, "internal")]);
        fails(&p, "Something.").await
    };
    assert_eq!(e.request_id(), Some("mock-error-request"));
    // Warnings (both shapes) and unknown types are skipped.
    m.script_utterances([
        Fault::InjectText(r#"{"type":"Warning","warn_code":"W","warn_msg":"m"}"#.into()),
        Fault::InjectText(r#"{"type":"Warning","code":"W","description":"m"}"#.into()),
        Fault::InjectText(r#"{"type":"SomethingNew"}"#.into()),
    ]);
    for _ in 0..3 {
        assert_eq!(
            speak(&p, SynthesisRequest::new("Fine.")).await.unwrap(),
            expected_audio("Fine.", pcm(24_000))
        );
    }
}

#[tokio::test]
async fn refused_upgrades_follow_the_failure_table_with_request_ids() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    for (fault, kind, scope) in [
        (
            dg_reject(401, "INVALID_AUTH", "Invalid credentials."),
            ErrorKind::Auth,
            ErrorScope::Provider,
        ),
        (
            dg_reject(403, "INSUFFICIENT_PERMISSIONS", "no access to model"),
            ErrorKind::Auth,
            ErrorScope::Provider,
        ),
        (
            dg_reject(402, "PAYMENT_REQUIRED", "out of credits"),
            ErrorKind::Auth,
            ErrorScope::Provider,
        ),
        (
            dg_reject(404, "NOT_FOUND", "no such path"),
            ErrorKind::NotFound,
            ErrorScope::Provider,
        ),
        (
            dg_reject(429, "TOO_MANY_REQUESTS", "too many"),
            ErrorKind::RateLimited,
            ErrorScope::Transient,
        ),
        (
            dg_reject(503, "SERVICE_UNAVAILABLE", "down"),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
        (
            dg_reject(400, "INVALID_QUERY_PARAMETER", "bad sample_rate"),
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
        ),
    ] {
        m.kit().set_fault(fault);
        let e = fails(&p, "Refused.").await;
        assert_eq!((e.kind(), e.scope()), (kind, scope), "{e}");
        assert_eq!(e.request_id(), Some("mock-rejected-request"), "{e}");
        assert!(e.hint().is_some(), "{e}");
        if e.status() == Some(429) {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        }
        if e.status() == Some(402) {
            assert!(e.to_string().contains("billing"), "{e}");
        }
    }
    m.kit().set_fault(Fault::None);
    // An unknown model is the mock's own 400: NotFound for this request.
    let mut r = SynthesisRequest::new("Who?");
    r.voice = Some("aura-2-nobody-en".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::NotFound, ErrorScope::Request),
        "{e}"
    );
    assert!(
        e.request_id().is_some_and(|id| id.starts_with("mock-dg-")),
        "{e}"
    );
    // A wrong key: the mock's own 401.
    let bad = DeepgramProvider::new(DeepgramSettings {
        api_key: Some(voxwire_core::Secret::new("wrong-key-123456")),
        ..settings(&m)
    })
    .unwrap();
    let e = fails(&bad, "Hi.").await;
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(
        e.body().unwrap_or_default().contains("INVALID_AUTH"),
        "{e:?}"
    );
    assert!(!e.to_string().contains("wrong-key-123456"));
}

#[tokio::test]
async fn refused_rest_calls_follow_the_failure_table() {
    let m = mock(DeepgramConfig::default()).await;
    let p = DeepgramProvider::new(DeepgramSettings {
        transport: Transport::Rest,
        ..settings(&m)
    })
    .unwrap();
    for (fault, kind) in [
        (
            dg_reject(401, "INVALID_AUTH", "Invalid credentials."),
            ErrorKind::Auth,
        ),
        (
            dg_reject(422, "UNPROCESSABLE_ENTITY", "too long"),
            ErrorKind::InvalidRequest,
        ),
        (
            dg_reject(413, "PAYLOAD_TOO_LARGE", "too long"),
            ErrorKind::InvalidRequest,
        ),
        (
            dg_reject(429, "TOO_MANY_REQUESTS", "slow"),
            ErrorKind::RateLimited,
        ),
        (
            dg_reject(503, "SERVICE_UNAVAILABLE", "down"),
            ErrorKind::Unavailable,
        ),
    ] {
        m.kit().set_fault(fault);
        let e = fails(&p, "Refused.").await;
        assert_eq!(e.kind(), kind, "{e}");
        assert_eq!(e.request_id(), Some("mock-rejected-request"));
    }
    m.kit().set_fault(Fault::None);
    let mut r = SynthesisRequest::new("Who?");
    r.voice = Some("aura-2-nobody-en".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::NotFound, ErrorScope::Request),
        "{e}"
    );
    // A body cut mid-stream, and a stall before the first byte.
    m.kit().set_fault(Fault::close_after(2000));
    let e = fails(&p, "Cut off in the middle of the body.").await;
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    m.kit().set_fault(Fault::stall_before_audio(Stall::Forever));
    let e = fails(&p, "Stalled.").await;
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Text over Deepgram's REST limit goes over the socket instead.
    m.kit().set_fault(Fault::None);
    let long = "word ".repeat(220);
    let got = speak(&p, request(&long, pcm(8_000))).await.unwrap();
    assert_eq!(got, expected_audio(&long, pcm(8_000)));
}

#[tokio::test]
async fn retired_sockets_say_close_first() {
    let m = mock(DeepgramConfig {
        frame_delay: Duration::from_millis(1),
        ..DeepgramConfig::default()
    })
    .await;
    let p = DeepgramProvider::new(DeepgramSettings {
        pool_size: 1,
        ..settings(&m)
    })
    .unwrap();
    // Two at once: two sockets, one more than the pool keeps.
    let (a, b) = tokio::join!(
        speak(&p, SynthesisRequest::new("Concurrent one.")),
        speak(&p, SynthesisRequest::new("Concurrent two."))
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(m.kit().upgrades(), 2);
    bounded("the extra socket's Close", async {
        while m.dialect().close_messages() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(p.idle_connections(), 1);
    p.shutdown().await;
    assert_eq!(p.idle_connections(), 0);
    bounded("the pooled socket's Close", async {
        while m.dialect().close_messages() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_prewarmed_socket_is_reused() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    p.prewarm().await.unwrap();
    assert_eq!(p.idle_connections(), 1);
    speak(&p, SynthesisRequest::new("Warm.")).await.unwrap();
    assert_eq!(
        m.kit().upgrades(),
        1,
        "the pre-warmed socket (Metadata read) was used"
    );
}

#[tokio::test]
async fn languages_pick_a_voice_of_that_language_or_are_refused_before_any_call() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    let mut r = SynthesisRequest::new("Hola.");
    r.language = Some("es-MX".into());
    speak(&p, r).await.unwrap();
    let model = m.kit().requests()[0].query_param("model").unwrap();
    assert!(model.ends_with("-es"), "{model}");
    let mut r = SynthesisRequest::new("Hello.");
    r.language = Some("EN-us".into());
    speak(&p, r).await.unwrap();
    assert_eq!(
        m.kit()
            .requests()
            .last()
            .unwrap()
            .query_param("model")
            .as_deref(),
        Some("aura-2-thalia-en")
    );
    let before = m.kit().requests().len();
    let mut r = SynthesisRequest::new("Olá.");
    r.language = Some("pt-BR".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::Unsupported, ErrorScope::Request)
    );
    let mut r = SynthesisRequest::new("Hello.");
    r.voice = Some("aura-2-sirio-es".into());
    r.language = Some("en".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(
        m.kit().requests().len(),
        before,
        "refused before any network call"
    );
    let voices = p.voices().await.unwrap();
    assert!(voices
        .iter()
        .any(|v| v.id == "aura-2-julius-de" && v.name == "Julius" && v.languages == ["de"]));
    assert!(p.capabilities().languages.contains(&"ja".to_string()));
    assert!(!p.capabilities().sample_rates.contains(&44_100));
}

#[tokio::test]
async fn the_doctor_names_what_works() {
    let m = mock(DeepgramConfig::default()).await;
    let p = provider(&m);
    let report = bounded("diagnose", p.diagnose()).await;
    assert!(report.checks.iter().all(|c| c.passed()), "{report:?}");
    m.kit()
        .set_fault(voxwire_testkit::mock_deepgram::dg_reject_websocket(
            401,
            "INVALID_AUTH",
            "nope",
        ));
    let report = bounded("diagnose", p.diagnose()).await;
    assert!(
        report
            .diagnosis
            .iter()
            .any(|d| d.contains("the key works for REST")),
        "{:?}",
        report.diagnosis
    );
}

#[tokio::test]
async fn the_registry_builds_it_from_config() {
    let m = mock(DeepgramConfig::default()).await;
    let factory = voxwire_core::registry::factories()
        .into_iter()
        .find(|f| f.id == "deepgram")
        .expect("registered");
    let config = voxwire_core::ProviderConfig::new("deepgram")
        .with("api_key", common::KEY)
        .with("base_url", voxwire_testkit::mock_deepgram::base_url(&m))
        .with("model", "aura-2-andromeda-en");
    let p = (factory.build)(&config).expect("built");
    assert_eq!(p.id(), "deepgram");
    let mut stream = p.synthesize(SynthesisRequest::new("Built.")).await.unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    assert_eq!(
        m.kit().requests()[0].query_param("model").as_deref(),
        Some("aura-2-andromeda-en")
    );
    let bad = voxwire_core::ProviderConfig::new("deepgram")
        .with("api_key", "k")
        .with("sample_rate", 44_100);
    assert!((factory.build)(&bad).is_err(), "44100 is refused");
}

#[tokio::test]
async fn a_session_idle_past_deepgrams_timeout_speaks_its_next_utterance_on_a_fresh_socket() {
    let m = mock(DeepgramConfig {
        idle_timeout: Some(Duration::from_millis(150)),
        ..DeepgramConfig::default()
    })
    .await;
    let p = provider(&m);
    let format = pcm(8_000);
    let mut s = p
        .stream(StreamConfig {
            format: Some(format),
            ..StreamConfig::default()
        })
        .await
        .unwrap();
    s.push_text("Before the pause.").await.unwrap();
    let id = s.flush().await.unwrap();
    until_done(&mut s, id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await; // 1011 NET-0001 meanwhile
    s.push_text("After the pause.").await.unwrap();
    let id = s.flush().await.unwrap();
    let (audio, _) = until_done(&mut s, id).await.unwrap();
    assert_eq!(audio, expected_audio("After the pause.", format));
    assert_eq!(m.kit().upgrades(), 2);
}

#[tokio::test]
async fn the_mock_takes_the_browser_subprotocol_and_refuses_what_deepgram_refuses() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let m = mock(DeepgramConfig::default()).await;
    let connect = |query: &str, protocol: Option<String>| {
        let mut request = format!("{}{query}", m.ws_url("/v1/speak"))
            .into_client_request()
            .unwrap();
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", p.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    // Browsers: `Sec-WebSocket-Protocol: token, <key>`, answered with `token`.
    let (mut ws, response) = connect(
        "?encoding=linear16",
        Some(format!("token, {}", common::KEY)),
    )
    .await
    .expect("upgrade");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "token"
    );
    assert!(response.headers().get("dg-request-id").is_some());
    let first = bounded("metadata", ws.next()).await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains(r#""type":"Metadata""#));
    assert!(
        !format!("{:?}", m.kit().requests()).contains(common::KEY),
        "masked"
    );
    // 44100, µ-law at 24 kHz, mp3 on the socket, no key: refused with dg-error.
    for (query, protocol, status) in [
        (
            "?encoding=linear16&sample_rate=44100",
            Some(format!("token, {}", common::KEY)),
            400,
        ),
        (
            "?encoding=mulaw&sample_rate=24000",
            Some(format!("token, {}", common::KEY)),
            400,
        ),
        (
            "?encoding=mp3",
            Some(format!("token, {}", common::KEY)),
            400,
        ),
        (
            "?model=aura-2-nobody-en",
            Some(format!("token, {}", common::KEY)),
            400,
        ),
        ("", None, 401),
    ] {
        match connect(query, protocol).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), status, "{query}");
                assert!(r.headers().get("dg-error").is_some(), "{query}");
            }
            other => panic!("{query}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn whole_texts_over_the_flush_limit_of_a_pooled_socket_go_on_another() {
    let m = mock(DeepgramConfig {
        flush_limit: 2,
        flush_window: Duration::from_secs(60),
        ..DeepgramConfig::default()
    })
    .await;
    let p = DeepgramProvider::new(DeepgramSettings {
        flush_limit: 2,
        pool_size: 4,
        ..settings(&m)
    })
    .unwrap();
    for i in 0..5 {
        let text = format!("Sentence number {i}.");
        let got = speak(&p, request(&text, pcm(8_000))).await.expect("audio");
        assert_eq!(got, expected_audio(&text, pcm(8_000)));
    }
    assert_eq!(m.dialect().warnings(), 0, "no flush was sent to be ignored");
    assert_eq!(
        m.kit().upgrades(),
        3,
        "two flushes per socket, then a new one"
    );
}
