//! `GET {base}/tts/voices`: the voices this key can use, built-in and custom,
//! fetched with a timeout and cached.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use voxwire_core::{Phase, Result, Voice};
use voxwire_transport::{errors, http};

use crate::settings::Resolved;
use crate::PROVIDER_ID;

/// How long a fetched list is used before asking again.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(600);
/// The largest voices answer read.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Deserialize)]
struct VoiceList {
    #[serde(default)]
    voices: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    voice_id: String,
    #[serde(default)]
    name: Option<String>,
}

/// The cached list.
#[derive(Default)]
pub(crate) struct VoiceCache(Mutex<Option<(Instant, Vec<Voice>)>>);

impl VoiceCache {
    pub(crate) async fn get(
        &self,
        http_client: &reqwest::Client,
        r: &Resolved,
    ) -> Result<Vec<Voice>> {
        if let Some((at, voices)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if at.elapsed() < CACHE_FOR {
                return Ok(voices.clone());
            }
        }
        let voices = fetch(http_client, r).await?;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), voices.clone()));
        Ok(voices)
    }
}

async fn fetch(client: &reqwest::Client, r: &Resolved) -> Result<Vec<Voice>> {
    let url = format!("{}/voices", r.rest_url);
    let limit = r.connect_timeout + r.first_audio_timeout;
    let auth = crate::rest::bearer(r)?;
    let response =
        tokio::time::timeout(limit, client.get(&url).header("authorization", auth).send())
            .await
            .map_err(|_| {
                errors::timeout(PROVIDER_ID, &url, Phase::Connect, "no voices answer", limit)
            })?
            .map_err(|e| errors::connect_error(PROVIDER_ID, &url, e).scrub(&r.key))?;
    if !response.status().is_success() {
        return Err(crate::rest::refused(response, &url, r).await);
    }
    let body = http::read_excerpt(response, MAX_BODY, limit).await;
    let list: VoiceList = serde_json::from_slice(&body)
        .map_err(|e| errors::protocol(PROVIDER_ID, &url, format!("bad voices answer: {e}")))?;
    Ok(list
        .voices
        .into_iter()
        .filter(|v| !v.voice_id.trim().is_empty())
        .map(|v| Voice {
            name: v.name.unwrap_or_else(|| v.voice_id.clone()),
            id: v.voice_id,
            languages: vec!["auto".into()],
            gender: None,
            provider: PROVIDER_ID.into(),
        })
        .collect())
}
