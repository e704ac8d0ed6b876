//! What every handler shares: the router, the settings, the counters and limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use voxwire_core::Secret;
use voxwire_router::Router;

use crate::auth::ApiToken;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::settings::{OnRedisDown, ServerSettings};
use crate::shared::{Acquired, Lease, Shared};

/// Shared by every request.
pub struct AppState {
    pub(crate) router: Router,
    /// The OpenAI front's models, each with the router over its entries.
    pub(crate) openai_models: std::collections::BTreeMap<String, Router>,
    pub(crate) settings: ServerSettings,
    pub(crate) api_tokens: Vec<ApiToken>,
    /// Tokens also accepted as the `token` query parameter (the one the relay generated).
    pub(crate) query_tokens: Vec<ApiToken>,
    /// Browser-token keys: the first signs, every one verifies (rotation).
    pub(crate) browser_keys: Vec<Secret>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) sessions: Sessions,
    pub(crate) rates: RateLimits,
    /// The fleet's Redis (`[server.shared]`), when configured.
    pub(crate) shared: Option<Arc<Shared>>,
    /// Characters per token per minute and per day (`[server] tokens`).
    pub(crate) quotas: crate::quota::Quotas,
    /// Usage per credential and per chain entry (`GET /v1/usage`).
    pub(crate) usage: Arc<crate::usage::Usage>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// The counters, for `/metrics` and tests.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Takes one utterance from `principal`'s per-credential rate, or says
    /// how long until it can; always `Ok` when none is configured. Shared
    /// across the fleet when Redis is, in process while Redis is down.
    pub(crate) async fn take_rate(&self, principal: &str) -> Result<(), std::time::Duration> {
        let Some(per_second) = self.settings.token_utterances_per_second else {
            return Ok(());
        };
        if let Some(shared) = &self.shared {
            match shared
                .take_rate(principal, per_second, self.settings.token_utterance_burst)
                .await
            {
                Ok(taken) => return taken,
                Err(_down) => shared.fell_back(),
            }
        }
        self.rates.take(principal, &self.settings)
    }
}

impl AppState {
    /// Counts `chars` handed to the router against `principal`'s character
    /// quotas (across the fleet when Redis is shared), or says which one it
    /// would exceed; counts the refusal in `voxwire_limit_breaches_total`.
    pub(crate) async fn charge_quota(
        &self,
        principal: &str,
        chars: usize,
    ) -> Result<(), crate::quota::Over> {
        if !self.quotas.applies(principal) {
            return Ok(());
        }
        let chars = u64::try_from(chars).unwrap_or(u64::MAX);
        let charged = self
            .quotas
            .charge(self.shared.as_deref(), principal, chars)
            .await;
        if let Err(over) = &charged {
            self.metrics.limit_breached(over.quota);
        }
        charged
    }
}

/// Open WebSocket sessions, in all and per credential.
#[derive(Default)]
pub(crate) struct Sessions {
    total: AtomicUsize,
    per_principal: Mutex<HashMap<String, usize>>,
    /// Told when a session ends (the memory trimmer waits on it).
    pub(crate) ended: Arc<tokio::sync::Notify>,
}

/// Why a session could not be opened.
pub(crate) enum Refused {
    Total,
    PerPrincipal,
    /// The fleet's Redis is down and `on_redis_down = "refuse"`.
    SharedDown,
}

/// Holds one session's place; dropping it gives the place back.
pub(crate) struct SessionSlot {
    state: Arc<AppState>,
    principal: String,
    /// Its lease on the credential's count across the fleet (returned on drop).
    _lease: Option<Lease>,
}

impl Sessions {
    /// Opens a session for `principal`: under `max_sessions` in this
    /// process, and under `max_sessions_per_token` across the fleet when
    /// Redis is shared (in this process otherwise, or while Redis is down
    /// under `on_redis_down = "local"`).
    pub async fn open(state: &Arc<AppState>, principal: &str) -> Result<SessionSlot, Refused> {
        let s = &state.sessions;
        if s.total.load(Ordering::SeqCst) >= state.settings.max_sessions {
            return Err(Refused::Total);
        }
        let limit = state.settings.max_sessions_per_token;
        let (lease, counted) = match &state.shared {
            None => (None, false),
            Some(shared) => match shared.acquire(principal, limit).await {
                Ok(Acquired::Granted(lease)) => (Some(lease), true),
                Ok(Acquired::Full) => return Err(Refused::PerPrincipal),
                Err(_down) => match shared.policy {
                    OnRedisDown::Refuse => return Err(Refused::SharedDown),
                    OnRedisDown::Local => {
                        shared.fell_back();
                        (Some(shared.lease_unchecked(principal)), false)
                    }
                },
            },
        };
        let mut per = s.per_principal.lock().unwrap_or_else(|p| p.into_inner());
        if s.total.load(Ordering::SeqCst) >= state.settings.max_sessions {
            return Err(Refused::Total);
        }
        let mine = per.entry(principal.to_string()).or_default();
        if !counted && *mine >= limit {
            return Err(Refused::PerPrincipal);
        }
        *mine += 1;
        s.total.fetch_add(1, Ordering::SeqCst);
        state.metrics.session_opened();
        Ok(SessionSlot {
            state: state.clone(),
            principal: principal.to_string(),
            _lease: lease,
        })
    }

    /// Sessions open now.
    pub fn active(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let s = &self.state.sessions;
        let mut per = s.per_principal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.principal) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.principal);
            }
        }
        s.total.fetch_sub(1, Ordering::SeqCst);
        self.state.metrics.session_closed();
        s.ended.notify_one();
    }
}
