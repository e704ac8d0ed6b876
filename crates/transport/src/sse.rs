//! A server-sent-events reader: bytes in (split anywhere), events out.
//!
//! Follows the WHATWG event-stream rules a TTS client meets: `event:`,
//! `data:` (several lines joined with `\n`), `id:`, comments (`:`) skipped,
//! LF, CRLF or CR line ends, an event dispatched at a blank line, a line
//! bounded in size so a server that never ends a line cannot grow memory.

use bytes::BytesMut;

/// The longest line (and event data) accepted.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty means the default type, `message`).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen, when any.
    pub id: Option<String>,
}

/// A line or an event was over [`MAX_LINE_BYTES`], or not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Incremental parser: [`push`](SseReader::push) bytes, get the events they complete.
#[derive(Debug, Default)]
pub struct SseReader {
    line: BytesMut,
    /// A CR ended the last line: a following LF belongs to it.
    after_cr: bool,
    current: SseEvent,
    has_data: bool,
    last_id: Option<String>,
}

impl SseReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events completed by them, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = self.line.split().freeze();
                    let line = std::str::from_utf8(&line)
                        .map_err(|_| SseError("an event-stream line is not UTF-8".into()))?
                        .to_string();
                    if let Some(event) = self.line_done(&line)? {
                        out.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(SseError(format!(
                            "an event-stream line is over {MAX_LINE_BYTES} bytes"
                        )));
                    }
                    self.line.extend_from_slice(&[b]);
                }
            }
        }
        Ok(out)
    }

    /// Ends the stream: an event without its blank line is dispatched (servers often omit it).
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if !self.line.is_empty() {
            let line = self.line.split().freeze();
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(event) = self.line_done(&line)? {
                return Ok(Some(event));
            }
        }
        Ok(self.dispatch())
    }

    fn line_done(&mut self, line: &str) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(':') {
            return Ok(None); // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
                if self.current.data.len() > MAX_LINE_BYTES {
                    return Err(SseError(format!("an event is over {MAX_LINE_BYTES} bytes")));
                }
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            _ => {} // retry and unknown fields
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let mut event = std::mem::take(&mut self.current);
        let had = std::mem::take(&mut self.has_data);
        if !had {
            return None; // no data: nothing to dispatch
        }
        event.id = self.last_id.clone();
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut r = SseReader::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(r.push(c).unwrap());
        }
        out.extend(r.finish().unwrap());
        out
    }

    #[test]
    fn events_comments_and_multiline_data() {
        let got = all(&[b": keep-alive\n\nevent: speech.audio.delta\ndata: {\"a\":1}\nid: 7\n\ndata: x\ndata: y\n\n"]);
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: "speech.audio.delta".into(),
                    data: "{\"a\":1}".into(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: String::new(),
                    data: "x\ny".into(),
                    id: Some("7".into())
                },
            ]
        );
    }

    #[test]
    fn crlf_cr_and_lines_split_across_chunks() {
        let whole = all(&[b"event: e\r\ndata: hello\r\n\r\ndata:w\r\rdata: z\n\n"]);
        let bytes = b"event: e\r\ndata: hello\r\n\r\ndata:w\r\rdata: z\n\n";
        let split: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&split), whole);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, "hello");
        assert_eq!(whole[1].data, "w");
        assert_eq!(whole[2].data, "z");
    }

    #[test]
    fn an_unterminated_last_event_is_dispatched_and_long_lines_refused() {
        assert_eq!(all(&[b"data: end"])[0].data, "end");
        let mut r = SseReader::new();
        let long = vec![b'a'; MAX_LINE_BYTES + 1];
        assert!(r.push(&long).is_err());
    }
}
