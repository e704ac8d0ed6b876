//! The router against the mock xAI server and scripted fakes: retry, failover,
//! resume at the first unfinished sentence, cancel, all-down, recovery.

use std::sync::Arc;
use std::time::{Duration, Instant};
use voxwire_testkit::assert::cancel_after_first_audio;

use futures::StreamExt;
use voxwire_core::session::SessionEvent;
use voxwire_core::{
    AudioFormat, ErrorKind, Secret, StreamConfig, SynthesisRequest, TtsError, TtsProvider,
};
use voxwire_router::{AttemptOutcome, Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::{
    expected_audio, Fault, FaultPlan, MockConfig, MockXai, RequestKind, Stall,
};
use voxwire_xai::{XaiProvider, XaiSettings};

const KEY: &str = "xai-router-test-key";
const LIMIT: Duration = Duration::from_secs(30);

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

async fn mock(fault: Fault) -> MockXai {
    MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_chunk_size(2048)
            .with_faults(FaultPlan::always(fault)),
    )
    .await
}

fn xai(m: &MockXai) -> Arc<dyn TtsProvider> {
    Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(m.base_url()),
            ..XaiSettings::default()
        })
        .unwrap(),
    )
}

fn quick() -> Policy {
    Policy {
        max_retries: 2,
        backoff_base_ms: 10,
        backoff_max_ms: 50,
        first_audio_timeout_ms: Some(1_000),
        inactivity_timeout_ms: 1_000,
        cooldown_ms: 100,
        cooldown_max_ms: 1_000,
        ..Policy::default()
    }
}

fn router(chain: Vec<(Arc<dyn TtsProvider>, Policy)>) -> Router {
    Router::new(chain, RouterSettings::default()).unwrap()
}

async fn speak(r: &Router, text: &str) -> Result<Vec<u8>, TtsError> {
    tokio::time::timeout(LIMIT, async {
        let mut stream = r
            .synthesize(SynthesisRequest::new(text).format(pcm()))
            .await?;
        let mut out = Vec::new();
        let mut seq = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            assert_eq!(chunk.sequence, seq);
            assert_eq!(chunk.format, pcm());
            seq += 1;
            out.extend_from_slice(&chunk.data);
        }
        Ok(out)
    })
    .await
    .expect("finished in time")
}

fn upgrades(m: &MockXai) -> usize {
    m.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .count()
}

fn attempts(events: &mut tokio::sync::broadcast::Receiver<RouterEvent>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let RouterEvent::Attempt(a) = ev {
            out.push((a.provider, a.outcome == AttemptOutcome::Spoke));
        }
    }
    out
}

/// The sentences' expected audio, concatenated.
fn audio_of(sentences: &[&str]) -> Vec<u8> {
    sentences
        .iter()
        .flat_map(|s| expected_audio(s, pcm()))
        .collect()
}

#[tokio::test]
async fn a_403_at_upgrade_fails_over_and_the_primary_is_tried_once() {
    let m = mock(Fault::reject(403, "forbidden")).await;
    let fallback = FakeProvider::new("fallback");
    let r = router(vec![(xai(&m), quick()), (fallback.arc(), quick())]);
    let mut events = r.subscribe();
    let text = "First sentence. Second one. Third one.";
    let out = speak(&r, text).await.unwrap();
    assert_eq!(
        out,
        audio_of(&["First sentence. ", "Second one. ", "Third one."])
    );
    assert_eq!(upgrades(&m), 1, "the primary was tried exactly once");
    assert_eq!(fallback.calls().len(), 3);
    assert!(!r.is_available("xai"));
    let tried = attempts(&mut events);
    assert_eq!(tried[0], ("xai".to_string(), false));
    assert!(tried[1..].iter().all(|(p, ok)| p == "fallback" && *ok));
}

#[tokio::test]
async fn a_429_with_retry_after_waits_then_retries() {
    let m = MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_faults(FaultPlan::first(1, Fault::rate_limited(1))),
    )
    .await;
    let fallback = FakeProvider::new("fallback");
    let r = router(vec![(xai(&m), quick()), (fallback.arc(), quick())]);
    let started = Instant::now();
    let out = speak(&r, "Patience pays.").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out, expected_audio("Patience pays.", pcm()));
    assert!(fallback.calls().is_empty(), "no failover");
    assert_eq!(upgrades(&m), 2);
}

#[tokio::test]
async fn repeated_500s_retry_then_fail_over() {
    let m = mock(Fault::reject(500, "boom")).await;
    let fallback = FakeProvider::new("fallback");
    let r = router(vec![(xai(&m), quick()), (fallback.arc(), quick())]);
    let out = speak(&r, "Keep going.").await.unwrap();
    assert_eq!(out, expected_audio("Keep going.", pcm()));
    assert_eq!(upgrades(&m), 3, "max_retries 2 = three tries");
    assert_eq!(fallback.calls(), vec!["Keep going.".to_string()]);
}

