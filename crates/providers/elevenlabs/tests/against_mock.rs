//! The provider against the mock on loopback: audio intact, times mapped,
//! formats, voices, and each error of the notes' failure table.

use futures::StreamExt;
use voxwire_core::{
    AudioChunk, AudioFormat, Encoding, ErrorKind, ErrorScope, Secret, SynthesisRequest, TtsError,
    TtsProvider,
};
use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings, Timestamps};
use voxwire_testkit::kit::audio::{expected_audio, expected_words};
use voxwire_testkit::kit::{Fault, Stall};
use voxwire_testkit::mock_elevenlabs::{
    detail_error, quota_exceeded, MockElevenLabs, Plan, Switches, DEFAULT_API_KEY, UNLISTED_VOICE,
};
use voxwire_transport::settings::Transport;

const TEXT: &str = "Hello from the mock, twice over.";

fn provider(m: &MockElevenLabs, f: impl FnOnce(&mut ElevenLabsSettings)) -> ElevenLabsProvider {
    let mut s = ElevenLabsSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(m.base_url()),
        first_audio_timeout_ms: 500,
        inactivity_timeout_ms: 500,
        // The REST path (the socket's tests are in socket.rs).
        transport: Transport::Rest,
        ..ElevenLabsSettings::default()
    };
    f(&mut s);
    ElevenLabsProvider::new(s).unwrap()
}

async fn speak(p: &ElevenLabsProvider, r: SynthesisRequest) -> Result<Vec<AudioChunk>, TtsError> {
    let mut stream = p.synthesize(r).await?;
    let mut out = Vec::new();
    while let Some(c) = stream.next().await {
        out.push(c?);
    }
    Ok(out)
}

