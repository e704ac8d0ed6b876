//! Shared sockets: a dialect that multiplexes by context id gets many
//! utterances on few sockets, never over the vendor's context limit, with
//! per-context errors, socket-wide errors failing everyone at once, cancel,
//! the idle close survived, and a rate-limited upgrade backed off; and the
//! group's soundness (issue 35, step 1): callers dropped mid-open leak
//! nothing, a release never overtakes its open, a panicking dialect kills
//! its socket only, dropping the provider closes its sockets, shutdown is
//! final, and a slot reserved as its socket retires is served. The server
//! is the kit's multiplexing toy (`voxwire_testkit::kit::mux_echo`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::session::SessionEvent;
use voxwire_core::{AudioFormat, ErrorKind, Extensions, Result, Secret, TtsError};
use voxwire_testkit::kit::mux_echo::{mux_audio, MuxEcho};
use voxwire_testkit::kit::{Fault, Mock, Rejection};
use voxwire_transport::{DriverSettings, Voicing, WsProvider};

mod support;

use support::mux::{Mux, KEY};

struct Setup {
    mock: Mock<MuxEcho>,
    config: MuxEcho,
}

async fn serve(config: MuxEcho) -> Setup {
    let mock = Mock::start(config.clone(), KEY).await.expect("bind");
    Setup { mock, config }
}

fn provider(
    s: &Setup,
    max_contexts: usize,
    tweak: impl FnOnce(&mut DriverSettings),
) -> WsProvider<Mux> {
    provider_with_dialect(s, max_contexts, tweak, |_| {})
}

/// A provider whose dialect `fault` changes (a bug, a slow hook, its idle).
fn faulty_provider(
    s: &Setup,
    max_contexts: usize,
    settings: DriverSettings,
    fault: impl FnOnce(&mut Mux),
) -> WsProvider<Mux> {
    let mut dialect = Mux::new(s.mock.ws_url("/mux"), max_contexts);
    fault(&mut dialect);
    WsProvider::new(dialect, settings).unwrap()
}

/// A provider with the usual settings whose dialect `fault` changes.
fn dialect_provider(s: &Setup, fault: impl FnOnce(&mut Mux)) -> WsProvider<Mux> {
    provider_with_dialect(s, 5, |_| {}, fault)
}

/// A provider whose settings `tweak` and whose dialect `fault` change.
fn provider_with_dialect(
    s: &Setup,
    max_contexts: usize,
    tweak: impl FnOnce(&mut DriverSettings),
    fault: impl FnOnce(&mut Mux),
) -> WsProvider<Mux> {
    let mut settings = DriverSettings {
        first_audio_timeout: Duration::from_secs(5),
        ..DriverSettings::new(Secret::new(KEY))
    };
    tweak(&mut settings);
    faulty_provider(s, max_contexts, settings, fault)
}

fn panicking_provider(s: &Setup, bug: &'static str) -> WsProvider<Mux> {
    dialect_provider(s, |d| d.panic_on = Some(bug))
}

fn voicing() -> Voicing {
    Voicing {
        voice: None,
        language: None,
        speed: None,
        wire: AudioFormat::pcm16_mono(16_000),
        extensions: Extensions::default(),
    }
}

async fn say(p: &WsProvider<Mux>, text: &str) -> Result<Vec<u8>> {
    let mut stream = p
        .synthesize(text.to_string(), voicing(), AudioFormat::pcm16_mono(16_000))
        .await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?.data);
    }
    Ok(out)
}

fn text_of(i: usize) -> String {
    format!("utterance number {i} of the shared socket test.")
}

#[tokio::test]
async fn ten_concurrent_utterances_share_two_sockets_of_five_contexts_every_byte_right() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |_| {});
    all_at_once(&p, 10).await;
    assert_eq!(
        s.mock.kit().upgrades(),
        2,
        "ten utterances at five a socket"
    );
    assert!(s.config.peak_contexts.load(Ordering::SeqCst) <= 5);
    // Both sockets stay for the next utterances: no new upgrade.
    assert_eq!(p.shared_connections(), 2);
    say(&p, "again").await.unwrap();
    assert_eq!(s.mock.kit().upgrades(), 2);
}

