//! `voxwire serve`'s OpenAI front as a program: `[server.openai] models` maps
//! one model to the whole chain (xai on the mock xAI server, then espeak) and
//! another to the offline entry alone, and the official `openai` SDK gets
//! each model's audio from the entries it names. A model naming an entry the
//! chain does not have is a usage error at start.

mod common;

use base64::Engine as _;
use voxwire_core::AudioFormat;
use voxwire_testkit::mock_xai::{expected_audio, MockConfig, MockXai};
use voxwire_testkit::python;

const TOKEN: &str = "openai-serve-test-token-0123456789";
const KEY: &str = "xai-openai-serve-test-key";

fn serve(dir: &std::path::Path, config: &str, mock: &MockXai) -> std::process::Command {
    let base = mock.base_url();
    let envs = [
        ("VOXWIRE_SERVER_TOKEN", TOKEN),
        ("XAI_API_KEY", KEY),
        ("XAI_BASE_URL", base.as_str()),
    ];
    common::serve_command(dir, config, "XAI", &envs)
}

const CHAIN: &str = "[[chain]]\nprovider = \"xai\"\n\n[[chain]]\nprovider = \"espeak\"\n";

const SCRIPT: &str = r#"
import base64, json, sys
import openai
base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=60)
out = {}
for model, text in [("tts-1", "Spoken by the chain's first entry."), ("offline", "Spoken by the offline voice alone.")]:
    with client.audio.speech.with_streaming_response.create(model=model, voice="alloy", input=text, response_format="pcm") as r:
        out[model] = base64.b64encode(b"".join(r.iter_bytes())).decode()
out["models"] = sorted(m.id for m in client.models.list())
try:
    client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="x", response_format="pcm")
    out["unlisted"] = "no error"
except openai.NotFoundError as e:
    out["unlisted"] = e.body["code"]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn each_model_is_spoken_by_the_entries_it_names() {
    let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server.openai]\nmodels = {{ \"tts-1\" = [], \"offline\" = [\"espeak\"] }}\n\n{CHAIN}"
    );
    let (relay, addr) = common::start(serve(dir.path(), &config, &mock)).await;
    let base = format!("http://{addr}/v1");
    let Some(output) =
        tokio::task::spawn_blocking(move || python::run_script(SCRIPT, &[&base, TOKEN], &[]))
            .await
            .unwrap()
    else {
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let audio = |model: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(got[model].as_str().unwrap())
            .unwrap()
    };
    let pcm = AudioFormat::pcm16_mono(24_000);
    assert_eq!(
        audio("tts-1"),
        expected_audio("Spoken by the chain's first entry.", pcm),
        "tts-1 is the whole chain: xai on the mock speaks"
    );
    let offline = audio("offline");
    assert!(offline.len() > 24_000, "the offline voice spoke");
    assert!(
        !mock
            .requests()
            .iter()
            .any(|r| r.contains("offline voice alone")),
        "the offline model never reached xai"
    );
    assert_eq!(got["models"], serde_json::json!(["offline", "tts-1"]));
    assert_eq!(got["unlisted"], "model_not_found");
    drop(relay);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_naming_an_entry_not_in_the_chain_is_refused_at_start() {
    let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[server.openai]\nmodels = {{ \"hd\" = [\"cartesia\"] }}\n\n{CHAIN}");
    let out = serve(dir.path(), &config, &mock).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`hd`") && stderr.contains("`cartesia`") && stderr.contains("xai, espeak"),
        "{stderr}"
    );
}
