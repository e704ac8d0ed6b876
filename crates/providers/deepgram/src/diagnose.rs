//! `voxwire doctor` for Deepgram: each step checked on its own, then a diagnosis.

use std::time::Instant;

use futures::StreamExt;
use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{ErrorKind, SynthesisRequest, TtsError, TtsProvider};
use voxwire_transport::reach::reachable;
use voxwire_transport::WsConn;

use crate::DeepgramProvider;

/// What the checks speak: one word keeps them cheap.
const PROBE_TEXT: &str = "Hi.";

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

impl DeepgramProvider {
    pub(crate) async fn report(&self) -> Report {
        let r = &self.inner.resolved;
        let mut checks = vec![Check::pass(
            CREDENTIALS,
            "API key set (DEEPGRAM_API_KEY or api_key)",
            std::time::Duration::ZERO,
        )];
        let reach = reachable(
            crate::PROVIDER_ID,
            REACHABLE,
            &r.rest_url,
            r.connect_timeout,
        )
        .await;
        let reached = reach.passed();
        checks.push(reach);
        if reached {
            checks.push(self.rest_check().await);
            let (upgrade, conn) = self.upgrade_check().await;
            checks.push(upgrade);
            checks.push(match conn {
                Some(conn) => self.utterance_check(conn).await,
                None => Check::skipped(UTTERANCE, "the upgrade failed"),
            });
        } else {
            for name in [REST, UPGRADE, UTTERANCE] {
                checks.push(Check::skipped(name, "the host is not reachable"));
            }
        }
        let diagnosis = diagnose(&checks, &r.rest_url, &r.ws_url);
        Report {
            provider: self.describe(),
            checks,
            diagnosis,
        }
    }

    async fn rest_check(&self) -> Check {
        let started = Instant::now();
        let result = async {
            let mut stream = self
                .synthesize_rest(SynthesisRequest::new(PROBE_TEXT))
                .await?;
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

    async fn upgrade_check(&self) -> (Check, Option<WsConn>) {
        let started = Instant::now();
        let voicing = self.voicing(None, None, None, Default::default());
        match self.inner.ws.open(&voicing).await {
            Ok(conn) => (
                Check::pass(UPGRADE, "101 Switching Protocols", started.elapsed()),
                Some(conn),
            ),
            Err(e) => (
                Check::fail(UPGRADE, crate::dialect::scoped(e), started.elapsed()),
                None,
            ),
        }
    }

    async fn utterance_check(&self, mut conn: WsConn) -> Check {
        let started = Instant::now();
        let voicing = self.voicing(None, None, None, Default::default());
        let result = self
            .inner
            .ws
            .speak_once(&mut conn, &voicing, PROBE_TEXT)
            .await;
        conn.close_with(Some(voxwire_transport::Outgoing::Text(
            crate::protocol::CLOSE.to_string(),
        )))
        .await;
        match result {
            Ok(first) => Check::pass(
                UTTERANCE,
                format!("first audio after {} ms", first.as_millis()),
                started.elapsed(),
            ),
            Err(e) => Check::fail(UTTERANCE, e, started.elapsed()),
        }
    }
}

/// Turns the pattern of results into what a person should fix.
fn diagnose(checks: &[Check], rest_url: &str, ws_url: &str) -> Vec<String> {
    let error = |name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .and_then(Check::error)
    };
    let kind = |name: &str| error(name).map(TtsError::kind);
    let passed = |name: &str| checks.iter().any(|c| c.name == name && c.passed());
    let mut out = Vec::new();
    if let Some(e) = error(REACHABLE) {
        out.push(format!(
            "cannot reach the API host: {e} — check the network and DEEPGRAM_BASE_URL"
        ));
        return out;
    }
    if [REST, UPGRADE]
        .iter()
        .any(|n| error(n).and_then(TtsError::status) == Some(402))
    {
        out.push("the Deepgram project is out of credits: top up billing".to_string());
        return out;
    }
    match (kind(REST), kind(UPGRADE)) {
        (None, Some(ErrorKind::Auth)) if passed(REST) => out.push(format!(
            "the key works for REST; the WebSocket {ws_url} refused it: check DEEPGRAM_BASE_URL and the key's permissions"
        )),
        (Some(ErrorKind::Auth), Some(ErrorKind::Auth)) => out.push(
            "the key was rejected by REST and by the WebSocket: check DEEPGRAM_API_KEY".to_string(),
        ),
        (Some(ErrorKind::Auth), None) => out.push(format!(
            "the WebSocket accepts the key but REST at {rest_url} refuses it: check DEEPGRAM_BASE_URL"
        )),
        _ => {}
    }
    if kind(REST) == Some(ErrorKind::NotFound)
        && error(REST).and_then(TtsError::status) == Some(404)
    {
        out.push(format!(
            "there is no /v1/speak at {rest_url}: check DEEPGRAM_BASE_URL"
        ));
    }
    if kind(UPGRADE) == Some(ErrorKind::NotFound)
        && error(UPGRADE).and_then(TtsError::status) == Some(404)
    {
        out.push(format!(
            "there is no speak WebSocket at {ws_url}: check DEEPGRAM_BASE_URL"
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

    #[test]
    fn rest_fine_websocket_refused_is_named() {
        let auth = TtsError::new(ErrorKind::Auth, "unauthorized").with_status(401);
        let checks = vec![
            Check::pass(REACHABLE, "", Default::default()),
            Check::pass(REST, "", Default::default()),
            Check::fail(UPGRADE, auth, Default::default()),
            Check::skipped(UTTERANCE, "the upgrade failed"),
        ];
        let d = diagnose(&checks, "https://h/v1/speak", "wss://h/v1/speak");
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("the key works for REST"));
    }
}
