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
use crate::settings::ServerSettings;

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
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// The counters, for `/metrics` and tests.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
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
}

/// Holds one session's place; dropping it gives the place back.
pub(crate) struct SessionSlot {
    state: Arc<AppState>,
    principal: String,
}

impl Sessions {
    pub fn open(state: &Arc<AppState>, principal: &str) -> Result<SessionSlot, Refused> {
        let s = &state.sessions;
        let mut per = s.per_principal.lock().unwrap_or_else(|p| p.into_inner());
        if s.total.load(Ordering::SeqCst) >= state.settings.max_sessions {
            return Err(Refused::Total);
        }
        let mine = per.entry(principal.to_string()).or_default();
        if *mine >= state.settings.max_sessions_per_token {
            return Err(Refused::PerPrincipal);
        }
        *mine += 1;
        s.total.fetch_add(1, Ordering::SeqCst);
        state.metrics.session_opened();
        Ok(SessionSlot {
            state: state.clone(),
            principal: principal.to_string(),
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
