//! A progress display on stderr for long texts, only when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use voxwire_core::TextSpan;

/// Texts longer than this many characters get a progress display.
pub const LONG_TEXT_CHARS: usize = 2000;

/// Shows how far synthesis got: a bar over the text when chunks carry spans,
/// else a spinner with the seconds of audio so far. Hidden when not wanted.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    text_bytes: u64,
    spans: bool,
}

impl Progress {
    /// A display for a text of `text_chars` characters and `text_bytes` bytes;
    /// visible only if stderr is a terminal and the text is long.
    pub fn for_text(text_chars: usize, text_bytes: usize) -> Self {
        let wanted = text_chars > LONG_TEXT_CHARS && std::io::stderr().is_terminal();
        Self::new(wanted, text_bytes)
    }

    /// A display, hidden unless `visible`.
    pub fn new(visible: bool, text_bytes: usize) -> Self {
        let bar = if visible {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
                bar.set_style(style);
            }
            bar.set_message("speaking…");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            text_bytes: text_bytes as u64,
            spans: false,
        }
    }

    /// Records a chunk: the end of the text it speaks, if known, and the audio so far.
    pub fn update(&mut self, span: Option<TextSpan>, audio: Duration) {
        if self.bar.is_hidden() {
            return;
        }
        match span {
            Some(span) => {
                if !self.spans {
                    self.spans = true;
                    self.bar.set_length(self.text_bytes);
                    if let Ok(style) = ProgressStyle::with_template(
                        "{bar:40} {percent:>3}% of the text, {msg} [{elapsed}]",
                    ) {
                        self.bar.set_style(style);
                    }
                }
                self.bar.set_position(span.end as u64);
            }
            None => self.bar.tick(),
        }
        self.bar
            .set_message(format!("{:.1} s of audio", audio.as_secs_f64()));
    }

    /// Prints a line without tearing the display.
    pub fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the display.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_accepts_everything() {
        let mut p = Progress::new(false, 10);
        p.update(Some(TextSpan { start: 0, end: 5 }), Duration::from_secs(1));
        p.update(None, Duration::from_secs(2));
        p.finish();
    }

    #[test]
    fn short_texts_get_no_display() {
        assert!(Progress::for_text(10, 10).bar.is_hidden());
    }
}
