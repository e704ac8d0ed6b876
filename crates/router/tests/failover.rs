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
use voxwire_router::{AttemptOutcome, FailoverKind, Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::{
    expected_audio, Fault, FaultPlan, MockConfig, MockXai, RequestKind, Stall,
};
use voxwire_xai::{XaiProvider, XaiSettings};

use voxwire_testkit::dying::{Dying, CHUNK};

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
    assert!(
        changes[0].2.message.contains("garbage"),
        "{:?}",
        changes[0].2
    );
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

// ---- failover without repeats: held audio of a failed attempt is dropped ----

/// The dying entries' pause before each chunk: the router hands on each
/// chunk of the sentence in front before the next one comes.
const PACE: Duration = Duration::from_millis(3);

const SIX: [&str; 6] = [
    "The first sentence is here. ",
    "Then comes a second one. ",
    "A third follows it. ",
    "The fourth is longer than most. ",
    "Fifth in line. ",
    "And the sixth ends it.",
];

/// What was heard, parsed back into `sentences`: for each, in order, the
/// bytes of its cut-off starts heard before it was heard whole (each a
/// whole number of chunks); `None` when a sentence is never heard whole
/// there (something was lost or is out of order).
fn repeats(out: &[u8], sentences: &[&str]) -> Option<Vec<usize>> {
    let mut p = 0;
    let mut per_sentence = Vec::new();
    for sentence in sentences {
        let whole = expected_audio(sentence, pcm());
        let mut twice = 0;
        while !out[p..].starts_with(&whole) {
            let cut = (1..)
                .map(|n| n * CHUNK)
                .take_while(|&l| l < whole.len() && p + l <= out.len())
                .filter(|&l| out[p..p + l] == whole[..l])
                .find(|&l| out[p + l..].starts_with(&whole[..CHUNK]))?;
            twice += cut;
            p += cut;
        }
        p += whole.len();
        per_sentence.push(twice);
    }
    (p == out.len()).then_some(per_sentence)
}

fn router_of(chain: Vec<Arc<dyn TtsProvider>>, settings: RouterSettings) -> Router {
    Router::new(chain.into_iter().map(|p| (p, quick())).collect(), settings).unwrap()
}

async fn next(session: &mut voxwire_core::SynthesisSession) -> SessionEvent {
    tokio::time::timeout(LIMIT, session.next_event())
        .await
        .expect("an event in time")
        .expect("the session is open")
        .expect("no error")
}

fn failovers(events: &mut tokio::sync::broadcast::Receiver<RouterEvent>) -> Vec<RouterEvent> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| matches!(e, RouterEvent::Failover { .. } | RouterEvent::Attempt(_)))
        .collect()
}

#[tokio::test]
async fn held_partial_audio_of_a_failed_attempt_is_never_heard() {
    // The primary dies after 20 chunks over all its streams: sentence 1 is
    // being heard, sentences 2-6 were requested ahead and have audio waiting.
    let primary = Dying::new("primary", 20 * CHUNK, PACE);
    let backup = FakeProvider::new("backup");
    let r = router_of(vec![primary.arc(), backup.arc()], RouterSettings::default());
    let mut events = r.subscribe();
    let out = speak(&r, &SIX.concat()).await.unwrap();
    // (A recovery probe may follow.)
    assert_eq!(
        primary.calls()[..6],
        SIX.to_vec(),
        "all six were requested ahead"
    );
    let mut failed_over = backup.calls();
    failed_over.sort_by_key(|c| SIX.iter().position(|s| s == c));
    assert_eq!(failed_over, SIX.to_vec(), "and all six failed over");
    let events = failovers(&mut events);
    let held: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Attempt(a) if a.entry == "primary" && a.piece > 0 => {
                Some(a.audio_received.as_millis() as usize)
            }
            _ => None,
        })
        .collect();
    assert!(
        held.iter().filter(|&&ms| ms > 0).count() >= 3,
        "the primary sent audio of several later sentences before it died: {held:?}"
    );
    let dropped_but_counted: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Attempt(a) if a.entry == "primary" && a.piece > 0 => {
                Some(a.audio).filter(|d| !d.is_zero())
            }
            _ => None,
        })
        .collect();
    assert!(
        dropped_but_counted.is_empty(),
        "their audio was dropped unheard, so no audio counts as handed on: {dropped_but_counted:?}"
    );
    let twice = repeats(&out, &SIX).expect("every sentence heard whole, in order");
    assert!(
        twice[0] > 0,
        "sentence 1 was being heard: it is replayed once"
    );
    assert_eq!(
        twice[1..],
        [0; 5],
        "sentences 2-6 are heard exactly once, from the backup"
    );
    // The exact bytes: a cut-off start of sentence 1, then all six whole.
    let mut expected = expected_audio(SIX[0], pcm())[..twice[0]].to_vec();
    expected.extend(audio_of(&SIX));
    assert!(out == expected);
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Failover { from, to, .. } => Some((from.as_str(), to.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [("primary", "backup")],
        "one failover, reported once"
    );
}

