//! Getting the text to speak: from the command line or a bounded read of stdin.

use std::io::Read;

use voxwire_core::text::validate_text;

use crate::exit::CliError;

/// UTF-8 takes at most this many bytes per character.
const MAX_UTF8_BYTES: usize = 4;

/// The text from `arg`, or from `stdin` when `arg` is `-` or absent, checked
/// against `max_chars` (empty, whitespace only, too long are usage errors).
///
/// Stdin is read only up to `max_chars * 4 + 1` bytes, so a huge input is
/// refused without being held in memory.
pub fn text(arg: Option<&str>, stdin: impl Read, max_chars: usize) -> Result<String, CliError> {
    let text = match arg {
        Some(text) if text != "-" => text.to_string(),
        _ => read_bounded(stdin, max_chars)?,
    };
    validate_text(&text, max_chars).map_err(|e| CliError::from_validation(&e))?;
    Ok(text)
}

/// Reads all of `reader` if it fits in `max_chars` characters' worth of bytes.
fn read_bounded(reader: impl Read, max_chars: usize) -> Result<String, CliError> {
    let max_bytes = max_chars.saturating_mul(MAX_UTF8_BYTES);
    let limit = u64::try_from(max_bytes.saturating_add(1)).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage(format!("cannot read the text from stdin: {e}")))?;
    if bytes.len() > max_bytes {
        return Err(CliError::usage(format!(
            "the text on stdin is longer than {max_bytes} bytes, over the limit of {max_chars} characters: split it or raise max_text_chars"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| CliError::usage(format!("the text on stdin is not valid UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_wins_and_dash_reads_stdin() {
        assert_eq!(text(Some("hi"), &b"ignored"[..], 10).unwrap(), "hi");
        assert_eq!(
            text(Some("-"), &b"from stdin"[..], 10).unwrap(),
            "from stdin"
        );
        assert_eq!(text(None, &b"piped"[..], 10).unwrap(), "piped");
    }

    #[test]
    fn each_bad_input_has_its_own_message() {
        let empty = text(Some(""), &b""[..], 10).unwrap_err();
        assert_eq!(empty.status(), 2);
        assert!(empty.message().contains("empty"), "{empty}");
        let blank = text(None, &b"  \n\t"[..], 10).unwrap_err();
        assert!(blank.message().contains("only whitespace"), "{blank}");
        let long = text(Some("eleven char"), &b""[..], 10).unwrap_err();
        assert!(long.message().contains("over the limit of 10"), "{long}");
        let bad = text(None, &[0xff, 0xfe][..], 10).unwrap_err();
        assert!(bad.message().contains("UTF-8"), "{bad}");
    }

    #[test]
    fn stdin_reading_stops_past_the_bound() {
        // An endless reader: the read must stop on its own.
        let endless = std::io::repeat(b'a');
        let err = text(None, endless, 10).unwrap_err();
        assert!(err.message().contains("longer than 40 bytes"), "{err}");
        // Within the byte bound but over the character bound: the char check catches it.
        let err = text(None, &b"aaaaaaaaaaaa"[..], 10).unwrap_err();
        assert!(err.message().contains("12 characters"), "{err}");
    }
}
