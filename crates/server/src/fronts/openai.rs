//! OpenAI's speech API in front of the session engine: `POST /v1/audio/speech`
//! (audio streamed as it is produced: raw 24 kHz PCM, a streaming WAV, or SSE
//! `speech.audio.delta` events; `mp3`, `opus` in Ogg and `flac` encoded here, one
//! encoder per response, see [`crate::encode`]) and `GET /v1/models`.
//!
//! A request is a one-utterance session of the engine, so limits, timers,
//! backpressure (a client that stops reading the body is dropped after
//! `client_send_timeout_ms`), shutdown, failover and metrics are the engine's.
//! `model` picks the router (`[server.openai] models`), `voice` maps to a
//! voice id of the chain (`[server.openai] voices`). Errors are OpenAI's JSON
//! shape with the relay's safe messages; the key is the relay token (Bearer).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;
use voxwire_core::{AudioFormat, ErrorKind, StreamConfig};

use voxwire_openai::wire::{self, VoiceParam};

use crate::access;
use crate::encode::{Encoder, OutputFormat};
use crate::engine::{self, Input, Output, SessionSpec};
use crate::errors::ClientError;
use crate::state::{AppState, Refused, Sessions};
use crate::task::AbortOnDrop;

/// The rate the chain is asked for (and of `pcm`, `wav`, `mp3` and the Opus
/// input): OpenAI's speech API has no rate parameter and serves 24 kHz.
const SAMPLE_RATE: u32 = wire::PCM_RATE;

/// How the audio leaves: in `format`, as the body or in SSE deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    format: OutputFormat,
    sse: bool,
}

/// An OpenAI-shaped error ([`wire::ErrorBody`]) with its status.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    body: wire::ErrorBody,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(self.body.to_json())).into_response()
    }
}

fn openai_error(
    status: StatusCode,
    message: &str,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
) -> Refusal {
    Refusal {
        status,
        body: wire::ErrorBody {
            message: Some(message.to_string()),
            kind: Some(kind.to_string()),
            param: param.map(str::to_string),
            code: code.map(str::to_string),
        },
    }
}

/// A 400 `invalid_request_error` about `param`.
fn invalid(message: &str, param: &'static str) -> Refusal {
    openai_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        Some(param),
        None,
    )
}

/// The status and OpenAI error type for a safe client error before any audio.
fn status_of(error: &ClientError) -> (StatusCode, &'static str) {
    match error.kind {
        ErrorKind::InvalidInput | ErrorKind::InvalidRequest => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "server_error"),
        _ => (StatusCode::BAD_GATEWAY, "server_error"),
    }
}

/// A router failure before any audio, as OpenAI's error (kind in `code`).
fn client_error(state: &AppState, error: &ClientError) -> Refusal {
    let (status, kind) = status_of(error);
    state.metrics.client_error(error.kind);
    openai_error(
        status,
        &error.message(),
        kind,
        None,
        Some(error.kind.as_str()),
    )
}

/// `GET /v1/models`: the configured models, as OpenAI's list.
pub(crate) async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = access::authenticate(&state, &headers, None) {
        state.metrics.auth_rejected(denied.reason);
        return denied_response(denied).into_response();
    }
    let data: Vec<_> = state
        .openai_models
        .keys()
        .map(|id| serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": "voxwire" }))
        .collect();
    Json(serde_json::json!({ "object": "list", "data": data })).into_response()
}

fn denied_response(denied: access::Denied) -> Refusal {
    let code = match denied.status {
        StatusCode::UNAUTHORIZED => Some("invalid_api_key"),
        _ => None,
    };
    openai_error(
        denied.status,
        &denied.message,
        "invalid_request_error",
        None,
        code,
    )
}

/// What the request asks for, validated.
struct Asked {
    router: voxwire_router::Router,
    text: String,
    voice: Option<String>,
    speed: Option<f32>,
    shape: Shape,
}

