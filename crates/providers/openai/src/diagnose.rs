//! `voxwire doctor` for the `openai` entry: which kind of server this is
//! (OpenAI or a compatible one), its models, one probe synthesis, and what to fix.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use voxwire_core::diagnose::{Check, Report};
use voxwire_core::{SynthesisRequest, TtsError, TtsProvider};
use voxwire_transport::reach::reachable;
use voxwire_transport::{errors, http};

use crate::{wire, OpenAiProvider, PROVIDER_ID};

/// What the probe speaks: one word keeps it cheap.
const PROBE_TEXT: &str = "Hi.";
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

impl OpenAiProvider {
    pub(crate) async fn report(&self) -> Report {
        let r = &self.inner.resolved;
        let s = &self.inner.settings;
        let mut diagnosis = Vec::new();
        let kind = if r.is_openai {
            "OpenAI".to_string()
        } else {
            format!(
                "an OpenAI-compatible server at {}",
                voxwire_core::error::redact_url(&r.base)
            )
        };
        let mut checks = vec![Check::pass(
            SERVER,
            format!("{kind}; model {}, voice {}", s.model, s.voice),
            Duration::ZERO,
        )];
        checks.push(Check::pass(
            CREDENTIALS,
            match &r.key {
                Some(_) => format!("API key set ({} or api_key)", s.api_key_env),
                None => format!("no key ({} unset): none is sent", s.api_key_env),
            },
            Duration::ZERO,
        ));
        if r.is_openai && wire::DEPRECATED_MODELS.contains(&s.model.as_str()) {
            diagnosis.push(format!(
                "model {} is deprecated: OpenAI shuts its Speech-API models down on {}; plan to point base_url at a compatible server",
                s.model,
                wire::SHUTDOWN_DATE
            ));
        }
        let reach = reachable(PROVIDER_ID, REACHABLE, &r.base, r.connect_timeout).await;
        if let Some(e) = reach.error() {
            diagnosis.push(format!(
                "cannot reach {}: {e} — check the network and base_url",
                voxwire_core::error::redact_url(&r.base)
            ));
            checks.push(reach);
            for name in [MODELS, SPEECH] {
                checks.push(Check::skipped(name, "the host is not reachable"));
            }
            return self.finish(checks, diagnosis);
        }
        checks.push(reach);
        checks.push(self.models_check(&mut diagnosis).await);
        checks.push(self.speech_check(&mut diagnosis).await);
        self.finish(checks, diagnosis)
    }

    fn finish(&self, checks: Vec<Check>, diagnosis: Vec<String>) -> Report {
        Report {
            provider: self.describe(),
            checks,
            diagnosis,
        }
    }

    async fn models_check(&self, diagnosis: &mut Vec<String>) -> Check {
        let started = Instant::now();
        let r = &self.inner.resolved;
        let model = &self.inner.settings.model;
        match self.models().await {
            Ok(Some(models)) => {
                let listed = models.iter().any(|m| m == model);
                if !listed {
                    diagnosis.push(format!(
                        "model {model} is not among the {} models the server lists ({}): check `model`",
                        models.len(),
                        preview(&models)
                    ));
                }
                Check::pass(
                    MODELS,
                    format!(
                        "{} models ({}); {model} {}",
                        models.len(),
                        preview(&models),
                        if listed { "is listed" } else { "is NOT listed" }
                    ),
                    started.elapsed(),
                )
            }
            Ok(None) => Check::pass(
                MODELS,
                format!(
                    "the server lists no models (GET {} answered 404)",
                    r.models_url
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
    pub async fn models(&self) -> voxwire_core::Result<Option<Vec<String>>> {
        let r = &self.inner.resolved;
        let url = r.models_url.as_str();
        let request = r.authorized(self.inner.http.get(url))?;
        let cx = self.context();
        let response = match http::send_streamed(request, &r.call(url), |failure| {
            crate::errors::classify(failure, cx)
        })
        .await
        {
            Ok((response, _)) => response,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let limit = r.connect_timeout + r.first_audio_timeout;
        let body = http::read_excerpt(response, MAX_MODELS_BODY, limit).await;
        let list: ModelList = serde_json::from_slice(&body).map_err(|e| {
            errors::protocol(PROVIDER_ID, url, format!("the model list is not JSON: {e}"))
        })?;
        Ok(Some(list.data.into_iter().map(|m| m.id).collect()))
    }

    async fn speech_check(&self, diagnosis: &mut Vec<String>) -> Check {
        let started = Instant::now();
        let result = async {
            let mut stream = self.synthesize(SynthesisRequest::new(PROBE_TEXT)).await?;
            let mut first = None;
            let mut bytes = 0usize;
            while let Some(chunk) = stream.next().await {
                bytes += chunk?.data.len();
                first.get_or_insert_with(|| started.elapsed());
            }
            Ok::<_, TtsError>((first.unwrap_or_default(), bytes))
        }
        .await;
        match result {
            Ok((first, bytes)) => Check::pass(
                SPEECH,
                format!(
                    "first audio after {} ms, {bytes} bytes of audio (voice {})",
                    first.as_millis(),
                    self.inner.settings.voice
                ),
                started.elapsed(),
            ),
            Err(e) => {
                diagnosis.push(format!(
                    "speech failed at {}: {}",
                    voxwire_core::error::redact_url(&self.inner.resolved.speech_url),
                    e.hint().unwrap_or(e.message())
                ));
                Check::fail(SPEECH, e, started.elapsed())
            }
        }
    }
}

/// The first few ids, for one line.
fn preview(models: &[String]) -> String {
    let mut s: Vec<&str> = models.iter().take(6).map(String::as_str).collect();
    if models.len() > 6 {
        s.push("…");
    }
    s.join(", ")
}
