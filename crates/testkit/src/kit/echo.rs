//! The smallest vendor mock on the kit: a toy "echo" WebSocket protocol, for
//! the transport driver's own tests and as a template for a next vendor.
//!
//! `GET /echo?rate=HZ` with header `authorization: <key>` upgrades. The
//! client sends `say:<ctx>:<text>`, then `flush:<ctx>`; the mock answers one
//! binary frame per character (its kit audio, pcm16 at `rate`), then
//! `done:<ctx>`. `clear:<ctx>` is answered `cleared:<ctx>`. Text starting
//! `fail:` is answered `error:<rest>`; text containing `hang` gets no answer
//! (a silent stop). The kit's fault plan applies per upgrade (rejections)
//! and per utterance (close or stall after N bytes, zero audio).

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use voxwire_core::AudioFormat;

use super::audio::expected_audio;
use super::fault::{Effects, UtteranceEffects};
use super::{rejection_response, Kit, MockDialect, RequestKind};

/// The echo dialect (no switches of its own).
#[derive(Debug, Default, Clone, Copy)]
pub struct EchoMock;

/// The audio the echo mock sends for `text` at `rate`: the kit's pcm16 audio.
pub fn echo_audio(text: &str, rate: u32) -> Vec<u8> {
    expected_audio(text, AudioFormat::pcm16_mono(rate))
}

#[derive(serde::Deserialize)]
struct Rate {
    rate: Option<u32>,
}

impl MockDialect for EchoMock {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn router(self: Arc<Self>, kit: Arc<Kit>) -> Router {
        Router::new().route("/echo", get(upgrade)).with_state(kit)
    }
}

async fn upgrade(
    State(kit): State<Arc<Kit>>,
    Query(q): Query<Rate>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let id = kit.record_request(RequestKind::WebSocket, "GET", "/echo", &headers);
    let authorized = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == kit.api_key().as_bytes());
    let (index, fault) = kit.take_fault();
    let effects = Effects::of(&fault);
    let response = if !authorized {
        (StatusCode::UNAUTHORIZED, "bad key").into_response()
    } else if let Some(r) = effects.reject.as_ref().or(effects.reject_ws.as_ref()) {
        rejection_response(r)
    } else {
        kit.count_upgrade();
        let rate = q.rate.unwrap_or(16_000).clamp(8_000, 48_000);
        let conn = Arc::clone(&kit);
        ws.on_upgrade(move |socket| async move {
            tokio::select! {
                () = serve(socket, &conn, id, rate, effects) => {}
                () = conn.stopped() => {}
            }
        })
    };
    let status = response.status().as_u16();
    kit.update(id, |r| {
        r.index = Some(index);
        r.status = status;
    });
    response
}

async fn serve(mut ws: WebSocket, kit: &Kit, id: u64, rate: u32, effects: Effects) {
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut utterance = 0;
    while let Some(Ok(message)) = ws.recv().await {
        let Message::Text(t) = message else { continue };
        let t = t.as_str();
        kit.record_message(id, kit.masker(&HeaderMap::new()).mask(t));
        let reply = if let Some((c, text)) = t.strip_prefix("say:").and_then(|r| r.split_once(':'))
        {
            pending.push((c.to_string(), text.to_string()));
            continue;
        } else if let Some(c) = t.strip_prefix("flush:") {
            let text: String = pending
                .iter()
                .filter(|p| p.0 == c)
                .map(|p| p.1.as_str())
                .collect();
            pending.retain(|p| p.0 != c);
            let fx = effects.for_utterance(utterance);
            utterance += 1;
            if text.contains("hang") {
                continue;
            }
            if let Some(m) = text.strip_prefix("fail:") {
                format!("error:{m}")
            } else if speak(&mut ws, &text, rate, &fx).await {
                format!("done:{c}")
            } else {
                return;
            }
        } else if let Some(c) = t.strip_prefix("clear:") {
            pending.retain(|p| p.0 != c);
            format!("cleared:{c}")
        } else {
            format!("error:unknown message {t}")
        };
        if ws.send(Message::text(reply)).await.is_err() {
            return;
        }
    }
}

/// Sends one frame per character under the utterance's faults; `false`: the
/// connection is to end (closed by a fault or by the client).
async fn speak(ws: &mut WebSocket, text: &str, rate: u32, fx: &UtteranceEffects) -> bool {
    if fx.zero_audio {
        return true;
    }
    let mut sent = 0;
    let mut stall = fx.stall;
    for ch in text.chars() {
        if let Some((after, pause)) = stall {
            if sent >= after {
                stall = None;
                tokio::time::sleep(pause).await;
            }
        }
        if fx.close.is_some_and(|(after, _)| sent >= after) {
            return false;
        }
        let audio = echo_audio(ch.encode_utf8(&mut [0; 4]), rate);
        sent += audio.len();
        if ws.send(Message::binary(audio)).await.is_err() {
            return false;
        }
    }
    true
}
