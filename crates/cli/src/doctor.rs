//! `voxwire doctor`: checks each provider of the chain and says what to fix.

use std::io::{self, Write};
use std::time::Duration;

use voxwire_core::diagnose::{Check, Report};
use voxwire_core::registry;

use crate::args::DoctorArgs;
use crate::chain;
use crate::config;
use crate::exit::CliError;
use crate::table::{self, Align};

/// The longest one provider's checks may take in all.
const PER_PROVIDER: Duration = Duration::from_secs(90);

/// Runs every provider's checks; exit 0 only when all are healthy.
pub async fn run(args: DoctorArgs, vars: Vec<(String, String)>) -> Result<(), CliError> {
    let loaded = config::load(args.chain.config.as_deref(), &vars)?;
    let entries = chain::resolve(&loaded.config, &args.chain.providers, &vars)?;
    let default_chain = args.chain.providers.is_empty() && loaded.config.chain.is_empty();
    let has_piper = entries.iter().any(|e| e.provider == "piper");
    let mut reports = Vec::new();
    for entry in entries {
        let id = entry.provider.clone();
        let built = tokio::task::spawn_blocking(move || registry::build(&entry))
            .await
            .map_err(|e| CliError::failure(format!("building {id} failed: {e}")))?;
        let report = match built {
            Ok(provider) => tokio::time::timeout(PER_PROVIDER, provider.diagnose())
                .await
                .unwrap_or_else(|_| Report {
                    provider: provider.describe(),
                    checks: vec![Check::skipped("all", "the checks took over 90 s")],
                    diagnosis: vec![format!("{id}: the checks did not finish within 90 s")],
                }),
            Err(err) => Report {
                provider: id.clone(),
                diagnosis: vec![err.to_string()],
                checks: vec![Check::fail("build", err, Duration::ZERO)],
            },
        };
        reports.push(report);
    }
    write_reports(&mut io::stdout().lock(), &reports)
        .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))?;
    if default_chain && !has_piper {
        write_notes(&mut io::stdout().lock(), &missing_voices())
            .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))?;
    }
    let unhealthy: Vec<&str> = reports
        .iter()
        .filter(|r| !r.healthy())
        .map(|r| r.provider.as_str())
        .collect();
    if unhealthy.is_empty() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "unhealthy: {}",
            unhealthy.join(", ")
        )))
    }
}

/// One table of checks, then the diagnoses.
pub fn write_reports(out: &mut impl Write, reports: &[Report]) -> io::Result<()> {
    let rows: Vec<[String; 4]> = reports
        .iter()
        .flat_map(|r| {
            r.checks.iter().map(|c| {
                [
                    r.provider.clone(),
                    c.name.clone(),
                    format!("{} ms", c.elapsed.as_millis()),
                    c.outcome.to_string(),
                ]
            })
        })
        .collect();
    table::write(
        out,
        ["PROVIDER", "CHECK", "TIME", "RESULT"],
        [Align::Left, Align::Left, Align::Right, Align::Left],
        &rows,
    )?;
    let findings: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.diagnosis
                .iter()
                .map(move |d| format!("  {}: {d}", r.provider))
        })
        .collect();
    if findings.is_empty() {
        writeln!(out, "\nevery provider is healthy")?;
    } else {
        writeln!(out, "\ndiagnosis:")?;
        for line in findings {
            writeln!(out, "{line}")?;
        }
    }
    out.flush()
}

/// Why an offline voice that could lead the default chain is not in it, and how to get it.
fn missing_voices() -> Vec<String> {
    #[cfg(feature = "piper")]
    {
        voxwire_piper::discover()
            .missing()
            .into_iter()
            .map(|line| {
                format!("piper (the neural offline voice) is not in the default chain: {line}")
            })
            .collect()
    }
    #[cfg(not(feature = "piper"))]
    {
        vec![
            "piper (the neural offline voice) is not in this build: build with the `piper` feature"
                .into(),
        ]
    }
}

/// Notes that do not make the chain unhealthy.
pub fn write_notes(out: &mut impl Write, notes: &[String]) -> io::Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nnotes:")?;
    for note in notes {
        writeln!(out, "  {note}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxwire_core::{ErrorKind, TtsError};

    #[test]
    fn table_and_diagnosis_are_printed() {
        let reports = vec![Report {
            provider: "xai (wss://h/v1/tts)".into(),
            checks: vec![
                Check::pass(
                    "rest synthesis",
                    "first audio after 3 ms",
                    Duration::from_millis(4),
                ),
                Check::fail(
                    "websocket upgrade",
                    TtsError::new(ErrorKind::Auth, "forbidden").with_status(403),
                    Duration::from_millis(2),
                ),
            ],
            diagnosis: vec!["the key works for REST; fix the WebSocket".into()],
        }];
        let mut out = Vec::new();
        write_reports(&mut out, &reports).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("rest synthesis"), "{text}");
        assert!(text.contains("ok      first audio after 3 ms"), "{text}");
        assert!(text.contains("FAILED  HTTP 403"), "{text}");
        assert!(
            text.contains("diagnosis:\n  xai (wss://h/v1/tts): the key works for REST"),
            "{text}"
        );
        assert!(!reports[0].healthy());
    }

    #[test]
    fn notes_say_what_is_missing_and_how_to_get_it() {
        let mut out = Vec::new();
        write_notes(
            &mut out,
            &["piper: no voice; set VOXWIRE_PIPER_VOICE".into()],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\nnotes:\n  piper: no voice; set VOXWIRE_PIPER_VOICE\n"
        );
        let mut out = Vec::new();
        write_notes(&mut out, &[]).unwrap();
        assert!(out.is_empty());
    }
}
