//! Joining a client's text deltas into the text to speak.
//!
//! Clients stream an utterance as `text.delta`s of two shapes:
//! - **word tokens** (LiveKit's xAI plugin): each delta is one whole word with
//!   its punctuation (`Thanks`, `for`, `calling.`) and never carries
//!   whitespace, so the words must be joined with spaces;
//! - **self-spaced text** (LLM token streams, Pipecat, any client sending
//!   sentences): deltas carry their own whitespace (` world`), may split a
//!   word (`Hel`, `lo`) or send punctuation alone (`,`), and must be joined
//!   exactly as they are.
//!
//! The joiner tells them apart from the deltas as they come, utterance by
//! utterance:
//! - a delta that starts or ends with whitespace means **self-spaced**: the
//!   utterance's deltas are joined byte for byte (whitespace inside a delta,
//!   as in a whole sentence sent at once, proves nothing either way);
//! - **word tokens** are recognised by a delta ending in punctuation followed
//!   by one starting with a letter or digit (`calling.` then `Your`: no LLM
//!   stream writes `calling.Your`), or by [`WORDS_AFTER`] deltas starting
//!   with a letter or digit, none with whitespace at its edges;
//! - until then (the **ambiguous start**) deltas are held, not spoken; at the
//!   utterance's end, two or more held deltas are taken as words and one is
//!   kept as it is; [`MAX_HELD`] deltas without a decision are taken as words
//!   too, so the hold stays small. Once an utterance of the session has been read as word
//!   tokens, the next ones start as word tokens (no delta held: a LiveKit
//!   session pays the wait once); a delta with whitespace at an edge still
//!   turns an utterance self-spaced.
//!
//! The price of deciding early: an LLM stream whose first three tokens split
//! one word (`Un`, `believ`, `able`) before any token with a leading space
//! is spoken as separate words, and a whole utterance of one word split in
//! two (`Hel`, `lo`, then `text.done`) as two words.
//!
//! Words are joined with one space, except before closing punctuation
//! (`,` `.` `;` `:` `!` `?` `)` `]` `}` `%` `…` and the like), after opening
//! brackets (`(` `[` `{` `¿` `¡`), and between two characters of a script
//! written without spaces (Han, Hiragana, Katakana).

/// Word-like deltas in a row, with no whitespace in any, that mark a
/// session's deltas as word tokens.
pub(crate) const WORDS_AFTER: usize = 3;

/// The most deltas held at the ambiguous start: past it (deltas that start
/// with neither a letter nor a digit and carry no whitespace, such as lone
/// punctuation or symbols) they are taken as word tokens, so the hold (whose
/// text the utterance bound does not count yet) stays small.
pub(crate) const MAX_HELD: usize = 8;

/// How a session's deltas are spaced, as learnt from the deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spacing {
    /// Nothing decides it yet: deltas are held.
    Unknown,
    /// Whole words without whitespace: joined with spaces.
    Words,
    /// The deltas carry their own whitespace: joined as they are.
    SelfSpaced,
}

/// Joins one session's deltas; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct WordJoiner {
    /// How the utterance being written is spaced.
    spacing: Spacing,
    /// What the session's last decided utterance was.
    learnt: Spacing,
    /// Deltas of the utterance being written held while `spacing` is unknown
    /// (at most [`MAX_HELD`], each bounded by the relay's message size).
    held: Vec<String>,
    /// The last character handed on in this utterance.
    last: Option<char>,
}

impl WordJoiner {
    /// A joiner for a new session.
    pub fn new() -> Self {
        Self {
            spacing: Spacing::Unknown,
            learnt: Spacing::Unknown,
            held: Vec::new(),
            last: None,
        }
    }

    /// How the utterance being written is read so far.
    #[cfg(test)]
    pub fn spacing(&self) -> Spacing {
        self.spacing
    }

