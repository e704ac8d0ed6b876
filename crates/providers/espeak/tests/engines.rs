//! Both engines against real text: audio, streaming, formats, voices, errors.

use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::audio::pcm;
use voxwire_core::session::SessionEvent;
use voxwire_core::{AudioFormat, Encoding, ErrorKind, SynthesisRequest, TtsProvider};
use voxwire_espeak::{EngineChoice, EngineKind, EspeakProvider, EspeakSettings};

const TIMEOUT: Duration = Duration::from_secs(120);

fn provider(engine: EngineChoice) -> EspeakProvider {
    EspeakProvider::new(EspeakSettings {
        engine,
        ..EspeakSettings::default()
    })
    .expect("engine available")
}

fn system_installed() -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("espeak-ng").is_file()))
        .unwrap_or(false)
}

/// Engines to test: the embedded one always; the system one when installed
/// (the test command installs it, so CI covers both).
fn engines() -> Vec<EngineChoice> {
    let mut e = vec![EngineChoice::Embedded];
    if system_installed() {
        e.push(EngineChoice::System);
    } else {
        eprintln!("espeak-ng is not installed: system engine not tested here");
    }
    e
}

struct Spoken {
    samples: Vec<i16>,
    chunks: usize,
    first_audio: Duration,
    total: Duration,
    format: AudioFormat,
}

async fn speak(p: &EspeakProvider, request: SynthesisRequest) -> Spoken {
    let started = Instant::now();
    let mut stream = p.synthesize(request).await.expect("synthesis starts");
    let mut first = None;
    let mut bytes = Vec::new();
    let mut chunks = 0;
    let mut format = None;
    let mut expected_seq = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        first.get_or_insert_with(|| started.elapsed());
        assert_eq!(chunk.sequence, expected_seq);
        expected_seq += 1;
        assert_eq!(chunk.data.len() % chunk.format.bytes_per_frame(), 0);
        format = Some(chunk.format);
        bytes.extend_from_slice(&chunk.data);
        chunks += 1;
    }
    let format = format.expect("some audio");
    Spoken {
        samples: pcm::decode(format.encoding, &bytes),
        chunks,
        first_audio: first.unwrap_or_default(),
        total: started.elapsed(),
        format,
    }
}

fn seconds(s: &Spoken) -> f64 {
    s.samples.len() as f64 / f64::from(s.format.sample_rate)
}

