//! Turning one audio format into another as bytes stream through.

use bytes::Bytes;

use super::{pcm, AudioFormat, SampleAligner};
use crate::error::{ErrorKind, Result, TtsError};

/// Converts a byte stream from one [`AudioFormat`] to another: re-frames
/// arbitrary chunk boundaries, decodes, maps channels (down-mix by average,
/// up-mix by copying), resamples and encodes. Same format in and out costs
/// only the re-framing.
#[derive(Debug)]
pub struct FormatConverter {
    from: AudioFormat,
    to: AudioFormat,
    aligner: SampleAligner,
    resampler: Option<Resampler>,
}

#[cfg(feature = "resample")]
type Resampler = super::StreamResampler;

/// Stands in for the resampler when the `resample` feature is off: never built.
#[cfg(not(feature = "resample"))]
#[derive(Debug)]
enum Resampler {}

#[cfg(not(feature = "resample"))]
impl Resampler {
    fn new(from: u32, to: u32, _channels: usize) -> Result<Self> {
        Err(TtsError::new(
            ErrorKind::InvalidRequest,
            format!("converting {from} Hz to {to} Hz needs resampling, which this build leaves out"),
        )
        .with_hint("ask the provider for the rate you need, or build voxwire-core with the `resample` feature"))
    }

    fn process(&mut self, _: &[f32]) -> Result<Vec<f32>> {
        match *self {}
    }

    fn finish(&mut self) -> Result<Vec<f32>> {
        match *self {}
    }
}

impl FormatConverter {
    /// A converter from `from` to `to`; both must pass [`AudioFormat::validate`].
    pub fn new(from: AudioFormat, to: AudioFormat) -> Result<Self> {
        from.validate()?;
        to.validate()?;
        let resampler = if from.sample_rate == to.sample_rate {
            None
        } else {
            Some(Resampler::new(
                from.sample_rate,
                to.sample_rate,
                usize::from(to.channels),
            )?)
        };
        Ok(Self {
            from,
            to,
            aligner: SampleAligner::new(from.bytes_per_frame()),
            resampler,
        })
    }

    /// The input format.
    pub fn from(&self) -> AudioFormat {
        self.from
    }

    /// The output format.
    pub fn to(&self) -> AudioFormat {
        self.to
    }

    /// Converts the next bytes; returns whole output frames (possibly none yet).
    pub fn push(&mut self, data: Bytes) -> Result<Bytes> {
        let aligned = self.aligner.push(data);
        if self.from == self.to || aligned.is_empty() {
            return Ok(aligned);
        }
        let samples = self.channel_mapped(pcm::decode(self.from.encoding, &aligned));
        match &mut self.resampler {
            None => Ok(pcm::encode(self.to.encoding, &samples)),
            Some(r) => {
                let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
                let out = r.process(&floats)?;
                Ok(encode_floats(self.to, &out))
            }
        }
    }

    /// Ends the stream: flushes the resampler; an error if a partial frame was left.
    pub fn finish(&mut self) -> Result<Bytes> {
        if let Err(left) = self.aligner.finish() {
            return Err(TtsError::new(
                ErrorKind::Protocol,
                format!(
                    "the audio stream ended with {left} bytes of an incomplete {}-byte frame",
                    self.from.bytes_per_frame()
                ),
            ));
        }
        match &mut self.resampler {
            Some(r) => Ok(encode_floats(self.to, &r.finish()?)),
            None => Ok(Bytes::new()),
        }
    }

    fn channel_mapped(&self, samples: Vec<i16>) -> Vec<i16> {
        let (cin, cout) = (
            usize::from(self.from.channels),
            usize::from(self.to.channels),
        );
        if cin == cout {
            return samples;
        }
        samples
            .chunks_exact(cin)
            .flat_map(|frame| {
                let mono = (frame.iter().map(|&s| i32::from(s)).sum::<i32>() / cin as i32) as i16;
                let frame = frame.to_vec();
                (0..cout).map(move |c| {
                    if cout == 1 {
                        mono
                    } else {
                        *frame.get(c).unwrap_or(&mono)
                    }
                })
            })
            .collect()
    }
}

fn encode_floats(format: AudioFormat, samples: &[f32]) -> Bytes {
    let ints: Vec<i16> = samples
        .iter()
        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    pcm::encode(format.encoding, &ints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Encoding;

    fn tone(rate: u32, frames: usize) -> Vec<i16> {
        (0..frames)
            .map(|i| {
                ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 10_000.0) as i16
            })
            .collect()
    }

    fn run(conv: &mut FormatConverter, data: &[u8], piece: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in data.chunks(piece) {
            out.extend_from_slice(&conv.push(Bytes::copy_from_slice(c)).unwrap());
        }
        out.extend_from_slice(&conv.finish().unwrap());
        out
    }

    #[test]
    fn identity_passes_bytes_through() {
        let f = AudioFormat::pcm16_mono(24_000);
        let data = pcm::encode(Encoding::PcmS16le, &tone(24_000, 1000));
        let mut c = FormatConverter::new(f, f).unwrap();
        assert_eq!(run(&mut c, &data, 3), data.to_vec());
    }

    #[test]
    fn rate_and_encoding_change_keep_duration() {
        let from = AudioFormat::pcm16_mono(22_050);
        let to = AudioFormat::mono(Encoding::Mulaw, 8_000);
        let data = pcm::encode(Encoding::PcmS16le, &tone(22_050, 22_050));
        let mut c = FormatConverter::new(from, to).unwrap();
        let out = run(&mut c, &data, 777);
        assert_eq!(out.len(), 8_000);
        let level = pcm::rms(&pcm::decode(Encoding::Mulaw, &out[1000..7000]));
        assert!((level - 7071.0).abs() < 300.0, "rms {level}");
    }

    #[test]
    fn stereo_down_mix_and_up_mix() {
        let stereo = AudioFormat {
            channels: 2,
            ..AudioFormat::pcm16_mono(16_000)
        };
        let mono = AudioFormat::pcm16_mono(16_000);
        let data = pcm::encode(Encoding::PcmS16le, &[100, 300, -50, -150]);
        let mut down = FormatConverter::new(stereo, mono).unwrap();
        assert_eq!(
            pcm::decode(Encoding::PcmS16le, &run(&mut down, &data, 1)),
            vec![200, -100]
        );
        let mut up = FormatConverter::new(mono, stereo).unwrap();
        let data = pcm::encode(Encoding::PcmS16le, &[7, -9]);
        assert_eq!(
            pcm::decode(Encoding::PcmS16le, &run(&mut up, &data, 1)),
            vec![7, 7, -9, -9]
        );
    }

    #[test]
    fn a_trailing_partial_sample_is_an_error() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = FormatConverter::new(f, AudioFormat::mono(Encoding::Alaw, 24_000)).unwrap();
        c.push(Bytes::from_static(&[1, 2, 3])).unwrap();
        assert_eq!(c.finish().unwrap_err().kind(), ErrorKind::Protocol);
    }
}
