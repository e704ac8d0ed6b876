//! Deepgram's `/v1/speak` wire: the messages, the limits, the Aura models,
//! and how its failures (close codes, error frames) are classified.

use serde_json::Value;
use voxwire_core::{Encoding, ErrorKind, ErrorScope, Phase, TtsError};

use crate::PROVIDER_ID;

/// The most characters one `Speak` message may carry (2001 is refused with close 1009).
pub const MAX_SPEAK_CHARS: usize = 2000;
/// The most characters one REST request should carry for Aura-2 (422 over it).
pub const MAX_REST_CHARS: usize = 1000;
/// Characters Deepgram accepts on one socket per minute (over it: close 1008 `DATA-0001`).
pub const CHARS_PER_MINUTE: usize = 2400;
/// `Flush` messages Deepgram honours per minute on one socket (extra ones are ignored with a Warning).
pub const FLUSHES_PER_MINUTE: usize = 20;
/// A socket lives at most this long (60 minutes).
pub const MAX_SOCKET_SECS: u64 = 3600;

/// Sample rates `linear16` is offered at.
pub const LINEAR16_RATES: [u32; 5] = [8_000, 16_000, 24_000, 32_000, 48_000];
/// Sample rates `mulaw` and `alaw` are offered at.
pub const G711_RATES: [u32; 2] = [8_000, 16_000];

/// The Aura models (voices) Deepgram documents, each ending in its language.
pub const MODELS: &[&str] = &[
    "aura-2-thalia-en",
    "aura-2-andromeda-en",
    "aura-2-amalthea-en",
    "aura-2-apollo-en",
    "aura-2-arcas-en",
    "aura-2-aries-en",
    "aura-2-asteria-en",
    "aura-2-athena-en",
    "aura-2-atlas-en",
    "aura-2-aurora-en",
    "aura-2-callista-en",
    "aura-2-cora-en",
    "aura-2-cordelia-en",
    "aura-2-delia-en",
    "aura-2-draco-en",
    "aura-2-electra-en",
    "aura-2-harmonia-en",
    "aura-2-helena-en",
    "aura-2-hera-en",
    "aura-2-hermes-en",
    "aura-2-hyperion-en",
    "aura-2-iris-en",
    "aura-2-janus-en",
    "aura-2-juno-en",
    "aura-2-jupiter-en",
    "aura-2-luna-en",
    "aura-2-mars-en",
    "aura-2-minerva-en",
    "aura-2-neptune-en",
    "aura-2-odysseus-en",
    "aura-2-ophelia-en",
    "aura-2-orion-en",
    "aura-2-orpheus-en",
    "aura-2-pandora-en",
    "aura-2-phoebe-en",
    "aura-2-pluto-en",
    "aura-2-saturn-en",
    "aura-2-selene-en",
    "aura-2-theia-en",
    "aura-2-vesta-en",
    "aura-2-zeus-en",
    "aura-2-celeste-es",
    "aura-2-agustina-es",
    "aura-2-alvaro-es",
    "aura-2-antonia-es",
    "aura-2-aquila-es",
    "aura-2-carina-es",
    "aura-2-diana-es",
    "aura-2-estrella-es",
    "aura-2-gloria-es",
    "aura-2-javier-es",
    "aura-2-luciano-es",
    "aura-2-nestor-es",
    "aura-2-olivia-es",
    "aura-2-selena-es",
    "aura-2-silvia-es",
    "aura-2-sirio-es",
    "aura-2-valerio-es",
    "aura-2-julius-de",
    "aura-2-aurelia-de",
    "aura-2-elara-de",
    "aura-2-fabian-de",
    "aura-2-kara-de",
    "aura-2-lara-de",
    "aura-2-viktoria-de",
    "aura-2-rhea-nl",
    "aura-2-beatrix-nl",
    "aura-2-cornelia-nl",
    "aura-2-daphne-nl",
    "aura-2-hestia-nl",
    "aura-2-lars-nl",
    "aura-2-leda-nl",
    "aura-2-roman-nl",
    "aura-2-sander-nl",
    "aura-2-agathe-fr",
    "aura-2-hector-fr",
    "aura-2-livia-it",
    "aura-2-cesare-it",
    "aura-2-cinzia-it",
    "aura-2-demetra-it",
    "aura-2-dionisio-it",
    "aura-2-elio-it",
    "aura-2-flavio-it",
    "aura-2-maia-it",
    "aura-2-melia-it",
    "aura-2-izanami-ja",
    "aura-2-ama-ja",
    "aura-2-ebisu-ja",
    "aura-2-fujin-ja",
    "aura-2-uzume-ja",
    "aura-asteria-en",
    "aura-angus-en",
    "aura-arcas-en",
    "aura-athena-en",
    "aura-helios-en",
    "aura-hera-en",
    "aura-luna-en",
    "aura-orion-en",
    "aura-orpheus-en",
    "aura-perseus-en",
    "aura-stella-en",
    "aura-zeus-en",
];

