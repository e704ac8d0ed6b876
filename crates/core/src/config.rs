//! The configuration file (`voxwire.toml`) and its environment overrides.
//!
//! ```toml
//! max_text_chars = 100000      # bound on one request
//! voice = "en-us"              # default voice for every provider that knows it
//!
//! [router]                     # router-wide settings (voxwire-router)
//! request_deadline_ms = 60000
//!
//! [[chain]]                    # providers in failover order
//! provider = "xai"
//! voice = "eve"
//! policy = { max_retries = 2, cooldown_ms = 5000 }   # how the router treats it
//!
//! [[chain]]
//! provider = "espeak"
//! engine = "auto"
//! ```
//!
//! Environment overrides: `VOXWIRE_MAX_TEXT_CHARS`, `VOXWIRE_VOICE`,
//! `VOXWIRE_LANGUAGE`, `VOXWIRE_CHAIN` (comma-separated ids) and
//! `VOXWIRE_<PROVIDER>_<SETTING>` (e.g. `VOXWIRE_ESPEAK_ENGINE=system`), which
//! sets a setting of every chain entry of that provider. Providers read their
//! own well-known variables (such as `XAI_API_KEY`) when they are built.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Result, TtsError};
use crate::registry;
use crate::text::DEFAULT_MAX_TEXT_CHARS;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The most characters one request may hold.
    #[serde(default = "default_max_text_chars")]
    pub max_text_chars: usize,
    /// Default voice, when the caller names none.
    #[serde(default)]
    pub voice: Option<String>,
    /// Default language, when the caller names none.
    #[serde(default)]
    pub language: Option<String>,
    /// Providers in failover order; empty means the default chain.
    #[serde(default)]
    pub chain: Vec<ProviderConfig>,
    /// Router-wide settings (`[router]`), read by voxwire-router.
    #[serde(default)]
    pub router: toml::Table,
    /// Relay settings (`[server]`), read by voxwire-server.
    #[serde(default)]
    pub server: toml::Table,
    /// The phrase cache (`[cache]`), read by voxwire-router; empty: off.
    #[serde(default)]
    pub cache: toml::Table,
}

fn default_max_text_chars() -> usize {
    DEFAULT_MAX_TEXT_CHARS
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
            voice: None,
            language: None,
            chain: Vec::new(),
            router: toml::Table::new(),
            server: toml::Table::new(),
            cache: toml::Table::new(),
        }
    }
}

/// One provider entry of the chain: its id and its own settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProviderConfig {
    /// The registered provider id.
    pub provider: String,
    /// The entry's name in health, events, attempt records and metrics
    /// (default: the provider id), so two entries of one provider (two keys,
    /// two regions) are distinct. Names are unique within a chain.
    #[serde(default)]
    pub name: Option<String>,
    /// How the router treats this provider (`policy = { max_retries = 2 }`), read by voxwire-router.
    #[serde(default)]
    pub policy: toml::Table,
    /// Everything else in the entry, for the provider to interpret.
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl ProviderConfig {
    /// An entry for `provider` with no settings.
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            name: None,
            policy: toml::Table::new(),
            settings: toml::Table::new(),
        }
    }

    /// The entry's name: `name` when set, else the provider id.
    pub fn entry_name(&self) -> &str {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.provider)
    }

    /// Names the entry (builder style).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets one setting (builder style).
    pub fn with(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.settings.insert(key.to_string(), value.into());
        self
    }

    /// Applies `VOXWIRE_<PROVIDER>_<SETTING>` variables to this entry, whether it
    /// came from the config's chain, the default chain or a command line.
    pub fn apply_env(&mut self, vars: &[(String, String)]) {
        let prefix = format!(
            "VOXWIRE_{}_",
            self.provider.to_ascii_uppercase().replace('-', "_")
        );
        for (name, value) in vars {
            if let Some(key) = name.strip_prefix(&prefix) {
                self.settings
                    .insert(key.to_ascii_lowercase(), parse_env_value(value));
            }
        }
    }

    /// Reads the settings as the provider's own settings type.
    ///
    /// Unknown or mistyped keys give a `Config` error naming the provider.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(toml::Value::Table(self.settings.clone())).map_err(|e| {
            TtsError::config(format!(
                "invalid settings for provider `{}`: {}",
                self.provider,
                e.message()
            ))
            .with_provider(self.provider.clone())
        })
    }
}

