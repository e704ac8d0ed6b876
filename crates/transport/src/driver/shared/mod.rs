//! Shared sockets: many utterances on one connection by context id, for
//! vendors that multiplex (ElevenLabs multi-stream, Cartesia).
//!
//! A dialect opts in with [`Multiplex::ByContext`](crate::Multiplex) and
//! [`max_contexts`](crate::Dialect::max_contexts) above one. Then:
//! - sockets are grouped by [`socket_key`](crate::Dialect::socket_key); an
//!   utterance takes a slot on a socket of its group with room, another
//!   socket opens when all are full (up to
//!   [`DriverSettings::max_shared_sockets`](crate::DriverSettings)), else it
//!   waits its turn for a slot — never more than the vendor's contexts on
//!   one socket. Waiting is backpressure, not a failure: it lasts up to the
//!   first-audio timeout and then fails with `Timeout`, never `RateLimited`;
//!   a caller that cancels (drops its stream, cancels its session) stops
//!   waiting at once (a session whose caller drops it too). Waiters are
//!   served first come, first served: nobody takes a slot or dials past an
//!   older waiter. Each group has its own wake-up: a slot freed in one
//!   group wakes only that group's waiters;
//! - the dialect's [`flush_limit`](crate::Dialect::flush_limit) holds per
//!   socket: a context's flush waits, in order, until the socket's window
//!   has room (its audio then comes later, within the caller's first-audio
//!   deadline), and a socket whose window is spent is passed over while
//!   another may be opened;
//! - a task per socket owns it, sends for its contexts and routes what the
//!   server says by context id; an error without a context id, or a close,
//!   fails every context on that socket at once, each with that error;
//! - a cancelled context whose clear the vendor acknowledges keeps its slot
//!   until the vendor ends it (its `Cleared`, done or error; a socket whose
//!   vendor never does retires), one whose clear is not acknowledged frees
//!   its slot at once; either way its late audio is dropped; a socket with no context closes after
//!   [`shared_idle`](crate::Dialect::shared_idle);
//! - an utterance on a reused socket that closes before its first audio is
//!   sent again on a fresh socket, once, without the caller seeing it (a
//!   vendor's idle close racing the request), and so is one whose open
//!   could not be written because the socket broke under it; a context opened on a reused
//!   socket goes with a ping, and a socket that answers nothing within
//!   [`liveness_timeout`](crate::DriverSettings) is half-open: it fails as a
//!   close, so the same resend applies;
//! - a refused upgrade with `RateLimited` (the vendor's connection cap) backs
//!   the group off: until it passes, new sockets fail at once with that
//!   error (whole: its status, request id and body kept) instead of dialling
//!   again; a prewarm, and the fresh socket of a resend, keep to the
//!   back-off and the socket cap too;
//! - a caller dropped at any point of its open (waiting for a slot, dialling,
//!   waiting for a socket another caller dials) gives back what it counted
//!   or reserved; one dropped after its open was queued has the context
//!   cancelled on the wire (its release follows its open on one channel);
//! - each socket's task is owned by its handles (the group's and each
//!   slot's): dropping the provider ends them; a socket whose task ended in
//!   any way (a panic included) is never picked again, and an open it never
//!   took is sent again on another socket, once;
//! - after [`shutdown`](crate::WsProvider::shutdown) nothing is dialled:
//!   new utterances fail with `Unavailable`, and a socket dialled across the
//!   shutdown is closed, not added.

mod session;
mod socket;
mod speak;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use voxwire_core::{ErrorKind, Phase, Result, TtsError};

pub(crate) use session::run as run_session;
use socket::{Command, ReleasePermit, RouteRx, Routed, SocketHandle};
pub(crate) use speak::synthesize;

use crate::dialect::{Decoded, Dialect, Outgoing, Voicing};
use crate::driver::Inner;
use crate::errors;

/// The first back-off after a rate-limited upgrade (doubling, capped).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off without a `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Group {
    sockets: Vec<Arc<SocketHandle>>,
    /// Sockets being opened now.
    opening: usize,
    /// Utterances waiting for a socket being opened (each will take a slot on it).
    awaiting_open: usize,
    /// Until when new sockets are refused, and with what.
    backoff: Option<(Instant, TtsError)>,
    /// Rate-limited upgrades in a row.
    refusals: u32,
    /// Told when a slot of this group frees, a socket of it opens or ends,
    /// or a count is given back: wakes this group's waiters only.
    changed: Arc<Notify>,
    /// The ticket the next caller gets (callers are served in ticket order).
    next_ticket: u64,
    /// Tickets of the callers waiting (for a slot, or for a socket being
    /// opened): none takes a slot or dials while an older one waits.
    waiting: BTreeSet<u64>,
}

