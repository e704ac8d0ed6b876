//! The `piper` provider's settings.

use std::path::PathBuf;

use serde::Deserialize;
use voxwire_espeak::EngineChoice;

/// A speaker of a multi-speaker voice: its id or its name in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Speaker {
    /// The speaker id the model takes.
    Id(i64),
    /// A name from the config's `speaker_id_map`.
    Name(String),
}

/// Settings of one `piper` chain entry (or `VOXWIRE_PIPER_<KEY>` variables).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiperSettings {
    /// The voice's `.onnx` file; `VOXWIRE_PIPER_VOICE` when unset.
    #[serde(default)]
    pub voice: Option<PathBuf>,
    /// The voice's config; `<voice>.json` when unset.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// The `libonnxruntime` library; `ORT_DYLIB_PATH`, then the `onnxruntime` Python package, when unset.
    #[serde(default)]
    pub runtime: Option<PathBuf>,
    /// The speaker of a multi-speaker voice (default: the first).
    #[serde(default)]
    pub speaker: Option<Speaker>,
    /// Overrides the config's `length_scale` (above 1 speaks slower).
    #[serde(default)]
    pub length_scale: Option<f32>,
    /// Overrides the config's `noise_scale`.
    #[serde(default)]
    pub noise_scale: Option<f32>,
    /// Overrides the config's `noise_w`.
    #[serde(default)]
    pub noise_w: Option<f32>,
    /// Which eSpeak engine phonemizes: `auto` (the program when installed), `system`, `embedded`.
    #[serde(default)]
    pub phonemizer: EngineChoice,
    /// The espeak-ng program the system phonemizer runs; found on `PATH` when unset.
    #[serde(default)]
    pub espeak_program: Option<PathBuf>,
    /// Where the embedded phonemizer's data is unpacked.
    #[serde(default)]
    pub espeak_data_dir: Option<PathBuf>,
    /// ONNX Runtime threads per synthesis (default: the cores, at most 4).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Syntheses run at once; more wait for a slot.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Longest wait for a synthesis slot before failing with `Unavailable`.
    #[serde(default = "default_queue_timeout_ms")]
    pub queue_timeout_ms: u64,
    /// Longest wait for the next audio before failing with `Timeout`.
    #[serde(default = "default_inactivity_ms")]
    pub inactivity_timeout_ms: u64,
}

fn default_max_concurrent() -> usize {
    1
}

fn default_queue_timeout_ms() -> u64 {
    30_000
}

fn default_inactivity_ms() -> u64 {
    30_000
}

impl Default for PiperSettings {
    fn default() -> Self {
        Self {
            voice: None,
            config: None,
            runtime: None,
            speaker: None,
            length_scale: None,
            noise_scale: None,
            noise_w: None,
            phonemizer: EngineChoice::Auto,
            espeak_program: None,
            espeak_data_dir: None,
            threads: None,
            max_concurrent: default_max_concurrent(),
            queue_timeout_ms: default_queue_timeout_ms(),
            inactivity_timeout_ms: default_inactivity_ms(),
        }
    }
}

impl PiperSettings {
    /// The threads to give ONNX Runtime.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1)
        })
    }
}