#[tokio::test]
async fn a_sixth_utterance_waits_for_a_slot_instead_of_overflowing_the_socket() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |d| d.max_shared_sockets = 1);
    all_at_once(&p, 8).await;
    assert_eq!(s.mock.kit().upgrades(), 1);
    assert!(s.config.peak_contexts.load(Ordering::SeqCst) <= 5);
}

#[tokio::test]
async fn a_context_error_fails_that_utterance_only_and_the_socket_goes_on() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |_| {});
    let (bad, a, b) = tokio::join!(
        say(&p, "fail:voice not found"),
        say(&p, "first of the good ones."),
        say(&p, "second of the good ones.")
    );
    let bad = bad.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidRequest);
    assert!(bad.message().contains("voice not found"), "{bad}");
    assert_eq!(a.unwrap(), mux_audio("first of the good ones.", 16_000));
    assert_eq!(b.unwrap(), mux_audio("second of the good ones.", 16_000));
    say(&p, "after the error").await.unwrap();
    assert_eq!(
        s.mock.kit().upgrades(),
        1,
        "the socket survived the context's error"
    );
}

#[tokio::test]
async fn an_error_without_a_context_fails_every_pending_utterance_at_once_with_it() {
    let s = serve(MuxEcho {
        char_delay: Duration::from_millis(20),
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 5, |d| d.first_audio_timeout = Duration::from_secs(10));
    let long = "a long utterance that keeps the context busy for a while";
    let started = Instant::now();
    let crash = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        say(&p, "crash").await
    };
    let (x, y, z, c) = tokio::join!(say(&p, long), say(&p, long), say(&p, long), crash);
    for got in [x, y, z, c] {
        let e = got.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            e.message().contains("internal crash"),
            "each gets the vendor's text: {e}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "none waited for a timeout: {:?}",
        started.elapsed()
    );
    // The next utterance opens a new socket.
    say(&p, "after the socket error").await.unwrap();
    assert_eq!(s.mock.kit().upgrades(), 2);
}

