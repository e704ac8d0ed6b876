//! The HTTP surface: routes and the small handlers (voices, tokens, health,
//! metrics); the fronts' handlers are in [`crate::fronts`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router as Routes};
use serde::Deserialize;
use voxwire_core::TtsProvider;

use crate::access;
use crate::auth::{self, BrowserClaims};
use crate::errors::{json_error, router_error};
use crate::fronts::{openai, xai_rest, xai_ws};
use crate::metrics;
use crate::settings::MetricsAccess;
use crate::state::AppState;

/// The longest a browser token may live.
const MAX_TOKEN_TTL_S: u64 = 3_600;

/// Every route of the relay.
pub fn app(state: Arc<AppState>) -> Routes {
    let web_dir = state.settings.web_dir.clone();
    // The fronts: every response carries `x-request-id`.
    let fronts = Routes::new()
        .route("/v1/tts", get(xai_ws::upgrade).post(xai_rest::synthesize))
        .route("/v1/audio/speech", post(openai::speech))
        .route("/v1/models", get(openai::models))
        .route_layer(axum::middleware::from_fn(crate::request_id::tag));
    let routes = fronts
        .route("/v1/tts/voices", get(voices))
        .route("/v1/tts/voices/{voice_id}", get(voice))
        .route("/v1/tokens", post(mint_token))
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .route("/v1/usage", get(usage))
        .with_state(state);
    match web_dir {
        // The browser demo: index.html, the wasm client and its JS glue.
        Some(dir) => routes.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => routes.route("/", get(no_demo)),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// `GET /v1/usage`: characters, audio seconds, utterances and failovers per
/// credential and per chain entry; the fleet's totals when Redis is shared.
/// A server token (Bearer) or open mode; browser tokens are refused.
async fn usage(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match access::authenticate(&state, &headers, None) {
        Ok(p) if p.kind != access::CredentialKind::Browser => {}
        Ok(_) => {
            state.metrics.auth_rejected("usage");
            return json_error(
                StatusCode::FORBIDDEN,
                "/v1/usage needs a server token (Authorization: Bearer), not a browser token",
            );
        }
        Err(denied) => {
            state.metrics.auth_rejected(denied.reason);
            return denied.into_response();
        }
    }
    match state.usage.report(state.shared.as_deref()).await {
        Ok(report) => Json(report).into_response(),
        Err(_down) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay cannot reach its fleet's shared state (Redis), which holds the usage totals: retry shortly",
        ),
    }
}

async fn render_metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match state.settings.metrics {
        MetricsAccess::Off => {
            return json_error(
                StatusCode::NOT_FOUND,
                "metrics are off: set [server] metrics",
            )
        }
        MetricsAccess::Token => {
            let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
            if auth::bearer_token(authorization)
                .and_then(|t| auth::find_api_token(t, &state.api_tokens))
                .is_none()
            {
                state.metrics.auth_rejected("metrics");
                return json_error(
                    StatusCode::UNAUTHORIZED,
                    "/metrics needs a server token (Authorization: Bearer)",
                );
            }
        }
        MetricsAccess::Public => {}
    }
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(&state.router),
    )
        .into_response()
}

async fn no_demo() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no browser demo is configured: set [server] web_dir",
    )
}

async fn voices(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(denied) = access::authenticate(&state, &headers, None) {
        state.metrics.auth_rejected(denied.reason);
        return denied.into_response();
    }
    match state.router.voices().await {
        Ok(voices) => {
            let list: Vec<_> = voices
                .into_iter()
                .map(|v| serde_json::json!({ "voice_id": v.id, "name": v.name, "provider": v.provider, "languages": v.languages }))
                .collect();
            Json(serde_json::json!({ "voices": list })).into_response()
        }
        Err(e) => router_error(&state, StatusCode::BAD_GATEWAY, &e),
    }
}

async fn voice(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(voice_id): Path<String>,
) -> Response {
    if let Err(denied) = access::authenticate(&state, &headers, None) {
        state.metrics.auth_rejected(denied.reason);
        return denied.into_response();
    }
    match state.router.voices().await {
        Ok(voices) => match voices
            .into_iter()
            .find(|v| v.id.eq_ignore_ascii_case(&voice_id))
        {
            Some(v) => {
                Json(serde_json::json!({ "voice_id": v.id, "name": v.name })).into_response()
            }
            None => json_error(
                StatusCode::NOT_FOUND,
                &format!("voice `{voice_id}` not found"),
            ),
        },
        Err(e) => router_error(&state, StatusCode::BAD_GATEWAY, &e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    origin: String,
    ttl_s: Option<u64>,
    /// Who the token is for (the backend's user id): limits apply per subject.
    /// Random when absent, so two tabs never share a quota by accident.
    sub: Option<String>,
}

/// Longest `sub` accepted; it is a label, not a payload.
const MAX_SUB_LEN: usize = 128;

/// `POST /v1/tokens`: a server token mints a short-lived browser token bound to an origin.
async fn mint_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let Some(token) =
        auth::bearer_token(authorization).and_then(|t| auth::find_api_token(t, &state.api_tokens))
    else {
        state.metrics.auth_rejected("mint");
        return json_error(
            StatusCode::UNAUTHORIZED,
            "minting a browser token needs a server token (Authorization: Bearer)",
        );
    };
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    if !auth::origin_permitted(&request.origin, &state.settings.allowed_origins) {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "origin {} is not in allowed_origins",
                crate::errors::printable(&request.origin)
            ),
        );
    }
    let sub = match request.sub {
        Some(sub)
            if sub.is_empty() || sub.len() > MAX_SUB_LEN || sub.chars().any(char::is_control) =>
        {
            return json_error(
                StatusCode::BAD_REQUEST,
                "sub must be 1 to 128 characters without control characters",
            )
        }
        Some(sub) => sub,
        None => match crate::random::random_hex(12) {
            Ok(random) => random.expose().to_string(),
            Err(e) => return router_error(&state, StatusCode::INTERNAL_SERVER_ERROR, &e),
        },
    };
    let ttl = request
        .ttl_s
        .unwrap_or(state.settings.browser_token_ttl_s)
        .clamp(1, MAX_TOKEN_TTL_S);
    let claims = BrowserClaims {
        origin: request.origin,
        expires_at: access::now_unix() + ttl,
        subject: format!("{}/{sub}", token.id),
    };
    let Some(key) = state.browser_keys.first() else {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "no browser-token key");
    };
    let value = auth::mint(key, &claims);
    Json(serde_json::json!({ "value": value, "expires_at": claims.expires_at, "sub": sub }))
        .into_response()
}
