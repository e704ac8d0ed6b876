//! [`WsProvider`]: the generic streaming provider a [`Dialect`] plugs into.
//!
//! It owns what every streaming vendor needs and no vendor knows: pooled
//! connections (liveness-checked, rotated, pre-warmed), the first-audio and
//! inactivity deadlines, `NoAudio` detection, chunking into the caller's
//! format, and cancel that sends the dialect's clear and keeps the socket
//! where the dialect allows it. A provider crate wraps it with its settings,
//! voices, REST path and diagnosis.

mod session;
mod shared;
mod utterance;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use voxwire_core::session::{self as core_session, SynthesisSession};
use voxwire_core::{AudioFormat, AudioStream, Result, Secret};

use crate::connect::{self, ConnectOptions, WsConn, MAX_MESSAGE_BYTES};
use crate::dialect::{Dialect, Frame, Voicing};
use crate::pool::Pool;

pub use shared::SharedStats;
pub use utterance::read_decoded;

/// The driver's limits.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// TCP, TLS and the upgrade answer.
    pub connect_timeout: Duration,
    /// The first audio of an utterance.
    pub first_audio_timeout: Duration,
    /// Each gap between audio pieces once audio started.
    pub inactivity_timeout: Duration,
    /// Each send to the server.
    pub send_timeout: Duration,
    /// Pooled sockets are rotated out at this age.
    pub max_connection_age: Duration,
    /// Idle sockets kept.
    pub pool_size: usize,
    /// A pooled socket must answer a ping within this to be reused.
    pub liveness_timeout: Duration,
    /// The largest server message accepted.
    pub max_message_bytes: usize,
    /// Shared sockets per group at most, for dialects that multiplex
    /// utterances by context (see [`Dialect::max_contexts`]): with all of
    /// them full, an utterance waits up to the connect timeout for a slot.
    pub max_shared_sockets: usize,
    /// The key: scrubbed from every error.
    pub secret: Secret,
}

impl DriverSettings {
    /// Defaults (10 s connect, 15 s first audio, 10 s inactivity, 1800 s
    /// age, 2 pooled, 1 s liveness, 8 shared sockets) around `secret`.
    pub fn new(secret: Secret) -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            first_audio_timeout: Duration::from_secs(15),
            inactivity_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(1800),
            pool_size: 2,
            liveness_timeout: Duration::from_secs(1),
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_shared_sockets: 8,
            secret,
        }
    }
}

/// A streaming provider over a vendor's WebSocket, spoken in dialect `D`.
pub struct WsProvider<D: Dialect> {
    inner: Arc<Inner<D>>,
}

impl<D: Dialect> Clone for WsProvider<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for WsProvider<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsProvider")
            .field("provider", &self.inner.dialect.provider())
            .field("idle", &self.inner.pool.idle())
            .finish()
    }
}

pub(crate) struct Inner<D: Dialect> {
    pub dialect: D,
    pub settings: DriverSettings,
    pub http: reqwest::Client,
    pub pool: Pool,
    pub shared: shared::Shared,
    pub contexts: AtomicU64,
}

impl<D: Dialect> WsProvider<D> {
    /// A driver for `dialect` with its own HTTP/1.1 client and pool.
    pub fn new(dialect: D, settings: DriverSettings) -> Result<Self> {
        let http = connect::http_client(settings.connect_timeout)
            .map_err(|e| e.or_provider(dialect.provider()))?;
        let pool = Pool::new(
            settings.pool_size,
            settings.max_connection_age,
            settings.liveness_timeout,
        )
        .with_goodbye(dialect.goodbye());
        Ok(Self {
            inner: Arc::new(Inner {
                dialect,
                settings,
                http,
                pool,
                shared: shared::Shared::new(),
                contexts: AtomicU64::new(0),
            }),
        })
    }

    /// The dialect.
    pub fn dialect(&self) -> &D {
        &self.inner.dialect
    }

    /// The limits.
    pub fn settings(&self) -> &DriverSettings {
        &self.inner.settings
    }

    /// The HTTP/1.1 client (for the provider's REST calls).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Opens a new socket for `voicing` (not pooled).
    pub async fn open(&self, voicing: &Voicing) -> Result<WsConn> {
        self.inner.open(voicing).await
    }

