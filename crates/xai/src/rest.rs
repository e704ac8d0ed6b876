//! `POST {base}/tts`: one request, the audio streamed back in the body.

use futures::StreamExt;
use voxwire_core::{AudioStream, Phase, Result, TtsError};

use crate::chunker::Chunker;
use crate::errors;
use crate::generator::spawn_stream;
use crate::protocol::RestRequest;
use crate::settings::Resolved;

/// Most bytes of an error body read for the message.
const ERROR_BODY_LIMIT: usize = 4 * 1024;

pub(crate) async fn synthesize(
    client: &reqwest::Client,
    r: &Resolved,
    body: RestRequest,
    mut chunker: Chunker,
) -> Result<AudioStream> {
    let url = r.rest_url.clone();
    let send = client
        .post(&url)
        .bearer_auth(r.key.expose())
        .json(&body)
        .send();
    let response = tokio::time::timeout(r.first_audio_timeout, send)
        .await
        .map_err(|_| {
            errors::timeout(
                &url,
                Phase::Upgrade,
                "no HTTP answer",
                r.first_audio_timeout,
            )
        })?
        .map_err(|e| request_error(&url, &e))?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_limited(response, r).await;
        return Err(errors::http_error(
            status,
            Phase::Upgrade,
            &url,
            &body,
            retry_after.as_deref(),
            false,
        )
        .scrub(&r.key));
    }
    let first_timeout = r.first_audio_timeout;
    let inactivity = r.inactivity_timeout;
    let key = r.key.clone();
    let mut body = response.bytes_stream();
    Ok(spawn_stream(move |out| async move {
        let mut got_audio = false;
        loop {
            let limit = if got_audio { inactivity } else { first_timeout };
            let next = match tokio::time::timeout(limit, body.next()).await {
                Ok(n) => n,
                Err(_) => {
                    let what = if got_audio {
                        "no more audio"
                    } else {
                        "no audio"
                    };
                    out.send(Err(errors::timeout(&url, Phase::Receive, what, limit)))
                        .await;
                    return;
                }
            };
            let bytes = match next {
                Some(Ok(bytes)) => bytes,
                Some(Err(e)) => {
                    out.send(Err(errors::closed_mid_stream(&url, e).scrub(&key)))
                        .await;
                    return;
                }
                None => break,
            };
            got_audio |= !bytes.is_empty();
            match chunker.push(bytes) {
                Ok(Some(chunk)) => {
                    if !out.send(Ok(chunk)).await {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    out.send(Err(e.or_provider(crate::PROVIDER_ID))).await;
                    return;
                }
            }
        }
        let last = if chunker.bytes_in() == 0 {
            Err(errors::no_audio(&url))
        } else {
            match chunker.finish() {
                Ok(None) => return,
                Ok(Some(chunk)) => Ok(chunk),
                Err(e) => Err(e.or_provider(crate::PROVIDER_ID)),
            }
        };
        out.send(last).await;
    }))
}

fn request_error(url: &str, e: &reqwest::Error) -> TtsError {
    if e.is_timeout() {
        return errors::timeout(
            url,
            Phase::Connect,
            "no connection",
            std::time::Duration::ZERO,
        );
    }
    // reqwest's Display includes the URL (never the key: it travels in a header).
    errors::connect_error(url, e)
}

async fn read_limited(mut response: reqwest::Response, r: &Resolved) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(r.inactivity_timeout, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    body
}
