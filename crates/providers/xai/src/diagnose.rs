//! `voxwire doctor` for xAI: the generic provider's steps
//! ([`voxwire_transport::doctor`]) in the plain words with xAI's variables.

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Xai;
    use voxwire_core::diagnose::Check;
    use voxwire_core::{ErrorKind, TtsError};
    use voxwire_transport::NetworkVendor;

    /// The diagnosis at these endpoints.
    fn diagnose(checks: &[Check], rest_url: &str, ws_url: &str) -> Vec<String> {
        voxwire_transport::doctor::diagnose(checks, &Xai::ADVICE, rest_url, ws_url)
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
