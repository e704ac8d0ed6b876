//! One shared socket: a task that owns the connection, sends what its
//! contexts ask for, and routes what the server says to the context it names.
//!
//! The task reads all the time, so a server close (a vendor's idle timeout)
//! is seen at once and the socket leaves the group before anyone picks it.
//! Its commands (open, send, release) travel on one bounded, ordered
//! channel: a context's release can never overtake its open (each slot holds
//! the channel permit its release goes out on). The task is owned by its
//! handle: dropping the last handle (the group's, and each slot's) aborts
//! it, and it holds its provider only weakly, so a dropped provider takes its
//! sockets with it. However it ends (a close, an error, a panic in the
//! dialect, an abort) the handle reads dead at once. It exits idle or retired
//! only when no slot is reserved on it (one atomic step with the reservation).
//! A context opened on a reused socket goes with a ping: if nothing (its
//! pong, or any message) comes back within the liveness timeout, the socket
//! is half-open and fails as a close, so its contexts that had no audio yet
//! are sent again on a fresh socket. The dialect's socket hooks hold here
//! too: its [`keep_alive`](crate::Dialect::keep_alive) goes out whenever the
//! socket has sent nothing that long, and a dialect whose sockets are not
//! [`reusable_after_done`](crate::Dialect::reusable_after_done) gets one
//! context per socket (it retires with its first open).
//! It never waits on a context: each route buffers what is due to it, up to
//! [`ROUTE_QUEUE`] messages and [`MAX_BACKLOG_BYTES`] of audio (a bounded
//! channel, one more place kept for its end); a context that falls further
//! behind is failed (told so, not dropped silently) and cancelled, the others
//! go on.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::OwnedPermit;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use voxwire_core::{ErrorKind, Phase, Result, TtsError};

use crate::connect::WsConn;
use crate::dialect::{CancelPlan, Decoded, Dialect, Frame, Outgoing, Voicing};
use crate::driver::Inner;
use crate::errors;

/// Audio bytes one context may have waiting for its reader (about three
/// minutes of 24 kHz PCM): a reader further behind is failed, not waited for.
pub(crate) const MAX_BACKLOG_BYTES: usize = 8 * 1024 * 1024;

/// Messages one context may have waiting for its reader (audio frames,
/// alignment, its end): a reader further behind is failed, not waited for.
pub(crate) const ROUTE_QUEUE: usize = 1024;

/// Commands queued for the socket at once, beyond the permit each slot
/// holds for its release.
const COMMAND_QUEUE: usize = 256;

/// The bit of `live` that says the socket takes no reservation any more.
const CLOSED: usize = 1 << (usize::BITS - 1);

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
    pub rx: mpsc::Receiver<Routed>,
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
    tx: mpsc::Sender<Routed>,
    backlog: Arc<AtomicUsize>,
}

/// A route's channel: [`ROUTE_QUEUE`] messages and a place for its end.
pub(crate) fn route_channel() -> (mpsc::Sender<Routed>, mpsc::Receiver<Routed>) {
    mpsc::channel(ROUTE_QUEUE + 1)
}

impl RouteTx {
    /// Tells the reader its context ended (the place kept for it is free:
    /// nothing is sent on a route after its end).
    fn end(&self, error: TtsError, closed: bool) {
        let _ = self.tx.try_send(Routed::Ended { error, closed });
    }
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
        /// Its end, for a whole text (kept to the flush limit).
        flush: Vec<Outgoing>,
        route: mpsc::Sender<Routed>,
        backlog: Arc<AtomicUsize>,
        /// `Ok(true)` when it was the socket's first context.
        done: oneshot::Sender<Result<bool>>,
    },
    /// Send messages of an open context (`flush`: its end, kept to the
    /// dialect's flush limit; `done` is then told once it is queued).
    Send {
        context: String,
        messages: Vec<Outgoing>,
        flush: bool,
        done: oneshot::Sender<Result<()>>,
    },
    /// The context's holder is done with it: `ended` when the vendor ended
    /// it (done or error), else it is cancelled on the wire.
    Release { context: String, ended: bool },
}

