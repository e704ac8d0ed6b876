//! Received audio bytes → sample-aligned `AudioChunk`s in the caller's format.

use bytes::Bytes;
use voxwire_core::audio::{AudioFormat, ChunkAssembler, TextSpan};
use voxwire_core::{AudioChunk, Encoding, Result};

use crate::protocol::SAMPLE_RATES;

/// The format asked of xAI for a wanted output: the same when xAI offers it,
/// else 24 kHz PCM, converted locally.
pub(crate) fn wire_format(target: AudioFormat) -> AudioFormat {
    if target.channels == 1 && SAMPLE_RATES.contains(&target.sample_rate) {
        target
    } else {
        AudioFormat::mono(Encoding::PcmS16le, 24_000)
    }
}

/// One utterance's audio: a core [`ChunkAssembler`] plus the mapping of
/// xAI's per-character timestamps onto byte spans of the utterance text.
pub(crate) struct Chunker {
    assembler: ChunkAssembler,
    spans: SpanMapper,
}

impl Chunker {
    pub fn new(wire: AudioFormat, target: AudioFormat, first_sequence: u64) -> Result<Self> {
        Ok(Self {
            assembler: ChunkAssembler::new(wire, target, first_sequence)?,
            spans: SpanMapper::default(),
        })
    }

    /// Sets the text the timestamps refer to.
    pub fn set_text(&mut self, text: &str) {
        self.spans.set_text(text);
    }

    /// Notes that `chars` more characters of the text are covered by timestamps.
    pub fn covered_chars(&mut self, chars: usize) {
        let span = self.spans.advance(chars);
        self.assembler.annotate(span);
    }

    /// Adds wire bytes; returns a chunk when whole frames are ready.
    pub fn push(&mut self, data: Bytes) -> Result<Option<AudioChunk>> {
        self.assembler
            .push(data)
            .map_err(|e| e.or_provider(crate::PROVIDER_ID))
    }

    /// Ends the utterance: `NoAudio` when nothing arrived, else the converter's tail, if any.
    pub fn finish(&mut self, endpoint: &str) -> Result<Option<AudioChunk>> {
        if !self.got_audio() {
            return Err(crate::errors::no_audio(endpoint));
        }
        self.assembler
            .finish()
            .map_err(|e| e.or_provider(crate::PROVIDER_ID))
    }

    /// Whether any wire bytes arrived yet (first-audio vs inactivity deadline).
    pub fn got_audio(&self) -> bool {
        self.assembler.bytes_in() > 0
    }

    /// The sequence number the next chunk will get.
    pub fn next_sequence(&self) -> u64 {
        self.assembler.next_sequence()
    }
}

/// Character counts → byte offsets of the text.
#[derive(Default)]
struct SpanMapper {
    char_starts: Vec<usize>,
    text_len: usize,
    cursor: usize,
}

impl SpanMapper {
    fn set_text(&mut self, text: &str) {
        self.char_starts = text.char_indices().map(|(i, _)| i).collect();
        self.text_len = text.len();
    }

    fn advance(&mut self, chars: usize) -> TextSpan {
        let at = |i: usize| self.char_starts.get(i).copied().unwrap_or(self.text_len);
        let start = at(self.cursor);
        self.cursor += chars;
        TextSpan {
            start,
            end: at(self.cursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_map_to_byte_spans() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = Chunker::new(f, f, 0).unwrap();
        c.set_text("héllo wörld");
        c.covered_chars(6);
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 0, end: 7 }));
        c.covered_chars(5);
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 7, end: 13 }));
    }

    #[test]
    fn unsupported_rates_are_asked_as_24k_pcm() {
        assert_eq!(
            wire_format(AudioFormat::pcm16_mono(11_025)),
            AudioFormat::pcm16_mono(24_000)
        );
        let mulaw = AudioFormat::mono(Encoding::Mulaw, 8_000);
        assert_eq!(wire_format(mulaw), mulaw);
    }
}
