//! `POST {base}/tts`: one request, the audio streamed back in the body.

use voxwire_core::{AudioStream, Phase, Result};
use voxwire_transport::body::BodyReader;
use voxwire_transport::chunker::Chunker;
use voxwire_transport::stream::spawn_stream;
use voxwire_transport::{errors, http};

use crate::protocol::RestRequest;
use crate::settings::Resolved;
use crate::PROVIDER_ID;

pub(crate) async fn synthesize(
    client: &reqwest::Client,
    r: &Resolved,
    body: RestRequest,
    mut chunker: Chunker,
    frame_bytes: usize,
) -> Result<AudioStream> {
    let url = r.rest_url.clone();
    let auth = bearer(r)?;
    let send = client
        .post(&url)
        .header("authorization", auth)
        .json(&body)
        .send();
    let response = tokio::time::timeout(r.first_audio_timeout, send)
        .await
        .map_err(|_| {
            errors::timeout(
                PROVIDER_ID,
                &url,
                Phase::Upgrade,
                "no HTTP answer",
                r.first_audio_timeout,
            )
        })?
        .map_err(|e| {
            if e.is_timeout() {
                errors::timeout(
                    PROVIDER_ID,
                    &url,
                    Phase::Connect,
                    "no connection",
                    r.connect_timeout,
                )
            } else {
                // reqwest's Display includes the URL (never the key: it travels in a header).
                errors::connect_error(PROVIDER_ID, &url, e).scrub(&r.key)
            }
        })?;
    if !response.status().is_success() {
        return Err(refused(response, &url, r).await);
    }
    let mut reader = BodyReader::new(
        response,
        frame_bytes,
        r.first_audio_timeout,
        r.inactivity_timeout,
        PROVIDER_ID,
        &url,
        r.key.clone(),
    );
    Ok(spawn_stream(move |out| async move {
        loop {
            match reader.next().await {
                Ok(Some(bytes)) => {
                    if !out.forward(chunker.push(bytes)).await {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.send(Err(e)).await;
                    return;
                }
            }
        }
        out.forward(chunker.finish(&url)).await;
    }))
}

/// `Authorization: Bearer <key>`, marked sensitive.
pub(crate) fn bearer(r: &Resolved) -> Result<reqwest::header::HeaderValue> {
    http::sensitive(
        PROVIDER_ID,
        &voxwire_core::Secret::new(format!("Bearer {}", r.key.expose())),
    )
}

/// A refused REST call (synthesis or voices) as a classified, scoped, scrubbed error.
pub(crate) async fn refused(
    response: reqwest::Response,
    url: &str,
    r: &Resolved,
) -> voxwire_core::TtsError {
    let e = http::error_from_response(
        PROVIDER_ID,
        response,
        Phase::Upgrade,
        url,
        r.inactivity_timeout,
        &r.key,
        |s| crate::dialect::hint(s, false),
    )
    .await;
    crate::dialect::scoped(e)
}
