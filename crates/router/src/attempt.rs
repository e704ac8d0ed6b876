//! One attempt: one chain entry speaking one piece of text, bounded in time.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use voxwire_core::{
    AudioFormat, ErrorKind, Phase, SpanTimes, SynthesisRequest, TextSpan, TtsError,
};

use crate::events::FailoverReason;
use crate::member::Member;
use crate::normalize::Normalizer;
use crate::rt::{self, until, Instant};

/// What a piece's task tells the session loop. `Serving` and `Audio` carry
/// the piece's take (its attempt number across entries, see `handover`):
/// the loop skips those of a retracted take.
#[derive(Debug)]
pub(crate) enum PieceMsg {
    /// The attempt's first audio is about to follow from entry `entry`
    /// (provider `provider`); `left` is the entry given up on for this piece
    /// and why (if one was).
    Serving {
        take: u32,
        entry: String,
        provider: String,
        left: Option<(String, FailoverReason)>,
        /// It won a hedge: it serves this piece in place of the entry asked first.
        hedge: bool,
    },
    /// Audio in the target format; `span` is relative to the piece.
    Audio {
        take: u32,
        data: Bytes,
        span: Option<TextSpan>,
        times: Option<SpanTimes>,
    },
    /// The piece is spoken.
    Done,
    /// The piece could not be spoken; the session ends with this.
    Failed(TtsError),
}

/// How an attempt went.
pub(crate) struct AttemptResult {
    pub error: Option<TtsError>,
    pub first_audio: Option<Duration>,
    /// Audio forwarded to the caller in this attempt.
    pub audio: Duration,
    /// How far into the piece this attempt's audio got (skipped audio included).
    pub reached: Duration,
}

/// What one attempt needs besides the entry.
pub(crate) struct AttemptPlan<'a> {
    pub request: SynthesisRequest,
    pub target: AudioFormat,
    pub tx: &'a mpsc::Sender<PieceMsg>,
    /// The piece's take this attempt is (its messages carry it).
    pub take: u32,
    /// The entry given up on for this piece, and why.
    pub left: Option<(String, FailoverReason)>,
    /// Audio of the piece already heard twice: dropped from this attempt's start.
    pub skip: Duration,
    /// The router's first-audio bound when the entry sets none (the deadline left).
    pub fallback_first_audio: Duration,
    /// The attempt is a hedge started beside a slow one.
    pub hedge: bool,
}

/// Bytes of `format` that last `d` (whole frames).
fn bytes_for(format: AudioFormat, d: Duration) -> usize {
    let frame = format.bytes_per_frame().max(1);
    let frames = (d.as_secs_f64() * f64::from(format.sample_rate)).round() as usize;
    frames * frame
}

/// Runs one attempt, forwarding audio as it arrives. `left` goes with the
/// `Serving` message sent just before the first audio forwarded.
pub(crate) async fn run(member: &Member, plan: AttemptPlan<'_>) -> AttemptResult {
    let AttemptPlan {
        request,
        target,
        tx,
        take,
        left,
        skip,
        fallback_first_audio,
        hedge,
    } = plan;
    let started = Instant::now();
    let mut result = AttemptResult {
        error: None,
        first_audio: None,
        audio: Duration::ZERO,
        reached: Duration::ZERO,
    };
    let name = member.name.clone();
    let first_limit = member.policy.first_audio_timeout(fallback_first_audio);
    let first_deadline = started + first_limit;
    let timeout_error = |what: &str, limit: Duration| {
        TtsError::new(
            ErrorKind::Timeout,
            format!("{what} within {} ms (router policy)", limit.as_millis()),
        )
        .with_provider(name.clone())
        .with_phase(Phase::Receive)
    };
    let stream = rt::timeout(until(first_deadline), member.provider.synthesize(request)).await;
    let mut stream = match stream {
        Err(_) => {
            result.error = Some(timeout_error("no stream", first_limit));
            return result;
        }
        Ok(Err(e)) => {
            result.error = Some(e.or_provider(name));
            return result;
        }
        Ok(Ok(s)) => s,
    };
    let mut normalizer = Normalizer::new(target);
    let mut left = Some(left);
    let mut to_skip = bytes_for(target, skip);
    let mut bytes_in = 0usize;
    let mut ended = false;
    let mut bytes_out = 0usize;
    loop {
        let next = match result.first_audio {
            None => rt::timeout(until(first_deadline), stream.next()).await,
            Some(_) => rt::timeout(member.policy.inactivity_timeout(), stream.next()).await,
        };
        let (data, span, times) = match next {
            Err(_) => {
                result.error = Some(match result.first_audio {
                    None => timeout_error("no first audio", first_limit),
                    Some(_) => timeout_error(
                        "the stream stalled: no audio",
                        member.policy.inactivity_timeout(),
                    ),
                });
                break;
            }
            Ok(None) => {
                ended = true;
                match normalizer.finish() {
                    Ok(tail) => (tail, None, None),
                    Err(e) => {
                        result.error = Some(e.or_provider(name.clone()));
                        break;
                    }
                }
            }
            Ok(Some(Err(e))) => {
                result.error = Some(e.or_provider(name.clone()));
                break;
            }
            Ok(Some(Ok(chunk))) => {
                if chunk.data.is_empty() {
                    continue;
                }
                result.first_audio.get_or_insert_with(|| started.elapsed());
                let (span, times) = (chunk.span, chunk.times);
                match normalizer.push(chunk) {
                    Ok(data) => (data, span, times),
                    Err(e) => {
                        result.error = Some(e.or_provider(name.clone()));
                        break;
                    }
                }
            }
        };
        bytes_in += data.len();
        let mut data = data;
        if to_skip > 0 {
            let dropped = to_skip.min(data.len());
            to_skip -= dropped;
            data = data.slice(dropped..);
        }
        if !data.is_empty() {
            if let Some(left) = left.take() {
                let serving = PieceMsg::Serving {
                    take,
                    entry: name.clone(),
                    provider: member.provider_id().to_string(),
                    left,
                    hedge,
                };
                if tx.send(serving).await.is_err() {
                    result.error = Some(TtsError::cancelled());
                    break;
                }
            }
            bytes_out += data.len();
            if tx
                .send(PieceMsg::Audio {
                    take,
                    data,
                    span,
                    times,
                })
                .await
                .is_err()
            {
                result.error = Some(TtsError::cancelled());
                break;
            }
        }
        if ended {
            break;
        }
    }
    result.audio = target.duration_of(bytes_out);
    result.reached = target.duration_of(bytes_in);
    if result.error.is_none() && bytes_in == 0 {
        result.error = Some(
            TtsError::new(ErrorKind::NoAudio, "the stream ended without audio")
                .with_provider(name)
                .with_phase(Phase::Receive),
        );
    }
    result
}
