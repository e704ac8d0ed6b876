//! One attempt: one provider speaking one piece of text, bounded in time.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use voxwire_core::{AudioFormat, ErrorKind, Phase, SynthesisRequest, TextSpan, TtsError};

use crate::member::Member;
use crate::normalize::Normalizer;
use crate::rt::{self, until, Instant};

/// What a piece's task tells the session loop.
#[derive(Debug)]
pub(crate) enum PieceMsg {
    /// The attempt's first audio is about to follow; `left` is the provider
    /// given up on for this piece and `reason` why (if one was).
    Serving {
        provider: String,
        left: Option<(String, String)>,
    },
    /// Audio in the target format; `span` is relative to the piece.
    Audio { data: Bytes, span: Option<TextSpan> },
    /// The piece is spoken.
    Done,
    /// The piece could not be spoken; the session ends with this.
    Failed(TtsError),
}

/// How an attempt went.
pub(crate) struct AttemptResult {
    pub error: Option<TtsError>,
    pub first_audio: Option<Duration>,
    pub audio: Duration,
}

/// Runs one attempt, forwarding audio as it arrives. `left` (the provider
/// given up on, and why) goes with the `Serving` message sent just before the
/// first audio.
pub(crate) async fn run(
    member: &Member,
    request: SynthesisRequest,
    target: AudioFormat,
    tx: &mpsc::Sender<PieceMsg>,
    left: Option<(String, String)>,
) -> AttemptResult {
    let started = Instant::now();
    let mut result = AttemptResult {
        error: None,
        first_audio: None,
        audio: Duration::ZERO,
    };
    let id = member.provider.id().to_string();
    let first_deadline = started + member.policy.first_audio_timeout();
    let timeout_error = |what: &str, limit: Duration| {
        TtsError::new(
            ErrorKind::Timeout,
            format!("{what} within {} ms (router policy)", limit.as_millis()),
        )
        .with_provider(id.clone())
        .with_phase(Phase::Receive)
    };
    let stream = rt::timeout(until(first_deadline), member.provider.synthesize(request)).await;
    let mut stream = match stream {
        Err(_) => {
            result.error = Some(timeout_error(
                "no stream",
                member.policy.first_audio_timeout(),
            ));
            return result;
        }
        Ok(Err(e)) => {
            result.error = Some(e.or_provider(id));
            return result;
        }
        Ok(Ok(s)) => s,
    };
    let mut normalizer = Normalizer::new(target);
    let mut left = Some(left);
    let mut bytes_out = 0usize;
    loop {
        let next = match result.first_audio {
            None => rt::timeout(until(first_deadline), stream.next()).await,
            Some(_) => rt::timeout(member.policy.inactivity_timeout(), stream.next()).await,
        };
        let chunk = match next {
            Err(_) => {
                result.error = Some(match result.first_audio {
                    None => timeout_error("no first audio", member.policy.first_audio_timeout()),
                    Some(_) => timeout_error(
                        "the stream stalled: no audio",
                        member.policy.inactivity_timeout(),
                    ),
                });
                return result;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                result.error = Some(e.or_provider(id));
                return result;
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        if chunk.data.is_empty() {
            continue;
        }
        if let Some(left) = left.take() {
            result.first_audio = Some(started.elapsed());
            let serving = PieceMsg::Serving {
                provider: id.clone(),
                left,
            };
            if tx.send(serving).await.is_err() {
                result.error = Some(TtsError::cancelled());
                return result;
            }
        }
        let span = chunk.span;
        let data = match normalizer.push(chunk) {
            Ok(data) => data,
            Err(e) => {
                result.error = Some(e.or_provider(id));
                return result;
            }
        };
        bytes_out += data.len();
        if !data.is_empty() && tx.send(PieceMsg::Audio { data, span }).await.is_err() {
            result.error = Some(TtsError::cancelled());
            return result;
        }
    }
    match normalizer.finish() {
        Ok(tail) if !tail.is_empty() => {
            bytes_out += tail.len();
            if tx
                .send(PieceMsg::Audio {
                    data: tail,
                    span: None,
                })
                .await
                .is_err()
            {
                result.error = Some(TtsError::cancelled());
                return result;
            }
        }
        Ok(_) => {}
        Err(e) => {
            result.error = Some(e.or_provider(id));
            return result;
        }
    }
    result.audio = target.duration_of(bytes_out);
    if bytes_out == 0 {
        result.error = Some(
            TtsError::new(ErrorKind::NoAudio, "the stream ended without audio")
                .with_provider(id)
                .with_phase(Phase::Receive),
        );
    }
    result
}
