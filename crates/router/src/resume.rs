//! Resuming a sentence at the word: after an entry died mid-sentence, the
//! replacement speaks the sentence whole, and its audio is dropped up to the
//! first word the listener has not heard whole (from the end of the word
//! before it, so the pause between them is never shortened), by the
//! replacement's own word times (`AudioChunk::words`).
//!
//! Two halves. [`resume_point`] reads the dead take's word times against how
//! far its audio got and says where the text resumes. A [`Seeker`] holds the
//! replacement's audio until its times reach that word, then releases the
//! audio from the word's start. If they never do (an entry that reports no
//! times after all, or whose characters do not match the text), it gives up
//! and releases everything: the sentence repeats from its start, nothing is
//! lost.

use std::time::Duration;

use bytes::Bytes;
use voxwire_core::{AudioFormat, SpanTimes, TextSpan, WordTime};

/// Most audio a [`Seeker`] holds while it waits for the word's time; past it,
/// the sentence is replayed from its start.
pub(crate) const HOLD_LIMIT: Duration = Duration::from_secs(20);

/// Where the text resumes after a take died, its audio having got to
/// `reached` (in its own timeline): the start of the first word not heard
/// whole, or, when every word it reported was, the first word after them.
/// `None` when the take reported no word times.
pub(crate) fn resume_point(text: &str, words: &[WordTime], reached: Duration) -> Option<usize> {
    let last = words.last()?;
    if let Some(word) = words.iter().find(|w| w.end > reached) {
        return Some(word.span.start);
    }
    let rest = text.get(last.span.end..).unwrap_or_default();
    let gap = rest.len() - rest.trim_start().len();
    Some((last.span.end + gap).min(text.len()))
}

/// Whether nothing but whitespace of `text` lies at or after byte `at`.
pub(crate) fn heard_whole(text: &str, at: usize) -> bool {
    text.get(at..).is_none_or(|rest| rest.trim().is_empty())
}

/// Bytes of `format` that last `d` (whole frames).
pub(crate) fn bytes_for(format: AudioFormat, d: Duration) -> usize {
    let frame = format.bytes_per_frame().max(1);
    let frames = (d.as_secs_f64() * f64::from(format.sample_rate)).round() as usize;
    frames * frame
}

/// Audio of an attempt in the target format, with what it speaks.
#[derive(Debug, Clone)]
pub(crate) struct Audio {
    pub data: Bytes,
    pub span: Option<TextSpan>,
    pub times: Option<SpanTimes>,
    pub words: Vec<WordTime>,
}

/// What a [`Seeker`] lets through.
#[derive(Debug)]
pub(crate) enum Release {
    /// Nothing yet: the word's time is not known.
    Hold,
    /// The held audio, in order, its first `dropped` bytes dropped; `rest`
    /// more bytes are to be dropped from the audio that follows (the word
    /// starts beyond what arrived so far).
    Send {
        dropped: usize,
        rest: usize,
        audio: Vec<Audio>,
    },
}

/// Holds a replacement's audio until the word before the one to resume at
/// is timed, then releases it from that word's end: the pause before the
/// word resumed at is heard whole (nothing, not even silence, is lost).
#[derive(Debug)]
pub(crate) struct Seeker {
    /// Where the word before the one to resume at ends in the text.
    before: usize,
    target: AudioFormat,
    held: Vec<Audio>,
    held_bytes: usize,
}

impl Seeker {
    /// Seeks the end of the word before byte `at` of `text`; `None` when no
    /// word precedes it (the sentence is spoken from its start).
    pub fn new(text: &str, at: usize, target: AudioFormat) -> Option<Self> {
        let before = text.get(..at)?.trim_end().len();
        (before > 0).then(|| Self {
            before,
            target,
            held: Vec::new(),
            held_bytes: 0,
        })
    }

    /// Takes the next audio; `words` are all the words the attempt has
    /// reported so far.
    pub fn push(&mut self, audio: Audio, words: &[WordTime]) -> Release {
        self.held_bytes += audio.data.len();
        self.held.push(audio);
        if let Some(word) = words.iter().find(|w| w.span.end >= self.before) {
            return self.release(bytes_for(self.target, word.end));
        }
        if self.held_bytes > bytes_for(self.target, HOLD_LIMIT) {
            tracing::info!(
                before = self.before,
                "no time for the word to resume after: the sentence is replayed"
            );
            return self.release(0);
        }
        Release::Hold
    }