#[tokio::test]
async fn a_socket_the_vendor_closed_while_idle_never_fails_the_next_utterance() {
    let s = serve(MuxEcho {
        idle_close: Some(Duration::from_millis(150)),
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 5, |_| {});
    say(&p, "before the idle close").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(p.shared_connections(), 0, "the close was seen while idle");
    assert_eq!(
        say(&p, "after the idle close").await.unwrap(),
        mux_audio("after the idle close", 16_000)
    );
    assert_eq!(s.mock.kit().upgrades(), 2);
}

#[tokio::test]
async fn a_close_racing_the_request_on_a_reused_socket_is_resent_once_invisibly() {
    let s = serve(MuxEcho {
        close_second_context: true,
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 5, |_| {});
    say(&p, "first").await.unwrap();
    assert_eq!(
        say(&p, "second").await.unwrap(),
        mux_audio("second", 16_000)
    );
    assert_eq!(s.mock.kit().upgrades(), 2, "resent on a fresh socket");
    // A session's utterance is resent the same way.
    let mut session = p
        .stream(voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    session.push_text("third").await.unwrap();
    session.flush().await.unwrap();
    session.finish().await.unwrap();
    let mut got = Vec::new();
    while let Some(event) = session.next_event().await {
        if let SessionEvent::Audio(chunk) = event.unwrap() {
            got.extend_from_slice(&chunk.data);
        }
    }
    assert_eq!(got, mux_audio("third", 16_000));
    assert_eq!(s.mock.kit().upgrades(), 3);
}

#[tokio::test]
async fn sessions_share_a_socket_settings_go_only_on_its_first_context_and_cancel_drops_late_audio()
{
    let s = serve(MuxEcho {
        char_delay: Duration::from_millis(5),
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 5, |_| {});
    let run = |texts: Vec<&'static str>| {
        let p = p.clone();
        async move {
            let mut session = p.stream(voicing(), AudioFormat::pcm16_mono(16_000)).await?;
            for t in &texts {
                session.push_text(t).await?;
                session.flush().await?;
            }
            session.finish().await?;
            let (mut audio, mut done) = (Vec::new(), 0);
            while let Some(event) = session.next_event().await {
                match event? {
                    SessionEvent::Audio(chunk) => audio.extend_from_slice(&chunk.data),
                    SessionEvent::UtteranceDone { .. } => done += 1,
                    _ => {}
                }
            }
            Ok::<_, TtsError>((audio, done, texts.concat()))
        }
    };
    let sessions = (0..4).map(|i| {
        run(vec![
            ["one. ", "two. ", "three. ", "four. "][i],
            "and more.",
        ])
    });
    for got in futures::future::join_all(sessions).await {
        let (audio, done, text) = got.unwrap();
        assert_eq!(done, 2);
        assert_eq!(audio, mux_audio(&text, 16_000));
    }
    assert_eq!(
        s.mock.kit().upgrades(),
        1,
        "four sessions on one socket, one `first:`"
    );

    // Cancel mid-utterance: acknowledged at once, the next utterance's audio is exact.
    let mut session = p
        .stream(voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    session
        .push_text("a long utterance that will be cut off by a barge in")
        .await
        .unwrap();
    session.flush().await.unwrap();
    loop {
        if let SessionEvent::Audio(_) = session.next_event().await.unwrap().unwrap() {
            break;
        }
    }
    let generation = session.cancel();
    loop {
        match session.next_event().await.unwrap().unwrap() {
            SessionEvent::Cleared { generation: g } if g == generation => break,
            _ => {}
        }
    }
    session.push_text("fresh").await.unwrap();
    session.flush().await.unwrap();
    session.finish().await.unwrap();
    let mut got = Vec::new();
    while let Some(event) = session.next_event().await {
        if let SessionEvent::Audio(chunk) = event.unwrap() {
            got.extend_from_slice(&chunk.data);
        }
    }
    assert_eq!(
        got,
        mux_audio("fresh", 16_000),
        "no late audio of the cancelled context"
    );
    assert_eq!(s.mock.kit().upgrades(), 1);
}

#[tokio::test]
async fn a_rate_limited_upgrade_backs_off_instead_of_dialling_again() {
    let s = serve(MuxEcho::default()).await;
    s.mock.kit().set_fault(vec![Fault::Reject(Rejection {
        status: 429,
        body: "too many connections".into(),
        retry_after: Some(1),
        headers: Vec::new(),
    })]);
    let p = provider(&s, 5, |_| {});
    let first = say(&p, "one").await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::RateLimited);
    let again = say(&p, "two").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::RateLimited);
    assert!(again.message().contains("backing off"), "{again}");
    assert_eq!(
        s.mock.kit().requests().len(),
        1,
        "not dialled during the back-off"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(say(&p, "three").await.unwrap(), mux_audio("three", 16_000));
}

/// Speaks `n` texts at once; each must come back exact.
async fn all_at_once(p: &WsProvider<Mux>, n: usize) {
    let runs = (0..n).map(|i| async move { (i, say(p, &text_of(i)).await) });
    for (i, got) in futures::future::join_all(runs).await {
        assert_eq!(
            got.unwrap(),
            mux_audio(&text_of(i), 16_000),
            "utterance {i}"
        );
    }
}

#[tokio::test]
async fn callers_dropped_while_their_socket_opens_leak_no_count() {
    let s = serve(MuxEcho::default()).await;
    s.mock
        .kit()
        .set_fault(vec![Fault::SlowUpgrade(Duration::from_secs(3))]);
    let p = provider(&s, 5, |d| {
        d.max_shared_sockets = 1;
        d.connect_timeout = Duration::from_secs(2);
    });
    // One caller dials, the other waits for that socket: both give up mid-open
    // (the router's first-audio timeout, a lost hedge).
    let (a, b) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(300), say(&p, "one")),
        tokio::time::timeout(Duration::from_millis(300), say(&p, "two")),
    );
    assert!(a.is_err() && b.is_err(), "both were still opening");
    // Nothing is left opening or awaited: the next utterance dials at once,
    // and five run at once on the group's one socket.
    let started = Instant::now();
    assert_eq!(say(&p, "three").await.unwrap(), mux_audio("three", 16_000));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    all_at_once(&p, 5).await;
    assert_eq!(p.shared_connections(), 1);
}

#[tokio::test]
async fn a_caller_dropped_as_its_context_opens_leaves_no_utterance_holding_a_slot() {
    let s = serve(MuxEcho {
        char_delay: Duration::from_millis(20),
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 2, |d| {
        d.max_shared_sockets = 1;
        d.connect_timeout = Duration::from_secs(1);
    });
    say(&p, "warm").await.unwrap();
    {
        // The open is queued, then the caller is dropped before the socket's
        // task ran (one thread): its release is queued after the open.
        let mut hung = Box::pin(say(&p, "hang on to the slot"));
        assert!(futures::poll!(hung.as_mut()).is_pending());
    }
    // The vendor was told to stop it: both slots serve at once (each takes
    // about 1.7 s, longer than a slot is waited for).
    let long = |i| format!("{} and a tail that makes it long enough.", text_of(i));
    let (one, two) = (long(1), long(2));
    let (a, b) = tokio::join!(say(&p, &one), say(&p, &two));
    assert_eq!(a.unwrap(), mux_audio(&one, 16_000));
    assert_eq!(b.unwrap(), mux_audio(&two, 16_000));
    assert_eq!(s.mock.kit().upgrades(), 1);
}

#[tokio::test]
async fn a_dialect_that_panics_kills_its_socket_and_not_the_next_utterance() {
    let s = serve(MuxEcho::default()).await;
    let p = panicking_provider(&s, "dialect bug");
    let e = say(&p, "fail:dialect bug").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert_eq!(
        say(&p, "after the panic").await.unwrap(),
        mux_audio("after the panic", 16_000)
    );
    assert_eq!(s.mock.kit().upgrades(), 2, "the dead socket was not picked");
}

#[tokio::test]
async fn dropping_the_provider_closes_its_idle_shared_sockets() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |_| {});
    all_at_once(&p, 7).await;
    assert!(s.config.wait_open_sockets(2, Duration::from_secs(2)).await);
    drop(p);
    assert!(
        s.config.wait_open_sockets(0, Duration::from_secs(3)).await,
        "closed with the provider, not after the group's 30 s idle"
    );
}

