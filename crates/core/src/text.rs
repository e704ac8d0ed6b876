//! Checks on input text shared by every edge (CLI, relay, browser API).

use crate::error::{Result, TtsError};

/// The default bound on characters in one request.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 100_000;

/// Rejects text no provider can speak: empty, whitespace only, or longer than `max_chars`.
///
/// Characters are Unicode scalar values, so the bound means the same in every script.
pub fn validate_text(text: &str, max_chars: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(TtsError::invalid_input(if text.is_empty() {
            "the text is empty: give some words to speak"
        } else {
            "the text is only whitespace: give some words to speak"
        }));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(TtsError::invalid_input(format!(
            "the text has {chars} characters, over the limit of {max_chars}: split it or raise max_text_chars"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn empty_whitespace_and_oversize_are_rejected() {
        for bad in ["", "   \n\t "] {
            assert_eq!(
                validate_text(bad, 10).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        }
        assert!(validate_text("héllo", 5).is_ok());
        let err = validate_text("héllo!", 5).unwrap_err();
        assert!(err.to_string().contains("6 characters"), "{err}");
    }
}