/// The languages the models speak (BCP-47), in the order of [`MODELS`]' first voice of each.
pub const LANGUAGES: [&str; 7] = ["en", "es", "de", "nl", "fr", "it", "ja"];

/// The language a model id carries (`aura-2-sirio-es` → `es`), when it looks like an Aura id.
pub fn model_language(model: &str) -> Option<&str> {
    if !model.starts_with("aura-") {
        return None;
    }
    let lang = model.rsplit('-').next()?;
    (lang.len() == 2 && lang.chars().all(|c| c.is_ascii_lowercase())).then_some(lang)
}

/// Deepgram's name for an encoding.
pub fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::PcmS16le => "linear16",
        Encoding::Mulaw => "mulaw",
        Encoding::Alaw => "alaw",
    }
}

/// `{"type":"Speak","text":…}`.
pub fn speak(text: &str) -> String {
    serde_json::json!({ "type": "Speak", "text": text }).to_string()
}

/// `{"type":"Flush"}`: speak what was buffered; answered by `Flushed`.
pub const FLUSH: &str = r#"{"type":"Flush"}"#;
/// `{"type":"Clear"}`: barge-in; answered by `Cleared`.
pub const CLEAR: &str = r#"{"type":"Clear"}"#;
/// `{"type":"Close"}`: the server finishes and closes with 1000.
pub const CLOSE: &str = r#"{"type":"Close"}"#;

/// `text` cut into pieces of at most `limit` characters, at the last
/// whitespace before the limit where there is one (never inside a character).
pub fn split_text(text: &str, limit: usize) -> Vec<&str> {
    let limit = limit.max(1);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > limit {
        // Byte index of the char after `limit` chars.
        let hard = rest
            .char_indices()
            .nth(limit)
            .map_or(rest.len(), |(i, _)| i);
        let cut = rest[..hard]
            .rfind(char::is_whitespace)
            .map(|i| i + rest[i..].chars().next().map_or(1, char::len_utf8))
            .filter(|&i| i > 0)
            .unwrap_or(hard);
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// A server text message, read by its `type` (case-insensitive; never by shape alone).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `Metadata` after the handshake.
    Metadata {
        /// Deepgram's request id for the socket.
        request_id: Option<String>,
    },
    /// `Flushed`: the audio of a `Flush` is complete.
    Flushed {
        /// Counts up per flush.
        sequence_id: Option<u64>,
    },
    /// `Cleared`: a `Clear` took effect.
    Cleared {
        /// The sequence id.
        sequence_id: Option<u64>,
    },
    /// `Warning` in either shape (`description`/`code` or `warn_msg`/`warn_code`).
    Warning {
        /// The code.
        code: String,
        /// The text.
        message: String,
    },
    /// An error frame (`type` Error, or an `error_code`/`err_code` field).
    Error {
        /// The numeric (HTTP-ish) code, when given.
        status: Option<u16>,
        /// The whole frame, for the message.
        text: String,
    },
    /// A type this client does not know: logged and skipped.
    Unknown(String),
}

fn field(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match v.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Parses one server text frame; `Err` says why it is not a Deepgram message.
pub fn parse_server_message(text: &str) -> Result<ServerMessage, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let errorish = ["error_code", "err_code"]
        .iter()
        .any(|k| v.get(*k).is_some());
    let status = ["error_code", "err_code", "code"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..600).contains(c));
    let error = || ServerMessage::Error {
        status,
        text: text.to_string(),
    };
    let Some(kind) = v.get("type").and_then(Value::as_str) else {
        return if errorish {
            Ok(error())
        } else {
            Err("a JSON message with no `type`".into())
        };
    };
    let seq = || v.get("sequence_id").and_then(Value::as_u64);
    Ok(match kind.to_ascii_lowercase().as_str() {
        "metadata" => ServerMessage::Metadata {
            request_id: field(&v, &["request_id"]),
        },
        "flushed" | "flush" => ServerMessage::Flushed { sequence_id: seq() },
        "cleared" | "clear" => ServerMessage::Cleared { sequence_id: seq() },
        "warning" => ServerMessage::Warning {
            code: field(&v, &["code", "warn_code"]).unwrap_or_default(),
            message: field(&v, &["description", "warn_msg"]).unwrap_or_default(),
        },
        "error" | "fatalerror" => error(),
        _ if errorish => error(),
        _ => ServerMessage::Unknown(kind.to_string()),
    })
}

