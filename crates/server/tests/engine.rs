//! The session engine on real sockets: backpressure and slow clients, one end
//! per utterance, safe errors, timers, the shutdown grace, and the relay's
//! access, limits, metrics and multi-relay keys (issue 19, one test per point).

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use voxwire_core::{ErrorKind, Phase, Secret, TtsError};
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_server::{MetricsAccess, ServerSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::{expected_audio, expected_audio_len};

/// Polls `/metrics` until `check` holds (bounded), returning the last text.
async fn metrics_until(addr: std::net::SocketAddr, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let text = metrics_of(addr).await;
        if check(&text) || tokio::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Point 1: a client that stops reading is closed; its place and upstream are released.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_released() {
    let fake = FakeProvider::new("fake");
    let mut settings = token_settings();
    settings.client_send_timeout_ms = 300;
    settings.client_queue_frames = 2;
    settings.utterance_burst = 100.0;
    let relay = start(fake_router(&fake), settings).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    // Far more audio than loopback socket buffers hold, and never a read.
    let text = "word ".repeat(2_800);
    assert!(expected_audio_len(&text, pcm()) * 16 > 32 * 1024 * 1024);
    for _ in 0..16 {
        delta(&mut ws, &text).await;
        done(&mut ws).await;
    }
    let text = metrics_until(relay.addr, |m| {
        sample(m, "voxwire_sessions_active ") == Some(0.0)
            && sample(
                m,
                "voxwire_limit_breaches_total{limit=\"client_send_timeout\"} ",
            )
            .is_some()
    })
    .await;
    assert_eq!(
        sample(&text, "voxwire_sessions_active "),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "voxwire_limit_breaches_total{limit=\"client_send_timeout\"} "
        ) >= Some(1.0),
        "{text}"
    );
    // Another session is served meanwhile and afterwards.
    let mut other = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    delta(&mut other, "Still here.").await;
    done(&mut other).await;
    let frames = read_until(&mut other, |f| f["type"] == "audio.done").await;
    assert_eq!(audio_of(&frames), expected_audio("Still here.", pcm()));
    drop(ws);
}

// Point 1: idle counts audio sent, not only client frames.
#[tokio::test]
async fn a_long_utterance_outlives_the_idle_timeout() {
    let fake =
        FakeProvider::new("fake").scripted(vec![], Behaviour::Slow(Duration::from_millis(150)));
    let mut settings = token_settings();
    settings.idle_timeout_s = 1;
    let relay = start(fake_router(&fake), settings).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    // 4 KiB chunks, 150 ms apart: about 2.4 s of sending after one client frame.
    let text = "a".repeat(4096 * 16 / expected_audio_len("a", pcm()));
    delta(&mut ws, &text).await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(
        frames.last().unwrap()["type"],
        "audio.done",
        "{:?}",
        ends(&frames)
    );
    assert_eq!(audio_of(&frames), expected_audio(&text, pcm()));
    // With nothing sent either way, idle still closes the session.
    let frames = read_until(&mut ws, |_| false).await;
    assert_eq!(frames.last().unwrap()["code"], 1000);
}

// Points 2 and 3: every utterance gets one end; the error is safe.
#[tokio::test]
async fn every_pipelined_utterance_gets_exactly_one_end_and_errors_are_safe() {
    let leak = TtsError::from_http(
        400,
        Phase::Connect,
        "https://upstream.internal.example/v1/tts",
        b"{\"detail\":\"tenant 42 secret detail\"}",
    )
    .with_hint("operator: rotate the key in vault://ops");
    assert_eq!(leak.kind(), ErrorKind::InvalidRequest);
    let fake = FakeProvider::new("fake").scripted(
        vec![Behaviour::Speak, Behaviour::Fail(leak)],
        Behaviour::Speak,
    );
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    let texts = ["First one.", "Second one.", "Third one.", "Fourth one."];
    for t in texts {
        delta(&mut ws, t).await;
        done(&mut ws).await;
    }
    let mut frames = Vec::new();
    while ends(&frames).len() < texts.len() {
        let more = read_until(&mut ws, |f| {
            matches!(f["type"].as_str(), Some("audio.done" | "error"))
        })
        .await;
        assert!(!more.iter().any(|f| f["type"] == "close"), "{more:?}");
        frames.extend(more);
    }
    assert_eq!(
        ends(&frames),
        ["audio.done", "error", "audio.done", "audio.done"]
    );
    let error = frames.iter().find(|f| f["type"] == "error").unwrap();
    assert_eq!(error["kind"], "invalid_request", "{error}");
    assert_eq!(error["entry"], "fake", "{error}");
    let text = error.to_string();
    for secret in ["upstream.internal", "tenant 42", "vault", "HTTP 400"] {
        assert!(!text.contains(secret), "{text}");
    }
    // The audio of the others is all there, in order.
    let mut expected = expected_audio("First one.", pcm());
    expected.extend(expected_audio("Third one.", pcm()));
    expected.extend(expected_audio("Fourth one.", pcm()));
    assert_eq!(audio_of(&frames), expected);
    // Nothing more arrives: no second end for any of them.
    let extra = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(extra.is_err(), "{extra:?}");
}

// Point 2: refused utterances (pending bound, size) end with an error, once each.
#[tokio::test]
async fn refused_utterances_end_once_each() {
    // Slow enough that nothing ends before the last utterance is in.
    let fake = FakeProvider::new("fake").scripted(
        vec![],
        Behaviour::FirstAudioAfter(Duration::from_millis(500)),
    );
    let mut settings = token_settings();
    settings.max_pending_utterances = 2;
    settings.max_utterance_chars = 20;
    let relay = start(fake_router(&fake), settings).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    delta(&mut ws, "x".repeat(15)).await;
    delta(&mut ws, "x".repeat(15)).await; // over 20: refused
    delta(&mut ws, "more").await; // ignored up to its done
    done(&mut ws).await;
    for _ in 0..3 {
        delta(&mut ws, "Hi.").await;
        done(&mut ws).await; // the third is over the pending bound
    }
    let mut frames = Vec::new();
    while ends(&frames).len() < 4 {
        frames.extend(
            read_until(&mut ws, |f| {
                matches!(f["type"].as_str(), Some("audio.done" | "error"))
            })
            .await,
        );
    }
    // In the order they were sent.
    assert_eq!(
        ends(&frames),
        ["error", "audio.done", "audio.done", "error"],
        "{frames:?}"
    );
    let errors: Vec<_> = frames.iter().filter(|f| f["type"] == "error").collect();
    assert_eq!(errors[0]["kind"], "invalid_input");
    assert_eq!(errors[1]["kind"], "rate_limited");
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("max_pending_utterances"),
        "the refusal names the limit: {}",
        errors[1]
    );
    let extra = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(extra.is_err(), "{extra:?}");
}

