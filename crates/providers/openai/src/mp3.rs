//! Decoding an `audio/mpeg` answer as it streams in: MPEG Layer III frames
//! are cut from the body by their headers and each decoded with symphonia's
//! pure-Rust decoder into 16-bit mono PCM (stereo is averaged).

use bytes::Bytes;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecParameters, Decoder, DecoderOptions, CODEC_TYPE_MP3};
use symphonia::core::formats::Packet;
use voxwire_core::{AudioFormat, Result, TtsError};
use voxwire_transport::errors;

use crate::PROVIDER_ID;

/// The most bytes held while looking for a frame (an ID3 tag is skipped, not held).
const MAX_CARRY: usize = 64 * 1024;

/// An MPEG Layer III frame header's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Samples per second.
    pub sample_rate: u32,
    /// The whole frame's length in bytes, header included.
    pub len: usize,
}

/// Reads a Layer III frame header at the start of `b`.
pub fn frame_header(b: &[u8]) -> Option<FrameHeader> {
    if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (b[1] >> 3) & 0b11; // 00: 2.5, 10: 2, 11: 1
    let layer = (b[1] >> 1) & 0b11; // 01: Layer III
    if version == 0b01 || layer != 0b01 {
        return None;
    }
    let bitrate_index = usize::from(b[2] >> 4);
    let rate_index = usize::from((b[2] >> 2) & 0b11);
    let padding = usize::from((b[2] >> 1) & 1);
    if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let (kbps, rates, factor) = match version {
        0b11 => (V1[bitrate_index], [44_100, 48_000, 32_000], 144),
        0b10 => (V2[bitrate_index], [22_050, 24_000, 16_000], 72),
        _ => (V2[bitrate_index], [11_025, 12_000, 8_000], 72),
    };
    let sample_rate = rates[rate_index];
    let len = (factor * kbps * 1000 / sample_rate) as usize + padding;
    Some(FrameHeader { sample_rate, len })
}

/// Streaming mp3 → PCM.
pub(crate) struct Mp3Decoder {
    carry: Vec<u8>,
    skip: usize,
    decoder: Option<(u32, Box<dyn Decoder>)>,
    url: String,
    frames: u64,
}

impl Mp3Decoder {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            carry: Vec::new(),
            skip: 0,
            decoder: None,
            url: url.to_string(),
            frames: 0,
        }
    }

    fn error(&self, what: impl Into<String>) -> TtsError {
        errors::protocol(PROVIDER_ID, &self.url, what)
    }

    pub(crate) fn push(&mut self, data: &[u8], out: &mut Vec<(AudioFormat, Bytes)>) -> Result<()> {
        let mut data = data;
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.carry.extend_from_slice(data);
        self.drain(out)
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<(AudioFormat, Bytes)>) -> Result<()> {
        self.drain(out)?;
        if self.frames == 0 {
            return Err(self.error("the mp3 answer holds no MPEG Layer III frame"));
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<(AudioFormat, Bytes)>) -> Result<()> {
        let mut at = 0;
        loop {
            let rest = &self.carry[at..];
            if rest.len() >= 10 && &rest[..3] == b"ID3" {
                let size = rest[6..10]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 7) | usize::from(b & 0x7F));
                let footer = if rest[5] & 0x10 != 0 { 10 } else { 0 };
                let whole = 10 + size + footer;
                if rest.len() >= whole {
                    at += whole;
                } else {
                    self.skip = whole - rest.len();
                    at = self.carry.len();
                }
                continue;
            }
            if rest.len() < 4 {
                break;
            }
            let Some(header) = frame_header(rest) else {
                at += 1; // not in sync: look further
                continue;
            };
            if rest.len() < header.len {
                break;
            }
            let frame = rest[..header.len].to_vec();
            at += header.len;
            self.decode(header.sample_rate, &frame, out)?;
        }
        self.carry.drain(..at.min(self.carry.len()));
        if self.carry.len() > MAX_CARRY {
            return Err(self.error("no mp3 frame in 64 KiB of the answer"));
        }
        Ok(())
    }

    fn decode(
        &mut self,
        rate: u32,
        frame: &[u8],
        out: &mut Vec<(AudioFormat, Bytes)>,
    ) -> Result<()> {
        if self.decoder.as_ref().is_none_or(|(r, _)| *r != rate) {
            let mut params = CodecParameters::new();
            params.for_codec(CODEC_TYPE_MP3).with_sample_rate(rate);
            let decoder = symphonia::default::get_codecs()
                .make(&params, &DecoderOptions::default())
                .map_err(|e| self.error(format!("cannot start the mp3 decoder: {e}")))?;
            self.decoder = Some((rate, decoder));
        }
        let Some((_, decoder)) = self.decoder.as_mut() else {
            return Ok(());
        };
        let packet = Packet::new_from_slice(0, self.frames, 0, frame);
        self.frames += 1;
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A frame the decoder cannot use (e.g. a broken one) is skipped, as players do.
            Err(symphonia::core::errors::Error::DecodeError(_)) => return Ok(()),
            Err(e) => return Err(self.error(format!("mp3 decoding failed: {e}"))),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let mut samples = SampleBuffer::<i16>::new(decoded.capacity() as u64, spec);
        samples.copy_interleaved_ref(decoded);
        let mut pcm = Vec::with_capacity(samples.samples().len() / channels * 2);
        for frame in samples.samples().chunks(channels) {
            let sum: i32 = frame.iter().map(|&s| i32::from(s)).sum();
            let mono = (sum / channels as i32) as i16;
            pcm.extend_from_slice(&mono.to_le_bytes());
        }
        if !pcm.is_empty() {
            out.push((AudioFormat::pcm16_mono(spec.rate), Bytes::from(pcm)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_follow_the_header() {
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes.
        assert_eq!(
            frame_header(&[0xFF, 0xFB, 0x90, 0x00]),
            Some(FrameHeader {
                sample_rate: 44_100,
                len: 417
            })
        );
        // MPEG-2, 64 kbit/s, 24 kHz: 72 * 64000 / 24000 = 192 bytes.
        assert_eq!(
            frame_header(&[0xFF, 0xF3, 0x84, 0x00]),
            Some(FrameHeader {
                sample_rate: 24_000,
                len: 192
            })
        );
        assert_eq!(frame_header(b"RIFF"), None);
    }
}
