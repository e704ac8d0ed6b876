//! Streamed `POST /v1/speak`: one request, raw audio (`container=none`) in a chunked body.

use voxwire_core::{AudioStream, Result};
use voxwire_transport::chunker::Chunker;
use voxwire_transport::http;
use voxwire_transport::stream::stream_body;

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
    chunker: Chunker,
    frame_bytes: usize,
) -> Result<AudioStream> {
    query.push(("container", "none".to_string()));
    let url = DeepgramDialect::url(&r.rest_url, &query)?;
    let auth = http::authorization(PROVIDER_ID, "Token", &r.key)?;
    let request = client
        .post(&url)
        .header("authorization", auth)
        .json(&Body { text });
    let reader = http::post_streamed(
        request,
        &r.streamed_post(PROVIDER_ID, frame_bytes),
        crate::dialect::hint,
    )
    .await
    .map_err(scoped)?;
    Ok(stream_body(reader, chunker, r.rest_url.clone()))
}
