//! The `openai` provider against the test kit's OpenAI mock: byte-exact audio
//! in every body layout, every row of the failure table, every complaint of
//! the wire notes, sessions cut into sentences, and cancel.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::session::{SessionEvent, StreamConfig};
use voxwire_core::{
    AudioFormat, ErrorKind, ErrorScope, Phase, Secret, SynthesisRequest, TtsError, TtsProvider,
};
use voxwire_openai::{Instructions, OpenAiApi, OpenAiProvider, OpenAiSettings, StreamFormat};
use voxwire_testkit::kit::audio::{expected_audio, samples_per_char};
use voxwire_testkit::kit::{Fault, Stall};
use voxwire_testkit::mock_openai::{
    openai_error, quota_exhausted, rate_limited, DeltaField, MockOpenAi, Switches, DEFAULT_API_KEY,
};

const TEXT: &str = "Hello there, this is a test.";

fn pcm24() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

fn settings(m: &MockOpenAi) -> OpenAiSettings {
    OpenAiSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(m.base_url()),
        first_audio_timeout_ms: 2_000,
        inactivity_timeout_ms: 1_000,
        ..OpenAiSettings::default()
    }
}

fn provider(s: OpenAiSettings) -> OpenAiProvider {
    OpenAiProvider::new(s).expect("provider")
}

/// All audio of one synthesis, and how many chunks it came in.
async fn speak(
    p: &OpenAiProvider,
    request: SynthesisRequest,
) -> Result<(Vec<u8>, usize), TtsError> {
    let run = async {
        let mut stream = p.synthesize(request).await?;
        let mut audio = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            audio.extend_from_slice(&chunk.data);
            chunks += 1;
        }
        Ok((audio, chunks))
    };
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("synthesis ended within 20 s")
}

async fn fails(p: &OpenAiProvider, text: &str) -> TtsError {
    speak(p, SynthesisRequest::new(text))
        .await
        .expect_err("the synthesis should fail")
}

#[tokio::test]
async fn pcm_is_byte_exact_streamed_in_pieces_and_the_request_is_as_documented() {
    let m = MockOpenAi::start().await;
    let p = provider(settings(&m));
    let (audio, chunks) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
    assert!(
        chunks > 3,
        "the audio came in {chunks} chunk(s), not as it streamed"
    );
    let reqs = m.speech_requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/audio/speech");
    assert_eq!(r.header("authorization"), Some("Bearer ***"));
    let body = r.json_body().unwrap();
    assert_eq!(body["model"], "gpt-4o-mini-tts");
    assert_eq!(body["voice"], "alloy");
    assert_eq!(body["input"], TEXT);
    assert_eq!(body["response_format"], "pcm");
    assert!(body.get("stream_format").is_none(), "{body}");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn wav_is_parsed_from_its_header() {
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        response_format: "wav".into(),
        ..settings(&m)
    });
    let (audio, _) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
}

#[tokio::test]
async fn sse_audio_in_the_audio_field_and_in_the_delta_field() {
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        stream_format: StreamFormat::Sse,
        ..settings(&m)
    });
    let (audio, _) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
    assert_eq!(
        m.speech_requests()[0].json_body().unwrap()["stream_format"],
        "sse"
    );
    m.switch(|s| s.delta_field = DeltaField::Delta);
    let (audio, _) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
}

/// livekit/agents#6930 and sfortis/openai_tts#73: SSE asked, raw audio answered.
#[tokio::test]
async fn raw_audio_answered_to_an_sse_request_is_audio_not_silence() {
    let m = MockOpenAi::start_with(
        DEFAULT_API_KEY,
        Switches {
            ignore_stream_format: true,
            ..Switches::default()
        },
    )
    .await;
    let p = provider(OpenAiSettings {
        stream_format: StreamFormat::Sse,
        ..settings(&m)
    });
    let (audio, _) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
    assert_eq!(
        m.speech_requests()[0].json_body().unwrap()["stream_format"],
        "sse"
    );

    // tts-1 on OpenAI ignores `sse`; the provider does not ask it there.
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        stream_format: StreamFormat::Sse,
        model: "tts-1".into(),
        ..settings(&m)
    });
    let (audio, _) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
    assert!(m.speech_requests()[0]
        .json_body()
        .unwrap()
        .get("stream_format")
        .is_none());
}

