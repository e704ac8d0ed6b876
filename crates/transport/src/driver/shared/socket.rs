//! One shared socket: a task that owns the connection, sends what its
//! contexts ask for, and routes what the server says to the context it names.
//!
//! The task reads all the time, so a server close (a vendor's idle timeout)
//! is seen at once and the socket leaves the group before anyone picks it.
//! It never waits on a context: each route buffers what is due to it, up to
//! [`MAX_BACKLOG_BYTES`]; a context that falls further behind is failed and
//! cancelled, the others go on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;
use voxwire_core::{ErrorKind, Phase, Result, TtsError};

use crate::connect::WsConn;
use crate::dialect::{CancelPlan, Decoded, Dialect, Frame, Outgoing, Voicing};
use crate::driver::Inner;
use crate::errors;

/// Audio bytes one context may have waiting for its reader (about three
/// minutes of 24 kHz PCM): a reader further behind is failed, not waited for.
pub(crate) const MAX_BACKLOG_BYTES: usize = 8 * 1024 * 1024;

/// Commands a context may have queued for the socket at once.
const COMMAND_QUEUE: usize = 256;

/// What the socket hands a context.
#[derive(Debug)]
pub(crate) enum Routed {
    /// A decoded message naming the context.
    Message(Decoded),
    /// The socket ended (closed, broke, or a context-less error); `closed`
    /// when it was a close or a reset, not an error the vendor reported.
    Ended { error: TtsError, closed: bool },
}

/// The receiving end of a context's route, with its backlog count.
pub(crate) struct RouteRx {
    pub rx: mpsc::UnboundedReceiver<Routed>,
    pub backlog: Arc<AtomicUsize>,
}

impl RouteRx {
    /// The next routed message (`None` when the socket task is gone).
    pub async fn recv(&mut self) -> Option<Routed> {
        let routed = self.rx.recv().await?;
        if let Routed::Message(Decoded::Audio { data, .. }) = &routed {
            self.backlog.fetch_sub(data.len(), Ordering::Relaxed);
        }
        Some(routed)
    }
}

struct RouteTx {
    tx: mpsc::UnboundedSender<Routed>,
    backlog: Arc<AtomicUsize>,
}

enum Route {
    /// Someone reads this context.
    Active(RouteTx),
    /// Cancelled or abandoned: its late messages are dropped until the
    /// vendor's end for it (or the deadline), then its slot is free.
    Draining(Instant),
}

/// What a context asks of the socket.
pub(crate) enum Command {
    /// Open `context`: its route, the dialect's opening messages, then `then`.
    Open {
        context: String,
        voicing: Box<Voicing>,
        then: Vec<Outgoing>,
        route: mpsc::UnboundedSender<Routed>,
        backlog: Arc<AtomicUsize>,
        /// `Ok(true)` when it was the socket's first context.
        done: oneshot::Sender<Result<bool>>,
    },
    /// Send messages of an open context.
    Send {
        messages: Vec<Outgoing>,
        done: oneshot::Sender<Result<()>>,
    },
    /// The context's holder is done with it: `ended` when the vendor ended
    /// it (done or error), else it is cancelled on the wire.
    Release { context: String, ended: bool },
    /// Close the socket (shutdown), with the dialect's goodbye.
    Close,
}

/// The group's view of one shared socket.
pub(crate) struct SocketHandle {
    commands: mpsc::Sender<Command>,
    releases: mpsc::UnboundedSender<Command>,
    /// Contexts reserved or live on it.
    live: AtomicUsize,
    /// The task ended: never hand it out.
    dead: AtomicBool,
    /// No new contexts (too old, or a cancelled context the vendor may still count).
    retiring: AtomicBool,
    endpoint: String,
}

