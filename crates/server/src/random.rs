//! Random hex from the OS: generated server tokens, browser-token keys,
//! token subjects and request ids.

use voxwire_core::{Result, Secret, TtsError};

/// `n` random bytes from the OS, as hex: keys, generated tokens, subjects and ids.
pub(crate) fn random_hex(n: usize) -> Result<Secret> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| {
        TtsError::config(format!("cannot read random bytes: {e}"))
            .with_hint("set [server] browser_token_keys and tokens")
    })?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}
