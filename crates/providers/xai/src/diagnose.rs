//! `voxwire doctor` for xAI: each step checked on its own, then a diagnosis.

use voxwire_core::diagnose::Report;
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_transport::doctor::{Advice, SocketDoctor};

use crate::settings::VENDOR;
use crate::XaiProvider;

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

impl XaiProvider {
    pub(crate) async fn report(&self) -> Report {
        let voicing = self.voicing(None, None, None, None, Default::default());
        SocketDoctor::new(&self.inner, &ADVICE, voicing, std::convert::identity)
            .report(self.describe(), |text| {
                self.synthesize_rest(SynthesisRequest::new(text))
            })
            .await
    }
}

/// The diagnosis in the plain words, with xAI's variables.
const ADVICE: Advice = Advice::of(&VENDOR);

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
