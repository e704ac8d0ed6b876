//! The loopback harness every mock runs on: bind `127.0.0.1:0`, serve an axum
//! router on an owned task, stop it on [`LoopbackServer::shutdown`] or drop.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::fault::{Rejection, UtteranceEffects};

/// How long [`LoopbackServer::shutdown`] waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound loopback listener, before it serves: its address and stop signal
/// are known first so the handlers' state can hold them.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Loopback {
    /// Binds `127.0.0.1` at an ephemeral port.
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            addr,
            stop: watch::channel(false).0,
        })
    }

    /// The address it is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Becomes `true` when the server stops; handlers end their waits on it.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Serves `app` (TCP_NODELAY, so 1-byte frames do not wait for Nagle) on
    /// an owned task until shutdown; `name` labels the logs.
    pub fn serve(self, app: Router, name: &'static str) -> LoopbackServer {
        let listener = self.listener.tap_io(move |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, mock = name, "cannot set TCP_NODELAY");
            }
        });
        let mut stopped = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, mock = name, "mock server stopped with an error");
            }
        });
        tracing::debug!(addr = %self.addr, mock = name, "mock listening");
        LoopbackServer {
            addr: self.addr,
            stop: self.stop,
            task: Some(task),
        }
    }
}

/// A running loopback server; dropping it stops the server.
#[derive(Debug)]
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits (at most [`SHUTDOWN_GRACE`]) for open
    /// connections to finish; then aborts the task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A response of `status` with a JSON `body` (`Content-Type: application/json`):
/// every vendor's error answers and JSON endpoints.
pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The HTTP response for a scripted [`Rejection`]: its status, body (JSON
/// content type when it parses as JSON), `Retry-After` and extra headers.
pub fn rejection_response(r: &Rejection) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if serde_json::from_str::<serde_json::Value>(&r.body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = (status, r.body.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(secs) = r.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    for (name, value) in &r.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A streamed HTTP body of `audio` in pieces of `chunk` bytes, misbehaving per
/// `fx`: no audio at all (`zero_audio`), a pause once `stall.0` bytes were sent
/// (`0`: before the first), a cut once `close.0` bytes were sent, a pause
/// between pieces (`drip`). The body of every mock's streamed REST answer.
pub fn streamed_audio(audio: Vec<u8>, fx: &UtteranceEffects, chunk: usize) -> Body {
    let audio = if fx.zero_audio {
        bytes::Bytes::new()
    } else {
        bytes::Bytes::from(audio)
    };
    let chunk = chunk.max(1);
    let cut = fx.close.map(|(after, _)| after);
    let stall = fx.stall;
    let drip = fx.drip.unwrap_or(Duration::ZERO);
    let pieces = futures::stream::unfold(0usize, move |at| {
        let audio = audio.clone();
        async move {
            if at >= audio.len() {
                return None;
            }
            if let Some((after, pause)) = stall {
                if at >= after && at < after + chunk {
                    tokio::time::sleep(pause).await;
                }
            }
            if cut.is_some_and(|c| at >= c) {
                return Some((Err(std::io::Error::other("cut (mock fault)")), usize::MAX));
            }
            if !drip.is_zero() && at > 0 {
                tokio::time::sleep(drip).await;
            }
            let end = (at + chunk).min(audio.len());
            Some((Ok::<_, std::io::Error>(audio.slice(at..end)), end))
        }
    });
    Body::from_stream(pieces)
}
