//! From received bytes to numbered `AudioChunk`s in the caller's format.

use bytes::Bytes;

use super::{AudioChunk, AudioFormat, FormatConverter, SpanTimes, TextSpan, WordTime};
use crate::error::Result;

/// What every provider does with the bytes it receives: convert them to the
/// wanted format in whole frames, number the chunks without gaps, and attach
/// the text span the provider reported (merged until a chunk carries it).
#[derive(Debug)]
pub struct ChunkAssembler {
    converter: FormatConverter,
    sequence: u64,
    bytes_in: usize,
    pending_span: Option<TextSpan>,
    pending_times: Option<SpanTimes>,
    pending_words: Vec<WordTime>,
}

impl ChunkAssembler {
    /// Converts `from` into `to`; the first chunk gets `first_sequence`.
    pub fn new(from: AudioFormat, to: AudioFormat, first_sequence: u64) -> Result<Self> {
        Ok(Self {
            converter: FormatConverter::new(from, to)?,
            sequence: first_sequence,
            bytes_in: 0,
            pending_span: None,
            pending_times: None,
            pending_words: Vec::new(),
        })
    }

    /// The format bytes arrive in.
    pub fn from(&self) -> AudioFormat {
        self.converter.from()
    }

    /// The format chunks leave in.
    pub fn to(&self) -> AudioFormat {
        self.converter.to()
    }

    /// Notes that the audio pushed next speaks `span` of the text.
    pub fn annotate(&mut self, span: TextSpan) {
        self.pending_span = Some(match self.pending_span {
            Some(p) => TextSpan {
                start: p.start,
                end: span.end,
            },
            None => span,
        });
    }

    /// Notes the vendor's times for the span annotated next (merged like spans).
    pub fn annotate_times(&mut self, times: SpanTimes) {
        self.pending_times = Some(match self.pending_times {
            Some(p) => SpanTimes {
                start: p.start,
                end: times.end.max(p.end),
            },
            None => times,
        });
    }

    /// Notes words whose times are now known; the next chunk carries them.
    pub fn annotate_words(&mut self, words: impl IntoIterator<Item = WordTime>) {
        self.pending_words.extend(words);
    }

    /// Adds received bytes; returns a chunk once whole frames are ready.
    pub fn push(&mut self, data: Bytes) -> Result<Option<AudioChunk>> {
        self.bytes_in += data.len();
        let out = self.converter.push(data)?;
        Ok(self.emit(out))
    }

    /// Ends the stream; returns the converter's tail, if any.
    pub fn finish(&mut self) -> Result<Option<AudioChunk>> {
        let out = self.converter.finish()?;
        Ok(self.emit(out))
    }

    /// Bytes received so far (before conversion).
    pub fn bytes_in(&self) -> usize {
        self.bytes_in
    }

    /// The sequence number the next chunk will get.
    pub fn next_sequence(&self) -> u64 {
        self.sequence
    }

    fn emit(&mut self, data: Bytes) -> Option<AudioChunk> {
        if data.is_empty() {
            return None;
        }
        let chunk = AudioChunk {
            data,
            format: self.converter.to(),
            sequence: self.sequence,
            span: self.pending_span.take(),
            times: self.pending_times.take(),
            words: std::mem::take(&mut self.pending_words),
        };
        self.sequence += 1;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_byte_boundaries_give_whole_numbered_samples() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = ChunkAssembler::new(f, f, 5).unwrap();
        assert!(c.push(Bytes::from_static(&[1])).unwrap().is_none());
        let chunk = c.push(Bytes::from_static(&[2, 3])).unwrap().unwrap();
        assert_eq!((&chunk.data[..], chunk.sequence), (&[1u8, 2][..], 5));
        let chunk = c.push(Bytes::from_static(&[4])).unwrap().unwrap();
        assert_eq!((&chunk.data[..], chunk.sequence), (&[3u8, 4][..], 6));
        assert_eq!(c.bytes_in(), 4);
        assert!(c.finish().unwrap().is_none());
    }

    #[test]
    fn spans_merge_until_a_chunk_carries_them() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = ChunkAssembler::new(f, f, 0).unwrap();
        c.annotate(TextSpan { start: 0, end: 3 });
        c.annotate(TextSpan { start: 3, end: 7 });
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 0, end: 7 }));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, None);
    }
}
