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

/// Idle connections, by what they were opened for.
#[derive(Debug)]
pub struct Pool {
    idle: Mutex<Vec<WsConn>>,
    capacity: usize,
    max_age: Duration,
    liveness: Duration,
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
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WsConn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live idle connection opened for `key`, young enough to use; dead or
    /// old ones met on the way are closed.
    pub async fn take(&self, key: &str) -> Option<WsConn> {
        loop {
            let conn = {
                let mut idle = self.lock();
                idle.retain(|c| c.age() < self.max_age);
                let at = idle.iter().position(|c| c.key() == key)?;
                idle.swap_remove(at)
            };
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

    /// Keeps a connection after a clean utterance (closed instead when old or the pool is full).
    pub fn put(&self, conn: WsConn) {
        if conn.age() >= self.max_age {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.capacity {
            idle.push(conn);
        }
    }

    /// Idle connections held.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }
}
