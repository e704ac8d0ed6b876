//! Character quotas per server token (issue 40, step 2): `chars_per_minute`
//! counted as sentences are handed to the router, across two relays sharing a
//! real `redis-server` and in process without `[server.shared]`; the
//! utterance that crosses the quota is refused with a `rate_limited` error
//! frame naming the quota, the OpenAI front answers an OpenAI-shaped 429, the
//! xAI REST front a 429 with `Retry-After`; while Redis is down the quota is
//! counted in process. Usage (`GET /v1/usage`): the same fleet totals on
//! either relay, a relay's own without Redis (the REST front's included),
//! failovers counted for the credential and the entry they left.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use voxwire_server::ServerSettings;
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::redis_server::RedisServer;

/// The quota of the test token.
const PER_MINUTE: u64 = 60;

/// 25 characters each: two fit in the minute's 60, a third does not.
const TEXTS: [&str; 3] = [
    "Counted on the first one.",
    "Counted on the second no.",
    "This one goes over quota.",
];

fn quota_settings(redis: Option<&RedisServer>) -> ServerSettings {
    let mut settings = redis.map_or_else(token_settings, shared_settings);
    settings.tokens[0].chars_per_minute = Some(PER_MINUTE);
    settings
}

/// Waits for a fresh minute when this one is nearly over, so the test's
/// characters all fall in one window.
async fn early_in_a_minute() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now % 60 >= 40 {
        tokio::time::sleep(Duration::from_secs(61 - now % 60)).await;
    }
}

async fn open(relay: &Started) -> Ws {
    session_at(relay.addr, "codec=pcm").await.unwrap()
}

/// Sends `text` as one utterance and returns its frames up to its end.
async fn utter(ws: &mut Ws, text: &str) -> Vec<serde_json::Value> {
    delta(ws, text).await;
    done(ws).await;
    read_ends(ws, 1).await
}

/// The one error frame among `frames`, after no audio.
fn refused(frames: &[serde_json::Value]) -> serde_json::Value {
    assert_eq!(ends(frames), ["error"], "{frames:?}");
    assert!(audio_of(frames).is_empty(), "nothing is spoken");
    frames
        .iter()
        .find(|f| f["type"] == "error")
        .cloned()
        .unwrap()
}

fn names_the_quota(message: &str) {
    assert!(
        message.contains("this token's chars_per_minute quota (60) is used up: it resets in"),
        "{message}"
    );
}

