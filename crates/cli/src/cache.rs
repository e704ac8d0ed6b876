//! `voxwire cache stats|clear`: the phrase cache's disk or Redis store, seen and emptied.

use std::io::Write;

use voxwire_router::cache::{CacheSettings, DiskStore, PhraseCache, StoreKind};

use crate::args::{CacheAction, CacheArgs};
use crate::config;
use crate::exit::CliError;

/// Bytes as people read them.
fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// Runs `voxwire cache`: the config's `[cache]`, or with none the default
/// disk store (so a cache left by an earlier config can be seen and emptied).
pub async fn run(args: CacheArgs, vars: Vec<(String, String)>) -> Result<(), CliError> {
    let loaded = config::load(args.config.as_deref(), &vars)?;
    let configured = CacheSettings::from_table(&loaded.config.cache)
        .map_err(|e| CliError::from_validation(&e))?;
    let off = configured.is_none();
    let settings = configured.unwrap_or_default();
    let mut out = std::io::stdout();
    if settings.store == StoreKind::Memory {
        let _ = writeln!(
            out,
            "the phrase cache is in memory: it lives inside each voxwire process (the relay counts it at /metrics as voxwire_phrase_cache_*); nothing to {}",
            match args.action {
                CacheAction::Stats => "show",
                CacheAction::Clear => "clear",
            }
        );
        return Ok(());
    }
    let (cache, place) = match settings.store {
        StoreKind::Redis => {
            let cache = crate::chain::phrase_cache(&loaded.config, &vars)?
                .ok_or_else(|| CliError::usage("[cache] names no store"))?;
            (cache, "the fleet's Redis ([server.shared])".to_string())
        }
        _ => {
            let path = settings
                .path
                .clone()
                .or_else(DiskStore::default_path)
                .ok_or_else(|| CliError::usage("no user cache directory: set [cache] path"))?;
            let cache = PhraseCache::from_settings(&CacheSettings {
                path: Some(path.clone()),
                ..settings.clone()
            })
            .map_err(|e| CliError::from_validation(&e))?;
            (cache, path.display().to_string())
        }
    };
    let note = if off {
        " (the phrase cache is off in this config: add [cache] to use it)"
    } else {
        ""
    };
    match args.action {
        CacheAction::Stats => {
            let usage = cache.store().usage().await;
            let _ = writeln!(
                out,
                "{place}: {} sentences, {} of at most {}, each kept {} s{note}",
                usage.entries,
                size(usage.bytes),
                size(settings.max_bytes),
                settings.ttl_s,
            );
        }
        CacheAction::Clear => {
            let cleared = cache.store().clear().await;
            let _ = writeln!(out, "cleared {cleared} sentences from {place}{note}");
        }
    }
    Ok(())
}
