//! The offline voice: eSpeak NG, with no key and no network.
//!
//! Two engines sit behind the provider id `espeak`:
//! - `system` runs the reference C engine, the `espeak-ng` program (Debian
//!   package `espeak-ng`), as a child process: text on stdin, WAV on stdout.
//! - `embedded` (Cargo feature `embedded`, on by default) runs the pure-Rust
//!   eSpeak NG port in process, with its English and French data unpacked once into a
//!   cache directory. The port is GPL-3.0-or-later, and so is any binary that
//!   links it.
//!
//! `engine = "auto"` (the default) picks `system` when the program is found,
//! else `embedded`. Both deliver audio clause by clause as it is produced.
//!
//! Settings (a `[[chain]]` entry with `provider = "espeak"`, or
//! `VOXWIRE_ESPEAK_<KEY>` variables):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `engine` | `auto` | `auto`, `system` or `embedded` |
//! | `program` | `espeak-ng` on `PATH` | the program the system engine runs |
//! | `data_dir` | `$XDG_CACHE_HOME/voxwire/espeak-ng-data-<version>-en-fr` | where the embedded engine's data is unpacked |
//! | `voice` | `en-us` | default voice (an eSpeak language code) |
//! | `inactivity_timeout_ms` | `30000` | longest wait for the next audio before giving up |
//!
//! # Example
//!
//! Speak offline (needs the `espeak-ng` program or the `embedded` feature):
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{SynthesisRequest, TtsProvider};
//! use voxwire_espeak::{EspeakProvider, EspeakSettings};
//!
//! async fn speak() -> voxwire_core::Result<()> {
//!     let provider = EspeakProvider::new(EspeakSettings::default())?;
//!     let mut audio = provider.synthesize(SynthesisRequest::new("Hello from voxwire.")).await?;
//!     while let Some(chunk) = audio.next().await {
//!         let chunk = chunk?;
//!         println!("{} bytes of {:?}", chunk.data.len(), chunk.format);
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

mod engine;
mod output;
mod phonemes;
mod settings;
mod system;
mod voices;

#[cfg(feature = "embedded")]
mod embedded;

use std::sync::Arc;
use std::time::Duration;

use voxwire_core::audio::AudioFormat;
use voxwire_core::session::{self, StreamConfig, SynthesisSession};
use voxwire_core::{
    language, AudioStream, Capabilities, Encoding, ErrorKind, ErrorScope, ProviderConfig,
    ProviderFactory, Result, SynthesisRequest, TtsError, TtsProvider, Voice,
};

pub use engine::EngineKind;
pub use phonemes::Phonemizer;
pub use settings::{EngineChoice, EspeakSettings};

use engine::{Engine, Job};

/// The provider id.
pub const PROVIDER_ID: &str = "espeak";
/// The rate both engines produce natively.
pub const NATIVE_RATE: u32 = 22_050;
/// The speed multipliers served: eSpeak NG speaks 80 to 450 words a minute.
pub const SPEED_RANGE: (f32, f32) = (80.0 / DEFAULT_WPM, 450.0 / DEFAULT_WPM);

/// eSpeak's default speaking rate in words per minute (speed 1.0).
const DEFAULT_WPM: f32 = 175.0;
/// The most characters one request may hold.
const MAX_TEXT_CHARS: usize = 100_000;

/// The offline eSpeak NG provider.
#[derive(Clone)]
pub struct EspeakProvider {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    default_voice: String,
    inactivity: Duration,
    /// Every tag of every voice, in preference order (empty if unknown).
    languages: Vec<String>,
}

impl std::fmt::Debug for EspeakProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspeakProvider")
            .field("engine", &self.inner.engine.describe())
            .field("default_voice", &self.inner.default_voice)
            .finish()
    }
}

impl EspeakProvider {
    /// Builds the provider, resolving `engine = "auto"` now.
    pub fn new(settings: EspeakSettings) -> Result<Self> {
        let engine = Engine::resolve(&settings)?;
        tracing::debug!(engine = %engine.describe(), "espeak provider ready");
        let languages = language_tags(&engine);
        Ok(Self {
            inner: Arc::new(Inner {
                languages,
                engine,
                default_voice: settings.voice.clone().unwrap_or_else(|| "en-us".into()),
                inactivity: Duration::from_millis(settings.inactivity_timeout_ms),
            }),
        })
    }

    /// Which engine serves requests.
    pub fn engine_kind(&self) -> EngineKind {
        self.inner.engine.kind()
    }