/// What the socket's task and its handles share.
struct State {
    /// Contexts reserved or live on it, and [`CLOSED`] once it takes no more.
    live: AtomicUsize,
    /// The task ended: never hand it out.
    dead: AtomicBool,
    /// No new contexts (too old, or a cancelled context the vendor may still count).
    retiring: AtomicBool,
    /// Shutdown asked the task to close the socket.
    closing: AtomicBool,
    /// Wakes the task for `closing`.
    close: Notify,
    /// The dialect's flush limit is spent for now (a flush sent now would wait).
    flushes_spent: AtomicBool,
    endpoint: String,
}

impl State {
    fn unreserve(&self) {
        let _ = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n & !CLOSED).checked_sub(1).map(|m| m | (n & CLOSED))
            });
    }

    /// Takes no reservation any more, if none is held: whether it closed.
    fn close_if_unused(&self) -> bool {
        self.live
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The group's view of one shared socket; the last one dropped aborts its task.
pub(crate) struct SocketHandle {
    commands: mpsc::Sender<Command>,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The permit a slot's release goes out on, taken before its open is queued.
pub(crate) type ReleasePermit = OwnedPermit<Command>;

impl SocketHandle {
    /// Reserves a context slot if the socket is usable and has room.
    pub fn try_reserve(&self, max: usize) -> bool {
        let s = &self.state;
        if s.dead.load(Ordering::Acquire) || s.retiring.load(Ordering::Acquire) {
            return false;
        }
        s.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n & CLOSED == 0 && n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a reservation that was never opened.
    pub fn unreserve(&self) {
        self.state.unreserve();
    }

    /// Whether the task ended.
    pub fn is_dead(&self) -> bool {
        self.state.dead.load(Ordering::Acquire) || self.task.is_finished()
    }

    /// Whether a flush sent now would wait for the dialect's flush window.
    pub fn flushes_spent(&self) -> bool {
        self.state.flushes_spent.load(Ordering::Acquire)
    }

    /// Contexts reserved or live.
    pub fn live(&self) -> usize {
        self.state.live.load(Ordering::Acquire) & !CLOSED
    }

    /// A permit for a release on the command channel, within `limit`.
    pub async fn release_permit(&self, limit: Duration) -> Result<ReleasePermit> {
        let permit = self.commands.clone().reserve_owned();
        match tokio::time::timeout(limit, permit).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(self.gone()),
            Err(_) => Err(self.busy(limit)),
        }
    }

    fn busy(&self, limit: Duration) -> TtsError {
        TtsError::new(
            ErrorKind::Timeout,
            format!(
                "the shared socket took no command within {} ms",
                limit.as_millis()
            ),
        )
        .with_phase(Phase::Send)
        .with_endpoint(&self.state.endpoint)
    }

    /// The endpoint, for errors.
    pub fn endpoint(&self) -> &str {
        &self.state.endpoint
    }

    /// Queues a command, within `limit`.
    pub async fn command(&self, command: Command, limit: Duration) -> Result<()> {
        match tokio::time::timeout(limit, self.commands.send(command)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.gone()),
            Err(_) => Err(self.busy(limit)),
        }
    }

    /// Asks the task to close the socket (its contexts end with an error).
    pub fn close(&self) {
        self.state.closing.store(true, Ordering::Release);
        self.state.close.notify_one();
    }

    /// The error for a socket whose task is gone.
    pub fn gone(&self) -> TtsError {
        TtsError::new(
            ErrorKind::Unavailable,
            "the shared connection closed before the utterance could start",
        )
        .with_phase(Phase::Send)
        .with_endpoint(&self.state.endpoint)
    }
}

/// Starts the task owning `conn`, its first slot already reserved; `changed`
/// is told whenever a slot frees or the socket ends.
pub(crate) fn spawn<D: Dialect>(
    inner: &Arc<Inner<D>>,
    conn: WsConn,
    changed: Arc<Notify>,
    tasks: Arc<AtomicUsize>,
) -> Arc<SocketHandle> {
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE + inner.dialect.max_contexts());
    let state = Arc::new(State {
        live: AtomicUsize::new(1),
        dead: AtomicBool::new(false),
        retiring: AtomicBool::new(false),
        closing: AtomicBool::new(false),
        close: Notify::new(),
        flushes_spent: AtomicBool::new(false),
        endpoint: conn.endpoint().to_string(),
    });
    let s = &inner.settings;
    let task = Task {
        inner: Arc::downgrade(inner),
        provider: inner.dialect.provider(),
        idle_limit: inner.dialect.shared_idle(),
        max_age: s.max_connection_age,
        send_timeout: s.send_timeout,
        drain_limit: s.first_audio_timeout,
        liveness: s.liveness_timeout,
        probe: None,
        reusable: inner.dialect.reusable_after_done(),
        keep_alive: inner.dialect.keep_alive(),
        flush_limit: inner.dialect.flush_limit(),
        flushes: VecDeque::new(),
        held: VecDeque::new(),
        last_sent: Instant::now(),
        secret: s.secret.clone(),
        conn,
        wire: D::State::default(),
        routes: HashMap::new(),
        opened: 0,
        unsent: Vec::new(),
        socket: state.clone(),
        changed: changed.clone(),
    };
    tasks.fetch_add(1, Ordering::AcqRel);
    let dying = Dying {
        state: state.clone(),
        changed,
        tasks,
    };
    let task = tokio::spawn(task.run(command_rx, dying));
    Arc::new(SocketHandle {
        commands,
        state,
        task,
    })
}

