//! The `voxwire doctor` steps every provider with a REST path and a
//! streaming WebSocket takes, each checked on its own: the key is set, the
//! host is reachable, a one-word REST synthesis, the upgrade, one utterance
//! on that socket. [`diagnose`] turns the results into what a person should
//! fix, in the vendor's words ([`Advice`]).

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{AudioStream, ErrorKind, ErrorScope, Result, TtsError};

use crate::dialect::{Dialect, Voicing};
use crate::reach::reachable;
use crate::settings::Vendor;
use crate::{NetworkCore, WsProvider};

/// What the checks speak: one word keeps them cheap.
pub const PROBE_TEXT: &str = "Hi.";

/// Check names, shared with the providers' diagnosis rules (and tests).
/// The key is configured.
pub const CREDENTIALS: &str = "credentials";
/// TCP reachability of the API host.
pub const REACHABLE: &str = "reachable";
/// A REST synthesis of one word.
pub const REST: &str = "rest synthesis";
/// The WebSocket upgrade.
pub const UPGRADE: &str = "websocket upgrade";
/// One short utterance over the WebSocket.
pub const UTTERANCE: &str = "websocket utterance";

/// One provider's doctor: where it talks and how.
pub struct SocketDoctor<'a, D: Dialect> {
    /// How the key was found, for the credentials line (`API key set (XAI_API_KEY or api_key)`).
    pub credentials: String,
    /// The REST endpoint (its host is the one checked for reachability).
    pub rest_url: &'a str,
    /// The WebSocket endpoint, for the diagnosis.
    pub ws_url: &'a str,
    /// The vendor's words in the diagnosis.
    pub advice: &'a Advice,
    /// The bound of the reachability check.
    pub connect_timeout: Duration,
    /// The streaming driver (the upgrade and the utterance).
    pub ws: &'a WsProvider<D>,
    /// What the upgrade and the utterance ask for (the entry's defaults).
    pub voicing: Voicing,
    /// The vendor's reading of a refused upgrade, where it differs from the driver's.
    pub upgrade_error: fn(TtsError) -> TtsError,
    /// Whether there is a socket to check (`false`: REST only, the upgrade
    /// and the utterance are not tried).
    pub socket: bool,
}

impl<'a, D: Dialect> SocketDoctor<'a, D> {
    /// The doctor of `core`'s endpoints and driver, in `advice`'s words;
    /// `voicing` is what the upgrade and the utterance ask for, `upgrade_error`
    /// the vendor's reading of a refused upgrade.
    pub fn new<S, E>(
        core: &'a NetworkCore<S, D, E>,
        advice: &'a Advice,
        voicing: Voicing,
        upgrade_error: fn(TtsError) -> TtsError,
    ) -> Self {
        Self {
            credentials: format!("API key set ({} or api_key)", advice.key_variable),
            rest_url: &core.resolved.rest_url,
            ws_url: &core.resolved.ws_url,
            advice,
            connect_timeout: core.resolved.connect_timeout,
            ws: &core.ws,
            voicing,
            upgrade_error,
            socket: true,
        }
    }

