//! Reading a streamed HTTP body: each piece within a deadline (first byte,
//! then between pieces), cut to whole frames with the odd bytes carried over
//! (chunk boundaries on the wire are arbitrary, not sample-aligned).

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use voxwire_core::{Phase, Result, Secret};

use crate::errors;

type Pieces = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, reqwest::Error>> + Send>>;

/// A streamed body yielding whole frames of `frame_bytes`.
pub struct BodyReader {
    body: Pieces,
    frame_bytes: usize,
    carry: BytesMut,
    first_timeout: Duration,
    inactivity_timeout: Duration,
    got_bytes: bool,
    provider: &'static str,
    endpoint: String,
    secret: Secret,
}

impl BodyReader {
    /// Reads `response`'s body; errors name `provider` and `endpoint`, with `secret` scrubbed.
    pub fn new(
        response: reqwest::Response,
        frame_bytes: usize,
        first_timeout: Duration,
        inactivity_timeout: Duration,
        provider: &'static str,
        endpoint: &str,
        secret: Secret,
    ) -> Self {
        Self::from_stream(
            Box::pin(response.bytes_stream()),
            frame_bytes,
            first_timeout,
            inactivity_timeout,
            provider,
            endpoint,
            secret,
        )
    }

    /// Reads any stream of body pieces (for tests and other HTTP clients).
    pub fn from_stream(
        body: Pieces,
        frame_bytes: usize,
        first_timeout: Duration,
        inactivity_timeout: Duration,
        provider: &'static str,
        endpoint: &str,
        secret: Secret,
    ) -> Self {
        Self {
            body,
            frame_bytes: frame_bytes.max(1),
            carry: BytesMut::new(),
            first_timeout,
            inactivity_timeout,
            got_bytes: false,
            provider,
            endpoint: endpoint.to_string(),
            secret,
        }
    }

    /// The next whole frames (never empty), `None` at the end of the body.
    ///
    /// A body that ends with a partial frame is a `Protocol` error; a body
    /// that stalls past its deadline is a `Timeout`; a broken one `Unavailable`.
    pub async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            let limit = if self.got_bytes {
                self.inactivity_timeout
            } else {
                self.first_timeout
            };
            let piece = tokio::time::timeout(limit, self.body.next())
                .await
                .map_err(|_| {
                    let what = if self.got_bytes {
                        "no more data"
                    } else {
                        "no data"
                    };
                    errors::timeout(self.provider, &self.endpoint, Phase::Receive, what, limit)
                })?;
            match piece {
                None if self.carry.is_empty() => return Ok(None),
                None => {
                    return Err(errors::protocol(
                        self.provider,
                        &self.endpoint,
                        format!(
                            "the body ended inside a frame ({} odd bytes)",
                            self.carry.len()
                        ),
                    ))
                }
                Some(Err(e)) => {
                    return Err(errors::closed_mid_stream(self.provider, &self.endpoint, e)
                        .scrub(&self.secret))
                }
                Some(Ok(bytes)) if bytes.is_empty() => continue,
                Some(Ok(bytes)) => {
                    self.got_bytes = true;
                    if let Some(whole) = self.align(bytes) {
                        return Ok(Some(whole));
                    }
                }
            }
        }
    }

    /// Whether any byte arrived yet.
    pub fn got_bytes(&self) -> bool {
        self.got_bytes
    }

    fn align(&mut self, bytes: Bytes) -> Option<Bytes> {
        if self.carry.is_empty() && bytes.len() % self.frame_bytes == 0 {
            return Some(bytes); // the common case: no copy
        }
        self.carry.extend_from_slice(&bytes);
        let whole = self.carry.len() - self.carry.len() % self.frame_bytes;
        (whole > 0).then(|| self.carry.split_to(whole).freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(pieces: Vec<&'static [u8]>, frame: usize) -> BodyReader {
        let s = futures::stream::iter(pieces.into_iter().map(|p| Ok(Bytes::from_static(p))));
        BodyReader::from_stream(
            Box::pin(s),
            frame,
            Duration::from_secs(1),
            Duration::from_secs(1),
            "toy",
            "http://h",
            Secret::new("k"),
        )
    }

    #[tokio::test]
    async fn odd_bytes_are_carried_to_the_next_piece() {
        let mut r = reader(vec![b"a", b"bc", b"", b"d", b"ef"], 2);
        let mut got = Vec::new();
        while let Some(b) = r.next().await.unwrap() {
            assert_eq!(b.len() % 2, 0);
            got.extend_from_slice(&b);
        }
        assert_eq!(got, b"abcdef");
    }

    #[tokio::test]
    async fn a_body_ending_inside_a_frame_is_a_protocol_error() {
        let mut r = reader(vec![b"abc"], 2);
        assert_eq!(r.next().await.unwrap().as_deref(), Some(&b"ab"[..]));
        let e = r.next().await.unwrap_err();
        assert_eq!(e.kind(), voxwire_core::ErrorKind::Protocol);
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let s = futures::stream::pending();
        let mut r = BodyReader::from_stream(
            Box::pin(s),
            2,
            Duration::from_millis(20),
            Duration::from_millis(20),
            "toy",
            "http://h",
            Secret::new("k"),
        );
        assert_eq!(
            r.next().await.unwrap_err().kind(),
            voxwire_core::ErrorKind::Timeout
        );
    }
}
