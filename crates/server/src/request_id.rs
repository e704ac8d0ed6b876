//! `x-request-id` on every response of the fronts (as OpenAI sends it), and
//! in the relay's log line for the request, so a client's report can be found
//! in the operator's log.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The response header.
pub(crate) const HEADER: &str = "x-request-id";

/// A fresh id: `req_` and 32 random hex digits (a counter if the OS has no
/// randomness to give, which never happens on a working system).
fn fresh() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    match crate::random::random_hex(16) {
        Ok(hex) => format!("req_{}", hex.expose()),
        Err(_) => format!("req_{:032x}", FALLBACK.fetch_add(1, Ordering::Relaxed)),
    }
}

/// Middleware: runs the request in a span carrying its id (the engine's logs
/// for it inherit it), logs one line when the response head is ready, and
/// sets `x-request-id` on the response.
pub(crate) async fn tag(request: Request, next: Next) -> Response {
    let id = fresh();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            request_id = %id,
            %method,
            path,
            status = response.status().as_u16(),
            "request answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_fresh_and_shaped_like_openais() {
        let (a, b) = (super::fresh(), super::fresh());
        assert_ne!(a, b);
        assert!(a.starts_with("req_") && a.len() == 36, "{a}");
    }
}