/// A caller's place in its group's line, given up however the caller ends
/// (served, failed, or dropped mid-wait), waking the next in line.
struct InLine<'a> {
    shared: &'a Shared,
    key: &'a str,
    ticket: u64,
    /// Whether the ticket is in the group's `waiting` set.
    waiting: bool,
}

impl InLine<'_> {
    /// Joins the line (the lock held).
    fn wait(&mut self, group: &mut Group) {
        if !self.waiting {
            group.waiting.insert(self.ticket);
            self.waiting = true;
        }
    }

    /// Whether no older caller waits (the lock held).
    fn is_first(&self, group: &Group) -> bool {
        group.waiting.range(..self.ticket).next().is_none()
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        if self.waiting {
            if let Some(group) = self.shared.lock().get_mut(self.key) {
                group.waiting.remove(&self.ticket);
                group.changed.notify_waiters();
            }
        }
    }
}

/// A snapshot of a provider's shared sockets, for tests, benches and
/// metrics: what is open, held and waiting across all its groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Sockets in the groups (busy or idle).
    pub sockets: usize,
    /// Socket tasks still running, in the groups or closing since a
    /// shutdown (a task whose socket left its group and never ended would
    /// show here).
    pub tasks: usize,
    /// Context slots reserved or live, over every socket.
    pub slots: usize,
    /// Sockets being dialled.
    pub opening: usize,
    /// Callers waiting for a socket another caller dials.
    pub awaiting_open: usize,
    /// Callers waiting in line for a slot.
    pub waiting: usize,
}

/// Every shared socket of one provider, by key.
pub(crate) struct Shared {
    groups: Mutex<HashMap<String, Group>>,
    /// Socket tasks running (counted up as each spawns, down as it ends).
    tasks: Arc<AtomicUsize>,
    /// Shut down: nothing is dialled any more.
    shut: AtomicBool,
    /// Sockets closing since the shutdown, kept (owned) until their task ends.
    closing: Mutex<Vec<Arc<SocketHandle>>>,
}

/// What a caller counted in its group while it waits on a socket being opened.
#[derive(Clone, Copy)]
enum Counted {
    /// `opening`: it dials.
    Opening,
    /// `awaiting_open`: it waits for a socket another caller dials.
    AwaitingOpen,
}

/// A count a caller holds in its group, given back however the caller ends
/// (dropped mid-open included).
struct Pending<'a> {
    shared: &'a Shared,
    key: &'a str,
    counted: Option<Counted>,
}

impl<'a> Pending<'a> {
    /// Counts `counted` in `group` (the lock held).
    fn new(shared: &'a Shared, key: &'a str, group: &mut Group, counted: Counted) -> Self {
        match counted {
            Counted::Opening => group.opening += 1,
            Counted::AwaitingOpen => group.awaiting_open += 1,
        }
        Self {
            shared,
            key,
            counted: Some(counted),
        }
    }

    /// Gives the count back in `group` (the lock held).
    fn settle(mut self, group: &mut Group) {
        if let Some(counted) = self.counted.take() {
            uncount(group, counted);
        }
    }
}

fn uncount(group: &mut Group, counted: Counted) {
    match counted {
        Counted::Opening => group.opening = group.opening.saturating_sub(1),
        Counted::AwaitingOpen => group.awaiting_open = group.awaiting_open.saturating_sub(1),
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(counted) = self.counted.take() {
            if let Some(group) = self.shared.lock().get_mut(self.key) {
                uncount(group, counted);
                group.changed.notify_waiters();
            }
        }
    }
}

impl Shared {
    pub fn new() -> Self {
        Self {
            groups: Mutex::new(HashMap::new()),
            tasks: Arc::new(AtomicUsize::new(0)),
            shut: AtomicBool::new(false),
            closing: Mutex::new(Vec::new()),
        }
    }

    fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open shared sockets (all groups).
    pub fn sockets(&self) -> usize {
        self.stats().sockets
    }

