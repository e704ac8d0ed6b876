//! The `voxwire` binary with an xAI key, against the mock xAI server:
//! `say` uses xai, `--provider` overrides it, a refused upgrade fails over,
//! and `doctor` tells "REST fine, WebSocket 403" apart.

use std::process::Output;
use std::time::Duration;

use voxwire_core::AudioFormat;
use voxwire_testkit::mock_xai::{expected_audio, Fault, FaultPlan, MockConfig, MockXai};

const KEY: &str = "xai-cli-test-SECRET-42";

async fn mock(fault: Fault) -> MockXai {
    MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_faults(FaultPlan::always(fault)),
    )
    .await
}

/// Runs the binary in a temp dir with the key and base URL set; bounded in time.
async fn voxwire(mock: &MockXai, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("XAI_API_KEY", KEY)
        .env("XAI_BASE_URL", mock.base_url())
        .env("VOXWIRE_XAI_FIRST_AUDIO_TIMEOUT_MS", "3000")
        .env_remove("OPENAI_API_KEY")
        .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("VOXWIRE_") && name != "VOXWIRE_XAI_FIRST_AUDIO_TIMEOUT_MS" {
            cmd.env_remove(name);
        }
    }
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("voxwire finished within 120 s")
        .expect("voxwire ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_key(out: &Output) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(KEY), "the key leaked: {all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_key_say_speaks_through_xai() {
    let m = mock(Fault::None).await;
    let out = voxwire(
        &m,
        &[
            "say",
            "--format",
            "pcm",
            "--sample-rate",
            "24000",
            "Hello from xai.",
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("via xai"), "{stderr}");
    assert_eq!(
        out.stdout,
        expected_audio("Hello from xai.", AudioFormat::pcm16_mono(24_000))
    );
    assert_no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_flag_forces_the_offline_voice() {
    let m = mock(Fault::None).await;
    let out = voxwire(
        &m,
        &["say", "--provider", "espeak", "--format", "pcm", "Hi."],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("via espeak"), "{stderr}");
    assert!(m.requests().is_empty(), "xai was contacted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upgrade_fails_over_to_the_offline_voice() {
    let m = mock(Fault::websocket_forbidden()).await;
    let out = voxwire(&m, &["say", "--format", "pcm", "Still speaking."]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // One line names the failover and its reason; the other is the summary.
    let failovers: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("voxwire: failed over from xai to espeak: "))
        .collect();
    assert_eq!(failovers.len(), 1, "{stderr}");
    assert!(failovers[0].contains("HTTP 403 at upgrade"), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.contains("via espeak"), "{stderr}");
    assert!(!out.stdout.is_empty());
    assert_no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_tells_rest_fine_websocket_forbidden() {
    let m = mock(Fault::websocket_forbidden()).await;
    let out = voxwire(&m, &["doctor", "--provider", "xai"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let expected = format!(
        "the key works for REST; the WebSocket endpoint {} refused it: check XAI_BASE_URL and the endpoint path",
        m.ws_url()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(stdout.contains("rest synthesis"), "{stdout}");
    assert_no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_a_healthy_chain() {
    let m = mock(Fault::None).await;
    let out = voxwire(&m, &["doctor"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for check in [
        "credentials",
        "reachable",
        "rest synthesis",
        "websocket upgrade",
        "websocket utterance",
        "synthesis",
    ] {
        assert!(stdout.contains(check), "{check}: {stdout}");
    }
    assert!(stdout.contains("every provider is healthy"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_says_when_the_key_is_rejected_everywhere() {
    let m = mock(Fault::reject(401, "bad key")).await;
    let out = voxwire(&m, &["doctor", "--provider", "xai"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("the key was rejected by REST and by the WebSocket: check XAI_API_KEY"),
        "{stdout}"
    );
    assert_no_key(&out);
}
