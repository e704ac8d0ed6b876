//! Reading WAV from a pipe, where the header's sizes are placeholders.
//!
//! Programs that stream WAV (`espeak-ng --stdout`, some HTTP APIs) write the
//! header before they know the length, so the RIFF and `data` sizes are junk
//! (often `0x7FFFF000`). [`WavStreamParser`] reads the format from the header
//! and then treats everything after the `data` chunk header as audio, to the
//! end of the stream. [`streaming_header`] writes such a header, for a
//! stream whose length is not known when it starts (a relay's response, a
//! CLI's stdout). Writing WAV files whose length is known is left to `hound`.

use bytes::{Buf, Bytes, BytesMut};

use super::{AudioFormat, Encoding};
use crate::error::{ErrorKind, Result, TtsError};

/// The most header bytes (RIFF, fmt, LIST, …) accepted before the `data` chunk.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Incremental WAV parser: push bytes, get the format once, then audio bytes.
#[derive(Debug, Default)]
pub struct WavStreamParser {
    header: BytesMut,
    format: Option<AudioFormat>,
    in_data: bool,
}

/// What one push produced.
#[derive(Debug, Default)]
pub struct WavPiece {
    /// The stream's format, reported once, on the push that completed the header.
    pub format: Option<AudioFormat>,
    /// Audio bytes (not yet sample-aligned: chunk boundaries are the caller's).
    pub data: Bytes,
}

impl WavStreamParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The format, once the header has been read.
    pub fn format(&self) -> Option<AudioFormat> {
        self.format
    }

    /// Feeds the next bytes of the stream.
    pub fn push(&mut self, data: Bytes) -> Result<WavPiece> {
        if self.in_data {
            return Ok(WavPiece { format: None, data });
        }
        self.header.extend_from_slice(&data);
        if self.header.len() > MAX_HEADER_BYTES {
            return Err(bad("the header is longer than 64 KiB without a data chunk"));
        }
        self.parse_header()
    }

    /// Ends the stream; an error if the header never completed.
    pub fn finish(&self) -> Result<AudioFormat> {
        match (self.in_data, self.format) {
            (true, Some(format)) => Ok(format),
            _ => Err(bad("the stream ended inside the WAV header")),
        }
    }

    fn parse_header(&mut self) -> Result<WavPiece> {
        let buf = &self.header[..];
        if buf.len() < 12 {
            return Ok(WavPiece::default());
        }
        if &buf[0..4] != b"RIFF" || &buf[8..12] != b"WAVE" {
            return Err(bad("it does not start with RIFF....WAVE"));
        }
        let mut pos = 12;
        let mut format = self.format;
        loop {
            if buf.len() < pos + 8 {
                return Ok(WavPiece::default());
            }
            let id = &buf[pos..pos + 4];
            let size = u32::from_le_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]])
                as usize;
            if id == b"data" {
                let format = format.ok_or_else(|| bad("the data chunk comes before fmt"))?;
                self.format = Some(format);
                self.in_data = true;
                let mut rest = std::mem::take(&mut self.header);
                rest.advance(pos + 8);
                return Ok(WavPiece {
                    format: Some(format),
                    data: rest.freeze(),
                });
            }
            let padded = size + (size & 1);
            if padded > MAX_HEADER_BYTES {
                return Err(bad("a header chunk claims to be larger than 64 KiB"));
            }
            if buf.len() < pos + 8 + padded {
                return Ok(WavPiece::default());
            }
            if id == b"fmt " {
                format = Some(parse_fmt(&buf[pos + 8..pos + 8 + size])?);
            }
            pos += 8 + padded;
        }
    }
}