    /// Opens a socket for `voicing` now and pools it (or, for a dialect
    /// that shares sockets, adds it to its group), so the next request skips
    /// the handshake.
    pub async fn prewarm(&self, voicing: &Voicing) -> Result<()> {
        if self.inner.shares_sockets() {
            return self.inner.prewarm_shared(voicing).await;
        }
        let mut conn = self.open(voicing).await?;
        let dialect = &self.inner.dialect;
        if dialect.greets() {
            let limit = self.inner.settings.first_audio_timeout;
            if let Frame::Close { code, reason } = conn.recv(limit, "no greeting").await? {
                return Err(dialect.close_error(conn.endpoint(), code, &reason));
            }
        }
        self.inner.pool.keep(conn).await;
        Ok(())
    }

    /// Pools an open socket (one the provider opened and read its greeting
    /// from, e.g. Deepgram's `Metadata`, so the liveness check finds it clean).
    pub async fn keep(&self, conn: WsConn) {
        self.inner.pool.keep(conn).await;
    }

    /// Closes every idle pooled socket, each with the dialect's goodbye, and
    /// every shared socket (utterances still on them end with an error).
    pub async fn shutdown(&self) {
        self.inner.shared.shutdown();
        for conn in self.inner.pool.drain() {
            self.inner.pool.retire(conn).await;
        }
    }

    /// Idle pooled sockets.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle()
    }

    /// Open shared sockets (for dialects that multiplex by context), busy or idle.
    pub fn shared_connections(&self) -> usize {
        self.inner.shared.sockets()
    }

    /// What the shared sockets hold now: sockets, running tasks, slots,
    /// dials and waiters (all zero for a dialect that does not multiplex).
    pub fn shared_stats(&self) -> SharedStats {
        self.inner.shared.stats()
    }

    /// The count of running shared-socket tasks; it outlives the provider,
    /// so a test can drop the provider and see every task end.
    pub fn shared_task_count(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.inner.shared.task_count()
    }

    /// Speaks a whole `text` as one utterance; chunks arrive in `target` as the vendor sends them.
    pub async fn synthesize(
        &self,
        text: String,
        voicing: Voicing,
        target: AudioFormat,
    ) -> Result<AudioStream> {
        if self.inner.shares_sockets() {
            return shared::synthesize(self.inner.clone(), text, voicing, target).await;
        }
        utterance::synthesize(self.inner.clone(), text, voicing, target).await
    }

    /// A session of incremental text over one socket (taken from the pool when one is idle).
    pub async fn stream(&self, voicing: Voicing, target: AudioFormat) -> Result<SynthesisSession> {
        target.validate()?;
        if self.inner.shares_sockets() {
            // Validated now, so a bad voicing fails here rather than at the first text.
            self.inner.dialect.socket_key(&voicing)?;
            let (session, driver) = core_session::channel(core_session::DEFAULT_QUEUE_CAPACITY);
            tokio::spawn(shared::run_session(
                self.inner.clone(),
                driver,
                voicing,
                target,
            ));
            return Ok(session);
        }
        let (conn, _) = self.inner.checkout(&voicing).await?;
        let (session, driver) = core_session::channel(core_session::DEFAULT_QUEUE_CAPACITY);
        tokio::spawn(session::run(
            self.inner.clone(),
            conn,
            driver,
            voicing,
            target,
        ));
        Ok(session)
    }

    /// Speaks `text` once on `conn` and returns the time to first audio (the doctor's check).
    pub async fn speak_once(
        &self,
        conn: &mut WsConn,
        voicing: &Voicing,
        text: &str,
    ) -> Result<Duration> {
        utterance::speak_once(&self.inner, conn, voicing, text).await
    }
}

impl<D: Dialect> Inner<D> {
    pub(crate) async fn open(&self, voicing: &Voicing) -> Result<WsConn> {
        let request = self.dialect.upgrade(voicing)?;
        let options = ConnectOptions {
            provider: self.dialect.provider(),
            connect_timeout: self.settings.connect_timeout,
            upgrade_timeout: self.settings.connect_timeout,
            max_message_bytes: self.settings.max_message_bytes,
            secret: self.settings.secret.clone(),
        };
        let hint = |status| self.dialect.http_hint(status);
        connect::connect(&self.http, &request, &options, &hint).await
    }

    /// A live pooled socket for `voicing` (`true`), or a new one (`false`).
    pub(crate) async fn checkout(&self, voicing: &Voicing) -> Result<(WsConn, bool)> {
        let key = self.dialect.upgrade(voicing)?.url;
        match self.pool.take(&key).await {
            Some(conn) => Ok((conn, true)),
            None => Ok((self.open(voicing).await?, false)),
        }
    }

    /// A fresh context id for the next utterance.
    pub(crate) fn next_context(&self) -> String {
        format!("vw{}", self.contexts.fetch_add(1, Ordering::Relaxed))
    }
}
