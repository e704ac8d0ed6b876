//! The doctor's reachability check: can a TCP connection reach the API host?

use std::time::{Duration, Instant};

use voxwire_core::diagnose::Check;
use voxwire_core::{Phase, TtsError};

use crate::errors;

/// `https://host:port/...` → (host, port), with the scheme's default port.
pub fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme == "https" || scheme == "wss" {
        443
    } else {
        80
    };
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => Some((
            host.trim_matches(['[', ']']).to_string(),
            port.parse().ok()?,
        )),
        _ => Some((authority.trim_matches(['[', ']']).to_string(), default)),
    }
}

/// A check named `name` that opens (and drops) one TCP connection to `url`'s host within `limit`.
pub async fn reachable(provider: &'static str, name: &str, url: &str, limit: Duration) -> Check {
    let started = Instant::now();
    let Some((host, port)) = host_and_port(url) else {
        let e = TtsError::config(format!("cannot find a host in {url}")).with_provider(provider);
        return Check::fail(name, e, started.elapsed());
    };
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(_)) => Check::pass(name, format!("{host}:{port}"), started.elapsed()),
        Ok(Err(e)) => Check::fail(
            name,
            errors::connect_error(provider, url, format!("{host}:{port}: {e}")),
            started.elapsed(),
        ),
        Err(_) => Check::fail(
            name,
            errors::timeout(provider, url, Phase::Connect, "no TCP connection", limit),
            started.elapsed(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_come_from_the_url() {
        assert_eq!(
            host_and_port("https://api.x.ai/v1/tts"),
            Some(("api.x.ai".into(), 443))
        );
        assert_eq!(
            host_and_port("http://127.0.0.1:8080/v1"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(host_and_port("http://[::1]:9/v1"), Some(("::1".into(), 9)));
        assert_eq!(host_and_port("nonsense"), None);
    }
}
