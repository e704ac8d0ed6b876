//! The HTTP surface: routes, small handlers and JSON errors.

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
use crate::metrics;
use crate::state::AppState;
use crate::{relay, rest};

/// The longest a browser token may live.
const MAX_TOKEN_TTL_S: u64 = 3_600;

/// Every route of the relay.
pub fn app(state: Arc<AppState>) -> Routes {
    let web_dir = state.settings.web_dir.clone();
    let routes = Routes::new()
        .route("/v1/tts", get(relay::upgrade).post(rest::synthesize))
        .route("/v1/tts/voices", get(voices))
        .route("/v1/tts/voices/{voice_id}", get(voice))
        .route("/v1/tokens", post(mint_token))
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(state);
    match web_dir {
        // The browser demo: index.html, the wasm client and its JS glue.
        Some(dir) => routes.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => routes.route("/", get(no_demo)),
    }
}

/// `{"error": message}` with a status; messages never hold credentials.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
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
        Err(e) => json_error(StatusCode::BAD_GATEWAY, &e.to_string()),
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
        Err(e) => json_error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    origin: String,
    ttl_s: Option<u64>,
}

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
    if !auth::origin_allowed(&request.origin, &state.settings.allowed_origins) {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("origin {} is not in allowed_origins", request.origin),
        );
    }
    let ttl = request
        .ttl_s
        .unwrap_or(state.settings.browser_token_ttl_s)
        .clamp(1, MAX_TOKEN_TTL_S);
    let claims = BrowserClaims {
        origin: request.origin,
        expires_at: access::now_unix() + ttl,
        subject: token.id.clone(),
    };
    let value = auth::mint(&state.browser_key, &claims);
    Json(serde_json::json!({ "value": value, "expires_at": claims.expires_at })).into_response()
}
