//! The relay's settings: the config's `[server]` table.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use voxwire_core::{Result, Secret, TtsError};

use crate::auth::ApiToken;

/// One server API token in config: `tokens = [{ id = "backend", secret = "..." }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A label for logs and metrics.
    pub id: String,
    /// The token itself; never printed.
    pub secret: Secret,
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Anyone who reaches the port (the usual for a scraper on a private network).
    #[default]
    Public,
    /// Only with a server token (`Authorization: Bearer`).
    Token,
    /// Not served (404).
    Off,
}

/// The OpenAI speech front (`POST /v1/audio/speech`): `[server.openai]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiFront {
    /// Model names clients may ask for, each with the chain entries that
    /// serve it, in order (`[]`: the whole chain). Empty: OpenAI's own speech
    /// model names ([`crate::DEFAULT_OPENAI_MODELS`]), each served by the whole chain.
    pub models: std::collections::BTreeMap<String, Vec<String>>,
    /// OpenAI voice names to the voice id asked of the chain. Empty: OpenAI's
    /// built-in names ask for each entry's default voice, any other string
    /// passes through as a voice id. Set: only these names are served.
    pub voices: std::collections::BTreeMap<String, String>,
}

/// Everything the relay can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// No authentication at all: local development only, refused on non-loopback addresses.
    pub open: bool,
    /// Server API tokens (Bearer). `VOXWIRE_SERVER_TOKEN` adds one with id `env`.
    pub tokens: Vec<TokenEntry>,
    /// HMAC key for browser tokens; a random one per process when unset
    /// (and no `browser_token_keys`). Shorthand for a one-key list.
    pub browser_token_key: Option<Secret>,
    /// HMAC keys for browser tokens, for rotation: the first signs, every one
    /// verifies. Required (the same list on each) when more than one relay sits
    /// behind a load balancer, or a token minted by one is refused by the others.
    pub browser_token_keys: Vec<Secret>,
    /// Lifetime of a minted browser token (at most one hour).
    pub browser_token_ttl_s: u64,
    /// Origins (`scheme://host[:port]`) browsers may connect from, in every
    /// mode (open mode included). Empty: loopback origins only
    /// (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`).
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket message or REST body accepted.
    pub max_message_bytes: usize,
    /// Most characters in one utterance.
    pub max_utterance_chars: usize,
    /// Sustained utterances per second per session of a server token (or
    /// open mode). Over it an utterance waits its turn; only overflow of
    /// `max_pending_utterances` is refused. Backends are the operator's own:
    /// an agent's LLM can give ten sentences a second, each an utterance, so
    /// the rate only paces a runaway loop.
    pub utterances_per_second: f64,
    /// Burst of utterances per server-token session above the sustained rate.
    pub utterance_burst: f64,
    /// Sustained utterances per second per session of a browser token: a
    /// page's user speaks a few utterances a second at most, and one browser
    /// must not take the chain from the others. Over it utterances wait.
    pub browser_utterances_per_second: f64,
    /// Burst of utterances per browser-token session.
    pub browser_utterance_burst: f64,
    /// Optional sustained utterances per second per credential, summed over
    /// its sessions; unset by default, since one backend token carries many agents.
    pub token_utterances_per_second: Option<f64>,
    /// Burst for `token_utterances_per_second`.
    pub token_utterance_burst: f64,
    /// Concurrent WebSocket sessions per credential: per server token, and per
    /// browser user (each minted token's own subject).
    pub max_sessions_per_token: usize,
    /// Utterances sent (from their first sentence) whose end is still owed,
    /// per session, those waiting for a rate included: the one bound that
    /// refuses.
    pub max_pending_utterances: usize,
    /// Frames queued for one client before the relay stops reading upstream.
    pub client_queue_frames: usize,
    /// A client that takes no frame for this long is closed (1008) and its upstream released.
    pub client_send_timeout_ms: u64,
    /// Who may read `/metrics`: `public`, `token` or `off`.
    pub metrics: MetricsAccess,
    /// Concurrent WebSocket sessions in all.
    pub max_sessions: usize,
    /// A session with no client message for this long is closed.
    pub idle_timeout_s: u64,
    /// A session is closed at this age (clients reconnect; xAI does the same).
    pub max_session_age_s: u64,
    /// On shutdown, how long utterances in flight may finish.
    pub shutdown_grace_s: u64,
    /// Where the browser demo lives (served at `/`).
    pub web_dir: Option<PathBuf>,
    /// The OpenAI speech front's models and voices.
    pub openai: OpenAiFront,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            open: false,
            tokens: Vec::new(),
            browser_token_key: None,
            browser_token_keys: Vec::new(),
            browser_token_ttl_s: 300,
            allowed_origins: Vec::new(),
            max_message_bytes: 64 * 1024,
            max_utterance_chars: 15_000,
            utterances_per_second: 50.0,
            utterance_burst: 100.0,
            browser_utterances_per_second: 5.0,
            browser_utterance_burst: 10.0,
            token_utterances_per_second: None,
            token_utterance_burst: 50.0,
            max_sessions_per_token: 64,
            max_pending_utterances: 16,
            client_queue_frames: 64,
            client_send_timeout_ms: 10_000,
            metrics: MetricsAccess::Public,
            max_sessions: 2_000,
            idle_timeout_s: 120,
            max_session_age_s: 1_800,
            shutdown_grace_s: 10,
            web_dir: None,
            openai: OpenAiFront::default(),
        }
    }
}