    /// What is open, held and waiting now.
    pub fn stats(&self) -> SharedStats {
        let mut stats = SharedStats {
            tasks: self.tasks.load(Ordering::Acquire),
            ..SharedStats::default()
        };
        for group in self.lock().values_mut() {
            group.sockets.retain(|s| !s.is_dead());
            stats.sockets += group.sockets.len();
            stats.slots += group.sockets.iter().map(|s| s.live()).sum::<usize>();
            stats.opening += group.opening;
            stats.awaiting_open += group.awaiting_open;
            stats.waiting += group.waiting.len();
        }
        stats
    }

    /// The count of running socket tasks, which outlives the provider (a
    /// test drops the provider and watches it reach zero).
    pub fn task_count(&self) -> Arc<AtomicUsize> {
        self.tasks.clone()
    }

    /// Closes every shared socket (live contexts end with an error); from
    /// now on nothing is dialled.
    pub fn shutdown(&self) {
        self.shut.store(true, Ordering::Release);
        let mut closed = Vec::new();
        for group in self.lock().values_mut() {
            for socket in group.sockets.drain(..) {
                socket.close();
                closed.push(socket);
            }
            group.changed.notify_waiters();
        }
        let mut closing = self.closing.lock().unwrap_or_else(|p| p.into_inner());
        closing.retain(|s| !s.is_dead());
        closing.extend(closed);
        drop(closing);
    }
}

/// The error for an utterance after shutdown.
fn shut_down(provider: &'static str) -> TtsError {
    TtsError::new(
        ErrorKind::Unavailable,
        "the provider was shut down: its shared connections are closed and none is opened",
    )
    .with_provider(provider)
    .with_phase(Phase::Connect)
}

/// How an attempt to open a context failed.
enum Taken {
    /// For good (the caller gets it).
    Failed(TtsError),
    /// The socket ended before it took the open: nothing was sent.
    Untaken(TtsError),
}

/// What a context's opening sends after the dialect's opening messages.
pub(crate) struct Opening {
    /// Its first text messages.
    pub texts: Vec<Outgoing>,
    /// Its end (the dialect's flush), for a whole text; kept to the
    /// dialect's flush limit.
    pub flush: Vec<Outgoing>,
}

/// A slot reserved on a shared socket, not yet opened.
struct Reserved {
    socket: Arc<SocketHandle>,
    /// Still ours to give back (not yet handed to the socket's task).
    held: bool,
}

impl Reserved {
    fn new(socket: Arc<SocketHandle>) -> Self {
        Self { socket, held: true }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if self.held {
            self.socket.unreserve();
        }
    }
}

/// One context on a shared socket: what its holder sends and reads.
pub(crate) struct Slot {
    socket: Arc<SocketHandle>,
    context: String,
    route: RouteRx,
    /// The socket carried other contexts before this one.
    reused: bool,
    /// The vendor ended it (done, error, or the socket ended).
    ended: bool,
    /// The socket closed or broke under it (not an error the vendor reported).
    closed: bool,
    provider: &'static str,
    send_timeout: Duration,
    /// The permit its release goes out on (after its open, on the same channel).
    release: Option<ReleasePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permit) = self.release.take() {
            permit.send(Command::Release {
                context: std::mem::take(&mut self.context),
                ended: self.ended,
            });
        }
    }
}

impl Slot {
    /// The context id.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The endpoint (no query, no secret).
    pub fn endpoint(&self) -> &str {
        self.socket.endpoint()
    }

    /// Whether the socket carried other contexts before this one.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Whether the socket closed or broke under this context (rather than
    /// the vendor reporting an error).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Sends messages of this context, in order.
    pub async fn send(&self, messages: Vec<Outgoing>) -> Result<()> {
        self.send_as(messages, false).await
    }

    /// Sends the messages that end this context's text (the dialect's
    /// flush): they keep to the dialect's flush limit, so they may go out
    /// later, after the socket's earlier flushes leave the window.
    pub async fn flush(&self, messages: Vec<Outgoing>) -> Result<()> {
        self.send_as(messages, true).await
    }

