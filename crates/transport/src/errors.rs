//! The `TtsError`s every network provider builds the same way: connect
//! failures, timeouts, protocol violations, mid-stream closes, no audio.

use std::time::Duration;

use voxwire_core::{ErrorKind, Phase, TtsError};

/// The connection could not be opened (refused, DNS, TLS, reset).
pub fn connect_error(
    provider: &'static str,
    endpoint: &str,
    what: impl std::fmt::Display,
) -> TtsError {
    TtsError::new(ErrorKind::Unavailable, format!("cannot connect: {what}"))
        .with_provider(provider)
        .with_phase(Phase::Connect)
        .with_endpoint(endpoint)
        .with_hint("check the network and the provider's base_url")
}

/// A wait ran past its limit.
pub fn timeout(
    provider: &'static str,
    endpoint: &str,
    phase: Phase,
    what: &str,
    limit: Duration,
) -> TtsError {
    TtsError::new(
        ErrorKind::Timeout,
        format!("{what} within {} ms", limit.as_millis()),
    )
    .with_provider(provider)
    .with_phase(phase)
    .with_endpoint(endpoint)
}

/// The server broke the protocol (bad frame, bad JSON, bad base64): fail over.
pub fn protocol(provider: &'static str, endpoint: &str, what: impl Into<String>) -> TtsError {
    TtsError::new(ErrorKind::Protocol, what)
        .with_provider(provider)
        .with_phase(Phase::Decode)
        .with_endpoint(endpoint)
}

/// The connection closed or broke while an utterance was in flight.
pub fn closed_mid_stream(
    provider: &'static str,
    endpoint: &str,
    what: impl std::fmt::Display,
) -> TtsError {
    TtsError::new(
        ErrorKind::Unavailable,
        format!("the connection closed before the end of the utterance: {what}"),
    )
    .with_provider(provider)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint)
}

/// Sending to the server failed.
pub fn send_failed(
    provider: &'static str,
    endpoint: &str,
    what: impl std::fmt::Display,
) -> TtsError {
    TtsError::new(ErrorKind::Unavailable, format!("sending failed: {what}"))
        .with_provider(provider)
        .with_phase(Phase::Send)
        .with_endpoint(endpoint)
}

/// The utterance ended without audio.
pub fn no_audio(provider: &'static str, endpoint: &str) -> TtsError {
    TtsError::new(
        ErrorKind::NoAudio,
        "the utterance ended with no audio (no audio frames were pushed)",
    )
    .with_provider(provider)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint)
}