    /// The whole report: every step ([`checks`](Self::checks)), then the
    /// [`diagnose`] rules in the vendor's words; `provider` names it.
    pub async fn report<F, Fut>(&self, provider: String, rest: F) -> Report
    where
        F: FnOnce(&'static str) -> Fut,
        Fut: Future<Output = Result<AudioStream>>,
    {
        let checks = self.checks(rest).await;
        let diagnosis = diagnose(&checks, self.advice, self.rest_url, self.ws_url);
        Report {
            provider,
            checks,
            diagnosis,
        }
    }

    /// Runs every step; `rest` starts the one-word REST synthesis. Steps after
    /// an unreachable host, or after a failed upgrade, are skipped with the reason.
    pub async fn checks<F, Fut>(&self, rest: F) -> Vec<Check>
    where
        F: FnOnce(&'static str) -> Fut,
        Fut: Future<Output = Result<AudioStream>>,
    {
        let provider = self.ws.dialect().provider();
        let mut checks = vec![Check::pass(
            CREDENTIALS,
            self.credentials.as_str(),
            Duration::ZERO,
        )];
        let reach = reachable(provider, REACHABLE, self.rest_url, self.connect_timeout).await;
        let reached = reach.passed();
        checks.push(reach);
        if !reached {
            let rest_only = if self.socket { 3 } else { 1 };
            for name in [REST, UPGRADE, UTTERANCE].into_iter().take(rest_only) {
                checks.push(Check::skipped(name, "the host is not reachable"));
            }
            return checks;
        }
        checks.push(probe(REST, rest).await);
        if !self.socket {
            return checks;
        }
        let started = Instant::now();
        match self.ws.open(&self.voicing).await {
            Ok(mut conn) => {
                checks.push(Check::pass(
                    UPGRADE,
                    "101 Switching Protocols",
                    started.elapsed(),
                ));
                let started = Instant::now();
                let result = self
                    .ws
                    .speak_once(&mut conn, &self.voicing, PROBE_TEXT)
                    .await;
                conn.close_with(self.ws.dialect().goodbye()).await;
                checks.push(match result {
                    Ok(first) => Check::pass(
                        UTTERANCE,
                        format!("first audio after {} ms", first.as_millis()),
                        started.elapsed(),
                    ),
                    Err(e) => Check::fail(UTTERANCE, e, started.elapsed()),
                });
            }
            Err(e) => {
                checks.push(Check::fail(
                    UPGRADE,
                    (self.upgrade_error)(e),
                    started.elapsed(),
                ));
                checks.push(Check::skipped(UTTERANCE, "the upgrade failed"));
            }
        }
        checks
    }
}

/// A synthesis step named `name`: the whole probe (`rest` speaking
/// [`PROBE_TEXT`]) read, its first audio timed.
pub async fn probe<F, Fut>(name: &'static str, rest: F) -> Check
where
    F: FnOnce(&'static str) -> Fut,
    Fut: Future<Output = Result<AudioStream>>,
{
    let started = Instant::now();
    let result = async {
        let mut stream = rest(PROBE_TEXT).await?;
        let mut first = None;
        while let Some(chunk) = stream.next().await {
            chunk?;
            first.get_or_insert_with(|| started.elapsed());
        }
        Ok::<_, TtsError>(first.unwrap_or_default())
    }
    .await;
    match result {
        Ok(first) => Check::pass(
            name,
            format!("first audio after {} ms", first.as_millis()),
            started.elapsed(),
        ),
        Err(e) => Check::fail(name, e, started.elapsed()),
    }
}

/// The vendor's words in the diagnosis: its variables and names, and its own
/// rule when it has one. A provider states these as a constant.
#[derive(Debug, Clone, Copy)]
pub struct Advice {
    /// The key's variable (`XAI_API_KEY`).
    pub key_variable: &'static str,
    /// The base URL's variable (`XAI_BASE_URL`).
    pub base_variable: &'static str,
    /// How the WebSocket is named when only it refuses the key (`the WebSocket endpoint`).
    pub websocket: &'static str,
    /// What to check then, besides the base URL (`the endpoint path`).
    pub websocket_refusal: &'static str,
    /// What is missing when REST answers "not found" (`TTS endpoint`).
    pub rest_name: &'static str,
    /// What is missing when the upgrade answers "not found" (`TTS WebSocket`).
    pub websocket_name: &'static str,
    /// The vendor's own rule, tried first: a line it gives is the whole
    /// diagnosis ([`no_rule`] when there is none).
    pub first: fn(&[Check]) -> Option<String>,
}

impl Advice {
    /// `vendor`'s variables in the plain words (`the WebSocket endpoint`,
    /// `the endpoint path`, `TTS endpoint`, `TTS WebSocket`) and no rule of
    /// its own; a vendor with other words overrides them.
    pub const fn of(vendor: &Vendor) -> Self {
        Self {
            key_variable: vendor.key_variable,
            base_variable: vendor.base_variable,
            websocket: "the WebSocket endpoint",
            websocket_refusal: "the endpoint path",
            rest_name: "TTS endpoint",
            websocket_name: "TTS WebSocket",
            first: no_rule,
        }
    }
}

/// No rule of the vendor's own: [`Advice::first`] for most vendors.
pub fn no_rule(_: &[Check]) -> Option<String> {
    None
}

/// Turns the pattern of results into what a person should fix: the vendor's
/// own rule first; an unreachable host; a key refused by one path or both; a
/// missing endpoint at `rest_url` or `ws_url` (a provider-scoped "not found":
/// an unknown voice is the request's); else each failure's own line, which
/// says what broke and where.
pub fn diagnose(checks: &[Check], advice: &Advice, rest_url: &str, ws_url: &str) -> Vec<String> {
    if let Some(line) = (advice.first)(checks) {
        return vec![line];
    }
    let error = |name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .and_then(Check::error)
    };
    let kind = |name: &str| error(name).map(TtsError::kind);
    let passed = |name: &str| checks.iter().any(|c| c.name == name && c.passed());
    let missing = |name: &str| {
        error(name)
            .is_some_and(|e| e.kind() == ErrorKind::NotFound && e.scope() == ErrorScope::Provider)
    };
    let (key, base) = (advice.key_variable, advice.base_variable);
    if let Some(e) = error(REACHABLE) {
        // The error's own hint names no variable: the vendor's replaces it.
        let e = e.clone().with_hint(format!("check the network and {base}"));
        return vec![format!("cannot reach the API host: {e}")];
    }
    let mut out = Vec::new();
    match (kind(REST), kind(UPGRADE)) {
        (None, Some(ErrorKind::Auth)) if passed(REST) => out.push(format!(
            "the key works for REST; {} {ws_url} refused it: check {base} and {}",
            advice.websocket, advice.websocket_refusal
        )),
        (Some(ErrorKind::Auth), Some(ErrorKind::Auth)) => out.push(format!(
            "the key was rejected by REST and by the WebSocket: check {key}"
        )),
        (Some(ErrorKind::Auth), None) if passed(UPGRADE) => out.push(format!(
            "the WebSocket accepts the key but REST at {rest_url} refuses it: check {base}"
        )),
        (Some(ErrorKind::Auth), None) => out.push(format!(
            "REST at {rest_url} refused the key: check {key} (and {base})"
        )),
        _ => {}
    }
    if missing(REST) {
        out.push(format!(
            "there is no {} at {rest_url}: check {base}",
            advice.rest_name
        ));
    }
    if missing(UPGRADE) {
        out.push(format!(
            "there is no {} at {ws_url}: check {base}",
            advice.websocket_name
        ));
    }
    if out.is_empty() {
        out.extend(
            checks
                .iter()
                .filter_map(Check::error)
                .map(ToString::to_string),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADVICE: Advice = Advice {
        key_variable: "ACME_API_KEY",
        base_variable: "ACME_BASE_URL",
        websocket: "the WebSocket endpoint",
        websocket_refusal: "the endpoint path",
        rest_name: "TTS endpoint",
        websocket_name: "TTS WebSocket",
        first: no_rule,
    };

    /// The diagnosis at the toy's endpoints.
    fn diagnose(checks: &[Check], advice: &Advice) -> Vec<String> {
        super::diagnose(checks, advice, "https://h/v1/tts", "wss://h/v1/tts")
    }

    #[test]
    fn an_unreachable_host_is_told_once_with_the_vendors_variable() {
        let refused = crate::errors::connect_error("acme", "https://h/v1", "refused");
        let lines = diagnose(&[Check::fail(REACHABLE, refused, Duration::ZERO)], &ADVICE);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            lines[0].matches("check the network").count(),
            1,
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with("check the network and ACME_BASE_URL"),
            "{}",
            lines[0]
        );
    }

    fn checks(rest: Option<TtsError>, upgrade: Option<TtsError>) -> Vec<Check> {
        let step = |name, e: Option<TtsError>| match e {
            Some(e) => Check::fail(name, e, Duration::ZERO),
            None => Check::pass(name, "", Duration::ZERO),
        };
        vec![
            Check::pass(REACHABLE, "", Duration::ZERO),
            step(REST, rest),
            step(UPGRADE, upgrade),
        ]
    }

    #[test]
    fn refused_keys_and_missing_endpoints_are_named() {
        let auth = || TtsError::new(ErrorKind::Auth, "forbidden").with_status(403);
        assert_eq!(
            diagnose(&checks(None, Some(auth())), &ADVICE),
            vec!["the key works for REST; the WebSocket endpoint wss://h/v1/tts refused it: check ACME_BASE_URL and the endpoint path"]
        );
        assert_eq!(
            diagnose(&checks(Some(auth()), Some(auth())), &ADVICE),
            vec!["the key was rejected by REST and by the WebSocket: check ACME_API_KEY"]
        );
        let gone = TtsError::new(ErrorKind::NotFound, "not found").with_status(404);
        assert_eq!(
            diagnose(&checks(Some(gone), None), &ADVICE),
            vec!["there is no TTS endpoint at https://h/v1/tts: check ACME_BASE_URL"]
        );
        let voice =
            TtsError::new(ErrorKind::NotFound, "no such voice").with_scope(ErrorScope::Request);
        let d = diagnose(&checks(Some(voice), None), &ADVICE);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("no such voice"), "{d:?}");
    }
}
