//! The utterances of one session: the one being written, and those sent to
//! the router whose end is still owed (front = speaking).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use voxwire_core::TextSpan;

/// One utterance sent to the router.
struct Owed {
    text: String,
    submitted: Instant,
    first_audio_seen: bool,
    audio_s: f64,
}

/// What an audio chunk belongs to.
pub(super) struct Spoken {
    /// From submission to this chunk, when it is the utterance's first.
    pub first_audio: Option<Duration>,
    /// The text the chunk speaks, when timestamps are wanted and the span is known.
    pub text: Option<String>,
    /// Audio of this utterance before the chunk.
    pub offset_s: f64,
}

/// The session's utterance bookkeeping.
pub(super) struct Utterances {
    timestamps: bool,
    writing: String,
    writing_chars: usize,
    /// The utterance being written was refused; its text is ignored up to its `Done`.
    discarding: bool,
    owed: VecDeque<Owed>,
}

impl Utterances {
    pub fn new(timestamps: bool) -> Self {
        Self {
            timestamps,
            writing: String::new(),
            writing_chars: 0,
            discarding: false,
            owed: VecDeque::new(),
        }
    }

    /// Adds text to the utterance being written. `Err(true)`: it just went over
    /// `max_chars` and is dropped (say so once); `Err(false)`: already dropped.
    pub fn write(&mut self, delta: &str, max_chars: usize) -> Result<(), bool> {
        if self.discarding {
            return Err(false);
        }
        self.writing_chars += delta.chars().count();
        if self.writing_chars > max_chars {
            self.writing.clear();
            self.writing_chars = 0;
            self.discarding = true;
            return Err(true);
        }
        self.writing.push_str(delta);
        Ok(())
    }

    /// Closes the utterance being written: its text, or `None` when it was refused.
    pub fn complete(&mut self) -> Option<String> {
        self.writing_chars = 0;
        if std::mem::take(&mut self.discarding) {
            self.writing.clear();
            return None;
        }
        Some(std::mem::take(&mut self.writing))
    }

    /// Records an utterance sent to the router.
    pub fn push(&mut self, text: String) {
        self.owed.push_back(Owed {
            text,
            submitted: Instant::now(),
            first_audio_seen: false,
            audio_s: 0.0,
        });
    }

    pub fn len(&self) -> usize {
        self.owed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    /// A chunk of the front utterance; `None` when nothing is owed.
    pub fn audio(&mut self, span: Option<TextSpan>, seconds: f64) -> Option<Spoken> {
        let timestamps = self.timestamps;
        let front = self.owed.front_mut()?;
        let first_audio = (!front.first_audio_seen).then(|| front.submitted.elapsed());
        front.first_audio_seen = true;
        let offset_s = front.audio_s;
        front.audio_s += seconds;
        let text = span
            .filter(|_| timestamps)
            .and_then(|s| front.text.get(s.start..s.end))
            .map(str::to_string);
        Some(Spoken {
            first_audio,
            text,
            offset_s,
        })
    }

    /// The front utterance finished; `false` when nothing was owed.
    pub fn done(&mut self) -> bool {
        let done = self.owed.pop_front().is_some();
        // The next one's latency counts from when it could start.
        if let Some(next) = self.owed.front_mut() {
            if !next.first_audio_seen {
                next.submitted = next.submitted.max(Instant::now());
            }
        }
        done
    }

    /// The front utterance failed; `false` when nothing was owed.
    pub fn fail_front(&mut self) -> bool {
        self.owed.pop_front().is_some()
    }

    /// Forgets every owed utterance (and the one being written); how many were owed.
    pub fn drain(&mut self) -> usize {
        self.writing.clear();
        self.writing_chars = 0;
        self.discarding = false;
        let n = self.owed.len();
        self.owed.clear();
        n
    }

    /// The texts still owed, to send again on a fresh router session.
    pub fn resubmit(&mut self) -> Vec<String> {
        let now = Instant::now();
        self.owed
            .iter_mut()
            .map(|u| {
                u.submitted = now;
                u.first_audio_seen = false;
                u.audio_s = 0.0;
                u.text.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_utterance_over_the_bound_is_refused_once_and_its_done_swallowed() {
        let mut u = Utterances::new(false);
        assert_eq!(u.write("hello ", 10), Ok(()));
        assert_eq!(u.write("world, too long", 10), Err(true));
        assert_eq!(u.write("more", 10), Err(false));
        assert_eq!(u.complete(), None);
        assert_eq!(u.write("next", 10), Ok(()));
        assert_eq!(u.complete().as_deref(), Some("next"));
    }

    #[test]
    fn audio_is_attributed_to_the_front_utterance() {
        let mut u = Utterances::new(true);
        u.push("Hello there.".into());
        u.push("Second.".into());
        let a = u.audio(Some(TextSpan { start: 0, end: 5 }), 0.5).unwrap();
        assert!(a.first_audio.is_some());
        assert_eq!(a.text.as_deref(), Some("Hello"));
        let b = u.audio(None, 0.5).unwrap();
        assert!(b.first_audio.is_none());
        assert_eq!(b.offset_s, 0.5);
        assert!(u.done());
        assert_eq!(u.len(), 1);
        assert!(u.fail_front());
        assert!(!u.done());
        assert!(u.audio(None, 0.1).is_none());
    }
}
