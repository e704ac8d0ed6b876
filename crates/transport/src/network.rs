//! What every network provider holds: its settings, their resolution, the
//! pooled WebSocket driver in its dialect, and whatever state of its own it
//! keeps (a voice cache). A provider is a handle on one of these in an `Arc`.

use std::sync::Arc;

use voxwire_core::{Result, TtsError};

use crate::dialect::Dialect;
use crate::driver::{DriverSettings, WsProvider};
use crate::settings::Resolved;

/// The parts every network provider holds.
pub struct NetworkCore<S, D: Dialect, E = ()> {
    /// The provider's settings, as configured.
    pub settings: S,
    /// The settings resolved: key, endpoints, timeouts.
    pub resolved: Arc<Resolved>,
    /// The pooled WebSocket driver in the provider's dialect.
    pub ws: WsProvider<D>,
    /// What else the provider keeps (e.g. a voice cache).
    pub state: E,
}

impl<S, D: Dialect, E> NetworkCore<S, D, E> {
    /// Resolves `settings` (a failure is the provider `provider`'s `Config`
    /// error), builds the dialect from them and the driver on it.
    pub fn new(
        provider: &'static str,
        settings: S,
        resolve: impl FnOnce(&S) -> Result<Resolved>,
        dialect: impl FnOnce(&S, &Arc<Resolved>) -> D,
        state: E,
    ) -> Result<Self> {
        Self::with_driver(provider, settings, resolve, dialect, |_, d| d, state)
    }

    /// [`new`](Self::new), with `driver` adjusting the driver's settings
    /// from the provider's (a vendor's socket count, say).
    pub fn with_driver(
        provider: &'static str,
        settings: S,
        resolve: impl FnOnce(&S) -> Result<Resolved>,
        dialect: impl FnOnce(&S, &Arc<Resolved>) -> D,
        driver: impl FnOnce(&S, DriverSettings) -> DriverSettings,
        state: E,
    ) -> Result<Self> {
        let resolved = Arc::new(resolve(&settings).map_err(|e: TtsError| e.or_provider(provider))?);
        let driver = driver(&settings, resolved.driver());
        let ws = WsProvider::new(dialect(&settings, &resolved), driver)?;
        Ok(Self {
            settings,
            resolved,
            ws,
            state,
        })
    }

    /// The REST endpoint.
    pub fn rest_url(&self) -> &str {
        &self.resolved.rest_url
    }

    /// The WebSocket endpoint.
    pub fn websocket_url(&self) -> &str {
        &self.resolved.ws_url
    }

    /// Idle pooled connections (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.ws.idle_connections()
    }

    /// A provider's `Debug`: its name, endpoint and key (which prints `***`).
    pub fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("endpoint", &self.resolved.ws_url)
            .field("key", &self.resolved.key)
            .finish()
    }
}

/// Registers a network provider with the plug-in registry: its factory reads
/// its settings from a `[[chain]]` entry, fills them from the environment
/// (`with_env`) and builds it with `new`; it joins the default chain at
/// `priority` when its key variable is set and not blank. A vendor on the
/// generic provider ([`crate::provider`]) names only itself
/// (`vendor: Xai, describe: …, priority: 100`): the id, settings, provider
/// and key variable follow from its [`NetworkVendor`](crate::NetworkVendor).
///
/// ```ignore
/// voxwire_transport::register_network_provider! {
///     id: PROVIDER_ID,
///     describe: "xAI text-to-speech (REST and streaming WebSocket); needs XAI_API_KEY",
///     settings: XaiSettings,
///     provider: XaiProvider,
///     key_var: "XAI_API_KEY",
///     priority: 100,
/// }
/// ```
#[macro_export]
macro_rules! register_network_provider {
    (
        vendor: $vendor:ty,
        describe: $describe:expr,
        priority: $priority:expr $(,)?
    ) => {
        $crate::register_network_provider! {
            id: <$vendor as $crate::NetworkVendor>::VENDOR.id,
            describe: $describe,
            settings: <$vendor as $crate::NetworkVendor>::Settings,
            provider: $crate::NetworkProvider<$vendor>,
            key_var: <$vendor as $crate::NetworkVendor>::VENDOR.key_variable,
            priority: $priority,
        }
    };
    (
        id: $id:expr,
        describe: $describe:expr,
        settings: $settings:ty,
        provider: $provider:ty,
        key_var: $key_var:expr,
        priority: $priority:expr $(,)?
    ) => {
        const _: () = {
            fn build(
                config: &$crate::__core::ProviderConfig,
            ) -> $crate::__core::Result<::std::sync::Arc<dyn $crate::__core::TtsProvider>> {
                let settings: $settings = config.settings()?;
                let settings = settings.with_env(|k| ::std::env::var(k).ok());
                Ok(::std::sync::Arc::new(<$provider>::new(settings)?))
            }

            fn default_priority() -> Option<i32> {
                ::std::env::var($key_var)
                    .ok()
                    .filter(|k| !$crate::__core::Secret::new(k.clone()).is_empty())
                    .map(|_| $priority)
            }

            $crate::__core::inventory::submit! {
                $crate::__core::ProviderFactory {
                    id: $id,
                    describe: $describe,
                    default_priority,
                    build,
                }
            }
        };
    };
}
