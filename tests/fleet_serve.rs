//! Relays as a fleet, end to end (issue 40, step 1): two `voxwire serve`
//! processes over the offline voice share one real `redis-server` through
//! `[server.shared]`. A token allowed two sessions gets two across both and
//! the third is refused on either; a relay killed with its sessions open
//! leaks them for no longer than the lease TTL; with Redis killed the open
//! session speaks on and new sessions follow `on_redis_down`, and once Redis
//! is back the count is shared again; a token's per-minute character quota
//! is counted across both, and `GET /v1/usage` gives the same totals on
//! either (step 2). The relays' stderr is closed after
//! their first line (`common::start`): logging the outage must not fail them.
//! (The in-process suite with the rate and
//! the `refuse` policy is `crates/server/tests/fleet.rs`.)

mod common;

use std::time::{Duration, Instant};

use voxwire_testkit::redis_server::RedisServer;

const TOKEN: &str = "fleet-test-token-0123456789";

fn config(redis: &RedisServer) -> String {
    format!(
        "[server]\nmax_sessions_per_token = 2\n\n[server.shared]\nredis_url = \"{}\"\nlease_ttl_s = 3\n\n[[chain]]\nprovider = \"espeak\"\n",
        redis.url()
    )
}

async fn serve(dir: &std::path::Path, redis: &RedisServer) -> (common::Relay, String) {
    let envs = [("VOXWIRE_SERVER_TOKEN", TOKEN)];
    common::start(common::serve_command(dir, &config(redis), "ESPEAK", &envs)).await
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn leases(redis: &RedisServer) -> String {
    redis
        .command(&["ZCARD", "voxwire:sessions:token:env"])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_serve_processes_count_a_credentials_sessions_together() {
    let redis = RedisServer::start().expect("a redis-server (cargo xtask setup installs it)");
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let (a, a_addr) = serve(&a_dir, &redis).await;
    let (_b, b_addr) = serve(&b_dir, &redis).await;
    let mut on_a = common::open_session(&a_addr, TOKEN).await.unwrap();
    let mut on_b = common::open_session(&b_addr, TOKEN).await.unwrap();
    assert_eq!(common::open_session(&a_addr, TOKEN).await.err(), Some(429));
    assert_eq!(common::open_session(&b_addr, TOKEN).await.err(), Some(429));
    common::send_utterance(&mut on_a, "Two relays, one count.").await;
    assert!(common::finish_utterance(&mut on_a).await.unwrap() > 0);
    common::send_utterance(&mut on_b, "The second relay speaks too.").await;
    assert!(common::finish_utterance(&mut on_b).await.unwrap() > 0);
    // The first relay dies with its session open: its lease lapses within
    // the TTL (3 s), and the second relay takes a session in its place.
    drop(a);
    drop(on_a);
    eventually("the dead relay's lease expires", || async {
        leases(&redis) == ":1"
    })
    .await;
    let _again = common::open_session(&b_addr, TOKEN).await.unwrap();
    assert_eq!(common::open_session(&b_addr, TOKEN).await.err(), Some(429));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_killed_a_session_speaks_on_and_counting_is_shared_again_after() {
    let mut redis = RedisServer::start().expect("a redis-server (cargo xtask setup installs it)");
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let (_a, a_addr) = serve(&a_dir, &redis).await;
    let (_b, b_addr) = serve(&b_dir, &redis).await;
    let mut running = common::open_session(&a_addr, TOKEN).await.unwrap();
    common::send_utterance(&mut running,
        "This long sentence is spoken while the fleet's shared state goes away, and it is heard to its end all the same.",
    )
    .await;
    redis.stop();
    assert!(common::finish_utterance(&mut running).await.unwrap() > 0);
    common::send_utterance(&mut running, "And again, with Redis gone.").await;
    assert!(common::finish_utterance(&mut running).await.unwrap() > 0);
    // on_redis_down = "local" (the default): each relay counts alone.
    let _a2 = common::open_session(&a_addr, TOKEN).await.unwrap();
    assert_eq!(common::open_session(&a_addr, TOKEN).await.err(), Some(429));
    let _b1 = common::open_session(&b_addr, TOKEN).await.unwrap();
    redis.restart().unwrap();
    eventually(
        "the three live sessions are counted in Redis again",
        || async { leases(&redis) == ":3" },
    )
    .await;
    // Shared again: the second relay holds one session, yet the fleet is full.
    assert_eq!(common::open_session(&b_addr, TOKEN).await.err(), Some(429));
    common::send_utterance(&mut running, "Still here once Redis is back.").await;
    assert!(common::finish_utterance(&mut running).await.unwrap() > 0);
}

/// Two relays whose one server token has a character quota per minute.
fn quota_config(redis: &RedisServer) -> String {
    format!(
        "[server]\ntokens = [{{ id = \"agent\", secret = \"{TOKEN}\", chars_per_minute = 60 }}]\n\n[server.shared]\nredis_url = \"{}\"\n\n[[chain]]\nprovider = \"espeak\"\n",
        redis.url()
    )
}

async fn usage(addr: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("http://{addr}/v1/usage"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_serve_processes_share_a_quota_and_their_usage() {
    let redis = RedisServer::start().expect("a redis-server (cargo xtask setup installs it)");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, addr_a) = common::start(common::serve_command(
        dir_a.path(),
        &quota_config(&redis),
        "ESPEAK",
        &[],
    ))
    .await;
    let (_b, addr_b) = common::start(common::serve_command(
        dir_b.path(),
        &quota_config(&redis),
        "ESPEAK",
        &[],
    ))
    .await;
    // 25 characters on each relay, then 25 more: over the 60 of the minute.
    let text = "Twenty-five characters!!";
    assert_eq!(text.chars().count(), 24);
    let mut a = common::open_session(&addr_a, TOKEN).await.unwrap();
    common::send_utterance(&mut a, text).await;
    assert!(common::finish_utterance(&mut a).await.is_ok());
    let mut b = common::open_session(&addr_b, TOKEN).await.unwrap();
    common::send_utterance(&mut b, text).await;
    assert!(common::finish_utterance(&mut b).await.is_ok());
    common::send_utterance(&mut b, text).await;
    let refused = common::finish_utterance(&mut b)
        .await
        .expect_err("the third is over the quota");
    assert!(
        refused.contains("chars_per_minute") && refused.contains("60"),
        "{refused}"
    );
    // Both relays answer the fleet's totals (each writes its counts within a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (on_a, on_b) = (usage(&addr_a).await, usage(&addr_b).await);
        let agent = &on_a["credentials"]["token:agent"];
        if on_a == on_b && agent["chars"] == 48 && agent["utterances"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never the same totals: {on_a} vs {on_b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