fn parse_fmt(fmt: &[u8]) -> Result<AudioFormat> {
    if fmt.len() < 16 {
        return Err(bad("the fmt chunk is shorter than 16 bytes"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16_at(14);
    // WAVE_FORMAT_EXTENSIBLE keeps the real tag in the sub-format GUID.
    let tag = if tag == 0xFFFE && fmt.len() >= 26 {
        u16_at(24)
    } else {
        tag
    };
    let encoding = match (tag, bits) {
        (1, 16) => Encoding::PcmS16le,
        (7, 8) => Encoding::Mulaw,
        (6, 8) => Encoding::Alaw,
        _ => {
            return Err(bad(&format!(
                "unsupported WAV sample format (tag {tag}, {bits} bits): expected 16-bit PCM, µ-law or A-law"
            )))
        }
    };
    let format = AudioFormat {
        encoding,
        sample_rate,
        channels,
    };
    format
        .validate()
        .map_err(|e| bad(&format!("its format is unusable: {}", e.message())))?;
    Ok(format)
}

/// The size of the header [`streaming_header`] writes.
pub const STREAMING_HEADER_BYTES: usize = 44;

/// A canonical 44-byte WAV header (RIFF, a 16-byte `fmt ` chunk, `data`) for
/// a stream of unknown length: both size fields hold the largest values
/// (`u32::MAX` for RIFF, `u32::MAX - 36` for `data`), as streaming tools
/// write them, since the output cannot be seeked back to fix them.
/// [`WavStreamParser`] and players read it as audio running to the end of
/// the stream.
///
/// The sample format follows `format.encoding`: 16-bit PCM (tag 1), µ-law
/// (tag 7) or A-law (tag 6), 8 bits per sample for the last two.
///
/// ```
/// use voxwire_core::audio::{wav, AudioFormat};
///
/// let header = wav::streaming_header(AudioFormat::pcm16_mono(24_000));
/// assert_eq!(header.len(), wav::STREAMING_HEADER_BYTES);
/// assert_eq!(&header[..4], b"RIFF");
/// ```
pub fn streaming_header(format: AudioFormat) -> [u8; STREAMING_HEADER_BYTES] {
    let tag: u16 = match format.encoding {
        Encoding::PcmS16le => 1,
        Encoding::Alaw => 6,
        Encoding::Mulaw => 7,
    };
    let bytes_per_sample = format.encoding.bytes_per_sample() as u16;
    let block_align = format.channels.saturating_mul(bytes_per_sample);
    let byte_rate = format.sample_rate.saturating_mul(u32::from(block_align));
    let mut h = [0u8; STREAMING_HEADER_BYTES];
    let fields: [&[u8]; 13] = [
        b"RIFF",
        &u32::MAX.to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16u32.to_le_bytes(),
        &tag.to_le_bytes(),
        &format.channels.to_le_bytes(),
        &format.sample_rate.to_le_bytes(),
        &byte_rate.to_le_bytes(),
        &block_align.to_le_bytes(),
        &(bytes_per_sample * 8).to_le_bytes(),
        b"data",
        &(u32::MAX - 36).to_le_bytes(),
    ];
    let mut at = 0;
    for field in fields {
        h[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    h
}

fn bad(what: &str) -> TtsError {
    TtsError::new(ErrorKind::Protocol, format!("invalid WAV stream: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed_header(rate: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0x7FFF_F024u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"LIST");
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(b"abc\0");
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0x7FFF_F000u32.to_le_bytes());
        h
    }

    #[test]
    fn placeholder_sizes_are_ignored_and_data_runs_to_the_end() {
        let mut stream = streamed_header(22_050);
        let audio: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        stream.extend_from_slice(&audio);
        for piece in [1usize, 3, 7, 50, 5000] {
            let mut p = WavStreamParser::new();
            let mut got = Vec::new();
            let mut format = None;
            for chunk in stream.chunks(piece) {
                let out = p.push(Bytes::copy_from_slice(chunk)).unwrap();
                if out.format.is_some() {
                    assert!(format.is_none(), "format reported twice");
                    format = out.format;
                }
                got.extend_from_slice(&out.data);
            }
            assert_eq!(format, Some(AudioFormat::pcm16_mono(22_050)));
            assert_eq!(p.finish().unwrap(), AudioFormat::pcm16_mono(22_050));
            assert_eq!(got, audio, "piece {piece}");
        }
    }

    #[test]
    fn the_streaming_header_reads_back_as_an_endless_stream() {
        let formats = [
            AudioFormat::pcm16_mono(24_000),
            AudioFormat {
                encoding: Encoding::Mulaw,
                sample_rate: 8_000,
                channels: 1,
            },
            AudioFormat {
                encoding: Encoding::PcmS16le,
                sample_rate: 48_000,
                channels: 2,
            },
        ];
        for format in formats {
            let header = streaming_header(format);
            let size_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap());
            assert_eq!(&header[..4], b"RIFF");
            assert_eq!(&header[8..16], b"WAVEfmt ");
            assert_eq!(&header[36..40], b"data");
            assert_eq!(size_at(4), u32::MAX);
            assert_eq!(size_at(40), u32::MAX - 36);
            let block = u32::from(format.channels) * format.encoding.bytes_per_sample() as u32;
            assert_eq!(size_at(28), format.sample_rate * block);
            let mut p = WavStreamParser::new();
            let mut stream = header.to_vec();
            stream.extend_from_slice(&[1, 2, 3, 4]);
            let piece = p.push(Bytes::from(stream)).unwrap();
            assert_eq!(piece.format, Some(format));
            assert_eq!(&piece.data[..], [1, 2, 3, 4]);
        }
        // What hound writes for the same spec, but for the two sizes.
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 24_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        hound::WavWriter::new(&mut cursor, spec)
            .unwrap()
            .finalize()
            .unwrap();
        let hound = cursor.into_inner();
        let ours = streaming_header(AudioFormat::pcm16_mono(24_000));
        assert_eq!(hound.len(), ours.len());
        assert_eq!(hound[8..40], ours[8..40]);
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut p = WavStreamParser::new();
        let err = p
            .push(Bytes::from_static(b"<html>nope</html>"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        let p = WavStreamParser::new();
        assert!(p.finish().is_err());
    }
}
