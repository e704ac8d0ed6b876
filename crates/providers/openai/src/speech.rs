//! One `POST {base}/audio/speech`: the answer's body parsed by its
//! `Content-Type` (never by what was asked) and yielded as it arrives.
//!
//! The stream's task owns the HTTP response and watches the stream: dropping
//! it (a cancel) drops the connection at once, aborting the request in flight.

use base64::Engine as _;
use bytes::Bytes;
use voxwire_core::audio::wav::WavStreamParser;
use voxwire_core::{AudioFormat, AudioStream, Result, TtsError};
use voxwire_transport::chunker::Chunker;
use voxwire_transport::sse::SseReader;
use voxwire_transport::stream::spawn_stream;
use voxwire_transport::{errors, http};

use voxwire_transport::provider::Answer;
use voxwire_transport::settings::Resolved;

use crate::wire::{ErrorBody, SseFrame};
use crate::PROVIDER_ID;

/// How an answer's body is laid out, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `text/event-stream`: `speech.audio.delta` events.
    Sse,
    /// Raw 16-bit PCM at this rate (`audio/pcm`, `audio/L16;rate=…`).
    Pcm(u32),
    /// A WAV header, then PCM.
    Wav,
    /// MPEG audio (decoded with symphonia when built with `mp3`).
    Mp3,
    /// Something voxwire cannot decode (opus, aac, flac, …): the type as sent.
    Other,
}

impl BodyKind {
    /// Reads `content_type`; `asked` (the `response_format` sent) decides only
    /// when the server sent no type or a generic binary one.
    pub fn from_content_type(content_type: Option<&str>, asked: &str, pcm_rate: u32) -> Self {
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim();
        let rate = ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("rate="))
            .find_map(|r| r.trim().parse::<u32>().ok())
            .unwrap_or(pcm_rate);
        match mime {
            "text/event-stream" => Self::Sse,
            "audio/pcm" | "audio/l16" | "audio/raw" | "audio/x-raw" => Self::Pcm(rate),
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Self::Wav,
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg" => Self::Mp3,
            "" | "application/octet-stream" | "binary/octet-stream" => Self::asked(asked, pcm_rate),
            _ => Self::Other,
        }
    }

    /// The layout `response_format` names.
    pub fn asked(format: &str, pcm_rate: u32) -> Self {
        match format.to_ascii_lowercase().as_str() {
            "pcm" => Self::Pcm(pcm_rate),
            "wav" => Self::Wav,
            "mp3" => Self::Mp3,
            _ => Self::Other,
        }
    }
}

/// The answer's body as an audio stream, read by its `Content-Type` (`asked`,
/// the `response_format` sent, decides only without one); dropping the
/// stream drops the connection.
pub(crate) fn read(a: Answer, r: &Resolved, asked: &str, pcm_rate: u32) -> Result<AudioStream> {
    let url = r.rest_url.clone();
    let content_type = http::header(a.response.headers(), "content-type");
    let kind = BodyKind::from_content_type(content_type.as_deref(), asked, pcm_rate);
    let ct = content_type.as_deref().unwrap_or("");
    tracing::debug!(
        provider = PROVIDER_ID,
        content_type = ct,
        ?kind,
        "speech answer"
    );
    let mut decoder = match kind {
        BodyKind::Sse => Decoder::Sse {
            reader: SseReader::new(),
            inner: Box::new(Decoder::audio(BodyKind::asked(asked, pcm_rate), &url, ct)?),
            done: false,
            recognised: 0,
        },
        other => Decoder::audio(other, &url, ct)?,
    };
    // From sending to the first audio byte (the reader waits at least a millisecond).
    let remaining = r.first_audio_timeout.saturating_sub(a.started.elapsed());
    let mut reader = r
        .streamed_post(PROVIDER_ID, 1)
        .body_reader(a.response, remaining);
    let (target, text) = (a.requested, a.text);
    let mut chunker: Option<Chunker> = None;
    Ok(spawn_stream(move |out| async move {
        loop {
            let next = tokio::select! {
                next = reader.next() => next,
                () = out.closed() => return, // a cancel: the connection drops now
            };
            let mut pieces = Vec::new();
            let (step, last) = match next {
                Ok(Some(bytes)) => (decoder.push(bytes, &url, &mut pieces), false),
                Ok(None) => (decoder.finish(&url, &mut pieces), true),
                Err(e) => (Err(e), true),
            };
            let mut chunks = Vec::new();
            let step = step.and_then(|()| {
                for (format, bytes) in pieces {
                    if chunker.is_none() {
                        let to = target.unwrap_or(format);
                        let mut c = Chunker::new(PROVIDER_ID, format, to, 0)?;
                        c.set_text(&text);
                        chunker = Some(c);
                    }
                    chunks.extend(
                        chunker
                            .as_mut()
                            .map(|c| c.push(bytes))
                            .transpose()?
                            .flatten(),
                    );
                }
                match (&mut chunker, last) {
                    (_, false) => Ok(()),
                    (None, true) => Err(errors::no_audio(PROVIDER_ID, &url)),
                    (Some(c), true) => c.finish(&url).map(|end| chunks.extend(end)),
                }
            });
            if let Err(e) = step {
                out.send(Err(e)).await;
                return;
            }
            for chunk in chunks {
                if !out.send(Ok(chunk)).await {
                    return;
                }
            }
            if last {
                return;
            }
        }
    }))
}