/// Refused fields and unknown models belong to the request, not to Deepgram's health.
fn request_scoped(e: TtsError) -> TtsError {
    e.with_scope(ErrorScope::Request)
}

/// An error frame as a `TtsError`: the kind from its code, else from its text.
pub fn error_frame(endpoint: &str, status: Option<u16>, text: &str) -> TtsError {
    let lower = text.to_ascii_lowercase();
    let kind = match status {
        Some(401 | 403) => ErrorKind::Auth,
        Some(429) => ErrorKind::RateLimited,
        Some(408) => ErrorKind::Timeout,
        Some(s) if (400..500).contains(&s) => ErrorKind::InvalidRequest,
        Some(_) => ErrorKind::Unavailable,
        None if lower.contains("auth") || lower.contains("credential") => ErrorKind::Auth,
        None if lower.contains("rate") || lower.contains("too many") => ErrorKind::RateLimited,
        None => ErrorKind::Unavailable,
    };
    let mut e = TtsError::new(
        kind,
        format!(
            "error frame: {}",
            voxwire_core::error::body_excerpt(text.as_bytes())
        ),
    )
    .with_provider(PROVIDER_ID)
    .with_phase(Phase::Receive)
    .with_endpoint(endpoint);
    if let Some(s) = status {
        e = e.with_status(s);
    }
    if let Some(id) = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| field(&v, &["request_id"]))
    {
        e = e.with_request_id(id);
    }
    if kind == ErrorKind::InvalidRequest {
        request_scoped(e)
    } else {
        e
    }
}