#[tokio::test]
async fn a_socket_mid_dial_at_shutdown_never_joins_and_nothing_dials_after() {
    let s = serve(MuxEcho::default()).await;
    s.mock
        .kit()
        .set_fault(vec![Fault::SlowUpgrade(Duration::from_millis(600))]);
    let p = provider(&s, 5, |_| {});
    let shutdown = async {
        // Sequencing only: the dial takes 600 ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
        p.shutdown().await;
    };
    let (dialled, ()) = tokio::join!(say(&p, "dialled before the shutdown"), shutdown);
    let e = dialled.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.message().contains("shut down"), "{e}");
    assert_eq!(p.shared_connections(), 0);
    assert!(s.config.wait_open_sockets(0, Duration::from_secs(2)).await);
    let e = say(&p, "after the shutdown").await.unwrap_err();
    assert!(e.message().contains("shut down"), "{e}");
    assert_eq!(s.mock.kit().requests().len(), 1, "no dial after shutdown");
}

#[tokio::test]
async fn an_utterance_cut_by_shutdown_is_not_resent_on_a_new_socket() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |_| {});
    say(&p, "warm").await.unwrap();
    let started = Instant::now();
    let shutdown = async {
        // Sequencing only: the open reaches the socket well before.
        tokio::time::sleep(Duration::from_millis(100)).await;
        p.shutdown().await;
    };
    let (cut, ()) = tokio::join!(say(&p, "hang until the shutdown"), shutdown);
    assert!(cut.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.mock.kit().upgrades(), 1, "not resent after the shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_reserved_as_its_socket_idles_out_is_served_not_failed() {
    let s = serve(MuxEcho::default()).await;
    let p = dialect_provider(&s, |d| {
        d.idle = Duration::from_millis(100);
        d.slow_text = Some(("slow", Duration::from_millis(300)));
    });
    say(&p, "warm").await.unwrap();
    // Reserved at once, then its text takes 300 ms to write: the socket's
    // 100 ms idle passes between the reservation and the open.
    assert_eq!(say(&p, "slow").await.unwrap(), mux_audio("slow", 16_000));
    assert_eq!(s.mock.kit().upgrades(), 1, "served on the reserved socket");
}

