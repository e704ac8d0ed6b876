//! `/stream/with-timestamps`: newline-delimited JSON, each line base64
//! audio with the `alignment` of its characters. Lines are read as they
//! arrive; each one's times become the [`Timing`] of its audio, so chunks
//! carry spans of the text, the vendor's times and the words they complete.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use voxwire_core::{AudioStream, Result};
use voxwire_transport::chunker::Chunker;
use voxwire_transport::errors;
use voxwire_transport::provider::Answer;
use voxwire_transport::settings::Resolved;
use voxwire_transport::stream::spawn_stream;
use voxwire_transport::{CharMark, Timing};

use crate::wire::{Alignment, TimedChunk};
use crate::PROVIDER_ID;

/// The most bytes one line may hold before it is a protocol error.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Cuts a body into lines (blank ones skipped), keeping a partial line.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Adds bytes; returns the lines they complete (without the newline).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=at).take(at).collect();
            if !line.trim_ascii().is_empty() {
                out.push(line);
            }
        }
        out
    }

    /// The last line, when the body did not end with a newline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.trim_ascii().is_empty()).then_some(rest)
    }

    /// Bytes of the line under way.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Maps each line's alignment onto times from the start of the utterance.
///
/// The notes have the vendor's times chunk-relative (Pipecat adds a running
/// offset) while some clients read them as cumulative: a line whose first
/// character starts before the previous line ended restarts the clock, and
/// is offset by where the previous one ended.
#[derive(Debug, Default)]
pub struct Clock {
    offset: Duration,
    last_end: Duration,
}

impl Clock {
    /// The marks of `a`, in utterance time; `None` when it is inconsistent.
    pub fn marks(&mut self, a: &Alignment) -> Option<Timing> {
        let n = a.characters.len();
        if a.character_start_times_seconds.len() != n || a.character_end_times_seconds.len() != n {
            return None;
        }
        let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).ok();
        let first = secs(*a.character_start_times_seconds.first()?)?;
        if first + Duration::from_millis(1) < self.last_end {
            self.offset = self.last_end;
        } else if first >= self.last_end {
            self.offset = Duration::ZERO;
        }
        let mut marks = Vec::with_capacity(n);
        for i in 0..n {
            let start = self.offset + secs(a.character_start_times_seconds[i])?;
            let end = self.offset + secs(a.character_end_times_seconds[i])?;
            marks.push(CharMark {
                chars: a.characters[i].chars().count(),
                start,
                end: end.max(start),
            });
        }
        if let Some(last) = marks.last() {
            self.last_end = self.last_end.max(last.end);
        }
        Some(Timing { marks })
    }
}

/// One line: its audio and times, or a Protocol error naming what is wrong.
fn decode(line: &[u8], clock: &mut Clock, url: &str) -> Result<(Bytes, Option<Timing>)> {
    let chunk: TimedChunk = serde_json::from_slice(line).map_err(|e| {
        errors::protocol(
            PROVIDER_ID,
            url,
            format!("a line of /stream/with-timestamps is not the expected JSON: {e}"),
        )
    })?;
    let audio = match chunk.audio_base64.as_deref() {
        None | Some("") => Bytes::new(),
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Bytes::from)
            .map_err(|e| {
                errors::protocol(
                    PROVIDER_ID,
                    url,
                    format!("`audio_base64` is not base64: {e}"),
                )
            })?,
    };
    let timing = match &chunk.alignment {
        Some(a) => Some(clock.marks(a).ok_or_else(|| {
            errors::protocol(
                PROVIDER_ID,
                url,
                "`alignment` lists differ in length or hold a bad time",
            )
        })?),
        None => None,
    };
    Ok((audio, timing))
}

/// The answer of `/stream/with-timestamps` as an audio stream.
pub(crate) fn read(
    a: Answer,
    r: &Resolved,
    target: voxwire_core::AudioFormat,
) -> Result<AudioStream> {
    let url = r.rest_url.clone();
    let mut chunker = Chunker::new(PROVIDER_ID, a.voicing.wire, target, 0)?;
    chunker.set_text(&a.text);
    let remaining = r.first_audio_timeout.saturating_sub(a.started.elapsed());
    let mut reader = r
        .streamed_post(PROVIDER_ID, 1)
        .body_reader(a.response, remaining);
    Ok(spawn_stream(move |out| async move {
        let mut lines = Lines::default();
        let mut clock = Clock::default();
        loop {
            let next = tokio::select! {
                next = reader.next() => next,
                () = out.closed() => return,
            };
            let (batch, last) = match next {
                Ok(Some(bytes)) => (lines.push(&bytes), false),
                Ok(None) => (lines.finish().into_iter().collect(), true),
                Err(e) => {
                    out.send(Err(e)).await;
                    return;
                }
            };
            if lines.pending() > MAX_LINE_BYTES {
                let e = errors::protocol(PROVIDER_ID, &url, "a line over 16 MiB without a newline");
                out.send(Err(e)).await;
                return;
            }
            for line in batch {
                let step = decode(&line, &mut clock, &url).and_then(|(audio, timing)| {
                    if let Some(t) = timing {
                        chunker.timing(t);
                    }
                    chunker.push(audio)
                });
                if !out.forward(step).await {
                    return;
                }
            }
            if last {
                out.forward(chunker.finish(&url)).await;
                return;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn align(chars: &str, starts: &[f64], ends: &[f64]) -> Alignment {
        Alignment {
            characters: chars.chars().map(String::from).collect(),
            character_start_times_seconds: starts.to_vec(),
            character_end_times_seconds: ends.to_vec(),
        }
    }

    #[test]
    fn lines_skip_blanks_and_keep_a_partial_line() {
        let mut l = Lines::default();
        assert_eq!(l.push(b"{\"a\":1}\n\n{\"b\""), vec![b"{\"a\":1}".to_vec()]);
        assert_eq!(l.push(b":2}\n"), vec![b"{\"b\":2}".to_vec()]);
        assert_eq!(l.push(b"{\"c\":3}"), Vec::<Vec<u8>>::new());
        assert_eq!(l.finish(), Some(b"{\"c\":3}".to_vec()));
    }

    #[test]
    fn chunk_relative_and_cumulative_times_both_map_to_utterance_time() {
        let ms = Duration::from_millis;
        for cumulative in [false, true] {
            let mut c = Clock::default();
            let t = c.marks(&align("ab", &[0.0, 0.06], &[0.06, 0.12])).unwrap();
            assert_eq!(t.marks[1].end, ms(120));
            let second = if cumulative {
                align("cd", &[0.12, 0.18], &[0.18, 0.24])
            } else {
                align("cd", &[0.0, 0.06], &[0.06, 0.12])
            };
            let t = c.marks(&second).unwrap();
            assert_eq!((t.marks[0].start, t.marks[1].end), (ms(120), ms(240)));
        }
        let mut c = Clock::default();
        assert!(c.marks(&align("ab", &[0.0], &[0.1, 0.2])).is_none());
    }
}
