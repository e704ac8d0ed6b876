//! `GET {base}/voices`: the account's voices with their languages, page by page.

use voxwire_core::{Result, Voice};
use voxwire_transport::{errors, http};

use crate::provider::CartesiaProvider;
use crate::wire::{VoiceEntry, VoicePage};
use crate::PROVIDER_ID;

/// Most bytes of one page read (100 voices are a few tens of KiB).
pub const VOICE_PAGE_LIMIT: usize = 4 * 1024 * 1024;
/// Voices asked per page (the API's most).
pub const PAGE_SIZE: usize = 100;
/// Most pages read (a library larger than this is cut off).
pub const MAX_PAGES: usize = 50;

/// Every page of voices, each voice with its locales (else its language).
pub(crate) async fn list(p: &CartesiaProvider) -> Result<Vec<Voice>> {
    let base = crate::provider::base(p);
    let mut voices = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!("{base}/voices?limit={PAGE_SIZE}");
        if let Some(id) = &after {
            url.push_str("&starting_after=");
            url.push_str(id);
        }
        let page = page(p, &url).await?;
        let more = page.has_more.unwrap_or(!page.data.is_empty());
        after = page.data.last().map(|v| v.id.clone());
        voices.extend(page.data.into_iter().map(voice));
        if !more || after.is_none() {
            break;
        }
    }
    Ok(voices)
}

/// One page: an authorized GET with the version header.
async fn page(p: &CartesiaProvider, url: &str) -> Result<VoicePage> {
    let r = &p.core().resolved;
    let endpoint = url.split('?').next().unwrap_or(url);
    let request = crate::provider::versioned(p, p.core().ws.http().get(url))?;
    let call = http::StreamedPost {
        endpoint,
        ..r.streamed_post(PROVIDER_ID, 1)
    };
    let (response, _) = http::send_streamed(request, &call, crate::errors::classify).await?;
    let body = http::read_excerpt(
        response,
        VOICE_PAGE_LIMIT,
        r.connect_timeout + r.first_audio_timeout,
    )
    .await;
    serde_json::from_slice(&body).map_err(|e| {
        errors::protocol(
            PROVIDER_ID,
            endpoint,
            format!("the voice list is not the expected JSON: {e}"),
        )
    })
}

fn voice(v: VoiceEntry) -> Voice {
    let mut languages: Vec<String> = Vec::new();
    for l in v.locales.unwrap_or_default() {
        if !languages.contains(&l.locale) {
            languages.push(l.locale);
        }
    }
    if languages.is_empty() {
        languages.push(v.language.unwrap_or_else(|| "auto".into()));
    }
    Voice {
        name: v.name.unwrap_or_else(|| v.id.clone()),
        id: v.id,
        languages,
        gender: v.gender,
        provider: PROVIDER_ID.into(),
    }
}