/// Marks the socket dead and wakes the group however the task ends (its
/// end, an abort, a panic in the dialect).
struct Dying {
    state: Arc<State>,
    changed: Arc<Notify>,
    /// The provider's count of running socket tasks.
    tasks: Arc<AtomicUsize>,
}

impl Drop for Dying {
    fn drop(&mut self) {
        self.state.dead.store(true, Ordering::Release);
        self.state.retiring.store(true, Ordering::Release);
        self.tasks.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

struct Task<D: Dialect> {
    /// Weak: the provider owns its groups, which own this task.
    inner: Weak<Inner<D>>,
    provider: &'static str,
    idle_limit: Duration,
    max_age: Duration,
    send_timeout: Duration,
    /// How long a cancelled context may take to end.
    drain_limit: Duration,
    /// How long a ping may go unanswered (and nothing else heard).
    liveness: Duration,
    /// The ping sent with an open on a reused socket, and when its answer is due.
    probe: Option<(Bytes, Instant)>,
    /// Whether the socket may carry another context after one (else it retires with its first).
    reusable: bool,
    /// The dialect's keep-alive and how often, when the socket sent nothing that long.
    keep_alive: Option<(Duration, Outgoing)>,
    /// The dialect's flush limit: at most this many flushes per window.
    flush_limit: Option<(usize, Duration)>,
    /// When the flushes inside the window went out, oldest first.
    flushes: VecDeque<Instant>,
    /// Flushes waiting for room in the window, in order, by context (at
    /// most one per live context).
    held: VecDeque<(String, Vec<Outgoing>)>,
    /// When the socket last sent a message.
    last_sent: Instant,
    secret: voxwire_core::Secret,
    conn: WsConn,
    wire: D::State,
    routes: HashMap<String, Route>,
    opened: u64,
    /// Clears of contexts stopped while routing, sent on the next turn.
    unsent: Vec<Outgoing>,
    socket: Arc<State>,
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
    /// The provider, while it lives (else the task stops quietly).
    fn inner(&self) -> std::result::Result<Arc<Inner<D>>, Stop> {
        self.inner.upgrade().ok_or(Stop::Quiet)
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, dying: Dying) {
        let _dying = dying;
        let socket = self.socket.clone();
        let mut idle_since = Some(Instant::now());
        let stop = loop {
            if self.conn.age() >= self.max_age {
                socket.retiring.store(true, Ordering::Release);
            }
            if socket.closing.load(Ordering::Acquire) {
                break Stop::Quiet;
            }
            // Retired with nothing on it, and nobody holding a reservation.
            if self.routes.is_empty()
                && socket.retiring.load(Ordering::Acquire)
                && socket.close_if_unused()
            {
                break Stop::Quiet;
            }
            if !self.unsent.is_empty() {
                let unsent = std::mem::take(&mut self.unsent);
                if let Err(e) = self.send_all(unsent).await {
                    break Stop::Fail(e);
                }
            }
            let idle_due = idle_since.map(|t| t + self.idle_limit);
            let drain_due = self.next_drain_deadline();
            let keep_alive_due = self
                .keep_alive
                .as_ref()
                .map(|(every, _)| self.last_sent + *every);
            let window_due = self.window_due();
            let step = tokio::select! {
                biased;
                () = socket.close.notified() => Err(Stop::Quiet),
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command).await,
                    None => Err(Stop::Quiet),
                },
                frame = next_frame(&mut self.conn, self.probe.as_ref()) => self.heard(frame),
                () = sleep_until(keep_alive_due), if keep_alive_due.is_some() => {
                    let message = self.keep_alive.as_ref().map(|(_, m)| m.clone());
                    self.send_all(message.into_iter().collect()).await.map_err(Stop::Fail)
                }
                () = sleep_until(window_due), if window_due.is_some() => {
                    self.send_held().await.map_err(Stop::Fail)
                }
                () = sleep_until(drain_due), if drain_due.is_some() => {
                    self.expire_drains();
                    Ok(())
                }
                () = sleep_until(idle_due), if idle_due.is_some() => {
                    if socket.close_if_unused() {
                        Err(Stop::Quiet)
                    } else {
                        // A slot was reserved as it idled out: its open is on the way.
                        idle_since = Some(Instant::now());
                        Ok(())
                    }
                }
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
        socket.dead.store(true, Ordering::Release);
        socket.retiring.store(true, Ordering::Release);
        let closed = matches!(stop, Stop::Fail(_));
        match stop {
            Stop::Fail(error) | Stop::Vendor(error) => {
                for (_, route) in self.routes.drain() {
                    if let Route::Active(tx) = route {
                        tx.end(error.clone().scrub(&self.secret), closed);
                    }
                }
                self.conn.close().await;
            }
            Stop::Quiet => {
                let goodbye = self.inner.upgrade().and_then(|i| i.dialect.goodbye());
                let error = errors::closed_mid_stream(
                    self.provider,
                    &socket.endpoint,
                    "the shared connection was shut down",
                );
                // Told before the goodbye, so nobody waits on the close.
                for (_, route) in self.routes.drain() {
                    if let Route::Active(tx) = route {
                        tx.end(error.clone(), true);
                    }
                }
                self.conn.close_with(goodbye).await;
            }
        }
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
                endpoint = self.socket.endpoint,
                expired,
                "cancelled contexts were never ended by the vendor: the shared socket retires"
            );
            self.socket.retiring.store(true, Ordering::Release);
            self.free(expired);
        }
    }

