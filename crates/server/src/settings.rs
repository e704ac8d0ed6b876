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
    /// Most characters this token may have spoken per minute (a fixed
    /// window on the Unix clock), across the fleet when `[server.shared]` is
    /// set. Unset: no limit.
    #[serde(default)]
    pub chars_per_minute: Option<u64>,
    /// Most characters per day (UTC), likewise. Unset: no limit.
    #[serde(default)]
    pub chars_per_day: Option<u64>,
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

/// What a relay does when the shared Redis does not answer (in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRedisDown {
    /// Count in this process, as a relay alone does; logged once per outage
    /// and counted in `voxwire_shared_state_fallbacks`.
    #[default]
    Local,
    /// Refuse new sessions (503) until Redis answers again; sessions already
    /// running go on.
    Refuse,
}

/// State shared by a fleet of relays in one Redis: `[server.shared]`.
/// Without `redis_url` every count stays in process.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedSettings {
    /// `redis://[user:password@]host[:port][/db]`; never printed (it may
    /// hold a password). Unset: nothing is shared.
    pub redis_url: Option<Secret>,
    /// What to do while Redis is down (or slower than `timeout_ms`).
    pub on_redis_down: OnRedisDown,
    /// Every key the relays write starts with `<key_prefix>:`.
    pub key_prefix: String,
    /// The longest one Redis call may take; a slower Redis counts as down.
    pub timeout_ms: u64,
    /// A session's lease on its credential's count lasts this long unless its
    /// relay renews it (every third of it): a relay that dies leaks nothing
    /// for longer.
    pub lease_ttl_s: u64,
}

impl Default for SharedSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            on_redis_down: OnRedisDown::Local,
            key_prefix: "voxwire".into(),
            timeout_ms: 250,
            lease_ttl_s: 30,
        }
    }
}

impl SharedSettings {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.redis_url {
            let parsed = url::Url::parse(url.expose()).map_err(|_| {
                TtsError::config("[server.shared] redis_url is not a URL (redis://host:port)")
            })?;
            if parsed.scheme() != "redis" || parsed.host_str().is_none_or(str::is_empty) {
                return Err(TtsError::config(
                    "[server.shared] redis_url must be redis://host[:port][/db]",
                ));
            }
        }
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || !self
                .key_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(TtsError::config(
                "[server.shared] key_prefix must be 1 to 64 of A-Z a-z 0-9 - _ . :",
            ));
        }
        if !(1..=10_000).contains(&self.timeout_ms) {
            return Err(TtsError::config(
                "[server.shared] timeout_ms must be from 1 to 10000",
            ));
        }
        if !(3..=3_600).contains(&self.lease_ttl_s) {
            return Err(TtsError::config(
                "[server.shared] lease_ttl_s must be from 3 to 3600",
            ));
        }
        Ok(())
    }

    /// The longest one Redis call may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
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
    /// What a fleet of relays shares in Redis (nothing unless `redis_url` is set).
    pub shared: SharedSettings,
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
            shared: SharedSettings::default(),
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
                    chars_per_minute: None,
                    chars_per_day: None,
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
        if self
            .tokens
            .iter()
            .any(|t| t.chars_per_minute == Some(0) || t.chars_per_day == Some(0))
        {
            return Err(TtsError::config(
                "a token's chars_per_minute and chars_per_day must be at least 1 (or unset)",
            ));
        }
        if self.tokens.iter().any(|t| {
            t.chars_per_minute
                .into_iter()
                .chain(t.chars_per_day)
                .any(|n| n > i64::MAX as u64)
        }) {
            return Err(TtsError::config(
                "a token's chars_per_minute and chars_per_day must be at most 9223372036854775807",
            ));
        }
        self.shared.validate()
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

    /// The `[server.shared]` example of docs/fleet.md is accepted as it stands.
    #[test]
    fn the_fleet_guide_example_parses() {
        let guide = include_str!("../../../docs/fleet.md");
        let block = guide
            .split("```toml\n[server.shared]\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a [server.shared] example in docs/fleet.md");
        let table: toml::Table = toml::from_str(&format!("[shared]\n{block}")).expect("valid TOML");
        let settings = ServerSettings::from_table(&table, &[]).expect("accepted settings");
        assert_eq!(settings.shared.on_redis_down, OnRedisDown::Local);
        assert_eq!(settings.shared.timeout(), Duration::from_millis(250));
        assert!(settings.shared.redis_url.is_some());
    }

    /// A token's quotas are optional, parsed, and refused at 0.
    #[test]
    fn token_quotas_are_parsed_and_validated() {
        let parse = |text: &str| {
            let table: toml::Table = toml::from_str(text).expect("valid TOML");
            ServerSettings::from_table(&table, &[])
        };
        let secret = "secret = \"0123456789abcdef\"";
        let on = parse(&format!(
            "tokens = [{{ id = \"a\", {secret}, chars_per_minute = 500, chars_per_day = 100000 }}, {{ id = \"b\", {secret} }}]"
        ))
        .expect("accepted");
        assert_eq!(on.tokens[0].chars_per_minute, Some(500));
        assert_eq!(on.tokens[0].chars_per_day, Some(100_000));
        assert_eq!(on.tokens[1].chars_per_minute, None);
        for bad in [
            "chars_per_minute = 0",
            "chars_per_day = 0",
            "chars_per_day = -1",
        ] {
            assert!(
                parse(&format!("tokens = [{{ id = \"a\", {secret}, {bad} }}]")).is_err(),
                "{bad}"
            );
        }
    }

    /// `[server.shared]`: off by default, parsed, and refused when it cannot work.
    #[test]
    fn the_shared_table_is_parsed_and_validated() {
        let off = ServerSettings::from_table(&toml::Table::new(), &[]).expect("defaults");
        assert_eq!(off.shared, SharedSettings::default());
        assert!(off.shared.redis_url.is_none());
        let parse = |text: &str| {
            let table: toml::Table = toml::from_str(text).expect("valid TOML");
            ServerSettings::from_table(&table, &[])
        };
        let on = parse(
            "[shared]\nredis_url = \"redis://:pw@10.0.0.5:6379/2\"\non_redis_down = \"refuse\"\nkey_prefix = \"eu-fleet\"\ntimeout_ms = 100\n",
        )
        .expect("accepted");
        assert_eq!(on.shared.on_redis_down, OnRedisDown::Refuse);
        assert_eq!(on.shared.key_prefix, "eu-fleet");
        assert_eq!(on.shared.timeout(), Duration::from_millis(100));
        assert!(
            !format!("{on:?}").contains("pw@"),
            "the URL is never printed"
        );
        for bad in [
            "[shared]\nredis_url = \"http://10.0.0.5\"\n",
            "[shared]\nredis_url = \"not a url\"\n",
            "[shared]\non_redis_down = \"panic\"\n",
            "[shared]\nkey_prefix = \"\"\n",
            "[shared]\nkey_prefix = \"has space\"\n",
            "[shared]\ntimeout_ms = 0\n",
            "[shared]\nlease_ttl_s = 1\n",
            "[shared]\nredis = \"redis://h\"\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
