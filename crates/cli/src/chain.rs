//! Which providers to use, in which order, and building them from the registry.
//!
//! The chain is `--provider ID...` when given (each taking its settings from the
//! config's entry of the same id, if any), else the config's `[[chain]]`, else the
//! registry's default chain (with the `piper` feature: `piper` ahead of
//! `espeak` whenever a Piper voice and ONNX Runtime are found, see
//! `voxwire_piper::discover`). `VOXWIRE_<PROVIDER>_<SETTING>` variables apply to
//! every entry, including default and `--provider` ones.

use std::sync::Arc;

use voxwire_core::{registry, Config, ErrorKind, ProviderConfig, TtsError, TtsProvider};
use voxwire_router::cache::{CacheSettings, PhraseCache, StoreKind};
use voxwire_router::{Entry, Policy, Router, RouterSettings};

use crate::exit::CliError;

/// The entries to build, in order. Unknown ids are a usage error (exit 2).
pub fn resolve(
    config: &Config,
    ids: &[String],
    vars: &[(String, String)],
) -> Result<Vec<ProviderConfig>, CliError> {
    let entries: Vec<ProviderConfig> = if ids.is_empty() {
        config.chain_or_default()
    } else {
        ids.iter()
            .map(|id| {
                config
                    .chain
                    .iter()
                    .find(|e| &e.provider == id)
                    .cloned()
                    .unwrap_or_else(|| ProviderConfig::new(id.clone()))
            })
            .collect()
    };
    if let Some(unknown) = entries
        .iter()
        .find(|e| registry::find(&e.provider).is_none())
    {
        return Err(CliError::from_validation(&registry::unknown_provider(
            &unknown.provider,
        )));
    }
    if entries.is_empty() {
        return Err(CliError::usage(
            "no provider to use: configure a [[chain]] or pass --provider ID",
        ));
    }
    Ok(entries
        .into_iter()
        .map(|mut entry| {
            entry.apply_env(vars);
            entry
        })
        .collect())
}

/// The providers that could be built, and the errors of those that could not.
pub struct Built {
    /// Ready providers, in chain order.
    pub providers: Vec<Arc<dyn TtsProvider>>,
    /// Each ready provider's router policy (same order).
    pub policies: Vec<Policy>,
    /// Each ready provider's entry name (same order): `name`, else its id,
    /// so health, events and failover lines name the entry.
    pub names: Vec<String>,
    /// Each ready provider's settings that change its sound (same order):
    /// part of the phrase cache's key.
    pub sounds: Vec<String>,
    /// Why each other entry could not be built.
    pub skipped: Vec<TtsError>,
}

/// A pre-warm running in the background; dropping it stops it.
#[derive(Debug)]
pub struct Prewarm(tokio::task::JoinHandle<()>);

impl Drop for Prewarm {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Built {
    /// The router's named entries, in chain order (consumes the providers).
    pub fn into_entries(self) -> Vec<Entry> {
        self.providers
            .into_iter()
            .zip(self.policies)
            .zip(self.names)
            .zip(self.sounds)
            .map(|(((provider, policy), name), sound)| {
                Entry::new(provider, policy).named(name).sounding(sound)
            })
            .collect()
    }