/// The OpenAI front's 429 and the xAI REST front's 429 for `relay`.
async fn rest_fronts_refuse(relay: &Started) {
    let http = reqwest::Client::new();
    let reply = http
        .post(format!("http://{}/v1/audio/speech", relay.addr))
        .bearer_auth(SERVER_TOKEN)
        .json(&serde_json::json!({"model": "tts-1", "voice": "alloy", "input": TEXTS[2], "response_format": "pcm"}))
        .timeout(LIMIT)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 429);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    names_the_quota(body["error"]["message"].as_str().unwrap());
    let reply = http
        .post(format!("http://{}/v1/tts", relay.addr))
        .bearer_auth(SERVER_TOKEN)
        .json(&serde_json::json!({"text": TEXTS[2], "output_format": {"codec": "pcm"}}))
        .timeout(LIMIT)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 429);
    let wait: u64 = reply.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["kind"], "rate_limited", "{body}");
    names_the_quota(body["error"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_minute_quota_is_counted_across_two_relays() {
    let redis = redis_server();
    let fake = FakeProvider::new("fake");
    let a = start(fake_router(&fake), quota_settings(Some(&redis))).await;
    let b = start(fake_router(&fake), quota_settings(Some(&redis))).await;
    early_in_a_minute().await;
    let mut on_a = open(&a).await;
    let mut on_b = open(&b).await;
    assert_eq!(ends(&utter(&mut on_a, TEXTS[0]).await), ["audio.done"]);
    assert_eq!(ends(&utter(&mut on_b, TEXTS[1]).await), ["audio.done"]);
    // 50 of 60 used across the fleet: 25 more cross it, on either relay.
    let error = refused(&utter(&mut on_b, TEXTS[2]).await);
    assert_eq!(error["kind"], "rate_limited", "{error}");
    names_the_quota(error["message"].as_str().unwrap());
    // The session goes on: a text that fits is still spoken.
    assert_eq!(ends(&utter(&mut on_b, "Ten chars.").await), ["audio.done"]);
    rest_fronts_refuse(&a).await;
    // The minute's key expires; nothing was counted in process.
    // Only the windows with a limit are counted (no chars_per_day here).
    let minute = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60;
    let key = format!("voxwire:quota:token:test:m:{minute}");
    assert_eq!(
        redis.command(&["INCRBY", &key, "0"]).unwrap(),
        ":60",
        "50, then 10"
    );
    let ttl: i64 = redis
        .command(&["TTL", &key])
        .unwrap()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((1..=120).contains(&ttl), "{ttl}");
    assert_eq!(
        redis
            .command(&["KEYS", "voxwire:quota:token:test:d:*"])
            .unwrap(),
        "*0"
    );
    let metrics = metrics_of(b.addr).await;
    assert_eq!(
        sample(
            &metrics,
            "voxwire_limit_breaches_total{limit=\"chars_per_minute\"} "
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "voxwire_shared_state_fallbacks_total "),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_shared_state_the_quota_holds_in_process() {
    let fake = FakeProvider::new("fake");
    let relay = start(fake_router(&fake), quota_settings(None)).await;
    early_in_a_minute().await;
    let mut ws = open(&relay).await;
    assert_eq!(ends(&utter(&mut ws, TEXTS[0]).await), ["audio.done"]);
    let mut other = open(&relay).await;
    assert_eq!(ends(&utter(&mut other, TEXTS[1]).await), ["audio.done"]);
    let error = refused(&utter(&mut ws, TEXTS[2]).await);
    assert_eq!(error["kind"], "rate_limited", "{error}");
    names_the_quota(error["message"].as_str().unwrap());
    rest_fronts_refuse(&relay).await;
}

/// `GET /v1/usage` with `token` as Bearer: status and JSON.
async fn usage_of(relay: &Started, token: &str) -> (u16, serde_json::Value) {
    let reply = reqwest::Client::new()
        .get(format!("http://{}/v1/usage", relay.addr))
        .bearer_auth(token)
        .timeout(LIMIT)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_the_fleets_on_either_relay() {
    let redis = redis_server();
    let fake = FakeProvider::new("fake");
    let shared = || {
        let mut settings = token_settings();
        settings.shared.redis_url = Some(voxwire_core::Secret::new(redis.url()));
        settings
    };
    let a = start(fake_router(&fake), shared()).await;
    let b = start(fake_router(&fake), shared()).await;
    let mut on_a = open(&a).await;
    let mut on_b = open(&b).await;
    assert_eq!(ends(&utter(&mut on_a, TEXTS[0]).await), ["audio.done"]);
    assert_eq!(ends(&utter(&mut on_b, TEXTS[1]).await), ["audio.done"]);
    assert_eq!(ends(&utter(&mut on_b, "Ten chars.").await), ["audio.done"]);
    // Each relay writes its counts within a second; either answers the fleet's.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (from_a, from_b) = loop {
        let (status_a, from_a) = usage_of(&a, SERVER_TOKEN).await;
        let (status_b, from_b) = usage_of(&b, SERVER_TOKEN).await;
        assert_eq!((status_a, status_b), (200, 200), "{from_a} {from_b}");
        if from_a == from_b && from_a["credentials"]["token:test"]["utterances"] == 3 {
            break (from_a, from_b);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never the same: {from_a} {from_b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(from_a, from_b);
    let credential = &from_a["credentials"]["token:test"];
    assert_eq!(credential["chars"], 60, "{from_a}");
    assert_eq!(credential["failovers"], 0, "{from_a}");
    assert!(
        credential["audio_seconds"].as_f64().unwrap() > 0.0,
        "{from_a}"
    );
    let entries = from_a["entries"].as_object().unwrap();
    let (utterances, chars) = entries.values().fold((0, 0), |(u, c), e| {
        (
            u + e["utterances"].as_u64().unwrap(),
            c + e["chars"].as_u64().unwrap(),
        )
    });
    assert_eq!((utterances, chars), (3, 60), "{from_a}");
    // Every key expires (35 days), refreshed on write.
    let ttl: i64 = redis
        .command(&["TTL", "voxwire:usage:cred:token:test"])
        .unwrap()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((35 * 86_400 - 60..=35 * 86_400).contains(&ttl), "{ttl}");
    // This relay's own counts, by credential, in /metrics.
    let metrics = metrics_of(b.addr).await;
    assert_eq!(
        sample(
            &metrics,
            "voxwire_credential_chars_total{credential=\"token:test\"} "
        ),
        Some(35.0),
        "{metrics}"
    );
    // Browser tokens may not read it.
    let browser = mint(a.addr, ORIGIN, Some("user-1")).await;
    assert_ne!(usage_of(&a, &browser).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_without_shared_state_is_the_relays_own() {
    let fake = FakeProvider::new("fake");
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = open(&relay).await;
    assert_eq!(ends(&utter(&mut ws, TEXTS[0]).await), ["audio.done"]);
    // The xAI REST front counts too.
    let reply = reqwest::Client::new()
        .post(format!("http://{}/v1/tts", relay.addr))
        .bearer_auth(SERVER_TOKEN)
        .json(&serde_json::json!({"text": "Ten chars.", "output_format": {"codec": "pcm"}}))
        .timeout(LIMIT)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert!(!reply.bytes().await.unwrap().is_empty());
    let (status, usage) = usage_of(&relay, SERVER_TOKEN).await;
    assert_eq!(status, 200);
    let credential = &usage["credentials"]["token:test"];
    assert_eq!(credential["chars"], 35, "{usage}");
    assert_eq!(credential["utterances"], 2, "{usage}");
    assert!(
        credential["audio_seconds"].as_f64().unwrap() > 0.0,
        "{usage}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_quota_is_counted_in_process() {
    let mut redis = redis_server();
    let fake = FakeProvider::new("fake");
    let relay = start(fake_router(&fake), quota_settings(Some(&redis))).await;
    early_in_a_minute().await;
    let mut ws = open(&relay).await;
    redis.stop();
    // The open session goes on; its characters are counted here meanwhile.
    assert_eq!(ends(&utter(&mut ws, TEXTS[0]).await), ["audio.done"]);
    assert_eq!(ends(&utter(&mut ws, TEXTS[1]).await), ["audio.done"]);
    let error = refused(&utter(&mut ws, TEXTS[2]).await);
    names_the_quota(error["message"].as_str().unwrap());
    let metrics = metrics_of(relay.addr).await;
    assert!(
        sample(&metrics, "voxwire_shared_state_fallbacks_total ").unwrap_or(0.0) >= 3.0,
        "{metrics}"
    );
    // Usage waits for Redis: the fleet's totals are not answered meanwhile.
    assert_eq!(usage_of(&relay, SERVER_TOKEN).await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_counted_for_the_credential_and_the_entry_it_left() {
    use voxwire_core::{ErrorKind, TtsError};
    use voxwire_router::{Policy, Router, RouterSettings};
    let down = TtsError::new(ErrorKind::Unavailable, "connection refused");
    let primary =
        FakeProvider::new("primary").scripted(vec![], voxwire_testkit::fake::Behaviour::Fail(down));
    let backup = FakeProvider::new("backup");
    let quick = Policy {
        max_retries: 0,
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        ..Policy::default()
    };
    let router = Router::new(
        vec![(primary.arc(), quick.clone()), (backup.arc(), quick)],
        RouterSettings::default(),
    )
    .unwrap();
    let relay = start(router, token_settings()).await;
    let mut ws = open(&relay).await;
    assert_eq!(ends(&utter(&mut ws, TEXTS[0]).await), ["audio.done"]);
    let (_, usage) = usage_of(&relay, SERVER_TOKEN).await;
    assert_eq!(
        usage["credentials"]["token:test"]["failovers"], 1,
        "{usage}"
    );
    assert_eq!(usage["entries"]["primary"]["failovers"], 1, "{usage}");
    assert_eq!(usage["entries"]["backup"]["utterances"], 1, "{usage}");
    assert_eq!(usage["entries"]["backup"]["chars"], 25, "{usage}");
    assert!(
        usage["entries"]["primary"]["utterances"]
            .as_u64()
            .unwrap_or(0)
            == 0
    );
    let metrics = metrics_of(relay.addr).await;
    assert_eq!(
        sample(
            &metrics,
            "voxwire_credential_failovers_total{credential=\"token:test\"} "
        ),
        Some(1.0),
        "{metrics}"
    );
}
