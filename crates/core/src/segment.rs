//! Sentence segmentation: where the router cuts text into pieces, and where a provider without streaming input cuts what it buffers.
//!
//! The router speaks one sentence at a time, so that when a provider dies
//! mid-utterance the next one resumes at the first sentence not finished.
//! [`sentences`] cuts a whole text, [`split_to_limit`] cuts pieces that are
//! still too long for a provider, and [`IncrementalSegmenter`] cuts text that
//! arrives in deltas (LLM tokens) exactly as [`sentences`] cuts the whole.
//!
//! Every function here returns byte ranges (or strings) that cover the text
//! contiguously and completely: concatenated, they give back the input byte
//! for byte. Whitespace after a sentence stays with that sentence.
//!
//! # Sentences
//!
//! Boundaries are UAX #29 sentence boundaries, computed on the text with its
//! speech tags taken out (so `[pause]` or `<whisper>` never changes where a
//! sentence ends), then adjusted:
//!
//! - **Abbreviations** (case-insensitive). A boundary after one of these is
//!   dropped: `Mr. Mrs. Ms. Mx. Dr. Prof. Sr. St. Mt. vs. cf. e.g. i.e. approx.
//!   U.S. U.K. Gen. Col. Lt. Capt. Sgt. Rev. Hon.` Also after initials: one
//!   uppercase letter and a dot, or several of them (`J. R. R. Tolkien`,
//!   `J.R.R. Tolkien`, `U.S.`); the price is that `Plan B. Next` stays one
//!   sentence (a missed boundary only makes a piece longer).
//! - **Abbreviations that come before a number** (`No. Nos. Fig. Figs. Vol. Ch.
//!   pp.` and the months `Jan.` … `Dec.`, `Sept.`): the boundary is dropped
//!   only when the next sentence starts with a digit (`No. 5`, `Jan. 3`), so
//!   `Is it? No. It is not.` is still three sentences.
//! - **Abbreviations that usually end what they abbreviate** (`etc. Inc. Ltd.
//!   Co. Corp. Jr. a.m. p.m.`) are ambiguous: `pears, etc. Then we left.` We
//!   treat them as ending the sentence when the next one starts with a letter
//!   (UAX #29 never splits before a lowercase letter, so in practice: a
//!   capital or an uncased letter), and keep them inside it otherwise
//!   (`Acme Inc. 2024 Report`).
//! - No abbreviation is merged across a line break (`Dr.\nSmith` is two).
//! - **Decimals and ellipses** (`3.50`, `Wait... what?`, `Well… fine.`) are
//!   left to UAX #29, which does not split them. An ellipsis followed by a
//!   capital (`Wait... What?`) does end a sentence.
//! - **Quotes**: `"Hi." she said.` is one sentence (a lowercase word after the
//!   closing quote continues it); `"Hi." She said.` is two.
//! - **Blank segments**: a segment with nothing but whitespace and tags is
//!   merged into the one before it (at the start of the text: the one after),
//!   so no range is blank unless the whole text is. An empty text has no
//!   ranges.
//!
//! # Tags
//!
//! Two kinds, after the xAI text format:
//!
//! - **Bracket tags** `[pause]`, `[long-pause]`: a `[`, at most 64 characters
//!   none of which is `[`, `]`, `<`, `>` or a line break, and a `]`.
//! - **Angle tags**: an opening `<name>` or `<name attr="...">`, a closing
//!   `</name>`, a self-closing `<name/>` (names: an ASCII letter, then ASCII
//!   letters, digits, `-`, `_`, `:`; at most 64 characters in all; no line
//!   break). `3 < 5` or `<3` are not tags.
//!
//! No cut ever falls inside a tag, nor between an opening tag and the closing
//! tag that matches it (names compared case-insensitively, nesting allowed). A
//! closing tag closes the nearest open tag of its name and any opened inside
//! it; a closing tag with no open tag of its name is just a tag; an opening
//! tag never closed protects nothing beyond itself.
//!
//! Where a boundary falls among tags and whitespace: closing tags, and tags
//! written right after the sentence's last character (`Hello.[pause] Next.`),
//! stay with the sentence before; an opening tag, or a bracket tag after a
//! space (`Hello. [laugh] Next.`), starts the next one.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// The most characters [`IncrementalSegmenter`] holds back while it waits for
/// a sentence to end; beyond this it releases text anyway (see
/// [`IncrementalSegmenter::push`]).
pub const MAX_BUFFERED_CHARS: usize = 10_000;

/// The most characters between a tag's `[` or `<` and its `]` or `>`.
const MAX_TAG_CHARS: usize = 64;

/// Abbreviations after which a boundary is always dropped (lowercase, without
/// the final dot).
const ALWAYS_CONTINUES: &[&str] = &[
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "st", "mt", "vs", "cf", "e.g", "i.e", "approx",
    "u.s", "u.k", "gen", "col", "lt", "capt", "sgt", "rev", "hon",
];

/// Abbreviations after which a boundary is dropped when a digit follows.
const BEFORE_NUMBER: &[&str] = &[
    "no", "nos", "fig", "figs", "vol", "ch", "pp", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec",
];

/// Abbreviations that often end a sentence: a boundary after them is kept when
/// a letter follows.
const SENTENCE_FINAL: &[&str] = &["etc", "inc", "ltd", "co", "corp", "jr", "a.m", "p.m"];

/// Cuts `text` into sentences: byte ranges, in order, that cover `text`
/// contiguously and completely (concatenating the slices gives back `text`).
///
/// See the [module documentation](self) for the rules. No range is empty; no
/// range is blank (whitespace and tags only) unless the whole text is, in
/// which case there is one range; an empty text has none.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    analyze(text).ranges
}

/// Cuts further every range of `ranges` (byte ranges of `text`) longer than
/// `max_chars` characters, so that no returned range is longer.
///
/// A long range is cut at the last whitespace that keeps the piece within the
/// limit and is not inside a tag (preferably not inside a wrapping tag pair
/// either; whitespace stays with the piece before); failing that, at the last
/// character boundary within the limit outside a tag; failing that (one tag
/// alone is longer than the limit), at the limit, inside the tag. `max_chars`
/// 0 is taken as 1. Tags are recognized over the whole of `text`.
///
/// The result covers exactly what `ranges` cover, in the same order, and holds
/// no empty range: empty (or reversed) input ranges are dropped. A range that
/// is not a valid range of `text` (out of bounds, or not on character
/// boundaries) is returned unchanged, since it cannot be cut safely.
pub fn split_to_limit(text: &str, ranges: &[Range<usize>], max_chars: usize) -> Vec<Range<usize>> {
    let max = max_chars.max(1);
    let scan = scan(text);
    let tokens = merge_intervals(scan.tags.iter().map(|t| t.range.clone()).collect());
    let wraps = merge_intervals(
        tokens
            .iter()
            .cloned()
            .chain(scan.regions.iter().cloned())
            .collect(),
    );
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Some(slice) = text.get(range.clone()) else {
            if range.start < range.end {
                out.push(range.clone());
            }
            continue;
        };
        if slice.is_empty() {
            continue;
        }
        let mut start = range.start;
        while let Some(limit) = text[start..range.end]
            .char_indices()
            .nth(max)
            .map(|(i, _)| start + i)
        {
            let cut = choose_cut(text, start, limit, &tokens, &wraps);
            out.push(start..cut);
            start = cut;
        }
        out.push(start..range.end);
    }
    out
}

