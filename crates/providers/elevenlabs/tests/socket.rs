//! ElevenLabs' multi-context socket on the shared-socket path, against the
//! mock's `multi-stream-input`: what users of other frameworks hit, each a
//! test (the notes' complaints), plus sharing, spellings and times.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::session::{SessionEvent, StreamConfig};
use voxwire_core::{
    AudioChunk, AudioFormat, ErrorKind, ErrorScope, Secret, SynthesisRequest, TtsError, TtsProvider,
};
use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings};
use voxwire_testkit::kit::audio::{expected_audio, expected_words};
use voxwire_testkit::kit::{Fault, Rejection};
use voxwire_testkit::mock_elevenlabs::{MockElevenLabs, Switches, DEFAULT_API_KEY};

const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);

fn text_of(i: usize) -> String {
    format!("Utterance number {i} on the shared socket.")
}

fn provider(m: &MockElevenLabs, f: impl FnOnce(&mut ElevenLabsSettings)) -> ElevenLabsProvider {
    let mut s = ElevenLabsSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(m.base_url()),
        first_audio_timeout_ms: 3_000,
        inactivity_timeout_ms: 3_000,
        stability: Some(0.5),
        ..ElevenLabsSettings::default()
    };
    f(&mut s);
    ElevenLabsProvider::new(s).unwrap()
}

async fn speak(p: &ElevenLabsProvider, text: &str) -> Result<Vec<AudioChunk>, TtsError> {
    let mut stream = p
        .synthesize(SynthesisRequest::new(text).format(FORMAT))
        .await?;
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk?);
    }
    Ok(chunks)
}

fn audio(chunks: &[AudioChunk]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.data.iter().copied()).collect()
}

async fn start(f: impl FnOnce(&mut Switches)) -> MockElevenLabs {
    let mut switches = Switches::default();
    f(&mut switches);
    MockElevenLabs::start_with(DEFAULT_API_KEY, switches).await
}

#[tokio::test]
async fn ten_concurrent_utterances_share_two_sockets_settings_once_each_every_byte_right() {
    let m = start(|s| s.socket_chunk_delay = Duration::from_millis(10)).await;
    let p = provider(&m, |_| {});
    let said = futures::future::join_all((0..10).map(|i| {
        let p = p.clone();
        async move { speak(&p, &text_of(i)).await }
    }))
    .await;
    for (i, chunks) in said.into_iter().enumerate() {
        assert_eq!(audio(&chunks.unwrap()), expected_audio(&text_of(i), FORMAT));
    }
    let counts = m.sockets();
    assert_eq!(
        counts.opened.load(Ordering::SeqCst),
        2,
        "two sockets of five"
    );
    assert!(counts.peak_contexts.load(Ordering::SeqCst) <= 5);
    assert_eq!(
        counts.voice_settings.load(Ordering::SeqCst),
        2,
        "voice_settings only on each socket's first context"
    );
}

#[tokio::test]
async fn chunks_carry_the_vendors_word_times_in_either_spelling() {
    for snake in [false, true] {
        let m = start(|s| s.snake_case_socket = snake).await;
        let p = provider(&m, |_| {});
        let text = "Times from the socket, word by word.";
        let chunks = speak(&p, text).await.unwrap();
        assert_eq!(
            audio(&chunks),
            expected_audio(text, FORMAT),
            "snake {snake}"
        );
        let words: Vec<_> = chunks.iter().flat_map(|c| c.words.clone()).collect();
        assert_eq!(words, expected_words(text), "snake {snake}");
    }
}

#[tokio::test]
async fn quota_exhausted_contexts_end_silent_and_that_is_a_provider_scoped_no_audio_naming_the_quota(
) {
    let m = start(|s| s.quota_exhausted = true).await;
    let p = provider(&m, |_| {});
    let e = speak(&p, "Nothing will be heard.").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoAudio, "{e}");
    assert_eq!(e.scope(), ErrorScope::Provider, "{e}");
    assert!(e.to_string().contains("quota"), "{e}");
}

#[tokio::test]
async fn rapid_barge_ins_never_open_a_sixth_context_and_the_next_turn_is_spoken() {
    let m = start(|s| s.socket_chunk_delay = Duration::from_millis(20)).await;
    let p = provider(&m, |s| s.sockets = 1);
    // The socket is open before the turns (no dial is cut short).
    TtsProvider::prewarm(&p).await.unwrap();
    // Thirty turns, each cut a few milliseconds after it starts.
    for i in 0..30 {
        let p = p.clone();
        let text = text_of(i);
        let _ = tokio::time::timeout(Duration::from_millis(5 + (i as u64 % 7) * 5), async move {
            let _ = speak(&p, &text).await;
        })
        .await;
    }
    let chunks = speak(&p, "After the barge-ins.").await.unwrap();
    assert_eq!(
        audio(&chunks),
        expected_audio("After the barge-ins.", FORMAT)
    );
    let counts = m.sockets();
    assert!(counts.peak_contexts.load(Ordering::SeqCst) <= 5);
    assert_eq!(counts.policy_closes.load(Ordering::SeqCst), 0, "no 1008");
    assert_eq!(
        counts.opened.load(Ordering::SeqCst),
        1,
        "the one socket carried every turn"
    );
}