    async fn send_as(&self, messages: Vec<Outgoing>, flush: bool) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let (done, sent) = oneshot::channel();
        let limit = self.send_timeout;
        let command = Command::Send {
            context: self.context.clone(),
            messages,
            flush,
            done,
        };
        self.socket
            .command(command, limit)
            .await
            .map_err(|e| e.with_provider(self.provider))?;
        match tokio::time::timeout(limit * 2, sent).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.socket.gone().with_provider(self.provider)),
            Err(_) => Err(errors::timeout(
                self.provider,
                self.socket.endpoint(),
                Phase::Send,
                "could not send on the shared connection",
                limit * 2,
            )),
        }
    }

    /// The next message for this context within `limit` (`waiting_for` names
    /// what was awaited in the timeout's message). An `Err` is the socket's
    /// end or the deadline; vendor errors for this context are `Ok(Decoded::Error)`.
    pub async fn next(&mut self, limit: Duration, waiting_for: &str) -> Result<Decoded> {
        let next = tokio::time::timeout(limit, self.route.recv()).await;
        match next {
            Err(_) => Err(errors::timeout(
                self.provider,
                self.socket.endpoint(),
                Phase::Receive,
                waiting_for,
                limit,
            )),
            Ok(None) => {
                self.ended = true;
                Err(errors::closed_mid_stream(
                    self.provider,
                    self.socket.endpoint(),
                    "the shared connection's task ended",
                ))
            }
            Ok(Some(Routed::Ended { error, closed })) => {
                self.ended = true;
                self.closed = closed;
                Err(error)
            }
            Ok(Some(Routed::Message(decoded))) => {
                if matches!(decoded, Decoded::Done { .. } | Decoded::Error { .. }) {
                    self.ended = true;
                }
                Ok(decoded)
            }
        }
    }
}

impl<D: Dialect> Inner<D> {
    /// Whether utterances share sockets.
    pub(crate) fn shares_sockets(&self) -> bool {
        self.dialect.multiplex() == crate::Multiplex::ByContext && self.dialect.max_contexts() > 1
    }

    /// Opens a context for `voicing` on a shared socket (a fresh one with
    /// `fresh`), sending the dialect's opening messages and then what
    /// `then(context)` makes.
    pub(crate) async fn open_context(
        self: &Arc<Self>,
        voicing: &Voicing,
        then: impl Fn(&str) -> Opening,
        fresh: bool,
    ) -> Result<Slot> {
        // An open the socket never took (its task ended first) goes to another, once.
        let mut tries = 2;
        loop {
            tries -= 1;
            match self.try_open_context(voicing, &then, fresh).await {
                Ok(slot) => return Ok(slot),
                Err(Taken::Failed(e)) => return Err(e),
                Err(Taken::Untaken(e)) if tries == 0 || self.shared.is_shut() => return Err(e),
                Err(Taken::Untaken(e)) => {
                    tracing::debug!(error = %e, "a shared socket ended before it took an open: sent to another");
                }
            }
        }
    }

    /// One attempt of [`Inner::open_context`]: `Err(Untaken)` when the
    /// socket ended before it took the open (worth another socket).
    async fn try_open_context(
        self: &Arc<Self>,
        voicing: &Voicing,
        then: &impl Fn(&str) -> Opening,
        fresh: bool,
    ) -> std::result::Result<Slot, Taken> {
        let reserved = self.reserve(voicing, fresh).await.map_err(Taken::Failed)?;
        let provider = self.dialect.provider();
        let limit = self.settings.send_timeout;
        let socket = reserved.socket.clone();
        let untaken = |e: TtsError| {
            if socket.is_dead() {
                Taken::Untaken(e.with_provider(provider))
            } else {
                Taken::Failed(e.with_provider(provider))
            }
        };
        let release = socket.release_permit(limit).await.map_err(untaken)?;
        let context = self.next_context();
        let Opening { texts, flush } = then(&context);
        let (route, rx) = socket::route_channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let (done, opened) = oneshot::channel();
        let command = Command::Open {
            context: context.clone(),
            voicing: Box::new(voicing.clone()),
            then: texts,
            flush,
            route,
            backlog: backlog.clone(),
            done,
        };
        socket.command(command, limit).await.map_err(untaken)?;
        // From here the socket task owns the slot (a release frees it).
        let mut reserved = reserved;
        reserved.held = false;
        drop(reserved);
        let mut slot = Slot {
            socket,
            context,
            route: RouteRx { rx, backlog },
            reused: true,
            ended: false,
            closed: false,
            provider,
            send_timeout: limit,
            release: Some(release),
        };
        let first = match tokio::time::timeout(limit * 2, opened).await {
            Ok(Ok(Ok(first))) => first,
            Ok(Ok(Err(e))) => {
                // The socket broke as the open went out (a vendor's idle
                // close racing it): nothing the vendor could speak was sent,
                // and the socket's task ends; worth another socket.
                slot.ended = true;
                return Err(Taken::Untaken(e.with_provider(provider)));
            }
            Ok(Err(_)) => {
                // The task ended before it took the open: nothing was sent.
                slot.ended = true;
                return Err(Taken::Untaken(slot.socket.gone().with_provider(provider)));
            }
            Err(_) => {
                return Err(Taken::Failed(errors::timeout(
                    provider,
                    slot.socket.endpoint(),
                    Phase::Send,
                    "could not open a context on the shared connection",
                    limit * 2,
                )))
            }
        };
        slot.reused = !first;
        Ok(slot)
    }

