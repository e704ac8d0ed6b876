//! Starting the relay and stopping it gracefully.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use voxwire_core::{Result, Secret, TtsError};
use voxwire_router::Router;

use crate::auth;
use crate::fleet_health::FleetHealth;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::random;
use crate::routes;
use crate::settings::ServerSettings;
use crate::shared::Shared;
use crate::state::{AppState, Sessions};

/// The model names the OpenAI front serves when `[server.openai] models` is
/// not set: OpenAI's own speech models, so an SDK's defaults work unchanged.
pub const DEFAULT_OPENAI_MODELS: [&str; 5] = voxwire_openai::wire::DEPRECATED_MODELS;

/// A bound relay, ready to serve.
pub struct Relay {
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown_tx: watch::Sender<bool>,
    generated: Option<Secret>,
    /// The routers' health shared through `[server.shared]`, when set.
    fleet_health: Option<Arc<FleetHealth>>,
}

impl Relay {
    /// Binds `addr` and checks the settings against it: open mode only on loopback,
    /// and at least one way in (server tokens) otherwise.
    pub async fn bind(addr: SocketAddr, router: Router, settings: ServerSettings) -> Result<Self> {
        Self::bind_with_models(addr, router, BTreeMap::new(), settings).await
    }

    /// [`Relay::bind`], with the OpenAI front's models served by routers of
    /// their own (built over a subset of the chain's entries, as
    /// `[server.openai] models` names them). Without any, OpenAI's own
    /// model names ([`DEFAULT_OPENAI_MODELS`]) are served by `router`.
    pub async fn bind_with_models(
        addr: SocketAddr,
        router: Router,
        models: BTreeMap<String, Router>,
        settings: ServerSettings,
    ) -> Result<Self> {
        settings.validate()?;
        let openai_models = if models.is_empty() {
            DEFAULT_OPENAI_MODELS
                .iter()
                .map(|m| (m.to_string(), router.clone()))
                .collect()
        } else {
            models
        };
        if settings.open && !auth::is_loopback_listen(&addr) {
            return Err(TtsError::config(format!(
                "open mode (no authentication) is for local development only; refusing to listen on {addr}"
            ))
            .with_hint("listen on 127.0.0.1, or configure [server] tokens"));
        }
        let mut settings = settings;
        let mut generated = None;
        if !settings.open && settings.tokens.is_empty() {
            if !auth::is_loopback_listen(&addr) {
                return Err(
                    TtsError::config("no server tokens configured: nobody could connect")
                        .with_hint("set [server] tokens or VOXWIRE_SERVER_TOKEN"),
                );
            }
            // On loopback a newcomer wants the demo page: make a token, as
            // notebook servers do, and announce it in the ready URL.
            let token = random::random_hex(24)?;
            settings.tokens.push(crate::TokenEntry {
                id: "generated".into(),
                secret: token.clone(),
                chars_per_minute: None,
                chars_per_day: None,
            });
            generated = Some(token);
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| TtsError::config(format!("cannot listen on {addr}: {e}")))?;
        let mut browser_keys = settings.browser_keys();
        if browser_keys.is_empty() {
            // One relay alone: a key per process. Several relays need
            // `browser_token_keys` in config, the same on each.
            browser_keys.push(random::random_hex(32)?);
        }
        let query_tokens = settings
            .api_tokens()
            .into_iter()
            .filter(|t| t.id == "generated" && generated.is_some())
            .collect();
        let (shutdown_tx, shutdown) = watch::channel(false);
        let metrics = Arc::new(Metrics::default());
        let shared = Shared::new(&settings.shared, metrics.clone())?.map(Arc::new);
        let quotas = crate::quota::Quotas::new(&settings);
        let shared_is_set = shared.is_some();
        // Every router (the models' may be clones of the main one: shared once).
        let fleet_health = shared.as_ref().map(|shared| {
            let routers = std::iter::once(router.clone()).chain(openai_models.values().cloned());
            Arc::new(FleetHealth::new(shared.clone(), routers))
        });
        let state = Arc::new(AppState {
            router,
            openai_models,
            api_tokens: settings.api_tokens(),
            query_tokens,
            settings,
            browser_keys,
            metrics,
            sessions: Sessions::default(),
            rates: RateLimits::default(),
            shared,
            quotas,
            usage: Arc::new(crate::usage::Usage::new(shared_is_set)),
            shutdown,
        });
        Ok(Self {
            listener,
            state,
            shutdown_tx,
            generated,
            fleet_health,
        })
    }