/// Cuts text that arrives in deltas (LLM tokens) into sentences as soon as
/// they are certainly complete.
///
/// [`push`](Self::push) releases a sentence once what follows it settles where
/// it ends: a letter of the next sentence has arrived (outside tags), and no
/// tag that might still protect the boundary is pending (an opening tag not
/// yet closed, or a `[`/`<` that may still become a tag). Until the buffer
/// overflows (see [`MAX_BUFFERED_CHARS`]), the sentences released are exactly
/// those [`sentences`] gives for the whole text, whatever the deltas, and
/// [`flush`](Self::flush) returns the rest. Concatenated, everything released
/// and flushed is the text pushed, byte for byte.
#[derive(Debug, Clone, Default)]
pub struct IncrementalSegmenter {
    buffer: String,
}

impl IncrementalSegmenter {
    /// An empty segmenter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text pushed and not yet released.
    pub fn buffered(&self) -> &str {
        &self.buffer
    }

    /// Appends `delta` and returns the sentences now certainly complete, in
    /// order (often none).
    ///
    /// Overflow: if what stays buffered is longer than [`MAX_BUFFERED_CHARS`]
    /// characters (no settled sentence end, e.g. an unpunctuated stream or a
    /// wrapping tag left open), it is released anyway, cut as
    /// [`split_to_limit`] cuts it with that limit (at the last whitespace
    /// outside tags), keeping only the last piece; from then on the pieces no
    /// longer match what [`sentences`] would give, but nothing is lost.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buffer.push_str(delta);
        let mut released = Vec::new();
        let analysis = analyze(&self.buffer);
        let mut cut = 0;
        if let Some((_, complete)) = analysis.ranges.split_last() {
            for range in complete {
                let settled = range.end < analysis.hold
                    && any_outside_tags(
                        &self.buffer,
                        &analysis.tags,
                        range.end..analysis.hold,
                        char::is_alphabetic,
                    );
                if !settled {
                    break;
                }
                released.push(self.buffer[range.clone()].to_string());
                cut = range.end;
            }
        }
        self.buffer.drain(..cut);
        if self.buffer.chars().count() > MAX_BUFFERED_CHARS {
            self.release_overflow(&mut released);
        }
        released
    }

    /// Returns everything still buffered, if anything (whitespace included, so
    /// nothing is lost), and empties the buffer: the end of the text.
    ///
    /// Usually this is the last sentence. It can hold several when the text
    /// ended before the last boundaries settled (`It costs 5. 7`: whether
    /// `5. 7` is a boundary depends on a letter that never came); cutting the
    /// result with [`sentences`] then gives the sentences left.
    pub fn flush(&mut self) -> Option<String> {
        if self.buffer.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.buffer))
        }
    }

    /// Releases all but the last piece of the buffer cut to
    /// [`MAX_BUFFERED_CHARS`], leaving alone a trailing `[`/`<` that may still
    /// become a tag.
    fn release_overflow(&mut self, released: &mut Vec<String>) {
        let end = scan(&self.buffer).incomplete.unwrap_or(self.buffer.len());
        let pieces = split_to_limit(
            &self.buffer,
            std::slice::from_ref(&(0..end)),
            MAX_BUFFERED_CHARS,
        );
        let Some((_, done)) = pieces.split_last() else {
            return;
        };
        let mut cut = 0;
        for piece in done {
            released.push(self.buffer[piece.clone()].to_string());
            cut = piece.end;
        }
        self.buffer.drain(..cut);
    }
}

/// What kind of tag a [`Tag`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TagKind {
    /// `[pause]`
    Bracket,
    /// `<whisper>`
    Open,
    /// `</whisper>`
    Close,
    /// `<break/>`
    SelfClosing,
}

/// One tag of a text.
#[derive(Clone, Debug)]
struct Tag {
    range: Range<usize>,
    kind: TagKind,
    /// Lowercase name of an angle tag; empty for a bracket tag.
    name: String,
}

/// What parsing a tag at a `[` or `<` found.
enum Parse {
    Tag(Tag),
    /// The text ends before the tag does: more text may make it one.
    Incomplete,
    Invalid,
}

fn parse_tag(text: &str, start: usize) -> Parse {
    match text.as_bytes().get(start) {
        Some(b'[') => parse_bracket(text, start),
        Some(b'<') => parse_angle(text, start),
        _ => Parse::Invalid,
    }
}

fn parse_bracket(text: &str, start: usize) -> Parse {
    let body = start + 1;
    let Some(rest) = text.get(body..) else {
        return Parse::Invalid;
    };
    let mut count = 0;
    for (i, c) in rest.char_indices() {
        if count > MAX_TAG_CHARS {
            return Parse::Invalid;
        }
        count += 1;
        match c {
            ']' => {
                return Parse::Tag(Tag {
                    range: start..body + i + 1,
                    kind: TagKind::Bracket,
                    name: String::new(),
                })
            }
            '[' | '<' | '>' | '\n' | '\r' => return Parse::Invalid,
            _ => {}
        }
    }
    if count > MAX_TAG_CHARS {
        Parse::Invalid
    } else {
        Parse::Incomplete
    }
}

