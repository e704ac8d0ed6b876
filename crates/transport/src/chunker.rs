//! Received audio bytes → sample-aligned `AudioChunk`s in the caller's
//! format, with the vendor's per-character times mapped onto byte spans of
//! the utterance text.

use bytes::Bytes;
use voxwire_core::audio::{AudioFormat, ChunkAssembler, SpanTimes, TextSpan};
use voxwire_core::{AudioChunk, Result};

use crate::dialect::Timing;

/// One utterance's audio: a core [`ChunkAssembler`] plus span and time mapping.
#[derive(Debug)]
pub struct Chunker {
    assembler: ChunkAssembler,
    spans: SpanMapper,
    provider: &'static str,
}

impl Chunker {
    /// Converts `wire` into `target`; the first chunk is numbered `first_sequence`.
    pub fn new(
        provider: &'static str,
        wire: AudioFormat,
        target: AudioFormat,
        first_sequence: u64,
    ) -> Result<Self> {
        Ok(Self {
            assembler: ChunkAssembler::new(wire, target, first_sequence)
                .map_err(|e| e.or_provider(provider))?,
            spans: SpanMapper::default(),
            provider,
        })
    }

    /// Sets the text the times refer to.
    pub fn set_text(&mut self, text: &str) {
        self.spans.set_text(text);
    }

    /// Notes the vendor's times for the audio pushed next.
    pub fn timing(&mut self, timing: Timing) {
        if timing.chars > 0 {
            let span = self.spans.advance(timing.chars);
            self.assembler.annotate(span);
        }
        self.assembler.annotate_times(SpanTimes {
            start: timing.start,
            end: timing.end,
        });
    }

    /// Adds wire bytes; returns a chunk when whole frames are ready.
    pub fn push(&mut self, data: Bytes) -> Result<Option<AudioChunk>> {
        self.assembler
            .push(data)
            .map_err(|e| e.or_provider(self.provider))
    }

    /// Ends the utterance: `NoAudio` when nothing arrived, else the converter's tail, if any.
    pub fn finish(&mut self, endpoint: &str) -> Result<Option<AudioChunk>> {
        if !self.got_audio() {
            return Err(crate::errors::no_audio(self.provider, endpoint));
        }
        self.assembler
            .finish()
            .map_err(|e| e.or_provider(self.provider))
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
#[derive(Debug, Default)]
struct SpanMapper {
    char_starts: Vec<usize>,
    text_len: usize,
    cursor: usize,
}

impl SpanMapper {
    fn set_text(&mut self, text: &str) {
        self.char_starts = text.char_indices().map(|(i, _)| i).collect();
        self.text_len = text.len();
        self.cursor = 0;
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
    use std::time::Duration;

    #[test]
    fn times_map_to_byte_spans_and_keep_the_vendors_times() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = Chunker::new("toy", f, f, 0).unwrap();
        c.set_text("héllo wörld");
        let ms = Duration::from_millis;
        c.timing(Timing {
            chars: 6,
            start: ms(0),
            end: ms(70),
        });
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 0, end: 7 }));
        assert_eq!(
            chunk.times,
            Some(SpanTimes {
                start: ms(0),
                end: ms(70)
            })
        );
        c.timing(Timing {
            chars: 5,
            start: ms(70),
            end: ms(400),
        });
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 7, end: 13 }));
        assert_eq!(
            chunk.times,
            Some(SpanTimes {
                start: ms(70),
                end: ms(400)
            })
        );
    }
}