    /// Pre-warms the chain's first network entry (the first whose
    /// `prewarm` does something) in the background, so the first request
    /// skips its handshake; a failure is left for the request to report.
    pub fn prewarm(&self) -> Prewarm {
        let providers = self.providers.clone();
        Prewarm(tokio::spawn(async move {
            for p in providers {
                match p.prewarm().await {
                    Ok(false) => continue,
                    Ok(true) => break,
                    Err(e) => {
                        tracing::debug!(provider = p.id(), "pre-warm failed: {e}");
                        break;
                    }
                }
            }
        }))
    }
}

/// The phrase cache `[cache]` asks for, if any; `store = "redis"` uses the
/// Redis of `[server.shared]` (read with `vars` applied).
pub fn phrase_cache(
    config: &Config,
    vars: &[(String, String)],
) -> Result<Option<PhraseCache>, CliError> {
    let settings =
        CacheSettings::from_table(&config.cache).map_err(|e| CliError::from_validation(&e))?;
    let Some(settings) = settings else {
        return Ok(None);
    };
    let cache = match settings.store {
        StoreKind::Redis => {
            let server = voxwire_server::ServerSettings::from_table(&config.server, vars)
                .map_err(|e| CliError::from_validation(&e))?;
            let store = voxwire_server::phrase_store::RedisPhraseStore::connect(
                &server.shared,
                settings.max_bytes,
            )
            .map_err(|e| CliError::from_validation(&e))?;
            PhraseCache::new(
                Arc::new(store),
                std::time::Duration::from_secs(settings.ttl_s),
            )
        }
        _ => PhraseCache::from_settings(&settings).map_err(|e| CliError::from_validation(&e))?,
    };
    Ok(Some(cache))
}

/// A router over `entries`, with the phrase cache if there is one.
pub fn router(
    entries: Vec<Entry>,
    settings: RouterSettings,
    cache: Option<&PhraseCache>,
) -> Result<Router, CliError> {
    match cache {
        Some(cache) => Router::with_phrase_cache(entries, settings, cache.clone()),
        None => Router::with_entries(entries, settings),
    }
    .map_err(|e| CliError::from_validation(&e))
}

/// Builds every entry. One that fails is skipped with a line on stderr (the next
/// one is tried, as for a failed synthesis); when none can be built the result is
/// an error: exit 2 if every failure was a config mistake, else exit 1.
pub fn build(entries: &[ProviderConfig]) -> Result<Built, CliError> {
    let mut built = Built {
        providers: Vec::new(),
        policies: Vec::new(),
        names: Vec::new(),
        sounds: Vec::new(),
        skipped: Vec::new(),
    };
    for (i, entry) in entries.iter().enumerate() {
        let policy = Policy::from_table(entry.entry_name(), &entry.policy)
            .map_err(|e| CliError::from_validation(&e))?;
        match registry::build(entry) {
            Ok(provider) => {
                built.providers.push(provider);
                built.policies.push(policy);
                built.names.push(entry.entry_name().to_string());
                built
                    .sounds
                    .push(voxwire_router::cache::sound_of(&entry.settings));
            }
            Err(err) => {
                let err = err.or_provider(entry.provider.clone());
                if let Some(next) = entries.get(i + 1) {
                    eprintln!(
                        "voxwire: {} failed ({err}); trying {}",
                        entry.entry_name(),
                        next.entry_name()
                    );
                }
                built.skipped.push(err);
            }
        }
    }
    if built.providers.is_empty() {
        let all_config = built.skipped.iter().all(|e| e.kind() == ErrorKind::Config);
        let last = built
            .skipped
            .last()
            .map(ToString::to_string)
            .unwrap_or_else(|| "no provider could be built".to_string());
        return Err(if all_config {
            CliError::usage(last)
        } else {
            CliError::failure(last)
        });
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_provider_is_a_usage_error_naming_it() {
        let err = resolve(&Config::default(), &["nope".to_string()], &[]).unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("unknown provider `nope`"), "{err}");
    }

    #[test]
    fn provider_flags_take_settings_from_config_and_environment() {
        let config = Config {
            chain: vec![ProviderConfig::new("fake-ok").with("colour", "blue")],
            ..Config::default()
        };
        let env = vars(&[("VOXWIRE_FAKE_OK_SIZE", "3"), ("VOXWIRE_CHAIN", "ignored")]);
        let got = resolve(
            &config,
            &["fake-fail".to_string(), "fake-ok".to_string()],
            &env,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].provider, "fake-fail");
        assert_eq!(got[1].settings["colour"].as_str(), Some("blue"));
        assert_eq!(got[1].settings["size"].as_integer(), Some(3));
    }

    #[test]
    fn build_skips_broken_entries_and_fails_when_none_is_left() {
        let entries = vec![
            ProviderConfig::new("fake-ok").with("broken", true),
            ProviderConfig::new("fake-ok"),
        ];
        let built = build(&entries).unwrap();
        assert_eq!(built.providers.len(), 1);
        assert_eq!(built.skipped.len(), 1);
        let err = build(&entries[..1]).err().unwrap();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("broken"), "{err}");
    }

    #[cfg(feature = "piper")]
    #[tokio::test]
    async fn a_broken_piper_entry_is_skipped_and_espeak_still_speaks() {
        use futures::StreamExt;
        let entries = vec![
            ProviderConfig::new("piper").with("voice", "/nowhere/en_US-joe-medium.onnx"),
            ProviderConfig::new("espeak"),
        ];
        let built = build(&entries).unwrap();
        assert_eq!(built.skipped.len(), 1);
        let err = &built.skipped[0];
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert_eq!(built.providers.len(), 1);
        assert_eq!(built.providers[0].id(), "espeak");
        let mut stream = built.providers[0]
            .synthesize(voxwire_core::SynthesisRequest::new("Still speaking."))
            .await
            .unwrap();
        let mut bytes = 0;
        while let Some(chunk) = stream.next().await {
            bytes += chunk.unwrap().data.len();
        }
        assert!(bytes > 10_000, "{bytes} bytes");
    }
}
