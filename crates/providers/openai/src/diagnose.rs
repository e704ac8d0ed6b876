//! `voxwire doctor` for the `openai` entry: which kind of server this is
//! (OpenAI or a compatible one), its models, one probe synthesis, and what to fix.

use std::time::{Duration, Instant};

use serde::Deserialize;
use voxwire_core::diagnose::{Check, Report};
use voxwire_core::error::redact_url;
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_transport::doctor::probe;
use voxwire_transport::errors;
use voxwire_transport::reach::reachable;

use crate::{wire, OpenAiApi, OpenAiProvider, PROVIDER_ID};

/// The largest models answer read.
const MAX_MODELS_BODY: usize = 1024 * 1024;

/// Check names, shared with tests.
pub const SERVER: &str = "server";
/// The key.
pub const CREDENTIALS: &str = "credentials";
/// TCP reachability of the host.
pub const REACHABLE: &str = "reachable";
/// `GET {base}/models`.
pub const MODELS: &str = "models";
/// One `POST {base}/audio/speech`.
pub const SPEECH: &str = "speech synthesis";

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// The doctor's report: the server, the key, the host, the models, one synthesis.
pub(crate) async fn report(p: &OpenAiProvider) -> Report {
    let s = p.settings();
    let r = &p.core().resolved;
    let base = p.base();
    let mut diagnosis = Vec::new();
    let kind = match p.is_openai() {
        true => "OpenAI".to_string(),
        false => format!("an OpenAI-compatible server at {}", redact_url(base)),
    };
    let server = format!("{kind}; model {}, voice {}", s.model, s.voice);
    let key = match r.key.is_empty() {
        false => format!("API key set ({} or api_key)", s.api_key_env),
        true => format!("no key ({} unset): none is sent", s.api_key_env),
    };
    let mut checks = vec![
        Check::pass(SERVER, server, Duration::ZERO),
        Check::pass(CREDENTIALS, key, Duration::ZERO),
    ];
    if p.is_openai() && wire::DEPRECATED_MODELS.contains(&s.model.as_str()) {
        diagnosis.push(format!(
            "model {} is deprecated: OpenAI shuts its Speech-API models down on {}; plan to point base_url at a compatible server",
            s.model,
            wire::SHUTDOWN_DATE
        ));
    }
    let reach = reachable(PROVIDER_ID, REACHABLE, base, r.connect_timeout).await;
    if let Some(e) = reach.error() {
        // The error's own hint names no variable: this one replaces it.
        let e = e
            .clone()
            .with_hint("check the network and OPENAI_BASE_URL (base_url)");
        diagnosis.push(format!("cannot reach {}: {e}", redact_url(base)));
        checks.push(reach);
        for name in [MODELS, SPEECH] {
            checks.push(Check::skipped(name, "the host is not reachable"));
        }
    } else {
        checks.push(reach);
        checks.push(models_check(p, &mut diagnosis).await);
        let speech = probe(SPEECH, |text| p.synthesize(SynthesisRequest::new(text))).await;
        if let Some(e) = speech.error() {
            diagnosis.push(format!(
                "speech failed at {}: {}",
                redact_url(p.rest_url()),
                e.hint().unwrap_or(e.message())
            ));
        }
        checks.push(speech);
    }
    Report {
        provider: p.describe(),
        checks,
        diagnosis,
    }
}

async fn models_check(p: &OpenAiProvider, diagnosis: &mut Vec<String>) -> Check {
    let started = Instant::now();
    let model = &p.settings().model;
    match models(p).await {
        Ok(Some(models)) => {
            let listed = models.iter().any(|m| m == model);
            if !listed {
                diagnosis.push(format!(
                    "model {model} is not among the {} models the server lists ({}): check `model`",
                    models.len(),
                    preview(&models)
                ));
            }
            let is = if listed { "is listed" } else { "is NOT listed" };
            let detail = format!(
                "{} models ({}); {model} {is}",
                models.len(),
                preview(&models)
            );
            Check::pass(MODELS, detail, started.elapsed())
        }
        Ok(None) => Check::pass(
            MODELS,
            format!(
                "the server lists no models (GET {}/models answered 404)",
                p.base()
            ),
            started.elapsed(),
        ),
        Err(e) => {
            if let Some(h) = e.hint() {
                diagnosis.push(format!("listing models failed: {h}"));
            }
            Check::fail(MODELS, e, started.elapsed())
        }
    }
}

/// `GET {base}/models`: the ids, or `None` when the server has no such endpoint.
pub async fn models(p: &OpenAiProvider) -> voxwire_core::Result<Option<Vec<String>>> {
    let url = format!("{}/models", p.base());
    let body = match p.get(&url, MAX_MODELS_BODY).await {
        Ok(body) => body,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    let list: ModelList = serde_json::from_slice(&body).map_err(|e| {
        errors::protocol(
            PROVIDER_ID,
            &url,
            format!("the model list is not JSON: {e}"),
        )
    })?;
    Ok(Some(list.data.into_iter().map(|m| m.id).collect()))
}

/// The first few ids, for one line.
fn preview(models: &[String]) -> String {
    let mut s: Vec<&str> = models.iter().take(6).map(String::as_str).collect();
    if models.len() > 6 {
        s.push("…");
    }
    s.join(", ")
}
