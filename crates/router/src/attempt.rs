//! One attempt: one chain entry speaking one piece of text, bounded in time.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use voxwire_core::{
    AudioFormat, ErrorKind, Phase, SpanTimes, SynthesisRequest, TextSpan, TtsError, WordTime,
};

use crate::events::FailoverReason;
use crate::handover::{Deaths, Handover};
use crate::member::Member;
use crate::normalize::Normalizer;
use crate::resume::{bytes_for, Audio, Release, Seeker};
use crate::rt::{self, until, Instant};

/// What a piece's task tells the session loop. `Serving` and `Audio` carry
/// the piece's take (its attempt number across entries, see `handover`):
/// the loop skips those of a retracted take.
#[derive(Debug)]
pub(crate) enum PieceMsg {
    /// The entry accepted the request (its socket upgraded and took the
    /// text, or its HTTP answer was a success): a cold entry has shown its
    /// key and endpoint work, so the sentences after this one may be
    /// requested before its first audio.
    Accepted,
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
        /// Audio dropped from the take's start (heard already): its times
        /// are this much ahead of what is handed on.
        head: Duration,
        /// The audio comes from the phrase cache, not the entry.
        cached: bool,
    },
    /// Audio in the target format; `span` and `words` are relative to the piece.
    Audio {
        take: u32,
        data: Bytes,
        span: Option<TextSpan>,
        times: Option<SpanTimes>,
        words: Vec<WordTime>,
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
    /// How far into the piece this attempt's audio got: what it handed on
    /// and what it dropped from its start, not what it still held.
    pub reached: Duration,
    /// The words the entry timed, in its own timeline (empty: it reports none).
    pub words: Vec<WordTime>,
    /// The take was dropped before it ended (see `Handover::dropped`).
    pub abandoned: bool,
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
    /// Resume at the first word starting at or after this byte of the text,
    /// by the entry's word times (see `resume`).
    pub resume: Option<usize>,
    /// The router's first-audio bound when the entry sets none (the deadline left).
    pub fallback_first_audio: Duration,
    /// The attempt is a hedge started beside a slow one.
    pub hedge: bool,
    /// The piece's handover and the session's deaths: the attempt is
    /// abandoned once its take is dropped (`Handover::dropped`). `None` in a
    /// hedge race, whose takes are not retracted.
    pub watch: Option<(&'a Handover, &'a Deaths)>,
    /// Keeps what is handed on for the phrase cache, if the attempt may be cached.
    pub record: Option<&'a mut crate::cache::Recorder>,
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
        resume,
        fallback_first_audio,
        hedge,
        watch,
        mut record,
    } = plan;
    let started = Instant::now();
    let mut seeker = resume.and_then(|at| Seeker::new(&request.text, at, target));
    let mut result = AttemptResult {
        error: None,
        first_audio: None,
        audio: Duration::ZERO,
        reached: Duration::ZERO,
        words: Vec::new(),
        abandoned: false,
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
    if tx.send(PieceMsg::Accepted).await.is_err() {
        result.error = Some(TtsError::cancelled());
        return result;
    }
    let mut normalizer = Normalizer::new(target);
    let mut left = Some(left);
    let mut to_skip = bytes_for(target, skip);
    // Bytes dropped from the attempt's start, and handed on after them.
    let mut head_bytes = 0usize;
    let mut bytes_out = 0usize;
    let mut ended = false;
    loop {
        let wait = match result.first_audio {
            None => until(first_deadline),
            Some(_) => member.policy.inactivity_timeout(),
        };
        let next = match watch {
            None => rt::timeout(wait, stream.next()).await,
            Some((handover, deaths)) => tokio::select! {
                biased;
                () = handover.dropped(take, &name, deaths) => {
                    result.abandoned = true;
                    break;
                }
                next = rt::timeout(wait, stream.next()) => next,
            },
        };
        let audio = match next {
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
                    Ok(data) => Audio {
                        data,
                        span: None,
                        times: None,
                        words: Vec::new(),
                    },
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
            Ok(Some(Ok(mut chunk))) => {
                if chunk.data.is_empty() && chunk.words.is_empty() {
                    continue;
                }
                if !chunk.data.is_empty() {
                    result.first_audio.get_or_insert_with(|| started.elapsed());
                }
                let (span, times) = (chunk.span, chunk.times);
                let words = std::mem::take(&mut chunk.words);
                result.words.extend(words.iter().copied());
                match normalizer.push(chunk) {
                    Ok(data) => Audio {
                        data,
                        span,
                        times,
                        words,
                    },
                    Err(e) => {
                        result.error = Some(e.or_provider(name.clone()));
                        break;
                    }
                }
            }
        };
        // Resuming at a word: held until the word is timed.
        let ready = match seeker.as_mut() {
            None => vec![audio],
            Some(seek) => {
                let release = if ended {
                    seek.push(audio, &result.words);
                    seek.end()
                } else {
                    seek.push(audio, &result.words)
                };
                match release {
                    Release::Hold => continue,
                    Release::Send {
                        dropped,
                        rest,
                        audio,
                    } => {
                        seeker = None;
                        head_bytes += dropped;
                        to_skip = rest;
                        audio
                    }
                }
            }
        };
        let mut cancelled = false;
        for mut audio in ready {
            if to_skip > 0 {
                let dropped = to_skip.min(audio.data.len());
                to_skip -= dropped;
                head_bytes += dropped;
                audio.data = audio.data.slice(dropped..);
            }
            if audio.data.is_empty() {
                continue;
            }
            // Words begun in the audio dropped were heard from the take before.
            let head = target.duration_of(head_bytes);
            audio.words.retain(|w| w.start >= head);
            if let Some(left) = left.take() {
                let serving = PieceMsg::Serving {
                    take,
                    entry: name.clone(),
                    provider: member.provider_id().to_string(),
                    left,
                    hedge,
                    head,
                    cached: false,
                };
                if tx.send(serving).await.is_err() {
                    cancelled = true;
                    break;
                }
            }
            bytes_out += audio.data.len();
            if let Some(recorder) = record.as_deref_mut() {
                recorder.push(&audio.data, audio.span, audio.times, &audio.words);
            }
            let message = PieceMsg::Audio {
                take,
                data: audio.data,
                span: audio.span,
                times: audio.times,
                words: audio.words,
            };
            if tx.send(message).await.is_err() {
                cancelled = true;
                break;
            }
        }
        if cancelled {
            result.error = Some(TtsError::cancelled());
            break;
        }
        if ended {
            break;
        }
    }
    result.audio = target.duration_of(bytes_out);
    result.reached = target.duration_of(head_bytes + bytes_out);
    if result.error.is_none() && result.first_audio.is_none() && !result.abandoned {
        result.error = Some(
            TtsError::new(ErrorKind::NoAudio, "the stream ended without audio")
                .with_provider(name)
                .with_phase(Phase::Receive),
        );
    }
    result
}
