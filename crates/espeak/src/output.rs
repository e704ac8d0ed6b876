//! Turning an engine's native pieces into the caller's `AudioStream`.

use std::time::Duration;

use voxwire_core::audio::{AudioFormat, FormatConverter};
use voxwire_core::{AudioChunk, AudioStream, ErrorKind, Phase, Result, TtsError};

use crate::engine::RawReceiver;
use crate::PROVIDER_ID;

struct State {
    raw: RawReceiver,
    target: Option<AudioFormat>,
    converter: Option<FormatConverter>,
    sequence: u64,
    bytes_out: usize,
    inactivity: Duration,
    done: bool,
}

/// Converts native pieces to `target` (native when `None`), numbers the chunks,
/// bounds the wait for each piece, and reports a stream with no audio as `NoAudio`.
pub(crate) fn audio_stream(
    raw: RawReceiver,
    target: Option<AudioFormat>,
    inactivity: Duration,
) -> AudioStream {
    let state = State {
        raw,
        target,
        converter: None,
        sequence: 0,
        bytes_out: 0,
        inactivity,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        match st.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), st)),
            Ok(None) => None,
            Err(e) => {
                st.done = true;
                Some((Err(e.or_provider(PROVIDER_ID)), st))
            }
        }
    }))
}

impl State {
    async fn next_chunk(&mut self) -> Result<Option<AudioChunk>> {
        loop {
            let piece = tokio::time::timeout(self.inactivity, self.raw.recv())
                .await
                .map_err(|_| {
                    TtsError::new(
                        ErrorKind::Timeout,
                        format!(
                            "the engine produced no audio for {} ms",
                            self.inactivity.as_millis()
                        ),
                    )
                    .with_phase(Phase::Synthesize)
                })?;
            let data = match piece {
                Some(Ok((format, data))) => {
                    let converter = match &mut self.converter {
                        Some(c) => c,
                        None => self
                            .converter
                            .insert(FormatConverter::new(format, self.target.unwrap_or(format))?),
                    };
                    if converter.from() != format {
                        return Err(TtsError::new(
                            ErrorKind::Protocol,
                            "the engine changed its audio format mid-stream",
                        ));
                    }
                    converter.push(data)?
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.done = true;
                    let tail = match &mut self.converter {
                        Some(c) => c.finish()?,
                        None => bytes::Bytes::new(),
                    };
                    if self.bytes_out + tail.len() == 0 {
                        return Err(TtsError::new(
                            ErrorKind::NoAudio,
                            "the engine finished without producing any audio",
                        )
                        .with_phase(Phase::Synthesize));
                    }
                    if tail.is_empty() {
                        return Ok(None);
                    }
                    tail
                }
            };
            if data.is_empty() {
                continue;
            }
            let Some(format) = self.converter.as_ref().map(FormatConverter::to) else {
                continue;
            };
            self.bytes_out += data.len();
            let chunk = AudioChunk {
                data,
                format,
                sequence: self.sequence,
                span: None,
            };
            self.sequence += 1;
            return Ok(Some(chunk));
        }
    }
}
