//! The utterances of one session: the one being written, and those whose end
//! is still owed to the client, in the order the client sent them.
//!
//! A client utterance reaches the router **sentence by sentence**: each
//! sentence is a router utterance of its own (text, then flush), sent as soon
//! as the segmenter settles its end, so the first sentence is spoken while the
//! client is still writing the rest. An owed utterance therefore waits for
//! two things before its end is sent: the client's `text.done` (or a refusal
//! that closes it early) and the router's end of each of its sentences. Ends
//! go out strictly in the order the utterances were opened, refusals
//! included, so a client matching ends to utterances in order never
//! attributes one to the wrong utterance.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use voxwire_core::segment::IncrementalSegmenter;
use voxwire_core::TextSpan;

use super::words::WordJoiner;
use crate::errors::ClientError;

/// One sentence sent to the router: where it sits in its utterance's text.
#[derive(Debug, Clone, Copy)]
struct Sentence {
    offset: usize,
    len: usize,
}

/// One client utterance whose end is owed.
struct Owed {
    /// The utterance's text handed to the segmenter so far (bounded by
    /// `max_utterance_chars`): where each sentence's spans point.
    text: String,
    /// Bytes of `text` sent to the router: where the next sentence starts.
    sent_upto: usize,
    /// Bytes of `text` counted against the credential's quota: a sentence
    /// sent again on a fresh router session is not counted twice.
    charged_upto: usize,
    /// Sentences sent to the router and not yet ended, in order.
    sentences: VecDeque<Sentence>,
    /// Sentences released and not yet sent (sent in order, a bounded number
    /// at a time: see [`Utterances::next_to_send`]).
    unsent: VecDeque<String>,
    /// No more sentences will come (the client's `text.done`, or a refusal).
    closed: bool,
    /// It ends with this error instead of `audio.done`.
    failure: Option<ClientError>,
    /// It took its turn under the rate limits: its sentences may go out.
    cleared: bool,
    /// When its first sentence went to the router.
    submitted: Instant,
    first_audio_seen: bool,
    audio_s: f64,
    /// The entry last announced to the client for this utterance, and
    /// whether its audio came from the phrase cache.
    announced: Option<(String, bool)>,
}

impl Owed {
    fn new() -> Self {
        Self {
            text: String::new(),
            sent_upto: 0,
            charged_upto: 0,
            sentences: VecDeque::new(),
            unsent: VecDeque::new(),
            closed: false,
            failure: None,
            cleared: false,
            submitted: Instant::now(),
            first_audio_seen: false,
            audio_s: 0.0,
            announced: None,
        }
    }

    fn refused(error: ClientError) -> Self {
        Self {
            closed: true,
            failure: Some(error),
            cleared: true,
            ..Self::new()
        }
    }

    /// Records `sentence`, sent to the router, as the next of this utterance.
    fn sent(&mut self, sentence: &str) {
        if self.sentences.is_empty() && !self.first_audio_seen {
            self.submitted = Instant::now();
        }
        self.sentences.push_back(Sentence {
            offset: self.sent_upto,
            len: sentence.len(),
        });
        self.sent_upto += sentence.len();
        self.charged_upto = self.charged_upto.max(self.sent_upto);
    }
}

/// The utterance the client is writing.
struct Writing {
    segmenter: IncrementalSegmenter,
    /// Characters of it so far.
    chars: usize,
    /// It passed the limits and is the last owed utterance.
    admitted: bool,
    /// It was refused or ended early: its text is ignored up to its `text.done`.
    discarding: bool,
}

impl Writing {
    fn new() -> Self {
        Self {
            segmenter: IncrementalSegmenter::new(),
            chars: 0,
            admitted: false,
            discarding: false,
        }
    }
}

