//! Relays as a fleet, step 3 (issue 40), end to end: two `voxwire serve`
//! processes on one real `redis-server` share their chain's health. The
//! chain is an xAI entry on a mock xAI server that rejects the key (403),
//! then the offline voice: once relay A marks the xAI entry down, relay B's
//! first utterance goes straight to the offline voice (the mock sees no
//! request from it), and when the mock accepts the key again one probe, by
//! either relay, brings the entry back on both. (The in-process suite, with
//! probe counting over several cooldowns, the lease taken over and Redis
//! killed, is `crates/server/tests/fleet_health.rs`.)

mod common;

use std::time::{Duration, Instant};

use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai, RequestKind};
use voxwire_testkit::redis_server::RedisServer;

const TOKEN: &str = "fleet-health-token-0123456789";
const KEY: &str = "xai-fleet-health-SECRET-7";

fn config(redis: &RedisServer) -> String {
    format!(
        "[server.shared]\nredis_url = \"{}\"\n\n[[chain]]\nprovider = \"xai\"\npolicy = {{ max_retries = 0, cooldown_ms = 3000, cooldown_max_ms = 3000 }}\n\n[[chain]]\nprovider = \"espeak\"\n",
        redis.url()
    )
}

async fn serve(
    dir: &std::path::Path,
    redis: &RedisServer,
    mock: &MockXai,
) -> (common::Relay, String) {
    let base = mock.base_url();
    let envs = [
        ("VOXWIRE_SERVER_TOKEN", TOKEN),
        ("XAI_API_KEY", KEY),
        ("XAI_BASE_URL", base.as_str()),
    ];
    common::start(common::serve_command(dir, &config(redis), "XAI", &envs)).await
}

/// One utterance on a new session of `addr`, read to its `audio.done`.
async fn say(addr: &str, text: &str) {
    let mut ws = common::open_session(addr, TOKEN).await.unwrap();
    common::send_utterance(&mut ws, text).await;
    common::finish_utterance(&mut ws).await.unwrap();
}

/// `voxwire_entry_up{entry="xai"}` and `voxwire_entry_chars_sent_total{entry="xai"}` of the relay at `addr`.
async fn xai_metrics(addr: &str) -> (f64, f64) {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("entry=\"xai\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (
        sample("voxwire_entry_up{"),
        sample("voxwire_entry_chars_sent_total{"),
    )
}

fn speech_requests(mock: &MockXai) -> usize {
    mock.requests()
        .iter()
        .filter(|r| matches!(r.kind, RequestKind::Rest | RequestKind::WebSocket))
        .count()
}

async fn eventually_up(addr: &str, up: f64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while xai_metrics(addr).await.0 != up {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_an_entry_down_and_its_recovery() {
    let redis = RedisServer::start().expect("a redis-server (cargo xtask setup installs it)");
    let mock = MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_faults(FaultPlan::always(Fault::reject(403, "forbidden"))),
    )
    .await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, a) = serve(dir_a.path(), &redis, &mock).await;
    let (_b, b) = serve(dir_b.path(), &redis, &mock).await;

    say(&a, "Relay A finds the key rejected.").await;
    eventually_up(&a, 0.0, "relay A marks it down").await;
    eventually_up(&b, 0.0, "relay B learns it is down").await;
    // (Each relay also opens a connection ahead when it starts.)
    let before = speech_requests(&mock);
    say(&b, "Relay B goes straight to the offline voice.").await;
    assert_eq!(speech_requests(&mock), before, "no request from relay B");
    assert_eq!(xai_metrics(&b).await.1, 0.0, "relay B sent xai nothing");

    // The key is accepted again: a probe (3 s cooldown) brings it back on both.
    mock.set_fault(FaultPlan::none());
    eventually_up(&a, 1.0, "back on relay A").await;
    eventually_up(&b, 1.0, "back on relay B").await;
    let probes = speech_requests(&mock) - before;
    assert!((1..=2).contains(&probes), "{probes} probes");
    say(&b, "Relay B uses it again.").await;
    assert!(xai_metrics(&b).await.1 > 0.0);
}
