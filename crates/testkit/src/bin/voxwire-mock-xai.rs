//! The mock xAI server as a process, for tests that cannot link the test kit:
//! the browser tests put a relay in front of it to get an endpoint that fails
//! mid-utterance on cue.
//!
//! ```text
//! voxwire-mock-xai [--api-key KEY] [--chunk-size BYTES] [--fault FAULT]
//!   FAULT: close-after=BYTES | drop-after=BYTES | error-frame=TEXT | reject=STATUS
//!          | stall-before-audio=MS | zero-audio
//! ```
//! Every request or connection gets the fault. The first line on stdout is
//! `mock xAI listening on http://127.0.0.1:PORT/v1`; it runs until killed.

use std::process::ExitCode;
use std::time::Duration;

use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai, Stall};

fn parse_fault(spec: &str) -> Result<Fault, String> {
    let (name, value) = spec.split_once('=').unwrap_or((spec, ""));
    let number = || {
        value
            .parse::<u64>()
            .map_err(|_| format!("--fault {name}=N needs a whole number, not `{value}`"))
    };
    Ok(match name {
        "close-after" => Fault::close_after(number()? as usize),
        "drop-after" => Fault::drop_after(number()? as usize),
        "error-frame" => Fault::error_frame(value),
        "reject" => Fault::reject(number()? as u16, "rejected (mock)"),
        "stall-before-audio" => {
            Fault::stall_before_audio(Stall::For(Duration::from_millis(number()?)))
        }
        "zero-audio" => Fault::ZeroAudio,
        _ => return Err(format!("unknown fault `{name}`")),
    })
}

fn config(args: &[String]) -> Result<MockConfig, String> {
    let mut config = MockConfig::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--api-key" => config = config.with_api_key(value()?),
            "--chunk-size" => {
                let v = value()?;
                let bytes = v
                    .parse()
                    .map_err(|_| format!("--chunk-size needs a number of bytes, not `{v}`"))?;
                config = config.with_chunk_size(bytes);
            }
            "--fault" => config = config.with_faults(FaultPlan::always(parse_fault(&value()?)?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(config)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("voxwire-mock-xai: {e}");
            return ExitCode::from(2);
        }
    };
    let mock = match MockXai::try_start(config).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("voxwire-mock-xai: cannot listen on 127.0.0.1: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("mock xAI listening on {}", mock.base_url());
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_and_flags_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_fault("close-after=4800"),
            Ok(Fault::close_after(4800))
        );
        assert_eq!(parse_fault("zero-audio"), Ok(Fault::ZeroAudio));
        assert!(parse_fault("close-after=x")
            .unwrap_err()
            .contains("whole number"));
        assert!(parse_fault("explode")
            .unwrap_err()
            .contains("unknown fault"));
        let c = config(&[
            "--api-key".into(),
            "k".into(),
            "--chunk-size".into(),
            "7".into(),
        ])
        .unwrap();
        assert_eq!((c.api_key.as_str(), c.chunk_size), ("k", 7));
        assert!(config(&["--chunk-size".into()])
            .unwrap_err()
            .contains("needs a value"));
    }
}
