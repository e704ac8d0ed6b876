//! Voice lists of both engines.

use voxwire_core::Voice;

use crate::PROVIDER_ID;

/// Parses the table `espeak-ng --voices` prints:
/// `Pty Language Age/Gender VoiceName File Other Languages`.
pub(crate) fn parse_voice_table(table: &str) -> Vec<Voice> {
    let mut ranked: Vec<(u8, Voice)> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 5 {
                return None;
            }
            let id = cols[1].to_ascii_lowercase();
            let gender = match cols[2].rsplit('/').next() {
                Some("M") => Some("male".to_string()),
                Some("F") => Some("female".to_string()),
                _ => None,
            };
            // `Other Languages`: `(en 3)(zh 5)`: tag and priority.
            // (Names hold parentheses too, but never a space inside them.)
            let others: Vec<(String, u8)> = line
                .split('(')
                .skip(1)
                .filter_map(|g| {
                    let mut parts = g.trim_end().trim_end_matches(')').split_whitespace();
                    let tag = parts.next()?;
                    let priority = parts.next()?.parse().ok()?;
                    Some((tag.to_ascii_lowercase(), priority))
                })
                .collect();
            Some(ranked_voice(id, cols[3].replace('_', " "), gender, others))
        })
        .collect();
    by_preference(&mut ranked)
}

/// A voice and its best eSpeak priority among the other languages it serves.
pub(crate) fn ranked_voice(
    id: String,
    name: String,
    gender: Option<String>,
    others: Vec<(String, u8)>,
) -> (u8, Voice) {
    let best = others.iter().map(|(_, p)| *p).min().unwrap_or(u8::MAX);
    let tags = others.into_iter().map(|(t, _)| t).collect();
    (best, make_voice(id, name, gender, tags))
}

/// Voices in eSpeak's order of preference (its priorities, then by id), so
/// that the language matcher, taking the first voice of a language, takes
/// the one eSpeak prefers (`fr` → `fr-fr`, `zh` → `cmn`).
pub(crate) fn by_preference(ranked: &mut [(u8, Voice)]) -> Vec<Voice> {
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    ranked.iter().map(|(_, v)| v.clone()).collect()
}

/// A voice entry in voxwire's terms; eSpeak voices are languages, so the id is one.
pub(crate) fn make_voice(
    id: String,
    name: String,
    gender: Option<String>,
    others: Vec<String>,
) -> Voice {
    let mut languages = vec![id.clone()];
    for tag in others {
        if !languages.contains(&tag) {
            languages.push(tag);
        }
    }
    Voice {
        languages,
        id,
        name,
        gender,
        provider: PROVIDER_ID.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_program_table() {
        let table = "Pty Language       Age/Gender VoiceName          File                 Other Languages\n 5  af              --/M      Afrikaans          gmw/af\n 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)\n";
        let voices = parse_voice_table(table);
        assert_eq!(voices.len(), 2);
        // eSpeak's preferred voices first: en-us serves `en` at priority 3.
        assert_eq!(voices[0].id, "en-us");
        assert_eq!(voices[0].name, "English (America)");
        assert_eq!(voices[0].gender.as_deref(), Some("male"));
        assert_eq!(voices[0].languages, vec!["en-us", "en"]);
        assert_eq!(voices[1].id, "af");
    }
}
