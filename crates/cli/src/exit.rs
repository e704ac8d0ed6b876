//! How the program ends: an exit status and one line for the user.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | synthesis (or writing the audio) failed |
//! | 2 | the request was wrong: bad input, bad config, unknown voice or provider, no chain entry can serve it (language, speed, format), unwritable output |
//! | 130 | interrupted with Ctrl-C |

use std::fmt;
use std::process::ExitCode;

use voxwire_core::{ErrorKind, Phase, TtsError};

/// The prefix of every error line the program prints.
pub const ERROR_PREFIX: &str = "voxwire: error: ";

/// Why the program stopped early, with the status it exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    status: u8,
    message: String,
}

impl CliError {
    /// Exit status for a failed synthesis.
    pub const FAILURE: u8 = 1;
    /// Exit status for a request that could never work as given.
    pub const USAGE: u8 = 2;
    /// Exit status after Ctrl-C (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;

    /// The request was wrong (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            status: Self::USAGE,
            message: message.into(),
        }
    }

    /// Synthesis or output failed (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            status: Self::FAILURE,
            message: message.into(),
        }
    }

    /// The user pressed Ctrl-C (exit 130).
    pub fn interrupted() -> Self {
        Self {
            status: Self::INTERRUPTED,
            message: "interrupted".to_string(),
        }
    }

    /// An error found at the edge (input, config): exit 2 with the error's own message,
    /// without the kind/phase decoration meant for provider failures.
    pub fn from_validation(err: &TtsError) -> Self {
        Self::usage(err.message())
    }

    /// An error a provider returned while speaking: exit 1 with its full one-line
    /// `Display` (provider, phase, endpoint, hint), except that a rejected input
    /// (an unknown voice or language noticed by the provider) is exit 2.
    pub fn from_synthesis(err: &TtsError) -> Self {
        let status = if is_input_error(err) {
            Self::USAGE
        } else {
            Self::FAILURE
        };
        Self {
            status,
            message: err.to_string(),
        }
    }

    /// The exit status.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// The message, without the `voxwire: error: ` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.status)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ERROR_PREFIX}{}", self.message)
    }
}

impl std::error::Error for CliError {}

/// Whether a provider's error says the caller's input was wrong rather than the provider.
pub fn is_input_error(err: &TtsError) -> bool {
    err.kind() == ErrorKind::InvalidInput
        || err.kind() == ErrorKind::Unsupported
        || (err.kind() == ErrorKind::NotFound && err.phase() == Phase::Input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_prefix() {
        let e = CliError::usage("the text is empty");
        assert_eq!(e.status(), 2);
        assert_eq!(e.to_string(), "voxwire: error: the text is empty");
        assert_eq!(CliError::failure("x").status(), 1);
        assert_eq!(CliError::interrupted().status(), 130);
    }

    #[test]
    fn provider_errors_keep_their_display_and_input_errors_are_usage() {
        let unavailable = TtsError::new(ErrorKind::Unavailable, "engine died").with_provider("p");
        let e = CliError::from_synthesis(&unavailable);
        assert_eq!(e.status(), 1);
        assert_eq!(e.message(), unavailable.to_string());
        let voice = TtsError::new(ErrorKind::NotFound, "unknown voice `zz`")
            .with_provider("p")
            .with_phase(Phase::Input);
        assert_eq!(CliError::from_synthesis(&voice).status(), 2);
        let endpoint = TtsError::new(ErrorKind::NotFound, "404");
        assert_eq!(CliError::from_synthesis(&endpoint).status(), 1);
    }

    #[test]
    fn validation_errors_print_only_their_message() {
        let err = TtsError::invalid_input("the text is empty: give some words to speak");
        assert_eq!(
            CliError::from_validation(&err).to_string(),
            "voxwire: error: the text is empty: give some words to speak"
        );
    }
}
