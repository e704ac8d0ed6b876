//! `voxwire doctor` for xAI: each step checked on its own, then a diagnosis.

use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{ErrorKind, SynthesisRequest, TtsError, TtsProvider};
use voxwire_transport::doctor::SocketDoctor;

use crate::XaiProvider;

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

impl XaiProvider {
    pub(crate) async fn report(&self) -> Report {
        let r = &self.inner.resolved;
        let doctor = SocketDoctor {
            credentials: "API key set (XAI_API_KEY or api_key)",
            rest_url: &r.rest_url,
            connect_timeout: r.connect_timeout,
            ws: &self.inner.ws,
            voicing: self.voicing(None, None, None, None, Default::default()),
            upgrade_error: std::convert::identity,
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
    let kind = |name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .and_then(Check::error)
            .map(TtsError::kind)
    };
    let passed = |name: &str| checks.iter().any(|c| c.name == name && c.passed());
    let mut out = Vec::new();
    if let Some(e) = checks
        .iter()
        .find(|c| c.name == REACHABLE)
        .and_then(Check::error)
    {
        out.push(format!(
            "cannot reach the API host: {e} — check the network and XAI_BASE_URL"
        ));
        return out;
    }
    let (rest, upgrade) = (kind(REST), kind(UPGRADE));
    match (rest, upgrade) {
        (None, Some(ErrorKind::Auth)) if passed(REST) => out.push(format!(
            "the key works for REST; the WebSocket endpoint {ws_url} refused it: check XAI_BASE_URL and the endpoint path"
        )),
        (Some(ErrorKind::Auth), Some(ErrorKind::Auth)) => out.push(
            "the key was rejected by REST and by the WebSocket: check XAI_API_KEY".to_string(),
        ),
        (Some(ErrorKind::Auth), None) => out.push(format!(
            "the WebSocket accepts the key but REST at {rest_url} refuses it: check XAI_BASE_URL"
        )),
        _ => {}
    }
    if rest == Some(ErrorKind::NotFound) {
        out.push(format!(
            "there is no TTS endpoint at {rest_url}: check XAI_BASE_URL"
        ));
    }
    if upgrade == Some(ErrorKind::NotFound) {
        out.push(format!(
            "there is no TTS WebSocket at {ws_url}: check XAI_BASE_URL"
        ));
    }
    if out.is_empty() {
        // Anything else: each failure's own line says what broke and where.
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
    fn rest_fine_websocket_forbidden_is_named() {
        let auth = TtsError::new(ErrorKind::Auth, "forbidden").with_status(403);
        let checks = vec![
            Check::pass(REACHABLE, "", Default::default()),
            Check::pass(REST, "", Default::default()),
            Check::fail(UPGRADE, auth, Default::default()),
            Check::skipped(UTTERANCE, "the upgrade failed"),
        ];
        let d = diagnose(&checks, "https://h/v1/tts", "wss://h/v1/tts");
        assert_eq!(
            d,
            vec!["the key works for REST; the WebSocket endpoint wss://h/v1/tts refused it: check XAI_BASE_URL and the endpoint path"]
        );
    }
}
