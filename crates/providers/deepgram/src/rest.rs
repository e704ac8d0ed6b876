//! Streamed `POST /v1/speak`: one request, raw audio (`container=none`) in a chunked body.

use voxwire_core::{AudioStream, Phase, Result, TtsError};
use voxwire_transport::body::BodyReader;
use voxwire_transport::chunker::Chunker;
use voxwire_transport::stream::spawn_stream;
use voxwire_transport::{errors, http};

use crate::dialect::{scoped, DeepgramDialect};
use crate::settings::Resolved;
use crate::PROVIDER_ID;

/// The request body.
#[derive(serde::Serialize)]
struct Body<'a> {
    text: &'a str,
}

pub(crate) async fn synthesize(
    client: &reqwest::Client,
    r: &Resolved,
    mut query: Vec<(&'static str, String)>,
    text: &str,
    mut chunker: Chunker,
    frame_bytes: usize,
) -> Result<AudioStream> {
    query.push(("container", "none".to_string()));
    let url = DeepgramDialect::url(&r.rest_url, &query)?;
    let endpoint = r.rest_url.clone();
    let auth = http::sensitive(
        PROVIDER_ID,
        &voxwire_core::Secret::new(format!("Token {}", r.key.expose())),
    )?;
    let send = client
        .post(&url)
        .header("authorization", auth)
        .json(&Body { text })
        .send();
    let response = tokio::time::timeout(r.connect_timeout + r.first_audio_timeout, send)
        .await
        .map_err(|_| {
            errors::timeout(
                PROVIDER_ID,
                &endpoint,
                Phase::Upgrade,
                "no HTTP answer",
                r.connect_timeout + r.first_audio_timeout,
            )
        })?
        .map_err(|e| {
            if e.is_timeout() {
                errors::timeout(
                    PROVIDER_ID,
                    &endpoint,
                    Phase::Connect,
                    "no connection",
                    r.connect_timeout,
                )
            } else {
                // reqwest's Display may include the URL: its query carries no secret.
                errors::connect_error(PROVIDER_ID, &endpoint, e.without_url()).scrub(&r.key)
            }
        })?;
    if !response.status().is_success() {
        return Err(refused(response, &endpoint, r).await);
    }
    let mut reader = BodyReader::new(
        response,
        frame_bytes,
        r.first_audio_timeout,
        r.inactivity_timeout,
        PROVIDER_ID,
        &endpoint,
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
        out.forward(chunker.finish(&endpoint)).await;
    }))
}

/// A refused REST call as a classified, scoped, scrubbed error.
pub(crate) async fn refused(response: reqwest::Response, url: &str, r: &Resolved) -> TtsError {
    let e = http::error_from_response(
        PROVIDER_ID,
        response,
        Phase::Upgrade,
        url,
        r.inactivity_timeout,
        &r.key,
        crate::dialect::hint,
    )
    .await;
    scoped(e)
}
