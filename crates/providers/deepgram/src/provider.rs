//! Deepgram on the generic network provider: what it offers, how a request
//! picks its Aura model, its REST call, its voices, its error rules and the
//! doctor's words, and its registration.

use std::sync::Arc;

use voxwire_core::diagnose::Check;
use voxwire_core::{language, AudioFormat, Encoding, Result, TtsError, Voice};
use voxwire_transport::doctor::{Advice, REST, UPGRADE};
use voxwire_transport::settings::{Resolved, Vendor};
use voxwire_transport::{NetworkProvider, NetworkVendor, Table, Voicing};

use crate::dialect::DeepgramDialect;
use crate::protocol::{self, G711_RATES, LINEAR16_RATES};
use crate::settings::{DeepgramSettings, VENDOR};
use crate::PROVIDER_ID;

/// The Deepgram provider: the generic network provider in Deepgram's terms.
/// [`shutdown`](NetworkProvider::shutdown) closes every pooled socket with
/// `{"type":"Close"}` first, so Deepgram frees the sessions at once.
pub type DeepgramProvider = NetworkProvider<Deepgram>;

/// Deepgram, as the generic network provider sees it.
#[derive(Debug, Clone)]
pub struct Deepgram;

impl NetworkVendor for Deepgram {
    const VENDOR: Vendor = VENDOR;
    const TABLE: Table = Table {
        socket: true,
        formats: &[
            (Encoding::PcmS16le, &LINEAR16_RATES),
            (Encoding::Mulaw, &G711_RATES),
            (Encoding::Alaw, &G711_RATES),
        ],
        fallback: AudioFormat::mono(Encoding::PcmS16le, 24_000),
        languages: &protocol::LANGUAGES,
        max_text_chars: protocol::CHARS_PER_MINUTE,
        max_rest_chars: protocol::MAX_REST_CHARS,
        speed_range: None,
        timestamps: false,
        streaming_input: true,
    };
    const ADVICE: Advice = Advice {
        websocket: "the WebSocket",
        websocket_refusal: "the key's permissions",
        rest_name: "/v1/speak",
        websocket_name: "speak WebSocket",
        first: out_of_credits,
        ..Advice::of(&VENDOR)
    };
    const NAME: &'static str = "DeepgramProvider";
    const AUTH_SCHEME: &'static str = "Token";
    type Settings = DeepgramSettings;
    type Dialect = DeepgramDialect;
    type State = ();

    fn dialect(settings: DeepgramSettings, resolved: Arc<Resolved>) -> DeepgramDialect {
        DeepgramDialect { settings, resolved }
    }

    fn native(s: &DeepgramSettings) -> AudioFormat {
        AudioFormat::mono(s.encoding, s.sample_rate)
    }

    fn check(s: &DeepgramSettings) -> Result<()> {
        if s.max_speak_chars == 0 || s.max_speak_chars > protocol::MAX_SPEAK_CHARS {
            return Err(TtsError::config(format!(
                "max_speak_chars must be 1 to {}",
                protocol::MAX_SPEAK_CHARS
            )));
        }
        Ok(())
    }

    /// The model: the voice asked for, else a voice of the language asked
    /// for (the default model when it speaks it), else the default.
    fn choose(p: &DeepgramProvider, v: &mut Voicing) -> Result<()> {
        v.voice = Some(model(
            &p.settings().model,
            v.voice.as_deref(),
            v.language.take(),
        )?);
        Ok(())
    }

    fn rest(p: &DeepgramProvider, v: &Voicing, text: &str) -> Result<reqwest::RequestBuilder> {
        let mut query = p.core().ws.dialect().query(v);
        query.push(("container", "none".to_string()));
        let url = DeepgramDialect::url(p.rest_url(), &query)?;
        let body = serde_json::json!({ "text": text });
        Ok(p.core().ws.http().post(url).json(&body))
    }

    async fn voices(_: &DeepgramProvider) -> Result<Vec<Voice>> {
        Ok(protocol::MODELS
            .iter()
            .map(|m| Voice {
                id: m.to_string(),
                name: display_name(m),
                languages: vec![protocol::model_language(m).unwrap_or("en").to_string()],
                gender: None,
                provider: PROVIDER_ID.into(),
            })
            .collect())
    }

    fn hint(status: u16, _websocket: bool) -> Option<String> {
        crate::dialect::hint(status)
    }

    fn scoped(e: TtsError) -> TtsError {
        crate::dialect::scoped(e)
    }
}

/// The model for a voice and a language asked for, `default` the entry's.
fn model(default: &str, voice: Option<&str>, lang: Option<String>) -> Result<String> {
    let wanted = lang.as_deref().filter(|l| !language::is_auto(l));
    if let Some(l) = wanted {
        language::normalize(l).map_err(|e| e.with_provider(PROVIDER_ID))?;
    }
    match (voice.filter(|v| !v.trim().is_empty()), wanted) {
        (Some(v), Some(l)) => match protocol::model_language(v) {
            Some(has) if language::lookup(l, &[has]).is_none() => Err(TtsError::new(
                voxwire_core::ErrorKind::Unsupported,
                format!("voice `{v}` speaks `{has}`, not `{l}`"),
            )
            .with_scope(voxwire_core::ErrorScope::Request)
            .with_provider(PROVIDER_ID)
            .with_hint("pick an Aura voice of that language, or leave the voice out")),
            _ => Ok(v.to_string()),
        },
        (Some(v), None) => Ok(v.to_string()),
        (None, Some(l)) => {
            if protocol::model_language(default)
                .is_some_and(|d| language::lookup(l, &[d]).is_some())
            {
                return Ok(default.to_string());
            }
            let langs: Vec<&str> = protocol::MODELS
                .iter()
                .map(|m| protocol::model_language(m).unwrap_or(""))
                .collect();
            language::lookup(l, &langs)
                .map(|i| protocol::MODELS[i].to_string())
                .ok_or_else(|| language::unsupported(l, PROVIDER_ID).with_provider(PROVIDER_ID))
        }
        (None, None) => Ok(default.to_string()),
    }
}

/// A 402 at REST or at the upgrade: the project is out of credits, whatever else failed.
fn out_of_credits(checks: &[Check]) -> Option<String> {
    checks
        .iter()
        .filter(|c| c.name == REST || c.name == UPGRADE)
        .filter_map(Check::error)
        .any(|e| e.status() == Some(402))
        .then(|| "the Deepgram project is out of credits: top up billing".to_string())
}

/// `aura-2-thalia-en` → `Thalia`, `aura-asteria-en` → `Asteria (Aura 1)`.
fn display_name(model: &str) -> String {
    let (rest, suffix) = match model.strip_prefix("aura-2-") {
        Some(r) => (r, ""),
        None => (model.strip_prefix("aura-").unwrap_or(model), " (Aura 1)"),
    };
    let name = rest.rsplit_once('-').map_or(rest, |(n, _)| n);
    let mut chars = name.chars();
    let cap: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{cap}{suffix}")
}

// Deepgram joins the default chain, after xAI and ahead of the offline voices, when a key is set.
voxwire_transport::register_network_provider! {
    vendor: Deepgram,
    describe: "Deepgram Aura text-to-speech (speak WebSocket and streamed REST); needs DEEPGRAM_API_KEY",
    priority: 110,
}
