//! The `voxwire` binary with an OpenAI key, against the test kit's OpenAI
//! mock: `say --provider openai`, the default chain with `OPENAI_API_KEY`
//! set, an exhausted quota failing over to the offline voice, and `doctor`
//! telling a compatible server from OpenAI.

use std::process::Output;
use std::time::Duration;

use voxwire_core::AudioFormat;
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::kit::Fault;
use voxwire_testkit::mock_openai::{quota_exhausted, MockOpenAi, Switches};

const KEY: &str = "sk-cli-test-SECRET-42";

async fn mock(fault: Fault) -> MockOpenAi {
    let m = MockOpenAi::start_with(KEY, Switches::default()).await;
    m.set_fault(fault);
    m
}

/// Runs the binary in a temp dir with the key and base URL set (no xAI key); bounded in time.
async fn voxwire(mock: &MockOpenAi, key: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("OPENAI_API_KEY", key)
        .env("OPENAI_BASE_URL", mock.base_url())
        .env_remove("XAI_API_KEY")
        .env_remove("RUST_LOG")
        .env("VOXWIRE_OPENAI_FIRST_AUDIO_TIMEOUT_MS", "3000")
        .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("VOXWIRE_") && name != "VOXWIRE_OPENAI_FIRST_AUDIO_TIMEOUT_MS" {
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

const PCM: [&str; 5] = [
    "--format",
    "pcm",
    "--sample-rate",
    "24000",
    "Hello from openai.",
];

#[tokio::test(flavor = "multi_thread")]
async fn say_with_provider_openai_speaks_through_the_mock() {
    let m = mock(Fault::None).await;
    let mut args = vec!["say", "--provider", "openai"];
    args.extend(PCM);
    let out = voxwire(&m, KEY, &args).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("via openai"), "{stderr}");
    assert_eq!(
        out.stdout,
        expected_audio("Hello from openai.", AudioFormat::pcm16_mono(24_000))
    );
    assert_eq!(m.speech_requests().len(), 1);
    assert_no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_openai_api_key_set_the_default_chain_leads_with_openai() {
    let m = mock(Fault::None).await;
    let mut args = vec!["say"];
    args.extend(PCM);
    let out = voxwire(&m, KEY, &args).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("via openai"), "{stderr}");
    assert!(!m.speech_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_quota_fails_over_to_the_offline_voice() {
    let m = mock(quota_exhausted()).await;
    let out = voxwire(&m, KEY, &["say", "--format", "pcm", "Still speaking."]).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let failover = stderr
        .lines()
        .find(|l| l.starts_with("voxwire: failed over from openai to espeak: "))
        .unwrap_or_else(|| panic!("no failover line: {stderr}"));
    assert!(failover.contains("quota"), "{stderr}");
    assert!(stderr.contains("via espeak"), "{stderr}");
    // Not retried: a quota error is not transient.
    assert_eq!(m.speech_requests().len(), 1, "{stderr}");
    assert!(!out.stdout.is_empty());
    assert_no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_tells_a_compatible_server_and_what_it_serves() {
    let m = mock(Fault::None).await;
    let out = voxwire(&m, KEY, &["doctor", "--provider", "openai"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for needle in [
        "an OpenAI-compatible server at http://127.0.0.1:",
        "model gpt-4o-mini-tts, voice alloy",
        "5 models (tts-1, tts-1-hd, gpt-4o-mini-tts",
        "gpt-4o-mini-tts is listed",
        "speech synthesis",
        "first audio after",
        "every provider is healthy",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    assert_no_key(&out);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_says_when_the_key_is_rejected() {
    let m = mock(Fault::None).await;
    let out = voxwire(&m, "sk-not-the-key", &["doctor", "--provider", "openai"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("the key was rejected: check OPENAI_API_KEY"),
        "{stdout}"
    );
    assert!(!stdout.contains("sk-not-the-key"), "{stdout}");
}

/// Two `openai` entries in one chain, each with its own base URL and key
/// variable: the first answers "quota exhausted", the chain goes on to the second.
#[tokio::test(flavor = "multi_thread")]
async fn two_entries_with_their_own_keys_fail_over_from_one_to_the_other() {
    let first = MockOpenAi::start_with("sk-first-SECRET", Switches::default()).await;
    first.set_fault(quota_exhausted());
    let second = MockOpenAi::start_with("sk-second-SECRET", Switches::default()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("two.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[chain]]
provider = "openai"
name = "hosted"
base_url = "{}"
api_key_env = "FIRST_TTS_KEY"

[[chain]]
provider = "openai"
name = "local"
base_url = "{}"
api_key_env = "SECOND_TTS_KEY"
model = "kokoro"
voice = "af_bella"
"#,
            first.base_url(),
            second.base_url()
        ),
    )
    .expect("config written");
    let config = config.to_string_lossy().to_string();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args([
        "say",
        "--config",
        &config,
        "--format",
        "pcm",
        "--sample-rate",
        "24000",
        "Two keys.",
    ])
    .current_dir(dir.path())
    .env("FIRST_TTS_KEY", "sk-first-SECRET")
    .env("SECOND_TTS_KEY", "sk-second-SECRET")
    .env_remove("OPENAI_API_KEY")
    .env_remove("OPENAI_BASE_URL")
    .env_remove("RUST_LOG")
    .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("VOXWIRE_") {
            cmd.env_remove(name);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("voxwire finished within 120 s")
        .expect("voxwire ran");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("failed over from hosted to local") && stderr.contains("quota"),
        "{stderr}"
    );
    assert_eq!(
        out.stdout,
        expected_audio("Two keys.", AudioFormat::pcm16_mono(24_000))
    );
    // Each server saw its own key, and only its own.
    assert_eq!(first.speech_requests().len(), 1);
    let body = second.speech_requests()[0].json_body().unwrap();
    assert_eq!(
        (body["model"].as_str(), body["voice"].as_str()),
        (Some("kokoro"), Some("af_bella"))
    );
    assert!(!stderr.contains("SECRET"), "{stderr}");
}