/// Checks the body against OpenAI's rules and the relay's configuration.
fn validate(state: &AppState, body: wire::SpeechRequest) -> Result<Asked, Refusal> {
    let Some(router) = state.openai_models.get(&body.model).cloned() else {
        let served: Vec<&str> = state.openai_models.keys().map(String::as_str).collect();
        return Err(openai_error(
            StatusCode::NOT_FOUND,
            &format!(
                "The model `{}` does not exist on this relay; it serves: {}",
                crate::errors::printable(&body.model),
                served.join(", ")
            ),
            "invalid_request_error",
            Some("model"),
            Some("model_not_found"),
        ));
    };
    let chars = body.input.chars().count();
    if body.input.trim().is_empty() {
        return Err(invalid("`input` is empty: send the text to speak", "input"));
    }
    let limit = wire::MAX_INPUT_CHARS.min(state.settings.max_utterance_chars);
    if chars > limit {
        state.metrics.limit_breached("max_utterance_chars");
        return Err(invalid(
            &format!("`input` is {chars} characters; at most {limit} are accepted"),
            "input",
        ));
    }
    if body
        .instructions
        .as_ref()
        .is_some_and(|i| i.chars().count() > wire::MAX_INPUT_CHARS)
    {
        return Err(invalid(
            "`instructions` is over 4096 characters",
            "instructions",
        ));
    }
    if let Some(speed) = body.speed {
        let (slowest, fastest) = wire::SPEED_RANGE;
        if !(slowest..=fastest).contains(&speed) {
            return Err(invalid("`speed` must be between 0.25 and 4.0", "speed"));
        }
    }
    let name = body.response_format.as_str();
    let format = match OutputFormat::parse(name) {
        Some(format) if format.is_served() => format,
        Some(format) => {
            return Err(invalid(
                &format!(
                    "response_format `{}` is not served by this relay (no encoder for it in this build); it serves {}",
                    format.name(),
                    OutputFormat::served_names()
                ),
                "response_format",
            ))
        }
        None => {
            return Err(invalid(
                &format!(
                    "response_format `{}` is not one of mp3, opus, aac, flac, wav, pcm",
                    crate::errors::printable(name)
                ),
                "response_format",
            ))
        }
    };
    let sse = match body.stream_format.as_deref().unwrap_or("audio") {
        "audio" => false,
        "sse" => true,
        other => {
            return Err(invalid(
                &format!(
                    "stream_format `{}` is not one of audio, sse",
                    crate::errors::printable(other)
                ),
                "stream_format",
            ))
        }
    };
    let shape = Shape { format, sse };
    let voice = voice_for(&state.settings.openai.voices, body.voice)?;
    Ok(Asked {
        router,
        text: body.input,
        voice,
        speed: body.speed,
        shape,
    })
}

/// The voice id asked of the chain for OpenAI's `voice`.
fn voice_for(
    table: &std::collections::BTreeMap<String, String>,
    voice: VoiceParam,
) -> Result<Option<String>, Refusal> {
    match voice {
        VoiceParam::Custom { id } => Ok(Some(id)),
        // Without a `voices` table OpenAI's built-in names ask for the
        // entry's default voice rather than a voice id no other vendor knows.
        VoiceParam::Name(name) if table.is_empty() => {
            if wire::VOICES.iter().any(|v| v.eq_ignore_ascii_case(&name)) {
                Ok(None)
            } else {
                Ok(Some(name))
            }
        }
        VoiceParam::Name(name) => match table.iter().find(|(k, _)| k.eq_ignore_ascii_case(&name)) {
            Some((_, id)) => Ok(Some(id.clone())),
            None => {
                let served: Vec<&str> = table.keys().map(String::as_str).collect();
                Err(invalid(
                    &format!(
                        "voice `{}` is not served by this relay; it serves: {}",
                        crate::errors::printable(&name),
                        served.join(", ")
                    ),
                    "voice",
                ))
            }
        },
    }
}