#[tokio::test]
async fn a_slot_reserved_as_its_socket_retires_is_served_not_failed() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |d| d.max_connection_age = Duration::from_millis(300));
    say(&p, "young").await.unwrap();
    // Setup only: the socket passes its age while its task sleeps.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(say(&p, "old").await.unwrap(), mux_audio("old", 16_000));
    all_at_once(&p, 3).await;
}

// Issue 35, step 2: defect 10 (waiting for a slot is backpressure, cancel
// seen while waiting, prewarm under the cap and the back-off, the back-off's
// error kept whole).

#[tokio::test]
async fn utterances_beyond_the_free_contexts_wait_their_turn_instead_of_failing_rate_limited() {
    let s = serve(MuxEcho {
        char_delay: Duration::from_millis(10),
        ..MuxEcho::default()
    })
    .await;
    // Two contexts on one socket; six utterances of ~0.5 s each take three
    // turns (~1.5 s), longer than the 300 ms a socket may take to connect.
    let p = provider(&s, 2, |d| {
        d.max_shared_sockets = 1;
        d.connect_timeout = Duration::from_millis(300);
    });
    all_at_once(&p, 6).await;
    assert_eq!(s.mock.kit().upgrades(), 1);
    assert!(s.config.peak_contexts.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn a_session_cancelled_while_it_waits_for_a_slot_is_cleared_at_once() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 2, |d| {
        d.max_shared_sockets = 1;
        d.first_audio_timeout = Duration::from_secs(10);
    });
    // Both contexts of the group's one socket held by utterances that hang.
    let hold = |p: WsProvider<Mux>| async move {
        let _ = say(&p, "hang on").await;
    };
    let holders = [tokio::spawn(hold(p.clone())), tokio::spawn(hold(p.clone()))];
    let mut session = p
        .stream(voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    // Waits for the group's mock to carry both holders before asking for a third.
    let started = Instant::now();
    while s.config.peak_contexts.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(3), "setup");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    session.push_text("waits for a slot").await.unwrap();
    // Sequencing only: the session's task takes the text and waits for a slot
    // (a cancel before that would drop the text unread).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        cancel_is_cleared(&mut session).await,
        "the cancel was seen while the session waited for a slot"
    );
    for h in holders {
        h.abort();
    }
}

/// Cancels `session`: whether it is acknowledged within 2 s (a guard).
async fn cancel_is_cleared(session: &mut voxwire_core::session::SynthesisSession) -> bool {
    let generation = session.cancel();
    let cleared = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = session.next_event().await {
            match event {
                Ok(SessionEvent::Cleared { generation: g }) if g == generation => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    });
    cleared.await == Ok(true)
}