    /// Takes one delta; returns the text to append to the utterance (empty
    /// while deltas are held).
    pub fn push(&mut self, delta: &str) -> String {
        if delta.is_empty() {
            return String::new();
        }
        if edge_whitespace(delta) {
            self.decide(Spacing::SelfSpaced);
        }
        match self.spacing {
            Spacing::SelfSpaced => {
                let mut out = std::mem::take(&mut self.held).concat();
                out.push_str(delta);
                self.emit(out)
            }
            Spacing::Words => self.join_words(&[delta]),
            Spacing::Unknown => {
                let after_clause_end = self
                    .held
                    .last()
                    .and_then(|d| d.chars().last())
                    .is_some_and(ends_clause)
                    && delta.chars().next().is_some_and(char::is_alphanumeric);
                self.held.push(delta.to_string());
                let word_like = self
                    .held
                    .iter()
                    .filter(|d| d.chars().next().is_some_and(char::is_alphanumeric))
                    .count();
                if after_clause_end || word_like >= WORDS_AFTER || self.held.len() >= MAX_HELD {
                    self.decide(Spacing::Words);
                    let held = std::mem::take(&mut self.held);
                    let refs: Vec<&str> = held.iter().map(String::as_str).collect();
                    self.join_words(&refs)
                } else {
                    String::new()
                }
            }
        }
    }

    /// The utterance ends: returns what is still held (joined as words when
    /// two or more deltas are), and starts the next utterance afresh.
    pub fn end(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        let out = if held.len() >= 2 {
            let refs: Vec<&str> = held.iter().map(String::as_str).collect();
            self.join_words(&refs)
        } else {
            held.concat()
        };
        self.next_utterance();
        out
    }

    /// Drops the utterance being written (refused or cleared); what the
    /// session has learnt stays.
    pub fn discard(&mut self) {
        self.held.clear();
        self.next_utterance();
    }

    fn next_utterance(&mut self) {
        self.last = None;
        self.spacing = match self.learnt {
            Spacing::Words => Spacing::Words,
            _ => Spacing::Unknown,
        };
    }

    fn decide(&mut self, spacing: Spacing) {
        self.spacing = spacing;
        self.learnt = spacing;
    }

    fn join_words(&mut self, deltas: &[&str]) -> String {
        let mut out = String::new();
        for delta in deltas {
            let Some(first) = delta.chars().next() else {
                continue;
            };
            let previous = out.chars().last().or(self.last);
            if previous.is_some_and(|p| needs_space(p, first)) {
                out.push(' ');
            }
            out.push_str(delta);
        }
        self.emit(out)
    }

    fn emit(&mut self, out: String) -> String {
        if let Some(c) = out.chars().last() {
            self.last = Some(c);
        }
        out
    }
}

/// Whether `delta` starts or ends with whitespace (LLM tokens carry their
/// spaces; a word token never does).
fn edge_whitespace(delta: &str) -> bool {
    delta.starts_with(char::is_whitespace) || delta.ends_with(char::is_whitespace)
}

/// Whether two word tokens, the one ending in `before` and the next starting
/// with `after`, are separated by a space.
fn needs_space(before: char, after: char) -> bool {
    if before.is_whitespace() || after.is_whitespace() {
        return false;
    }
    if closes(after) || opens(before) {
        return false;
    }
    !(unspaced_script(before) && unspaced_script(after))
}

/// Punctuation that ends a sentence or clause: a word token after it starts
/// a new word.
fn ends_clause(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ',' | ';' | ':' | '…' | '。' | '！' | '？'
    )
}

/// Characters written right after the word before them.
fn closes(c: char) -> bool {
    matches!(
        c,
        ',' | '.'
            | ';'
            | ':'
            | '!'
            | '?'
            | ')'
            | ']'
            | '}'
            | '%'
            | '…'
            | '。'
            | '、'
            | '，'
            | '！'
            | '？'
            | '」'
            | '』'
    )
}

/// Characters written right before the word after them.
fn opens(c: char) -> bool {
    matches!(c, '(' | '[' | '{' | '¿' | '¡' | '「' | '『')
}