    /// The stream ended before the word was timed: everything is released
    /// (the sentence repeats from its start).
    pub fn end(&mut self) -> Release {
        tracing::info!(
            before = self.before,
            "the stream ended before the word to resume after was timed: the sentence is replayed"
        );
        self.release(0)
    }

    /// Everything held, its first `skip` bytes dropped.
    fn release(&mut self, skip: usize) -> Release {
        let mut left = skip;
        let mut audio = Vec::with_capacity(self.held.len());
        for mut piece in self.held.drain(..) {
            let dropped = left.min(piece.data.len());
            left -= dropped;
            piece.data = piece.data.slice(dropped..);
            audio.push(piece);
        }
        self.held_bytes = 0;
        Release::Send {
            dropped: skip - left,
            rest: left,
            audio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn word(start: usize, end: usize, from: u64, to: u64) -> WordTime {
        WordTime {
            span: TextSpan { start, end },
            start: ms(from),
            end: ms(to),
        }
    }

    #[test]
    fn the_text_resumes_at_the_first_word_not_heard_whole() {
        let text = "one two  three";
        let words = [word(0, 3, 0, 300), word(4, 7, 400, 700)];
        assert_eq!(resume_point(text, &words, ms(250)), Some(0));
        assert_eq!(resume_point(text, &words, ms(300)), Some(4));
        assert_eq!(resume_point(text, &words, ms(650)), Some(4));
        // Every reported word heard: the next one, past the whitespace.
        assert_eq!(resume_point(text, &words, ms(900)), Some(9));
        assert_eq!(resume_point(text, &[], ms(900)), None);
        let all = [word(0, 3, 0, 300)];
        assert_eq!(resume_point("one ", &all, ms(300)), Some(4));
        assert!(heard_whole("one ", 4));
        assert!(!heard_whole(text, 9));
    }

    fn audio(n: usize) -> Audio {
        Audio {
            data: Bytes::from(vec![1u8; n]),
            span: None,
            times: None,
            words: Vec::new(),
        }
    }

    #[test]
    fn audio_is_held_until_the_word_is_timed_then_dropped_up_to_it() {
        let f = AudioFormat::pcm16_mono(1_000); // 2 bytes a millisecond
        let mut s = Seeker::new("one two three", 8, f).unwrap();
        let early = [word(0, 3, 0, 30)];
        assert!(matches!(s.push(audio(40), &early), Release::Hold));
        let timed = [word(0, 3, 0, 30), word(4, 7, 40, 60)];
        let Release::Send {
            dropped,
            rest,
            audio: released,
        } = s.push(audio(40), &timed)
        else {
            panic!("the word is timed");
        };
        assert_eq!(
            (dropped, rest),
            (80, 40),
            "up to the end of \"two\", beyond what arrived"
        );
        assert!(released.iter().all(|a| a.data.is_empty()));
        let mut s = Seeker::new("one two three", 4, f).unwrap();
        let Release::Send { dropped, rest, .. } = s.push(audio(80), &timed) else {
            panic!("\"one\" is timed");
        };
        assert_eq!((dropped, rest), (60, 0), "up to the end of \"one\"");
        assert!(Seeker::new("one two", 0, f).is_none(), "nothing precedes");
    }

    #[test]
    fn a_word_timed_beyond_the_audio_held_drops_the_rest_later() {
        let f = AudioFormat::pcm16_mono(1_000);
        let mut s = Seeker::new("one two", 4, f).unwrap();
        let timed = [word(0, 3, 0, 100), word(4, 7, 110, 160)];
        let Release::Send {
            dropped,
            rest,
            audio,
        } = s.push(audio(40), &timed)
        else {
            panic!("the word is timed");
        };
        assert_eq!((dropped, rest), (40, 160), "the caller drops the other 160");
        assert!(audio[0].data.is_empty());
    }

    #[test]
    fn without_times_the_sentence_is_replayed_whole() {
        let f = AudioFormat::pcm16_mono(1_000);
        let mut s = Seeker::new("one two", 4, f).unwrap();
        assert!(matches!(s.push(audio(40), &[]), Release::Hold));
        let Release::Send {
            dropped,
            audio: released,
            ..
        } = s.end()
        else {
            panic!("the end releases");
        };
        assert_eq!((dropped, released[0].data.len()), (0, 40));
        let mut s = Seeker::new("one two", 4, f).unwrap();
        let limit = bytes_for(f, HOLD_LIMIT);
        assert!(matches!(
            s.push(audio(limit + 2), &[]),
            Release::Send { dropped: 0, .. }
        ));
    }
}
