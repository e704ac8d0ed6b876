//! `voxwire serve`: the relay, until Ctrl-C or SIGTERM, then a graceful stop.

use std::io::Write as _;

use std::collections::BTreeMap;

use voxwire_router::cache::PhraseCache;
use voxwire_router::{Entry, Router, RouterSettings};
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
        let entries = built.into_entries();
        // One cache for the chain and every model's router (keys name the entry).
        let cache = chain::phrase_cache(config, &vars)?;
        let router = chain::router(entries.clone(), router_settings.clone(), cache.as_ref())?;
        let mut settings = ServerSettings::from_table(&config.server, &vars)
            .map_err(|e| CliError::from_validation(&e))?;
        let models = model_routers(
            &settings,
            &router,
            &entries,
            &router_settings,
            cache.as_ref(),
        )?;
        // The browser demo, when the test command (or a build) has made it here.
        if settings.web_dir.is_none() && std::path::Path::new("web/pkg/voxwire_web.js").is_file() {
            settings.web_dir = Some("web".into());
        }
        let relay = Relay::bind_with_models(args.listen, router, models, settings)
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

/// The OpenAI front's models (`[server.openai] models`): each a router over
/// the chain entries it names, in its order; `[]` is the whole chain.
fn model_routers(
    settings: &ServerSettings,
    chain: &Router,
    entries: &[Entry],
    router_settings: &RouterSettings,
    cache: Option<&PhraseCache>,
) -> Result<BTreeMap<String, Router>, CliError> {
    let mut models = BTreeMap::new();
    for (model, names) in &settings.openai.models {
        if names.is_empty() {
            models.insert(model.clone(), chain.clone());
            continue;
        }
        let mut picked = Vec::new();
        for name in names {
            let entry = entries.iter().find(|e| &e.name == name).ok_or_else(|| {
                let known: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
                CliError::usage(format!(
                    "[server.openai] models: `{model}` names the entry `{name}`, which is not in the chain (entries: {})",
                    known.join(", ")
                ))
            })?;
            picked.push(entry.clone());
        }
        let router = chain::router(picked, router_settings.clone(), cache)?;
        models.insert(model.clone(), router);
    }
    Ok(models)
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
