//! Turning produced sentences into the caller's `AudioStream`.

use std::time::Duration;

use futures::TryStreamExt;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use voxwire_core::audio::{AudioFormat, ChunkAssembler};
use voxwire_core::{AudioChunk, AudioStream, ErrorKind, Phase, Result, TtsError};

use crate::{Piece, PROVIDER_ID};

/// Ends the producing task when the stream is dropped (the caller cancelled).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct State {
    raw: mpsc::Receiver<Piece>,
    assembler: ChunkAssembler,
    inactivity: Duration,
    _task: AbortOnDrop,
}

/// Converts native PCM to `target`, numbers chunks, tags each with its sentence,
/// bounds the wait for each sentence, and reports a stream with no audio as `NoAudio`.
pub(crate) fn audio_stream(
    raw: mpsc::Receiver<Piece>,
    task: JoinHandle<()>,
    native: AudioFormat,
    target: Option<AudioFormat>,
    inactivity: Duration,
) -> AudioStream {
    let assembler = match ChunkAssembler::new(native, target.unwrap_or(native), 0) {
        Ok(a) => a,
        Err(e) => {
            task.abort();
            return Box::pin(futures::stream::once(async move {
                Err(e.or_provider(PROVIDER_ID))
            }));
        }
    };
    let state = State {
        raw,
        assembler,
        inactivity,
        _task: AbortOnDrop(task),
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
                            "the voice produced no audio for {} ms",
                            self.inactivity.as_millis()
                        ),
                    )
                    .with_phase(Phase::Synthesize)
                })?;
            match piece {
                Some(Ok((span, data))) => {
                    self.assembler.annotate(span);
                    if let Some(chunk) = self.assembler.push(data)? {
                        return Ok(Some(chunk));
                    }
                }
                Some(Err(e)) => return Err(e),
                None => {
                    if self.assembler.bytes_in() == 0 {
                        return Err(TtsError::new(
                            ErrorKind::NoAudio,
                            "the voice finished without producing any audio",
                        )
                        .with_phase(Phase::Synthesize));
                    }
                    return self.assembler.finish();
                }
            }
        }
    }
}
