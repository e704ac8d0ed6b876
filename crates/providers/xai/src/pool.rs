//! Reusing WebSocket connections across utterances.
//!
//! A connection goes back to the pool only after a clean `audio.done`, so a
//! connection that saw an error is never reused. Connections older than the
//! maximum age are closed instead of reused (xAI closes them near 2100 s).

use std::sync::Mutex;
use std::time::Duration;

use crate::ws::Conn;

pub(crate) struct Pool {
    idle: Mutex<Vec<Conn>>,
    capacity: usize,
    max_age: Duration,
}

impl Pool {
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            capacity,
            max_age,
        }
    }

    /// An idle connection opened for `query`, young enough to use.
    pub fn take(&self, query: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|c| c.age() < self.max_age);
        let at = idle.iter().position(|c| c.query == query)?;
        Some(idle.swap_remove(at))
    }

    /// Returns a connection after a clean utterance.
    pub fn put(&self, conn: Conn) {
        if conn.age() >= self.max_age {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.capacity {
            idle.push(conn);
        }
    }

    /// Idle connections held.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
