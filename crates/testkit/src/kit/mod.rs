//! A vendor-neutral mock-server kit: what every vendor mock needs, once.
//!
//! - [`server`]: the loopback harness (bind `127.0.0.1:0`, an owned serving
//!   task that stops on shutdown or drop) and the response for a scripted
//!   rejection;
//! - [`fault`]: fault plans, scripted per request and per utterance (HTTP
//!   status with body and `Retry-After`, close or cut after N bytes, stall,
//!   silent stop, slow drip, malformed frames, a connection deadline);
//! - [`key`]: the API-key check, wherever the vendor wants the key;
//! - [`record`]: the recorder of what clients sent (requests, headers and
//!   WebSocket messages) with the key masked;
//! - [`socket`]: an utterance's audio over a socket (frames cut at the fault
//!   thresholds, pacing, stall, close, drop, error), bounded sends and closes;
//! - [`audio`]: deterministic audio per character, for any rate and encoding,
//!   so tests compare bytes.
//!
//! A vendor mock is a small [`MockDialect`]: it turns the kit's shared state
//! ([`Kit`]: fault plan, recorder, upgrade count, stop signal) into an axum
//! router, and [`Mock::start`] serves it. [`echo::EchoMock`] is the smallest
//! one; [`crate::mock_xai::XaiDialect`] is xAI's full protocol on the same kit.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use voxwire_testkit::kit::{Kit, Mock, MockDialect, RequestKind};
//!
//! /// A vendor whose only endpoint says how many requests it has seen.
//! struct Counter;
//!
//! impl MockDialect for Counter {
//!     fn name(&self) -> &'static str {
//!         "counter"
//!     }
//!     fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
//!         Router::new().route(
//!             "/count",
//!             get(move |headers: axum::http::HeaderMap| async move {
//!                 kit.record_request(RequestKind::Other, "GET", "/count", &headers);
//!                 kit.requests().len().to_string()
//!             }),
//!         )
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let mock = Mock::start(Counter, "key").await?;
//! assert!(mock.url("/count").starts_with("http://127.0.0.1:"));
//! mock.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod audio;
pub mod echo;
pub mod fault;
pub mod key;
pub mod mux_echo;
pub mod record;
pub mod server;
pub mod socket;
pub mod steps;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Router;
use tokio::sync::watch;

pub use fault::{Due, Effects, Fault, FaultPlan, Rejection, Stall, UtteranceEffects};
pub use key::{KeyCheck, KeyPlace};
pub use record::{Masker, RecordedRequest, Recorder, RequestKind, MASK};
pub use server::{json_response, rejection_response, streamed_audio, Loopback, LoopbackServer};
pub use steps::{audio_steps, sse_event, stepped_body, stepped_body_then, Step};

/// A vendor's protocol on top of the kit: how one mock answers.
pub trait MockDialect: Send + Sync + 'static {
    /// The vendor's name, for logs.
    fn name(&self) -> &'static str;

    /// The routes (HTTP and WebSocket upgrades) this vendor serves, using
    /// `kit` for faults, recordings and counts.
    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router;
}

/// The state every dialect's handlers share: the fault plan, the recorder,
/// the upgrade count and the stop signal.
#[derive(Debug)]
pub struct Kit {
    api_key: String,
    plan: Mutex<(FaultPlan, usize)>,
    utterance_script: Mutex<std::collections::VecDeque<Fault>>,
    recorder: Recorder,
    upgrades: AtomicUsize,
    stop: watch::Receiver<bool>,
}

impl Kit {
    /// The key the mock accepts (and masks in recordings).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Takes the next fault-plan index and its fault (one per request or upgrade).
    pub fn take_fault(&self) -> (usize, Fault) {
        let mut plan = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        let index = plan.1;
        plan.1 += 1;
        (index, plan.0.fault_for(index))
    }

    /// Takes the next fault for recording `id` (its plan index stored there)
    /// and turns it into [`Effects`]; `Err` is the answer when the plan
    /// rejects the request (for a WebSocket `upgrade`, a WebSocket-only
    /// rejection too): what every speech handler does first.
    pub fn effects_for(&self, id: u64, upgrade: bool) -> Result<Effects, Box<Response>> {
        let (index, fault) = self.take_fault();
        self.recorder.update(id, |r| r.index = Some(index));
        let effects = Effects::of(&fault);
        let ws_only = effects.reject_ws.as_ref().filter(|_| upgrade);
        match effects.reject.as_ref().or(ws_only) {
            Some(rejection) => Err(Box::new(rejection_response(rejection))),
            None => Ok(effects),
        }
    }

