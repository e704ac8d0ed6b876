//! The plug-in registry: provider crates register a factory; config picks them by id.
//!
//! A provider crate submits one [`ProviderFactory`] with `inventory`:
//!
//! ```ignore
//! voxwire_core::inventory::submit! {
//!     voxwire_core::ProviderFactory {
//!         id: "espeak",
//!         describe: "offline voice (eSpeak NG)",
//!         default_priority: Some(100),
//!         build: build_provider,
//!     }
//! }
//! ```
//!
//! The binary must link the crate (a `use the_crate as _;` is enough).

use std::sync::Arc;

use crate::config::ProviderConfig;
use crate::error::{Result, TtsError};
use crate::provider::TtsProvider;

/// How to build one kind of provider from its config entry.
#[derive(Debug)]
pub struct ProviderFactory {
    /// The id config entries use (`provider = "..."`).
    pub id: &'static str,
    /// One line for `voxwire voices` and error messages.
    pub describe: &'static str,
    /// Where the provider goes in the default chain (lower first), or `None` to
    /// leave it out unless configured. Called each time the default chain is built,
    /// so it may look at the environment (e.g. whether an API key is set).
    pub default_priority: fn() -> Option<i32>,
    /// Builds a provider from its settings.
    pub build: fn(&ProviderConfig) -> Result<Arc<dyn TtsProvider>>,
}

inventory::collect!(ProviderFactory);

/// Every linked factory, sorted by id.
pub fn factories() -> Vec<&'static ProviderFactory> {
    let mut all: Vec<_> = inventory::iter::<ProviderFactory>.into_iter().collect();
    all.sort_by_key(|f| f.id);
    all
}

/// The factory for `id`, if a crate providing it is linked.
pub fn find(id: &str) -> Option<&'static ProviderFactory> {
    inventory::iter::<ProviderFactory>
        .into_iter()
        .find(|f| f.id == id)
}

/// Builds the provider a config entry names.
pub fn build(config: &ProviderConfig) -> Result<Arc<dyn TtsProvider>> {
    let factory = find(&config.provider).ok_or_else(|| unknown_provider(&config.provider))?;
    (factory.build)(config).map_err(|e| e.or_provider(factory.id))
}

/// The error for an id no linked crate provides, listing the ones that exist.
pub fn unknown_provider(id: &str) -> TtsError {
    let known: Vec<&str> = factories().iter().map(|f| f.id).collect();
    TtsError::config(format!(
        "unknown provider `{id}`: available providers are {}",
        if known.is_empty() {
            "none (no provider crate is linked)".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// The chain used when config names none: every factory that opts in, by priority.
pub fn default_chain() -> Vec<ProviderConfig> {
    let mut ranked: Vec<(i32, &'static str)> = factories()
        .into_iter()
        .filter_map(|f| (f.default_priority)().map(|p| (p, f.id)))
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .map(|(_, id)| ProviderConfig::new(id))
        .collect()
}
