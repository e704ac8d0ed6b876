//! Routing beyond failover: first-audio service levels, weighted groups,
//! hedged first audio and per-entry usage, on scripted fakes (and the mock
//! xAI server where a real socket has to be cancelled).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use voxwire_core::session::SessionEvent;
use voxwire_core::{
    AudioFormat, ErrorKind, Secret, StreamConfig, SynthesisRequest, TtsError, TtsProvider,
};
use voxwire_router::{
    AttemptOutcome, AttemptRecord, Entry, FailoverKind, FailoverReason, Policy, Router,
    RouterEvent, RouterSettings,
};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::{
    expected_audio, Fault, FaultPlan, MockConfig, MockXai, RequestKind, Stall,
};
use voxwire_xai::{XaiProvider, XaiSettings};

const LIMIT: Duration = Duration::from_secs(20);

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

fn quick() -> Policy {
    Policy {
        max_retries: 0,
        first_audio_timeout_ms: Some(5_000),
        inactivity_timeout_ms: 5_000,
        cooldown_ms: 60_000,
        cooldown_max_ms: 60_000,
        ..Policy::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn router(entries: Vec<(&FakeProvider, Policy)>) -> Router {
    Router::with_entries(
        entries
            .into_iter()
            .map(|(f, p)| Entry::new(f.arc(), p))
            .collect(),
        RouterSettings::default(),
    )
    .unwrap()
}

async fn speak(r: &Router, text: &str) -> Result<Vec<u8>, TtsError> {
    tokio::time::timeout(LIMIT, async {
        let mut stream = r
            .synthesize(SynthesisRequest::new(text).format(pcm()))
            .await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?.data);
        }
        Ok(out)
    })
    .await
    .expect("within the limit")
}

/// Speaks `text` and checks it was heard exactly once, whole.
async fn hear(r: &Router, text: &str) {
    let out = speak(r, text).await.unwrap();
    let want = expected_audio(text, pcm());
    assert!(
        out == want,
        "{text:?}: {} bytes heard, {} expected",
        out.len(),
        want.len()
    );
}

fn drain(rx: &mut tokio::sync::broadcast::Receiver<RouterEvent>) -> Vec<RouterEvent> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn records(events: &[RouterEvent]) -> Vec<AttemptRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Attempt(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn latency_events(events: &[RouterEvent]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            RouterEvent::Latency {
                entry, degraded, ..
            } => Some((entry.clone(), *degraded)),
            _ => None,
        })
        .collect()
}

fn cancelled(a: &AttemptRecord) -> bool {
    matches!(&a.outcome, AttemptOutcome::Failed { kind, .. } if *kind == ErrorKind::Cancelled)
}

// ---- 1. first-audio service level ----

#[tokio::test]
async fn slow_first_audios_in_a_row_degrade_an_entry_and_fast_ones_restore_it() {
    let slow = Behaviour::FirstAudioAfter(ms(400));
    let a = FakeProvider::new("a").scripted(
        vec![slow.clone(), Behaviour::Speak, slow.clone(), slow],
        Behaviour::Speak,
    );
    let b = FakeProvider::new("b");
    let slo = Policy {
        first_audio_slo_ms: Some(150),
        slow_strikes: 2,
        fast_to_restore: 2,
        ..quick()
    };
    let r = router(vec![(&a, slo), (&b, quick())]);
    let mut rx = r.subscribe();
    // slow, fast (the run is broken), slow, slow: degraded after the fourth.
    for text in ["One.", "Two.", "Three.", "Four."] {
        hear(&r, text).await;
    }
    assert_eq!(a.calls(), vec!["One.", "Two.", "Three.", "Four."]);
    assert!(r.is_degraded("a") && r.is_available("a"));
    let events = drain(&mut rx);
    assert_eq!(latency_events(&events), vec![("a".to_string(), true)]);

    // Degraded: behind the healthy b, which serves now.
    hear(&r, "Five.").await;
    assert_eq!(b.calls(), vec!["Five."]);
    assert_eq!(a.calls().len(), 4, "a is not asked while b is up");
    let events = drain(&mut rx);
    assert!(
        events.iter().any(|e| matches!(e, RouterEvent::Failover { from, to, reason } if from == "a" && to == "b" && reason.kind == FailoverKind::Degraded && reason.message.contains("service level"))),
        "{events:?}"
    );

    // b goes down: the degraded a is still used when nothing better is up,
    // and two fast answers in a row restore it.
    b.set(Behaviour::Fail(TtsError::new(
        ErrorKind::Auth,
        "key revoked",
    )));
    hear(&r, "Six.").await;
    assert!(r.is_degraded("a"));
    hear(&r, "Seven.").await;
    assert!(!r.is_degraded("a"));
    assert_eq!(a.calls()[4..], ["Six.", "Seven."]);
    let events = drain(&mut rx);
    assert_eq!(latency_events(&events), vec![("a".to_string(), false)]);
}

