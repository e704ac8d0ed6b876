//! Received audio bytes → sample-aligned `AudioChunk`s in the caller's
//! format, with the vendor's per-character times mapped onto byte spans of
//! the utterance text, and gathered into words.

use std::time::Duration;

use bytes::Bytes;
use voxwire_core::audio::{AudioFormat, ChunkAssembler, SpanTimes, TextSpan, WordTime};
use voxwire_core::{AudioChunk, Result};

use crate::dialect::Timing;

/// One utterance's audio: a core [`ChunkAssembler`] plus span, time and word mapping.
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

    /// Notes the vendor's times for the audio pushed next: the chunk that
    /// carries it gets the span and time range of all its marks, and every
    /// word they complete.
    pub fn timing(&mut self, timing: Timing) {
        let (Some(first), Some(last)) = (timing.marks.first(), timing.marks.last()) else {
            return;
        };
        let times = SpanTimes {
            start: first.start,
            end: last.end,
        };
        let mut words = Vec::new();
        let mut covered: Option<TextSpan> = None;
        for mark in &timing.marks {
            if mark.chars == 0 {
                continue;
            }
            let span = self.spans.advance(mark.chars);
            covered = Some(match covered {
                Some(c) => TextSpan {
                    start: c.start,
                    end: span.end,
                },
                None => span,
            });
            words.extend(self.spans.word(span, mark.start, mark.end));
        }
        if let Some(span) = covered {
            self.assembler.annotate(span);
        }
        self.assembler.annotate_times(times);
        self.assembler.annotate_words(words);
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

/// Character counts → byte offsets of the text, and characters → words.
#[derive(Debug, Default)]
struct SpanMapper {
    text: String,
    char_starts: Vec<usize>,
    cursor: usize,
    /// The word whose characters are being marked, until it is complete.
    word: Option<WordTime>,
}

impl SpanMapper {
    fn set_text(&mut self, text: &str) {
        self.text = text.to_string();
        self.char_starts = text.char_indices().map(|(i, _)| i).collect();
        self.cursor = 0;
        self.word = None;
    }

    fn advance(&mut self, chars: usize) -> TextSpan {
        let at = |i: usize| self.char_starts.get(i).copied().unwrap_or(self.text.len());
        let start = at(self.cursor);
        self.cursor = self.cursor.saturating_add(chars);
        TextSpan {
            start,
            end: at(self.cursor),
        }
    }

    /// Adds the characters at `span`, spoken from `start` to `end`, to the
    /// word under way; returns it once complete (whitespace or the end of the
    /// text follows it). Whitespace only ends a word.
    fn word(&mut self, span: TextSpan, start: Duration, end: Duration) -> Option<WordTime> {
        let chars = self.text.get(span.start..span.end).unwrap_or_default();
        if chars.is_empty() || chars.chars().all(char::is_whitespace) {
            return self.word.take();
        }
        let word = self.word.get_or_insert(WordTime { span, start, end });
        word.span.end = span.end;
        word.end = word.end.max(end);
        let next = self
            .text
            .get(span.end..)
            .and_then(|rest| rest.chars().next());
        if next.is_none_or(char::is_whitespace) {
            return self.word.take();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::CharMark;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Marks for `n` characters from character `from`, 10 ms each.
    fn marks(from: u64, n: u64) -> Timing {
        Timing {
            marks: (from..from + n)
                .map(|i| CharMark {
                    chars: 1,
                    start: ms(i * 10),
                    end: ms(i * 10 + 10),
                })
                .collect(),
        }
    }

    #[test]
    fn times_map_to_byte_spans_and_keep_the_vendors_times() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = Chunker::new("toy", f, f, 0).unwrap();
        c.set_text("héllo wörld");
        c.timing(marks(0, 6));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 0, end: 7 }));
        assert_eq!(
            chunk.times,
            Some(SpanTimes {
                start: ms(0),
                end: ms(60)
            })
        );
        c.timing(marks(6, 5));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.span, Some(TextSpan { start: 7, end: 13 }));
        assert_eq!(
            chunk.times,
            Some(SpanTimes {
                start: ms(60),
                end: ms(110)
            })
        );
    }

    #[test]
    fn characters_gather_into_words_across_messages() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = Chunker::new("toy", f, f, 0).unwrap();
        c.set_text("héllo, wörld  ok");
        // "hél": the word is not complete yet.
        c.timing(marks(0, 3));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert!(chunk.words.is_empty());
        // "lo, wö": "héllo," ends (whitespace follows it).
        c.timing(marks(3, 6));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(
            chunk.words,
            vec![WordTime {
                span: TextSpan { start: 0, end: 7 },
                start: ms(0),
                end: ms(60),
            }]
        );
        // "rld  ok": "wörld" and, at the end of the text, "ok".
        c.timing(marks(9, 7));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(
            chunk.words,
            vec![
                WordTime {
                    span: TextSpan { start: 8, end: 14 },
                    start: ms(70),
                    end: ms(120),
                },
                WordTime {
                    span: TextSpan { start: 16, end: 18 },
                    start: ms(140),
                    end: ms(160),
                },
            ]
        );
    }

    #[test]
    fn marks_beyond_the_text_end_no_word_and_do_not_panic() {
        let f = AudioFormat::pcm16_mono(24_000);
        let mut c = Chunker::new("toy", f, f, 0).unwrap();
        c.set_text("hi");
        c.timing(marks(0, 5));
        let chunk = c.push(Bytes::from_static(&[0, 0])).unwrap().unwrap();
        assert_eq!(chunk.words.len(), 1);
        assert_eq!(chunk.words[0].span, TextSpan { start: 0, end: 2 });
    }
}