#[tokio::test]
async fn a_second_turn_of_a_session_sends_no_voice_settings_again() {
    let m = start(|_| {}).await;
    let p = provider(&m, |_| {});
    let config = StreamConfig {
        format: Some(FORMAT),
        ..StreamConfig::default()
    };
    let mut session = p.stream(config).await.unwrap();
    let mut heard = Vec::new();
    for turn in ["First turn of the session.", "Second turn, same socket."] {
        session.push_text(turn).await.unwrap();
        let id = session.flush().await.unwrap();
        let mut got = Vec::new();
        loop {
            match session.next_event().await.unwrap().unwrap() {
                SessionEvent::Audio(c) => got.extend_from_slice(&c.data),
                SessionEvent::UtteranceDone { id: done } if done == id => break,
                _ => {}
            }
        }
        heard.push(got);
    }
    assert_eq!(
        heard[0],
        expected_audio("First turn of the session.", FORMAT)
    );
    assert_eq!(
        heard[1],
        expected_audio("Second turn, same socket.", FORMAT)
    );
    let counts = m.sockets();
    assert_eq!(counts.opened.load(Ordering::SeqCst), 1);
    assert_eq!(counts.voice_settings.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_next_turn_after_the_vendors_silence_close_is_spoken_on_a_fresh_socket() {
    // The vendor closes a socket 400 ms (20 s in life) after its last message.
    let m = start(|s| s.socket_inactivity = Duration::from_millis(400)).await;
    let p = provider(&m, |_| {});
    let first = speak(&p, "Before the pause.").await.unwrap();
    assert_eq!(audio(&first), expected_audio("Before the pause.", FORMAT));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = speak(&p, "After the pause.").await.unwrap();
    assert_eq!(audio(&second), expected_audio("After the pause.", FORMAT));
    assert_eq!(m.sockets().opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_without_a_context_then_a_close_fails_every_pending_context_at_once() {
    let m = start(|s| s.socket_chunk_delay = Duration::from_millis(30)).await;
    let p = provider(&m, |s| s.sockets = 1);
    let started = Instant::now();
    let texts = [
        "A long one that the failure will cut short.".to_string(),
        "Another long one that it will cut as well.".to_string(),
        "This one makes it crash.".to_string(),
    ];
    let said = futures::future::join_all(texts.iter().map(|t| {
        let p = p.clone();
        async move { speak(&p, t).await }
    }))
    .await;
    for r in said {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert!(e.to_string().contains("internal error"), "{e}");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "failed at once");
}

#[tokio::test]
async fn eleven_v3_is_spoken_over_rest_never_dialled_on_the_socket() {
    let m = start(|_| {}).await;
    let p = provider(&m, |s| s.model = "eleven_v3".into());
    let chunks = speak(&p, "Spoken over REST.").await.unwrap();
    assert_eq!(audio(&chunks), expected_audio("Spoken over REST.", FORMAT));
    assert_eq!(m.kit().upgrades(), 0);
}

#[tokio::test]
async fn a_connection_cap_at_the_upgrade_backs_off_instead_of_dialling_again() {
    let m = start(|_| {}).await;
    m.set_fault(Fault::RejectWebSocket(Rejection {
        status: 429,
        body: r#"{"detail":{"status":"too_many_concurrent_requests","message":"busy"}}"#.into(),
        retry_after: Some(30),
        headers: vec![],
    }));
    let p = provider(&m, |_| {});
    let first = speak(&p, "Refused.").await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::RateLimited, "{first}");
    let second = speak(&p, "Backed off.").await.unwrap_err();
    assert_eq!(second.kind(), ErrorKind::RateLimited, "{second}");
    let dialled = m
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("multi-stream-input"))
        .count();
    assert_eq!(dialled, 1, "the back-off dialled nothing more");
}

#[tokio::test]
async fn the_doctor_checks_the_socket_too_and_names_what_works() {
    let m = start(|_| {}).await;
    let p = provider(&m, |_| {});
    let report = p.diagnose().await;
    assert!(report.checks.iter().all(|c| c.passed()), "{report:?}");
    assert!(m.kit().upgrades() >= 1, "the doctor dialled the socket");
    m.set_fault(Fault::RejectWebSocket(Rejection {
        status: 403,
        body: r#"{"detail":{"status":"invalid_api_key","message":"no"}}"#.into(),
        retry_after: None,
        headers: vec![],
    }));
    let report = p.diagnose().await;
    assert!(
        report.checks.iter().any(|c| !c.passed()),
        "a refused upgrade fails a check: {report:?}"
    );
}