    /// A slot on a socket of `voicing`'s group: one with room, a new one
    /// (never over the cap, never during a back-off), or the first to free
    /// up. Waiting for a slot is backpressure, within the utterance's
    /// first-audio deadline (a `Timeout` past it, never `RateLimited`);
    /// waiting for a socket another caller dials, within the connect timeout.
    async fn reserve(self: &Arc<Self>, voicing: &Voicing, fresh: bool) -> Result<Reserved> {
        let key = self.dialect.socket_key(voicing)?;
        let max_contexts = self.dialect.max_contexts();
        let max_sockets = self.settings.max_shared_sockets.max(1);
        let wait = self.settings.connect_timeout;
        let deadline = Instant::now() + wait;
        let turn = self.settings.first_audio_timeout.max(wait);
        let turn_deadline = Instant::now() + turn;
        let provider = self.dialect.provider();
        let shared = &self.shared;
        let (changed, ticket) = {
            let mut groups = shared.lock();
            let group = groups.entry(key.clone()).or_default();
            group.next_ticket += 1;
            (group.changed.clone(), group.next_ticket)
        };
        let mut line = InLine {
            shared,
            key: &key,
            ticket,
            waiting: false,
        };
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            enum Step<'a> {
                Use(Reserved),
                Open(Pending<'a>),
                AwaitOpen(Pending<'a>),
                Wait,
            }
            let step = {
                if shared.is_shut() {
                    return Err(shut_down(provider));
                }
                let mut groups = shared.lock();
                let group = groups.entry(key.clone()).or_default();
                group.sockets.retain(|s| !s.is_dead());
                // First come, first served: nobody takes a slot or dials past
                // an older waiter (a resend, already under way, goes first).
                let first = fresh || line.is_first(group);
                // A socket whose flush window is spent is passed over while
                // another could still be opened.
                let may_dial = group.sockets.len() + group.opening < max_sockets;
                let reuse = (!fresh && first)
                    .then(|| {
                        // The fullest socket with room: few sockets stay busy, idle ones age out.
                        let mut by_load: Vec<&Arc<SocketHandle>> = group
                            .sockets
                            .iter()
                            .filter(|s| !(may_dial && s.flushes_spent()))
                            .collect();
                        by_load.sort_by_key(|s| (s.flushes_spent(), std::cmp::Reverse(s.live())));
                        by_load
                            .into_iter()
                            .find(|s| s.try_reserve(max_contexts))
                            .cloned()
                    })
                    .flatten();
                if reuse.is_none() {
                    if let Some((until, error)) = &group.backoff {
                        let left = until.saturating_duration_since(Instant::now());
                        if !left.is_zero() {
                            return Err(backing_off(error, left));
                        }
                        group.backoff = None;
                    }
                }
                if let Some(socket) = reuse {
                    Step::Use(Reserved::new(socket))
                } else if !fresh
                    && group.awaiting_open + group.opening < group.opening * max_contexts
                {
                    // A socket being opened will have room: wait for it rather than dial another.
                    line.wait(group);
                    Step::AwaitOpen(Pending::new(shared, &key, group, Counted::AwaitingOpen))
                } else if first && group.sockets.len() + group.opening < max_sockets {
                    Step::Open(Pending::new(shared, &key, group, Counted::Opening))
                } else {
                    line.wait(group);
                    Step::Wait
                }
            };
            match step {
                Step::Use(reserved) => return Ok(reserved),
                Step::Open(pending) => {
                    // Out of the line while it dials: the next may go on.
                    drop(line);
                    return self.open_shared(pending, voicing).await;
                }
                Step::AwaitOpen(pending) => {
                    let woke = tokio::time::timeout_at(deadline, notified).await;
                    drop(pending);
                    if woke.is_err() {
                        return Err(errors::timeout(
                            provider,
                            "",
                            Phase::Connect,
                            "no shared connection opened",
                            wait,
                        ));
                    }
                }
                Step::Wait => {
                    if tokio::time::timeout_at(turn_deadline, notified)
                        .await
                        .is_err()
                    {
                        return Err(errors::timeout(
                            provider,
                            "",
                            Phase::Connect,
                            &format!(
                                "no context of the {max_sockets} shared connections (of {max_contexts} utterances each) freed"
                            ),
                            turn,
                        )
                        .with_hint("raise max_shared_sockets, or spread the load over more entries"));
                    }
                }
            }
        }
    }