/// The parser for one body layout.
enum Decoder {
    Pcm(u32),
    Wav(WavStreamParser),
    #[cfg(feature = "mp3")]
    Mp3(crate::mp3::Mp3Decoder),
    Sse {
        reader: SseReader,
        inner: Box<Decoder>,
        done: bool,
        recognised: usize,
    },
}

/// Audio out of a decoder: bytes in `format`.
type Piece = (AudioFormat, Bytes);

impl Decoder {
    fn audio(kind: BodyKind, url: &str, content_type: &str) -> Result<Self> {
        match kind {
            BodyKind::Pcm(rate) => Ok(Self::Pcm(rate)),
            BodyKind::Wav => Ok(Self::Wav(WavStreamParser::new())),
            #[cfg(feature = "mp3")]
            BodyKind::Mp3 => Ok(Self::Mp3(crate::mp3::Mp3Decoder::new(url))),
            #[cfg(not(feature = "mp3"))]
            BodyKind::Mp3 => Err(unsupported(
                url,
                "audio/mpeg (built without the `mp3` feature)",
            )),
            BodyKind::Other | BodyKind::Sse => Err(unsupported(url, content_type)),
        }
    }

    /// Decodes the next body bytes into audio pieces (errors end the stream).
    fn push(&mut self, data: Bytes, url: &str, out: &mut Vec<Piece>) -> Result<()> {
        match self {
            Self::Pcm(rate) => out.push((AudioFormat::pcm16_mono(*rate), data)),
            Self::Wav(parser) => {
                let piece = parser
                    .push(data)
                    .map_err(|e| e.or_provider(PROVIDER_ID).with_endpoint(url))?;
                if let (Some(format), false) = (parser.format(), piece.data.is_empty()) {
                    out.push((format, piece.data));
                }
            }
            #[cfg(feature = "mp3")]
            Self::Mp3(decoder) => decoder.push(&data, out)?,
            Self::Sse {
                reader,
                inner,
                done,
                recognised,
            } => {
                let events = reader
                    .push(&data)
                    .map_err(|e| errors::protocol(PROVIDER_ID, url, e.0))?;
                for event in events {
                    if *done {
                        break;
                    }
                    sse_event(&event.data, inner, done, recognised, url, out)?;
                }
            }
        }
        Ok(())
    }

