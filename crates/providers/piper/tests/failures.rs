//! Failure paths that need no real voice: each is a clear `Config` error.

use voxwire_core::{ErrorKind, ProviderConfig};
use voxwire_piper::{PiperProvider, PiperSettings};

const CONFIG: &str = r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},
    "phoneme_id_map":{"_":[0],"^":[1],"$":[2],"a":[14]}}"#;

#[test]
fn a_missing_model_says_which_file_and_how_to_get_a_voice() {
    let err = PiperProvider::new(PiperSettings {
        voice: Some("/nowhere/en_US-joe-medium.onnx".into()),
        ..PiperSettings::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("/nowhere/en_US-joe-medium.onnx does not exist"),
        "{text}"
    );
    assert!(text.contains("VOXWIRE_PIPER_VOICE"), "{text}");
}

#[test]
fn a_missing_config_beside_the_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("v.onnx");
    std::fs::write(&model, b"x").unwrap();
    let err = PiperProvider::new(PiperSettings {
        voice: Some(model),
        ..PiperSettings::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("v.onnx.json"), "{err}");
}

#[test]
fn a_missing_runtime_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("v.onnx");
    std::fs::write(&model, b"x").unwrap();
    std::fs::write(dir.path().join("v.onnx.json"), CONFIG).unwrap();
    let err = PiperProvider::new(PiperSettings {
        voice: Some(model),
        runtime: Some(dir.path().join("libonnxruntime.so")),
        ..PiperSettings::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(text.contains("ONNX Runtime library"), "{text}");
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains("pip install onnxruntime"), "{text}");
}

#[test]
fn the_registry_builds_piper_from_a_chain_entry_and_reports_errors_as_piper() {
    let entry = ProviderConfig::new("piper").with("voice", "/nowhere/x.onnx");
    let err = voxwire_core::registry::build(&entry).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("piper"), "{err}");
    let entry = ProviderConfig::new("piper").with("colour", "blue");
    let err = voxwire_core::registry::build(&entry).err().unwrap();
    assert!(err.to_string().contains("colour"), "{err}");
}