/// The mock itself: `sse` on tts-1 gets raw audio, whatever `Accept` says.
#[tokio::test]
async fn the_mock_ignores_sse_on_tts1_and_never_negotiates_on_accept() {
    let m = MockOpenAi::start().await;
    let client = reqwest::Client::new();
    for (model, expected) in [
        ("tts-1", "audio/pcm"),
        ("gpt-4o-mini-tts", "text/event-stream"),
    ] {
        let r = client
            .post(m.url("/v1/audio/speech"))
            .bearer_auth(DEFAULT_API_KEY)
            .header("accept", "application/octet-stream")
            .json(&serde_json::json!({"model": model, "input": "Hi.", "voice": "alloy", "response_format": "pcm", "stream_format": "sse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], expected);
        assert!(r.headers().contains_key("x-request-id"));
    }
}

/// livekit/agents#1341: an mp3-only server is decoded, not refused.
#[tokio::test]
async fn an_mp3_only_server_is_decoded() {
    let m = MockOpenAi::start_with(
        DEFAULT_API_KEY,
        Switches {
            mp3_only: true,
            ..Switches::default()
        },
    )
    .await;
    let p = provider(settings(&m));
    let (audio, _) = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    // The mock's mp3 is silent MPEG-2 frames (576 samples each) covering the text's audio.
    let samples = TEXT.chars().count() * samples_per_char(24_000);
    let frames = samples.div_ceil(576);
    assert_eq!(audio.len(), frames * 576 * 2, "decoded samples");
    assert!(
        audio.iter().all(|&b| b == 0),
        "the mock's frames are silent"
    );
}

#[tokio::test]
async fn a_format_other_than_the_callers_is_converted() {
    let m = MockOpenAi::start().await;
    let p = provider(settings(&m));
    let caps = p.capabilities();
    assert_eq!(caps.native_format, pcm24());
    assert_eq!(caps.sample_rates, vec![24_000]);
    assert!(!caps.streaming_input);
    let (audio, _) = speak(
        &p,
        SynthesisRequest::new(TEXT).format(AudioFormat::pcm16_mono(16_000)),
    )
    .await
    .unwrap();
    let want = expected_audio(TEXT, AudioFormat::pcm16_mono(16_000)).len() as i64;
    assert!(
        (audio.len() as i64 - want).abs() < 400,
        "{} vs {want}",
        audio.len()
    );
}

/// travisvn/openai-edge-tts#34: an error event inside a 200 stream is an error, not silence.
#[tokio::test]
async fn an_error_event_inside_a_200_stream_is_an_error() {
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        stream_format: StreamFormat::Sse,
        ..settings(&m)
    });
    for fault in [
        Fault::error_frame("engine crashed"),
        Fault::error_frame_in_error_field("engine crashed"),
        Fault::ErrorFrame {
            message: "engine crashed".into(),
            field: voxwire_testkit::kit::fault::ErrorField::Error,
            after_bytes: 3000,
        },
    ] {
        m.set_fault(fault);
        let e = fails(&p, TEXT).await;
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(e.to_string().contains("engine crashed"), "{e}");
        assert_eq!(e.phase(), Phase::Receive);
    }
    // Raw audio: the error before audio is a 500.
    let p = provider(settings(&m));
    m.set_fault(Fault::error_frame("engine crashed"));
    let e = fails(&p, TEXT).await;
    assert_eq!((e.kind(), e.status()), (ErrorKind::Unavailable, Some(500)));
}

#[tokio::test]
async fn an_sse_stream_without_done_is_a_mid_stream_failure() {
    let m = MockOpenAi::start().await;
    m.set_fault(Fault::close_after(3000));
    let p = provider(OpenAiSettings {
        stream_format: StreamFormat::Sse,
        ..settings(&m)
    });
    let mut stream = p.synthesize(SynthesisRequest::new(TEXT)).await.unwrap();
    let mut got = 0;
    let err = loop {
        match stream.next().await {
            Some(Ok(c)) => got += c.data.len(),
            Some(Err(e)) => break e,
            None => panic!("the stream ended without an error"),
        }
    };
    assert!(got > 0, "audio before the cut");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("speech.audio.done"), "{err}");
}

#[tokio::test]
async fn no_audio_bad_json_and_bad_base64() {
    let m = MockOpenAi::start().await;
    let sse = provider(OpenAiSettings {
        stream_format: StreamFormat::Sse,
        ..settings(&m)
    });
    // Raw audio's empty answer is the conformance suite's; SSE's is OpenAI's.
    m.set_fault(Fault::ZeroAudio);
    assert_eq!(fails(&sse, TEXT).await.kind(), ErrorKind::NoAudio);
    m.set_fault(Fault::BadJson);
    assert_eq!(fails(&sse, TEXT).await.kind(), ErrorKind::Protocol);
    m.set_fault(Fault::BadBase64);
    let e = fails(&sse, TEXT).await;
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.to_string().contains("base64"), "{e}");
}