    /// The end of the body: what an unfinished layout means.
    fn finish(&mut self, url: &str, out: &mut Vec<Piece>) -> Result<()> {
        match self {
            Self::Wav(parser) if parser.format().is_none() => Err(errors::protocol(
                PROVIDER_ID,
                url,
                "the body ended inside the WAV header",
            )),
            Self::Pcm(_) | Self::Wav(_) => Ok(()),
            #[cfg(feature = "mp3")]
            Self::Mp3(decoder) => decoder.finish(out),
            Self::Sse {
                reader,
                inner,
                done,
                recognised,
            } => {
                if !*done {
                    if let Some(event) = reader
                        .finish()
                        .map_err(|e| errors::protocol(PROVIDER_ID, url, e.0))?
                    {
                        sse_event(&event.data, inner, done, recognised, url, out)?;
                    }
                }
                match (*done, *recognised) {
                    (true, _) => inner.finish(url, out),
                    (false, 0) => Err(errors::protocol(
                        PROVIDER_ID,
                        url,
                        "the answer is text/event-stream but holds no speech events",
                    )),
                    _ => Err(errors::closed_mid_stream(
                        PROVIDER_ID,
                        url,
                        "the event stream ended without speech.audio.done",
                    )),
                }
            }
        }
    }
}

/// One SSE event's data.
fn sse_event(
    data: &str,
    inner: &mut Decoder,
    done: &mut bool,
    recognised: &mut usize,
    url: &str,
    out: &mut Vec<Piece>,
) -> Result<()> {
    let data = data.trim();
    if data == "[DONE]" {
        *recognised += 1;
        *done = true;
        return Ok(());
    }
    if data.is_empty() {
        return Ok(());
    }
    let frame: SseFrame = serde_json::from_str(data).map_err(|e| {
        errors::protocol(PROVIDER_ID, url, format!("an SSE event is not JSON: {e}"))
    })?;
    if frame.kind.ends_with("error") || (frame.kind.is_empty() && frame.error.is_some()) {
        let parsed = match &frame.error {
            Some(v) => ErrorBody::parse(&serde_json::json!({ "error": v }).to_string()),
            None => ErrorBody {
                message: frame.message.clone(),
                ..ErrorBody::default()
            },
        };
        return Err(crate::errors::event_error(url, &frame.kind, data, &parsed));
    }
    match frame.kind.as_str() {
        "speech.audio.delta" => {
            *recognised += 1;
            let b64 = frame.audio.or(frame.delta).unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| {
                    errors::protocol(
                        PROVIDER_ID,
                        url,
                        format!("bad base64 in speech.audio.delta: {e}"),
                    )
                })?;
            if !bytes.is_empty() {
                inner.push(Bytes::from(bytes), url, out)?;
            }
        }
        "speech.audio.done" => {
            *recognised += 1;
            *done = true;
        }
        _ => {} // unknown event types are ignored
    }
    Ok(())
}

fn unsupported(url: &str, what: &str) -> TtsError {
    errors::protocol(
        PROVIDER_ID,
        url,
        format!("the server answered {what}, which voxwire does not decode"),
    )
    .with_hint("set response_format = \"pcm\" (or wav, mp3) in the openai chain entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_decides() {
        assert_eq!(
            BodyKind::from_content_type(Some("text/event-stream; charset=utf-8"), "pcm", 24_000),
            BodyKind::Sse
        );
        assert_eq!(
            BodyKind::from_content_type(Some("audio/pcm"), "wav", 24_000),
            BodyKind::Pcm(24_000)
        );
        assert_eq!(
            BodyKind::from_content_type(Some("audio/L16; rate=16000"), "pcm", 24_000),
            BodyKind::Pcm(16_000)
        );
        assert_eq!(
            BodyKind::from_content_type(Some("audio/mpeg"), "pcm", 24_000),
            BodyKind::Mp3
        );
        assert_eq!(
            BodyKind::from_content_type(Some("audio/wav"), "pcm", 24_000),
            BodyKind::Wav
        );
        assert_eq!(
            BodyKind::from_content_type(None, "pcm", 24_000),
            BodyKind::Pcm(24_000)
        );
        assert_eq!(
            BodyKind::from_content_type(Some("audio/ogg"), "pcm", 24_000),
            BodyKind::Other
        );
    }
}
