//! The `voxwire doctor` steps every provider with a REST path and a
//! streaming WebSocket takes, each checked on its own: the key is set, the
//! host is reachable, a one-word REST synthesis, the upgrade, one utterance
//! on that socket. The provider turns the results into its own diagnosis.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::diagnose::Check;
use voxwire_core::{AudioStream, Result, TtsError};

use crate::dialect::{Dialect, Voicing};
use crate::reach::reachable;
use crate::WsProvider;

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
    pub credentials: &'a str,
    /// The REST endpoint (its host is the one checked for reachability).
    pub rest_url: &'a str,
    /// The bound of the reachability check.
    pub connect_timeout: Duration,
    /// The streaming driver (the upgrade and the utterance).
    pub ws: &'a WsProvider<D>,
    /// What the upgrade and the utterance ask for (the entry's defaults).
    pub voicing: Voicing,
    /// The vendor's reading of a refused upgrade, where it differs from the driver's.
    pub upgrade_error: fn(TtsError) -> TtsError,
}

impl<D: Dialect> SocketDoctor<'_, D> {
    /// Runs every step; `rest` starts the one-word REST synthesis. Steps after
    /// an unreachable host, or after a failed upgrade, are skipped with the reason.
    pub async fn checks<F, Fut>(&self, rest: F) -> Vec<Check>
    where
        F: FnOnce(&'static str) -> Fut,
        Fut: Future<Output = Result<AudioStream>>,
    {
        let provider = self.ws.dialect().provider();
        let mut checks = vec![Check::pass(CREDENTIALS, self.credentials, Duration::ZERO)];
        let reach = reachable(provider, REACHABLE, self.rest_url, self.connect_timeout).await;
        let reached = reach.passed();
        checks.push(reach);
        if !reached {
            for name in [REST, UPGRADE, UTTERANCE] {
                checks.push(Check::skipped(name, "the host is not reachable"));
            }
            return checks;
        }
        checks.push(rest_check(rest).await);
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

/// The REST step: the whole probe read, its first audio timed.
async fn rest_check<F, Fut>(rest: F) -> Check
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
            REST,
            format!("first audio after {} ms", first.as_millis()),
            started.elapsed(),
        ),
        Err(e) => Check::fail(REST, e, started.elapsed()),
    }
}