fn parse_angle(text: &str, start: usize) -> Parse {
    #[derive(Clone, Copy)]
    enum State {
        Start,
        CloseName,
        Name,
        NameSlash,
        Attrs,
        AttrSlash,
        CloseSpace,
    }
    let body = start + 1;
    let Some(rest) = text.get(body..) else {
        return Parse::Invalid;
    };
    let mut state = State::Start;
    let mut closing = false;
    let mut name = String::new();
    let mut count = 0;
    for (i, c) in rest.char_indices() {
        if count > MAX_TAG_CHARS {
            return Parse::Invalid;
        }
        count += 1;
        let done = |kind, name: String| {
            Parse::Tag(Tag {
                range: start..body + i + c.len_utf8(),
                kind,
                name,
            })
        };
        state = match (state, c) {
            (State::Start, '/') => {
                closing = true;
                State::CloseName
            }
            (State::Start | State::CloseName, c) if c.is_ascii_alphabetic() => {
                name.push(c.to_ascii_lowercase());
                State::Name
            }
            (State::Name, c) if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':') => {
                name.push(c.to_ascii_lowercase());
                State::Name
            }
            (State::Name, '>') if closing => return done(TagKind::Close, name),
            (State::Name, '>') => return done(TagKind::Open, name),
            (State::Name, '/') if !closing => State::NameSlash,
            (State::Name, ' ' | '\t') if closing => State::CloseSpace,
            (State::Name, ' ' | '\t') => State::Attrs,
            (State::NameSlash | State::AttrSlash, '>') => return done(TagKind::SelfClosing, name),
            (State::CloseSpace, ' ' | '\t') => State::CloseSpace,
            (State::CloseSpace, '>') => return done(TagKind::Close, name),
            (State::Attrs, '>') => return done(TagKind::Open, name),
            (State::Attrs | State::AttrSlash, '<' | '\n' | '\r') => return Parse::Invalid,
            (State::Attrs | State::AttrSlash, '/') => State::AttrSlash,
            (State::Attrs | State::AttrSlash, _) => State::Attrs,
            _ => return Parse::Invalid,
        };
    }
    if count > MAX_TAG_CHARS {
        Parse::Invalid
    } else {
        Parse::Incomplete
    }
}

/// The tags of a text and what they protect.
struct Scan {
    /// Every tag, in order (they never overlap).
    tags: Vec<Tag>,
    /// From an opening tag to the end of its closing tag, for each matched pair.
    regions: Vec<Range<usize>>,
    /// The first `[` or `<` that the text ends too soon to tell about.
    incomplete: Option<usize>,
    /// The first opening tag not closed (yet).
    unclosed: Option<usize>,
}

fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut tags: Vec<Tag> = Vec::new();
    let mut regions = Vec::new();
    let mut incomplete = None;
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b'[' | b'<') {
            match parse_tag(text, i) {
                Parse::Tag(tag) => {
                    match tag.kind {
                        TagKind::Open => open.push((tag.name.clone(), tag.range.start)),
                        TagKind::Close => {
                            if let Some(k) = open.iter().rposition(|(name, _)| *name == tag.name) {
                                regions.push(open[k].1..tag.range.end);
                                open.truncate(k);
                            }
                        }
                        TagKind::Bracket | TagKind::SelfClosing => {}
                    }
                    i = tag.range.end;
                    tags.push(tag);
                    continue;
                }
                Parse::Incomplete => {
                    incomplete.get_or_insert(i);
                }
                Parse::Invalid => {}
            }
        }
        // `[` and `<` are ASCII, so a byte step never lands on one mid-character.
        i += 1;
    }
    Scan {
        tags,
        regions,
        incomplete,
        unclosed: open.first().map(|(_, start)| *start),
    }
}

/// Sorts and merges overlapping intervals (touching ones stay apart: their
/// common end is not inside either).
fn merge_intervals(mut intervals: Vec<Range<usize>>) -> Vec<Range<usize>> {
    intervals.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if interval.start < last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}

/// Whether `pos` is strictly inside one of the merged `intervals`.
fn inside(intervals: &[Range<usize>], pos: usize) -> bool {
    let k = intervals.partition_point(|r| r.start < pos);
    k > 0 && intervals[k - 1].end > pos
}

fn tag_at(tags: &[Tag], pos: usize) -> Option<&Tag> {
    tags.binary_search_by_key(&pos, |t| t.range.start)
        .ok()
        .and_then(|k| tags.get(k))
}

/// Whether a character of `text[range]` outside every tag satisfies `pred`.
fn any_outside_tags(
    text: &str,
    tags: &[Tag],
    range: Range<usize>,
    pred: impl Fn(char) -> bool,
) -> bool {
    let Some(slice) = text.get(range.clone()) else {
        return false;
    };
    let mut k = tags.partition_point(|t| t.range.end <= range.start);
    for (i, c) in slice.char_indices() {
        let pos = range.start + i;
        while k < tags.len() && tags[k].range.end <= pos {
            k += 1;
        }
        if k < tags.len() && tags[k].range.start <= pos {
            continue;
        }
        if pred(c) {
            return true;
        }
    }
    false
}

/// A text with its tags taken out, and the way back to the original offsets.
struct Stripped {
    text: String,
    /// (offset in `text`, offset in the original) of each run of text kept.
    runs: Vec<(usize, usize)>,
}

impl Stripped {
    fn new(original: &str, tags: &[Tag]) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut runs = Vec::new();
        let mut pos = 0;
        for tag in tags {
            if tag.range.start > pos {
                runs.push((text.len(), pos));
                text.push_str(&original[pos..tag.range.start]);
            }
            pos = tag.range.end;
        }
        if pos < original.len() {
            runs.push((text.len(), pos));
            text.push_str(&original[pos..]);
        }
        Self { text, runs }
    }

    /// The original offset of byte `i` of the stripped text.
    fn original(&self, i: usize) -> usize {
        let k = self.runs.partition_point(|run| run.0 <= i);
        match k.checked_sub(1).and_then(|k| self.runs.get(k)) {
            Some(&(stripped, original)) => original + (i - stripped),
            None => 0,
        }
    }
}

/// Everything the segmenter knows about a text.
struct Analysis {
    ranges: Vec<Range<usize>>,
    tags: Vec<Tag>,
    /// Where text stops being settled: the first opening tag not closed or
    /// `[`/`<` not finished, else the end of the text.
    hold: usize,
}

fn analyze(text: &str) -> Analysis {
    let scan = scan(text);
    let stripped = Stripped::new(text, &scan.tags);
    let protected = merge_intervals(
        scan.tags
            .iter()
            .map(|t| t.range.clone())
            .chain(scan.regions.iter().cloned())
            .collect(),
    );
    let mut bounds = Vec::new();
    let mut previous = 0;
    for (q, _) in stripped.text.split_sentence_bound_indices() {
        if q == 0 {
            continue;
        }
        let from = std::mem::replace(&mut previous, q);
        if abbreviation_continues(&stripped.text, from, q) {
            continue;
        }
        let kept = stripped.text[..q].trim_end().len();
        let after_last = match kept.checked_sub(1) {
            Some(last) => stripped.original(last) + 1,
            None => 0,
        };
        let b = place_boundary(text, &scan.tags, after_last);
        if b == 0 || b >= text.len() || inside(&protected, b) {
            continue;
        }
        bounds.push(b);
    }
    bounds.sort_unstable();
    bounds.dedup();
    let hold = match (scan.incomplete, scan.unclosed) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => text.len(),
    };
    Analysis {
        ranges: merge_blank(text, &scan.tags, &bounds),
        tags: scan.tags,
        hold,
    }
}

