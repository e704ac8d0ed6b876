//! Reading and checking the options object given to `new Speaker({...})`.

use js_sys::Reflect;
use voxwire_xai::protocol::percent_encode;
use wasm_bindgen::JsValue;

/// The checked options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    /// Endpoints in failover order (`url`, or `urls: [...]`).
    pub urls: Vec<String>,
    pub token: Option<String>,
    pub voice: Option<String>,
    pub language: Option<String>,
    pub sample_rate: u32,
    /// Longest wait for an utterance's first audio after `flush`, in ms.
    pub first_audio_timeout_ms: u32,
}

/// The default wait for an utterance's first audio.
const FIRST_AUDIO_TIMEOUT_MS: f64 = 15_000.0;

fn string(options: &JsValue, key: &str) -> Option<String> {
    Reflect::get(options, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
        .filter(|s| !s.is_empty())
}

impl Options {
    /// Validates at the edge: a ws:// or wss:// URL, a supported sample rate.
    pub fn from_js(options: &JsValue) -> Result<Self, String> {
        let list = Reflect::get(options, &JsValue::from_str("urls")).unwrap_or(JsValue::UNDEFINED);
        let urls: Vec<String> = if js_sys::Array::is_array(&list) {
            js_sys::Array::from(&list)
                .iter()
                .map(|v| v.as_string().ok_or("options.urls must hold strings"))
                .collect::<Result<_, _>>()?
        } else {
            string(options, "url").into_iter().collect()
        };
        if urls.is_empty() {
            return Err("options.url (or options.urls) is required: ws://… or wss://…".into());
        }
        let timeout = Reflect::get(options, &JsValue::from_str("firstAudioTimeoutMs"))
            .ok()
            .and_then(|v| v.as_f64());
        let mut checked = Self::check(
            urls,
            string(options, "token"),
            string(options, "voice"),
            string(options, "language"),
            Reflect::get(options, &JsValue::from_str("sampleRate"))
                .ok()
                .and_then(|v| v.as_f64()),
        )?;
        if let Some(ms) = timeout {
            if !(1.0..=300_000.0).contains(&ms) {
                return Err(format!(
                    "options.firstAudioTimeoutMs {ms} is out of range: 1 to 300000"
                ));
            }
            checked.first_audio_timeout_ms = ms as u32;
        }
        Ok(checked)
    }

    pub fn check(
        urls: Vec<String>,
        token: Option<String>,
        voice: Option<String>,
        language: Option<String>,
        sample_rate: Option<f64>,
    ) -> Result<Self, String> {
        if let Some(bad) = urls
            .iter()
            .find(|u| !(u.starts_with("ws://") || u.starts_with("wss://")))
        {
            return Err(format!(
                "options.url must start with ws:// or wss://, not `{bad}`"
            ));
        }
        let rate = sample_rate.unwrap_or(24_000.0);
        if !voxwire_xai::protocol::SAMPLE_RATES.contains(&(rate as u32)) || rate.fract() != 0.0 {
            return Err(format!(
                "options.sampleRate {rate} is not one of {:?}",
                voxwire_xai::protocol::SAMPLE_RATES
            ));
        }
        if let Some(token) = &token {
            if !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(
                    "options.token has characters a WebSocket subprotocol cannot carry".into(),
                );
            }
        }
        Ok(Self {
            urls,
            token,
            voice,
            language,
            sample_rate: rate as u32,
            first_audio_timeout_ms: FIRST_AUDIO_TIMEOUT_MS as u32,
        })
    }
}

/// The WebSocket URL of an endpoint with the xAI query parameters (never the token).
pub(crate) fn ws_url(
    base: &str,
    sample_rate: u32,
    voice: Option<&str>,
    language: Option<&str>,
) -> String {
    // Timestamps (per character, from xAI or a relay) place each chunk in the
    // text, for highlighting; `voxwire_events` asks a relay who speaks.
    let mut query =
        format!("codec=pcm&sample_rate={sample_rate}&with_timestamps=true&voxwire_events=true");
    if let Some(v) = voice {
        query.push_str(&format!("&voice={}", percent_encode(v)));
    }
    if let Some(l) = language {
        query.push_str(&format!("&language={}", percent_encode(l)));
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_rates_and_tokens_are_checked() {
        let ok = Options::check(
            vec!["ws://h/v1/tts".into()],
            None,
            Some("eve".into()),
            Some("pt-BR".into()),
            None,
        )
        .unwrap();
        assert_eq!(ok.sample_rate, 24_000);
        assert_eq!(
            ws_url(&ok.urls[0], ok.sample_rate, ok.voice.as_deref(), ok.language.as_deref()),
            "ws://h/v1/tts?codec=pcm&sample_rate=24000&with_timestamps=true&voxwire_events=true&voice=eve&language=pt-BR"
        );
        assert_eq!(
            ws_url("ws://h/t?k=1", 8_000, Some("a b"), None),
            "ws://h/t?k=1&codec=pcm&sample_rate=8000&with_timestamps=true&voxwire_events=true&voice=a%20b"
        );
        assert!(Options::check(vec!["http://h".into()], None, None, None, None).is_err());
        assert!(Options::check(
            vec!["ws://a".into(), "ftp://b".into()],
            None,
            None,
            None,
            None
        )
        .is_err());
        assert!(Options::check(vec!["ws://h".into()], None, None, None, Some(11_025.0)).is_err());
        assert!(
            Options::check(vec!["ws://h".into()], Some("a b".into()), None, None, None).is_err()
        );
    }
}
