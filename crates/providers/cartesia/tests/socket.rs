//! The shared `/tts/websocket` against the mock: the notes' complaints
//! (idle close, a dead socket, timestamps promised and not given, 429 at
//! the upgrade, a context's 4xx error) and the concurrency cap.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_cartesia::{shared_stats, CartesiaProvider, CartesiaSettings, Transport};
use voxwire_core::{
    AudioChunk, AudioFormat, ErrorKind, ErrorScope, Secret, SynthesisRequest, TtsError, TtsProvider,
};
use voxwire_testkit::kit::audio::{expected_audio, expected_words};
use voxwire_testkit::kit::{Fault, FaultPlan, RequestKind};
use voxwire_testkit::mock_cartesia::{MockCartesia, WsConfig, DEFAULT_API_KEY};

const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);

fn provider(m: &MockCartesia, f: impl FnOnce(&mut CartesiaSettings)) -> CartesiaProvider {
    let mut s = CartesiaSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(m.base_url()),
        transport: Transport::Websocket,
        first_audio_timeout_ms: 5_000,
        inactivity_timeout_ms: 2_000,
        connect_timeout_ms: 2_000,
        liveness_timeout_ms: 300,
        concurrency: 5,
        ..CartesiaSettings::default()
    };
    f(&mut s);
    CartesiaProvider::new(s).unwrap()
}

async fn mock(f: impl FnOnce(&mut WsConfig)) -> MockCartesia {
    let mut ws = WsConfig::default();
    f(&mut ws);
    MockCartesia::start_socket(DEFAULT_API_KEY, ws).await
}

async fn chunks(p: &CartesiaProvider, r: SynthesisRequest) -> Result<Vec<AudioChunk>, TtsError> {
    let mut stream = p.synthesize(r.format(FORMAT)).await?;
    let mut out = Vec::new();
    while let Some(c) = stream.next().await {
        out.push(c?);
    }
    Ok(out)
}

async fn say(p: &CartesiaProvider, text: &str) -> Result<Vec<u8>, TtsError> {
    let got = chunks(p, SynthesisRequest::new(text)).await?;
    Ok(got.iter().flat_map(|c| c.data.to_vec()).collect())
}

fn upgrades(m: &MockCartesia) -> usize {
    m.requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .count()
}

#[tokio::test]
async fn a_socket_closed_idle_by_the_vendor_never_fails_the_next_utterance() {
    let m = mock(|w| w.idle_close = Duration::from_millis(200)).await;
    let p = provider(&m, |_| {});
    assert_eq!(
        say(&p, "First.").await.unwrap(),
        expected_audio("First.", FORMAT)
    );
    assert!(
        m.ws_stats()
            .wait_for(
                |s| s.idle_closes.load(Ordering::SeqCst) == 1,
                Duration::from_secs(2)
            )
            .await
    );
    // Some time after the close (minutes, in the complaint).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = say(&p, "Second, after the idle close.").await.unwrap();
    assert_eq!(
        second,
        expected_audio("Second, after the idle close.", FORMAT)
    );
    // No reconnect loop: nothing dials while nothing is said.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(upgrades(&m), 2, "one fresh socket, on demand");
}

/// The vendor's idle close racing the request: the open's write hits the
/// closed connection before the socket task read the close frame.
#[tokio::test]
async fn an_idle_close_racing_the_request_is_said_again_on_a_fresh_socket() {
    let m = mock(|w| w.idle_close = Duration::from_millis(200)).await;
    let p = provider(&m, |_| {});
    assert_eq!(
        say(&p, "First.").await.unwrap(),
        expected_audio("First.", FORMAT)
    );
    assert!(
        m.ws_stats()
            .wait_for(
                |s| s.idle_closes.load(Ordering::SeqCst) == 1,
                Duration::from_secs(2)
            )
            .await
    );
    let text = "Second, as the idle close lands.";
    assert_eq!(say(&p, text).await.unwrap(), expected_audio(text, FORMAT));
}

#[tokio::test]
async fn a_half_open_socket_fails_over_fast_and_nothing_unsaid_is_reported() {
    // The socket goes silent as its second context opens.
    let m = mock(|w| w.silent_from_context = Some(2)).await;
    let p = provider(&m, |s| s.first_audio_timeout_ms = 8_000);
    assert_eq!(
        say(&p, "One.").await.unwrap(),
        expected_audio("One.", FORMAT)
    );
    let started = Instant::now();
    let text = "Two, said on a fresh socket.";
    let got = say(&p, text).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the liveness check noticed the dead socket in {:?}",
        started.elapsed()
    );
    assert_eq!(got, expected_audio(text, FORMAT), "said exactly once");
    assert_eq!(upgrades(&m), 2);
    let spoken: Vec<String> = m
        .requests()
        .into_iter()
        .flat_map(|r| r.utterances)
        .collect();
    assert_eq!(spoken, vec!["One.".to_string(), text.to_string()]);

    // Silent from its first context: the first-audio deadline, no audio reported.
    let m = mock(|w| w.silent_from_context = Some(1)).await;
    let p = provider(&m, |s| s.first_audio_timeout_ms = 600);
    let started = Instant::now();
    let e = chunks(&p, SynthesisRequest::new("Never heard."))
        .await
        .expect_err("a dead socket");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A session whose text waits on a dead socket: the first-audio deadline
