//! `GET {base}/tts/voices`: the voices this key can use, built-in and custom,
//! fetched with a timeout and cached.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use voxwire_core::{Result, Voice};
use voxwire_transport::errors;

use crate::{XaiProvider, PROVIDER_ID};

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
pub struct VoiceCache(Mutex<Option<(Instant, Vec<Voice>)>>);

impl VoiceCache {
    /// The list, fetched when the cached one is older than [`CACHE_FOR`].
    pub(crate) async fn get(&self, p: &XaiProvider) -> Result<Vec<Voice>> {
        if let Some((at, voices)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if at.elapsed() < CACHE_FOR {
                return Ok(voices.clone());
            }
        }
        let url = format!("{}/voices", p.rest_url());
        let body = p.get(&url, MAX_BODY).await?;
        let list: VoiceList = serde_json::from_slice(&body)
            .map_err(|e| errors::protocol(PROVIDER_ID, &url, format!("bad voices answer: {e}")))?;
        let voices: Vec<Voice> = list
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
            .collect();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), voices.clone()));
        Ok(voices)
    }
}
