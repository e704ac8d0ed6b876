//! Turning an engine's native pieces into the caller's `AudioStream`.

use std::time::Duration;

use futures::TryStreamExt;

use voxwire_core::audio::{AudioFormat, ChunkAssembler};
use voxwire_core::{AudioChunk, AudioStream, ErrorKind, Phase, Result, TtsError};

use crate::engine::RawReceiver;
use crate::PROVIDER_ID;

struct State {
    raw: RawReceiver,
    target: Option<AudioFormat>,
    assembler: Option<ChunkAssembler>,
    inactivity: Duration,
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
        assembler: None,
        inactivity,
    };
    // `try_unfold` ends the stream after its first error.
    let chunks = futures::stream::try_unfold(state, |mut st| async move {
        Ok(st.next_chunk().await?.map(|chunk| (chunk, st)))
    });
    Box::pin(chunks.map_err(|e: TtsError| e.or_provider(PROVIDER_ID)))
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
            let chunk = match piece {
                Some(Ok((format, data))) => {
                    let assembler = match &mut self.assembler {
                        Some(a) => a,
                        None => self.assembler.insert(ChunkAssembler::new(
                            format,
                            self.target.unwrap_or(format),
                            0,
                        )?),
                    };
                    if assembler.from() != format {
                        return Err(TtsError::new(
                            ErrorKind::Protocol,
                            "the engine changed its audio format mid-stream",
                        ));
                    }
                    assembler.push(data)?
                }
                Some(Err(e)) => return Err(e),
                None => {
                    let Some(assembler) = self.assembler.as_mut().filter(|a| a.bytes_in() > 0)
                    else {
                        return Err(TtsError::new(
                            ErrorKind::NoAudio,
                            "the engine finished without producing any audio",
                        )
                        .with_phase(Phase::Synthesize));
                    };
                    return assembler.finish();
                }
            };
            if chunk.is_some() {
                return Ok(chunk);
            }
        }
    }
}
