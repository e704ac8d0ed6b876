//! Up/down state of one provider.

use std::sync::Mutex;
use std::time::Duration;

use crate::policy::Policy;

#[derive(Debug, Default)]
struct State {
    down: bool,
    failures: u32,
    last_error: Option<String>,
    /// It spoke since it was last marked down (or since the chain was built).
    proven: bool,
}

/// Whether a provider is used, and how often it failed in a row.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

/// What marking a provider down decided.
pub(crate) struct MarkedDown {
    /// The wait before the next probe.
    pub cooldown: Duration,
    /// Whether it was up until now (an availability change to report).
    pub was_up: bool,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_up(&self) -> bool {
        !self.lock().down
    }

    /// Up, and it spoke since it was last down: sentences may be asked of it
    /// in parallel without every one of them finding a failure at once.
    pub fn is_proven(&self) -> bool {
        let s = self.lock();
        !s.down && s.proven
    }

    /// The error that last took it down.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// Records a failure that takes the provider out of rotation.
    pub fn mark_down(&self, policy: &Policy, why: &str) -> MarkedDown {
        let mut s = self.lock();
        let was_up = !s.down;
        s.down = true;
        s.proven = false;
        s.failures = s.failures.saturating_add(1);
        s.last_error = Some(why.to_string());
        MarkedDown {
            cooldown: policy.cooldown(s.failures),
            was_up,
        }
    }

    /// A probe failed again: the next wait, longer.
    pub fn probe_failed(&self, policy: &Policy, why: &str) -> Duration {
        let mut s = self.lock();
        s.failures = s.failures.saturating_add(1);
        s.last_error = Some(why.to_string());
        policy.cooldown(s.failures)
    }

    /// It worked (a probe, or a request while everything was down): back in rotation.
    /// Returns whether it was down.
    pub fn mark_up(&self) -> bool {
        let mut s = self.lock();
        let was_down = s.down;
        s.down = false;
        s.proven = true;
        s.failures = 0;
        s.last_error = None;
        was_down
    }
}
