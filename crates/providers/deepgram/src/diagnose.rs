//! `voxwire doctor` for Deepgram: each step checked on its own, then a diagnosis.

use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{ErrorKind, SynthesisRequest, TtsError, TtsProvider};
use voxwire_transport::doctor::SocketDoctor;

use crate::DeepgramProvider;

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

impl DeepgramProvider {
    pub(crate) async fn report(&self) -> Report {
        let r = &self.inner.resolved;
        let doctor = SocketDoctor {
            credentials: "API key set (DEEPGRAM_API_KEY or api_key)",
            rest_url: &r.rest_url,
            connect_timeout: r.connect_timeout,
            ws: &self.inner.ws,
            voicing: self.voicing(None, None, None, Default::default()),
            upgrade_error: crate::dialect::scoped,
        };
        let checks = doctor
            .checks(|text| self.synthesize_rest(SynthesisRequest::new(text)))
            .await;
        let diagnosis = diagnose(&checks, &r.rest_url, &r.ws_url);
        Report {
            provider: self.describe(),
            checks,
            diagnosis,
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
