//! Idle WebSocket connections kept for reuse.
//!
//! A connection goes back only after a clean end of utterance (never after
//! an error). Connections older than the age limit are rotated out (vendors
//! close long-lived sockets: xAI near 2100 s, Deepgram at 60 min). Before a
//! connection is handed out it must answer a ping within the liveness
//! limit, so a half-open socket costs the caller a ping, not a first-audio
//! timeout.

use std::sync::Mutex;
use std::time::Duration;

use crate::connect::WsConn;
use crate::dialect::Outgoing;

/// Idle connections, by what they were opened for.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<Vec<WsConn>>,
    capacity: usize,
    max_age: Duration,
    liveness: Duration,
    goodbye: Option<Outgoing>,
}

impl Pool {
    /// Holds up to `capacity` idle connections younger than `max_age`; each
    /// must answer a ping within `liveness` to be reused.
    pub fn new(capacity: usize, max_age: Duration, liveness: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            capacity,
            max_age,
            liveness,
            goodbye: None,
        }
    }

    /// Sends `goodbye` on every socket the pool retires (rotated out, over
    /// capacity, drained), for vendors whose sessions linger server-side
    /// when a socket is dropped without one.
    pub fn with_goodbye(mut self, goodbye: Option<Outgoing>) -> Self {
        self.goodbye = goodbye;
        self
    }

    /// Closes `conn` with the pool's goodbye (bounded, best effort).
    pub async fn retire(&self, conn: WsConn) {
        conn.close_with(self.goodbye.clone()).await;
    }

    /// Takes every idle connection out (for a shutdown that retires them).
    pub fn drain(&self) -> Vec<WsConn> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WsConn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live idle connection opened for `key`, young enough to use; dead or
    /// old ones met on the way are closed.
    pub async fn take(&self, key: &str) -> Option<WsConn> {
        loop {
            let (conn, old) = {
                let mut idle = self.lock();
                let (young, old): (Vec<WsConn>, Vec<WsConn>) =
                    idle.drain(..).partition(|c| c.age() < self.max_age);
                *idle = young;
                let conn = idle
                    .iter()
                    .position(|c| c.key() == key)
                    .map(|at| idle.swap_remove(at));
                (conn, old)
            };
            for c in old {
                self.retire(c).await;
            }
            let conn = conn?;
            let mut conn = conn;
            if conn.is_alive(self.liveness).await {
                return Some(conn);
            }
            tracing::debug!(
                endpoint = conn.endpoint(),
                "a pooled connection did not answer a ping: dropped"
            );
        }
    }

    /// An idle connection for `key` with only the cheap check (nothing
    /// waiting on it); the caller proves it alive with a ping sent along
    /// with its request ([`WsConn::send_ping`], [`WsConn::recv_probe`]).
    pub fn take_unprobed(&self, key: &str) -> Option<WsConn> {
        let mut idle = self.lock();
        idle.retain(|c| c.age() < self.max_age);
        loop {
            let at = idle.iter().position(|c| c.key() == key)?;
            let mut conn = idle.swap_remove(at);
            if conn.is_clean() {
                return Some(conn);
            }
        }
    }

    /// How long a pooled connection has to answer a ping.
    pub fn liveness(&self) -> Duration {
        self.liveness
    }

    /// Keeps a connection after a clean utterance; one too old or over
    /// capacity is handed back for the caller to [`retire`](Self::retire).
    pub fn put(&self, conn: WsConn) -> Option<WsConn> {
        if conn.age() >= self.max_age {
            return Some(conn);
        }
        let mut idle = self.lock();
        if idle.len() < self.capacity {
            idle.push(conn);
            None
        } else {
            Some(conn)
        }
    }

    /// [`put`](Self::put), retiring (with the goodbye) what the pool does not keep.
    pub async fn keep(&self, conn: WsConn) {
        if let Some(conn) = self.put(conn) {
            self.retire(conn).await;
        }
    }

    /// Idle connections held.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }
}
