//! `voxwire doctor` for Deepgram: each step checked on its own, then a diagnosis.

use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_transport::doctor::{self, Advice, SocketDoctor};

use crate::settings::VENDOR;
use crate::DeepgramProvider;

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

impl DeepgramProvider {
    pub(crate) async fn report(&self) -> Report {
        let r = &self.inner.resolved;
        let credentials = format!("API key set ({} or api_key)", VENDOR.key_variable);
        let doctor = SocketDoctor {
            credentials: &credentials,
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
    let out_of_credits = checks
        .iter()
        .filter(|c| c.name == REST || c.name == UPGRADE)
        .filter_map(Check::error)
        .any(|e| e.status() == Some(402));
    if out_of_credits {
        return vec!["the Deepgram project is out of credits: top up billing".to_string()];
    }
    doctor::diagnose(
        checks,
        &Advice {
            key_variable: VENDOR.key_variable,
            base_variable: VENDOR.base_variable,
            rest_url,
            ws_url,
            websocket: "the WebSocket",
            websocket_refusal: "the key's permissions",
            rest_name: "/v1/speak",
            websocket_name: "speak WebSocket",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::{ErrorKind, TtsError};

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
