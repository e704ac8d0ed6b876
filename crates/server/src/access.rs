//! Who is asking: server tokens, browser tokens, the Origin allowlist.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth;
use crate::state::AppState;

/// The kind of credential a session was opened with: its rate limits differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A server token: the operator's own backend.
    Server,
    /// A minted browser token: an end user's page.
    Browser,
    /// Open mode (loopback, no authentication): local development.
    Open,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// What limits and metrics count it as: `token:<id>`, `browser:<id>` or `open`.
    pub key: String,
    /// The kind of credential.
    pub kind: CredentialKind,
    /// The subprotocol to echo when the credential came in `Sec-WebSocket-Protocol`.
    pub subprotocol: Option<String>,
}

/// A refusal with its HTTP status and a one-line reason (never a credential).
pub(crate) struct Denied {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        crate::errors::json_error(self.status, &self.message)
    }
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn denied(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Denied {
    Denied {
        status,
        reason,
        message: message.into(),
    }
}

/// Checks a request's credentials: a server token (Bearer), or a browser token
/// (`token` query parameter or `xai-client-secret.<token>` subprotocol) bound to
/// the request's Origin. Browser requests (with an Origin) must come from an
/// allowed origin in every mode, open mode included (default: loopback
/// origins only), so a page on another site cannot drive a local relay. A
/// server token the relay generated for itself (loopback, no tokens
/// configured) is also accepted as the `token` query parameter, so the demo
/// page's ready URL works.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<Principal, Denied> {
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    if let Some(origin) = origin {
        if !auth::origin_permitted(origin, &state.settings.allowed_origins) {
            return Err(denied(
                StatusCode::FORBIDDEN,
                "origin",
                format!(
                    "origin {} is not allowed: add it to allowed_origins",
                    crate::errors::printable(origin)
                ),
            ));
        }
    }
    if state.settings.open {
        return Ok(Principal {
            key: "open".into(),
            kind: CredentialKind::Open,
            subprotocol: None,
        });
    }
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Some(presented) = auth::bearer_token(authorization) {
        return match auth::find_api_token(presented, &state.api_tokens) {
            Some(token) => Ok(Principal {
                key: format!("token:{}", token.id),
                kind: CredentialKind::Server,
                subprotocol: None,
            }),
            None => Err(denied(
                StatusCode::UNAUTHORIZED,
                "bad_token",
                "the bearer token is not valid for this relay",
            )),
        };
    }
    if let Some(token) = query_token.and_then(|t| auth::find_api_token(t, &state.query_tokens)) {
        return Ok(Principal {
            key: format!("token:{}", token.id),
            kind: CredentialKind::Server,
            subprotocol: None,
        });
    }
    let protocols = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let (browser, subprotocol) = match (query_token, auth::token_from_subprotocols(protocols)) {
        (Some(t), _) => (t, None),
        (None, Some(t)) => (t, Some(format!("{}{t}", auth::SUBPROTOCOL_PREFIX))),
        (None, None) => {
            return Err(denied(
                StatusCode::UNAUTHORIZED,
                "missing",
                "no credentials: send Authorization: Bearer <server token>, or a browser token from POST /v1/tokens",
            ))
        }
    };
    let claims = auth::verify_any(&state.browser_keys, browser, now_unix())
        .map_err(|e| denied(StatusCode::UNAUTHORIZED, "browser_token", e.to_string()))?;
    match origin {
        Some(origin) if auth::origin_allowed(origin, std::slice::from_ref(&claims.origin)) => {
            Ok(Principal {
                key: format!("browser:{}", claims.subject),
                kind: CredentialKind::Browser,
                subprotocol,
            })
        }
        _ => Err(denied(
            StatusCode::FORBIDDEN,
            "origin",
            "this browser token was minted for another origin",
        )),
    }
}