#[tokio::test]
async fn a_held_complete_sentence_is_kept() {
    let long = "This first sentence goes on for long enough to be cut into many chunks of audio. ";
    let short = "Ok. ";
    let last = "And the last sentence is long enough to still be going when the entry dies.";
    // Sentence 2 (three chunks) is complete long before the primary dies,
    // while sentence 1 is still being heard.
    let primary = Dying::new("primary", 24 * CHUNK, PACE);
    let backup = FakeProvider::new("backup");
    let r = router_of(vec![primary.arc(), backup.arc()], RouterSettings::default());
    let mut events = r.subscribe();
    let (out, changes) = hear(&r, &[long, short, last].concat()).await;
    let mut asked = backup.calls();
    asked.sort_by_key(|c| c != long);
    assert_eq!(
        asked,
        vec![long.to_string(), last.to_string()],
        "the complete sentence was not asked again"
    );
    let twice = repeats(&out, &[long, short, last]).expect("every sentence whole, in order");
    assert!(twice[0] > 0 && twice[1..] == [0, 0], "{twice:?}");
    // The listener is told of each change of voice, the kept sentence's too.
    let voices: Vec<_> = changes
        .iter()
        .map(|(from, to, _)| (from.as_str(), to.as_str()))
        .collect();
    assert_eq!(
        voices,
        [
            ("primary", "backup"),
            ("backup", "primary"),
            ("primary", "backup")
        ],
        "{changes:?}"
    );
    assert_eq!(
        changes[1].2.kind,
        voxwire_core::FailoverKind::Kept,
        "{changes:?}"
    );
    assert!(changes[1].2.message.ends_with(": kept"), "{changes:?}");
    // The router reports one failover, with its kind.
    let reported: Vec<_> = failovers(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Failover { from, to, reason } => Some((from, to, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(reported.len(), 1, "{reported:?}");
    let (from, to, reason) = &reported[0];
    assert_eq!((from.as_str(), to.as_str()), ("primary", "backup"));
    assert_eq!(reason.kind, FailoverKind::Failed(ErrorKind::Unavailable));
    assert_eq!(reason.label(), "unavailable");
    assert!(reason.message.contains("connection reset"), "{reason:?}");
}

/// Speaks `text` in a session: the audio and each `ProviderChanged`.
async fn hear(
    r: &Router,
    text: &str,
) -> (Vec<u8>, Vec<(String, String, voxwire_core::FailoverReason)>) {
    let mut session = r
        .stream(StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .await
        .unwrap();
    session.push_text(text).await.unwrap();
    session.finish().await.unwrap();
    let (mut out, mut changes) = (Vec::new(), Vec::new());
    while let Some(ev) = tokio::time::timeout(LIMIT, session.next_event())
        .await
        .unwrap()
    {
        match ev.unwrap() {
            SessionEvent::Audio(chunk) => out.extend_from_slice(&chunk.data),
            SessionEvent::ProviderChanged { from, to, reason } => changes.push((from, to, reason)),
            _ => {}
        }
    }
    (out, changes)
}

#[tokio::test]
async fn two_failovers_in_one_utterance_repeat_at_most_two_sentences_once() {
    let a = Dying::new("a", 16 * CHUNK, PACE);
    let b = Dying::new("b", 40 * CHUNK, PACE);
    let c = FakeProvider::new("c");
    let r = router_of(vec![a.arc(), b.arc(), c.arc()], RouterSettings::default());
    let out = speak(&r, &SIX.concat()).await.unwrap();
    assert!(!r.is_available("a") && !r.is_available("b"), "both died");
    assert!(!c.calls().is_empty());
    let twice = repeats(&out, &SIX).expect("every sentence heard whole, in order");
    let repeated = twice.iter().filter(|&&t| t > 0).count();
    assert!(
        (1..=2).contains(&repeated),
        "at most one sentence per failover is heard partly twice: {twice:?}"
    );
}

#[tokio::test]
async fn a_failure_while_the_first_sentence_is_the_only_one_in_flight() {
    let primary = Dying::new("primary", 2 * CHUNK, PACE);
    let backup = FakeProvider::new("backup");
    let r = router_of(
        vec![primary.arc(), backup.arc()],
        RouterSettings {
            lookahead: 0,
            ..RouterSettings::default()
        },
    );
    let three = &SIX[..3];
    let out = speak(&r, &three.concat()).await.unwrap();
    assert_eq!(primary.calls()[0], SIX[0]);
    assert!(
        !primary.calls()[1..]
            .iter()
            .any(|c| three.contains(&c.as_str())),
        "(a recovery probe may follow)"
    );
    assert_eq!(backup.calls(), three.to_vec());
    // Two chunks heard from the primary, then the backup's whole sentence 1:
    // the one replay the duplicate bound allows.
    let mut expected = expected_audio(SIX[0], pcm())[..2 * CHUNK].to_vec();
    expected.extend(audio_of(three));
    heard_exactly(&out, &expected);
}

#[tokio::test]
async fn cancel_during_a_failover_hears_nothing_held_and_then_speaks_whole() {
    let primary = Dying::new("primary", 20 * CHUNK, PACE);
    let backup =
        FakeProvider::new("backup").scripted(vec![], Behaviour::Slow(Duration::from_millis(5)));
    let r = router_of(vec![primary.arc(), backup.arc()], RouterSettings::default());
    let mut session = r
        .stream(StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .await
        .unwrap();
    session.push_text(&SIX.concat()).await.unwrap();
    session.flush().await.unwrap();
    // Up to the failover, then one chunk of the backup's audio.
    loop {
        if let SessionEvent::ProviderChanged { .. } = next(&mut session).await {
            break;
        }
    }
    loop {
        if let SessionEvent::Audio(_) = next(&mut session).await {
            break;
        }
    }
    let generation = session.cancel();
    loop {
        match next(&mut session).await {
            SessionEvent::Cleared { generation: g } => {
                assert_eq!(g, generation);
                break;
            }
            SessionEvent::Audio(_) => {} // sent before the cancel was read
            other => panic!("{other:?}"),
        }
    }
    let after = "Said after the cancel.";
    session.push_text(after).await.unwrap();
    let id = session.flush().await.unwrap();
    let mut out = Vec::new();
    loop {
        match next(&mut session).await {
            SessionEvent::Audio(chunk) => out.extend_from_slice(&chunk.data),
            SessionEvent::UtteranceDone { id: done } => {
                assert_eq!(done, id);
                break;
            }
            SessionEvent::Serving { entry, .. } => assert_eq!(entry, "backup"),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        out == expected_audio(after, pcm()),
        "nothing of the cancelled sentences, the new one whole"
    );
    assert!(!r.is_available("primary"));
}

#[tokio::test]
async fn a_held_sentence_of_an_entry_another_sentence_saw_die_is_spoken_again_whole() {
    let dies = TtsError::new(ErrorKind::Unavailable, "connection reset");
    // Sentence 1 streams whole; sentence 2 streams slowly, held behind it;
    // sentence 3's stream dies after its first chunk, once sentence 1 is
    // being heard. The primary is then known dead: sentence 2's held audio
    // is not started, but spoken again.
    let primary = FakeProvider::new("primary").scripted(
        vec![
            Behaviour::Slow(Duration::from_millis(5)),
            Behaviour::Slow(Duration::from_millis(20)),
            Behaviour::SlowFailAfter(Duration::from_millis(30), 1, dies),
        ],
        Behaviour::Speak,
    );
    let backup = FakeProvider::new("backup");
    let r = router_of(vec![primary.arc(), backup.arc()], RouterSettings::default());
    let three = &SIX[..3];
    let out = speak(&r, &three.concat()).await.unwrap();
    // (A recovery probe may follow.)
    assert_eq!(primary.calls()[..3], three.to_vec());
    let mut failed_over = backup.calls();
    failed_over.sort_by_key(|c| SIX.iter().position(|s| s == c));
    assert_eq!(failed_over, three[1..].to_vec());
    assert!(out == audio_of(three), "each sentence heard once, whole");
}

#[tokio::test]
async fn with_one_entry_a_held_sentence_it_spoke_whole_is_spoken_again_not_lost() {
    let dies = TtsError::new(ErrorKind::Unavailable, "connection reset");
    // As above, with no backup: sentence 2, dropped because the entry died
    // on sentence 3, is asked of the same entry again; sentence 3 fails.
    let only = FakeProvider::new("only").scripted(
        vec![
            Behaviour::Slow(Duration::from_millis(5)),
            Behaviour::Slow(Duration::from_millis(20)),
            Behaviour::FailAfter(1, dies),
        ],
        Behaviour::Speak,
    );
    let r = router_of(vec![only.arc()], RouterSettings::default());
    let three = &SIX[..3];
    let mut stream = r
        .synthesize(SynthesisRequest::new(three.concat()).format(pcm()))
        .await
        .unwrap();
    let mut out = Vec::new();
    let error = loop {
        match tokio::time::timeout(LIMIT, stream.next()).await.unwrap() {
            Some(Ok(chunk)) => out.extend_from_slice(&chunk.data),
            Some(Err(e)) => break e,
            None => panic!("sentence 3 cannot be spoken"),
        }
    };
    assert!(
        error.to_string().contains("every provider failed"),
        "{error}"
    );
    assert!(out == audio_of(&three[..2]), "sentences 1 and 2, once each");
    assert_eq!(only.calls().iter().filter(|c| *c == SIX[1]).count(), 2);
}

/// A router of `chain` with no sentence requested ahead (one stream at a time).
fn one_at_a_time(chain: Vec<Arc<dyn TtsProvider>>) -> Router {
    router_of(
        chain,
        RouterSettings {
            lookahead: 0,
            ..RouterSettings::default()
        },
    )
}

// "The first sentence is here. ": 60 ms a character (2,880 bytes), so
// "first" ends at 0.54 s (25,920 bytes) and "sentence" at 1.08 s.
const FIRST_ENDS: usize = 25_920;

#[tokio::test]
async fn with_word_times_a_failover_resumes_at_the_word_being_heard() {
    // The primary dies after 7 chunks (28,672 bytes: "The first" and part of
    // the pause after it). The backup reports word times: its audio is
    // dropped up to the end of "first", so only that part of the pause is
    // heard twice, and "sentence" follows.
    let primary = Dying::new("primary", 7 * CHUNK, PACE).with_word_times();
    let backup = Dying::new("backup", usize::MAX, PACE).with_word_times();
    let r = one_at_a_time(vec![primary.arc(), backup.arc()]);
    let three = &SIX[..3];
    let out = speak(&r, &three.concat()).await.unwrap();
    assert_eq!(backup.calls(), three.to_vec(), "the backup spoke it whole");
    let first = expected_audio(SIX[0], pcm());
    let mut expected = first[..7 * CHUNK].to_vec();
    expected.extend_from_slice(&first[FIRST_ENDS..]);
    expected.extend(audio_of(&three[1..]));
    heard_exactly(&out, &expected);
}

/// `out` is `expected`, byte for byte.
fn heard_exactly(out: &[u8], expected: &[u8]) {
    assert!(
        out == expected,
        "{} bytes, {} expected",
        out.len(),
        expected.len()
    );
}

#[tokio::test]
async fn with_word_times_two_failovers_each_repeat_less_than_a_word() {
    // a dies inside the pause after "first"; b resumes there and dies inside
    // "sentence" (at 1.024 s); c resumes at the end of "first" again.
    let a = Dying::new("a", 7 * CHUNK, PACE).with_word_times();
    let b = Dying::new("b", 12 * CHUNK, PACE).with_word_times();
    let c = Dying::new("c", usize::MAX, PACE).with_word_times();
    let r = one_at_a_time(vec![a.arc(), b.arc(), c.arc()]);
    let out = speak(&r, &SIX[..2].concat()).await.unwrap();
    let first = expected_audio(SIX[0], pcm());
    let mut expected = first[..7 * CHUNK].to_vec();
    expected.extend_from_slice(&first[FIRST_ENDS..12 * CHUNK]);
    expected.extend_from_slice(&first[FIRST_ENDS..]);
    expected.extend(audio_of(&SIX[1..2]));
    heard_exactly(&out, &expected);
}

#[tokio::test]
async fn word_times_in_a_session_follow_the_audio_across_a_failover() {
    // Every word the session reports is where its audio is: the audio at
    // the word's start time is its first character's.
    let primary = Dying::new("primary", 7 * CHUNK, PACE).with_word_times();
    let backup = Dying::new("backup", usize::MAX, PACE).with_word_times();
    let r = one_at_a_time(vec![primary.arc(), backup.arc()]);
    let text = SIX[..2].concat();
    let mut session = r
        .stream(StreamConfig {
            format: Some(pcm()),
            ..Default::default()
        })
        .await
        .unwrap();
    session.push_text(&text).await.unwrap();
    session.finish().await.unwrap();
    let (mut out, mut words) = (Vec::new(), Vec::new());
    while let Some(ev) = tokio::time::timeout(LIMIT, session.next_event())
        .await
        .unwrap()
    {
        if let SessionEvent::Audio(chunk) = ev.unwrap() {
            out.extend_from_slice(&chunk.data);
            words.extend(chunk.words);
        }
    }
    let spoken: Vec<&str> = words
        .iter()
        .map(|w| &text[w.span.start..w.span.end])
        .collect();
    assert_eq!(
        spoken,
        ["The", "first", "sentence", "is", "here.", "Then", "comes", "a", "second", "one."],
        "each word once, in order: the dead take's unheard words are not reported"
    );
    for w in &words {
        let at = pcm().bytes_per_frame()
            * (w.start.as_secs_f64() * f64::from(pcm().sample_rate)).round() as usize;
        let ch = text[w.span.start..].chars().next().unwrap();
        let tone = expected_audio(&ch.to_string(), pcm());
        assert!(
            out[at..].starts_with(&tone),
            "{:?} at {:?} is not where its audio is",
            &text[w.span.start..w.span.end],
            w.start
        );
    }
}

#[tokio::test]
async fn held_sentences_of_an_entry_that_died_fail_over_at_once_not_after_their_timeout() {
    // Sentence 1 dies mid-stream; sentences 2 and 3, requested ahead on the
    // same entry, get no audio at all (a stalled socket). They fail over as
    // soon as sentence 1's stream saw the entry die, not after their own
    // 5 s first-audio timeout.
    let unavailable = TtsError::new(ErrorKind::Unavailable, "connection reset");
    let primary = FakeProvider::new("primary").scripted(
        vec![
            Behaviour::SlowFailAfter(Duration::from_millis(20), 3, unavailable),
            Behaviour::Stall,
            Behaviour::Stall,
        ],
        Behaviour::Speak,
    );
    let backup = FakeProvider::new("backup");
    let slow_to_give_up = Policy {
        max_retries: 0,
        first_audio_timeout_ms: Some(5_000),
        inactivity_timeout_ms: 5_000,
        ..Policy::default()
    };
    let r = router(vec![
        (primary.arc(), slow_to_give_up.clone()),
        (backup.arc(), slow_to_give_up),
    ]);
    let three = &SIX[..3];
    let started = Instant::now();
    let out = speak(&r, &three.concat()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        primary.calls()[..3],
        three.to_vec(),
        "all three asked ahead"
    );
    let twice = repeats(&out, three).expect("every sentence heard whole, in order");
    assert_eq!(twice[1..], [0, 0], "2 and 3 heard once, from the backup");
    assert!(
        took < Duration::from_secs(2),
        "took {took:?}: the held sentences waited for their own timeout"
    );
}