    /// The server token the relay generated because none was configured
    /// (loopback only), to print for the operator.
    pub fn generated_token(&self) -> Option<&Secret> {
        self.generated.as_ref()
    }

    /// The demo page's ready URL: `http://ADDR/`, with `?token=` when the
    /// relay generated its token.
    pub fn demo_url(&self) -> Result<String> {
        let addr = self.local_addr()?;
        let mut url = url::Url::parse(&format!("http://{addr}/"))
            .map_err(|e| TtsError::config(format!("no URL for {addr}: {e}")))?;
        if let Some(token) = &self.generated {
            url.query_pairs_mut().append_pair("token", token.expose());
        }
        Ok(url.to_string())
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| TtsError::config(format!("no local address: {e}")))
    }

    /// The shared state (metrics, session counts), for tests and embedding.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `stop` completes, then: stops accepting, lets utterances in
    /// flight finish within the grace period, closes sessions with 1001.
    pub async fn serve(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let app = routes::app(self.state.clone());
        let shutdown_tx = self.shutdown_tx;
        let state = self.state.clone();
        let grace = state.settings.grace();
        let signal = async move {
            stop.await;
            tracing::info!("shutting down: draining sessions");
            let _ = shutdown_tx.send(true);
        };
        // Speech is many small frames: Nagle's algorithm would hold each behind
        // the previous one's ACK (up to the peer's 40 ms delayed ACK).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client connection");
            }
        });
        // Owned here: aborted when serving ends.
        let trimmer = crate::task::AbortOnDrop(tokio::spawn(crate::memory::trim_after_sessions(
            state.sessions.ended.clone(),
        )));
        // Renews this relay's leases in the shared Redis; told to finish
        // (removing the last released leases) once every session has ended.
        let (keeper_stop, keeper) = match state.shared.clone() {
            Some(shared) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = crate::task::AbortOnDrop(tokio::spawn(shared.clone().keep(rx)));
                // Writes this relay's usage counts to the shared Redis.
                let (usage_tx, usage_rx) = tokio::sync::oneshot::channel();
                let usage = crate::task::AbortOnDrop(tokio::spawn(
                    state.usage.clone().keep(shared, usage_rx),
                ));
                (Some((tx, usage_tx)), Some((task, usage)))
            }
            None => (None, None),
        };
        // Shares the routers' health through the same Redis; ended below.
        let (health_stop, health) = match self.fleet_health {
            Some(fleet) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = crate::task::AbortOnDrop(tokio::spawn(fleet.run(rx)));
                (Some(tx), Some(task))
            }
            None => (None, None),
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
            .map_err(|e| TtsError::config(format!("the server failed: {e}")))?;
        drop(trimmer);
        // Upgraded WebSockets outlive the HTTP server: wait for them, bounded.
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(1);
        while state.sessions.active() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let (Some(stop), Some(mut health)) = (health_stop, health) {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut health.0).await;
        }
        if let (Some((stop, usage_stop)), Some((mut keeper, mut usage))) = (keeper_stop, keeper) {
            let _ = stop.send(());
            let _ = usage_stop.send(());
            // Bounded: each removal and write has its own timeout; the TTL does the rest.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut keeper.0).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut usage.0).await;
        }
        Ok(())
    }
}
