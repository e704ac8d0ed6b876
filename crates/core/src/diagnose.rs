//! Health checks a provider runs on itself, for `voxwire doctor`.
//!
//! Every provider gets a generic check (one short synthesis) from the trait's
//! default [`TtsProvider::diagnose`]; network
//! providers override it with checks per step (credentials, reachability,
//! each transport) and turn the pattern of results into a diagnosis a person
//! can act on. Timing uses `web_time::Instant` (std's natively, `performance.now()` in a browser).

use std::fmt;
use std::time::Duration;

// `std::time::Instant` panics in a browser; web-time is std's natively.
use web_time::Instant;

use futures::StreamExt;

use crate::error::TtsError;
use crate::provider::{SynthesisRequest, TtsProvider};

/// How one check went.
#[derive(Debug, Clone)]
pub enum CheckOutcome {
    /// It worked; the text says what was seen (e.g. the time to first audio).
    Pass(String),
    /// It failed with this error.
    Fail(TtsError),
    /// It was not run, and why (an earlier step failed).
    Skipped(String),
}

/// One named check and how long it took.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked, e.g. `websocket upgrade`.
    pub name: String,
    /// How it went.
    pub outcome: CheckOutcome,
    /// Wall time it took (zero when skipped).
    pub elapsed: Duration,
}

impl Check {
    /// A passed check.
    pub fn pass(name: impl Into<String>, detail: impl Into<String>, elapsed: Duration) -> Self {
        Self {
            name: name.into(),
            outcome: CheckOutcome::Pass(detail.into()),
            elapsed,
        }
    }

    /// A failed check.
    pub fn fail(name: impl Into<String>, error: TtsError, elapsed: Duration) -> Self {
        Self {
            name: name.into(),
            outcome: CheckOutcome::Fail(error),
            elapsed,
        }
    }

    /// A check not run because of `why`.
    pub fn skipped(name: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome: CheckOutcome::Skipped(why.into()),
            elapsed: Duration::ZERO,
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, CheckOutcome::Pass(_))
    }

    /// The error, when it failed.
    pub fn error(&self) -> Option<&TtsError> {
        match &self.outcome {
            CheckOutcome::Fail(e) => Some(e),
            _ => None,
        }
    }
}

/// Everything a provider found out about itself.
#[derive(Debug, Clone)]
pub struct Report {
    /// `describe()` of the provider (or its id when it could not be built).
    pub provider: String,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// What to do, one line per finding; empty when healthy.
    pub diagnosis: Vec<String>,
}

impl Report {
    /// Healthy when every check passed.
    pub fn healthy(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(Check::passed)
    }

    /// The check called `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass(detail) => write!(f, "ok      {detail}"),
            Self::Fail(e) => write!(f, "FAILED  {e}"),
            Self::Skipped(why) => write!(f, "skipped {why}"),
        }
    }
}

/// Speaks `text` and reads the whole stream; passes with the time to first audio.
pub async fn synthesis_check<P: TtsProvider + ?Sized>(
    provider: &P,
    name: &str,
    text: &str,
) -> Check {
    let started = Instant::now();
    let result = async {
        let mut stream = provider.synthesize(SynthesisRequest::new(text)).await?;
        let mut first = None;
        let mut audio = Duration::ZERO;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            first.get_or_insert_with(|| started.elapsed());
            audio += chunk.duration();
        }
        Ok::<_, TtsError>((first.unwrap_or_default(), audio))
    }
    .await;
    match result {
        Ok((first, audio)) => Check::pass(
            name,
            format!(
                "first audio after {} ms, {:.2} s of audio",
                first.as_millis(),
                audio.as_secs_f64()
            ),
            started.elapsed(),
        ),
        Err(e) => Check::fail(name, e, started.elapsed()),
    }
}

/// The generic report: one short synthesis; the diagnosis is its error, if any.
pub async fn generic_report<P: TtsProvider + ?Sized>(provider: &P) -> Report {
    let check = synthesis_check(provider, "synthesis", "Hello.").await;
    let diagnosis = check.error().map(ToString::to_string).into_iter().collect();
    Report {
        provider: provider.describe(),
        checks: vec![check],
        diagnosis,
    }
}