#[tokio::test]
async fn the_failure_table_is_classified_and_scoped() {
    let m = MockOpenAi::start().await;
    let p = provider(settings(&m));

    let bad_key = provider(OpenAiSettings {
        api_key: Some(Secret::new("sk-wrong")),
        ..settings(&m)
    });
    let e = fails(&bad_key, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope(), e.status()),
        (ErrorKind::Auth, ErrorScope::Provider, Some(401))
    );
    assert!(
        e.request_id().is_some_and(|id| id.starts_with("req_mock_")),
        "{e:?}"
    );

    // pipecat-ai/pipecat#196: a mis-set base URL; the error names the URL used.
    let wrong_base = provider(OpenAiSettings {
        base_url: Some(m.url("/v2")),
        ..settings(&m)
    });
    let e = fails(&wrong_base, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::NotFound, ErrorScope::Provider)
    );
    assert!(e.to_string().contains(&m.url("/v2/audio/speech")), "{e}");
    assert!(e.to_string().contains("Invalid URL"), "{e}");

    // anasfik/openai#224: a gpt-4o-mini-tts-only voice on tts-1 (a compatible base: the server decides).
    let tts1 = provider(OpenAiSettings {
        model: "tts-1".into(),
        voice: "ballad".into(),
        ..settings(&m)
    });
    let e = fails(&tts1, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope(), e.status()),
        (ErrorKind::InvalidRequest, ErrorScope::Request, Some(400))
    );
    assert!(e.to_string().contains("Invalid voice"), "{e}");

    for (fault, kind, scope) in [
        (
            openai_error(422, "unprocessable", "invalid_request_error", None),
            ErrorKind::InvalidRequest,
            ErrorScope::Request,
        ),
        (
            openai_error(
                403,
                "region not allowed",
                "invalid_request_error",
                Some("unsupported_country_region_territory"),
            ),
            ErrorKind::Auth,
            ErrorScope::Provider,
        ),
        (
            openai_error(500, "boom", "server_error", None),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
        (
            openai_error(503, "overloaded", "server_error", None),
            ErrorKind::Unavailable,
            ErrorScope::Transient,
        ),
    ] {
        m.set_fault(fault);
        let e = fails(&p, TEXT).await;
        assert_eq!((e.kind(), e.scope()), (kind, scope), "{e}");
        assert!(e.request_id().is_some(), "{e:?}");
    }

    m.set_fault(rate_limited(2));
    let e = fails(&p, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::RateLimited, ErrorScope::Transient)
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    assert!(e.is_retryable());

    m.set_fault(quota_exhausted());
    let e = fails(&p, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope(), e.status()),
        (ErrorKind::Auth, ErrorScope::Provider, Some(429))
    );
    assert!(e.to_string().contains("quota"), "{e}");
    assert!(!e.is_retryable() && e.may_fail_over());
    m.set_fault(Fault::None);

    // Past OpenAI's shutdown: the old names refused, with a hint naming the date.
    m.switch(|s| s.refuse_deprecated = true);
    let e = fails(&p, TEXT).await;
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.hint().unwrap_or_default().contains("2027-01-06"), "{e}");
    let own = provider(OpenAiSettings {
        model: "kokoro".into(),
        ..settings(&m)
    });
    speak(&own, SynthesisRequest::new(TEXT)).await.unwrap();
}

#[tokio::test]
async fn unknown_fields_and_out_of_range_values_are_request_scoped() {
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        response_format: "ogg".into(),
        ..settings(&m)
    });
    let e = fails(&p, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::InvalidRequest, ErrorScope::Request)
    );
    let too_long = "a".repeat(4097);
    let p = provider(settings(&m));
    let e = fails(&p, &too_long).await;
    assert_eq!(
        e.kind(),
        ErrorKind::InvalidInput,
        "checked before sending: {e}"
    );
    assert_eq!(m.speech_requests().len(), 1);
}