// Point 1: the shutdown grace ends a stalled utterance with an error, then closes.
#[tokio::test]
async fn the_shutdown_grace_ends_stalled_utterances() {
    let fake = FakeProvider::new("fake").scripted(vec![], Behaviour::Stall);
    let mut settings = token_settings();
    settings.shutdown_grace_s = 1;
    let relay = start(fake_router(&fake), settings).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    delta(&mut ws, "This never speaks.").await;
    done(&mut ws).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let began = std::time::Instant::now();
    let _ = relay.stop.send(());
    let frames = read_until(&mut ws, |_| false).await;
    let n = frames.len();
    assert!(n >= 2, "{frames:?}");
    assert_eq!(frames[n - 2]["type"], "error", "{frames:?}");
    assert_eq!(frames[n - 2]["kind"], "unavailable");
    assert_eq!(frames[n - 1]["code"], 1001);
    assert!(began.elapsed() < Duration::from_secs(5));
    tokio::time::timeout(LIMIT, relay.done)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

// Point 4: open mode checks Origin (default: loopback origins only).
#[tokio::test]
async fn open_mode_refuses_foreign_origins() {
    let fake = FakeProvider::new("fake");
    let settings = ServerSettings {
        open: true,
        ..ServerSettings::default()
    };
    let relay = start(fake_router(&fake), settings).await;
    let evil = raw_to(relay.addr, "", &[("origin", "https://evil.example")]).await;
    assert_eq!(status(evil), 403);
    let page = format!("http://{}", relay.addr);
    let local = raw_to(relay.addr, "", &[("origin", &page)]).await;
    assert_eq!(status(local), 101);
    let localhost = raw_to(relay.addr, "", &[("origin", "http://localhost:5173")]).await;
    assert_eq!(status(localhost), 101);
    // No Origin (not a browser): allowed, as before.
    assert_eq!(status(raw_to(relay.addr, "", &[]).await), 101);
}

// Point 4: no tokens on loopback: a generated token and a ready demo URL.
#[tokio::test]
async fn no_tokens_on_loopback_starts_with_a_generated_token() {
    let fake = FakeProvider::new("fake");
    let relay = start(fake_router(&fake), ServerSettings::default()).await;
    let token = relay.generated.clone().expect("a generated token");
    assert!(token.len() >= 32);
    assert_eq!(
        relay.demo_url,
        format!("http://{}/?token={token}", relay.addr)
    );
    // The page's way in: the token as the query parameter, from its own origin.
    let page = format!("http://{}", relay.addr);
    let mut ws = raw_to(
        relay.addr,
        &format!("codec=pcm&token={token}"),
        &[("origin", &page)],
    )
    .await
    .unwrap();
    delta(&mut ws, "Hello demo.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(audio_of(&frames), expected_audio("Hello demo.", pcm()));
    // Without it, or from another site, no.
    assert_eq!(
        status(raw_to(relay.addr, "", &[("origin", &page)]).await),
        401
    );
    let evil = raw_to(
        relay.addr,
        &format!("token={token}"),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(status(evil), 403);
    // Off loopback the relay still refuses to start without tokens.
    let refused = voxwire_server::Relay::bind(
        "0.0.0.0:0".parse().unwrap(),
        fake_router(&fake),
        ServerSettings::default(),
    )
    .await;
    assert!(refused.is_err());
}

// Point 5: rates per session, sessions per browser subject.
#[tokio::test]
async fn limits_apply_per_session_and_per_browser_subject() {
    let fake = FakeProvider::new("fake");
    let mut settings = token_settings();
    settings.browser_utterances_per_second = 0.001;
    settings.browser_utterance_burst = 2.0;
    settings.max_sessions_per_token = 1;
    let relay = start(fake_router(&fake), settings).await;
    // Two browser users of one backend: each its own session allowance.
    let alice = mint(relay.addr, ORIGIN, Some("alice")).await;
    let bob = mint(relay.addr, ORIGIN, Some("bob")).await;
    let mut a = raw_to(
        relay.addr,
        &format!("codec=pcm&token={alice}"),
        &[("origin", ORIGIN)],
    )
    .await
    .unwrap();
    let mut b = raw_to(
        relay.addr,
        &format!("codec=pcm&token={bob}"),
        &[("origin", ORIGIN)],
    )
    .await
    .unwrap();
    let alice_again = raw_to(relay.addr, &format!("token={alice}"), &[("origin", ORIGIN)]).await;
    assert_eq!(status(alice_again), 429);
    // Alice spends her session's burst: her third utterance waits for its
    // turn (never refused); Bob's session is untouched.
    for _ in 0..3 {
        delta(&mut a, "Hi.").await;
        done(&mut a).await;
    }
    let mut frames = Vec::new();
    while ends(&frames).len() < 2 {
        frames.extend(
            read_until(&mut a, |f| {
                matches!(f["type"].as_str(), Some("audio.done" | "error"))
            })
            .await,
        );
    }
    assert_eq!(ends(&frames), ["audio.done", "audio.done"]);
    let waiting = tokio::time::timeout(Duration::from_millis(300), a.next()).await;
    assert!(waiting.is_err(), "the third waits: {waiting:?}");
    for _ in 0..2 {
        delta(&mut b, "Hi.").await;
        done(&mut b).await;
    }
    let mut frames = Vec::new();
    while ends(&frames).len() < 2 {
        frames.extend(
            read_until(&mut b, |f| {
                matches!(f["type"].as_str(), Some("audio.done" | "error"))
            })
            .await,
        );
    }
    assert_eq!(ends(&frames), ["audio.done", "audio.done"]);
}

// Point 6: metrics by entry, entry health, configurable access.
#[tokio::test]
async fn metrics_are_per_entry_and_access_is_configurable() {
    let fake = FakeProvider::new("fake");
    let mut settings = token_settings();
    settings.metrics = MetricsAccess::Token;
    let relay = start(fake_router(&fake), settings).await;
    let url = format!("http://{}/metrics", relay.addr);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 401);
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    delta(&mut ws, "Counted.").await;
    done(&mut ws).await;
    read_until(&mut ws, |f| f["type"] == "audio.done").await;
    let text = reqwest::Client::new()
        .get(&url)
        .header("authorization", bearer())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&text, "voxwire_utterances_total{entry=\"fake\"} "),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "voxwire_entry_up{entry=\"fake\"} "),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "voxwire_first_audio_seconds_count{entry=\"fake\"} "),
        Some(1.0),
        "{text}"
    );
    let seconds = sample(&text, "voxwire_audio_seconds_total{entry=\"fake\"} ").unwrap();
    let expected = expected_audio_len("Counted.", pcm()) as f64 / 48_000.0;
    assert!((seconds - expected).abs() < 1e-6, "{seconds} vs {expected}");
    let mut off = token_settings();
    off.metrics = MetricsAccess::Off;
    let quiet = start(fake_router(&fake), off).await;
    let reply = reqwest::get(format!("http://{}/metrics", quiet.addr))
        .await
        .unwrap();
    assert_eq!(reply.status(), 404);
}