/// fails the utterance well inside a router's deadline, and the session
/// never reports it done (nothing unsaid reported as said).
#[tokio::test]
async fn a_session_on_a_dead_socket_fails_its_utterance_and_never_reports_it_done() {
    let m = mock(|w| w.silent_from_context = Some(1)).await;
    let p = provider(&m, |s| s.first_audio_timeout_ms = 600);
    let config = voxwire_core::StreamConfig {
        format: Some(FORMAT),
        ..voxwire_core::StreamConfig::default()
    };
    let mut session = p.stream(config).await.unwrap();
    let started = Instant::now();
    let sent = match session.push_text("Text that waits. ").await {
        Ok(()) => session.flush().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let mut failed = sent.err();
    while failed.is_none() {
        match tokio::time::timeout(Duration::from_secs(5), session.next_event()).await {
            Ok(Some(Ok(voxwire_core::SessionEvent::UtteranceDone { .. }))) => {
                panic!("an utterance reported done that was never said")
            }
            Ok(Some(Ok(voxwire_core::SessionEvent::Audio(_)))) => {
                panic!("audio from a dead socket")
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => failed = Some(e),
            Ok(None) => break,
            Err(_) => panic!("the dead socket went unnoticed for 5 s"),
        }
    }
    let e = failed.expect("the utterance failed");
    assert!(
        matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(m.requests().iter().all(|r| r.utterances.is_empty()));
}

#[tokio::test]
async fn timestamps_come_from_the_vendor_or_not_at_all() {
    let text = "Hello there, timed words.";
    let m = mock(|w| w.untimed = vec!["sonic-2".into()]).await;
    let timed = provider(&m, |s| s.timestamps = true);
    let got = chunks(&timed, SynthesisRequest::new(text)).await.unwrap();
    let words: Vec<_> = got.iter().flat_map(|c| c.words.clone()).collect();
    assert_eq!(words, expected_words(text), "the vendor's own word times");
    assert!(got.iter().any(|c| c.times.is_some()));

    let untimed = provider(&m, |s| {
        s.timestamps = true;
        s.model = "sonic-2".into();
    });
    let got = chunks(&untimed, SynthesisRequest::new(text)).await.unwrap();
    let audio: Vec<u8> = got.iter().flat_map(|c| c.data.to_vec()).collect();
    assert_eq!(audio, expected_audio(text, FORMAT));
    assert!(
        got.iter().all(|c| c.times.is_none() && c.words.is_empty()),
        "no invented times"
    );
    let asked = m
        .requests()
        .iter()
        .flat_map(|r| r.messages.clone())
        .collect::<Vec<_>>();
    assert!(asked.iter().any(|t| t.contains("\"add_timestamps\":true")));
}

#[tokio::test]
async fn a_429_at_the_upgrade_backs_off_without_a_reconnect_loop() {
    let m = mock(|_| {}).await;
    m.set_fault(FaultPlan::always(Fault::rate_limited(1)));
    let p = provider(&m, |_| {});
    let e = say(&p, "Refused.").await.expect_err("429");
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert_eq!(e.status(), Some(429));
    for _ in 0..5 {
        let again = say(&p, "Still refused.").await.expect_err("backing off");
        assert_eq!(again.kind(), ErrorKind::RateLimited);
    }
    assert_eq!(upgrades(&m), 1, "no dial during the back-off");
    m.clear_faults();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        say(&p, "Spoken after the back-off.").await.unwrap(),
        expected_audio("Spoken after the back-off.", FORMAT)
    );
    assert_eq!(upgrades(&m), 2);
}

#[tokio::test]
async fn a_contexts_4xx_error_and_done_fail_that_context_only() {
    let m = mock(|w| w.chunk_delay = Duration::from_millis(5)).await;
    let p = provider(&m, |_| {});
    let good = "A good utterance beside the bad one.";
    let (bad, fine) = tokio::join!(say(&p, "fail:transcript refused"), say(&p, good));
    let bad = bad.expect_err("the bad context fails");
    assert_eq!(
        (bad.kind(), bad.scope()),
        (ErrorKind::InvalidRequest, ErrorScope::Request),
        "{bad}"
    );
    assert!(bad.message().contains("transcript refused"), "{bad}");
    assert_eq!(fine.unwrap(), expected_audio(good, FORMAT));
    assert_eq!(
        say(&p, "Then more.").await.unwrap(),
        expected_audio("Then more.", FORMAT)
    );
    assert_eq!(upgrades(&m), 1, "the socket survived");
}

fn line(i: usize) -> String {
    format!("Utterance number {i} is spoken here, on the shared socket. ")
}

/// Fifty utterances at once with `concurrency = 5`, against a mock counting
/// live contexts per socket (`per_socket`): all finish, none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_concurrency_5_fifty_utterances_finish_none_refused_per_socket() {
    let m = mock(|w| {
        w.concurrency = 5;
        w.per_socket = true;
    })
    .await;
    let p = provider(&m, |s| {
        s.concurrency = 5;
        s.first_audio_timeout_ms = 20_000;
    });
    let all = futures::future::join_all((0..50).map(|i| {
        let p = p.clone();
        async move { (i, say(&p, &line(i)).await) }
    }))
    .await;
    for (i, got) in all {
        let got = got.unwrap_or_else(|e| panic!("utterance {i}: {e}"));
        assert_eq!(got, expected_audio(&line(i), FORMAT), "utterance {i}");
    }
    let stats = m.ws_stats();
    assert_eq!(stats.over_limit.load(Ordering::SeqCst), 0, "none refused");
    let peak = stats.peak_per_socket.load(Ordering::SeqCst);
    assert!(peak <= 5, "peak {peak} on one socket");
    assert_eq!(shared_stats(&p).slots, 0);
}

/// The same against Cartesia's real rule (live contexts per account,
/// across sockets): the entry keeps to one shared socket
/// (`NetworkVendor::driver`), so a sixth live context waits its turn
/// rather than going on a second socket and being refused 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_concurrency_5_fifty_utterances_wait_their_turn() {
    // Cartesia counts live contexts per account, across sockets.
    let m = mock(|w| w.concurrency = 5).await;
    let p = provider(&m, |s| {
        s.concurrency = 5;
        s.first_audio_timeout_ms = 20_000;
    });
    let all = futures::future::join_all((0..50).map(|i| {
        let p = p.clone();
        async move { (i, say(&p, &line(i)).await) }
    }))
    .await;
    for (i, got) in all {
        let got = got.unwrap_or_else(|e| panic!("utterance {i}: {e}"));
        assert_eq!(got, expected_audio(&line(i), FORMAT), "utterance {i}");
    }
    let stats = m.ws_stats();
    assert_eq!(stats.over_limit.load(Ordering::SeqCst), 0, "none refused");
    assert!(
        stats.peak_live.load(Ordering::SeqCst) <= 5,
        "peak {}",
        stats.peak_live.load(Ordering::SeqCst)
    );
    assert_eq!(shared_stats(&p).slots, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_concurrency_50_fifty_utterances_share_one_socket_and_cancels_hold_no_slot() {
    let m = mock(|w| {
        w.concurrency = 50;
        w.chunk_delay = Duration::from_millis(4);
    })
    .await;
    let p = provider(&m, |s| s.concurrency = 50);
    let long = |i: usize| {
        format!(
            "{}{}",
            line(i),
            "And a tail long enough to be cut off halfway. "
        )
    };
    let all = futures::future::join_all((0..50).map(|i| {
        let p = p.clone();
        let text = long(i);
        async move {
            let mut stream = p
                .synthesize(SynthesisRequest::new(text.clone()).format(FORMAT))
                .await?;
            let mut audio = Vec::new();
            while let Some(c) = stream.next().await {
                audio.extend_from_slice(&c?.data);
                if i % 5 < 2 {
                    // 20 of the 50 barge in after their first audio.
                    drop(stream);
                    return Ok::<_, TtsError>((i, None));
                }
            }
            Ok((i, Some((text, audio))))
        }
    }))
    .await;
    let mut whole = 0;
    for got in all {
        let (i, said) = got.unwrap();
        if let Some((text, audio)) = said {
            assert_eq!(audio, expected_audio(&text, FORMAT), "utterance {i}");
            whole += 1;
        }
    }
    assert_eq!(whole, 30);
    assert_eq!(upgrades(&m), 1, "one upstream socket");
    let stats = m.ws_stats();
    assert_eq!(stats.cancels.load(Ordering::SeqCst), 20);
    assert!(
        stats
            .wait_for(|s| s.live_now() == 0, Duration::from_secs(3))
            .await,
        "the vendor ended every context"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while shared_stats(&p).slots != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = shared_stats(&p);
    assert_eq!(
        (held.slots, held.waiting, held.sockets),
        (0, 0, 1),
        "{held:?}"
    );
}
