//! `voxwire doctor` for Deepgram: each step checked on its own, then a diagnosis.

use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_transport::doctor::{Advice, SocketDoctor};

use crate::settings::VENDOR;
use crate::DeepgramProvider;

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

impl DeepgramProvider {
    pub(crate) async fn report(&self) -> Report {
        let voicing = self.voicing(None, None, None, Default::default());
        SocketDoctor::new(&self.inner, &ADVICE, voicing, crate::dialect::scoped)
            .report(self.describe(), |text| {
                self.synthesize_rest(SynthesisRequest::new(text))
            })
            .await
    }
}

/// The diagnosis in deepgram's words.
const ADVICE: Advice = Advice {
    websocket: "the WebSocket",
    websocket_refusal: "the key's permissions",
    rest_name: "/v1/speak",
    websocket_name: "speak WebSocket",
    first: out_of_credits,
    ..Advice::of(&VENDOR)
};

/// A 402 at REST or at the upgrade: the project is out of credits, whatever else failed.
fn out_of_credits(checks: &[Check]) -> Option<String> {
    checks
        .iter()
        .filter(|c| c.name == REST || c.name == UPGRADE)
        .filter_map(Check::error)
        .any(|e| e.status() == Some(402))
        .then(|| "the Deepgram project is out of credits: top up billing".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::diagnose::Check;
    use voxwire_core::{ErrorKind, TtsError};

    /// The diagnosis at these endpoints.
    fn diagnose(checks: &[Check], rest_url: &str, ws_url: &str) -> Vec<String> {
        voxwire_transport::doctor::diagnose(checks, &ADVICE, rest_url, ws_url)
    }

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