#[tokio::test]
async fn a_stall_times_out_and_fails_over() {
    let m = mock(Fault::stall_before_audio(Stall::Forever)).await;
    let fallback = FakeProvider::new("fallback");
    let policy = Policy {
        max_retries: 0,
        first_audio_timeout_ms: Some(200),
        ..quick()
    };
    let r = router(vec![(xai(&m), policy), (fallback.arc(), quick())]);
    let mut events = r.subscribe();
    let started = Instant::now();
    let out = speak(&r, "Anyone there?").await.unwrap();
    assert_eq!(out, expected_audio("Anyone there?", pcm()));
    assert!(started.elapsed() < Duration::from_secs(2));
    let failed: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            RouterEvent::Attempt(a) => match a.outcome {
                AttemptOutcome::Failed { kind, .. } => Some(kind),
                AttemptOutcome::Spoke | AttemptOutcome::Skipped { .. } => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![ErrorKind::Timeout]);
}

#[tokio::test]
async fn a_close_after_sentence_3_of_10_loses_nothing() {
    let sentences: Vec<String> = (1..=10)
        .map(|i| format!("This is sentence {i}. "))
        .collect();
    let text: String = sentences.concat();
    // On the first connection, utterances 0-2 behave and utterance 3 is cut mid-way.
    let mut script = vec![Fault::None; 3];
    script.push(Fault::close_after(3000));
    let m = MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_chunk_size(1000)
            .with_faults(FaultPlan::script(vec![Fault::Utterances(script)])),
    )
    .await;
    let fallback = FakeProvider::new("fallback");
    let primary = Policy {
        max_retries: 0,
        ..quick()
    };
    // One sentence at a time: with lookahead, sentence 5 may already be
    // streaming from xai when 4 is cut (see `pipelined_failover_loses_nothing`).
    let r = Router::new(
        vec![(xai(&m), primary), (fallback.arc(), quick())],
        RouterSettings {
            lookahead: 0,
            ..RouterSettings::default()
        },
    )
    .unwrap();
    let out = speak(&r, &text).await.unwrap();
    // Sentences 1-3 from xai, part of 4 from xai, then 4-10 from the fallback.
    let head: Vec<u8> = sentences[..3]
        .iter()
        .flat_map(|s| expected_audio(s, pcm()))
        .collect();
    assert_eq!(&out[..head.len()], &head[..]);
    let tail: Vec<u8> = sentences[3..]
        .iter()
        .flat_map(|s| expected_audio(s, pcm()))
        .collect();
    assert_eq!(
        &out[out.len() - tail.len()..],
        &tail[..],
        "sentences 4-10 whole, in order"
    );
    let partial = &out[head.len()..out.len() - tail.len()];
    let fourth = expected_audio(&sentences[3], pcm());
    assert!(partial.len() < fourth.len(), "at most one partial repeat");
    assert_eq!(
        partial,
        &fourth[..partial.len()],
        "the cut piece is a prefix of sentence 4"
    );
    assert_eq!(fallback.calls(), sentences[3..].to_vec());
}