    /// Opens a socket into `voicing`'s group now (its slot is given back at
    /// once), unless the group is at its socket cap (nothing to do) or backs
    /// off (the back-off's error).
    pub(crate) async fn prewarm_shared(self: &Arc<Self>, voicing: &Voicing) -> Result<()> {
        let key = self.dialect.socket_key(voicing)?;
        if self.shared.is_shut() {
            return Err(shut_down(self.dialect.provider()));
        }
        let max_sockets = self.settings.max_shared_sockets.max(1);
        let pending = {
            let mut groups = self.shared.lock();
            let group = groups.entry(key.clone()).or_default();
            if let Some((until, error)) = &group.backoff {
                let left = until.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    return Err(backing_off(error, left));
                }
                group.backoff = None;
            }
            group.sockets.retain(|s| !s.is_dead());
            if group.sockets.len() + group.opening >= max_sockets {
                return Ok(());
            }
            Pending::new(&self.shared, &key, group, Counted::Opening)
        };
        self.open_shared(pending, voicing).await.map(drop)
    }

    /// Opens a socket for the group `pending` counts in and reserves its
    /// first slot; dropped mid-dial, it gives the count back.
    async fn open_shared(
        self: &Arc<Self>,
        pending: Pending<'_>,
        voicing: &Voicing,
    ) -> Result<Reserved> {
        let opened = self.open(voicing).await;
        let provider = self.dialect.provider();
        let (result, late, changed) = {
            let mut groups = self.shared.lock();
            let group = groups.entry(pending.key.to_string()).or_default();
            pending.settle(group);
            let changed = group.changed.clone();
            match opened {
                // Dialled across a shutdown: closed below, never added.
                Ok(conn) if self.shared.is_shut() => {
                    (Err(shut_down(provider)), Some(conn), changed)
                }
                Ok(conn) => {
                    group.refusals = 0;
                    // Spawned with its first slot reserved, for this caller.
                    let socket =
                        socket::spawn(self, conn, group.changed.clone(), self.shared.tasks.clone());
                    group.sockets.push(socket.clone());
                    (Ok(Reserved::new(socket)), None, changed)
                }
                Err(e) => {
                    if e.kind() == ErrorKind::RateLimited {
                        group.refusals = group.refusals.saturating_add(1);
                        let doubled = FIRST_BACKOFF
                            .saturating_mul(1 << group.refusals.saturating_sub(1).min(5))
                            .min(MAX_BACKOFF);
                        let backoff = e.retry_after().unwrap_or(doubled);
                        group.backoff = Some((Instant::now() + backoff, e.clone()));
                    }
                    (Err(e), None, changed)
                }
            }
        };
        changed.notify_waiters();
        if let Some(conn) = late {
            conn.close_with(self.dialect.goodbye()).await;
        }
        result
    }
}

/// The error for an open refused during a back-off: the failure that
/// started it, with the time left.
fn backing_off(error: &TtsError, left: Duration) -> TtsError {
    let message = format!(
        "{} (not dialled again: backing off {} ms more)",
        error.message(),
        left.as_millis()
    );
    let scope = error.scope();
    error
        .clone()
        .with_message(message)
        .with_retry_after(left)
        .with_scope(scope)
}