    /// Replaces the fault plan; its indices count from the next request.
    pub fn set_fault(&self, faults: impl Into<FaultPlan>) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = (faults.into(), 0);
    }

    /// Queues faults for the next utterances, one each, in order, across
    /// connections (a socket kept open between requests sees them too); an
    /// utterance finding the queue empty follows the plan.
    pub fn script_utterances(&self, faults: impl IntoIterator<Item = Fault>) {
        self.utterance_script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(faults);
    }

    /// The effects for the next utterance of a connection: the next
    /// [`Kit::script_utterances`] fault if one is queued, else `effects`'
    /// for utterance `index`.
    pub fn utterance_effects(&self, effects: &Effects, index: usize) -> UtteranceEffects {
        let scripted = self
            .utterance_script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match scripted {
            Some(fault) => Effects::of(&fault).utterance,
            None => effects.for_utterance(index),
        }
    }

    /// A masker for a request with these headers (the configured key and any
    /// presented bearer or `xi-api-key`-style token).
    pub fn masker(&self, headers: &HeaderMap) -> Masker {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split_once(' ').map_or(v, |(_, t)| t).trim().to_string());
        Masker::new(&self.api_key, presented.as_deref())
    }

    /// Records a request (path and headers masked); returns its id for
    /// [`Kit::update`].
    pub fn record_request(
        &self,
        kind: RequestKind,
        method: &str,
        path: &str,
        headers: &HeaderMap,
    ) -> u64 {
        let masker = self.masker(headers);
        self.recorder.push(RecordedRequest {
            kind,
            index: None,
            method: method.to_string(),
            path: masker.mask(path),
            query: None,
            headers: masker.headers(headers),
            body: None,
            status: 0,
            messages: Vec::new(),
            messages_dropped: 0,
            utterances: Vec::new(),
        })
    }

    /// Records a request with its query and body too (all masked); returns
    /// its id for [`Kit::update`].
    pub fn record_http(
        &self,
        kind: RequestKind,
        method: &str,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> u64 {
        let id = self.record_request(kind, method, uri.path(), headers);
        let masker = self.masker(headers);
        let query = uri.query().map(|q| masker.mask(q));
        let body = body.map(|b| masker.mask(&String::from_utf8_lossy(b)));
        self.recorder.update(id, |r| {
            r.query = query;
            r.body = body;
        });
        id
    }

    /// Appends a client's WebSocket message (already masked) to a recording;
    /// past [`record::MAX_RECORDED_MESSAGES`] it is only counted.
    pub fn record_message(&self, id: u64, text: String) {
        self.recorder.update(id, |r| {
            if r.messages.len() < record::MAX_RECORDED_MESSAGES {
                r.messages.push(text);
            } else {
                r.messages_dropped += 1;
            }
        });
    }

    /// Stores the status of `response` in recording `id`, and returns it.
    pub fn answered(&self, id: u64, response: Response) -> Response {
        let status = response.status().as_u16();
        self.recorder.update(id, |r| r.status = status);
        response
    }

    /// Changes a recording (status, messages...).
    pub fn update(&self, id: u64, f: impl FnOnce(&mut RecordedRequest)) {
        self.recorder.update(id, f);
    }

    /// Every recording so far, oldest first, credentials masked.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.snapshot()
    }

    /// The recorder itself, for a dialect that records more than
    /// [`Kit::record_request`] does (queries, bodies, messages).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Counts an accepted WebSocket upgrade.
    pub fn count_upgrade(&self) {
        self.upgrades.fetch_add(1, Ordering::SeqCst);
    }

    /// WebSocket upgrades accepted so far.
    pub fn upgrades(&self) -> usize {
        self.upgrades.load(Ordering::SeqCst)
    }

    /// Resolves once the server is stopping; every handler's wait races it.
    pub async fn stopped(&self) {
        let mut rx = self.stop.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// A running mock of one dialect; dropping it stops the server.
#[derive(Debug)]
pub struct Mock<D> {
    kit: Arc<Kit>,
    dialect: Arc<D>,
    server: LoopbackServer,
}

impl<D: MockDialect> Mock<D> {
    /// Serves `dialect` on `127.0.0.1` at an ephemeral port, accepting `api_key`.
    pub async fn start(dialect: D, api_key: &str) -> std::io::Result<Self> {
        Self::start_with_faults(dialect, api_key, FaultPlan::none()).await
    }

    /// [`Mock::start`] with a fault plan in force from the first request.
    pub async fn start_with_faults(
        dialect: D,
        api_key: &str,
        faults: FaultPlan,
    ) -> std::io::Result<Self> {
        let loopback = Loopback::bind().await?;
        let kit = Arc::new(Kit {
            api_key: api_key.to_string(),
            plan: Mutex::new((faults, 0)),
            utterance_script: Mutex::default(),
            recorder: Recorder::default(),
            upgrades: AtomicUsize::new(0),
            stop: loopback.stop_signal(),
        });
        let dialect = Arc::new(dialect);
        let name = dialect.name();
        let app = Arc::clone(&dialect).router(Arc::clone(&kit));
        Ok(Self {
            kit,
            dialect,
            server: loopback.serve(app, name),
        })
    }

    /// [`Mock::start`], panicking with the dialect's name when no loopback
    /// port can be bound: what a vendor mock's `start` is.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn launch(dialect: D, api_key: &str, faults: FaultPlan) -> Self {
        let name = dialect.name();
        Self::start_with_faults(dialect, api_key, faults)
            .await
            .unwrap_or_else(|e| panic!("cannot bind the mock {name} server: {e}"))
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The key the mock accepts.
    pub fn api_key(&self) -> &str {
        self.kit.api_key()
    }

    /// Replaces the fault plan; its indices count from the next request.
    pub fn set_fault(&self, faults: impl Into<FaultPlan>) {
        self.kit.set_fault(faults);
    }

    /// Queues faults for the next utterances across connections (see
    /// [`Kit::script_utterances`]).
    pub fn script_utterances(&self, faults: impl IntoIterator<Item = Fault>) {
        self.kit.script_utterances(faults);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.kit.set_fault(FaultPlan::none());
    }

    /// Every request so far, oldest first, credentials masked.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.kit.requests()
    }

    /// The speech requests so far (those recorded as [`RequestKind::Rest`]).
    pub fn speech_requests(&self) -> Vec<RecordedRequest> {
        self.kit
            .requests()
            .into_iter()
            .filter(|r| r.kind == RequestKind::Rest)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.kit.recorder().clear();
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr())
    }

    /// The shared state: faults, recordings, counts.
    pub fn kit(&self) -> &Kit {
        &self.kit
    }

    /// The dialect itself (for dialect-specific switches).
    pub fn dialect(&self) -> &D {
        &self.dialect
    }

    /// Stops the server, waiting a bounded time for connections to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
