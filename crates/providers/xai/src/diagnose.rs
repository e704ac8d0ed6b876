//! `voxwire doctor` for xAI: each step checked on its own, then a diagnosis.

use std::time::Instant;

use futures::StreamExt;
use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{ErrorKind, Phase, SynthesisRequest, TtsError, TtsProvider};

use crate::chunker::wire_format;
use crate::errors;
use crate::protocol::ClientMessage;
use crate::ws::{Conn, WireEvent};
use crate::XaiProvider;

/// What the checks speak: one word keeps them cheap.
const PROBE_TEXT: &str = "Hi.";

/// Check names, shared with the diagnosis rules (and tests).
pub const CREDENTIALS: &str = "credentials";
/// TCP reachability of the API host.
pub const REACHABLE: &str = "reachable";
/// A REST synthesis of one word.
pub const REST: &str = "rest synthesis";
/// The WebSocket upgrade.
pub const UPGRADE: &str = "websocket upgrade";
/// One short utterance over the WebSocket.
pub const UTTERANCE: &str = "websocket utterance";

impl XaiProvider {
    pub(crate) async fn report(&self) -> Report {
        let r = &self.inner.resolved;
        let mut checks = vec![Check::pass(
            CREDENTIALS,
            "API key set (XAI_API_KEY or api_key)",
            std::time::Duration::ZERO,
        )];
        let reach = reachable(&r.rest_url, r.connect_timeout).await;
        let reached = reach.passed();
        checks.push(reach);
        if reached {
            checks.push(self.rest_check().await);
            let (upgrade, conn) = self.upgrade_check().await;
            checks.push(upgrade);
            checks.push(match conn {
                Some(conn) => utterance_check(conn, r).await,
                None => Check::skipped(UTTERANCE, "the upgrade failed"),
            });
        } else {
            for name in [REST, UPGRADE, UTTERANCE] {
                checks.push(Check::skipped(name, "the host is not reachable"));
            }
        }
        let diagnosis = diagnose(&checks, &r.rest_url, &r.ws_url);
        Report {
            provider: self.describe(),
            checks,
            diagnosis,
        }
    }

    async fn rest_check(&self) -> Check {
        let started = Instant::now();
        let result = async {
            let mut stream = self
                .synthesize_rest(SynthesisRequest::new(PROBE_TEXT))
                .await?;
            let mut first = None;
            while let Some(chunk) = stream.next().await {
                chunk?;
                first.get_or_insert_with(|| started.elapsed());
            }
            Ok::<_, TtsError>(first.unwrap_or_default())
        }
        .await;
        match result {
            Ok(first) => Check::pass(
                REST,
                format!("first audio after {} ms", first.as_millis()),
                started.elapsed(),
            ),
            Err(e) => Check::fail(REST, e, started.elapsed()),
        }
    }

    async fn upgrade_check(&self) -> (Check, Option<Conn>) {
        let started = Instant::now();
        let query = self.query(None, None, None, wire_format(self.target(None)));
        match Conn::open(&self.inner.http, &self.inner.resolved, &query).await {
            Ok(conn) => (
                Check::pass(UPGRADE, "101 Switching Protocols", started.elapsed()),
                Some(conn),
            ),
            Err(e) => (Check::fail(UPGRADE, e, started.elapsed()), None),
        }
    }
}

async fn reachable(url: &str, limit: std::time::Duration) -> Check {
    let started = Instant::now();
    let Some((host, port)) = host_and_port(url) else {
        let e = TtsError::config(format!("cannot find a host in {url}"))
            .with_provider(crate::PROVIDER_ID);
        return Check::fail(REACHABLE, e, started.elapsed());
    };
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(_)) => Check::pass(REACHABLE, format!("{host}:{port}"), started.elapsed()),
        Ok(Err(e)) => Check::fail(
            REACHABLE,
            errors::connect_error(url, format!("{host}:{port}: {e}")),
            started.elapsed(),
        ),
        Err(_) => Check::fail(
            REACHABLE,
            errors::timeout(url, Phase::Connect, "no TCP connection", limit),
            started.elapsed(),
        ),
    }
}

async fn utterance_check(mut conn: Conn, r: &crate::settings::Resolved) -> Check {
    let started = Instant::now();
    let result = async {
        conn.send(&ClientMessage::TextDelta {
            delta: PROBE_TEXT.into(),
        })
        .await?;
        conn.send(&ClientMessage::TextDone).await?;
        let mut first = None;
        loop {
            let limit = if first.is_some() {
                r.inactivity_timeout
            } else {
                r.first_audio_timeout
            };
            match conn.next_event(limit, "no audio").await? {
                WireEvent::Audio { data, .. } if !data.is_empty() => {
                    first.get_or_insert_with(|| started.elapsed());
                }
                WireEvent::Audio { .. } => {}
                WireEvent::Done => break,
                WireEvent::Cleared => {
                    return Err(errors::protocol(
                        &conn.endpoint,
                        "audio.clear without text.clear",
                    ))
                }
            }
        }
        first.ok_or_else(|| errors::no_audio(&conn.endpoint))
    }
    .await;
    conn.close().await;
    match result {
        Ok(first) => Check::pass(
            UTTERANCE,
            format!("first audio after {} ms", first.as_millis()),
            started.elapsed(),
        ),
        Err(e) => Check::fail(UTTERANCE, e.scrub(&r.key), started.elapsed()),
    }
}

/// `https://host:port/...` → (host, port), with the scheme's default port.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
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
