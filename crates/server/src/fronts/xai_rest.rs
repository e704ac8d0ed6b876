//! `POST /v1/tts`: the xAI REST request, the audio streamed back in the body.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use voxwire_core::{AudioFormat, ErrorKind, SynthesisRequest, TtsError, TtsProvider};

use super::xai_ws::stream_format;
use crate::access;
use crate::encode::{Encoder, OutputFormat as Encoded};
use crate::errors::{json_error, router_error};
use crate::state::AppState;
use crate::usage::Counts;

/// `output_format` as xAI takes it.
#[derive(Debug, Deserialize)]
struct OutputFormat {
    codec: Option<String>,
    sample_rate: Option<u32>,
    #[allow(dead_code)]
    bit_rate: Option<u32>,
}

/// The REST body; unknown fields are refused, as xAI does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestBody {
    text: String,
    voice_id: Option<String>,
    language: Option<String>,
    output_format: Option<OutputFormat>,
    speed: Option<f32>,
    #[allow(dead_code)]
    optimize_streaming_latency: Option<u8>,
    #[allow(dead_code)]
    text_normalization: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RestQuery {
    token: Option<String>,
}

/// The status an error answers with before any audio was sent.
fn status_of(error: &TtsError) -> StatusCode {
    match error.kind() {
        ErrorKind::InvalidInput | ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_GATEWAY,
    }
}

pub(crate) async fn synthesize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<RestQuery>,
    body: Bytes,
) -> Response {
    let principal = match access::authenticate(&state, &headers, query.token.as_deref()) {
        Ok(p) => p,
        Err(denied) => {
            state.metrics.auth_rejected(denied.reason);
            return denied.into_response();
        }
    };
    if body.len() > state.settings.max_message_bytes {
        state.metrics.limit_breached("max_message_bytes");
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        );
    }
    let request: RestBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    if request.text.chars().count() > state.settings.max_utterance_chars {
        state.metrics.limit_breached("max_utterance_chars");
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "text is over {} characters",
                state.settings.max_utterance_chars
            ),
        );
    }
    let codec = request
        .output_format
        .as_ref()
        .and_then(|f| f.codec.clone())
        .unwrap_or_else(|| "mp3".into());
    let rate = request.output_format.as_ref().and_then(|f| f.sample_rate);
    let (format, container) = match codec.to_ascii_lowercase().as_str() {
        "wav" => (stream_format(Some("pcm"), rate), Container::Wav),
        "mp3" if Encoded::Mp3.is_served() => (stream_format(Some("pcm"), rate), Container::Mp3),
        "mp3" => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "this build of the relay does not encode mp3: send output_format.codec pcm, wav, mulaw or alaw",
            )
        }
        other => (stream_format(Some(other), rate), Container::Raw),
    };
    let format = match format {
        Ok(f) => f,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, &why),
    };
    // xAI's REST API answers mp3 by default: one encoder per response, fed
    // by whichever entry speaks.
    let encoder = match container {
        Container::Mp3 => match Encoder::new(Encoded::Mp3, format.sample_rate) {
            Ok(Some(e)) => Some(Arc::new(Mutex::new(e))),
            Ok(None) | Err(_) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "mp3 is not encoded at {} Hz: ask output_format.sample_rate 8000 to 48000",
                        format.sample_rate
                    ),
                )
            }
        },
        _ => None,
    };
    if let Err(wait) = take_turn(&state, &principal.key).await {
        state.metrics.limit_breached("token_utterances_per_second");
        let mut response = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limited: too many requests per second for this credential (token_utterances_per_second)",
        );
        let seconds = wait.as_secs().max(1).to_string();
        if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
            response.headers_mut().insert("retry-after", value);
        }
        return response;
    }
    // The whole text is handed on at once: it is counted against the
    // token's character quotas as one.
    if let Err(over) = state
        .charge_quota(&principal.key, request.text.chars().count())
        .await
    {
        state
            .metrics
            .client_error(voxwire_core::ErrorKind::RateLimited);
        return quota_refusal(&over);
    }
    let chars = u64::try_from(request.text.chars().count()).unwrap_or(u64::MAX);
    let mut synthesis = SynthesisRequest::new(request.text).format(format);
    synthesis.voice = request.voice_id;
    synthesis.language = request.language.filter(|l| !l.eq_ignore_ascii_case("auto"));
    synthesis.speed = request.speed;
    let started = std::time::Instant::now();
    let mut stream = match state.router.synthesize(synthesis).await {
        Ok(s) => s,
        Err(e) => return router_error(&state, status_of(&e), &e),
    };
    // Wait for the first audio so an early failure can still be an HTTP error.
    let first = match stream.next().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(e)) => return router_error(&state, status_of(&e), &e),
        None => return json_error(StatusCode::BAD_GATEWAY, "no audio was produced"),
    };
    // The router's one-shot stream does not say which entry spoke; the first
    // in rotation is the best label until it does.
    let chain = state.router.chain();
    let entry = chain
        .iter()
        .find(|e| state.router.is_available(e))
        .or(chain.first())
        .cloned()
        .unwrap_or_default();
    state.metrics.first_audio(&entry, started.elapsed());
    let metrics = state.metrics.clone();
    let head = if container == Container::Wav {
        voxwire_core::audio::wav::streaming_header(format).to_vec()
    } else {
        Vec::new()
    };
    metrics.audio_seconds(&entry, first.duration().as_secs_f64());
    // Usage: the text once the chain answered, each chunk's audio, the end.
    let usage = state.usage.clone();
    let who = principal.key;
    let counts = |chars, audio_seconds, utterances| Counts {
        chars,
        audio_seconds,
        utterances,
        failovers: 0,
    };
    usage.record(&metrics, &who, None, counts(chars, 0.0, 0));
    usage.record(
        &metrics,
        &who,
        Some(&entry),
        counts(0, first.duration().as_secs_f64(), 0),
    );
    usage.record(&metrics, &who, Some(&entry), counts(0, 0.0, 1));
    usage.chars_spoken(&entry, chars);
    let first_bytes = match encode(encoder.as_ref(), &first.data) {
        Ok(audio) => [head, audio].concat(),
        Err(e) => return e.into_response(),
    };
    let done_entry = entry.clone();
    let encoding = encoder.clone();
    let rest = stream.map(move |item| match item {
        Ok(chunk) => {
            metrics.audio_seconds(&entry, chunk.duration().as_secs_f64());
            usage.record(
                &metrics,
                &who,
                Some(&entry),
                Counts {
                    audio_seconds: chunk.duration().as_secs_f64(),
                    ..Counts::default()
                },
            );
            encode(encoding.as_ref(), &chunk.data)
                .map(Bytes::from)
                .map_err(|_| std::io::Error::other("the audio encoder failed"))
        }
        // After the headers a failure can only cut the body short.
        Err(e) => {
            tracing::warn!(error = %e, "REST synthesis failed mid-body");
            Err(std::io::Error::other("synthesis failed mid-stream"))
        }
    });
    // The encoder's last frames once the chain is done.
    let tail = futures::stream::once(async move {
        let last = match encoder {
            Some(e) => e
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .finish()
                .map_err(|e| std::io::Error::other(e.to_string()))?,
            None => Vec::new(),
        };
        Ok::<Bytes, std::io::Error>(Bytes::from(last))
    });
    let body =
        futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(first_bytes)) })
            .chain(rest)
            .chain(tail);
    state.metrics.utterance_done(&done_entry);
    (
        [(header::CONTENT_TYPE, content_type(format, container))],
        Body::from_stream(body),
    )
        .into_response()
}