/// What an audio chunk belongs to.
pub(super) struct Spoken {
    /// From the utterance's first sentence's submission to this chunk, when
    /// it is the utterance's first.
    pub first_audio: Option<Duration>,
    /// The text the chunk speaks, when timestamps are wanted and the span is known.
    pub text: Option<String>,
    /// Audio of this utterance before the chunk.
    pub offset_s: f64,
}

/// How an owed utterance ended, in the order the client sent them.
#[derive(Debug, PartialEq)]
pub(super) enum End {
    /// Every sentence was spoken: `audio.done`.
    Done,
    /// It failed or was refused: this error.
    Failed(ClientError),
}

/// What a delta or a `text.done` asks of the engine.
#[derive(Debug, Default)]
pub(super) struct Step {
    /// The utterance has its first sentence (or ended) and is not admitted
    /// yet: the engine checks its limits, then calls [`Utterances::admit`] or
    /// [`Utterances::refuse_writing`].
    pub needs_admission: bool,
    /// The utterance went over the character bound just now.
    pub over_bound: bool,
}

/// The session's utterance bookkeeping.
pub(super) struct Utterances {
    timestamps: bool,
    joiner: WordJoiner,
    writing: Writing,
    /// Sentences of the utterance being written, released before it was admitted.
    unadmitted: VecDeque<String>,
    /// The client's `text.done` came for the utterance being written while it
    /// waits for admission.
    writing_done: bool,
    owed: VecDeque<Owed>,
}

impl Utterances {
    pub fn new(timestamps: bool) -> Self {
        Self {
            timestamps,
            joiner: WordJoiner::new(),
            writing: Writing::new(),
            unadmitted: VecDeque::new(),
            writing_done: false,
            owed: VecDeque::new(),
        }
    }

    /// Adds a delta to the utterance being written (joined as words when the
    /// session sends word tokens). Sentences it completes are sent by
    /// [`Self::next_to_send`] once the utterance is admitted.
    pub fn write(&mut self, delta: &str, max_chars: usize) -> Step {
        if self.writing.discarding {
            return Step::default();
        }
        let text = self.joiner.push(delta);
        self.append(&text, max_chars)
    }

    /// The client's `text.done`: the rest of the utterance is released.
    /// `None` when the utterance had been refused (its end is already owed).
    pub fn complete(&mut self, max_chars: usize) -> Option<Step> {
        if std::mem::take(&mut self.writing.discarding) {
            self.joiner.discard();
            self.writing = Writing::new();
            return None;
        }
        let rest = self.joiner.end();
        let mut step = self.append(&rest, max_chars);
        if step.over_bound {
            return Some(step);
        }
        let last = self.writing.segmenter.flush().unwrap_or_default();
        // An empty utterance still goes to the router (as one empty
        // sentence), so that its end comes in order.
        let nothing_yet = !self.writing.admitted && self.unadmitted.is_empty();
        if !last.trim().is_empty() || nothing_yet {
            self.release(last);
        }
        if self.writing.admitted {
            self.close_writing();
        } else {
            self.writing_done = true;
            step.needs_admission = true;
        }
        Some(step)
    }

    fn append(&mut self, text: &str, max_chars: usize) -> Step {
        let mut step = Step::default();
        if text.is_empty() {
            return step;
        }
        self.writing.chars += text.chars().count();
        if self.writing.chars > max_chars {
            step.over_bound = true;
            return step;
        }
        if self.writing.admitted {
            if let Some(owed) = self.owed.back_mut() {
                owed.text.push_str(text);
            }
        }
        for sentence in self.writing.segmenter.push(text) {
            self.release(sentence);
        }
        step.needs_admission = !self.writing.admitted && !self.unadmitted.is_empty();
        step
    }

    fn release(&mut self, sentence: String) {
        if self.writing.admitted {
            if let Some(owed) = self.owed.back_mut() {
                owed.unsent.push_back(sentence);
            }
        } else {
            self.unadmitted.push_back(sentence);
        }
    }

