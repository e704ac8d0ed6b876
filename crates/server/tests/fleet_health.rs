//! Relays as a fleet, step 3 (issue 40): chain entries' health shared
//! through one real `redis-server`. Two relays in this process, each over a
//! router of its own (an xAI entry on one mock that rejects the key, then a
//! fake): once relay A marks the xAI entry down, relay B skips it without
//! asking it; while it is down the fleet probes it once per cooldown, not
//! once per relay; when the key is accepted again, one probe brings it back
//! on both. With Redis killed each relay keeps its own health, and shares
//! again when Redis is back.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use voxwire_core::{Secret, TtsProvider};
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai, RequestKind};
use voxwire_testkit::redis_server::RedisServer;
use voxwire_xai::{XaiProvider, XaiSettings};

const COOLDOWN_MS: u64 = 1_000;

async fn rejecting_mock() -> MockXai {
    MockXai::start(
        MockConfig::new()
            .with_api_key(UPSTREAM_KEY)
            .with_faults(FaultPlan::always(Fault::reject(403, "forbidden"))),
    )
    .await
}

/// A router of its own over the shared mock (first) and a fake.
fn router(mock: &MockXai) -> Router {
    let xai: Arc<dyn TtsProvider> = Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(UPSTREAM_KEY)),
            base_url: Some(mock.base_url()),
            ..XaiSettings::default()
        })
        .unwrap(),
    );
    let policy = Policy {
        max_retries: 0,
        cooldown_ms: COOLDOWN_MS,
        cooldown_max_ms: COOLDOWN_MS,
        ..Policy::default()
    };
    Router::new(
        vec![
            (xai, policy.clone()),
            (FakeProvider::new("fallback").arc(), policy),
        ],
        RouterSettings::default(),
    )
    .unwrap()
}

/// One utterance on a new session of `relay`, spoken to its end.
async fn say(relay: &Started, text: &str) {
    let mut ws = session_at(relay.addr, "codec=pcm").await.unwrap();
    delta(&mut ws, text).await;
    done(&mut ws).await;
    let frames = read_ends(&mut ws, 1).await;
    assert_eq!(ends(&frames), ["audio.done"], "{frames:?}");
}