    /// The voice for a request: the one named, else the one the core
    /// language matcher finds among every tag of every voice (the default
    /// voice first, then eSpeak's preference), else the default voice.
    async fn pick_voice(&self, voice: Option<&str>, language: Option<&str>) -> Result<String> {
        let voices = self.inner.engine.voices().await?;
        if let Some(voice) = voice {
            if voices.iter().any(|v| v.id.eq_ignore_ascii_case(voice)) {
                return Ok(voice.to_ascii_lowercase());
            }
            return Err(self.unknown_voice(voice, &voices));
        }
        let tag = match language {
            Some(tag) if !language::is_auto(tag) => tag,
            _ => return Ok(self.inner.default_voice.clone()),
        };
        language::normalize(tag).map_err(|e| e.with_provider(PROVIDER_ID))?;
        let default = &self.inner.default_voice;
        let ordered = voices
            .iter()
            .filter(|v| v.id.eq_ignore_ascii_case(default))
            .chain(
                voices
                    .iter()
                    .filter(|v| !v.id.eq_ignore_ascii_case(default)),
            );
        let (tags, ids): (Vec<&str>, Vec<&str>) = ordered
            .flat_map(|v| v.languages.iter().map(move |t| (t.as_str(), v.id.as_str())))
            .unzip();
        match language::lookup(tag, &tags) {
            Some(i) => Ok(ids[i].to_string()),
            None => {
                Err(language::unsupported(tag, PROVIDER_ID).with_phase(voxwire_core::Phase::Input))
            }
        }
    }

    fn unknown_voice(&self, voice: &str, voices: &[Voice]) -> TtsError {
        let some: Vec<&str> = voices.iter().take(8).map(|v| v.id.as_str()).collect();
        TtsError::new(
            ErrorKind::NotFound,
            format!(
                "unknown voice `{voice}` for the {} engine",
                self.inner.engine.kind()
            ),
        )
        .with_scope(ErrorScope::Request)
        .with_provider(PROVIDER_ID)
        .with_phase(voxwire_core::Phase::Input)
        .with_hint(format!(
            "try one of {} (all: voxwire voices --provider espeak)",
            some.join(", ")
        ))
    }
}

/// Every tag of every voice an engine speaks, for its capabilities (read once, when built).
fn language_tags(engine: &Engine) -> Vec<String> {
    // On a thread of its own with its own small runtime: `new` is sync and
    // may be called inside or outside any runtime. The engine caches the list.
    let voices = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| TtsError::new(ErrorKind::Internal, e.to_string()))
                    .and_then(|rt| rt.block_on(engine.voices()))
            })
            .join()
    });
    let voices = match voices {
        Ok(Ok(voices)) => voices,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not list the voices");
            return Vec::new();
        }
        Err(_) => return Vec::new(),
    };
    let mut tags: Vec<String> = Vec::new();
    for tag in voices.into_iter().flat_map(|v| v.languages) {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

#[voxwire_core::async_trait]
impl TtsProvider for EspeakProvider {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!("{PROVIDER_ID} ({})", self.inner.engine.describe())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le, Encoding::Mulaw, Encoding::Alaw],
            sample_rates: Vec::new(),
            native_format: AudioFormat::pcm16_mono(NATIVE_RATE),
            languages: self.inner.languages.clone(),
            max_text_chars: MAX_TEXT_CHARS,
            timestamps: false,
            speed_range: Some(SPEED_RANGE),
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        self.inner.engine.voices().await
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(MAX_TEXT_CHARS)?;
        let voice = self
            .pick_voice(request.voice.as_deref(), request.language.as_deref())
            .await?;
        let wpm = (DEFAULT_WPM * request.speed.unwrap_or(1.0)).round() as u32;
        let job = Job {
            text: request.text,
            voice,
            wpm: wpm.clamp(80, 450),
        };
        let raw = self.inner.engine.start(job).await?;
        Ok(output::audio_stream(
            raw,
            request.format,
            self.inner.inactivity,
        ))
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        self.pick_voice(config.voice.as_deref(), config.language.as_deref())
            .await?;
        let (session, task) = session::buffered(self.clone(), config, MAX_TEXT_CHARS);
        tokio::spawn(task);
        Ok(session)
    }
}

fn build(config: &ProviderConfig) -> Result<Arc<dyn TtsProvider>> {
    let settings: EspeakSettings = config.settings()?;
    Ok(Arc::new(EspeakProvider::new(settings)?))
}

/// The offline voice works everywhere, so it always closes the default chain.
fn default_priority() -> Option<i32> {
    Some(1000)
}

voxwire_core::inventory::submit! {
    ProviderFactory {
        id: PROVIDER_ID,
        describe: "offline voice: the espeak-ng program, or the built-in eSpeak NG port",
        default_priority,
        build,
    }
}
