//! Starting the relay and stopping it gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use voxwire_core::{Result, Secret, TtsError};
use voxwire_router::Router;

use crate::auth;
use crate::metrics::Metrics;
use crate::routes;
use crate::settings::ServerSettings;
use crate::state::{AppState, RateLimits, Sessions};

/// A bound relay, ready to serve.
pub struct Relay {
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown_tx: watch::Sender<bool>,
}

impl Relay {
    /// Binds `addr` and checks the settings against it: open mode only on loopback,
    /// and at least one way in (server tokens) otherwise.
    pub async fn bind(addr: SocketAddr, router: Router, settings: ServerSettings) -> Result<Self> {
        settings.validate()?;
        if settings.open && !auth::is_loopback_listen(&addr) {
            return Err(TtsError::config(format!(
                "open mode (no authentication) is for local development only; refusing to listen on {addr}"
            ))
            .with_hint("listen on 127.0.0.1, or configure [server] tokens"));
        }
        if !settings.open && settings.tokens.is_empty() {
            return Err(
                TtsError::config("no server tokens configured: nobody could connect").with_hint(
                    "set [server] tokens, VOXWIRE_SERVER_TOKEN, or open = true on loopback",
                ),
            );
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| TtsError::config(format!("cannot listen on {addr}: {e}")))?;
        let browser_key = match &settings.browser_token_key {
            Some(k) => k.clone(),
            None => random_key()?,
        };
        let (shutdown_tx, shutdown) = watch::channel(false);
        let state = Arc::new(AppState {
            router,
            api_tokens: settings.api_tokens(),
            settings,
            browser_key,
            metrics: Arc::new(Metrics::default()),
            sessions: Sessions::default(),
            rates: RateLimits::default(),
            shutdown,
        });
        Ok(Self {
            listener,
            state,
            shutdown_tx,
        })
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
        axum::serve(self.listener, app)
            .with_graceful_shutdown(signal)
            .await
            .map_err(|e| TtsError::config(format!("the server failed: {e}")))?;
        // Upgraded WebSockets outlive the HTTP server: wait for them, bounded.
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(1);
        while state.sessions.active() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// 32 random bytes from the OS, for the per-process browser-token key.
fn random_key() -> Result<Secret> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            TtsError::config(format!("cannot read random bytes for the token key: {e}"))
                .with_hint("set [server] browser_token_key")
        })?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}