// Point 7: two relays with one key; rotation keeps old tokens good.
#[tokio::test]
async fn a_token_minted_by_one_relay_is_accepted_by_another() {
    let fake = FakeProvider::new("fake");
    let old = Secret::new("rotation-key-old-0123456789");
    let new = Secret::new("rotation-key-new-0123456789");
    let mut first = token_settings();
    first.browser_token_keys = vec![old.clone()];
    let mut second = token_settings();
    second.browser_token_keys = vec![new.clone(), old.clone()];
    let a = start(fake_router(&fake), first).await;
    let b = start(fake_router(&fake), second).await;
    let minted_by_a = mint(a.addr, ORIGIN, Some("user-1")).await;
    let mut ws = raw_to(
        b.addr,
        &format!("codec=pcm&token={minted_by_a}"),
        &[("origin", ORIGIN)],
    )
    .await
    .unwrap();
    delta(&mut ws, "Across relays.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(audio_of(&frames), expected_audio("Across relays.", pcm()));
    // B signs with its first key, which A does not know.
    let minted_by_b = mint(b.addr, ORIGIN, None).await;
    let refused = raw_to(
        a.addr,
        &format!("token={minted_by_b}"),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(status(refused), 401);
    // A relay with its own random key refuses both.
    let c = start(fake_router(&fake), token_settings()).await;
    let refused = raw_to(
        c.addr,
        &format!("token={minted_by_a}"),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(status(refused), 401);
}

/// The duplicate bound through a relay: when the relay's own chain replayed a
/// sentence and then failed it, the error frame says how far its audio got, so
/// the browser's router in front resumes there instead of replaying again.
#[tokio::test]
async fn an_error_after_a_replay_tells_the_client_how_far_the_audio_got() {
    let mid = || TtsError::new(ErrorKind::Unavailable, "connection reset");
    // a speaks the first utterance, then dies mid-sentence; b replays and dies.
    // Paced, so that the audio before each failure is handed on (audio the
    // router has not handed on when its entry fails is dropped, not replayed).
    let pace = Duration::from_millis(20);
    let a = FakeProvider::new("a").scripted(
        vec![Behaviour::Speak],
        Behaviour::SlowFailAfter(pace, 2, mid()),
    );
    let b = FakeProvider::new("b").scripted(vec![], Behaviour::SlowFailAfter(pace, 4, mid()));
    let quick = Policy {
        max_retries: 0,
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        ..Policy::default()
    };
    let router = Router::new(
        vec![(a.arc(), quick.clone()), (b.arc(), quick)],
        RouterSettings::default(),
    )
    .unwrap();
    let relay = start(router, token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    let text =
        "This sentence is long enough to be cut into many chunks of audio by every fake provider.";
    // The first utterance is spoken; the note belongs to the second's own
    // first sentence (the session's second piece), not only to a session's first.
    delta(&mut ws, text).await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(frames.last().unwrap()["type"], "audio.done", "{frames:?}");
    delta(&mut ws, text).await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "error").await;
    let error = frames.last().unwrap();
    assert_eq!(error["type"], "error", "{frames:?}");
    let at = error["voxwire_replayed_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("a replay position: {error}"));
    assert!(at > 0, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(!message.contains("connection reset"), "safe: {message}");
}