    fn free(&self, slots: usize) {
        for _ in 0..slots {
            self.socket.unreserve();
        }
        self.changed.notify_waiters();
    }

    async fn send_all(&mut self, messages: Vec<Outgoing>) -> Result<()> {
        let limit = self.send_timeout;
        for m in messages {
            self.conn.send(m, limit).await?;
            self.last_sent = Instant::now();
        }
        Ok(())
    }

    /// Sends `context`'s flush now if the dialect's flush window has room
    /// and no earlier flush waits, else holds it (in order) until it has.
    async fn send_flush(&mut self, context: String, messages: Vec<Outgoing>) -> Result<()> {
        if self.flush_limit.is_none() {
            return self.send_all(messages).await;
        }
        self.held.push_back((context, messages));
        self.send_held().await
    }

    /// Sends the held flushes the window has room for, oldest first.
    async fn send_held(&mut self) -> Result<()> {
        let Some((most, window)) = self.flush_limit else {
            return Ok(());
        };
        let most = most.max(1);
        loop {
            let now = Instant::now();
            while self.flushes.front().is_some_and(|at| *at + window <= now) {
                self.flushes.pop_front();
            }
            if self.flushes.len() >= most {
                break;
            }
            let Some((context, messages)) = self.held.pop_front() else {
                break;
            };
            if !matches!(self.routes.get(&context), Some(Route::Active(_))) {
                continue; // stopped or ended while it waited
            }
            self.send_all(messages).await?;
            self.flushes.push_back(Instant::now());
        }
        let spent = !self.held.is_empty() || self.flushes.len() >= most;
        self.socket.flushes_spent.store(spent, Ordering::Release);
        Ok(())
    }

