//! Language tags: the one BCP-47 matcher every provider uses.
//!
//! Callers send any BCP-47 tag (`en`, `EN`, `en-US`, `en_us`, `pt-BR`,
//! `zh-Hans`) or `auto`. [`lookup`] finds the provider tag that serves it,
//! RFC 4647 §3.4 *lookup* over the provider's tags (in the provider's order
//! of preference): the range is shortened one subtag at a time, and at each
//! length an exact tag wins, then the first tag the range is a prefix of
//! (so `en` finds `en-us` when a provider lists no bare `en`). A tag whose
//! primary language is a macrolanguage also tries its default individual
//! language (`zh` → `cmn`), and the other way round.
//!
//! Tags are parsed with ICU4X (`icu_locale_core`); `_` is read as `-`, case is ignored.

use icu_locale_core::LanguageIdentifier;

use crate::error::{ErrorKind, ErrorScope, Result, TtsError};

/// The tag that means "the provider's default language, or its detection".
pub const AUTO: &str = "auto";

/// Macrolanguages and the individual language a provider most likely means by them.
const MACROLANGUAGES: &[(&str, &str)] = &[
    ("zh", "cmn"),
    ("ar", "arb"),
    ("ms", "zsm"),
    ("fa", "pes"),
    ("sw", "swh"),
    ("no", "nb"),
];

/// Whether `tag` asks for the provider's default or detection (`auto`, or empty).
pub fn is_auto(tag: &str) -> bool {
    let tag = tag.trim();
    tag.is_empty() || tag.eq_ignore_ascii_case(AUTO)
}

/// A caller's tag, checked and in matching form: lower case, `-` separated.
///
/// The part from the first singleton on (`-x-…`, `-u-…`) is kept but not
/// parsed; the rest must be a well-formed BCP-47 language identifier.
/// `auto` is returned as is.
pub fn normalize(tag: &str) -> Result<String> {
    let tag = tag.trim();
    if is_auto(tag) {
        return Ok(AUTO.to_string());
    }
    let lowered = tag.replace('_', "-").to_ascii_lowercase();
    let subtags: Vec<&str> = lowered.split('-').collect();
    let head_len = subtags
        .iter()
        .skip(1)
        .position(|s| s.len() == 1)
        .map_or(subtags.len(), |p| p + 1);
    let head = subtags[..head_len].join("-");
    LanguageIdentifier::try_from_str(&head).map_err(|e| {
        TtsError::new(
            ErrorKind::InvalidInput,
            format!("`{tag}` is not a BCP-47 language tag ({e})"),
        )
        .with_scope(ErrorScope::Request)
        .with_hint("send a tag such as `en`, `en-US`, `pt-BR` or `auto`")
    })?;
    Ok(lowered)
}

/// The index of the tag in `available` that serves `requested`, if any.
///
/// `available` is in the provider's order of preference; a tag that cannot be
/// parsed never matches. `auto` matches nothing here (the provider uses its
/// default): check [`is_auto`] first.
pub fn lookup<S: AsRef<str>>(requested: &str, available: &[S]) -> Option<usize> {
    let range = normalize(requested).ok()?;
    if range == AUTO {
        return None;
    }
    let tags: Vec<String> = available
        .iter()
        .map(|t| t.as_ref().trim().replace('_', "-").to_ascii_lowercase())
        .collect();
    let mut ranges = vec![range.clone()];
    let (primary, rest) = range
        .split_once('-')
        .map_or((range.as_str(), ""), |(p, r)| (p, r));
    for &(macro_lang, individual) in MACROLANGUAGES {
        let other = if primary == macro_lang {
            individual
        } else if primary == individual {
            macro_lang
        } else {
            continue;
        };
        ranges.push(if rest.is_empty() {
            other.to_string()
        } else {
            format!("{other}-{rest}")
        });
    }
    for range in ranges {
        if let Some(found) = lookup_one(&range, &tags) {
            return Some(found);
        }
    }
    None
}

/// RFC 4647 lookup of one range, with the prefix step at each length.
fn lookup_one(range: &str, tags: &[String]) -> Option<usize> {
    let mut range = range.to_string();
    loop {
        if let Some(i) = tags.iter().position(|t| *t == range) {
            return Some(i);
        }
        let prefix = format!("{range}-");
        if let Some(i) = tags.iter().position(|t| t.starts_with(&prefix)) {
            return Some(i);
        }
        let cut = range.rfind('-')?;
        range.truncate(cut);
        // A singleton left at the end is dropped with what it introduced.
        if let Some(cut) = range.rfind('-') {
            if range.len() - cut == 2 {
                range.truncate(cut);
            }
        }
    }
}

