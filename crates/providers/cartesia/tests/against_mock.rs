//! The provider against the mock on loopback: audio intact in every
//! native format, the version header and the key, voices, and each row of
//! the failure table in both error-body shapes.

use futures::StreamExt;
use voxwire_cartesia::{CartesiaProvider, CartesiaSettings, Transport, DEFAULT_VERSION};
use voxwire_core::{
    AudioFormat, Encoding, ErrorKind, ErrorScope, Secret, SynthesisRequest, TtsProvider,
};
use voxwire_testkit::conformance::speak;
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::kit::{Fault, Stall};
use voxwire_testkit::mock_cartesia::{
    error_fault, ErrorShape, MockCartesia, DEFAULT_API_KEY, UNLISTED_VOICE, VOICES,
};

const TEXT: &str = "Hello from the mock, twice over.";

fn provider(m: &MockCartesia, f: impl FnOnce(&mut CartesiaSettings)) -> CartesiaProvider {
    let mut s = CartesiaSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(m.base_url()),
        first_audio_timeout_ms: 500,
        inactivity_timeout_ms: 500,
        transport: Transport::Rest,
        ..CartesiaSettings::default()
    };
    f(&mut s);
    CartesiaProvider::new(s).unwrap()
}

/// Each chunk's size and sample rate, as the stream hands them out.
async fn pieces(p: &CartesiaProvider, r: SynthesisRequest) -> Vec<(usize, u32)> {
    let mut stream = p.synthesize(r).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = stream.next().await {
        let c = c.unwrap();
        out.push((c.data.len(), c.format.sample_rate));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_native_format_is_asked_of_the_vendor_and_arrives_intact() {
    let m = MockCartesia::start().await;
    let p = provider(&m, |_| {});
    assert!(
        pieces(&p, SynthesisRequest::new(TEXT)).await.len() > 1,
        "audio leaves as it arrives"
    );
    assert_eq!(
        speak(&p, SynthesisRequest::new(TEXT)).await.unwrap(),
        expected_audio(TEXT, AudioFormat::pcm16_mono(24_000))
    );
    for rate in [8_000, 16_000, 22_050, 24_000, 44_100, 48_000] {
        for (encoding, name) in [
            (Encoding::PcmS16le, "pcm_s16le"),
            (Encoding::Mulaw, "pcm_mulaw"),
        ] {
            let format = AudioFormat::mono(encoding, rate);
            let audio = speak(&p, SynthesisRequest::new(TEXT).format(format)).await;
            assert_eq!(
                audio.unwrap(),
                expected_audio(TEXT, format),
                "{name} {rate}"
            );
            let body = m.speech_requests().last().unwrap().json_body().unwrap();
            let asked = &body["output_format"];
            assert_eq!(
                (asked["container"].as_str(), asked["encoding"].as_str()),
                (Some("raw"), Some(name))
            );
            assert_eq!(asked["sample_rate"], rate);
        }
    }
    // A rate Cartesia lacks is asked at 24 kHz and converted locally.
    let r = SynthesisRequest::new(TEXT).format(AudioFormat::pcm16_mono(32_000));
    assert!(pieces(&p, r).await.iter().all(|(_, rate)| *rate == 32_000));
    let body = m.speech_requests().last().unwrap().json_body().unwrap();
    assert_eq!(body["output_format"]["sample_rate"], 24_000);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_version_header_and_the_bearer_key_go_with_every_call() {
    let m = MockCartesia::start().await;
    let p = provider(&m, |_| {});
    speak(&p, SynthesisRequest::new(TEXT)).await.unwrap();
    p.voices().await.unwrap();
    for r in m.kit().requests() {
        assert_eq!(
            r.header("cartesia-version"),
            Some(DEFAULT_VERSION),
            "{}",
            r.path
        );
        assert_eq!(r.header("authorization"), Some("Bearer ***"), "{}", r.path);
        assert_eq!(r.header("x-api-key"), None);
    }
    let body = m.speech_requests()[0].json_body().unwrap();
    assert_eq!(body["model_id"], "sonic-3");
    assert_eq!(body["transcript"], TEXT);
    assert_eq!(body["voice"], serde_json::json!({ "id": VOICES[0].0 }));
    assert!(body.get("language").is_none() && body.get("generation_config").is_none());
    // A pinned older version: the header follows, and so does the voice's shape.
    let old = provider(&m, |s| s.version = "2025-04-16".into());
    let mut r = SynthesisRequest::new(TEXT);
    r.language = Some("fr-FR".into());
    r.speed = Some(1.2);
    speak(&old, r).await.unwrap();
    let last = m.speech_requests().pop().unwrap();
    assert_eq!(last.header("cartesia-version"), Some("2025-04-16"));
    let body = last.json_body().unwrap();
    assert_eq!(body["voice"]["mode"], "id");
    assert_eq!(body["language"], "fr");
    let speed = body["generation_config"]["speed"].as_f64().unwrap();
    assert!((speed - 1.2).abs() < 1e-6);
    // A version that is not a date is refused at start-up.
    let e = CartesiaProvider::new(CartesiaSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        version: "latest".into(),
        ..CartesiaSettings::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn voices_are_listed_page_by_page_with_languages_and_unknown_ids_pass_through() {
    let m = MockCartesia::start().await;
    let p = provider(&m, |_| {});
    let voices = p.voices().await.unwrap();
    assert_eq!(voices.len(), VOICES.len());
    assert_eq!(voices[2].languages, vec!["fr-FR".to_string()]);
    assert_eq!(voices[1].gender.as_deref(), Some("masculine"));
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
    assert!(e.to_string().contains("no-such-voice"), "{e}");
    // A language Cartesia does not speak is refused before any call.
    let before = m.speech_requests().len();
    let mut r = SynthesisRequest::new(TEXT);
    r.language = Some("xh".into());
    let e = speak(&p, r).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(m.speech_requests().len(), before);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_row_of_the_failure_table_in_both_body_shapes() {
    let m = MockCartesia::start().await;
    let p = provider(&m, |_| {});
    let mut cases: Vec<(Fault, ErrorKind, Option<ErrorScope>, &str)> = Vec::new();
    for shape in [ErrorShape::Plain, ErrorShape::Titled] {
        cases.extend([
            (
                error_fault(401, shape, "invalid_api_key", "Invalid API key"),
                ErrorKind::Auth,
                Some(ErrorScope::Provider),
                "invalid api key",
            ),
            (
                error_fault(403, shape, "forbidden", "Version no longer supported"),
                ErrorKind::Auth,
                Some(ErrorScope::Provider),
                "version",
            ),
            (
                error_fault(404, shape, "voice_not_found", "Voice v not found"),
                ErrorKind::NotFound,
                Some(ErrorScope::Request),
                "voice v not found",
            ),
            (
                error_fault(
                    400,
                    shape,
                    "invalid_request",
                    "transcript must not be empty",
                ),
                ErrorKind::InvalidRequest,
                Some(ErrorScope::Request),
                "transcript",
            ),
            (
                error_fault(422, shape, "invalid_request", "bad field"),
                ErrorKind::InvalidRequest,
                Some(ErrorScope::Request),
                "bad field",
            ),
            (
                error_fault(429, shape, "rate_limited", "Concurrency limit exceeded"),
                ErrorKind::RateLimited,
                None,
                "concurrency",
            ),
            (
                error_fault(503, shape, "internal_error", "overloaded"),
                ErrorKind::Unavailable,
                None,
                "overloaded",
            ),
        ]);
    }
    cases.extend([
        (
            Fault::error_frame("boom"),
            ErrorKind::Unavailable,
            None,
            "boom",
        ),
        (Fault::drop_after(3000), ErrorKind::Unavailable, None, ""),
        (
            Fault::stall_before_audio(Stall::Forever),
            ErrorKind::Timeout,
            None,
            "",
        ),
        (
            Fault::stall_after(3000, Stall::Forever),
            ErrorKind::Timeout,
            None,
            "",
        ),
        (Fault::ZeroAudio, ErrorKind::NoAudio, None, ""),
    ]);
    for (fault, kind, scope, word) in cases {
        m.kit().set_fault(fault.clone());
        let e = speak(&p, SynthesisRequest::new(TEXT)).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{fault:?}: {e}");
        if let Some(scope) = scope {
            assert_eq!(e.scope(), scope, "{fault:?}: {e}");
        }
        assert!(
            e.to_string().to_lowercase().contains(word),
            "{fault:?}: {e}"
        );
        assert_eq!(e.provider(), Some("cartesia"));
    }
    // The mock's own refusals: a wrong key, and the request id kept.
    m.kit().set_fault(Fault::None);
    let wrong = provider(&m, |s| s.api_key = Some(Secret::new("wrong-key")));
    let e = speak(&wrong, SynthesisRequest::new(TEXT))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.scope()),
        (ErrorKind::Auth, ErrorScope::Provider)
    );
    assert!(
        e.request_id().is_some_and(|id| id.starts_with("req-mock-")),
        "{e:?}"
    );
    m.shutdown().await;
}
