//! Cutting text into sentences, so audio starts after the first one.

use unicode_segmentation::UnicodeSegmentation;

/// The longest piece spoken in one inference; longer sentences are cut at a space.
pub const MAX_PIECE_CHARS: usize = 400;

/// Byte ranges of the text's sentences (blank ones dropped), each at most
/// [`MAX_PIECE_CHARS`] characters.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (start, sentence) in text.split_sentence_bound_indices() {
        if sentence.trim().is_empty() {
            continue;
        }
        cut(sentence, start, &mut out);
    }
    out
}

/// Splits an overlong sentence at the last whitespace before the bound (or at
/// the bound when there is none).
fn cut(sentence: &str, offset: usize, out: &mut Vec<(usize, usize)>) {
    let mut rest = sentence;
    let mut at = offset;
    while rest.chars().count() > MAX_PIECE_CHARS {
        let bound = rest
            .char_indices()
            .nth(MAX_PIECE_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        let split = rest[..bound]
            .rfind(char::is_whitespace)
            .filter(|i| *i > 0)
            .unwrap_or(bound);
        if !rest[..split].trim().is_empty() {
            out.push((at, at + split));
        }
        rest = &rest[split..];
        at += split;
    }
    if !rest.trim().is_empty() {
        out.push((at, at + rest.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        sentences(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect()
    }

    #[test]
    fn sentences_are_split_at_their_ends_only() {
        assert_eq!(
            pieces("It costs 3.50 dollars. Really? Yes!  "),
            vec!["It costs 3.50 dollars. ", "Really? ", "Yes!  "]
        );
        assert!(pieces("  \n ").is_empty());
    }

    #[test]
    fn overlong_sentences_are_cut_at_spaces_within_the_bound() {
        let long = "word ".repeat(300);
        let got = pieces(&long);
        assert!(got.len() >= 4, "{}", got.len());
        assert!(got.iter().all(|p| p.chars().count() <= MAX_PIECE_CHARS));
        assert_eq!(got.concat().split_whitespace().count(), 300);
        let solid = "x".repeat(MAX_PIECE_CHARS * 2 + 5);
        assert_eq!(pieces(&solid).len(), 3);
    }
}
