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
        .map_err(|e| request_error(&url, &e, r.connect_timeout))?;
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
        loop {
            let limit = if chunker.got_audio() {
                inactivity
            } else {
                first_timeout
            };
            let next = match tokio::time::timeout(limit, body.next()).await {
                Ok(n) => n,
                Err(_) => {
                    let what = if chunker.got_audio() {
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
            if !out.forward(chunker.push(bytes)).await {
                return;
            }
        }
        out.forward(chunker.finish(&url)).await;
    }))
}

fn request_error(url: &str, e: &reqwest::Error, connect_limit: std::time::Duration) -> TtsError {
    if e.is_timeout() {
        return errors::timeout(url, Phase::Connect, "no connection", connect_limit);
    }
    // reqwest's Display includes the URL (never the key: it travels in a header).
    errors::connect_error(url, e)
}

/// At most a few KiB of an error answer's body, each read bounded in time.
pub(crate) async fn read_limited(mut response: reqwest::Response, r: &Resolved) -> Vec<u8> {
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
