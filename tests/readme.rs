//! The README's two set-up commands: they are exactly two, the second is what
//! CI runs, and the first, run as the built `voxwire` binary, writes a real WAV.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn setup_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```sh block near the top of the README");
    block
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Splits a shell line into words, honouring double quotes (all the README uses).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[test]
fn the_readme_starts_with_exactly_two_commands_and_ci_runs_the_second() {
    let commands = setup_commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(
        commands[0].starts_with("cargo run --release -- say "),
        "{}",
        commands[0]
    );
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
        .expect(".ci/run");
    assert!(
        ci.lines()
            .any(|l| l.trim() == format!("exec {}", commands[1])),
        "CI must run `{}`",
        commands[1]
    );
}

#[test]
fn the_first_command_writes_a_spoken_wav() {
    let commands = setup_commands();
    let args = words(&commands[0]);
    let say_args = &args[args.iter().position(|a| a == "--").expect("--") + 1..];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxwire"))
        .args(say_args)
        .current_dir(dir.path())
        .env_remove("XAI_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .spawn()
        .expect("voxwire runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("voxwire did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let out = args
        .iter()
        .skip_while(|a| *a != "-o")
        .nth(1)
        .expect("-o FILE");
    let mut reader = hound::WavReader::open(dir.path().join(out)).expect("RIFF/WAVE file");
    let spec = reader.spec();
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let seconds = samples.len() as f64 / f64::from(spec.sample_rate);
    assert!((0.8..=5.0).contains(&seconds), "{seconds} s");
    let rms =
        (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(rms > 300.0, "RMS {rms}: nearly silent");
}