/// Whether a provider speaking `available` can serve `requested`: no tag,
/// `auto`, or a provider that lists no languages (it says nothing) always can.
pub fn serves<S: AsRef<str>>(requested: Option<&str>, available: &[S]) -> bool {
    match requested {
        None => true,
        Some(tag) if is_auto(tag) => true,
        Some(_) if available.is_empty() => true,
        Some(tag) => lookup(tag, available).is_some(),
    }
}

/// The error a provider returns for a language it does not speak (request-scoped).
pub fn unsupported(requested: &str, provider: &str) -> TtsError {
    TtsError::new(
        ErrorKind::Unsupported,
        format!("{provider} speaks no language matching `{requested}`"),
    )
    .with_scope(ErrorScope::Request)
    .with_provider(provider.to_string())
    .with_hint(format!(
        "`voxwire voices --provider {provider}` lists the tags it serves"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESPEAK: &[&str] = &[
        "en-us",
        "en",
        "en-gb",
        "en-gb-x-rp",
        "fr-fr",
        "fr",
        "fr-be",
        "pt",
        "pt-br",
        "cmn",
        "zh",
        "yue",
    ];

    fn found(tag: &str, tags: &[&str]) -> Option<&'static str> {
        lookup(tag, tags).map(|i| ESPEAK.get(i).copied().unwrap_or("?"))
    }

    #[test]
    fn every_spelling_of_american_english_finds_it() {
        let tags = ["en-gb", "en-us"];
        for tag in ["en-us", "EN-us", "en-US", "en_us", "EN_US"] {
            assert_eq!(lookup(tag, &tags), Some(1), "{tag}");
        }
    }

    #[test]
    fn a_bare_language_finds_the_first_voice_of_it() {
        assert_eq!(lookup("en", &["fr-fr", "en-us", "en-gb"]), Some(1));
        assert_eq!(lookup("EN", &["fr-fr", "en-us", "en-gb"]), Some(1));
    }

    #[test]
    fn regions_and_scripts_fall_back_to_the_nearest() {
        assert_eq!(found("pt-BR", ESPEAK), Some("pt-br"));
        assert_eq!(found("pt-PT", ESPEAK), Some("pt"));
        assert_eq!(found("fr-CA", ESPEAK), Some("fr"));
        assert_eq!(found("zh-Hans", ESPEAK), Some("zh"));
        assert_eq!(found("zh-Hans-CN", ESPEAK), Some("zh"));
        assert_eq!(
            lookup("zh-Hans", &["yue-x", "cmn", "cmn-latn-pinyin"]),
            Some(1)
        );
        assert_eq!(lookup("fr-CA", &["fr-fr", "fr-be"]), Some(0));
        assert_eq!(found("en-GB-x-rp", ESPEAK), Some("en-gb-x-rp"));
        assert_eq!(found("en-AU", ESPEAK), Some("en"));
        assert_eq!(lookup("en-AU", &["de", "en-us"]), Some(1));
    }

    #[test]
    fn macrolanguages_find_their_individual_language() {
        assert_eq!(lookup("zh-CN", &["cmn", "yue"]), Some(0));
        assert_eq!(lookup("cmn", &["zh"]), Some(0));
    }

    #[test]
    fn what_is_not_spoken_or_not_a_tag_matches_nothing() {
        assert_eq!(lookup("de", ESPEAK), None);
        assert_eq!(lookup("e", ESPEAK), None);
        assert_eq!(lookup("english!", ESPEAK), None);
        assert!(normalize("not a tag").is_err());
        assert_eq!(normalize("en_US").unwrap(), "en-us");
        assert_eq!(normalize(" Auto ").unwrap(), "auto");
    }

    #[test]
    fn auto_and_silent_providers_serve_everything() {
        assert!(serves(None, ESPEAK));
        assert!(serves(Some("auto"), ESPEAK));
        assert!(serves(Some("de"), &[] as &[&str]));
        assert!(!serves(Some("de"), ESPEAK));
        assert!(serves(Some("en_US"), ESPEAK));
    }
}
