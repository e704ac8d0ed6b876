//! Matching a request's language against the voice's tags.
//!
//! A stand-in until core's BCP-47 matcher lands (the lead swaps it in): tags
//! compare case-insensitively with `_` read as `-`; a range finds a tag it is
//! a prefix of (`en` finds `en-us`) and a tag that is a prefix of it
//! (`en-us-x-nyc` finds `en-us`), at subtag boundaries only.

/// Whether `wanted` (a BCP-47 tag from a request) is spoken by a voice with `tags`.
pub(crate) fn matches(wanted: &str, tags: &[String]) -> bool {
    let wanted = normalize(wanted);
    tags.iter().map(|t| normalize(t)).any(|tag| {
        tag == wanted || is_subtag_prefix(&wanted, &tag) || is_subtag_prefix(&tag, &wanted)
    })
}

fn normalize(tag: &str) -> String {
    tag.trim().replace('_', "-").to_ascii_lowercase()
}

/// `prefix` is `tag` cut at a `-`.
fn is_subtag_prefix(prefix: &str, tag: &str) -> bool {
    !prefix.is_empty()
        && tag.len() > prefix.len()
        && tag.starts_with(prefix)
        && tag.as_bytes()[prefix.len()] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_find_tags_at_subtag_boundaries() {
        let tags = vec!["en-us".to_string()];
        for yes in ["en", "EN-us", "en_US", "en-US-x-nyc"] {
            assert!(matches(yes, &tags), "{yes}");
        }
        for no in ["en-GB", "e", "eng", "de", ""] {
            assert!(!matches(no, &tags), "{no}");
        }
    }
}
