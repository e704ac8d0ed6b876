//! Fake providers for unit tests, registered like real ones.

use std::sync::Arc;

use futures::stream;
use voxwire_core::audio::pcm;
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, ProviderConfig,
    ProviderFactory, Result, StreamConfig, SynthesisRequest, SynthesisSession, TextSpan, TtsError,
    TtsProvider, Voice,
};

/// How a fake behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Three chunks of a tone at 8 kHz, whatever format was asked for.
    Ok,
    /// Fails before any audio (Unavailable).
    Fail,
    /// One chunk, then fails (Unavailable).
    MidFail,
    /// Ends without audio.
    Empty,
    /// Rejects the input.
    RejectInput,
}

/// A scripted provider.
#[derive(Debug)]
pub struct Fake {
    id: &'static str,
    behaviour: Behaviour,
}

impl Fake {
    /// A fake with this id and behaviour.
    pub fn arc(id: &'static str, behaviour: Behaviour) -> Arc<dyn TtsProvider> {
        Arc::new(Self { id, behaviour })
    }
}

/// The native format of the fakes.
pub const FAKE_FORMAT: AudioFormat = AudioFormat::pcm16_mono(8_000);

fn tone_chunk(sequence: u64, text_len: usize) -> AudioChunk {
    let samples: Vec<i16> = (0..1600)
        .map(|i| if (i / 10) % 2 == 0 { 3000 } else { -3000 })
        .collect();
    let end = (text_len * (sequence as usize + 1) / 3).max(1);
    AudioChunk {
        data: pcm::encode(Encoding::PcmS16le, &samples),
        format: FAKE_FORMAT,
        sequence,
        span: Some(TextSpan { start: 0, end }),
        times: None,
        words: Vec::new(),
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for Fake {
    fn id(&self) -> &str {
        self.id
    }

    fn describe(&self) -> String {
        format!("{} (fake)", self.id)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le],
            sample_rates: vec![8_000],
            native_format: FAKE_FORMAT,
            languages: vec!["en".into()],
            max_text_chars: 1000,
            timestamps: true,
            speed_range: None,
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        let ids: &[&str] = match self.behaviour {
            Behaviour::Ok => &["alpha", "beta"],
            _ => &["alpha"],
        };
        Ok(ids
            .iter()
            .map(|id| Voice {
                id: id.to_string(),
                name: id.to_string(),
                languages: vec!["en".into()],
                gender: None,
                provider: self.id.to_string(),
            })
            .collect())
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        let n = request.text.len();
        let broken = || TtsError::new(ErrorKind::Unavailable, "scripted failure");
        let items: Vec<Result<AudioChunk>> = match self.behaviour {
            Behaviour::Ok => (0..3).map(|s| Ok(tone_chunk(s, n))).collect(),
            Behaviour::Fail => return Err(broken().with_provider(self.id)),
            Behaviour::MidFail => vec![Ok(tone_chunk(0, n)), Err(broken())],
            Behaviour::Empty => Vec::new(),
            Behaviour::RejectInput => {
                return Err(TtsError::invalid_input("no thanks").with_provider(self.id))
            }
        };
        Ok(Box::pin(stream::iter(items)))
    }

    async fn stream(&self, _config: StreamConfig) -> Result<SynthesisSession> {
        Err(TtsError::new(
            ErrorKind::InvalidRequest,
            "fakes do not stream",
        ))
    }
}

fn build_ok(config: &ProviderConfig) -> Result<Arc<dyn TtsProvider>> {
    if config.settings.get("broken").is_some() {
        return Err(TtsError::config("the fake was told it is broken"));
    }
    Ok(Fake::arc("fake-ok", Behaviour::Ok))
}

fn build_fail(_: &ProviderConfig) -> Result<Arc<dyn TtsProvider>> {
    Ok(Fake::arc("fake-fail", Behaviour::Fail))
}

fn no_default() -> Option<i32> {
    None
}

voxwire_core::inventory::submit! {
    ProviderFactory { id: "fake-ok", describe: "test fake", default_priority: no_default, build: build_ok }
}
voxwire_core::inventory::submit! {
    ProviderFactory { id: "fake-fail", describe: "test fake", default_priority: no_default, build: build_fail }
}