    /// The utterance being written passed the limits: it is owed from now on,
    /// and its sentences so far are ready to send.
    pub fn admit(&mut self) {
        if self.writing.admitted {
            return;
        }
        self.writing.admitted = true;
        let mut owed = Owed::new();
        // Its text so far: the sentences released and what the segmenter holds.
        for s in &self.unadmitted {
            owed.text.push_str(s);
        }
        owed.text.push_str(self.writing.segmenter.buffered());
        owed.unsent.extend(self.unadmitted.drain(..));
        self.owed.push_back(owed);
        if std::mem::take(&mut self.writing_done) {
            self.close_writing();
        }
    }

    /// The utterance being written is refused (a limit, shutdown, over the
    /// bound): it ends with `error`, in order, after the sentences it
    /// completed before, and the rest of its text is ignored.
    pub fn refuse_writing(&mut self, error: ClientError) {
        self.unadmitted.clear();
        if self.writing.admitted {
            if let Some(owed) = self.owed.back_mut() {
                owed.closed = true;
                owed.failure.get_or_insert(error);
            }
        } else {
            self.owed.push_back(Owed::refused(error));
        }
        self.end_writing_early();
    }

    /// The utterance being written ends before its `text.done`: its text up
    /// to that `text.done` is ignored (unless it already came).
    fn end_writing_early(&mut self) {
        self.joiner.discard();
        let done = std::mem::take(&mut self.writing_done);
        self.writing = Writing::new();
        self.writing.discarding = !done;
    }

    /// The utterance being written was closed by its `text.done`.
    fn close_writing(&mut self) {
        if let Some(owed) = self.owed.back_mut() {
            owed.closed = true;
        }
        self.writing = Writing::new();
        self.writing_done = false;
    }

    /// The next sentence to send to the router, with the owed utterance it
    /// belongs to, unless `limit` is reached. Sentences go in order; those
    /// out at the router are bounded, so that sending one never waits on the
    /// router's input queue (the engine would stop serving its client
    /// meanwhile) and the router never holds more text than it accepts.
    pub fn next_to_send(&self, limit: &SendLimit) -> Option<(usize, String)> {
        let (out, out_bytes) = self.owed.iter().fold((0, 0), |(n, b), o| {
            (
                n + o.sentences.len(),
                b + o.sentences.iter().map(|s| s.len).sum::<usize>(),
            )
        });
        let index = self.owed.iter().position(|o| !o.unsent.is_empty())?;
        if !self.owed[index].cleared {
            return None; // it waits for its turn under the rate limits
        }
        let next = self.owed[index].unsent.front()?;
        let room = out < limit.sentences && (out == 0 || out_bytes + next.len() <= limit.bytes);
        room.then(|| (index, next.clone()))
    }

    /// Whether the sentence [`Self::next_to_send`] gave for the utterance at
    /// `index` is new text (to count against the quota), not one sent again.
    pub fn first_sending(&self, index: usize) -> bool {
        self.owed
            .get(index)
            .is_some_and(|o| o.sent_upto >= o.charged_upto)
    }

    /// The utterance at `index` is refused before its next sentence (a
    /// quota): what it already sent is spoken, the rest is not; it ends with
    /// `error`, and if the client is still writing it the rest of its text is
    /// ignored.
    pub fn refuse_unsent(&mut self, index: usize, error: ClientError) {
        let is_writing = self.writing.admitted && index + 1 == self.owed.len();
        let Some(owed) = self.owed.get_mut(index) else {
            return;
        };
        owed.unsent.clear();
        owed.closed = true;
        owed.failure.get_or_insert(error);
        if is_writing {
            self.end_writing_early();
        }
    }

    /// Whether an owed utterance still waits for its turn under the rate limits.
    pub fn waiting(&self) -> bool {
        self.owed.iter().any(|o| !o.cleared)
    }

    /// The first utterance waiting for its turn takes it.
    pub fn clear_next(&mut self) {
        if let Some(owed) = self.owed.iter_mut().find(|o| !o.cleared) {
            owed.cleared = true;
        }
    }

