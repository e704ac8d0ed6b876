//! `voxwire serve`: the relay, until Ctrl-C or SIGTERM, then a graceful stop.

use std::io::Write as _;

use voxwire_router::{Router, RouterSettings};
use voxwire_server::{Relay, ServerSettings};

use crate::args::ServeArgs;
use crate::chain;
use crate::config;
use crate::exit::CliError;

/// Builds the router and the relay from config, serves, and drains on a signal.
pub fn run(args: ServeArgs, vars: Vec<(String, String)>) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let loaded = config::load(args.chain.config.as_deref(), &vars)?;
        let config = &loaded.config;
        let entries = chain::resolve(config, &args.chain.providers, &vars)?;
        let ids: Vec<String> = entries.iter().map(|e| e.provider.clone()).collect();
        let built = tokio::task::spawn_blocking(move || chain::build(&entries))
            .await
            .map_err(|e| CliError::failure(format!("building the providers failed: {e}")))??;
        let _prewarm = built.prewarm();
        let router_settings = RouterSettings::from_table(&config.router)
            .map_err(|e| CliError::from_validation(&e))?;
        let router = Router::with_entries(built.into_entries(), router_settings)
            .map_err(|e| CliError::from_validation(&e))?;
        let mut settings = ServerSettings::from_table(&config.server, &vars)
            .map_err(|e| CliError::from_validation(&e))?;
        // The browser demo, when the test command (or a build) has made it here.
        if settings.web_dir.is_none() && std::path::Path::new("web/pkg/voxwire_web.js").is_file() {
            settings.web_dir = Some("web".into());
        }
        let relay = Relay::bind(args.listen, router, settings)
            .await
            .map_err(|e| CliError::from_validation(&e))?;
        let addr = relay
            .local_addr()
            .map_err(|e| CliError::failure(e.to_string()))?;
        // The first line stays machine-readable (xtask and the tests read its
        // `http://HOST:PORT`); the demo page's ready URL follows.
        // `writeln!` with the error dropped: a closed stderr must not end the relay.
        let mut log = std::io::stderr();
        let _ = writeln!(
            log,
            "voxwire: relay listening on http://{addr} (WebSocket ws://{addr}/v1/tts; chain {})",
            ids.join(" → ")
        );
        let demo = relay
            .demo_url()
            .map_err(|e| CliError::failure(e.to_string()))?;
        if relay.generated_token().is_some() {
            let _ = writeln!(
                log,
                "voxwire: no server tokens configured: generated one for this run (loopback only)"
            );
        }
        let _ = writeln!(log, "voxwire: demo page: {demo}");
        relay
            .serve(stop_signal())
            .await
            .map_err(|e| CliError::failure(e.to_string()))?;
        let _ = writeln!(std::io::stderr(), "voxwire: relay stopped");
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
