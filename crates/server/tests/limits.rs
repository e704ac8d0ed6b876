//! Limits that delay, not drop (issue 30, step 2): over a session's or a
//! credential's utterance rate an utterance waits its turn inside
//! `max_pending_utterances`; only what overflows that bound is refused, with
//! an error frame naming it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::expected_audio;

/// A Pipecat-style agent: one utterance per sentence, each sent after the
/// last one's audio, on one backend session with the default settings.
#[tokio::test]
async fn a_hundred_utterances_on_one_backend_session_are_all_spoken() {
    let fake = FakeProvider::new("fake");
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    for i in 0..100 {
        let text = format!("Sentence number {i}.");
        delta(&mut ws, &text).await;
        done(&mut ws).await;
        let frames = read_ends(&mut ws, 1).await;
        assert_eq!(ends(&frames), ["audio.done"], "utterance {i}: {frames:?}");
        assert_eq!(audio_of(&frames), expected_audio(&text, pcm()));
    }
    assert_eq!(fake.calls().len(), 100);
}

#[tokio::test]
async fn sixteen_queued_at_once_all_speak_and_the_seventeenth_is_refused_naming_the_limit() {
    // Nothing ends before all seventeen are in.
    let fake = FakeProvider::new("fake").scripted(
        vec![],
        Behaviour::FirstAudioAfter(Duration::from_millis(400)),
    );
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    for i in 0..17 {
        delta(&mut ws, format!("Queued utterance {i}.")).await;
        done(&mut ws).await;
    }
    let frames = read_ends(&mut ws, 17).await;
    let mut expected = vec!["audio.done"; 16];
    expected.push("error");
    assert_eq!(ends(&frames), expected);
    let error = frames.iter().find(|f| f["type"] == "error").unwrap();
    assert_eq!(error["kind"], "rate_limited", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("max_pending_utterances") && message.contains("16"),
        "{message}"
    );
    let spoken: Vec<u8> = (0..16)
        .flat_map(|i| expected_audio(&format!("Queued utterance {i}."), pcm()))
        .collect();
    assert_eq!(audio_of(&frames), spoken);
    let extra = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(extra.is_err(), "{extra:?}");
}

#[tokio::test]
async fn a_browser_session_over_its_rate_is_delayed_not_refused() {
    let fake = FakeProvider::new("fake");
    let mut settings = token_settings();
    settings.browser_utterances_per_second = 4.0;
    settings.browser_utterance_burst = 1.0;
    let relay = start(fake_router(&fake), settings).await;
    let token = mint(relay.addr, ORIGIN, Some("alice")).await;
    let mut ws = raw_to(
        relay.addr,
        &format!("codec=pcm&token={token}"),
        &[("origin", ORIGIN)],
    )
    .await
    .unwrap();
    let began = Instant::now();
    for i in 0..3 {
        delta(&mut ws, format!("Browser utterance {i}.")).await;
        done(&mut ws).await;
    }
    let frames = read_ends(&mut ws, 3).await;
    assert_eq!(ends(&frames), ["audio.done"; 3]);
    // One token at once, then one every 250 ms: the third waited twice.
    assert!(
        began.elapsed() >= Duration::from_millis(450),
        "{:?}",
        began.elapsed()
    );
    let metrics = metrics_of(relay.addr).await;
    assert!(
        sample(
            &metrics,
            "voxwire_utterance_delays_total{limit=\"utterances_per_second\"} "
        ) >= Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "voxwire_limit_breaches_total{limit=\"utterances_per_second\"} "
        ),
        None,
        "never refused"
    );
}

#[tokio::test]
async fn a_credential_over_its_rate_delays_its_sessions_utterances() {
    let fake = FakeProvider::new("fake");
    let mut settings = token_settings();
    settings.token_utterances_per_second = Some(5.0);
    settings.token_utterance_burst = 1.0;
    let relay = start(fake_router(&fake), settings).await;
    let mut a = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    let mut b = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    let began = Instant::now();
    for ws in [&mut a, &mut b] {
        for i in 0..2 {
            delta(ws, format!("Shared credential {i}.")).await;
            done(ws).await;
        }
    }
    for ws in [&mut a, &mut b] {
        let frames = read_ends(ws, 2).await;
        assert_eq!(ends(&frames), ["audio.done"; 2]);
    }
    // Four utterances, one at once and one every 200 ms after.
    assert!(
        began.elapsed() >= Duration::from_millis(550),
        "{:?}",
        began.elapsed()
    );
    let metrics = metrics_of(relay.addr).await;
    assert!(
        sample(
            &metrics,
            "voxwire_utterance_delays_total{limit=\"token_utterances_per_second\"} "
        ) >= Some(1.0),
        "{metrics}"
    );
}