/// Where, among the whitespace and tags after a sentence's last character
/// (which ends at `after_last`), the next sentence starts.
fn place_boundary(text: &str, tags: &[Tag], after_last: usize) -> usize {
    let mut pos = after_last;
    // Tags written right after the sentence belong to it, unless they open something.
    while let Some(tag) = tag_at(tags, pos) {
        if tag.kind == TagKind::Open {
            return pos;
        }
        pos = tag.range.end;
    }
    // Then its trailing whitespace, and closing tags among it.
    loop {
        if let Some(c) = text
            .get(pos..)
            .and_then(|rest| rest.chars().next())
            .filter(|c| c.is_whitespace())
        {
            pos += c.len_utf8();
            continue;
        }
        match tag_at(tags, pos) {
            Some(tag) if tag.kind == TagKind::Close => pos = tag.range.end,
            _ => return pos,
        }
    }
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Whether the UAX #29 boundary at `q` of the stripped text (whose previous
/// UAX #29 boundary is `from`) follows an abbreviation and is dropped.
fn abbreviation_continues(stripped: &str, from: usize, q: usize) -> bool {
    let Some(before) = stripped.get(from..q) else {
        return false;
    };
    let words = before.trim_end();
    if before[words.len()..].chars().any(is_line_break) {
        return false;
    }
    let word = words.rsplit(char::is_whitespace).next().unwrap_or_default();
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    let Some(stem) = word.strip_suffix('.').filter(|s| !s.is_empty()) else {
        return false;
    };
    if is_initials(stem) {
        return true;
    }
    let lower = stem.to_lowercase();
    let next = stripped[q..].chars().find(|c| c.is_alphanumeric());
    if ALWAYS_CONTINUES.contains(&lower.as_str()) {
        true
    } else if BEFORE_NUMBER.contains(&lower.as_str()) {
        next.is_some_and(char::is_numeric)
    } else if SENTENCE_FINAL.contains(&lower.as_str()) {
        !next.is_some_and(char::is_alphabetic)
    } else {
        false
    }
}

/// `J`, `J.R.R`, `U.S`: uppercase letters, one between each pair of dots.
fn is_initials(stem: &str) -> bool {
    stem.split('.').all(|part| {
        let mut chars = part.chars();
        matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase())
    })
}

/// The ranges between `bounds`, blank ones merged into a neighbour.
fn merge_blank(text: &str, tags: &[Tag], bounds: &[usize]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(bounds.len() + 1);
    let mut start = 0;
    for end in bounds.iter().copied().chain(std::iter::once(text.len())) {
        if end <= start {
            continue;
        }
        if any_outside_tags(text, tags, start..end, |c| !c.is_whitespace()) {
            out.push(start..end);
            start = end;
        } else if let Some(last) = out.last_mut() {
            last.end = end;
            start = end;
        }
        // else: blank at the start of the text, it goes with the next one.
    }
    if start < text.len() {
        match out.last_mut() {
            Some(last) => last.end = text.len(),
            None => out.push(start..text.len()),
        }
    }
    out
}