#[tokio::test]
async fn prewarm_keeps_to_the_socket_cap_and_the_back_off() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |d| d.max_shared_sockets = 1);
    p.prewarm(&voicing()).await.unwrap();
    p.prewarm(&voicing()).await.unwrap();
    assert_eq!(s.mock.kit().upgrades(), 1, "a full group dials no more");
    assert_eq!(p.shared_connections(), 1);

    let s = serve(MuxEcho::default()).await;
    s.mock.kit().set_fault(vec![Fault::Reject(Rejection {
        status: 429,
        body: "too many connections".into(),
        retry_after: Some(5),
        headers: Vec::new(),
    })]);
    let p = provider(&s, 5, |_| {});
    assert_eq!(
        say(&p, "one").await.unwrap_err().kind(),
        ErrorKind::RateLimited
    );
    let e = p.prewarm(&voicing()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.message().contains("backing off"), "{e}");
    assert_eq!(
        s.mock.kit().requests().len(),
        1,
        "prewarm dials nothing during the back-off"
    );
}

#[tokio::test]
async fn the_back_off_error_keeps_the_request_id_and_body_of_the_refusal() {
    let s = serve(MuxEcho::default()).await;
    s.mock.kit().set_fault(vec![Fault::Reject(Rejection {
        status: 429,
        body: "too many connections".into(),
        retry_after: Some(5),
        headers: vec![("x-request-id".into(), "req-35".into())],
    })]);
    let p = provider(&s, 5, |_| {});
    let first = say(&p, "one").await.unwrap_err();
    assert_eq!(first.request_id(), Some("req-35"), "{first:?}");
    let again = say(&p, "two").await.unwrap_err();
    assert!(again.message().contains("backing off"), "{again}");
    assert_eq!(again.request_id(), Some("req-35"), "{again:?}");
    assert_eq!(again.body(), first.body());
    assert_eq!(again.status(), first.status());
}

// Issue 35, step 2: defect 9 (every queue bounded, with backpressure).