fn joined(chunks: &[AudioChunk]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.data.iter().copied()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn timed_audio_arrives_intact_with_words_and_the_vendors_times() {
    for cumulative in [false, true] {
        let m = MockElevenLabs::start_with(
            DEFAULT_API_KEY,
            Switches {
                cumulative_times: cumulative,
                ..Switches::default()
            },
        )
        .await;
        let p = provider(&m, |_| {});
        let chunks = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
        assert!(chunks.len() > 1, "audio leaves as it arrives");
        assert_eq!(
            joined(&chunks),
            expected_audio(TEXT, AudioFormat::pcm16_mono(24_000))
        );
        let words: Vec<_> = chunks.iter().flat_map(|c| c.words.clone()).collect();
        assert_eq!(words, expected_words(TEXT));
        let last = chunks.iter().filter_map(|c| c.times).last().unwrap();
        assert_eq!(last.end.as_millis(), 60 * TEXT.chars().count() as u128);
        let spans: Vec<_> = chunks.iter().filter_map(|c| c.span).collect();
        assert_eq!(spans.first().unwrap().start, 0);
        assert_eq!(spans.last().unwrap().end, TEXT.len());
        let r = &m.speech_requests()[0];
        assert_eq!(
            r.path,
            "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream/with-timestamps"
        );
        assert_eq!(r.query.as_deref(), Some("output_format=pcm_24000"));
        assert_eq!(r.header("xi-api-key"), Some("***"));
        assert_eq!(r.header("authorization"), None);
        m.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn formats_are_asked_natively_and_44k_follows_the_plan() {
    let m = MockElevenLabs::start().await;
    let p = provider(&m, |_| {});
    for (format, asked) in [
        (AudioFormat::pcm16_mono(16_000), "pcm_16000"),
        (AudioFormat::pcm16_mono(22_050), "pcm_22050"),
        (AudioFormat::mono(Encoding::Mulaw, 8_000), "ulaw_8000"),
    ] {
        let mut r = SynthesisRequest::new(TEXT);
        r.format = Some(format);
        let chunks = speak(&p, r).await.unwrap();
        assert_eq!(joined(&chunks), expected_audio(TEXT, format), "{asked}");
        let q = m.speech_requests().last().unwrap().query.clone();
        assert_eq!(
            q.as_deref(),
            Some(format!("output_format={asked}").as_str())
        );
    }
    // Free plan, setting off: 44.1 kHz is asked as 24 kHz and converted.
    let mut r = SynthesisRequest::new(TEXT);
    r.format = Some(AudioFormat::pcm16_mono(44_100));
    let chunks = speak(&p, r.clone()).await.unwrap();
    assert!(chunks.iter().all(|c| c.format.sample_rate == 44_100));
    let q = m.speech_requests().last().unwrap().query.clone();
    assert_eq!(q.as_deref(), Some("output_format=pcm_24000"));
    // Setting on but the plan refuses: request-scoped, says why.
    let pro = provider(&m, |s| s.pcm_44100 = true);
    let e = speak(&pro, r.clone()).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::Unsupported, ErrorScope::Request),
        "{e}"
    );
    assert!(e.to_string().contains("pcm_44100"), "{e}");
    // A Pro plan serves it natively.
    m.switch(|s| s.plan = Plan::Pro);
    let chunks = speak(&pro, r).await.unwrap();
    assert_eq!(
        joined(&chunks),
        expected_audio(TEXT, AudioFormat::pcm16_mono(44_100))
    );
    // Without times: `/stream`, raw audio.
    let mut r = SynthesisRequest::new(TEXT);
    r.extensions.insert(Timestamps(false));
    let chunks = speak(&p, r).await.unwrap();
    assert_eq!(
        joined(&chunks),
        expected_audio(TEXT, AudioFormat::pcm16_mono(24_000))
    );
    assert!(chunks.iter().all(|c| c.words.is_empty()));
    assert!(m
        .speech_requests()
        .last()
        .unwrap()
        .path
        .ends_with("/stream"));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn voices_are_listed_with_languages_and_unknown_ids_pass_through() {
    let m = MockElevenLabs::start().await;
    let p = provider(&m, |_| {});
    let voices = p.voices().await.unwrap();
    assert_eq!(voices.len(), 3);
    assert_eq!(voices[2].languages, vec!["fr-FR".to_string()]);
    assert_eq!(voices[0].gender.as_deref(), Some("male"));
    let mut r = SynthesisRequest::new(TEXT);
    r.voice = Some(UNLISTED_VOICE.into());
    speak(&p, r).await.unwrap();
    let mut r = SynthesisRequest::new(TEXT);
    r.voice = Some("no-such-voice".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::NotFound, ErrorScope::Request),
        "{e}"
    );
    // A language ElevenLabs does not speak is refused before any call.
    let before = m.speech_requests().len();
    let mut r = SynthesisRequest::new(TEXT);
    r.language = Some("xh".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(m.speech_requests().len(), before);
    // `language_code` goes only to the models that take it.
    let flash = provider(&m, |s| s.model = "eleven_flash_v2_5".into());
    let mut r = SynthesisRequest::new(TEXT);
    r.language = Some("pt-BR".into());
    speak(&flash, r.clone()).await.unwrap();
    let body = m.speech_requests().last().unwrap().json_body().unwrap();
    assert_eq!(body["language_code"], "pt");
    speak(&p, r).await.unwrap();
    let body = m.speech_requests().last().unwrap().json_body().unwrap();
    assert!(body.get("language_code").is_none());
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_row_of_the_failure_table_is_classified() {
    let m = MockElevenLabs::start().await;
    let p = provider(&m, |_| {});
    let cases: Vec<(Fault, ErrorKind, Option<ErrorScope>, &str)> = vec![
        (
            quota_exceeded(),
            ErrorKind::Auth,
            Some(ErrorScope::Provider),
            "quota",
        ),
        (
            detail_error(401, "invalid_api_key", "Invalid API key"),
            ErrorKind::Auth,
            Some(ErrorScope::Provider),
            "key",
        ),
        (
            detail_error(400, "max_character_limit_exceeded", "too long"),
            ErrorKind::InvalidRequest,
            Some(ErrorScope::Request),
            "limit",
        ),
        (
            detail_error(403, "only_for_creator+", "Creator only"),
            ErrorKind::Auth,
            Some(ErrorScope::Request),
            "plan",
        ),
        (
            detail_error(429, "too_many_concurrent_requests", "too many"),
            ErrorKind::RateLimited,
            None,
            "busy",
        ),
        (
            detail_error(429, "system_busy", "busy"),
            ErrorKind::RateLimited,
            None,
            "busy",
        ),
        (
            detail_error(500, "something_went_wrong", "oops"),
            ErrorKind::Unavailable,
            None,
            "",
        ),
        (Fault::error_frame("boom"), ErrorKind::Unavailable, None, ""),
        (Fault::drop_after(3000), ErrorKind::Unavailable, None, ""),
        (
            Fault::stall_before_audio(Stall::Forever),
            ErrorKind::Timeout,
            None,
            "",
        ),
        (Fault::ZeroAudio, ErrorKind::NoAudio, None, ""),
        (Fault::BadJson, ErrorKind::Protocol, None, ""),
        (Fault::BadBase64, ErrorKind::Protocol, None, ""),
    ];
    for (fault, kind, scope, word) in cases {
        m.set_fault(fault.clone());
        let e = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{fault:?}: {e}");
        if let Some(scope) = scope {
            assert_eq!(e.scope(), scope, "{fault:?}: {e}");
        }
        assert!(
            e.to_string().to_lowercase().contains(word),
            "{fault:?}: {e}"
        );
        assert_eq!(e.provider(), Some("elevenlabs"));
    }
    // 422 from FastAPI's validation, and the trace id kept.
    m.set_fault(Fault::None);
    let wrong = provider(&m, |s| s.api_key = Some(Secret::new("wrong-key")));
    let e = speak(&wrong, SynthesisRequest::new(TEXT))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(
        e.request_id()
            .is_some_and(|id| id.starts_with("trace-mock-")),
        "{e:?}"
    );
    m.shutdown().await;
}