/// `POST /v1/audio/speech`.
pub(crate) async fn speech(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match speak(state, headers, body).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn speak(state: Arc<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, Refusal> {
    let principal = match access::authenticate(&state, &headers, None) {
        Ok(p) => p,
        Err(denied) => {
            state.metrics.auth_rejected(denied.reason);
            return Err(denied_response(denied));
        }
    };
    if body.len() > state.settings.max_message_bytes {
        state.metrics.limit_breached("max_message_bytes");
        return Err(openai_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
            "invalid_request_error",
            None,
            None,
        ));
    }
    let body: wire::SpeechRequest = serde_json::from_slice(&body).map_err(|e| {
        invalid(
            &format!(
                "bad request body: {}",
                crate::errors::printable(&e.to_string())
            ),
            "body",
        )
    })?;
    let asked = validate(&state, body)?;
    if *state.shutdown.borrow() {
        return Err(openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay is shutting down",
            "server_error",
            None,
            None,
        ));
    }
    let slot = match Sessions::open(&state, &principal.key).await {
        Ok(slot) => slot,
        Err(Refused::Total) => {
            state.metrics.limit_breached("max_sessions");
            return Err(openai_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay is at its session limit",
                "server_error",
                None,
                None,
            ));
        }
        Err(Refused::PerPrincipal) => {
            state.metrics.limit_breached("max_sessions_per_token");
            return Err(openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many concurrent requests for this credential",
                "rate_limit_error",
                None,
                None,
            ));
        }
        Err(Refused::SharedDown) => {
            state.metrics.limit_breached("shared_state_down");
            return Err(openai_error(
                StatusCode::SERVICE_UNAVAILABLE,
                crate::fronts::xai_ws::SHARED_DOWN,
                "server_error",
                None,
                None,
            ));
        }
    };
    let spec = SessionSpec {
        router: asked.router,
        stream: StreamConfig {
            voice: asked.voice,
            language: None,
            format: Some(AudioFormat::pcm16_mono(SAMPLE_RATE)),
            speed: asked.speed,
            extensions: Default::default(),
        },
        timestamps: false,
        principal: principal.key,
        credential: principal.kind,
    };
    let (outbox, mut outputs) = engine::outbox(state.settings.client_queue_frames);
    // The utterance, then an input that stays open until the body is done or
    // dropped (a client that hangs up ends the session and its upstream).
    let (finished, ended) = oneshot::channel::<()>();
    let inputs = futures::stream::iter([Input::Delta(asked.text), Input::Done])
        .chain(futures::stream::once(async move {
            let _ = ended.await;
            Input::Closed
        }))
        .boxed();
    // The engine's logs for this request carry its id (the request's span).
    let session = AbortOnDrop(tokio::spawn(
        {
            let state = state.clone();
            async move {
                let _slot = slot;
                engine::run(state, spec, inputs, outbox).await;
            }
        }
        .instrument(tracing::Span::current()),
    ));
    // Wait for the first audio so a failure before it is still an HTTP error.
    let first = loop {
        match outputs.recv().await {
            Some(Output::Audio { chunk, .. }) => break chunk.data,
            Some(Output::Error(error)) => return Err(client_error(&state, &error)),
            Some(Output::Done) | Some(Output::Close { .. }) | None => {
                return Err(openai_error(
                    StatusCode::BAD_GATEWAY,
                    "no audio was produced",
                    "server_error",
                    None,
                    Some(ErrorKind::NoAudio.as_str()),
                ))
            }
            Some(_) => {} // serving / failover notes: the engine logs and counts them
        }
    };
    let encoder = Encoder::new(asked.shape.format, SAMPLE_RATE).map_err(|e| {
        tracing::error!(error = %e, "OpenAI front: no encoder");
        openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the relay could not start its audio encoder",
            "server_error",
            None,
            None,
        )
    })?;
    let content_type = content_type(asked.shape);
    let body = Body::from_stream(body_stream(
        asked.shape,
        encoder,
        first,
        outputs,
        finished,
        session,
    ));
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn content_type(shape: Shape) -> &'static str {
    if shape.sse {
        "text/event-stream"
    } else {
        shape.format.content_type()
    }
}

/// What the body stream holds between chunks.
struct Flow {
    shape: Shape,
    /// The response's one encoder (`mp3`, `opus`), fed by whichever chain
    /// entry speaks, so a failover mid-response keeps one valid stream.
    encoder: Option<Encoder>,
    outputs: mpsc::Receiver<Output>,
    /// Told (or dropped) when the body ends: the engine then ends the session.
    finished: Option<oneshot::Sender<()>>,
    /// The engine task of the request, aborted if the body is dropped first.
    _session: AbortOnDrop,
    over: bool,
}

impl Flow {
    /// PCM from the chain as the bytes of the body's format (empty while an
    /// encoder holds less than a frame).
    fn encode(&mut self, pcm: Bytes) -> Result<Bytes, std::io::Error> {
        let bytes = match self.encoder.as_mut() {
            Some(encoder) => Bytes::from(encoder.push(&pcm).map_err(encode_failed)?),
            None => pcm,
        };
        Ok(self.frame(bytes))
    }

    /// The body's bytes as they leave: as they are, or one SSE delta.
    fn frame(&self, bytes: Bytes) -> Bytes {
        if self.shape.sse && !bytes.is_empty() {
            Bytes::from(sse_delta(&bytes))
        } else {
            bytes
        }
    }
}

fn encode_failed(error: crate::encode::EncodeError) -> std::io::Error {
    tracing::error!(%error, "OpenAI front: the encoder failed");
    std::io::Error::other("the audio encoder failed")
}

