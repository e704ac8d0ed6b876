//! Reading and checking the options object given to `new Speaker({...})`.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// The checked options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    pub url: String,
    pub token: Option<String>,
    pub voice: Option<String>,
    pub language: Option<String>,
    pub sample_rate: u32,
}

fn string(options: &JsValue, key: &str) -> Option<String> {
    Reflect::get(options, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
        .filter(|s| !s.is_empty())
}

impl Options {
    /// Validates at the edge: a ws:// or wss:// URL, a supported sample rate.
    pub fn from_js(options: &JsValue) -> Result<Self, String> {
        let url = string(options, "url").ok_or("options.url is required (ws://… or wss://…)")?;
        Self::check(
            url,
            string(options, "token"),
            string(options, "voice"),
            string(options, "language"),
            Reflect::get(options, &JsValue::from_str("sampleRate"))
                .ok()
                .and_then(|v| v.as_f64()),
        )
    }

    pub fn check(
        url: String,
        token: Option<String>,
        voice: Option<String>,
        language: Option<String>,
        sample_rate: Option<f64>,
    ) -> Result<Self, String> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(format!(
                "options.url must start with ws:// or wss://, not `{url}`"
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
            url,
            token,
            voice,
            language,
            sample_rate: rate as u32,
        })
    }

    /// The WebSocket URL with the xAI query parameters (never the token).
    pub fn ws_url(&self) -> String {
        let mut query = format!(
            "codec=pcm&sample_rate={}&voxwire_events=true",
            self.sample_rate
        );
        if let Some(v) = &self.voice {
            query.push_str(&format!("&voice={}", encode(v)));
        }
        if let Some(l) = &self.language {
            query.push_str(&format!("&language={}", encode(l)));
        }
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{query}", self.url)
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_rates_and_tokens_are_checked() {
        let ok = Options::check(
            "ws://h/v1/tts".into(),
            None,
            Some("eve".into()),
            Some("pt-BR".into()),
            None,
        )
        .unwrap();
        assert_eq!(ok.sample_rate, 24_000);
        assert_eq!(
            ok.ws_url(),
            "ws://h/v1/tts?codec=pcm&sample_rate=24000&voxwire_events=true&voice=eve&language=pt-BR"
        );
        assert!(Options::check("http://h".into(), None, None, None, None).is_err());
        assert!(Options::check("ws://h".into(), None, None, None, Some(11_025.0)).is_err());
        assert!(Options::check("ws://h".into(), Some("a b".into()), None, None, None).is_err());
    }
}