#[tokio::test]
async fn a_session_queues_a_bounded_number_of_flushes_behind_its_utterance_then_pushes_back() {
    let s = serve(MuxEcho::default()).await;
    let p = provider(&s, 5, |d| d.first_audio_timeout = Duration::from_secs(10));
    let mut session = p
        .stream(voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    // An utterance in flight that never ends: what follows queues behind it.
    session.push_text("hang on").await.unwrap();
    session.flush().await.unwrap();
    let mut accepted = 0;
    for _ in 0..5_000 {
        match tokio::time::timeout(Duration::from_millis(500), session.flush()).await {
            Ok(flushed) => {
                flushed.unwrap();
                accepted += 1;
            }
            Err(_) => break,
        }
    }
    assert!(
        accepted < 1_000,
        "{accepted} empty flushes queued behind one utterance: the queue is unbounded"
    );
    assert!(
        cancel_is_cleared(&mut session).await,
        "the cancel was seen behind a full queue"
    );
}

#[tokio::test]
async fn a_reader_that_stalls_is_failed_at_its_route_bound_and_the_others_go_on() {
    let s = serve(MuxEcho {
        char_delay: Duration::ZERO,
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 5, |_| {});
    // Far more frames than a route holds, far fewer bytes than its byte cap.
    let text: String = "a stalled reader. ".repeat(120);
    let mut stalled = p
        .synthesize(text.clone(), voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    // A longer one alongside on the same socket: once it is done, so is the stalled one's audio.
    let longer = format!("{text}{}", "and then some. ".repeat(20));
    assert_eq!(
        say(&p, &longer).await.unwrap(),
        mux_audio(&longer, 16_000),
        "the other utterance got every byte"
    );
    let mut failed = None;
    while let Some(chunk) = stalled.next().await {
        if let Err(e) = chunk {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("the stalled reader was failed, not buffered without bound");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(e.message().contains("behind"), "{e}");
    assert_eq!(s.mock.kit().upgrades(), 1);
}

// Issue 35, step 2: defect 6 (an acknowledged clear ends its context).

#[tokio::test]
async fn a_vendor_that_acknowledges_a_clear_frees_the_slot_at_once() {
    let s = serve(MuxEcho {
        ack_clears: true,
        char_delay: Duration::from_millis(5),
        ..MuxEcho::default()
    })
    .await;
    let p = provider_with_dialect(
        &s,
        2,
        |d| {
            // How long a cancelled context may take to end: far beyond the guard below.
            d.first_audio_timeout = Duration::from_secs(10);
            d.max_shared_sockets = 1;
        },
        |d| d.ack_clears = true,
    );
    {
        // Cancelled after its first audio: the vendor acknowledges the clear.
        let long = "a long utterance that the caller drops after its first audio. ".repeat(20);
        let mut cut = p
            .synthesize(long, voicing(), AudioFormat::pcm16_mono(16_000))
            .await
            .unwrap();
        cut.next().await.unwrap().unwrap();
    }
    // The other context held by an utterance that hangs: only the cleared
    // context's slot can serve the next one.
    let holder = tokio::spawn({
        let p = p.clone();
        async move { say(&p, "hang on").await }
    });
    // Sequencing only: the holder takes its context first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let next = tokio::time::timeout(Duration::from_secs(3), say(&p, "after the clear")).await;
    assert_eq!(
        next.expect("waited for the drain deadline").unwrap(),
        mux_audio("after the clear", 16_000)
    );
    holder.abort();
    assert_eq!(s.mock.kit().upgrades(), 1, "the socket was not retired");
}

// Issue 35, step 2: defect 8 (a half-open shared socket is found out).

#[tokio::test]
async fn a_shared_socket_gone_silent_is_found_by_its_ping_and_the_utterance_resent() {
    let s = serve(MuxEcho {
        silent_from_context: Some(2),
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 5, |d| {
        d.first_audio_timeout = Duration::from_secs(10);
        d.liveness_timeout = Duration::from_millis(500);
    });
    say(&p, "warm").await.unwrap();
    // The socket goes silent as the next context opens: its ping goes
    // unanswered, so the utterance goes again on a fresh socket long before
    // the first-audio timeout.
    let next = tokio::time::timeout(Duration::from_secs(5), say(&p, "after the silence")).await;
    assert_eq!(
        next.expect("waited for the first-audio timeout").unwrap(),
        mux_audio("after the silence", 16_000)
    );
    assert_eq!(s.mock.kit().upgrades(), 2);
}

// Issue 35, step 2: defect 6 (the dialect's socket hooks honoured on the shared path).

#[tokio::test]
async fn a_dialect_whose_sockets_carry_one_utterance_never_gets_a_reused_one() {
    let s = serve(MuxEcho::default()).await;
    let p = dialect_provider(&s, |d| d.reusable = false);
    say(&p, "one").await.unwrap();
    assert_eq!(say(&p, "two").await.unwrap(), mux_audio("two", 16_000));
    assert_eq!(s.mock.kit().upgrades(), 2, "a socket per utterance");
}

#[tokio::test]
async fn a_quiet_shared_socket_sends_the_dialects_keep_alive() {
    let s = serve(MuxEcho::default()).await;
    let p = dialect_provider(&s, |d| {
        d.keep_alive = Some(Duration::from_millis(100));
    });
    say(&p, "warm").await.unwrap();
    // The socket idles in its group (30 s): keep-alives keep it open.
    assert!(
        s.config.wait_keep_alives(2, Duration::from_secs(3)).await,
        "no keep-alive on the quiet socket"
    );
    assert_eq!(
        say(&p, "still open").await.unwrap(),
        mux_audio("still open", 16_000)
    );
    assert_eq!(s.mock.kit().upgrades(), 1);
}

// Issue 35, step 3: waiters served in the order they came, a session dropped
// while it waits never takes a slot, the dialect's flush limit honoured.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_waiting_for_a_slot_get_one_in_the_order_they_came() {
    let s = serve(MuxEcho {
        char_delay: Duration::from_micros(200),
        ..MuxEcho::default()
    })
    .await;
    // One socket of two contexts: thirty callers, each arriving 3 ms after
    // the one before, take turns; each must start in its arrival order.
    let p = provider(&s, 2, |d| {
        d.max_shared_sockets = 1;
        d.first_audio_timeout = Duration::from_secs(20);
    });
    let mut callers = Vec::new();
    for i in 0..30 {
        let p = p.clone();
        callers.push(tokio::spawn(async move { say(&p, &text_of(i)).await }));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for (i, caller) in callers.into_iter().enumerate() {
        let audio = caller.await.unwrap().unwrap();
        assert_eq!(audio, mux_audio(&text_of(i), 16_000), "utterance {i}");
    }
    let expected: Vec<String> = (0..30).map(text_of).collect();
    assert_eq!(
        s.config.ended_texts(),
        expected,
        "slots go first come, first served"
    );
}

#[tokio::test]
async fn a_session_dropped_while_it_waits_for_a_slot_never_takes_one() {
    let s = serve(MuxEcho {
        char_delay: Duration::from_millis(10),
        ..MuxEcho::default()
    })
    .await;
    let p = provider(&s, 2, |d| {
        d.max_shared_sockets = 1;
        d.first_audio_timeout = Duration::from_secs(10);
    });
    // Both contexts held for ~0.5 s each.
    let holders: Vec<_> = (0..2)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { say(&p, &text_of(i)).await })
        })
        .collect();
    let started = Instant::now();
    while s.config.peak_contexts.load(Ordering::SeqCst) < 2 {
        assert!(started.elapsed() < Duration::from_secs(3), "setup");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut session = p
        .stream(voicing(), AudioFormat::pcm16_mono(16_000))
        .await
        .unwrap();
    session.push_text("nobody will hear this").await.unwrap();
    session.flush().await.unwrap();
    // Sequencing only: the session's task takes the text and waits for a slot.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(session);
    for h in holders {
        h.await.unwrap().unwrap();
    }
    // Time for a wrongly woken waiter to open its context.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.config.contexts_opened.load(Ordering::SeqCst),
        2,
        "the dropped session opened a context nobody hears"
    );
}

#[tokio::test]
async fn the_dialects_flush_limit_holds_on_a_shared_socket_and_no_flush_is_lost() {
    let s = serve(MuxEcho::default()).await;
    // Two flushes per 600 ms on the group's one socket: five utterances at
    // once end in three waves, every one of them spoken.
    let window = Duration::from_millis(600);
    let p = provider_with_dialect(
        &s,
        5,
        |d| d.max_shared_sockets = 1,
        |m| m.flush_limit = Some((2, window)),
    );
    all_at_once(&p, 5).await;
    assert_eq!(s.mock.kit().upgrades(), 1);
    let ends = s.config.end_times();
    assert_eq!(ends.len(), 5);
    for (i, at) in ends.iter().enumerate().skip(2) {
        let gap = at.duration_since(ends[i - 2]);
        assert!(
            gap >= window - Duration::from_millis(20),
            "flush {i} came {gap:?} after the one two before it"
        );
    }
}

#[tokio::test]
async fn an_utterance_goes_on_another_socket_while_one_has_spent_its_flushes() {
    let s = serve(MuxEcho::default()).await;
    let p = provider_with_dialect(
        &s,
        5,
        |d| d.max_shared_sockets = 2,
        |m| m.flush_limit = Some((1, Duration::from_secs(5))),
    );
    assert_eq!(
        say(&p, &text_of(0)).await.unwrap(),
        mux_audio(&text_of(0), 16_000)
    );
    let started = Instant::now();
    assert_eq!(
        say(&p, &text_of(1)).await.unwrap(),
        mux_audio(&text_of(1), 16_000)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it waited for the first socket's window"
    );
    assert_eq!(s.mock.kit().upgrades(), 2);
}