#[tokio::test]
async fn a_probe_within_the_service_level_restores_a_degraded_entry() {
    let a = FakeProvider::new("a")
        .scripted(vec![Behaviour::FirstAudioAfter(ms(400))], Behaviour::Speak);
    let b = FakeProvider::new("b");
    let slo = Policy {
        first_audio_slo_ms: Some(150),
        slow_strikes: 1,
        cooldown_ms: 50,
        cooldown_max_ms: 50,
        ..quick()
    };
    let r = router(vec![(&a, slo), (&b, quick())]);
    let mut rx = r.subscribe();
    speak(&r, "Slow one.").await.unwrap();
    assert!(r.is_degraded("a"));
    let restored = tokio::time::timeout(LIMIT, async {
        loop {
            match rx.recv().await {
                Ok(RouterEvent::Latency {
                    entry,
                    degraded: false,
                    reason,
                }) => return (entry, reason),
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("a probe restores it");
    assert_eq!(restored.0, "a");
    assert!(restored.1.contains("probe"), "{}", restored.1);
    assert!(!r.is_degraded("a"));
    assert_eq!(
        a.calls(),
        vec!["Slow one.", "Hi."],
        "one probe, with the probe text"
    );
    assert_eq!(r.usage()[0].probe_chars, 3);
    assert!(b.calls().is_empty());
}

#[tokio::test]
async fn without_a_service_level_slow_first_audio_changes_nothing() {
    let a = FakeProvider::new("a").scripted(vec![], Behaviour::FirstAudioAfter(ms(100)));
    let b = FakeProvider::new("b");
    let r = router(vec![(&a, quick()), (&b, quick())]);
    for text in ["One.", "Two.", "Three.", "Four."] {
        speak(&r, text).await.unwrap();
    }
    assert!(!r.is_degraded("a"));
    assert!(b.calls().is_empty());
}

// ---- 2. weighted groups ----

fn member(group: &str, weight: u32) -> Policy {
    Policy {
        group: Some(group.into()),
        weight,
        ..quick()
    }
}

#[tokio::test]
async fn a_weighted_group_shares_calls_by_weight() {
    let x1 = FakeProvider::new("x1");
    let x2 = FakeProvider::new("x2");
    let c = FakeProvider::new("c");
    let r = router(vec![
        (&x1, member("xai", 80)),
        (&x2, member("xai", 20)),
        (&c, quick()),
    ]);
    for i in 0..10 {
        let text = format!("Call {i}.");
        hear(&r, &text).await;
    }
    assert_eq!(
        (x1.calls().len(), x2.calls().len(), c.calls().len()),
        (8, 2, 0)
    );
}

#[tokio::test]
async fn a_session_keeps_its_member_for_every_utterance() {
    let g1 = FakeProvider::new("g1");
    let g2 = FakeProvider::new("g2");
    let r = router(vec![(&g1, member("pool", 1)), (&g2, member("pool", 1))]);
    let mut sessions = Vec::new();
    for name in ["Ann", "Bob"] {
        let mut s = r
            .stream(StreamConfig {
                format: Some(pcm()),
                ..StreamConfig::default()
            })
            .await
            .unwrap();
        for turn in 0..3 {
            s.push_text(&format!("{name} says {turn}. And more {turn}."))
                .await
                .unwrap();
            s.flush().await.unwrap();
        }
        s.finish().await.unwrap();
        sessions.push(s);
    }
    for mut s in sessions {
        let mut served = Vec::new();
        let mut done = 0;
        tokio::time::timeout(LIMIT, async {
            while let Some(ev) = s.next_event().await {
                match ev.unwrap() {
                    SessionEvent::Serving { entry, .. } => served.push(entry),
                    SessionEvent::UtteranceDone { .. } => done += 1,
                    _ => {}
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(done, 3);
        assert_eq!(served.len(), 3, "one Serving per utterance: {served:?}");
        assert!(served.iter().all(|e| *e == served[0]), "{served:?}");
    }
    let (c1, c2) = (g1.calls(), g2.calls());
    assert_eq!((c1.len(), c2.len()), (6, 6), "{c1:?} {c2:?}");
    assert!(
        c1.iter()
            .all(|t| t.starts_with("Ann") || t.starts_with("And")),
        "{c1:?}"
    );
    assert!(c1[0].starts_with("Ann") && c2[0].starts_with("Bob"));
}

#[tokio::test]
async fn the_group_is_left_only_when_every_member_failed() {
    let auth = || Behaviour::Fail(TtsError::new(ErrorKind::Auth, "key revoked"));
    let g1 = FakeProvider::new("g1").scripted(vec![], auth());
    let g2 = FakeProvider::new("g2");
    let c = FakeProvider::new("c");
    let r = router(vec![
        (&g1, member("pool", 1)),
        (&g2, member("pool", 1)),
        (&c, quick()),
    ]);
    let mut rx = r.subscribe();
    // g1 is chosen first and fails: g2, of the same group, serves, not c.
    hear(&r, "First.").await;
    assert_eq!(
        (g1.calls().len(), g2.calls().len(), c.calls().len()),
        (1, 1, 0)
    );
    g2.set(auth());
    hear(&r, "Second.").await;
    assert_eq!(
        c.calls(),
        vec!["Second."],
        "every member failed: the group is left"
    );
    let served: Vec<String> = records(&drain(&mut rx))
        .into_iter()
        .filter(|a| a.outcome == AttemptOutcome::Spoke)
        .map(|a| a.entry)
        .collect();
    assert_eq!(served, vec!["g2", "c"]);
}

#[test]
fn the_router_guide_policy_tables_parse() {
    // The example chain of docs/router.md, entry by entry.
    let chain: toml::Table = toml::from_str(
        r#"
a = { group = "xai", weight = 80, first_audio_slo_ms = 600, slow_strikes = 3, fast_to_restore = 3, hedge_after_ms = 400 }
b = { group = "xai", weight = 20 }
"#,
    )
    .unwrap();
    let policy = |k: &str| Policy::from_table(k, chain[k].as_table().unwrap()).unwrap();
    let (a, b) = (policy("a"), policy("b"));
    assert_eq!(
        (a.group.as_deref(), a.weight, a.hedge_after_ms),
        (Some("xai"), 80, Some(400))
    );
    assert_eq!(
        (a.first_audio_slo_ms, a.slow_strikes, a.fast_to_restore),
        (Some(600), 3, 3)
    );
    assert_eq!(
        (b.group.as_deref(), b.weight, b.hedge_after_ms),
        (Some("xai"), 20, None)
    );
}

// ---- 3. hedged first audio ----

fn hedging(after_ms: u64) -> Policy {
    Policy {
        hedge_after_ms: Some(after_ms),
        ..quick()
    }
}

#[tokio::test]
async fn a_slow_first_audio_is_hedged_and_the_hedge_that_speaks_first_wins() {
    let p = FakeProvider::new("p").scripted(
        vec![Behaviour::FirstAudioAfter(ms(3_000))],
        Behaviour::Speak,
    );
    let s = FakeProvider::new("s").scripted(vec![], Behaviour::FirstAudioAfter(ms(50)));
    let r = router(vec![(&p, hedging(100)), (&s, quick())]);
    let mut rx = r.subscribe();
    let text = "Hedge me, please.";
    hear(&r, text).await;
    assert_eq!(p.calls(), vec![text]);
    assert_eq!(s.calls(), vec![text]);
    assert_eq!(p.cancelled(), 1, "the primary's request was cancelled");
    assert_eq!(s.cancelled(), 0);
    let events = drain(&mut rx);
    let recs = records(&events);
    let pr = recs.iter().find(|a| a.entry == "p").unwrap();
    let sr = recs.iter().find(|a| a.entry == "s").unwrap();
    assert!(
        cancelled(pr) && !pr.hedge && pr.first_audio.is_none(),
        "{pr:?}"
    );
    assert_eq!(sr.outcome, AttemptOutcome::Spoke);
    assert!(sr.hedge);
    let n = text.chars().count();
    assert_eq!(
        (pr.chars_sent, sr.chars_sent),
        (n, n),
        "both were sent the sentence"
    );
    assert_eq!(
        sr.audio_received,
        pcm().duration_of(expected_audio(text, pcm()).len())
    );
    assert!(events.iter().any(|e| matches!(e, RouterEvent::Hedge { primary, secondary, winner: Some(w), .. } if primary == "p" && secondary == "s" && w == "s")), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, RouterEvent::Failover { from, to, reason } if from == "p" && to == "s" && reason.kind == FailoverKind::Hedged && reason.message.contains("hedged"))),
        "{events:?}"
    );
    let usage = r.usage();
    assert_eq!((usage[0].chars_sent, usage[0].cancelled), (n as u64, 1));
    assert_eq!((usage[1].chars_sent, usage[1].hedges), (n as u64, 1));
    assert!(r.is_available("p"), "losing a hedge is no failure");
}

#[tokio::test]
async fn the_primary_wins_when_its_audio_comes_first_and_the_hedge_is_cancelled() {
    let p = FakeProvider::new("p")
        .scripted(vec![Behaviour::FirstAudioAfter(ms(250))], Behaviour::Speak);
    let s = FakeProvider::new("s").scripted(vec![], Behaviour::FirstAudioAfter(ms(5_000)));
    let r = router(vec![(&p, hedging(50)), (&s, quick())]);
    let mut rx = r.subscribe();
    let text = "Primary wins.";
    hear(&r, text).await;
    assert_eq!(s.calls(), vec![text], "the hedge started");
    assert_eq!((p.cancelled(), s.cancelled()), (0, 1));
    let recs = records(&drain(&mut rx));
    let sr = recs.iter().find(|a| a.entry == "s").unwrap();
    assert!(cancelled(sr) && sr.hedge, "{sr:?}");
    assert_eq!(
        recs.iter()
            .filter(|a| a.outcome == AttemptOutcome::Spoke)
            .count(),
        1
    );
}

#[tokio::test]
async fn after_a_hedge_the_next_sentences_go_to_the_entry_asked_first_and_say_why() {
    let p = FakeProvider::new("p").scripted(
        vec![Behaviour::FirstAudioAfter(ms(3_000))],
        Behaviour::Speak,
    );
    let s = FakeProvider::new("s").scripted(vec![], Behaviour::FirstAudioAfter(ms(50)));
    let r = router(vec![(&p, hedging(100)), (&s, quick())]);
    let mut rx = r.subscribe();
    let text = "First is hedged. Second is not.";
    let out = speak(&r, text).await.unwrap();
    let expected: Vec<u8> = ["First is hedged. ", "Second is not."]
        .iter()
        .flat_map(|t| expected_audio(t, pcm()))
        .collect();
    assert!(
        out == expected,
        "{} bytes, {} expected",
        out.len(),
        expected.len()
    );
    assert_eq!(s.calls(), vec!["First is hedged. "]);
    assert_eq!(p.calls(), vec!["First is hedged. ", "Second is not."]);
    let failovers: Vec<(String, String, FailoverReason)> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Failover { from, to, reason } => Some((from, to, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(failovers.len(), 2, "{failovers:?}");
    assert_eq!(
        (failovers[0].0.as_str(), failovers[0].1.as_str()),
        ("p", "s")
    );
    assert_eq!(failovers[0].2.kind, FailoverKind::Hedged);
    assert!(failovers[0].2.message.contains("hedged"), "{failovers:?}");
    assert_eq!(
        (failovers[1].0.as_str(), failovers[1].1.as_str()),
        ("s", "p")
    );
    assert_eq!(failovers[1].2.kind, FailoverKind::Preferred);
    assert!(
        failovers[1].2.message.contains("won a hedge"),
        "{failovers:?}"
    );
}

#[tokio::test]
async fn hedging_never_starts_once_an_utterance_has_audio_and_is_off_by_default() {
    // The first sentence is quick; the later ones are slow, but the
    // utterance has audio by then: no hedge.
    let p = FakeProvider::new("p")
        .scripted(vec![Behaviour::Speak], Behaviour::FirstAudioAfter(ms(300)));
    let s = FakeProvider::new("s");
    let r = router(vec![(&p, hedging(50)), (&s, quick())]);
    let text = "One is quick. Two is slow. Three is slow.";
    let out = speak(&r, text).await.unwrap();
    let expected: Vec<u8> = ["One is quick. ", "Two is slow. ", "Three is slow."]
        .iter()
        .flat_map(|t| expected_audio(t, pcm()))
        .collect();
    assert!(
        out == expected,
        "{} bytes, {} expected",
        out.len(),
        expected.len()
    );
    assert!(s.calls().is_empty(), "{:?}", s.calls());
    // Off by default: a slow first sentence is waited for.
    let p = FakeProvider::new("p").scripted(vec![], Behaviour::FirstAudioAfter(ms(300)));
    let s = FakeProvider::new("s");
    let r = router(vec![(&p, quick()), (&s, quick())]);
    speak(&r, "Slow.").await.unwrap();
    assert!(s.calls().is_empty());
}

#[tokio::test]
async fn a_primary_that_fails_before_the_hedge_delay_fails_over_without_a_hedge() {
    let p = FakeProvider::new("p")
        .scripted(vec![Behaviour::FirstAudioAfter(ms(200))], Behaviour::Speak);
    // Fails at once, before the hedge delay: a provider-scoped error.
    let failing = Behaviour::FailAfter(0, TtsError::new(ErrorKind::Auth, "key revoked"));
    let p2 = FakeProvider::new("p2").scripted(vec![], failing);
    let s = FakeProvider::new("s").scripted(vec![], Behaviour::FirstAudioAfter(ms(400)));
    let r = router(vec![(&p2, hedging(50)), (&p, quick()), (&s, quick())]);
    let mut rx = r.subscribe();
    let text = "Fail then hedge.";
    hear(&r, text).await;
    // p2 fails at once (before the hedge delay): no hedge, plain failover to p.
    assert_eq!(
        (p2.calls().len(), p.calls().len(), s.calls().len()),
        (1, 1, 0)
    );
    assert!(!r.is_available("p2"));
    let events = drain(&mut rx);
    assert!(!events
        .iter()
        .any(|e| matches!(e, RouterEvent::Hedge { .. })));
}

/// A provider whose stream fails with a revoked key after `delay`, before any audio.
struct LateFailure {
    delay: Duration,
}

#[voxwire_core::async_trait]
impl TtsProvider for LateFailure {
    fn id(&self) -> &str {
        "late"
    }
    fn capabilities(&self) -> voxwire_core::Capabilities {
        FakeProvider::new("late").capabilities()
    }
    async fn voices(&self) -> voxwire_core::Result<Vec<voxwire_core::Voice>> {
        Ok(vec![])
    }
    async fn synthesize(
        &self,
        _: SynthesisRequest,
    ) -> voxwire_core::Result<voxwire_core::AudioStream> {
        let delay = self.delay;
        Ok(Box::pin(futures::stream::once(async move {
            tokio::time::sleep(delay).await;
            Err(TtsError::new(ErrorKind::Auth, "key revoked").with_provider("late"))
        })))
    }
    async fn stream(
        &self,
        _: StreamConfig,
    ) -> voxwire_core::Result<voxwire_core::SynthesisSession> {
        Err(TtsError::new(ErrorKind::Unsupported, "not here"))
    }
}

#[tokio::test]
async fn a_primary_that_fails_during_the_hedge_leaves_the_piece_to_the_hedge() {
    let s = FakeProvider::new("s").scripted(vec![], Behaviour::FirstAudioAfter(ms(400)));
    let c = FakeProvider::new("c");
    let r = Router::with_entries(
        vec![
            Entry::new(Arc::new(LateFailure { delay: ms(150) }), hedging(50)),
            Entry::new(s.arc(), quick()),
            Entry::new(c.arc(), quick()),
        ],
        RouterSettings::default(),
    )
    .unwrap();
    let mut rx = r.subscribe();
    hear(&r, "Fail during the hedge.").await;
    assert_eq!(
        (s.calls().len(), c.calls().len()),
        (1, 0),
        "the hedge serves it"
    );
    assert!(
        !r.is_available("late"),
        "a provider-scoped failure still marks it down"
    );
    let events = drain(&mut rx);
    let recs = records(&events);
    let late = recs.iter().find(|a| a.entry == "late").unwrap();
    assert!(
        matches!(&late.outcome, AttemptOutcome::Failed { kind, .. } if *kind == ErrorKind::Auth),
        "{late:?}"
    );
    assert_eq!(s.cancelled(), 0);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RouterEvent::Hedge { winner: Some(w), .. } if w == "s")),
        "{events:?}"
    );
}

/// The loser of a hedge against the mock xAI server: its WebSocket is closed
/// by the cancel, on a real socket.
#[tokio::test]
async fn a_hedge_against_the_xai_mock_cancels_the_slow_socket() {
    const KEY: &str = "xai-hedge-test-key";
    let m = MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_faults(FaultPlan::always(Fault::stall_before_audio(Stall::For(
                ms(5_000),
            )))),
    )
    .await;
    let xai: Arc<dyn TtsProvider> = Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(m.base_url()),
            ..XaiSettings::default()
        })
        .unwrap(),
    );
    let s = FakeProvider::new("s").scripted(vec![], Behaviour::FirstAudioAfter(ms(50)));
    let r = Router::with_entries(
        vec![Entry::new(xai, hedging(150)), Entry::new(s.arc(), quick())],
        RouterSettings::default(),
    )
    .unwrap();
    let mut rx = r.subscribe();
    let text = "Over the socket.";
    hear(&r, text).await;
    let ws = m
        .requests()
        .iter()
        .filter(|q| q.kind == RequestKind::WebSocket)
        .count();
    assert_eq!(ws, 1, "the xAI entry was asked once");
    let recs = records(&drain(&mut rx));
    let xr = recs.iter().find(|a| a.entry == "xai").unwrap();
    assert!(cancelled(xr), "{xr:?}");
    assert_eq!(xr.chars_sent, text.chars().count());
    assert!(r.is_available("xai"));
    // The cancel reaches the vendor over the real socket: once the stalled
    // request produces audio, the provider finds its consumer gone and
    // sends `text.clear` (it keeps the socket for the pool).
    let cleared = tokio::time::timeout(LIMIT, async {
        loop {
            let clear = m
                .requests()
                .iter()
                .any(|q| q.messages.iter().any(|msg| msg.contains("text.clear")));
            if clear {
                return;
            }
            tokio::time::sleep(ms(20)).await;
        }
    })
    .await;
    assert!(cleared.is_ok(), "the loser's request was cleared upstream");
}

// ---- 4. usage ----

#[tokio::test]
async fn usage_counts_what_every_attempt_was_sent_and_received() {
    let mid = TtsError::new(ErrorKind::Protocol, "garbage");
    // 4096-byte chunks: a dies after one chunk of its sentence.
    let a = FakeProvider::new("a").scripted(vec![Behaviour::FailAfter(1, mid)], Behaviour::Speak);
    let b = FakeProvider::new("b");
    let r = router(vec![(&a, quick()), (&b, quick())]);
    let mut rx = r.subscribe();
    let text = "A sentence long enough to take more than one chunk of audio, surely.";
    let out = speak(&r, text).await.unwrap();
    let whole_bytes = expected_audio(text, pcm()).len();
    // a's one chunk if the router had handed it on before a died (the
    // duplicate bound; dropped otherwise), then b's whole sentence.
    assert!(
        out.len() == whole_bytes || out.len() == 4096 + whole_bytes,
        "{}",
        out.len()
    );
    assert_eq!(out[out.len() - whole_bytes..], expected_audio(text, pcm()));
    let n = text.chars().count();
    let recs = records(&drain(&mut rx));
    assert_eq!(recs.len(), 2);
    let chunk = pcm().duration_of(4096);
    let whole = pcm().duration_of(expected_audio(text, pcm()).len());
    assert_eq!(
        (
            recs[0].entry.as_str(),
            recs[0].chars_sent,
            recs[0].audio_received
        ),
        ("a", n, chunk)
    );
    assert_eq!(
        (
            recs[1].entry.as_str(),
            recs[1].chars_sent,
            recs[1].audio_received
        ),
        ("b", n, whole)
    );
    assert_eq!(a.chars_sent(), n);
    let usage = r.usage();
    assert_eq!(
        (
            usage[0].entry.as_str(),
            usage[0].attempts,
            usage[0].chars_sent
        ),
        ("a", 1, n as u64)
    );
    assert_eq!(
        usage[0].audio_received,
        Duration::from_micros(chunk.as_micros() as u64)
    );
    assert_eq!((usage[1].attempts, usage[1].chars_sent), (1, n as u64));
}