fn twenty_sentences() -> String {
    (1..=20)
        .map(|i| {
            format!("This is sentence number {i} of the streaming test, spoken clause by clause.")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn each_engine_speaks_audible_english() {
    for engine in engines() {
        let p = provider(engine);
        let s = tokio::time::timeout(
            TIMEOUT,
            speak(&p, SynthesisRequest::new("Hello from voxwire")),
        )
        .await
        .expect("in time");
        let secs = seconds(&s);
        assert!((0.8..5.0).contains(&secs), "{engine:?}: {secs} s");
        assert!(pcm::rms(&s.samples) > 300.0, "{engine:?}: too quiet");
        assert_eq!(s.format, AudioFormat::pcm16_mono(22_050));
    }
}

#[tokio::test]
async fn first_audio_comes_early_in_a_long_text() {
    for engine in engines() {
        let p = provider(engine);
        // Warm up (data unpacking, page cache) so the measurement is of synthesis.
        let _ = speak(&p, SynthesisRequest::new("Warm up.")).await;
        let s = tokio::time::timeout(
            TIMEOUT,
            speak(&p, SynthesisRequest::new(twenty_sentences())),
        )
        .await
        .expect("in time");
        assert!(s.chunks >= 10, "{engine:?}: only {} chunks", s.chunks);
        assert!(
            s.first_audio * 4 < s.total,
            "{engine:?}: first audio after {:?} of {:?}",
            s.first_audio,
            s.total
        );
    }
}

#[tokio::test]
async fn both_engines_give_similar_durations() {
    if !system_installed() {
        eprintln!("espeak-ng is not installed: comparison skipped");
        return;
    }
    let text = "The quick brown fox jumps over the lazy dog. Then it runs away into the forest.";
    let a = speak(&provider(EngineChoice::System), SynthesisRequest::new(text)).await;
    let b = speak(
        &provider(EngineChoice::Embedded),
        SynthesisRequest::new(text),
    )
    .await;
    let (sa, sb) = (seconds(&a), seconds(&b));
    let ratio = sa.max(sb) / sa.min(sb);
    assert!(ratio < 1.15, "system {sa:.2} s vs embedded {sb:.2} s");
}

#[tokio::test]
async fn auto_prefers_the_program_and_falls_back_to_the_port() {
    let missing = EspeakProvider::new(EspeakSettings {
        program: Some("/nonexistent/espeak-ng".into()),
        ..EspeakSettings::default()
    })
    .unwrap();
    assert_eq!(missing.engine_kind(), EngineKind::Embedded);
    assert!(missing.describe().contains("embedded"));
    if system_installed() {
        let auto = provider(EngineChoice::Auto);
        assert_eq!(auto.engine_kind(), EngineKind::System);
        assert!(auto.describe().contains("system"));
    }
    let err = EspeakProvider::new(EspeakSettings {
        engine: EngineChoice::System,
        program: Some("/nonexistent/espeak-ng".into()),
        ..EspeakSettings::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn requested_format_is_delivered() {
    for engine in engines() {
        let p = provider(engine);
        let want = AudioFormat::mono(Encoding::Mulaw, 8_000);
        let s = speak(&p, SynthesisRequest::new("Format check.").format(want)).await;
        assert_eq!(s.format, want);
        let native = speak(&p, SynthesisRequest::new("Format check.")).await;
        let diff = (seconds(&s) - seconds(&native)).abs();
        assert!(diff < 0.01, "{engine:?}: {diff}");
    }
}

#[tokio::test]
async fn unknown_voice_is_not_found_and_voices_are_listed() {
    for engine in engines() {
        let p = provider(engine);
        let voices = p.voices().await.unwrap();
        assert!(voices.iter().any(|v| v.id == "en-us"), "{engine:?}");
        let err = match p
            .synthesize(SynthesisRequest::new("hi").voice("klingon-xx"))
            .await
        {
            Err(e) => e,
            Ok(_) => panic!("{engine:?}: unknown voice accepted"),
        };
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("klingon-xx"), "{err}");
    }
}

#[tokio::test]
async fn empty_text_is_invalid_input() {
    let p = provider(EngineChoice::Embedded);
    let err = match p.synthesize(SynthesisRequest::new("  ")).await {
        Err(e) => e,
        Ok(_) => panic!("blank text accepted"),
    };
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_session_speaks_each_flush_and_cancel_clears() {
    for engine in engines() {
        let p = provider(engine);
        let mut session = p.stream(Default::default()).await.unwrap();
        session.push_text("First utterance.").await.unwrap();
        let first = session.flush().await.unwrap();
        let mut audio_before_done = 0;
        loop {
            match tokio::time::timeout(TIMEOUT, session.next_event())
                .await
                .unwrap()
            {
                Some(Ok(SessionEvent::Audio(c))) => audio_before_done += c.data.len(),
                Some(Ok(SessionEvent::UtteranceDone { id })) => {
                    assert_eq!(id, first);
                    break;
                }
                other => panic!("{engine:?}: unexpected {other:?}"),
            }
        }
        assert!(audio_before_done > 0);
        session.push_text(&twenty_sentences()).await.unwrap();
        session.flush().await.unwrap();
        // Wait for the first audio of the long utterance, then barge in.
        match session.next_event().await {
            Some(Ok(SessionEvent::Audio(_))) => {}
            other => panic!("{engine:?}: expected audio, got {other:?}"),
        }
        let started = Instant::now();
        let generation = session.cancel();
        // Audio queued before the cancel is dropped by the session: the next
        // event must be the acknowledgement.
        let next = tokio::time::timeout(TIMEOUT, session.next_event())
            .await
            .unwrap();
        match next {
            Some(Ok(SessionEvent::Cleared { generation: g })) => assert_eq!(g, generation),
            other => panic!("{engine:?}: expected Cleared, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        session.finish().await.unwrap();
        assert!(session.next_event().await.is_none());
    }
}

#[tokio::test]
async fn every_spelling_of_english_is_spoken_by_both_engines() {
    for engine in engines() {
        let p = provider(engine);
        let caps = p.capabilities();
        assert!(
            caps.languages.iter().any(|t| t == "en") && caps.languages.iter().any(|t| t == "en-us"),
            "{engine:?}: {:?}",
            caps.languages
        );
        for tag in ["en", "EN", "en-US", "en_us", "en-GB", "en-AU", "auto"] {
            let spoken = speak(&p, SynthesisRequest::new("Hello there.").language(tag)).await;
            assert!(seconds(&spoken) > 0.3, "{engine:?} {tag}");
        }
    }
}

#[tokio::test]
async fn the_system_engine_speaks_every_tag_of_its_languages() {
    if !system_installed() {
        eprintln!("espeak-ng is not installed: skipped");
        return;
    }
    let p = provider(EngineChoice::System);
    for tag in ["fr", "fr-CA", "pt-BR", "pt", "zh-Hans", "de-AT", "es-MX"] {
        let spoken = speak(&p, SynthesisRequest::new("Bonjour.").language(tag)).await;
        assert!(seconds(&spoken) > 0.2, "{tag}");
    }
}

#[tokio::test]
async fn a_language_it_does_not_speak_is_a_request_scoped_error() {
    for engine in engines() {
        let p = provider(engine);
        let err = match p
            .synthesize(SynthesisRequest::new("Hi.").language("tlh-Latn"))
            .await
        {
            Err(e) => e,
            Ok(_) => panic!("{engine:?}: Klingon is not spoken"),
        };
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.is_request_scoped());
        assert!(!err.kind().marks_provider_down() || err.is_request_scoped());
        let err = match p
            .synthesize(SynthesisRequest::new("Hi.").voice("nobody"))
            .await
        {
            Err(e) => e,
            Ok(_) => panic!("unknown voice"),
        };
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(
            err.is_request_scoped(),
            "a missing voice never marks espeak down"
        );
    }
}