/// livekit/agents#2604: a first-audio deadline apart from the stall deadline.
#[tokio::test]
async fn stalls_drops_and_refused_connections() {
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        first_audio_timeout_ms: 300,
        inactivity_timeout_ms: 300,
        ..settings(&m)
    });
    // Stalls past the deadlines are the conformance suite's; a slow start within the deadline is fine.
    m.set_fault(Fault::stall_before_audio(Stall::For(
        Duration::from_millis(100),
    )));
    speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();

    m.set_fault(Fault::drop_after(3000));
    let e = fails(&p, TEXT).await;
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");

    let url = m.base_url();
    m.shutdown().await;
    let gone = provider(OpenAiSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(url),
        ..OpenAiSettings::default()
    });
    let e = fails(&gone, TEXT).await;
    assert_eq!(
        (e.kind(), e.phase()),
        (ErrorKind::Unavailable, Phase::Connect),
        "{e}"
    );
}

#[tokio::test]
async fn voices_are_checked_locally_only_against_openai() {
    // OpenAI's base: a tts-1 × gpt-4o-mini-tts-only voice is refused before any network call.
    let p = provider(OpenAiSettings {
        api_key: Some(Secret::new("sk-test")),
        model: "tts-1".into(),
        voice: "marin".into(),
        ..OpenAiSettings::default()
    });
    let e = fails(&p, TEXT).await;
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::Unsupported, ErrorScope::Request),
        "{e}"
    );
    assert_eq!(p.voices().await.unwrap().len(), 9);

    // Anywhere else any voice passes (the conformance suite); `voice_…` is a custom voice object.
    let m = MockOpenAi::start().await;
    let p = provider(settings(&m));
    for (voice, sent) in [("voice_abc123", serde_json::json!({"id": "voice_abc123"}))] {
        speak(&p, SynthesisRequest::new("Hi.").voice(voice))
            .await
            .unwrap();
        let body = m.speech_requests().last().unwrap().json_body().unwrap();
        assert_eq!(body["voice"], sent);
    }
    assert_eq!(p.voices().await.unwrap()[0].id, "alloy");
}

#[tokio::test]
async fn instructions_come_from_the_request_or_the_settings() {
    let m = MockOpenAi::start().await;
    let p = provider(OpenAiSettings {
        instructions: Some("calm".into()),
        speed: Some(1.25),
        ..settings(&m)
    });
    speak(&p, SynthesisRequest::new("Hi.")).await.unwrap();
    let mut request = SynthesisRequest::new("Hi.");
    request.extensions.insert(Instructions("whisper".into()));
    speak(&p, request.speed(0.5)).await.unwrap();
    let bodies: Vec<_> = m
        .speech_requests()
        .iter()
        .map(|r| r.json_body().unwrap())
        .collect();
    assert_eq!(bodies[0]["instructions"], "calm");
    assert_eq!(bodies[0]["speed"], 1.25);
    assert_eq!(bodies[1]["instructions"], "whisper");
    assert_eq!(bodies[1]["speed"], 0.5);
    // tts-1 does not take instructions: they are left out.
    let tts1 = provider(OpenAiSettings {
        model: "tts-1".into(),
        instructions: Some("calm".into()),
        ..settings(&m)
    });
    speak(&tts1, SynthesisRequest::new("Hi.")).await.unwrap();
    let body = m.speech_requests().last().unwrap().json_body().unwrap();
    assert!(body.get("instructions").is_none(), "{body}");
}

#[tokio::test]
async fn a_session_speaks_each_sentence_with_its_own_request() {
    let m = MockOpenAi::start().await;
    let p = provider(settings(&m));
    let mut session = p.stream(StreamConfig::default()).await.unwrap();
    for piece in ["Hello th", "ere. How are", " you? Fine", " thanks."] {
        session.push_text(piece).await.unwrap();
    }
    let id = session.flush().await.unwrap();
    session.finish().await.unwrap();
    let mut audio = Vec::new();
    let mut done = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(20), session.next_event())
        .await
        .expect("events within 20 s")
    {
        match event.unwrap() {
            SessionEvent::Audio(c) => audio.extend_from_slice(&c.data),
            SessionEvent::UtteranceDone { id } => done = Some(id),
            _ => {}
        }
    }
    assert_eq!(done, Some(id));
    let text = "Hello there. How are you? Fine thanks.";
    assert_eq!(audio, expected_audio(text, pcm24()));
    let sent: Vec<String> = m
        .speech_requests()
        .iter()
        .flat_map(|r| r.utterances.clone())
        .collect();
    assert_eq!(sent, ["Hello there. ", "How are you? ", "Fine thanks."]);
}