impl Config {
    /// Parses TOML; `origin` names the file in the error.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            TtsError::config(format!(
                "{origin} is not a valid voxwire config{at}: {}",
                e.message()
            ))
        })?;
        Self::check_names(&config.chain)?;
        Ok(config)
    }

    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            TtsError::config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Applies `VOXWIRE_*` overrides from `vars` (pass `std::env::vars()`).
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("VOXWIRE_"))
            .collect();
        let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(v) = get("VOXWIRE_MAX_TEXT_CHARS") {
            self.max_text_chars = v.trim().parse().map_err(|_| {
                TtsError::config(format!(
                    "VOXWIRE_MAX_TEXT_CHARS=`{v}` is not a whole number"
                ))
            })?;
        }
        if let Some(v) = get("VOXWIRE_VOICE") {
            self.voice = Some(v);
        }
        if let Some(v) = get("VOXWIRE_LANGUAGE") {
            self.language = Some(v);
        }
        if let Some(v) = get("VOXWIRE_CHAIN") {
            self.chain = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(ProviderConfig::new)
                .collect();
        }
        for entry in &mut self.chain {
            entry.apply_env(&vars);
        }
        if self.max_text_chars == 0 {
            return Err(TtsError::config("max_text_chars must be at least 1"));
        }
        Self::check_names(&self.chain)?;
        Ok(())
    }

    /// Refuses a chain in which two entries share a name (a second entry of a
    /// provider needs its own `name`).
    pub fn check_names(chain: &[ProviderConfig]) -> Result<()> {
        for (i, entry) in chain.iter().enumerate() {
            let name = entry.entry_name();
            if let Some(first) = chain[..i].iter().position(|e| e.entry_name() == name) {
                return Err(TtsError::config(format!(
                    "chain entries {} and {} are both named `{name}`",
                    first + 1,
                    i + 1
                ))
                .with_hint(
                    "give each [[chain]] entry of the same provider its own `name = \"...\"`",
                ));
            }
        }
        Ok(())
    }

    /// The configured chain, or the registry's default chain when none is configured.
    pub fn chain_or_default(&self) -> Vec<ProviderConfig> {
        if self.chain.is_empty() {
            registry::default_chain()
        } else {
            self.chain.clone()
        }
    }
}

/// An environment value as TOML: numbers and booleans typed, anything else a string.
fn parse_env_value(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = value.parse::<f64>() {
        return toml::Value::Float(f);
    }
    match value {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_a_full_file() {
        let cfg = Config::from_toml_str(
            "max_text_chars = 50\nvoice = \"en\"\n[[chain]]\nprovider = \"espeak\"\nengine = \"system\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.max_text_chars, 50);
        assert_eq!(cfg.chain[0].provider, "espeak");
        assert_eq!(cfg.chain[0].settings["engine"].as_str(), Some("system"));
    }

    #[test]
    fn entries_are_named_and_duplicate_names_refused() {
        let two =
            "[[chain]]\nprovider = \"xai\"\nname = \"xai-eu\"\n[[chain]]\nprovider = \"xai\"\n";
        let cfg = Config::from_toml_str(two, "t.toml").unwrap();
        assert_eq!(cfg.chain[0].entry_name(), "xai-eu");
        assert_eq!(cfg.chain[1].entry_name(), "xai");
        assert!(!cfg.chain[0].settings.contains_key("name"));
        let dup = "[[chain]]\nprovider = \"xai\"\n[[chain]]\nprovider = \"xai\"\n";
        let err = Config::from_toml_str(dup, "t.toml").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("both named `xai`"), "{err}");
    }

    #[test]
    fn bad_toml_names_file_and_line() {
        let err = Config::from_toml_str("voice = \"en\"\nthis is not toml", "my.toml").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(msg.contains("my.toml") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn policy_is_kept_apart_from_provider_settings() {
        let cfg = Config::from_toml_str(
            "[router]\nrequest_deadline_ms = 5\n[[chain]]\nprovider = \"xai\"\nvoice = \"eve\"\npolicy = { max_retries = 3 }\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.chain[0].policy["max_retries"].as_integer(), Some(3));
        assert!(!cfg.chain[0].settings.contains_key("policy"));
        assert_eq!(cfg.chain[0].settings["voice"].as_str(), Some("eve"));
        assert_eq!(cfg.router["request_deadline_ms"].as_integer(), Some(5));
    }

    #[test]
    fn unknown_top_level_keys_are_rejected() {
        assert!(Config::from_toml_str("colour = 1", "x").is_err());
    }

    #[test]
    fn environment_overrides_apply() {
        let env = vars(&[
            ("VOXWIRE_MAX_TEXT_CHARS", "77"),
            ("VOXWIRE_CHAIN", "espeak, other"),
            ("VOXWIRE_ESPEAK_ENGINE", "embedded"),
            ("UNRELATED", "x"),
        ]);
        let mut cfg = Config::default();
        cfg.apply_env(env).unwrap();
        assert_eq!(cfg.max_text_chars, 77);
        assert_eq!(cfg.chain.len(), 2);
        assert_eq!(cfg.chain[0].settings["engine"].as_str(), Some("embedded"));
        let bad = vars(&[("VOXWIRE_MAX_TEXT_CHARS", "lots")]);
        assert!(Config::default().apply_env(bad).is_err());
    }

    #[test]
    fn entries_outside_the_config_take_their_overrides_too() {
        let mut entry = ProviderConfig::new("espeak");
        entry.apply_env(&vars(&[
            ("VOXWIRE_ESPEAK_ENGINE", "embedded"),
            ("VOXWIRE_ESPEAK_INACTIVITY_TIMEOUT_MS", "500"),
            ("VOXWIRE_XAI_VOICE", "eve"),
        ]));
        assert_eq!(entry.settings["engine"].as_str(), Some("embedded"));
        assert_eq!(
            entry.settings["inactivity_timeout_ms"].as_integer(),
            Some(500)
        );
        assert_eq!(entry.settings.len(), 2);
    }

    #[test]
    fn typed_settings_report_the_provider() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            engine: String,
        }
        let ok = ProviderConfig::new("espeak").with("engine", "auto");
        assert_eq!(ok.settings::<S>().unwrap().engine, "auto");
        let bad = ProviderConfig::new("espeak").with("engin", "auto");
        let err = bad.settings::<S>().unwrap_err();
        assert!(err.to_string().contains("espeak"), "{err}");
    }
}
