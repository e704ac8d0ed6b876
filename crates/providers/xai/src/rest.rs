//! `POST {base}/tts`: one request, the audio streamed back in the body.

use voxwire_core::{AudioStream, Phase, Result};
use voxwire_transport::chunker::Chunker;
use voxwire_transport::http;
use voxwire_transport::stream::stream_body;

use crate::protocol::RestRequest;
use crate::settings::Resolved;
use crate::PROVIDER_ID;

pub(crate) async fn synthesize(
    client: &reqwest::Client,
    r: &Resolved,
    body: RestRequest,
    chunker: Chunker,
    frame_bytes: usize,
) -> Result<AudioStream> {
    let request = client
        .post(&r.rest_url)
        .header("authorization", bearer(r)?)
        .json(&body);
    let reader = http::post_streamed(request, &r.streamed_post(PROVIDER_ID, frame_bytes), |s| {
        crate::dialect::hint(s, false)
    })
    .await
    .map_err(crate::dialect::scoped)?;
    Ok(stream_body(reader, chunker, r.rest_url.clone()))
}

/// `Authorization: Bearer <key>`, marked sensitive.
pub(crate) fn bearer(r: &Resolved) -> Result<reqwest::header::HeaderValue> {
    http::authorization(PROVIDER_ID, "Bearer", &r.key)
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