#[tokio::test]
async fn cancel_drops_the_request_in_flight() {
    let m = MockOpenAi::start().await;
    // Slow audio: the first request is still streaming when the cancel comes.
    m.set_fault(vec![Fault::SlowDrip(Duration::from_millis(100))]);
    let p = provider(settings(&m));
    let mut session = p.stream(StreamConfig::default()).await.unwrap();
    session
        .push_text("This sentence is long enough to take a while to stream out. And another one.")
        .await
        .unwrap();
    session.flush().await.unwrap();
    // Wait for the first audio.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), session.next_event())
            .await
            .unwrap()
        {
            Some(Ok(SessionEvent::Audio(_))) => break,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(m.open_bodies(), 1, "the first sentence is streaming");
    let generation = session.cancel();
    // The request in flight is dropped: the server sees its client leave long
    // before the slow body (about 17 s at this drip) would have ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while m.open_bodies() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cancelled request is still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut cleared = false;
    session.push_text("Next.").await.unwrap();
    let id = session.flush().await.unwrap();
    let mut audio_after = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), session.next_event())
            .await
            .unwrap()
        {
            Some(Ok(SessionEvent::Cleared { generation: g })) => {
                assert_eq!(g, generation);
                cleared = true;
            }
            Some(Ok(SessionEvent::Audio(c))) => audio_after.extend_from_slice(&c.data),
            Some(Ok(SessionEvent::UtteranceDone { id: done })) if done == id => break,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(cleared);
    assert_eq!(audio_after, expected_audio("Next.", pcm24()));
    // The second sentence of the cancelled utterance was never asked for.
    let sent: Vec<String> = m
        .speech_requests()
        .iter()
        .flat_map(|r| r.utterances.clone())
        .collect();
    assert_eq!(
        sent,
        [
            "This sentence is long enough to take a while to stream out. ",
            "Next."
        ]
    );
}

#[tokio::test]
async fn doctor_tells_a_compatible_server_and_lists_its_models() {
    let m = MockOpenAi::start().await;
    let p = provider(settings(&m));
    let report = p.diagnose().await;
    assert!(report.healthy(), "{report:?}");
    let detail = |name: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| format!("{:?}", c.outcome))
            .unwrap_or_default()
    };
    assert!(
        detail("server").contains("OpenAI-compatible server"),
        "{report:?}"
    );
    assert!(detail("models").contains("5 models"), "{report:?}");
    assert!(
        detail("models").contains("gpt-4o-mini-tts is listed"),
        "{report:?}"
    );
    assert!(
        detail("speech synthesis").contains("first audio after"),
        "{report:?}"
    );
    m.set_fault(quota_exhausted());
    let report = p.diagnose().await;
    assert!(!report.healthy());
    assert!(
        report.diagnosis.iter().any(|d| d.contains("quota")),
        "{report:?}"
    );
}

/// BerriAI/litellm#33974 (time to first audio = whole generation): the first
/// chunk reaches the caller while the server is still sending the body.
#[tokio::test]
async fn audio_leaves_as_it_arrives() {
    let m = MockOpenAi::start_with(
        DEFAULT_API_KEY,
        Switches {
            chunk_size: 20_000,
            ..Switches::default()
        },
    )
    .await;
    m.set_fault(Fault::SlowDrip(Duration::from_millis(100)));
    let p = provider(settings(&m));
    let mut stream = p.synthesize(SynthesisRequest::new(TEXT)).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.data.is_empty());
    assert_eq!(m.open_bodies(), 1, "the body is still being sent");
    let mut audio = first.data.to_vec();
    while let Some(chunk) = stream.next().await {
        audio.extend_from_slice(&chunk.unwrap().data);
    }
    assert_eq!(audio, expected_audio(TEXT, pcm24()));
}

/// Against OpenAI's own base, the doctor warns ahead of the 2027-01-06 shutdown
/// (the reachability check is given 1 ms, so this needs no network).
#[tokio::test]
async fn doctor_warns_of_the_shutdown_against_openai() {
    let p = provider(OpenAiSettings {
        api_key: Some(Secret::new("sk-test")),
        model: "tts-1-hd".into(),
        connect_timeout_ms: 1,
        ..OpenAiSettings::default()
    });
    assert!(p.is_openai());
    let report = p.diagnose().await;
    let server = format!("{:?}", report.checks[0].outcome);
    assert!(server.contains("OpenAI;"), "{server}");
    assert!(
        report
            .diagnosis
            .iter()
            .any(|d| d.contains("tts-1-hd is deprecated") && d.contains("2027-01-06")),
        "{report:?}"
    );
}
