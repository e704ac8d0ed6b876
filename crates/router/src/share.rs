//! Health shared with other routers (a fleet of relays): [`HealthShare`].
//! Native only: a browser's router keeps its health to itself.

use std::sync::Arc;
use std::time::Duration;

use crate::{Inner, Router, RouterEvent};

/// A change of one entry's availability, as a router publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    /// Marked down (`true`) or back in rotation (`false`).
    pub down: bool,
    /// Why: the error that took it down, or what brought it back.
    pub reason: String,
    /// The entry's longest cooldown (`cooldown_max_ms`): how long a "down"
    /// is worth remembering.
    pub cooldown_max: Duration,
}

/// Where a router publishes its entries' health changes, and asks whether
/// it may probe an entry that is down; set with [`Router::share_health`].
/// Changes from elsewhere come back through [`Router::apply_remote`].
///
/// Both methods are called synchronously on the router's paths: they must
/// not block (queue any I/O and answer from what is known).
pub trait HealthShare: Send + Sync {
    /// The router marked `entry` down, or brought it back, itself (never
    /// called for a change given to [`Router::apply_remote`]).
    fn changed(&self, entry: &str, change: &HealthChange);

    /// Asked before each recovery probe of `entry`: `false` when another
    /// router probes it (this one waits its cooldown and asks again).
    fn may_probe(&self, entry: &str) -> bool;
}

impl Router {
    /// Shares this router's health through `share`: every entry it marks
    /// down or brings back is published, and a recovery probe is made only
    /// when `share` allows it. Set once: `false` (and nothing changes) when
    /// the router already has one (a clone of it, say).
    pub fn share_health(&self, share: Arc<dyn HealthShare>) -> bool {
        self.inner.share.set(share).is_ok()
    }

    /// Applies a change published by another router of the fleet to the
    /// entry named `entry` (`false` when there is none): `down` takes it out
    /// of rotation (its recovery probe waits for [`HealthShare::may_probe`]),
    /// otherwise it is back. Reported as [`RouterEvent::Availability`] when
    /// it changes anything, and never published back.
    pub fn apply_remote(&self, entry: &str, down: bool, reason: &str) -> bool {
        let inner = &self.inner;
        let Some(idx) = inner.members.iter().position(|m| m.name == entry) else {
            return false;
        };
        let member = &inner.members[idx];
        let reason = format!("the fleet: {reason}");
        let changed = if down {
            let marked = member.health.mark_down(&member.policy, &reason);
            inner.start_probe(idx, marked.cooldown);
            marked.was_up
        } else {
            member.health.mark_up()
        };
        if changed {
            tracing::info!(entry, down, %reason, "entry health from the fleet");
            let _ = inner.events.send(RouterEvent::Availability {
                provider: member.name.clone(),
                available: !down,
                reason,
            });
        }
        true
    }
}

impl Inner {
    /// Publishes a change this router made itself.
    pub(crate) fn publish(&self, idx: usize, down: bool, reason: &str) {
        if let Some(share) = self.share.get() {
            let member = &self.members[idx];
            share.changed(
                &member.name,
                &HealthChange {
                    down,
                    reason: reason.to_string(),
                    cooldown_max: std::time::Duration::from_millis(member.policy.cooldown_max_ms),
                },
            );
        }
    }

    /// Whether this router may probe entry `idx` now (always, unshared).
    pub(crate) fn may_probe(&self, idx: usize) -> bool {
        self.share
            .get()
            .is_none_or(|share| share.may_probe(&self.members[idx].name))
    }
}