/// The body: the first chunk (after a WAV header when asked), then every
/// chunk as the engine produces it, each encoded (and flushed) as it comes
/// when the format is compressed, ended by `Done`; a failure after audio
/// cuts a raw body short (the client sees an incomplete response) and is an
/// `error` event in SSE.
fn body_stream(
    shape: Shape,
    encoder: Option<Encoder>,
    first: Bytes,
    outputs: mpsc::Receiver<Output>,
    finished: oneshot::Sender<()>,
    session: AbortOnDrop,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let mut flow = Flow {
        shape,
        encoder,
        outputs,
        finished: Some(finished),
        _session: session,
        over: false,
    };
    let head = match shape.format {
        OutputFormat::Wav => Ok(flow.frame(Bytes::from(
            [
                voxwire_core::audio::wav::streaming_header(AudioFormat::pcm16_mono(SAMPLE_RATE))
                    .to_vec(),
                first.to_vec(),
            ]
            .concat(),
        ))),
        _ => flow.encode(first),
    };
    if head.is_err() {
        flow.over = true;
    }
    futures::stream::once(async move { head }).chain(futures::stream::unfold(
        flow,
        |mut flow| async move {
            if flow.over {
                return None;
            }
            loop {
                match flow.outputs.recv().await {
                    Some(Output::Audio { chunk, .. }) => {
                        let bytes = flow.encode(chunk.data);
                        if bytes.as_ref().is_ok_and(Bytes::is_empty) {
                            continue;
                        }
                        flow.over = bytes.is_err();
                        return Some((bytes, flow));
                    }
                    Some(Output::Done) => {
                        flow.over = true;
                        if let Some(tell) = flow.finished.take() {
                            let _ = tell.send(());
                        }
                        let tail = match flow.encoder.as_mut().map(Encoder::finish) {
                            Some(Ok(tail)) => flow.frame(Bytes::from(tail)),
                            Some(Err(e)) => return Some((Err(encode_failed(e)), flow)),
                            None => Bytes::new(),
                        };
                        let done: &[u8] = if flow.shape.sse {
                            b"data: {\"type\":\"speech.audio.done\"}\n\n"
                        } else {
                            b""
                        };
                        let end = [&tail[..], done].concat();
                        return (!end.is_empty()).then(|| (Ok(Bytes::from(end)), flow));
                    }
                    Some(Output::Error(error)) => {
                        flow.over = true;
                        tracing::info!(
                            kind = error.kind.as_str(),
                            "OpenAI front: the speech failed after audio was sent"
                        );
                        return if flow.shape.sse {
                            Some((Ok(Bytes::from(sse_error(&error))), flow))
                        } else {
                            Some((
                                Err(std::io::Error::other("the speech failed mid-stream")),
                                flow,
                            ))
                        };
                    }
                    Some(Output::Close { .. }) | None => {
                        flow.over = true;
                        return Some((
                            Err(std::io::Error::other("the session ended before audio.done")),
                            flow,
                        ));
                    }
                    Some(_) => {}
                }
            }
        },
    ))
}

/// One `speech.audio.delta` event.
fn sse_delta(audio: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
    format!("data: {{\"type\":\"speech.audio.delta\",\"audio\":\"{b64}\"}}\n\n").into_bytes()
}

/// An `error` event, in OpenAI's error shape.
fn sse_error(error: &ClientError) -> Vec<u8> {
    let (_, kind) = status_of(error);
    let event = serde_json::json!({
        "type": "error",
        "error": { "message": error.message(), "type": kind, "code": error.kind.as_str() }
    });
    format!("data: {event}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_map_builtins_to_the_default_pass_others_and_honour_a_table() {
        let empty = Default::default();
        assert_eq!(
            voice_for(&empty, VoiceParam::Name("alloy".into())).ok(),
            Some(None)
        );
        assert_eq!(
            voice_for(&empty, VoiceParam::Name("eve".into())).ok(),
            Some(Some("eve".into()))
        );
        assert_eq!(
            voice_for(
                &empty,
                VoiceParam::Custom {
                    id: "voice_1".into()
                }
            )
            .ok(),
            Some(Some("voice_1".into()))
        );
        let table = [("alloy".to_string(), "ara".to_string())].into();
        assert_eq!(
            voice_for(&table, VoiceParam::Name("Alloy".into())).ok(),
            Some(Some("ara".into()))
        );
        assert!(voice_for(&table, VoiceParam::Name("nova".into())).is_err());
    }

    #[test]
    fn sse_events_are_one_data_line_each() {
        let event = String::from_utf8(sse_delta(&[1, 2, 3])).unwrap();
        assert_eq!(
            event,
            "data: {\"type\":\"speech.audio.delta\",\"audio\":\"AQID\"}\n\n"
        );
    }
}
