//! Audio types and the conversions every provider and the router reuse.

mod align;
mod assemble;
mod convert;
pub mod g711;
pub mod pcm;
#[cfg(feature = "resample")]
mod resample;
pub mod wav;

pub use align::SampleAligner;
pub use assemble::ChunkAssembler;
pub use convert::FormatConverter;
#[cfg(feature = "resample")]
pub use resample::StreamResampler;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TtsError};

/// How samples are encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Signed 16-bit little-endian linear PCM.
    #[serde(rename = "pcm_s16le", alias = "pcm")]
    PcmS16le,
    /// G.711 µ-law, 8 bits per sample.
    #[serde(alias = "ulaw")]
    Mulaw,
    /// G.711 A-law, 8 bits per sample.
    Alaw,
}

impl Encoding {
    /// Bytes one sample of one channel takes.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Self::PcmS16le => 2,
            Self::Mulaw | Self::Alaw => 1,
        }
    }

    /// The canonical name (`pcm_s16le`, `mulaw`, `alaw`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PcmS16le => "pcm_s16le",
            Self::Mulaw => "mulaw",
            Self::Alaw => "alaw",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encoding {
    type Err = TtsError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pcm" | "pcm_s16le" | "s16le" | "linear16" => Ok(Self::PcmS16le),
            "mulaw" | "ulaw" | "u-law" | "mu-law" => Ok(Self::Mulaw),
            "alaw" | "a-law" => Ok(Self::Alaw),
            other => Err(TtsError::invalid_input(format!(
                "unknown audio encoding `{other}`: use pcm, mulaw or alaw"
            ))),
        }
    }
}

/// The lowest sample rate any voxwire component accepts.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// The highest sample rate any voxwire component accepts.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// The most channels any voxwire component accepts.
pub const MAX_CHANNELS: u16 = 8;

/// Encoding, sample rate and channel count of a stream of audio bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AudioFormat {
    /// How samples are encoded.
    pub encoding: Encoding,
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: u16,
}

impl AudioFormat {
    /// Mono 16-bit PCM at `sample_rate`: what most providers produce.
    pub const fn pcm16_mono(sample_rate: u32) -> Self {
        Self {
            encoding: Encoding::PcmS16le,
            sample_rate,
            channels: 1,
        }
    }

    /// A format with the given encoding and rate, mono.
    pub const fn mono(encoding: Encoding, sample_rate: u32) -> Self {
        Self {
            encoding,
            sample_rate,
            channels: 1,
        }
    }

    /// Bytes per frame (all channels of one sample instant).
    pub fn bytes_per_frame(&self) -> usize {
        self.encoding.bytes_per_sample() * usize::from(self.channels)
    }

    /// How long `bytes` of this format play.
    pub fn duration_of(&self, bytes: usize) -> Duration {
        let frames = bytes / self.bytes_per_frame().max(1);
        Duration::from_secs_f64(frames as f64 / f64::from(self.sample_rate.max(1)))
    }

    /// Checks the rate and channel count are in the supported range.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&self.sample_rate) {
            return Err(TtsError::invalid_input(format!(
                "sample rate {} Hz is out of range: use {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz",
                self.sample_rate
            )));
        }
        if self.channels == 0 || self.channels > MAX_CHANNELS {
            return Err(TtsError::invalid_input(format!(
                "{} channels is out of range: use 1 to {MAX_CHANNELS}",
                self.channels
            )));
        }
        Ok(())
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} Hz {}",
            self.encoding,
            self.sample_rate,
            if self.channels == 1 {
                "mono".to_string()
            } else {
                format!("{} ch", self.channels)
            }
        )
    }
}

/// A byte range of the request text (UTF-8 offsets) that a chunk of audio speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TextSpan {
    /// First byte, inclusive.
    pub start: usize,
    /// Last byte, exclusive.
    pub end: usize,
}

/// When the text of a chunk is spoken, in the vendor's own times (from the
/// start of the utterance); never invented by spreading a chunk evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpanTimes {
    /// When the first character of the span starts.
    pub start: Duration,
    /// When the last character of the span ends.
    pub end: Duration,
}

/// One word of the request text and when the vendor says it is spoken: the
/// word's byte range and the start of its first character and the end of its
/// last, from the start of the utterance. A word is a run of characters
/// between whitespace (its punctuation included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WordTime {
    /// The word's bytes in the request text.
    pub span: TextSpan,
    /// When its first character starts.
    pub start: Duration,
    /// When its last character ends.
    pub end: Duration,
}

/// A piece of audio as a provider produced it: always whole frames of `format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioChunk {
    /// The encoded frames.
    pub data: Bytes,
    /// What the bytes are.
    pub format: AudioFormat,
    /// Position of this chunk in its stream, from 0, without gaps.
    pub sequence: u64,
    /// The part of the input text this audio speaks, when the provider knows it.
    pub span: Option<TextSpan>,
    /// When the vendor says `span` is spoken, when it reports times.
    pub times: Option<SpanTimes>,
    /// The words whose times became known with this chunk (their audio may
    /// lie partly in earlier or later chunks: the times say where), in text
    /// order; empty when the vendor reports no times.
    pub words: Vec<WordTime>,
}

impl AudioChunk {
    /// How long this chunk plays.
    pub fn duration(&self) -> Duration {
        self.format.duration_of(self.data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_parse_with_aliases() {
        assert_eq!("pcm".parse::<Encoding>().unwrap(), Encoding::PcmS16le);
        assert_eq!("ULAW".parse::<Encoding>().unwrap(), Encoding::Mulaw);
        assert_eq!("alaw".parse::<Encoding>().unwrap(), Encoding::Alaw);
        assert!("mp4".parse::<Encoding>().is_err());
    }

    #[test]
    fn durations_follow_the_format() {
        let f = AudioFormat::pcm16_mono(24_000);
        assert_eq!(f.duration_of(48_000), Duration::from_secs(1));
        let m = AudioFormat::mono(Encoding::Mulaw, 8_000);
        assert_eq!(m.duration_of(4_000), Duration::from_millis(500));
    }

    #[test]
    fn validation_rejects_silly_formats() {
        assert!(AudioFormat::pcm16_mono(24_000).validate().is_ok());
        assert!(AudioFormat::pcm16_mono(100).validate().is_err());
        let mut f = AudioFormat::pcm16_mono(24_000);
        f.channels = 0;
        assert!(f.validate().is_err());
    }
}
