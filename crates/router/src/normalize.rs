//! Making sure the caller gets the format it asked for, whatever a provider sent.
//!
//! Providers are asked for the output format and usually deliver it; when a
//! chunk arrives in another format (a provider that cannot resample, or a
//! failover to one with another native rate) it is converted here.

use bytes::Bytes;
use voxwire_core::audio::FormatConverter;
use voxwire_core::{AudioChunk, AudioFormat, Result};

/// Converts chunks to one target format, passing matching chunks through untouched.
#[derive(Debug)]
pub struct Normalizer {
    target: AudioFormat,
    converter: Option<FormatConverter>,
}

impl Normalizer {
    /// A normalizer producing `target`.
    pub fn new(target: AudioFormat) -> Self {
        Self {
            target,
            converter: None,
        }
    }

    /// The bytes of `chunk` in the target format (possibly fewer while a converter fills).
    ///
    /// A change of source format mid-stream flushes the old converter first.
    pub fn push(&mut self, chunk: AudioChunk) -> Result<Bytes> {
        if chunk.format == self.target && self.converter.is_none() {
            return Ok(chunk.data);
        }
        let mut out = Vec::new();
        if let Some(conv) = &mut self.converter {
            if conv.from() != chunk.format {
                out.extend_from_slice(&conv.finish()?);
                self.converter = None;
            }
        }
        if chunk.format == self.target {
            out.extend_from_slice(&chunk.data);
            return Ok(out.into());
        }
        let conv = match &mut self.converter {
            Some(conv) => conv,
            None => self
                .converter
                .insert(FormatConverter::new(chunk.format, self.target)?),
        };
        out.extend_from_slice(&conv.push(chunk.data)?);
        Ok(out.into())
    }

    /// Whatever a converter still holds, at the end of the stream.
    pub fn finish(&mut self) -> Result<Bytes> {
        match self.converter.take() {
            Some(mut conv) => conv.finish(),
            None => Ok(Bytes::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::Encoding;

    fn chunk(format: AudioFormat, data: Vec<u8>) -> AudioChunk {
        AudioChunk {
            data: data.into(),
            format,
            sequence: 0,
            span: None,
            times: None,
            words: Vec::new(),
        }
    }

    #[test]
    fn matching_chunks_pass_through() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut n = Normalizer::new(f);
        assert_eq!(
            n.push(chunk(f, vec![1, 2, 3, 4])).unwrap(),
            vec![1u8, 2, 3, 4]
        );
        assert!(n.finish().unwrap().is_empty());
    }

    #[test]
    fn other_formats_are_converted() {
        let target = AudioFormat::mono(Encoding::Mulaw, 8_000);
        let mut n = Normalizer::new(target);
        let source = AudioFormat::pcm16_mono(8_000);
        let out = n.push(chunk(source, vec![0; 200])).unwrap();
        assert_eq!(out.len(), 100);
        let mut total = 0;
        let resampled = AudioFormat::pcm16_mono(16_000);
        total += n.push(chunk(resampled, vec![0; 3200])).unwrap().len();
        total += n.finish().unwrap().len();
        assert!((790..=810).contains(&total), "{total}");
    }
}
