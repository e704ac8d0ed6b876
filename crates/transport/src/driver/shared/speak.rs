//! One whole-text utterance on a shared socket.

use std::sync::Arc;

use voxwire_core::{AudioFormat, AudioStream, ErrorKind, Result};

use super::{Opening, Slot};
use crate::chunker::Chunker;
use crate::dialect::{Decoded, Dialect, Voicing};
use crate::driver::Inner;
use crate::errors;
use crate::stream::spawn_stream;

/// Opens a context and sends the whole `text` and its end.
async fn open_whole<D: Dialect>(
    inner: &Arc<Inner<D>>,
    voicing: &Voicing,
    text: &str,
    fresh: bool,
) -> Result<Slot> {
    let d = &inner.dialect;
    inner
        .open_context(
            voicing,
            |context| Opening {
                texts: d.texts(voicing, context, text),
                flush: d.flush(voicing, context),
            },
            fresh,
        )
        .await
}

/// Whether a failure before any audio, on a socket that carried earlier
/// utterances, is the socket closing as the request went out (a vendor's
/// idle close racing it, not an error it reported): worth one silent resend
/// on a fresh socket.
pub(super) fn worth_resending(
    error: &voxwire_core::TtsError,
    slot: &Slot,
    got_audio: bool,
) -> bool {
    !got_audio && slot.reused() && slot.closed() && error.kind() == ErrorKind::Unavailable
}

pub(crate) async fn synthesize<D: Dialect>(
    inner: Arc<Inner<D>>,
    text: String,
    voicing: Voicing,
    target: AudioFormat,
) -> Result<AudioStream> {
    let provider = inner.dialect.provider();
    let mut chunker = Chunker::new(provider, voicing.wire, target, 0)?;
    chunker.set_text(&text);
    let secret = inner.settings.secret.clone();
    let slot = open_whole(&inner, &voicing, &text, false)
        .await
        .map_err(|e| e.scrub(&secret))?;
    Ok(spawn_stream(move |out| async move {
        let s = &inner.settings;
        let mut slot = slot;
        let mut resent = false;
        loop {
            let (limit, what) = if chunker.got_audio() {
                (s.inactivity_timeout, "no more audio")
            } else {
                (s.first_audio_timeout, "no audio")
            };
            let next = tokio::select! {
                next = slot.next(limit, what) => next,
                // The consumer is gone (a lost hedge, a cancel): dropping the slot cancels it.
                () = out.closed() => return,
            };
            match next {
                Err(e) if !resent && worth_resending(&e, &slot, chunker.got_audio()) => {
                    tracing::debug!(endpoint = slot.endpoint(), error = %e, "a reused shared socket closed before the first audio: sent again on a fresh one");
                    resent = true;
                    let reopened = tokio::select! {
                        reopened = open_whole(&inner, &voicing, &text, true) => reopened,
                        // The consumer left while the resend waited for a slot.
                        () = out.closed() => return,
                    };
                    match reopened {
                        Ok(fresh) => slot = fresh,
                        Err(e) => {
                            out.send(Err(e.scrub(&secret))).await;
                            return;
                        }
                    }
                }
                Err(e) | Ok(Decoded::Error { error: e, .. }) => {
                    out.send(Err(e.scrub(&secret))).await;
                    return;
                }
                Ok(Decoded::Audio { data, timing, .. }) => {
                    if let Some(t) = timing {
                        chunker.timing(t);
                    }
                    if !data.is_empty() && !out.forward(chunker.push(data)).await {
                        return;
                    }
                }
                Ok(Decoded::Done { .. }) => break,
                Ok(Decoded::Cleared { .. }) => {
                    let e = errors::protocol(
                        provider,
                        slot.endpoint(),
                        "a clear acknowledged that was never asked for",
                    );
                    out.send(Err(e)).await;
                    return;
                }
                Ok(Decoded::Skip) => {}
            }
        }
        out.forward(chunker.finish(slot.endpoint())).await;
    }))
}
