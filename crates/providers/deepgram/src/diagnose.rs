//! `voxwire doctor` for Deepgram: the generic provider's steps
//! ([`voxwire_transport::doctor`]) in Deepgram's words (`Deepgram::ADVICE`,
//! with its out-of-credits rule first).

pub use voxwire_transport::doctor::{CREDENTIALS, REACHABLE, REST, UPGRADE, UTTERANCE};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Deepgram;
    use voxwire_core::diagnose::Check;
    use voxwire_core::{ErrorKind, TtsError};
    use voxwire_transport::NetworkVendor;

    /// The diagnosis at these endpoints.
    fn diagnose(checks: &[Check], rest_url: &str, ws_url: &str) -> Vec<String> {
        voxwire_transport::doctor::diagnose(checks, &Deepgram::ADVICE, rest_url, ws_url)
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
