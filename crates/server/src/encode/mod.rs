//! Streamed encoders for the OpenAI front's `response_format`: the relay's
//! chain speaks 16-bit PCM, and each response that asks for a compressed
//! format gets one [`Encoder`], fed chunk by chunk by whichever chain entry
//! speaks (so a failover mid-response keeps one valid stream) and flushed
//! after every chunk, so encoded bytes leave as soon as they exist.
//!
//! Public so that the `relay_formats` bench can time an encoder alone (its
//! CPU per second of audio); the front is its only user in the crate.

mod flac;
#[cfg(feature = "mp3")]
mod mp3;
mod opus;

/// A `response_format` of OpenAI's speech API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// MPEG-1/2 Layer III (OpenAI's default).
    Mp3,
    /// Opus in Ogg pages.
    Opus,
    /// AAC in ADTS.
    Aac,
    /// FLAC.
    Flac,
    /// A streaming WAV: the header, then 16-bit PCM.
    Wav,
    /// Raw 16-bit little-endian mono PCM.
    Pcm,
}

impl OutputFormat {
    /// Every format, in OpenAI's order.
    pub const ALL: [OutputFormat; 6] = [
        OutputFormat::Mp3,
        OutputFormat::Opus,
        OutputFormat::Aac,
        OutputFormat::Flac,
        OutputFormat::Wav,
        OutputFormat::Pcm,
    ];

    /// The format named `name` (OpenAI's spelling), if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// OpenAI's name of the format.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Mp3 => "mp3",
            OutputFormat::Opus => "opus",
            OutputFormat::Aac => "aac",
            OutputFormat::Flac => "flac",
            OutputFormat::Wav => "wav",
            OutputFormat::Pcm => "pcm",
        }
    }

    /// The `Content-Type` OpenAI sends with the format.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Mp3 => "audio/mpeg",
            OutputFormat::Opus => "audio/opus",
            OutputFormat::Aac => "audio/aac",
            OutputFormat::Flac => "audio/flac",
            OutputFormat::Wav => "audio/wav",
            OutputFormat::Pcm => "audio/pcm",
        }
    }

    /// Whether this build serves the format (`mp3` needs the `mp3` feature;
    /// `aac` is not served: see the relay's docs).
    pub fn is_served(self) -> bool {
        match self {
            OutputFormat::Mp3 => cfg!(feature = "mp3"),
            OutputFormat::Opus | OutputFormat::Flac | OutputFormat::Wav | OutputFormat::Pcm => true,
            OutputFormat::Aac => false,
        }
    }

    /// The names of the formats this build serves, for error messages.
    pub fn served_names() -> String {
        let names: Vec<&str> = Self::ALL
            .into_iter()
            .filter(|f| f.is_served())
            .map(|f| f.name())
            .collect();
        names.join(", ")
    }
}

/// An encoder failed (a bug or an impossible configuration, not the client's).
#[derive(Debug)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "encoding failed: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// One response's encoder: 16-bit little-endian mono PCM in, encoded bytes out.
pub enum Encoder {
    /// LAME, constant bit rate.
    #[cfg(feature = "mp3")]
    Mp3(mp3::Mp3),
    /// FLAC, frame by frame.
    Flac(Box<flac::Flac>),
    /// Opus in Ogg.
    Opus(Box<opus::OggOpus>),
}

impl Encoder {
    /// An encoder of `format` for mono PCM at `sample_rate`; `None` for the
    /// formats that need none (`pcm`, `wav`) or that this build does not serve.
    pub fn new(format: OutputFormat, sample_rate: u32) -> Result<Option<Self>, EncodeError> {
        match format {
            #[cfg(feature = "mp3")]
            OutputFormat::Mp3 => Ok(Some(Encoder::Mp3(mp3::Mp3::new(sample_rate)?))),
            OutputFormat::Flac => Ok(Some(Encoder::Flac(Box::new(flac::Flac::new(sample_rate)?)))),
            OutputFormat::Opus => Ok(Some(Encoder::Opus(Box::new(opus::OggOpus::new(
                sample_rate,
            )?)))),
            _ => Ok(None),
        }
    }

    /// Encodes `pcm` (16-bit little-endian; an odd byte is kept for the next
    /// call) and returns every byte ready to send.
    pub fn push(&mut self, pcm: &[u8]) -> Result<Vec<u8>, EncodeError> {
        match self {
            #[cfg(feature = "mp3")]
            Encoder::Mp3(e) => e.push(pcm),
            Encoder::Flac(e) => e.push(pcm),
            Encoder::Opus(e) => e.push(pcm),
        }
    }

    /// Ends the stream: the last frames and the end of the container.
    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        match self {
            #[cfg(feature = "mp3")]
            Encoder::Mp3(e) => e.finish(),
            Encoder::Flac(e) => e.finish(),
            Encoder::Opus(e) => e.finish(),
        }
    }
}

/// Little-endian 16-bit samples from bytes, with a carry for an odd byte.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    carry: Option<u8>,
}

impl Samples {
    /// Appends the samples of `bytes` (after any carried byte) to `out`.
    pub(crate) fn extend(&mut self, bytes: &[u8], out: &mut Vec<i16>) {
        let mut rest = bytes;
        if let Some(low) = self.carry.take() {
            match rest.split_first() {
                Some((&high, tail)) => {
                    out.push(i16::from_le_bytes([low, high]));
                    rest = tail;
                }
                None => {
                    self.carry = Some(low);
                    return;
                }
            }
        }
        let mut pairs = rest.chunks_exact(2);
        out.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.carry = pairs.remainder().first().copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name_as_openai_does() {
        for f in OutputFormat::ALL {
            assert_eq!(OutputFormat::parse(f.name()), Some(f));
        }
        assert_eq!(OutputFormat::parse("ogg"), None);
        assert_eq!(OutputFormat::Mp3.content_type(), "audio/mpeg");
        assert!(OutputFormat::served_names().contains("opus"));
    }

    #[test]
    fn odd_bytes_carry_over() {
        let mut s = Samples::default();
        let mut out = Vec::new();
        s.extend(&[1, 0, 2], &mut out);
        s.extend(&[0], &mut out);
        s.extend(&[3, 0], &mut out);
        assert_eq!(out, vec![1, 2, 3]);
    }
}