    /// When the oldest flush leaves the window, while the window is spent.
    fn window_due(&self) -> Option<Instant> {
        let (most, window) = self.flush_limit?;
        let spent = !self.held.is_empty() || self.flushes.len() >= most.max(1);
        spent.then(|| self.flushes.front().map(|at| *at + window))?
    }

    async fn handle_command(&mut self, command: Command) -> std::result::Result<(), Stop> {
        match command {
            Command::Open {
                context,
                voicing,
                then,
                flush,
                route,
                backlog,
                done,
            } => {
                let first = self.opened == 0;
                self.opened += 1;
                if !self.reusable {
                    // One utterance per socket: no context after this one.
                    self.socket.retiring.store(true, Ordering::Release);
                }

                let inner = self.inner()?;
                let mut messages = inner.dialect.begin_on(&voicing, &context, first);
                drop(inner);
                messages.extend(then);
                self.routes.insert(
                    context.clone(),
                    Route::Active(RouteTx { tx: route, backlog }),
                );
                let mut sent = self.send_all(messages).await;
                if sent.is_ok() && !flush.is_empty() {
                    sent = self.send_flush(context, flush).await;
                }
                if sent.is_ok() && !first && self.probe.is_none() {
                    // Proves the reused socket alive while the open is on its way.
                    sent = self.conn.send_ping(self.send_timeout).await.map(|ping| {
                        self.probe = Some((ping, Instant::now() + self.liveness));
                    });
                }
                match sent {
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
            Command::Send {
                context,
                messages,
                flush,
                done,
            } => match if flush {
                self.send_flush(context, messages).await
            } else {
                self.send_all(messages).await
            } {
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
        }
    }

    /// Stops `context` on the wire, as its dialect's plan says.
    async fn cancel(&mut self, context: String) -> std::result::Result<(), Stop> {
        let plan = self.inner()?.dialect.cancel(&context);
        let messages = self.stop(context, plan);
        self.send_all(messages).await.map_err(Stop::Fail)
    }

    /// Stops `context`'s route as `plan` says, and returns what to send. A
    /// clear the vendor acknowledges keeps the slot until the vendor ends the
    /// context (its [`Decoded::Cleared`], done or error) or the drain
    /// deadline; one it does not acknowledge frees the slot at once, its late
    /// messages ignored (the [`CancelPlan::Clear`] contract).
    fn stop(&mut self, context: String, plan: CancelPlan) -> Vec<Outgoing> {
        let deadline = Instant::now() + self.drain_limit;
        // A flush still waiting for the window is never sent for it.
        self.held.retain(|(held, _)| *held != context);
        match plan {
            CancelPlan::Clear {
                messages,
                acknowledged: false,
            } => {
                if self.routes.remove(&context).is_some() {
                    self.free(1);
                }
                messages
            }
            CancelPlan::Clear { messages, .. } => {
                self.routes.insert(context, Route::Draining(deadline));
                messages
            }
            CancelPlan::Reconnect => {
                // A shared socket cannot be reconnected for one context: keep
                // the slot until the vendor ends it, take no new contexts.
                self.routes.insert(context, Route::Draining(deadline));
                self.socket.retiring.store(true, Ordering::Release);
                Vec::new()
            }
        }
    }

    /// What the socket heard: anything proves it alive; no answer to its
    /// ping by the deadline fails it as a close (it is half-open).
    fn heard(&mut self, frame: Result<Option<Frame>>) -> std::result::Result<(), Stop> {
        let probed = self.probe.take();
        match frame {
            Ok(None) => Ok(()), // the pong
            Ok(Some(frame)) => self.route(Ok(frame)),
            Err(e) if probed.is_some() && e.kind() == ErrorKind::Timeout => {
                Err(Stop::Fail(errors::closed_mid_stream(
                    self.provider,
                    &self.socket.endpoint,
                    format!(
                        "no answer to a ping within {} ms: the shared connection is half-open",
                        self.liveness.as_millis()
                    ),
                )))
            }
            Err(e) => self.route(Err(e)),
        }
    }

    /// Hands one server message to the context it names.
    fn route(&mut self, frame: Result<Frame>) -> std::result::Result<(), Stop> {
        let inner = self.inner()?;
        let d = &inner.dialect;
        let endpoint = &self.socket.endpoint;
        let decoded = match frame {
            Ok(Frame::Close { code, reason }) => {
                return Err(Stop::Fail(d.close_error(endpoint, code, &reason)))
            }
            Ok(frame) => d.decode(&mut self.wire, endpoint, frame),
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
                // Its end, or the acknowledgement of its clear.
                if ends || matches!(decoded, Decoded::Cleared { .. }) {
                    self.routes.remove(&context);
                    self.free(1);
                }
            }
            Route::Active(tx) => {
                // The last place is kept for the end (this message's, or the failure's).
                let full = !ends && tx.tx.capacity() <= 1;
                let overflow = full
                    || match &decoded {
                        Decoded::Audio { data, .. } => {
                            tx.backlog.fetch_add(data.len(), Ordering::Relaxed) + data.len()
                                > MAX_BACKLOG_BYTES
                        }
                        _ => false,
                    };
                if !overflow {
                    let _ = tx.tx.try_send(Routed::Message(decoded));
                    if ends {
                        self.routes.remove(&context);
                        self.free(1);
                    }
                    return Ok(());
                }
                let error = TtsError::new(
                    ErrorKind::Cancelled,
                    format!(
                        "the reader of this utterance fell {ROUTE_QUEUE} messages or {} MiB behind its audio: it was stopped so the other utterances on the shared connection go on",
                        MAX_BACKLOG_BYTES / (1024 * 1024)
                    ),
                )
                .with_provider(d.provider())
                .with_phase(Phase::Receive)
                .with_endpoint(endpoint);
                tx.end(error, false);
                // Stopped on the wire: its late messages are dropped.
                let plan = d.cancel(&context);
                let messages = self.stop(context, plan);
                // Sent by the loop on its next turn.
                self.unsent.extend(messages);
            }
        }
        Ok(())
    }
}

/// The next message; with a ping out, `Ok(None)` for its pong and a
/// `Timeout` when neither it nor anything else came by its deadline.
async fn next_frame(conn: &mut WsConn, probe: Option<&(Bytes, Instant)>) -> Result<Option<Frame>> {
    match probe {
        Some((ping, due)) => {
            let left = due.saturating_duration_since(Instant::now());
            conn.recv_probe(left, ping).await
        }
        None => conn
            .recv(Duration::from_secs(86_400), "a message")
            .await
            .map(Some),
    }
}

pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