    /// Records that the sentence [`Self::next_to_send`] gave was sent.
    pub fn sent(&mut self, index: usize) {
        if let Some(owed) = self.owed.get_mut(index) {
            if let Some(sentence) = owed.unsent.pop_front() {
                owed.sent(&sentence);
            }
        }
    }

    /// Owed utterances (the one being written included once admitted).
    pub fn len(&self) -> usize {
        self.owed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    /// The owed utterance the router is speaking: the first with a sentence out.
    fn speaking(&mut self) -> Option<&mut Owed> {
        self.owed.iter_mut().find(|o| !o.sentences.is_empty())
    }

    /// A chunk of the sentence being spoken; `None` when nothing is owed.
    pub fn audio(&mut self, span: Option<TextSpan>, seconds: f64) -> Option<Spoken> {
        let timestamps = self.timestamps;
        let owed = self.speaking()?;
        let sentence = *owed.sentences.front()?;
        let first_audio = (!owed.first_audio_seen).then(|| owed.submitted.elapsed());
        owed.first_audio_seen = true;
        let offset_s = owed.audio_s;
        owed.audio_s += seconds;
        let text = span
            .filter(|_| timestamps)
            .filter(|s| s.end <= sentence.len)
            .and_then(|s| {
                owed.text
                    .get(sentence.offset + s.start..sentence.offset + s.end)
            })
            .map(str::to_string);
        Some(Spoken {
            first_audio,
            text,
            offset_s,
        })
    }

    /// Whether `entry`, which the router says serves the next audio (from
    /// the phrase cache when `cached`), is news for the utterance being
    /// spoken (its first, or a change of entry or of source).
    pub fn announce(&mut self, entry: &str, cached: bool) -> bool {
        let Some(owed) = self.speaking() else {
            return true;
        };
        if owed
            .announced
            .as_ref()
            .is_some_and(|(e, c)| e == entry && *c == cached)
        {
            return false;
        }
        owed.announced = Some((entry.to_string(), cached));
        true
    }

    /// Characters of the sentence being spoken (0 when none is).
    pub fn speaking_chars(&mut self) -> usize {
        let Some(owed) = self.speaking() else {
            return 0;
        };
        let Some(sentence) = owed.sentences.front() else {
            return 0;
        };
        owed.text
            .get(sentence.offset..sentence.offset + sentence.len)
            .map_or(0, |s| s.chars().count())
    }

    /// The router ended the sentence being spoken.
    pub fn sentence_done(&mut self) {
        if let Some(owed) = self.speaking() {
            owed.sentences.pop_front();
        }
    }

    /// The router failed the sentence being spoken: its utterance ends with
    /// `error` (the rest of it is not spoken; if the client is still writing
    /// it, the rest of its text is ignored). The error's replay position is
    /// kept only when the failed sentence was its utterance's first: only
    /// then is it a position in what the client sent.
    pub fn fail_speaking(&mut self, mut error: ClientError) {
        let index = self
            .owed
            .iter()
            .position(|o| !o.sentences.is_empty())
            // Nothing out: the failure is the session's; the first owed
            // utterance not already failed takes it.
            .or_else(|| self.owed.iter().position(|o| o.failure.is_none()));
        let Some(index) = index else {
            return;
        };
        let is_writing = self.writing.admitted && index + 1 == self.owed.len();
        let owed = &mut self.owed[index];
        if owed.sentences.front().is_none_or(|s| s.offset != 0) {
            error.replayed = None;
        }
        owed.sentences.clear();
        owed.unsent.clear();
        owed.closed = true;
        owed.failure.get_or_insert(error);
        if is_writing {
            self.end_writing_early();
        }
    }

    /// The next end owed to the client, once the first owed utterance has ended.
    pub fn next_end(&mut self) -> Option<End> {
        let front = self.owed.front()?;
        if !front.closed || !front.sentences.is_empty() || !front.unsent.is_empty() {
            return None;
        }
        let owed = self.owed.pop_front()?;
        // The next one's latency counts from when it could start.
        if let Some(next) = self.owed.front_mut() {
            if !next.first_audio_seen {
                next.submitted = next.submitted.max(Instant::now());
            }
        }
        Some(match owed.failure {
            Some(error) => End::Failed(error),
            None => End::Done,
        })
    }

    /// Forgets every owed utterance and the one being written; how many were owed.
    pub fn drain(&mut self) -> usize {
        self.joiner.discard();
        self.writing = Writing::new();
        self.unadmitted.clear();
        self.writing_done = false;
        let n = self.owed.len();
        self.owed.clear();
        n
    }

    /// The router session was replaced: every sentence out at the old one
    /// goes back in front of its utterance's unsent ones, to be sent again.
    pub fn resubmit(&mut self) {
        for owed in &mut self.owed {
            let Some(front) = owed.sentences.front() else {
                continue;
            };
            owed.sent_upto = front.offset;
            owed.first_audio_seen = false;
            let again: Vec<String> = owed
                .sentences
                .drain(..)
                .map(|s| {
                    owed.text
                        .get(s.offset..s.offset + s.len)
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            for sentence in again.into_iter().rev() {
                owed.unsent.push_front(sentence);
            }
        }
    }
}

/// How much the engine sends to the router ahead of the audio.
#[derive(Debug, Clone, Copy)]
pub(super) struct SendLimit {
    /// Sentences out at once.
    pub sentences: usize,
    /// Their bytes, unless only one is out.
    pub bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::ErrorKind;

    fn refusal() -> ClientError {
        ClientError::relay(ErrorKind::RateLimited, "no", "wait")
    }

    const LIMIT: SendLimit = SendLimit {
        sentences: 4,
        bytes: 1000,
    };

    /// Sends every sentence there is room for (no rate limit: each
    /// utterance takes its turn at once).
    fn pump(u: &mut Utterances) -> Vec<String> {
        while u.waiting() {
            u.clear_next();
        }
        let mut sent = Vec::new();
        while let Some((index, s)) = u.next_to_send(&LIMIT) {
            u.sent(index);
            sent.push(s);
        }
        sent
    }

    /// Writes `deltas` (admitting the utterance) and sends what is ready.
    fn write_all(u: &mut Utterances, deltas: &[&str]) -> Vec<String> {
        let mut sent = Vec::new();
        for d in deltas {
            let step = u.write(d, 1000);
            if step.needs_admission {
                u.admit();
            }
            sent.extend(pump(u));
        }
        sent
    }

    #[test]
    fn sentences_go_out_as_they_settle_and_the_end_waits_for_each() {
        let mut u = Utterances::new(true);
        let sent = write_all(&mut u, &["Thanks", "for", "calling.", "Your", "order"]);
        assert_eq!(sent, ["Thanks for calling. "]);
        assert_eq!(u.len(), 1);
        let a = u.audio(Some(TextSpan { start: 0, end: 6 }), 0.5).unwrap();
        assert!(a.first_audio.is_some());
        assert_eq!(a.text.as_deref(), Some("Thanks"));
        u.sentence_done();
        assert_eq!(u.next_end(), None, "the client is still writing");
        let step = u.complete(1000).unwrap();
        assert!(!step.needs_admission);
        assert_eq!(pump(&mut u), ["Your order"]);
        let b = u.audio(Some(TextSpan { start: 0, end: 4 }), 0.5).unwrap();
        assert_eq!(b.text.as_deref(), Some("Your"), "spans are the sentence's");
        assert_eq!(b.offset_s, 0.5);
        assert_eq!(u.next_end(), None);
        u.sentence_done();
        assert_eq!(u.next_end(), Some(End::Done));
        assert!(u.is_empty());
    }

    #[test]
    fn an_utterance_over_the_bound_ends_once_after_what_was_spoken() {
        let mut u = Utterances::new(false);
        // Refused before anything was sent: the error is owed at once.
        assert!(!u.write("hello ", 10).over_bound);
        assert!(u.write("world, too long", 10).over_bound);
        u.refuse_writing(refusal());
        assert!(!u.write("more", 10).needs_admission);
        assert!(u.complete(10).is_none(), "its text.done is swallowed");
        assert!(matches!(u.next_end(), Some(End::Failed(_))));
        // Refused after a sentence went out: the error comes after its end.
        // (The session's first delta held a space: its deltas are self-spaced.)
        let sent = write_all(&mut u, &["One. ", "Two"]);
        assert_eq!(sent, ["One. "]);
        assert!(u.write(&"x ".repeat(1000), 1000).over_bound);
        u.refuse_writing(refusal());
        assert_eq!(u.next_end(), None, "One. is still being spoken");
        u.sentence_done();
        assert!(matches!(u.next_end(), Some(End::Failed(_))));
        assert!(u.complete(1000).is_none());
        assert!(u.is_empty());
    }

    #[test]
    fn ends_come_in_the_order_utterances_were_sent() {
        let mut u = Utterances::new(false);
        u.write("First.", 100);
        assert!(u.complete(100).unwrap().needs_admission);
        u.admit();
        assert_eq!(pump(&mut u), ["First."]);
        u.write("Second.", 100);
        assert!(u.complete(100).unwrap().needs_admission);
        u.refuse_writing(refusal());
        assert_eq!(u.next_end(), None, "the refusal waits for First.");
        u.sentence_done();
        assert_eq!(u.next_end(), Some(End::Done));
        assert!(matches!(u.next_end(), Some(End::Failed(_))));
    }

    #[test]
    fn an_empty_utterance_still_gets_its_end() {
        let mut u = Utterances::new(false);
        assert!(u.complete(10).unwrap().needs_admission);
        u.admit();
        assert_eq!(pump(&mut u), [""]);
        u.sentence_done();
        assert_eq!(u.next_end(), Some(End::Done));
    }

    #[test]
    fn a_failure_ends_its_utterance_and_the_next_is_resent_whole() {
        let mut u = Utterances::new(false);
        write_all(&mut u, &["A", "first", "one.", "Then", "more."]);
        assert_eq!(u.complete(100).map(|s| s.needs_admission), Some(false));
        pump(&mut u);
        u.write("Next.", 100);
        u.complete(100);
        u.admit();
        pump(&mut u);
        u.sentence_done(); // "A first one. "
        let mut error = refusal();
        error.replayed = Some(Duration::from_millis(300));
        u.fail_speaking(error);
        let Some(End::Failed(error)) = u.next_end() else {
            panic!("the failed utterance ends first");
        };
        assert_eq!(error.replayed, None, "its second sentence failed");
        u.resubmit();
        assert_eq!(pump(&mut u), ["Next."]);
        u.sentence_done();
        assert_eq!(u.next_end(), Some(End::Done));
    }

    /// Sends every sentence there is room for, noting which are new text
    /// (counted against a quota) and which are sent again.
    fn pump_counting(u: &mut Utterances) -> Vec<(String, bool)> {
        while u.waiting() {
            u.clear_next();
        }
        let mut sent = Vec::new();
        while let Some((index, s)) = u.next_to_send(&LIMIT) {
            sent.push((s, u.first_sending(index)));
            u.sent(index);
        }
        sent
    }

    #[test]
    fn a_sentence_sent_again_on_a_fresh_session_is_not_new_text() {
        let mut u = Utterances::new(false);
        let sent = write_all(
            &mut u,
            &[
                "Thanks", "for", "calling.", "Your", "order", "is", "ready.", "It",
            ],
        );
        assert_eq!(sent, ["Thanks for calling. ", "Your order is ready. "]);
        u.sentence_done(); // "Thanks for calling. "
        u.resubmit(); // the router session was replaced: the second again
        u.complete(100);
        assert_eq!(
            pump_counting(&mut u),
            [
                ("Your order is ready. ".to_string(), false),
                ("It".to_string(), true)
            ]
        );
    }

    #[test]
    fn a_quota_refusal_keeps_what_was_sent_and_drops_the_rest() {
        let mut u = Utterances::new(false);
        write_all(&mut u, &["Spoken. ", "Refused. "]);
        u.write("And ignored.", 100);
        // "Spoken. " and "Refused. " went out; the next sentence is over quota.
        assert_eq!(u.speaking_chars(), 8);
        u.refuse_unsent(0, refusal());
        assert_eq!(u.next_end(), None, "its sentences out are still spoken");
        u.sentence_done();
        u.sentence_done();
        assert!(matches!(u.next_end(), Some(End::Failed(_))));
        assert!(u.complete(100).is_none(), "the rest of its text is ignored");
        assert!(u.is_empty());
    }

    #[test]
    fn a_failure_while_the_client_writes_ignores_the_rest_of_its_text() {
        let mut u = Utterances::new(false);
        write_all(&mut u, &["One.", "Two", "words."]);
        let mut error = refusal();
        error.replayed = Some(Duration::from_millis(300));
        u.fail_speaking(error);
        let Some(End::Failed(error)) = u.next_end() else {
            panic!("the failed utterance ends");
        };
        assert_eq!(error.replayed, Some(Duration::from_millis(300)));
        assert!(write_all(&mut u, &["Three.", "Four."]).is_empty());
        assert!(u.complete(100).is_none());
        // The next utterance starts clean.
        write_all(&mut u, &["Fresh", "start.", "Yes"]);
        assert_eq!(u.len(), 1);
    }
}

#[cfg(test)]
mod sending {
    use super::*;

    #[test]
    fn sentences_out_at_the_router_are_bounded_and_go_in_order() {
        let mut u = Utterances::new(false);
        let limit = SendLimit {
            sentences: 2,
            bytes: 12,
        };
        u.write("One. Two. Three. Four. ", 100);
        u.complete(100);
        u.admit();
        assert!(u.next_to_send(&limit).is_none(), "it waits for its turn");
        u.clear_next();
        let mut sent = Vec::new();
        while let Some((i, s)) = u.next_to_send(&limit) {
            u.sent(i);
            sent.push(s);
        }
        assert_eq!(sent, ["One. ", "Two. "]);
        u.sentence_done();
        let (i, s) = u.next_to_send(&limit).unwrap();
        assert_eq!(s, "Three. ");
        u.sent(i);
        assert!(u.next_to_send(&limit).is_none(), "12 bytes out at most");
        u.sentence_done();
        u.sentence_done();
        assert_eq!(
            u.next_to_send(&limit).map(|(_, s)| s).as_deref(),
            Some("Four. ")
        );
        // An utterance ends only once its last sentence was sent and spoken.
        u.write("Five. ", 100);
        u.complete(100);
        u.admit();
        u.clear_next();
        let (i, four) = u.next_to_send(&limit).unwrap();
        assert_eq!(four, "Four. ");
        u.sent(i);
        u.sentence_done();
        assert_eq!(u.next_end(), Some(End::Done));
        assert_eq!(u.next_end(), None, "Five. is not sent yet");
        let (i, five) = u.next_to_send(&limit).unwrap();
        assert_eq!(five, "Five. ");
        u.sent(i);
        u.sentence_done();
        assert_eq!(u.next_end(), Some(End::Done));
        // A sentence longer than the byte bound still goes when nothing is out.
        let big = SendLimit {
            sentences: 2,
            bytes: 1,
        };
        u.write("Sixth sentence. ", 100);
        u.complete(100);
        u.admit();
        u.clear_next();
        assert!(u.next_to_send(&big).is_some());
    }
}
