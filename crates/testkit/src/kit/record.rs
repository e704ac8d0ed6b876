//! What the mock saw: every request, with credentials masked.

use std::sync::{Mutex, MutexGuard};

use axum::http::HeaderMap;

/// The most WebSocket client messages recorded per connection (later ones are counted only).
pub const MAX_RECORDED_MESSAGES: usize = 100_000;

/// What replaces a credential in recordings.
pub const MASK: &str = "***";

/// Which endpoint a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `POST /v1/tts`.
    Rest,
    /// `GET /v1/tts` (a WebSocket upgrade, accepted or not).
    WebSocket,
    /// `GET /v1/tts/voices` or `GET /v1/tts/voices/{id}`.
    Voices,
    /// Anything else (answered 403 or 404).
    Other,
}

/// One request as the mock received it. The bearer key never appears: the
/// `Authorization` header reads `Bearer ***` and any occurrence of the
/// configured or presented key elsewhere is replaced by `***`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Which endpoint.
    pub kind: RequestKind,
    /// The fault-plan index this TTS request took (`None` when rejected before: auth, voices).
    pub index: Option<usize>,
    /// The HTTP method.
    pub method: String,
    /// The path, e.g. `/v1/tts`.
    pub path: String,
    /// The raw query string, if any (masked).
    pub query: Option<String>,
    /// Every header, names lower-case, values masked.
    pub headers: Vec<(String, String)>,
    /// The request body as text (REST), masked.
    pub body: Option<String>,
    /// The HTTP status answered (101 for an accepted upgrade).
    pub status: u16,
    /// Every WebSocket message the client sent, in order (binary ones as `<binary N bytes>`).
    pub messages: Vec<String>,
    /// WebSocket messages received beyond [`MAX_RECORDED_MESSAGES`].
    pub messages_dropped: usize,
    /// The text of each utterance, exactly as received: the REST `text`, or the
    /// WebSocket deltas concatenated at each `text.done` (masked).
    pub utterances: Vec<String>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query);
        pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json_body(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.body.as_deref()?).ok()
    }

    /// The WebSocket messages parsed as JSON (those that are).
    pub fn json_messages(&self) -> Vec<serde_json::Value> {
        self.messages
            .iter()
            .filter_map(|m| serde_json::from_str(m).ok())
            .collect()
    }

    /// Whether `needle` occurs anywhere in this recording (to prove a key is absent).
    pub fn contains(&self, needle: &str) -> bool {
        if needle.is_empty() {
            return false;
        }
        let in_opt = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(needle));
        self.path.contains(needle)
            || in_opt(&self.query)
            || in_opt(&self.body)
            || self
                .headers
                .iter()
                .any(|(k, v)| k.contains(needle) || v.contains(needle))
            || self.messages.iter().any(|m| m.contains(needle))
            || self.utterances.iter().any(|u| u.contains(needle))
    }
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    let uri = format!("/?{query}");
    uri.parse::<axum::http::Uri>()
        .ok()
        .and_then(|u| {
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&u)
                .ok()
                .map(|q| q.0)
        })
        .unwrap_or_default()
}

/// Replaces credentials in text.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    /// Masks the configured key and, when long enough to be a key, the presented token.
    pub fn new(configured: &str, presented: Option<&str>) -> Self {
        let mut secrets = Vec::new();
        if !configured.is_empty() {
            secrets.push(configured.to_string());
        }
        if let Some(p) = presented {
            if p.len() >= 6 && p != configured {
                secrets.push(p.to_string());
            }
        }
        Self { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// The headers with credentials masked.
    pub fn headers(&self, headers: &HeaderMap) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let name = name.as_str().to_ascii_lowercase();
                let raw = String::from_utf8_lossy(value.as_bytes()).into_owned();
                let value = match name.as_str() {
                    "authorization" | "proxy-authorization" => mask_authorization(&raw),
                    "sec-websocket-protocol" => raw
                        .split(',')
                        .map(|p| mask_subprotocol(p.trim()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => self.mask(&raw),
                };
                (name, value)
            })
            .collect()
    }
}

fn mask_authorization(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _)) => format!("{scheme} {MASK}"),
        None => MASK.to_string(),
    }
}

fn mask_subprotocol(p: &str) -> String {
    match p.split_once('.') {
        Some((prefix, _)) if prefix.contains("secret") || prefix.contains("token") => {
            format!("{prefix}.{MASK}")
        }
        _ => p.to_string(),
    }
}

/// All recordings, shared by the handlers.
#[derive(Debug, Default)]
pub struct Recorder {
    entries: Mutex<(u64, Vec<(u64, RecordedRequest)>)>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, (u64, Vec<(u64, RecordedRequest)>)> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a request; returns its id for later updates.
    pub fn push(&self, request: RecordedRequest) -> u64 {
        let mut guard = self.lock();
        let id = guard.0;
        guard.0 += 1;
        guard.1.push((id, request));
        id
    }

    /// Changes a stored request (no-op when the recordings were cleared since).
    pub fn update(&self, id: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let mut guard = self.lock();
        if let Some((_, r)) = guard.1.iter_mut().rev().find(|(i, _)| *i == id) {
            f(r);
        }
    }

    /// A copy of every recording, oldest first.
    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().1.iter().map(|(_, r)| r.clone()).collect()
    }

    /// Forgets every recording; open connections stop recording.
    pub fn clear(&self) {
        self.lock().1.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn masks_keys_everywhere() {
        let m = Masker::new("sekrit-key", Some("wrong-key-123"));
        assert_eq!(m.mask("a sekrit-key b wrong-key-123"), "a *** b ***");
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sekrit-key"),
        );
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("xai-client-secret.abcdef, other"),
        );
        h.insert("x-note", HeaderValue::from_static("key=sekrit-key"));
        let got = m.headers(&h);
        assert!(got.contains(&("authorization".into(), "Bearer ***".into())));
        assert!(got.contains(&(
            "sec-websocket-protocol".into(),
            "xai-client-secret.***, other".into()
        )));
        assert!(got.contains(&("x-note".into(), "key=***".into())));
    }

    #[test]
    fn query_params_decode() {
        let r = RecordedRequest {
            kind: RequestKind::WebSocket,
            index: None,
            method: "GET".into(),
            path: "/v1/tts".into(),
            query: Some("voice=eve&language=pt-BR&x=a%20b".into()),
            headers: vec![],
            body: None,
            status: 101,
            messages: vec![],
            messages_dropped: 0,
            utterances: vec![],
        };
        assert_eq!(r.query_param("x").as_deref(), Some("a b"));
        assert_eq!(r.query_param("language").as_deref(), Some("pt-BR"));
        assert_eq!(r.query_param("nope"), None);
    }
}
