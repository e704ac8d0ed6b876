//! The `espeak` provider's settings.

use std::path::PathBuf;

use serde::Deserialize;

/// Which engine to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// `system` when the program is found, else `embedded`.
    #[default]
    Auto,
    /// The `espeak-ng` program.
    System,
    /// The in-process pure-Rust port.
    Embedded,
}

/// Settings of one `espeak` chain entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspeakSettings {
    /// Which engine to run.
    #[serde(default)]
    pub engine: EngineChoice,
    /// The program the system engine runs; found on `PATH` when unset.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// Where the embedded engine's data lives; a per-user cache directory when unset.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The default voice.
    #[serde(default)]
    pub voice: Option<String>,
    /// Longest wait for the next audio before the request fails with `Timeout`.
    #[serde(default = "default_inactivity_ms")]
    pub inactivity_timeout_ms: u64,
}

fn default_inactivity_ms() -> u64 {
    30_000
}

impl Default for EspeakSettings {
    fn default() -> Self {
        Self {
            engine: EngineChoice::Auto,
            program: None,
            data_dir: None,
            voice: None,
            inactivity_timeout_ms: default_inactivity_ms(),
        }
    }
}
