//! Relays as a fleet (issue 40, step 1): two relays sharing one real
//! `redis-server` count sessions per credential and the per-credential rate
//! together, and follow `on_redis_down` while Redis is gone: sessions already
//! open keep speaking, new ones are counted locally (`local`) or refused with
//! 503 (`refuse`), and once Redis is back the counting is shared again.
//!
//! The two relays run in this test process, each with its own state (sessions,
//! buckets, metrics) and its own listener: they share nothing but Redis, as two
//! `voxwire serve` processes do (the workspace's `tests/fleet_serve.rs` runs
//! those, over the offline voice).

mod common;

use std::time::{Duration, Instant};

use common::*;
use voxwire_server::{OnRedisDown, ServerSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::redis_server::RedisServer;

fn fleet_settings(redis: &RedisServer, tweak: impl FnOnce(&mut ServerSettings)) -> ServerSettings {
    let mut settings = shared_settings(redis);
    settings.shared.lease_ttl_s = 3;
    settings.max_sessions_per_token = 2;
    tweak(&mut settings);
    settings
}

async fn open(relay: &Started) -> Result<Ws, u16> {
    session_at(relay.addr, "codec=pcm").await
}

/// The upgrade's status and, when refused, its body.
async fn refusal(relay: &Started) -> (u16, String) {
    let reply = reqwest::Client::new()
        .get(format!("http://{}/v1/tts?codec=pcm", relay.addr))
        .header("authorization", bearer())
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    (
        reply.status().as_u16(),
        reply.text().await.unwrap_or_default(),
    )
}

/// Waits (bounded) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn speaks(ws: &mut Ws, text: &str) {
    delta(ws, text).await;
    done(ws).await;
    let frames = read_ends(ws, 1).await;
    assert_eq!(ends(&frames), ["audio.done"], "{frames:?}");
    assert_eq!(
        audio_of(&frames),
        voxwire_testkit::mock_xai::expected_audio(text, pcm())
    );
}