impl SocketHandle {
    /// Reserves a context slot if the socket is usable and has room.
    pub fn try_reserve(&self, max: usize) -> bool {
        if self.dead.load(Ordering::Acquire) || self.retiring.load(Ordering::Acquire) {
            return false;
        }
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a reservation that was never opened.
    pub fn unreserve(&self) {
        let _ = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Whether the task ended.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Contexts reserved or live.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// The endpoint, for errors.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queues a command, within `limit`.
    pub async fn command(&self, command: Command, limit: Duration) -> Result<()> {
        match tokio::time::timeout(limit, self.commands.send(command)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.gone()),
            Err(_) => Err(TtsError::new(
                ErrorKind::Timeout,
                format!(
                    "the shared socket took no command within {} ms",
                    limit.as_millis()
                ),
            )
            .with_phase(Phase::Send)
            .with_endpoint(&self.endpoint)),
        }
    }

    /// Queues a release (never waits, never lost while the task runs).
    pub fn release(&self, context: String, ended: bool) {
        let _ = self.releases.send(Command::Release { context, ended });
    }

    /// Asks the task to close the socket.
    pub fn close(&self) {
        let _ = self.releases.send(Command::Close);
    }

    /// The error for a socket whose task is gone.
    pub fn gone(&self) -> TtsError {
        TtsError::new(
            ErrorKind::Unavailable,
            "the shared connection closed before the utterance could start",
        )
        .with_phase(Phase::Send)
        .with_endpoint(&self.endpoint)
    }
}

/// Starts the task owning `conn`; `changed` is told whenever a slot frees or the socket ends.
pub(crate) fn spawn<D: Dialect>(
    inner: Arc<Inner<D>>,
    conn: WsConn,
    changed: Arc<Notify>,
) -> Arc<SocketHandle> {
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (releases, release_rx) = mpsc::unbounded_channel();
    let handle = Arc::new(SocketHandle {
        commands,
        releases,
        live: AtomicUsize::new(0),
        dead: AtomicBool::new(false),
        retiring: AtomicBool::new(false),
        endpoint: conn.endpoint().to_string(),
    });
    let task = Task {
        inner,
        conn,
        state: D::State::default(),
        routes: HashMap::new(),
        opened: 0,
        handle: handle.clone(),
        changed,
    };
    // Owned by the handle's channels: the task ends when the socket ends,
    // when it is closed, or when every handle and context is gone.
    tokio::spawn(task.run(command_rx, release_rx));
    handle
}

struct Task<D: Dialect> {
    inner: Arc<Inner<D>>,
    conn: WsConn,
    state: D::State,
    routes: HashMap<String, Route>,
    opened: u64,
    handle: Arc<SocketHandle>,
    changed: Arc<Notify>,
}

/// Why the task stops.
enum Stop {
    /// Fail every active route with this (the socket closed or broke).
    Fail(TtsError),
    /// Fail every active route with this error the vendor sent without a context id.
    Vendor(TtsError),
    /// Quietly (idle, shutdown, nobody left).
    Quiet,
}

impl<D: Dialect> Task<D> {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut releases: mpsc::UnboundedReceiver<Command>,
    ) {
        let idle_limit = self.inner.dialect.shared_idle();
        let max_age = self.inner.settings.max_connection_age;
        let mut idle_since = Some(Instant::now());
        let stop = loop {
            if self.conn.age() >= max_age {
                self.handle.retiring.store(true, Ordering::Release);
            }
            if self.routes.is_empty() && self.handle.retiring.load(Ordering::Acquire) {
                break Stop::Quiet;
            }
            let idle_due = idle_since.map(|t| t + idle_limit);
            let drain_due = self.next_drain_deadline();
            let step = tokio::select! {
                biased;
                release = releases.recv() => match release {
                    Some(command) => self.handle_command(command).await,
                    None => Err(Stop::Quiet),
                },
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command).await,
                    None => Err(Stop::Quiet),
                },
                frame = self.conn.recv(Duration::from_secs(86_400), "a message") => self.route(frame),
                () = sleep_until(drain_due), if drain_due.is_some() => {
                    self.expire_drains();
                    Ok(())
                }
                () = sleep_until(idle_due), if idle_due.is_some() => Err(Stop::Quiet),
            };
            if let Err(stop) = step {
                break stop;
            }
            idle_since = match (self.routes.is_empty(), idle_since) {
                (true, None) => Some(Instant::now()),
                (true, since) => since,
                (false, _) => None,
            };
        };
        self.handle.dead.store(true, Ordering::Release);
        self.handle.retiring.store(true, Ordering::Release);
        let stop_kind = match &stop {
            Stop::Fail(_) => StopKind::Closed,
            _ => StopKind::Other,
        };
        let secret = &self.inner.settings.secret;
        match stop {
            Stop::Fail(error) | Stop::Vendor(error) => {
                let closed = matches!(stop_kind, StopKind::Closed);
                for (_, route) in self.routes.drain() {
                    if let Route::Active(tx) = route {
                        let error = error.clone().scrub(secret);
                        let _ = tx.tx.send(Routed::Ended { error, closed });
                    }
                }
                self.conn.close().await;
            }
            Stop::Quiet => {
                let goodbye = self.inner.dialect.goodbye();
                self.conn.close_with(goodbye).await;
                let error = errors::closed_mid_stream(
                    self.inner.dialect.provider(),
                    &self.handle.endpoint,
                    "the shared connection was shut down",
                );
                for (_, route) in self.routes.drain() {
                    if let Route::Active(tx) = route {
                        let error = error.clone();
                        let _ = tx.tx.send(Routed::Ended {
                            error,
                            closed: true,
                        });
                    }
                }
            }
        }
        self.changed.notify_waiters();
    }

    fn next_drain_deadline(&self) -> Option<Instant> {
        self.routes
            .values()
            .filter_map(|r| match r {
                Route::Draining(at) => Some(*at),
                Route::Active(_) => None,
            })
            .min()
    }

    /// Cancelled contexts the vendor never ended: their slots are freed, but
    /// the vendor may still count them, so the socket takes no new ones.
    fn expire_drains(&mut self) {
        let now = Instant::now();
        let before = self.routes.len();
        self.routes
            .retain(|_, r| !matches!(r, Route::Draining(at) if *at <= now));
        let expired = before - self.routes.len();
        if expired > 0 {
            tracing::debug!(
                endpoint = self.handle.endpoint,
                expired,
                "cancelled contexts were never ended by the vendor: the shared socket retires"
            );
            self.handle.retiring.store(true, Ordering::Release);
            self.free(expired);
        }
    }

    fn free(&self, slots: usize) {
        for _ in 0..slots {
            self.handle.unreserve();
        }
        self.changed.notify_waiters();
    }

    async fn send_all(&mut self, messages: Vec<Outgoing>) -> Result<()> {
        let limit = self.inner.settings.send_timeout;
        for m in messages {
            self.conn.send(m, limit).await?;
        }
        Ok(())
    }

    async fn handle_command(&mut self, command: Command) -> std::result::Result<(), Stop> {
        match command {
            Command::Open {
                context,
                voicing,
                then,
                route,
                backlog,
                done,
            } => {
                let first = self.opened == 0;
                self.opened += 1;
                let mut messages = self.inner.dialect.begin_on(&voicing, &context, first);
                messages.extend(then);
                self.routes
                    .insert(context, Route::Active(RouteTx { tx: route, backlog }));
                match self.send_all(messages).await {
                    Ok(()) => {
                        let _ = done.send(Ok(first));
                        Ok(())
                    }
                    Err(e) => {
                        let _ = done.send(Err(e.clone()));
                        Err(Stop::Fail(e))
                    }
                }
            }
            Command::Send { messages, done } => match self.send_all(messages).await {
                Ok(()) => {
                    let _ = done.send(Ok(()));
                    Ok(())
                }
                Err(e) => {
                    let _ = done.send(Err(e.clone()));
                    Err(Stop::Fail(e))
                }
            },
            Command::Release { context, ended } => {
                match self.routes.get(&context) {
                    Some(Route::Active(_)) if !ended => return self.cancel(context).await,
                    Some(Route::Active(_)) => {
                        self.routes.remove(&context);
                        self.free(1);
                    }
                    // Already ended by the vendor (its slot was freed then), or draining.
                    _ => {}
                }
                Ok(())
            }
            Command::Close => Err(Stop::Quiet),
        }
    }

    /// Stops `context` on the wire; its slot stays taken until the vendor ends it.
    async fn cancel(&mut self, context: String) -> std::result::Result<(), Stop> {
        let deadline = Instant::now() + self.inner.settings.first_audio_timeout;
        match self.inner.dialect.cancel(&context) {
            CancelPlan::Clear { messages, .. } => {
                self.routes.insert(context, Route::Draining(deadline));
                self.send_all(messages).await.map_err(Stop::Fail)
            }
            CancelPlan::Reconnect => {
                // A shared socket cannot be reconnected for one context: keep
                // the slot until the vendor ends it, take no new contexts.
                self.routes.insert(context, Route::Draining(deadline));
                self.handle.retiring.store(true, Ordering::Release);
                Ok(())
            }
        }
    }

    /// Hands one server message to the context it names.
    fn route(&mut self, frame: Result<Frame>) -> std::result::Result<(), Stop> {
        let d = &self.inner.dialect;
        let endpoint = &self.handle.endpoint;
        let decoded = match frame {
            Ok(Frame::Close { code, reason }) => {
                return Err(Stop::Fail(d.close_error(endpoint, code, &reason)))
            }
            Ok(frame) => d.decode(&mut self.state, endpoint, frame),
            Err(e) => return Err(Stop::Fail(e)),
        };
        let decoded = match decoded {
            Ok(decoded) => decoded,
            // A protocol violation: nothing on this socket can be trusted.
            Err(e) => return Err(Stop::Fail(e)),
        };
        let (context, ends) = match &decoded {
            Decoded::Error {
                context: None,
                error,
            } => return Err(Stop::Vendor(error.clone())),
            Decoded::Skip => return Ok(()),
            Decoded::Audio { context, .. } | Decoded::Cleared { context } => (context, false),
            Decoded::Done { context } | Decoded::Error { context, .. } => (context, true),
        };
        let Some(context) = context.clone() else {
            tracing::debug!(
                endpoint,
                "a message without a context id on a shared socket: skipped"
            );
            return Ok(());
        };
        let Some(route) = self.routes.get(&context) else {
            return Ok(()); // a context already ended or never ours
        };
        match route {
            Route::Draining(_) => {
                if ends {
                    self.routes.remove(&context);
                    self.free(1);
                }
            }
            Route::Active(tx) => {
                let overflow = match &decoded {
                    Decoded::Audio { data, .. } => {
                        tx.backlog.fetch_add(data.len(), Ordering::Relaxed) + data.len()
                            > MAX_BACKLOG_BYTES
                    }
                    _ => false,
                };
                if !overflow {
                    let _ = tx.tx.send(Routed::Message(decoded));
                    if ends {
                        self.routes.remove(&context);
                        self.free(1);
                    }
                    return Ok(());
                }
                let error = TtsError::new(
                    ErrorKind::Cancelled,
                    format!(
                        "the reader of this utterance fell {} MiB behind its audio: it was stopped so the other utterances on the shared connection go on",
                        MAX_BACKLOG_BYTES / (1024 * 1024)
                    ),
                )
                .with_provider(d.provider())
                .with_phase(Phase::Receive)
                .with_endpoint(endpoint);
                let _ = tx.tx.send(Routed::Ended {
                    error,
                    closed: false,
                });
                // Its audio keeps coming until the vendor ends it: drop it till then.
                let deadline = Instant::now() + self.inner.settings.first_audio_timeout;
                self.routes
                    .insert(context.clone(), Route::Draining(deadline));
                if let CancelPlan::Clear { messages, .. } = d.cancel(&context) {
                    // Sent by the loop on its next turn.
                    let _ = self.handle.releases.send(Command::Send {
                        messages,
                        done: oneshot::channel().0,
                    });
                }
            }
        }
        Ok(())
    }
}

enum StopKind {
    Closed,
    Other,
}

pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
