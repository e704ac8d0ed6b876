//! Choosing and dispatching to an engine.

use std::fmt;

use bytes::Bytes;
use tokio::sync::mpsc;
use voxwire_core::audio::AudioFormat;
use voxwire_core::{Result, TtsError, Voice};

use crate::settings::{EngineChoice, EspeakSettings};
use crate::system::SystemEngine;

/// One synthesis job, already validated.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub text: String,
    pub voice: String,
    pub wpm: u32,
}

/// Native audio as an engine produces it: each piece says its format.
pub(crate) type RawReceiver = mpsc::Receiver<Result<(AudioFormat, Bytes)>>;

/// Pieces an engine may run ahead of its reader.
pub(crate) const RAW_QUEUE: usize = 16;

/// Which engine serves a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The `espeak-ng` program.
    System,
    /// The in-process port.
    Embedded,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::System => "system",
            Self::Embedded => "embedded",
        })
    }
}

pub(crate) enum Engine {
    System(SystemEngine),
    #[cfg(feature = "embedded")]
    Embedded(crate::embedded::EmbeddedEngine),
}

impl Engine {
    /// Applies the choice: `auto` prefers the program when it is installed.
    pub fn resolve(settings: &EspeakSettings) -> Result<Self> {
        let program = SystemEngine::find(settings.program.as_deref());
        match (settings.engine, program) {
            (EngineChoice::System | EngineChoice::Auto, Some(path)) => {
                Ok(Self::System(SystemEngine::new(path)))
            }
            (EngineChoice::System, None) => Err(TtsError::config(match &settings.program {
                Some(p) => format!(
                    "the espeak-ng program {} does not exist or is not executable",
                    p.display()
                ),
                None => "engine = \"system\" but no espeak-ng program is on PATH".to_string(),
            })
            .with_provider(crate::PROVIDER_ID)
            .with_hint(
                "install it (apt-get install espeak-ng), set `program`, or use engine = \"auto\"",
            )),
            (EngineChoice::Embedded | EngineChoice::Auto, _) => Self::embedded(settings),
        }
    }

    #[cfg(feature = "embedded")]
    fn embedded(settings: &EspeakSettings) -> Result<Self> {
        Ok(Self::Embedded(crate::embedded::EmbeddedEngine::new(
            settings.data_dir.clone(),
        )))
    }

    #[cfg(not(feature = "embedded"))]
    fn embedded(_settings: &EspeakSettings) -> Result<Self> {
        Err(TtsError::config(
            "no espeak-ng program on PATH and this build has no embedded engine",
        )
        .with_provider(crate::PROVIDER_ID)
        .with_hint("install espeak-ng (apt-get install espeak-ng) or build with the `embedded` feature"))
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Self::System(_) => EngineKind::System,
            #[cfg(feature = "embedded")]
            Self::Embedded(_) => EngineKind::Embedded,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::System(e) => e.describe(),
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => e.describe(),
        }
    }

    pub async fn voices(&self) -> Result<Vec<Voice>> {
        match self {
            Self::System(e) => e.voices().await,
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => e.voices().await,
        }
    }

    pub async fn start(&self, job: Job) -> Result<RawReceiver> {
        match self {
            Self::System(e) => e.start(job),
            #[cfg(feature = "embedded")]
            Self::Embedded(e) => e.start(job).await,
        }
    }
}
