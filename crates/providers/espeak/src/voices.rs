//! Voice lists of both engines.

use voxwire_core::Voice;

use crate::PROVIDER_ID;

/// Parses the table `espeak-ng --voices` prints:
/// `Pty Language Age/Gender VoiceName File Other Languages`.
pub(crate) fn parse_voice_table(table: &str) -> Vec<Voice> {
    table
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
            Some(make_voice(id, cols[3].replace('_', " "), gender))
        })
        .collect()
}

/// A voice entry in voxwire's terms; eSpeak voices are languages, so the id is one.
pub(crate) fn make_voice(id: String, name: String, gender: Option<String>) -> Voice {
    Voice {
        languages: vec![id.clone()],
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
        assert_eq!(voices[1].id, "en-us");
        assert_eq!(voices[1].name, "English (America)");
        assert_eq!(voices[1].gender.as_deref(), Some("male"));
    }
}