/// Where to cut `text[start..]`, whose first `max` characters end at `limit`.
/// Always in `start + 1..=limit`.
fn choose_cut(
    text: &str,
    start: usize,
    limit: usize,
    tokens: &[Range<usize>],
    wraps: &[Range<usize>],
) -> usize {
    let mut space_outside_wraps = None;
    let mut space_outside_tokens = None;
    let mut outside_tokens = None;
    let mut seen_text = false;
    for (i, c) in text[start..limit].char_indices() {
        let cut = start + i + c.len_utf8();
        let in_token = inside(tokens, cut);
        if c.is_whitespace() {
            if seen_text && !in_token {
                space_outside_tokens = Some(cut);
                if !inside(wraps, cut) {
                    space_outside_wraps = Some(cut);
                }
            }
        } else {
            seen_text = true;
        }
        if !in_token {
            outside_tokens = Some(cut);
        }
    }
    space_outside_wraps
        .or(space_outside_tokens)
        .or(outside_tokens)
        .unwrap_or(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(text: &str) -> Vec<&str> {
        let ranges = sentences(text);
        check_cover(text, &ranges);
        ranges.into_iter().map(|r| &text[r]).collect()
    }

    /// Contiguous, complete, no empty range.
    fn check_cover(text: &str, ranges: &[Range<usize>]) {
        if text.is_empty() {
            assert!(ranges.is_empty(), "{text:?}: {ranges:?}");
            return;
        }
        assert_eq!(
            ranges.first().map(|r| r.start),
            Some(0),
            "{text:?}: {ranges:?}"
        );
        assert_eq!(
            ranges.last().map(|r| r.end),
            Some(text.len()),
            "{text:?}: {ranges:?}"
        );
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "{text:?}: {ranges:?}");
        }
        for r in ranges {
            assert!(r.start < r.end, "{text:?}: empty {r:?}");
            assert!(
                text.get(r.clone()).is_some(),
                "{text:?}: not on char boundaries {r:?}"
            );
        }
    }

    #[test]
    fn plain_sentences() {
        assert_eq!(
            seg("Hello world. How are you? Fine!"),
            ["Hello world. ", "How are you? ", "Fine!"]
        );
        assert_eq!(
            seg("One sentence without end"),
            ["One sentence without end"]
        );
        assert_eq!(
            seg("Really?! Yes!! Okay?"),
            ["Really?! ", "Yes!! ", "Okay?"]
        );
    }

    #[test]
    fn empty_and_blank() {
        assert!(sentences("").is_empty());
        assert_eq!(seg("   "), ["   "]);
        assert_eq!(seg("\n\n"), ["\n\n"]);
        assert_eq!(seg("[pause]"), ["[pause]"]);
        assert_eq!(seg("  [pause] \n"), ["  [pause] \n"]);
    }

    #[test]
    fn whitespace_stays_attached() {
        assert_eq!(
            seg("  Hello. \n\n  World.  "),
            ["  Hello. \n\n  ", "World.  "]
        );
        assert_eq!(seg("\n\nHello.\n\n"), ["\n\nHello.\n\n"]);
        assert_eq!(
            seg("Title\nBody text. More."),
            ["Title\n", "Body text. ", "More."]
        );
        assert_eq!(seg("A.\r\nB."), ["A.\r\n", "B."]);
    }

    #[test]
    fn abbreviations() {
        assert_eq!(
            seg("Mr. Smith met Dr. Jones at St. Paul's. They talked."),
            ["Mr. Smith met Dr. Jones at St. Paul's. ", "They talked."]
        );
        assert_eq!(
            seg("MR. SMITH ARRIVED. HE SAT."),
            ["MR. SMITH ARRIVED. ", "HE SAT."]
        );
        assert_eq!(
            seg("Prof. Xavier vs. Magneto. Mrs. Ms. Mt. Everest."),
            ["Prof. Xavier vs. Magneto. ", "Mrs. Ms. Mt. Everest."]
        );
        assert_eq!(
            seg("Bring a tool, e.g. A hammer, i.e. Something heavy. Done."),
            [
                "Bring a tool, e.g. A hammer, i.e. Something heavy. ",
                "Done."
            ]
        );
        assert_eq!(
            seg("The U.S. Army and the U.K. Navy met."),
            ["The U.S. Army and the U.K. Navy met."]
        );
        assert_eq!(
            seg("It weighs approx. Ten tons."),
            ["It weighs approx. Ten tons."]
        );
        assert_eq!(seg("(Dr. Who) Yes."), ["(Dr. Who) Yes."]);
    }

    #[test]
    fn abbreviations_before_numbers() {
        assert_eq!(
            seg("Go to No. 9 Main Street. Thanks."),
            ["Go to No. 9 Main Street. ", "Thanks."]
        );
        assert_eq!(
            seg("Is it? No. It is not."),
            ["Is it? ", "No. ", "It is not."]
        );
        assert_eq!(
            seg("On Jan. 5 Bob left. Then rain."),
            ["On Jan. 5 Bob left. ", "Then rain."]
        );
        assert_eq!(seg("See Fig. 3 For details."), ["See Fig. 3 For details."]);
    }

    #[test]
    fn etc_at_the_end_of_a_sentence() {
        // Documented choice: before a capitalized word, `etc.` ends the sentence.
        assert_eq!(
            seg("We bought apples, pears, etc. Then we left."),
            ["We bought apples, pears, etc. ", "Then we left."]
        );
        // Before a lowercase word UAX #29 never splits.
        assert_eq!(
            seg("Apples, pears, etc. were sold."),
            ["Apples, pears, etc. were sold."]
        );
        // Before a number it stays inside the sentence.
        assert_eq!(
            seg("Acme Inc. 2024 Report. Next."),
            ["Acme Inc. 2024 Report. ", "Next."]
        );
        assert_eq!(
            seg("I work at Acme Inc. It is fine."),
            ["I work at Acme Inc. ", "It is fine."]
        );
        assert_eq!(
            seg("We met at 5 p.m. Then we ate."),
            ["We met at 5 p.m. ", "Then we ate."]
        );
    }

    #[test]
    fn no_abbreviation_merge_across_a_line_break() {
        assert_eq!(seg("Ask Dr.\nSmith knows."), ["Ask Dr.\n", "Smith knows."]);
    }

    #[test]
    fn initials() {
        assert_eq!(
            seg("J. R. R. Tolkien wrote. He died."),
            ["J. R. R. Tolkien wrote. ", "He died."]
        );
        assert_eq!(
            seg("J.R.R. Tolkien wrote. Yes."),
            ["J.R.R. Tolkien wrote. ", "Yes."]
        );
        // The documented price: a single capital before a dot never ends a sentence.
        assert_eq!(seg("Use plan B. Then go."), ["Use plan B. Then go."]);
        // Lowercase single letters are not initials.
        assert_eq!(
            seg("Pick option a. Then go."),
            ["Pick option a. ", "Then go."]
        );
    }

    #[test]
    fn decimals() {
        assert_eq!(
            seg("It costs 3.50 dollars. Cheap."),
            ["It costs 3.50 dollars. ", "Cheap."]
        );
        assert_eq!(seg("Pi is 3.14159. Yes."), ["Pi is 3.14159. ", "Yes."]);
        assert_eq!(
            seg("Version 1.2.3 is out. Get it."),
            ["Version 1.2.3 is out. ", "Get it."]
        );
        assert_eq!(seg("It was .5 of it. Ok."), ["It was .5 of it. ", "Ok."]);
    }

    #[test]
    fn ellipses() {
        assert_eq!(seg("Wait... what? No."), ["Wait... what? ", "No."]);
        assert_eq!(seg("Well… fine. Ok."), ["Well… fine. ", "Ok."]);
        assert_eq!(seg("Well… Fine."), ["Well… Fine."]);
        // Documented: an ASCII ellipsis before a capital ends a sentence.
        assert_eq!(seg("Wait... What?"), ["Wait... ", "What?"]);
    }

    #[test]
    fn quotes() {
        // Documented: a lowercase word after the closing quote continues the sentence.
        assert_eq!(
            seg("\"Hi.\" she said. Then left."),
            ["\"Hi.\" she said. ", "Then left."]
        );
        assert_eq!(seg("\"Hi.\" She said."), ["\"Hi.\" ", "She said."]);
        assert_eq!(
            seg("He said “Stop!” Then he ran."),
            ["He said “Stop!” ", "Then he ran."]
        );
        assert_eq!(seg("(It works.) Next."), ["(It works.) ", "Next."]);
    }

    #[test]
    fn non_latin() {
        assert_eq!(
            seg("こんにちは。元気ですか？はい。"),
            ["こんにちは。", "元気ですか？", "はい。"]
        );
        assert_eq!(seg("你好！我很好。"), ["你好！", "我很好。"]);
        assert_eq!(seg("मैं ठीक हूँ। आप कैसे हैं?"), ["मैं ठीक हूँ। ", "आप कैसे हैं?"]);
        assert_eq!(seg("Привет. Как дела?"), ["Привет. ", "Как дела?"]);
        assert_eq!(seg("مرحبا. كيف حالك؟"), ["مرحبا. ", "كيف حالك؟"]);
    }

    #[test]
    fn bracket_tags() {
        assert_eq!(
            seg("Hello [pause] world. [laugh] That was funny."),
            ["Hello [pause] world. ", "[laugh] That was funny."]
        );
        assert_eq!(seg("Hello.[pause] World."), ["Hello.[pause] ", "World."]);
        // A dot inside a tag is not a sentence end, and tags do not change boundaries.
        assert_eq!(
            seg("Wait [long. pause] now. Ok."),
            ["Wait [long. pause] now. ", "Ok."]
        );
        assert_eq!(seg("Ha. [sigh] Okay."), ["Ha. ", "[sigh] Okay."]);
        assert_eq!(
            seg("Mr.[pause] Smith came. Yes."),
            ["Mr.[pause] Smith came. ", "Yes."]
        );
        // Not tags: unclosed, or too long.
        assert_eq!(seg("Yes [maybe. No."), ["Yes [maybe. ", "No."]);
        let long = format!("[{}. B] c.", "a".repeat(80));
        assert_eq!(seg(&long).len(), 2);
    }

    #[test]
    fn wrapping_tags() {
        assert_eq!(
            seg("<whisper>Hello. Is anyone there?</whisper> Yes."),
            ["<whisper>Hello. Is anyone there?</whisper> ", "Yes."]
        );
        assert_eq!(
            seg("Hi. <soft>Quiet now. Very quiet.</soft> Loud again."),
            [
                "Hi. ",
                "<soft>Quiet now. Very quiet.</soft> ",
                "Loud again."
            ]
        );
        assert_eq!(
            seg("Hi. <WHISPER>A. B.</whisper>"),
            ["Hi. ", "<WHISPER>A. B.</whisper>"]
        );
        assert_eq!(
            seg("<emphasis>Stop</emphasis>. Now go."),
            ["<emphasis>Stop</emphasis>. ", "Now go."]
        );
        assert_eq!(
            seg("<slow lang=\"en\">One. Two.</slow> Three."),
            ["<slow lang=\"en\">One. Two.</slow> ", "Three."]
        );
        assert_eq!(
            seg("One. <break time=\"1s\"/> Two."),
            ["One. ", "<break time=\"1s\"/> Two."]
        );
    }

    #[test]
    fn nested_and_unbalanced_tags() {
        assert_eq!(
            seg("<soft>One. <emphasis>Two. Three.</emphasis> Four.</soft> Five."),
            [
                "<soft>One. <emphasis>Two. Three.</emphasis> Four.</soft> ",
                "Five."
            ]
        );
        // A closing tag closes what was opened inside it.
        assert_eq!(
            seg("<soft>One. <loud>Two.</soft> Three."),
            ["<soft>One. <loud>Two.</soft> ", "Three."]
        );
        // Unclosed: protects nothing.
        assert_eq!(
            seg("<whisper>One. Two. Three."),
            ["<whisper>One. ", "Two. ", "Three."]
        );
        // Stray closer: just a tag.
        assert_eq!(seg("One.</whisper> Two."), ["One.</whisper> ", "Two."]);
        assert_eq!(seg("</a></b><c>"), ["</a></b><c>"]);
        // Not tags at all.
        assert_eq!(
            seg("3 < 5. And 7 > 2. Yes."),
            ["3 < 5. ", "And 7 > 2. ", "Yes."]
        );
        assert_eq!(seg("I <3 you. Ok."), ["I <3 you. ", "Ok."]);
        assert_eq!(seg("a<b. C>d."), ["a<b. ", "C>d."]);
        for text in [
            "<",
            "[",
            "<>",
            "[]",
            "</",
            "<a",
            "<a/",
            "</a",
            "<a b=\"c",
            "a<<<[[[>>>]]]",
            "<a\n>b. C.",
        ] {
            check_cover(text, &sentences(text));
        }
    }

    #[test]
    fn no_boundary_inside_protected_text() {
        for text in CORPUS {
            let s = scan(text);
            for r in sentences(text) {
                for iv in s
                    .tags
                    .iter()
                    .map(|t| t.range.clone())
                    .chain(s.regions.iter().cloned())
                {
                    assert!(
                        !(iv.start < r.end && r.end < iv.end),
                        "{text:?}: cut at {} inside {iv:?}",
                        r.end
                    );
                }
            }
        }
    }

    const CORPUS: &[&str] = &[
        "Hello world. How are you? Fine!",
        "Mr. Smith met Dr. Jones at St. Paul's. They talked.",
        "J. R. R. Tolkien wrote. He died.",
        "It costs 3.50 dollars. Cheap.",
        "Wait... what? No. Well… fine. Wait... What?",
        "\"Hi.\" she said. \"Hi.\" She said.",
        "We bought apples, pears, etc. Then we left.",
        "Go to No. 9 Main Street. Is it? No. It is not.",
        "こんにちは。元気ですか？はい。你好！我很好。",
        "मैं ठीक हूँ। आप कैसे हैं? Привет. Как дела?",
        "Hello [pause] world. [laugh] That was funny.",
        "Hello.[pause] World. Ha. [sigh] okay. [long-pause]",
        "<whisper>Hello. Is anyone there?</whisper> Yes.",
        "Hi. <soft>Quiet now. Very quiet.</soft> Loud again.",
        "<soft>One. <emphasis>Two. Three.</emphasis> Four.</soft> Five.",
        "<soft>One. <loud>Two.</soft> Three.",
        "<whisper>One. Two. Three.",
        "One.</whisper> Two. 3 < 5. And 7 > 2. Yes [maybe. No.",
        "  Hello. \n\n  World.  ",
        "Title\nBody text. More.\r\nLast line",
        "It costs 5. 7 apples. 8. Ok",
        "One. <break time=\"1s\"/> Two. <emphasis>Stop</emphasis>. Now go.",
        "Acme Inc. 2024 Report. Next. We met at 5 p.m. Then we ate.",
        "A.\n[pause]\nB. C.\n\n[laugh]\n\nD.",
        "Ask Dr.\nSmith knows. Use plan B. Then go.",
    ];

    /// A small deterministic generator for property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const FRAGMENTS: &[&str] = &[
        "Hello",
        "world",
        "apples",
        "Mr.",
        "Dr.",
        "etc.",
        "No.",
        "J.",
        "U.S.",
        "3.50",
        "5",
        " ",
        " ",
        " ",
        "  ",
        ".",
        ".",
        "?",
        "!",
        "...",
        "…",
        "\n",
        "\n\n",
        "\r\n",
        "\"",
        "“",
        "”",
        "(",
        ")",
        "[pause]",
        "[laugh]",
        "[",
        "]",
        "<whisper>",
        "</whisper>",
        "<soft>",
        "</soft>",
        "<",
        ">",
        "</",
        "<b/>",
        "。",
        "！",
        "।",
        "日本",
        "é",
        "Ok",
        "it",
        "The",
        "a",
        "\t",
    ];

    fn random_text(rng: &mut Rng, max_fragments: usize) -> String {
        let n = rng.below(max_fragments + 1);
        (0..n)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
            .collect()
    }

    #[test]
    fn cover_property_over_random_texts() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let text = random_text(&mut rng, 30);
            let ranges = sentences(&text);
            check_cover(&text, &ranges);
            let tags = scan(&text).tags;
            let blank_whole =
                !any_outside_tags(&text, &tags, 0..text.len(), |c| !c.is_whitespace());
            if !blank_whole {
                for r in &ranges {
                    assert!(
                        any_outside_tags(&text, &tags, r.clone(), |c| !c.is_whitespace()),
                        "{text:?}: blank range {r:?} in {ranges:?}"
                    );
                }
            } else if !text.is_empty() {
                assert_eq!(ranges.len(), 1, "{text:?}");
            }
        }
    }

    /// One range, as a list (a literal `[a..b]` reads like a mistake to clippy).
    fn one(range: Range<usize>) -> Vec<Range<usize>> {
        vec![range]
    }

    fn pieces<'a>(text: &'a str, ranges: &[Range<usize>]) -> Vec<&'a str> {
        ranges.iter().map(|r| &text[r.clone()]).collect()
    }

    fn check_limit(text: &str, max: usize) -> Vec<Range<usize>> {
        let input = sentences(text);
        let out = split_to_limit(text, &input, max);
        check_cover(text, &out);
        for r in &out {
            assert!(
                text[r.clone()].chars().count() <= max.max(1),
                "{text:?} {max}: {r:?}"
            );
        }
        // Every input boundary is still a boundary.
        for r in &input {
            assert!(
                out.iter().any(|o| o.end == r.end),
                "{text:?} {max}: lost {r:?}"
            );
        }
        out
    }

    #[test]
    fn split_at_whitespace() {
        let text = "aaa bbb ccc";
        assert_eq!(pieces(text, &check_limit(text, 5)), ["aaa ", "bbb ", "ccc"]);
        assert_eq!(pieces(text, &check_limit(text, 8)), ["aaa bbb ", "ccc"]);
        assert_eq!(pieces(text, &check_limit(text, 11)), ["aaa bbb ccc"]);
        assert_eq!(pieces(text, &check_limit(text, 100)), ["aaa bbb ccc"]);
    }

    #[test]
    fn split_limit_smaller_than_a_word() {
        let text = "abcdefgh";
        assert_eq!(pieces(text, &check_limit(text, 3)), ["abc", "def", "gh"]);
        let text = "ab abcdefgh";
        assert_eq!(pieces(text, &check_limit(text, 4)), ["ab ", "abcd", "efgh"]);
        // max_chars 0 is 1.
        assert_eq!(
            pieces("abc", &split_to_limit("abc", &one(0..3), 0)),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn split_multibyte() {
        let text = "héllo wörld ñ";
        assert_eq!(
            pieces(text, &check_limit(text, 6)),
            ["héllo ", "wörld ", "ñ"]
        );
        let text = "日本語のテキスト";
        assert_eq!(
            pieces(text, &check_limit(text, 3)),
            ["日本語", "のテキ", "スト"]
        );
        let text = "ééééé";
        assert_eq!(pieces(text, &check_limit(text, 2)), ["éé", "éé", "é"]);
    }

    #[test]
    fn split_never_inside_a_tag_when_avoidable() {
        let text = "ab [long pause] cd";
        // The space inside the tag is not a place to cut.
        assert_eq!(
            pieces(text, &check_limit(text, 14)),
            ["ab ", "[long pause] ", "cd"]
        );
        let text = "abcdef[pause]";
        assert_eq!(pieces(text, &check_limit(text, 8)), ["abcdef", "[pause]"]);
        // Prefer whitespace outside a wrapping pair over whitespace inside it.
        let text = "Hi there <soft>a b</soft>";
        assert_eq!(
            pieces(text, &check_limit(text, 20)),
            ["Hi there ", "<soft>a b</soft>"]
        );
        // But cut inside the pair rather than inside a tag.
        let text = "<soft>aaaa bbbb cccc</soft>";
        assert_eq!(
            pieces(text, &check_limit(text, 12)),
            ["<soft>aaaa ", "bbbb ", "cccc</soft>"]
        );
    }

    #[test]
    fn split_tag_longer_than_the_limit() {
        let text = "[long-pause] ok";
        let out = check_limit(text, 4);
        assert_eq!(pieces(text, &out).concat(), text);
        assert_eq!(pieces(text, &out)[0], "[lon");
        let text = "<whisper>x</whisper>";
        let out = check_limit(text, 3);
        assert_eq!(pieces(text, &out).concat(), text);
        assert_eq!(out.len(), 8);
    }

    #[test]
    fn split_odd_inputs() {
        let text = "abc def";
        // Empty ranges are dropped, invalid ones passed through.
        assert_eq!(
            split_to_limit(text, &[0..0, 0..3, 3..7], 3),
            [0..3, 3..6, 6..7]
        );
        assert_eq!(split_to_limit(text, &one(0..99), 3), one(0..99));
        assert!(split_to_limit("", &[], 3).is_empty());
        let text = "é";
        assert_eq!(split_to_limit(text, &one(0..1), 1), one(0..1));
    }

    #[test]
    fn split_property_over_random_texts() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for _ in 0..1500 {
            let text = random_text(&mut rng, 25);
            let max = rng.below(12);
            check_limit(&text, max);
        }
    }

    fn run(chunks: &[&str]) -> (Vec<String>, Option<String>) {
        let mut segmenter = IncrementalSegmenter::new();
        let mut released = Vec::new();
        for chunk in chunks {
            released.extend(segmenter.push(chunk));
        }
        (released, segmenter.flush())
    }

    /// Everything comes back; the sentences released are those of the whole
    /// text; what flush returns cuts into the rest.
    fn check_incremental(text: &str, chunks: &[&str]) -> usize {
        assert_eq!(chunks.concat(), text);
        let (released, rest) = run(chunks);
        let mut joined = released.concat();
        joined.push_str(rest.as_deref().unwrap_or(""));
        assert_eq!(joined, text, "{chunks:?}");
        let whole = seg(text);
        assert!(
            released.len() <= whole.len(),
            "{chunks:?}: {released:?} vs {whole:?}"
        );
        assert_eq!(released, whole[..released.len()], "{chunks:?}");
        let rest = rest.unwrap_or_default();
        assert_eq!(
            seg(&rest),
            whole[released.len()..],
            "{chunks:?}: rest {rest:?}"
        );
        assert!(released.iter().all(|s| !s.is_empty()));
        released.len()
    }

    fn chunk_by_chars(text: &str, size: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut count = 0;
        for (i, _) in text.char_indices() {
            if count == size {
                out.push(&text[start..i]);
                start = i;
                count = 0;
            }
            count += 1;
        }
        if start < text.len() {
            out.push(&text[start..]);
        }
        out
    }

    /// Chunks of `sizes` bytes in turn, each moved up to the next char boundary.
    fn chunk_by_bytes<'a>(text: &'a str, sizes: &mut impl FnMut() -> usize) -> Vec<&'a str> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let mut end = (start + sizes()).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            out.push(&text[start..end]);
            start = end;
        }
        out
    }

    fn chunkings(text: &str) -> Vec<Vec<&str>> {
        let mut all = Vec::new();
        for size in 1..=7 {
            all.push(chunk_by_chars(text, size));
            all.push(chunk_by_bytes(text, &mut || size));
        }
        all.push(text.split_inclusive(' ').collect());
        all.push(text.split_inclusive(char::is_whitespace).collect());
        all.push(vec![text]);
        let mut rng = Rng(text.len() as u64 * 2654435761 + 1);
        for _ in 0..8 {
            all.push(chunk_by_bytes(text, &mut || 1 + rng.below(7)));
        }
        all
    }

    #[test]
    fn incremental_matches_sentences_for_every_chunking() {
        for text in CORPUS {
            for chunks in chunkings(text) {
                check_incremental(text, &chunks);
            }
        }
    }

    #[test]
    fn incremental_every_split_of_short_texts() {
        let texts = [
            "Hi. [pause] Ok. Go",
            "<soft>A. B.</soft> C. D",
            "Mr. X met Dr. Y. Then etc. Done.",
            "It is 3.50. Yes... what? No.",
            "A.\n\nB. \"C.\" d. E",
        ];
        for text in texts {
            let cuts: Vec<usize> = (1..text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            for (n, &i) in cuts.iter().enumerate() {
                for &j in &cuts[n..] {
                    let chunks = [&text[..i], &text[i..j], &text[j..]];
                    check_incremental(text, &chunks);
                }
            }
        }
    }

    #[test]
    fn incremental_releases_all_but_the_last_of_ordinary_text() {
        let texts = [
            "Hello world. How are you? Fine!",
            "Mr. Smith met Dr. Jones. They talked. About J. R. R. Tolkien.",
            "<whisper>Hello. Is anyone there?</whisper> Yes. Good.",
            "こんにちは。元気ですか？はい。",
            "Hello [pause] world. [laugh] That was funny.",
        ];
        for text in texts {
            let whole = seg(text).len();
            for chunks in chunkings(text) {
                assert_eq!(check_incremental(text, &chunks), whole - 1, "{chunks:?}");
            }
        }
    }

    #[test]
    fn incremental_property_over_random_texts() {
        let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
        for _ in 0..400 {
            let text = random_text(&mut rng, 20);
            let mut sizes = Rng(rng.next() | 1);
            let chunks = chunk_by_bytes(&text, &mut || 1 + sizes.below(7));
            check_incremental(&text, &chunks);
            check_incremental(&text, &chunk_by_chars(&text, 1));
            check_incremental(&text, &text.split_inclusive(' ').collect::<Vec<_>>());
        }
    }

    #[test]
    fn incremental_step_by_step() {
        let mut s = IncrementalSegmenter::new();
        assert_eq!(s.push("Hello world. How"), ["Hello world. "]);
        assert!(s.push(" are you? ").is_empty());
        assert_eq!(s.push("Fine"), ["How are you? "]);
        assert_eq!(s.buffered(), "Fine");
        assert_eq!(s.flush().as_deref(), Some("Fine"));
        assert_eq!(s.flush(), None);
        assert!(s.push("  ").is_empty());
        assert_eq!(s.flush().as_deref(), Some("  "));
    }

    #[test]
    fn incremental_waits_for_open_tags() {
        let mut s = IncrementalSegmenter::new();
        assert!(s.push("<whisper>One. Two. ").is_empty());
        assert_eq!(
            s.push("Three.</whisper> Next"),
            ["<whisper>One. Two. Three.</whisper> "]
        );
        assert_eq!(s.flush().as_deref(), Some("Next"));

        let mut s = IncrementalSegmenter::new();
        assert!(s.push("Hi. [pau").is_empty());
        assert_eq!(s.push("se] Ok. Go"), ["Hi. ", "[pause] Ok. "]);

        let mut s = IncrementalSegmenter::new();
        assert!(s.push("Hi. <whis").is_empty());
        assert_eq!(
            s.push("per>X</whisper> Yo. Go"),
            ["Hi. ", "<whisper>X</whisper> Yo. "]
        );
    }

    #[test]
    fn incremental_waits_for_a_letter() {
        // `5. 7` is a boundary or not depending on what comes after the 7.
        let mut s = IncrementalSegmenter::new();
        assert!(s.push("It costs 5. 7").is_empty());
        assert!(s.push(" apples.").is_empty());
        assert_eq!(s.flush().as_deref(), Some("It costs 5. 7 apples."));
        assert_eq!(seg("It costs 5. 7 apples."), ["It costs 5. 7 apples."]);

        let mut s = IncrementalSegmenter::new();
        assert!(s.push("It costs 5. 7").is_empty());
        assert_eq!(s.push(" Apples."), ["It costs 5. "]);
        // Ending undecided: flush holds two sentences.
        let mut s = IncrementalSegmenter::new();
        assert!(s.push("It costs 5. 7").is_empty());
        assert_eq!(s.flush().as_deref(), Some("It costs 5. 7"));
        assert_eq!(seg("It costs 5. 7"), ["It costs 5. ", "7"]);
    }

    #[test]
    fn incremental_overflow_releases_at_whitespace() {
        let text = "word ".repeat(2_500); // 12_500 chars, no sentence end
        let mut s = IncrementalSegmenter::new();
        let mut released = Vec::new();
        for chunk in chunk_by_chars(&text, 7) {
            released.extend(s.push(chunk));
            assert!(s.buffered().chars().count() <= MAX_BUFFERED_CHARS + 7);
        }
        assert!(!released.is_empty());
        for piece in &released {
            assert!(piece.chars().count() <= MAX_BUFFERED_CHARS);
            assert!(piece.ends_with(' '), "cut at whitespace");
        }
        let mut joined = released.concat();
        joined.push_str(&s.flush().unwrap_or_default());
        assert_eq!(joined, text);
    }

    #[test]
    fn incremental_overflow_without_whitespace() {
        let text = "a".repeat(25_000);
        let mut s = IncrementalSegmenter::new();
        let released = s.push(&text);
        assert_eq!(released.len(), 2);
        assert!(released
            .iter()
            .all(|p| p.chars().count() == MAX_BUFFERED_CHARS));
        assert_eq!(s.buffered().len(), 5_000);

        // An unclosed wrapping tag holds nothing back forever either.
        let text = format!("<whisper>{}", "Hi there. ".repeat(1_200));
        let mut s = IncrementalSegmenter::new();
        let mut released = Vec::new();
        for chunk in text.split_inclusive(' ') {
            released.extend(s.push(chunk));
        }
        assert!(!released.is_empty());
        let mut joined = released.concat();
        joined.push_str(&s.flush().unwrap_or_default());
        assert_eq!(joined, text);
    }
}