/// The server closed the socket mid-utterance with `code` and `reason`
/// (the documented codes each classified; anything else is `Unavailable`).
pub fn close_error(endpoint: &str, code: Option<u16>, reason: &str) -> TtsError {
    let r = reason.to_ascii_uppercase();
    let (kind, what, hint) = match code {
        Some(1009) => (
            ErrorKind::InvalidRequest,
            "message too large",
            "a Speak message over 2000 characters: split the text",
        ),
        Some(1008) if r.contains("DATA-0001") => (
            ErrorKind::RateLimited,
            "too many characters in the time window",
            "Deepgram takes at most 2400 characters a minute per socket: slow down",
        ),
        Some(1008) => (
            ErrorKind::InvalidRequest,
            "unrecognised command",
            "the server did not understand a message: a client bug",
        ),
        Some(1003) => (
            ErrorKind::InvalidRequest,
            "unsupported frame type",
            "Deepgram takes only JSON text frames",
        ),
        Some(1011) if r.contains("NET-0003") => (
            ErrorKind::Timeout,
            "time limit exceeded",
            "the socket reached Deepgram's time limit: reconnect",
        ),
        Some(1011) if r.contains("NET-0001") => (
            ErrorKind::Timeout,
            "nothing received within the timeout window",
            "the socket sat idle past Deepgram's timeout",
        ),
        Some(1011) => (
            ErrorKind::Unavailable,
            "server error",
            "Deepgram had trouble: retry, or fail over",
        ),
        _ => (
            ErrorKind::Unavailable,
            "closed before Flushed",
            "the connection ended mid-utterance: retry, or fail over",
        ),
    };
    let why = match code {
        Some(c) if reason.is_empty() => format!("close code {c}"),
        Some(c) => format!(
            "close code {c} {}",
            voxwire_core::error::body_excerpt(reason.as_bytes())
        ),
        None => "close without a code".to_string(),
    };
    let e = TtsError::new(kind, format!("the socket closed: {what} ({why})"))
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Receive)
        .with_endpoint(endpoint)
        .with_hint(hint);
    if kind == ErrorKind::InvalidRequest {
        request_scoped(e)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_whitespace_within_the_limit() {
        let text = "aaaa bbbb cccc";
        assert_eq!(split_text(text, 6), vec!["aaaa ", "bbbb ", "cccc"]);
        assert_eq!(split_text("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(split_text("ééééé", 2), vec!["éé", "éé", "é"]);
        assert_eq!(split_text("", 5), vec![""]);
        let long = "word ".repeat(1000);
        let parts = split_text(&long, MAX_SPEAK_CHARS);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_SPEAK_CHARS));
        assert_eq!(parts.concat(), long);
    }

    #[test]
    fn messages_are_read_by_type_in_every_shape() {
        assert_eq!(
            parse_server_message(r#"{"type":"Flushed","sequence_id":3}"#),
            Ok(ServerMessage::Flushed {
                sequence_id: Some(3)
            })
        );
        assert!(matches!(
            parse_server_message(r#"{"type":"clear","sequence_id":0}"#),
            Ok(ServerMessage::Cleared { .. })
        ));
        assert_eq!(
            parse_server_message(
                r#"{"type":"Warning","warn_code":"W1","warn_msg":"too many flushes"}"#
            ),
            Ok(ServerMessage::Warning {
                code: "W1".into(),
                message: "too many flushes".into()
            })
        );
        assert!(matches!(
            parse_server_message(r#"{"error_code":429,"error_message":"slow"}"#),
            Ok(ServerMessage::Error {
                status: Some(429),
                ..
            })
        ));
        assert!(parse_server_message(r#"{"hello":1}"#).is_err());
        assert!(parse_server_message("nope").is_err());
        assert_eq!(
            parse_server_message(r#"{"type":"Novel"}"#),
            Ok(ServerMessage::Unknown("Novel".into()))
        );
    }

    #[test]
    fn close_codes_classify() {
        let k = |c, r: &str| close_error("x", Some(c), r).kind();
        assert_eq!(k(1009, "BIG-0001"), ErrorKind::InvalidRequest);
        assert_eq!(k(1008, "DATA-0001"), ErrorKind::RateLimited);
        assert_eq!(k(1008, "DATA-0000"), ErrorKind::InvalidRequest);
        assert_eq!(k(1011, "NET-0003"), ErrorKind::Timeout);
        assert_eq!(k(1011, "NET-0000"), ErrorKind::Unavailable);
        assert_eq!(k(1000, ""), ErrorKind::Unavailable);
        assert_eq!(
            close_error("x", Some(1009), "").scope(),
            ErrorScope::Request
        );
    }

    #[test]
    fn models_carry_languages() {
        assert_eq!(model_language("aura-2-sirio-es"), Some("es"));
        assert_eq!(model_language("aura-asteria-en"), Some("en"));
        assert_eq!(model_language("custom"), None);
        for m in MODELS {
            assert!(LANGUAGES.contains(&model_language(m).unwrap()), "{m}");
        }
    }
}