/// Scripts written without spaces between words (Han, Hiragana, Katakana).
fn unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // Hiragana, Katakana
        | 0x3400..=0x4DBF   // CJK Extension A
        | 0x4E00..=0x9FFF   // CJK Unified Ideographs
        | 0xF900..=0xFAFF   // CJK Compatibility Ideographs
        | 0x3000..=0x303F) // CJK punctuation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(deltas: &[&str]) -> (String, Spacing) {
        let mut j = WordJoiner::new();
        let mut out = String::new();
        for d in deltas {
            out.push_str(&j.push(d));
        }
        let spacing = j.spacing();
        out.push_str(&j.end());
        (out, spacing)
    }

    #[test]
    fn livekit_word_tokens_are_joined_as_words() {
        let (text, spacing) = join(&[
            "Thanks", "for", "calling.", "Your", "order", "ships", "today!",
        ]);
        assert_eq!(text, "Thanks for calling. Your order ships today!");
        assert_eq!(spacing, Spacing::Words);
    }

    #[test]
    fn llm_tokens_gain_no_spaces() {
        let (text, spacing) = join(&["Hel", "lo", " world", ",", " how", " are", " you", "?"]);
        assert_eq!(text, "Hello world, how are you?");
        assert_eq!(spacing, Spacing::SelfSpaced);
        let (text, _) = join(&["Hel", "lo", ",", " world", "."]);
        assert_eq!(text, "Hello, world.");
    }

    #[test]
    fn whole_sentences_pass_through() {
        assert_eq!(
            join(&["Hello there. ", "How are you?"]).0,
            "Hello there. How are you?"
        );
        assert_eq!(join(&["Hello."]).0, "Hello.");
    }

    #[test]
    fn words_are_decided_early_so_sentences_can_be_spoken_as_they_arrive() {
        let mut j = WordJoiner::new();
        assert_eq!(j.push("Hi."), "");
        // Punctuation then a word: word tokens, decided at the second delta.
        assert_eq!(j.push("Thanks"), "Hi. Thanks");
        assert_eq!(j.push("for"), " for");
        let mut j = WordJoiner::new();
        assert_eq!(j.push("Thanks"), "");
        assert_eq!(j.push("for"), "");
        assert_eq!(j.push("calling."), "Thanks for calling.");
        assert_eq!(j.push("Bye."), " Bye.");
    }

    #[test]
    fn a_whole_sentence_first_says_nothing_about_the_word_tokens_after_it() {
        let mut j = WordJoiner::new();
        assert_eq!(j.push("Warming up."), "");
        assert_eq!(j.end(), "Warming up.");
        let mut text = String::new();
        for d in ["Thanks", "for", "calling.", "Bye."] {
            text.push_str(&j.push(d));
        }
        assert_eq!(text, "Thanks for calling. Bye.");
    }

    #[test]
    fn an_llm_session_holds_each_utterance_until_its_first_spaced_token() {
        let mut j = WordJoiner::new();
        j.push("Hi");
        j.push(" there.");
        assert_eq!(j.end(), "");
        assert_eq!(j.push("Hel"), "", "held: one token proves nothing");
        assert_eq!(j.push("lo"), "");
        assert_eq!(j.push(" again"), "Hello again");
    }

    #[test]
    fn the_spacing_learnt_carries_to_the_next_utterance() {
        let mut j = WordJoiner::new();
        for d in ["One", "two", "three."] {
            j.push(d);
        }
        assert_eq!(j.end(), "");
        assert_eq!(j.push("Next"), "Next", "no space at an utterance's start");
        assert_eq!(j.push("one."), " one.");
    }

    #[test]
    fn an_ambiguous_end_takes_two_deltas_as_words_and_one_as_it_is() {
        assert_eq!(join(&["Hi", "there."]).0, "Hi there.");
        assert_eq!(join(&["Okay."]).0, "Okay.");
    }

    #[test]
    fn punctuation_brackets_and_unspaced_scripts() {
        let (text, _) = join(&["Well", ",", "(see", "above)", "it", "costs", "5", "%", "…"]);
        assert_eq!(text, "Well, (see above) it costs 5%…");
        let (text, _) = join(&["¿", "Qué", "tal", "?"]);
        assert_eq!(text, "¿Qué tal?");
        let (text, _) = join(&["你好", "世界", "。", "こんにちは", "Tokyo", "tower"]);
        assert_eq!(text, "你好世界。こんにちは Tokyo tower");
    }

    #[test]
    fn the_ambiguous_start_holds_a_bounded_number_of_deltas() {
        let mut j = WordJoiner::new();
        for _ in 0..MAX_HELD - 1 {
            assert_eq!(j.push("!"), "");
        }
        assert_eq!(j.push("!"), "!".repeat(MAX_HELD), "released at the bound");
        assert_eq!(j.spacing(), Spacing::Words);
    }

    #[test]
    fn a_discarded_utterance_leaves_nothing_behind() {
        let mut j = WordJoiner::new();
        j.push("Dropped");
        j.discard();
        assert_eq!(j.push("Kept"), "");
        assert_eq!(j.end(), "Kept");
    }
}