#[tokio::test]
async fn cancel_stops_within_50ms_and_never_fails_over() {
    let primary =
        FakeProvider::new("primary").scripted(vec![], Behaviour::Slow(Duration::from_millis(20)));
    let fallback = FakeProvider::new("fallback");
    let r = router(vec![(primary.arc(), quick()), (fallback.arc(), quick())]);
    let mut session = r
        .stream(StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .await
        .unwrap();
    session
        .push_text("A long sentence that takes its time to speak. And another one.")
        .await
        .unwrap();
    session.flush().await.unwrap();
    let took = cancel_after_first_audio(&mut session, LIMIT).await;
    assert!(took < Duration::from_millis(50), "{took:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(fallback.calls().is_empty(), "a cancel never fails over");
    assert!(r.is_available("primary"), "a cancel marks nothing down");
}

#[tokio::test]
async fn with_every_provider_down_one_error_lists_each_attempt() {
    let a = FakeProvider::new("alpha").scripted(
        vec![],
        Behaviour::Fail(TtsError::new(ErrorKind::Auth, "key rejected")),
    );
    let b = FakeProvider::new("beta").scripted(
        vec![],
        Behaviour::Fail(TtsError::new(ErrorKind::Unavailable, "server down")),
    );
    let r = router(vec![(a.arc(), quick()), (b.arc(), quick())]);
    let err = speak(&r, "Hello?").await.unwrap_err();
    let line = err.to_string();
    assert!(line.contains("every provider failed"), "{line}");
    assert!(
        line.contains("alpha attempt 1: ") && line.contains("key rejected"),
        "{line}"
    );
    for n in 1..=3 {
        assert!(line.contains(&format!("beta attempt {n}: ")), "{line}");
    }
    assert!(line.contains("server down"), "{line}");
    assert!(!line.contains('\n'));
}

#[tokio::test]
async fn invalid_input_never_fails_over() {
    let a =
        FakeProvider::new("alpha").scripted(vec![], Behaviour::Fail(TtsError::invalid_input("no")));
    let b = FakeProvider::new("beta");
    let r = router(vec![(a.arc(), quick()), (b.arc(), quick())]);
    let err = speak(&r, "Hello.").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(b.calls().is_empty());
    let err = speak(&r, "   ").await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidInput,
        "validated before routing"
    );
}

#[tokio::test]
async fn the_probe_restores_a_recovered_primary() {
    let m = mock(Fault::reject(403, "forbidden")).await;
    let fallback = FakeProvider::new("fallback");
    let r = router(vec![(xai(&m), quick()), (fallback.arc(), quick())]);
    let mut events = r.subscribe();
    speak(&r, "One.").await.unwrap();
    assert!(!r.is_available("xai"));
    m.set_fault(FaultPlan::none());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Ok(RouterEvent::Availability {
                provider,
                available: true,
                ..
            })) => {
                assert_eq!(provider, "xai");
                break;
            }
            Ok(_) => continue,
            Err(_) => panic!("no recovery within 5 s"),
        }
    }
    assert!(r.is_available("xai"));
    let before = fallback.calls().len();
    let out = speak(&r, "Two.").await.unwrap();
    assert_eq!(out, expected_audio("Two.", pcm()));
    assert_eq!(fallback.calls().len(), before, "the primary served again");
}

#[tokio::test]
async fn sessions_report_the_provider_change() {
    let primary = FakeProvider::new("primary").scripted(
        vec![
            Behaviour::Speak,
            Behaviour::FailAfter(1, TtsError::new(ErrorKind::Protocol, "garbage")),
        ],
        Behaviour::Speak,
    );
    let fallback = FakeProvider::new("fallback");
    let r = router(vec![(primary.arc(), quick()), (fallback.arc(), quick())]);
    let mut session = r
        .stream(StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .await
        .unwrap();
    session.push_text("One. Two. Three.").await.unwrap();
    session.finish().await.unwrap();
    let mut changes = Vec::new();
    while let Some(ev) = tokio::time::timeout(LIMIT, session.next_event())
        .await
        .unwrap()
    {
        if let SessionEvent::ProviderChanged { from, to, reason } = ev.unwrap() {
            changes.push((from, to, reason));
        }
    }
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (changes[0].0.as_str(), changes[0].1.as_str()),
        ("primary", "fallback")
    );
    assert!(changes[0].2.contains("garbage"), "{:?}", changes[0].2);
}

#[tokio::test]
async fn pieces_never_exceed_a_providers_limit() {
    let small = FakeProvider::new("small").with_max_text_chars(40);
    let r = router(vec![(small.arc(), quick())]);
    let long =
        "This sentence is rather long and keeps going well past forty characters before it ends.";
    let out = speak(&r, long).await.unwrap();
    assert!(
        small.calls().iter().all(|c| c.chars().count() <= 40),
        "{:?}",
        small.calls()
    );
    assert_eq!(small.calls().concat(), long);
    assert_eq!(
        out,
        small
            .calls()
            .iter()
            .flat_map(|c| expected_audio(c, pcm()))
            .collect::<Vec<u8>>()
    );
}

#[tokio::test]
async fn the_caller_gets_its_format_whoever_serves() {
    let primary = FakeProvider::new("primary").scripted(
        vec![],
        Behaviour::Fail(TtsError::new(ErrorKind::Auth, "no")),
    );
    // The fallback only speaks 8 kHz; the caller asked for 24 kHz.
    let narrow = AudioFormat::pcm16_mono(8_000);
    let fallback = FakeProvider::new("fallback").with_format(narrow);
    let r = router(vec![(primary.arc(), quick()), (fallback.arc(), quick())]);
    let text = "Format stays. Whoever speaks.";
    let out = speak(&r, text).await.unwrap();
    // Same duration as the fallback's own audio, at the asked rate.
    let native: usize = fallback
        .calls()
        .iter()
        .map(|c| expected_audio(c, narrow).len())
        .sum();
    let expected = native * 3; // 8 kHz → 24 kHz, same sample width
    let diff = (out.len() as i64 - expected as i64).abs();
    assert!(diff <= 8, "{} vs {expected}", out.len());
}