/// 429 for a text over the token's character quota: xAI's error shape plus
/// `kind`, and `Retry-After` when the quota's window starts again.
fn quota_refusal(over: &crate::quota::Over) -> Response {
    let body = serde_json::json!({
        "error": over.client_error().message(),
        "kind": voxwire_core::ErrorKind::RateLimited.as_str(),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let seconds = over.resets_in.as_secs().max(1).to_string();
    if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// What the body carries around the chain's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// The samples as they are (pcm, mulaw, alaw).
    Raw,
    /// A streaming WAV header, then pcm.
    Wav,
    /// mp3, encoded here (xAI's REST default).
    Mp3,
}

/// `pcm` through the response's encoder, if it has one (else as it is).
fn encode(encoder: Option<&Arc<Mutex<Encoder>>>, pcm: &[u8]) -> Result<Vec<u8>, EncodeFailed> {
    match encoder {
        Some(e) => e
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pcm)
            .map_err(|e| {
                tracing::error!(error = %e, "xAI REST front: the encoder failed");
                EncodeFailed
            }),
        None => Ok(pcm.to_vec()),
    }
}

/// The encoder failed (a bug, not the client's): a 500 before the body.
struct EncodeFailed;

impl IntoResponse for EncodeFailed {
    fn into_response(self) -> Response {
        json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the relay's audio encoder failed",
        )
    }
}

fn content_type(format: AudioFormat, container: Container) -> &'static str {
    use voxwire_core::Encoding::*;
    match (container, format.encoding) {
        (Container::Mp3, _) => "audio/mpeg",
        (Container::Wav, _) => "audio/wav",
        (Container::Raw, PcmS16le) => "audio/pcm",
        (Container::Raw, Mulaw) => "audio/basic",
        (Container::Raw, Alaw) => "audio/x-alaw-basic",
    }
}

/// The longest a REST request waits for its credential's rate before it is
/// refused with 429 and `Retry-After`.
const MAX_RATE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes a turn under the credential's rate, waiting for it (limits delay);
/// `Err` with the wait left when it would take longer than [`MAX_RATE_WAIT`].
async fn take_turn(state: &AppState, principal: &str) -> Result<(), std::time::Duration> {
    let give_up = tokio::time::Instant::now() + MAX_RATE_WAIT;
    let mut delayed = false;
    loop {
        match state.take_rate(principal).await {
            Ok(()) => return Ok(()),
            Err(wait) if tokio::time::Instant::now() + wait <= give_up => {
                if !delayed {
                    delayed = true;
                    state
                        .metrics
                        .utterance_delayed("token_utterances_per_second");
                }
                tokio::time::sleep(wait).await;
            }
            Err(wait) => return Err(wait),
        }
    }
}