impl ServerSettings {
    /// Reads the `[server]` table, then `VOXWIRE_SERVER_TOKEN` from `vars`.
    pub fn from_table(table: &toml::Table, vars: &[(String, String)]) -> Result<Self> {
        let mut settings = ServerSettings::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| TtsError::config(format!("invalid [server] settings: {}", e.message())))?;
        if let Some((_, token)) = vars.iter().find(|(k, _)| k == "VOXWIRE_SERVER_TOKEN") {
            if !token.trim().is_empty() {
                settings.tokens.push(TokenEntry {
                    id: "env".into(),
                    secret: Secret::new(token.trim()),
                });
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.max_message_bytes < 1024 {
            return Err(TtsError::config("max_message_bytes must be at least 1024"));
        }
        let rate_ok = |rate: f64, burst: f64| rate.is_finite() && rate > 0.0 && burst >= 1.0;
        if !rate_ok(self.utterances_per_second, self.utterance_burst)
            || !rate_ok(
                self.browser_utterances_per_second,
                self.browser_utterance_burst,
            )
        {
            return Err(TtsError::config(
                "utterances_per_second and browser_utterances_per_second must be above 0, their bursts at least 1",
            ));
        }
        if self
            .token_utterances_per_second
            .is_some_and(|r| r.is_nan() || r <= 0.0 || r.is_infinite())
        {
            return Err(TtsError::config(
                "token_utterances_per_second must be above 0 (or unset)",
            ));
        }
        if self.max_pending_utterances == 0 || self.client_queue_frames == 0 {
            return Err(TtsError::config(
                "max_pending_utterances and client_queue_frames must be at least 1",
            ));
        }
        if self.browser_keys().iter().any(|k| k.expose().len() < 16) {
            return Err(TtsError::config(
                "browser token keys must be at least 16 characters",
            ));
        }
        if self.tokens.iter().any(|t| t.secret.expose().len() < 16) {
            return Err(TtsError::config(
                "server tokens must be at least 16 characters",
            ));
        }
        Ok(())
    }

    /// The API tokens in the form the auth checks use.
    pub fn api_tokens(&self) -> Vec<ApiToken> {
        self.tokens
            .iter()
            .map(|t| ApiToken {
                id: t.id.clone(),
                secret: t.secret.clone(),
            })
            .collect()
    }

    /// The configured browser-token keys, signing key first.
    pub fn browser_keys(&self) -> Vec<Secret> {
        self.browser_token_key
            .iter()
            .chain(self.browser_token_keys.iter())
            .cloned()
            .collect()
    }

    pub(crate) fn client_send_timeout(&self) -> Duration {
        Duration::from_millis(self.client_send_timeout_ms.max(10))
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s.max(1))
    }

    pub(crate) fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_session_age_s.max(1))
    }

    pub(crate) fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `[server]` example of docs/relay.md is a configuration this relay accepts.
    #[test]
    fn the_relay_guide_example_parses_and_validates() {
        let readme = include_str!("../../../docs/relay.md");
        let block = readme
            .split("```toml\n[server]\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a [server] example in docs/relay.md");
        let table: toml::Table = toml::from_str(block).expect("valid TOML");
        let settings = ServerSettings::from_table(&table, &[]).expect("accepted settings");
        assert_eq!(settings.browser_keys().len(), 2);
        assert_eq!(settings.metrics, MetricsAccess::Public);
        assert_eq!(settings.max_sessions_per_token, 64);
    }

    /// The `[server.openai]` example of docs/relay.md is accepted as it stands.
    #[test]
    fn the_relay_guide_openai_example_parses() {
        let readme = include_str!("../../../docs/relay.md");
        let block = readme
            .split("```toml\n[server.openai]\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a [server.openai] example in docs/relay.md");
        let table: toml::Table = toml::from_str(&format!("[openai]\n{block}")).expect("valid TOML");
        let settings = ServerSettings::from_table(&table, &[]).expect("accepted settings");
        assert_eq!(settings.openai.models["tts-1-hd"], vec!["xai".to_string()]);
        assert_eq!(settings.openai.voices["alloy"], "eve");
    }
}
