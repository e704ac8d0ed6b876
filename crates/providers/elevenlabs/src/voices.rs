//! `GET {base}/voices`: the account's voices with their languages.

use voxwire_core::{Result, Voice};
use voxwire_transport::errors;

use crate::provider::{base, ElevenLabsProvider};
use crate::wire::VoiceList;
use crate::PROVIDER_ID;

/// Most bytes of a voice list read (a large library is a few hundred KiB).
pub const VOICE_LIST_LIMIT: usize = 8 * 1024 * 1024;

/// The voices, each with the languages it was verified in (its `language`
/// label, else `auto`: the multilingual models speak the text's language).
pub(crate) async fn list(p: &ElevenLabsProvider) -> Result<Vec<Voice>> {
    let url = format!("{}/voices", base(p));
    let body = p.get(&url, VOICE_LIST_LIMIT).await?;
    let parsed: VoiceList = serde_json::from_slice(&body).map_err(|e| {
        errors::protocol(
            PROVIDER_ID,
            &url,
            format!("the voice list is not the expected JSON: {e}"),
        )
    })?;
    Ok(parsed.voices.into_iter().map(voice).collect())
}

fn voice(v: crate::wire::VoiceEntry) -> Voice {
    let mut languages: Vec<String> = Vec::new();
    for l in v.verified_languages.unwrap_or_default() {
        let tag = l.locale.unwrap_or(l.language);
        if !languages.contains(&tag) {
            languages.push(tag);
        }
    }
    let labels = v.labels.unwrap_or_default();
    if languages.is_empty() {
        languages.push(
            labels
                .get("language")
                .cloned()
                .unwrap_or_else(|| "auto".into()),
        );
    }
    Voice {
        name: v.name.unwrap_or_else(|| v.voice_id.clone()),
        id: v.voice_id,
        languages,
        gender: labels.get("gender").cloned(),
        provider: PROVIDER_ID.into(),
    }
}