fn leases(redis: &RedisServer) -> String {
    redis
        .command(&["ZCARD", "voxwire:sessions:token:test"])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_allowed_two_sessions_gets_two_across_both_relays() {
    let redis = redis_server();
    let fake = FakeProvider::new("fake");
    let a = start(fake_router(&fake), fleet_settings(&redis, |_| {})).await;
    let b = start(fake_router(&fake), fleet_settings(&redis, |_| {})).await;
    let mut first = open(&a).await.unwrap();
    let second = open(&b).await.unwrap();
    assert_eq!(
        open(&a).await.err(),
        Some(429),
        "the third, on the first relay"
    );
    assert_eq!(
        open(&b).await.err(),
        Some(429),
        "the third, on the second relay"
    );
    assert_eq!(leases(&redis), ":2");
    // Every key expires: the set lives one lease TTL past its last write.
    let ttl: i64 = redis
        .command(&["PTTL", "voxwire:sessions:token:test"])
        .unwrap()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((1..=3_000).contains(&ttl), "{ttl}");
    speaks(&mut first, "Both relays count this session.").await;
    // A session's end gives its place back to the fleet.
    drop(second);
    eventually("the second session's lease is removed", || async {
        leases(&redis) == ":1"
    })
    .await;
    let _third = open(&a).await.unwrap();
    let metrics = metrics_of(a.addr).await;
    assert_eq!(
        sample(&metrics, "voxwire_shared_state_up "),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "voxwire_shared_state_fallbacks_total "),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_dies_leaks_no_lease_past_its_ttl() {
    let redis = redis_server();
    let fake = FakeProvider::new("fake");
    let a = start(fake_router(&fake), fleet_settings(&redis, |_| {})).await;
    let b = start(fake_router(&fake), fleet_settings(&redis, |_| {})).await;
    let _one = open(&a).await.unwrap();
    let _two = open(&a).await.unwrap();
    assert_eq!(open(&b).await.err(), Some(429));
    // The first relay dies at once: nothing renews or removes its leases.
    a.done.abort();
    eventually("the dead relay's leases expire", || async {
        open(&b).await.is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_together_get_the_credentials_rate_not_twice_it() {
    let redis = redis_server();
    let fake = FakeProvider::new("fake");
    let rated = |s: &mut ServerSettings| {
        s.token_utterances_per_second = Some(5.0);
        s.token_utterance_burst = 1.0;
    };
    let a = start(fake_router(&fake), fleet_settings(&redis, rated)).await;
    let b = start(fake_router(&fake), fleet_settings(&redis, rated)).await;
    let mut on_a = open(&a).await.unwrap();
    let mut on_b = open(&b).await.unwrap();
    let began = Instant::now();
    for ws in [&mut on_a, &mut on_b] {
        for i in 0..3 {
            delta(ws, format!("Shared rate {i}.")).await;
            done(ws).await;
        }
    }
    for ws in [&mut on_a, &mut on_b] {
        let frames = read_ends(ws, 3).await;
        assert_eq!(ends(&frames), ["audio.done"; 3]);
    }
    // Six utterances at 5 a second with a burst of 1: one at once, one every
    // 200 ms after (1 s). Each relay alone would let its three through in 400 ms.
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(950), "{took:?}");
    let delayed = |m: &str| {
        sample(
            m,
            "voxwire_utterance_delays_total{limit=\"token_utterances_per_second\"} ",
        )
        .unwrap_or(0.0)
    };
    let total = delayed(&metrics_of(a.addr).await) + delayed(&metrics_of(b.addr).await);
    assert!(total >= 2.0, "{total}");
    assert!(
        redis.command(&["PTTL", "voxwire:rate:token:test"]).unwrap() != ":-1",
        "the rate's key expires"
    );
}

/// A session speaking slowly across the moment Redis dies.
fn slow_fake() -> FakeProvider {
    FakeProvider::new("fake").scripted(vec![], Behaviour::Slow(Duration::from_millis(40)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_local_counting_takes_over_and_sharing_resumes_when_it_is_back() {
    let mut redis = redis_server();
    let fake = slow_fake();
    let settings = |redis: &RedisServer| {
        fleet_settings(redis, |s| {
            // A rate, so every utterance also asks Redis.
            s.token_utterances_per_second = Some(100.0);
            s.token_utterance_burst = 100.0;
        })
    };
    let a = start(fake_router(&fake), settings(&redis)).await;
    let b = start(fake_router(&fake), settings(&redis)).await;
    let mut running = open(&a).await.unwrap();
    let text = "This sentence is spoken while the shared state goes away.";
    delta(&mut running, text).await;
    done(&mut running).await;
    redis.stop();
    // The open session speaks to the end, and speaks again.
    let frames = read_ends(&mut running, 1).await;
    assert_eq!(ends(&frames), ["audio.done"], "{frames:?}");
    speaks(&mut running, "And once more with Redis gone.").await;
    // New sessions are counted by each relay alone: one more on the first
    // relay (two there), two on the second.
    let _a2 = open(&a).await.unwrap();
    assert_eq!(
        open(&a).await.err(),
        Some(429),
        "the first relay's own count"
    );
    let _b1 = open(&b).await.unwrap();
    let _b2 = open(&b).await.unwrap();
    let metrics = metrics_of(a.addr).await;
    assert_eq!(
        sample(&metrics, "voxwire_shared_state_up "),
        Some(0.0),
        "{metrics}"
    );
    assert!(sample(&metrics, "voxwire_shared_state_fallbacks_total ") >= Some(2.0));
    // Redis comes back empty; the relays put their live leases back.
    redis.restart().unwrap();
    eventually(
        "the four live sessions are counted in Redis again",
        || async { leases(&redis) == ":4" },
    )
    .await;
    // The fleet is over its limit of 2 now: nobody gets a new session,
    // though the second relay alone holds no more than its own two.
    assert_eq!(open(&a).await.err(), Some(429));
    assert_eq!(open(&b).await.err(), Some(429));
    assert_eq!(
        sample(&metrics_of(b.addr).await, "voxwire_shared_state_up "),
        Some(1.0)
    );
    speaks(&mut running, "Still speaking after Redis returned.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_and_refuse_new_sessions_get_503_and_open_ones_go_on() {
    let mut redis = redis_server();
    let fake = slow_fake();
    let refuse = |s: &mut ServerSettings| s.shared.on_redis_down = OnRedisDown::Refuse;
    let a = start(fake_router(&fake), fleet_settings(&redis, refuse)).await;
    let b = start(fake_router(&fake), fleet_settings(&redis, refuse)).await;
    let mut running = open(&a).await.unwrap();
    let text = "Spoken to the end although Redis dies meanwhile.";
    delta(&mut running, text).await;
    done(&mut running).await;
    redis.stop();
    let frames = read_ends(&mut running, 1).await;
    assert_eq!(ends(&frames), ["audio.done"], "{frames:?}");
    for relay in [&a, &b] {
        let (status, body) = refusal(relay).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("shared state (Redis)"), "{body}");
    }
    speaks(&mut running, "The open session goes on.").await;
    let metrics = metrics_of(b.addr).await;
    assert!(
        sample(
            &metrics,
            "voxwire_limit_breaches_total{limit=\"shared_state_down\"} "
        ) >= Some(1.0),
        "{metrics}"
    );
    redis.restart().unwrap();
    // The relays reconnect with back-off: the first call may still fail.
    let deadline = Instant::now() + Duration::from_secs(10);
    let _back = loop {
        match open(&b).await {
            Ok(ws) => break ws,
            Err(503) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("after Redis returned: {other}"),
        }
    };
    eventually("the running session is counted again", || async {
        leases(&redis) == ":2"
    })
    .await;
    assert_eq!(open(&b).await.err(), Some(429));
}