async fn eventually(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Recovery probes `router` made of its xAI entry.
fn probes(router: &Router) -> u64 {
    let per_probe = RouterSettings::default().probe_text.chars().count() as u64;
    router.usage()[0].probe_chars / per_probe
}

/// The value of `key` (a bulk reply read whole; `command` gives one line).
fn get(redis: &RedisServer, key: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    tcp.write_all(format!("GET {key}\r\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf).unwrap();
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        if text.starts_with("$-1") {
            return String::new();
        }
        if let Some((len, rest)) = text.trim_start_matches('$').split_once("\r\n") {
            if rest.len() >= len.parse::<usize>().unwrap() + 2 {
                return rest.trim_end().to_string();
            }
        }
        assert!(n > 0, "short reply: {text}");
    }
}

/// Speech requests the mock received (voice listings left out).
fn speech_requests(mock: &MockXai) -> u64 {
    mock.requests()
        .iter()
        .filter(|r| matches!(r.kind, RequestKind::Rest | RequestKind::WebSocket))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_down_on_one_relay_is_skipped_and_probed_once_by_the_fleet() {
    let redis = redis_server();
    let mock = rejecting_mock().await;
    let (ra, rb) = (router(&mock), router(&mock));
    let a = start(ra.clone(), shared_settings(&redis)).await;
    let b = start(rb.clone(), shared_settings(&redis)).await;

    say(&a, "Relay A finds the key rejected.").await;
    assert!(!ra.is_available("xai"));
    assert_eq!(speech_requests(&mock), 1);
    eventually("relay B learns it is down", Duration::from_secs(3), || {
        !rb.is_available("xai")
    })
    .await;
    say(&b, "Relay B goes straight to the fallback.").await;
    assert_eq!(rb.usage()[0].attempts, 0, "{:?}", rb.usage());
    assert_eq!(rb.usage()[0].chars_sent, 0);

    // Both down, both with a probe task; the fleet probes once per cooldown.
    let record = get(&redis, "voxwire:health:xai");
    assert!(record.contains("\"down\":true"), "{record}");
    let ttl = redis.command(&["PTTL", "voxwire:health:xai"]).unwrap();
    assert!(!ttl.contains("-1"), "the record expires: {ttl}");
    let lease = redis.command(&["PTTL", "voxwire:probe:xai"]).unwrap();
    assert!(!lease.contains("-1"), "the lease expires: {lease}");
    let watched = Instant::now();
    let before = probes(&ra) + probes(&rb);
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let (pa, pb) = (probes(&ra), probes(&rb));
    let made = pa + pb - before;
    let cooldowns = watched.elapsed().as_millis() as u64 / COOLDOWN_MS;
    assert!(
        (2..=cooldowns + 1).contains(&made),
        "{made} probes in {cooldowns} cooldowns (A {pa}, B {pb})"
    );
    eprintln!("{made} probes in {cooldowns} cooldowns (A {pa}, B {pb})");
    assert!(pa == 0 || pb == 0, "one relay probes: A {pa}, B {pb}");
    assert_eq!(
        speech_requests(&mock),
        1 + pa + pb,
        "nothing but A's first request and the probes reached the mock"
    );

    // The key works again: one probe brings it back on both relays.
    mock.set_fault(FaultPlan::none());
    eventually("back on both", Duration::from_secs(5), || {
        ra.is_available("xai") && rb.is_available("xai")
    })
    .await;
    say(&b, "Relay B uses it again.").await;
    assert!(rb.usage()[0].attempts >= 1);
    let record = get(&redis, "voxwire:health:xai");
    assert!(record.contains("\"down\":false"), "{record}");
    let _ = a.stop.send(());
    let _ = b.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_relay_keeps_its_own_health_then_shares_again() {
    let mut redis = redis_server();
    let mock = rejecting_mock().await;
    let (ra, rb) = (router(&mock), router(&mock));
    let a = start(ra.clone(), shared_settings(&redis)).await;
    let b = start(rb.clone(), shared_settings(&redis)).await;
    redis.stop();

    // Alone: each relay finds the failure itself and probes it itself.
    say(&a, "Relay A alone.").await;
    assert!(!ra.is_available("xai"));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(rb.is_available("xai"), "nothing shared while Redis is down");
    say(&b, "Relay B alone.").await;
    assert!(!rb.is_available("xai"));
    assert_eq!(rb.usage()[0].attempts, 1);
    eventually("both probe", Duration::from_secs(5), || {
        probes(&ra) >= 1 && probes(&rb) >= 1
    })
    .await;
    mock.set_fault(FaultPlan::none());
    eventually("each brings it back", Duration::from_secs(5), || {
        ra.is_available("xai") && rb.is_available("xai")
    })
    .await;
    let metrics = metrics_of(a.addr).await;
    assert_eq!(sample(&metrics, "voxwire_shared_state_up "), Some(0.0));

    // Redis back: shared again.
    redis.restart().unwrap();
    eventually("Redis answers the relays", Duration::from_secs(5), || {
        redis.ping()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    mock.set_fault(FaultPlan::always(Fault::reject(403, "forbidden")));
    say(&a, "Relay A finds it rejected again.").await;
    assert!(!ra.is_available("xai"));
    eventually("relay B learns it again", Duration::from_secs(5), || {
        !rb.is_available("xai")
    })
    .await;
    let _ = a.stop.send(());
    let _ = b.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_probing_relay_stops_another_takes_the_lease_over() {
    let redis = redis_server();
    let mock = rejecting_mock().await;
    let (ra, rb) = (router(&mock), router(&mock));
    let a = start(ra.clone(), shared_settings(&redis)).await;
    let b = start(rb.clone(), shared_settings(&redis)).await;
    say(&a, "Relay A takes the lease.").await;
    eventually("relay B learns it is down", Duration::from_secs(3), || {
        !rb.is_available("xai")
    })
    .await;
    eventually("relay A probes", Duration::from_secs(5), || {
        probes(&ra) >= 1
    })
    .await;
    assert_eq!(probes(&rb), 0);

    // Relay A stops: its lease is no longer renewed; relay B takes it.
    let _ = a.stop.send(());
    let _ = a.done.await;
    eventually("relay B probes", Duration::from_secs(6), || {
        probes(&rb) >= 1
    })
    .await;
    let stopped_at = probes(&ra);
    mock.set_fault(FaultPlan::none());
    eventually("relay B brings it back", Duration::from_secs(5), || {
        rb.is_available("xai")
    })
    .await;
    assert!(probes(&ra) <= stopped_at + 1, "A stopped probing");
    let _ = b.stop.send(());
}
