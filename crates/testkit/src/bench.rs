//! What the benches share: timing one synthesis through a provider, the
//! table's median and number format, and the process's CPU time.

use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{SynthesisRequest, TtsProvider};

/// Speaks `text` through `provider` and returns the time to its first audio
/// chunk, the time to its end and the audio bytes received.
///
/// # Panics
/// When the provider refuses the request or fails mid-stream: a bench's
/// mock is healthy.
pub async fn timed_synthesis(
    provider: &dyn TtsProvider,
    text: &str,
) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let mut stream = provider
        .synthesize(SynthesisRequest::new(text))
        .await
        .expect("synthesize");
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        bytes += chunk.expect("chunk").data.len();
        first.get_or_insert_with(|| started.elapsed());
    }
    (first.unwrap_or_default(), started.elapsed(), bytes)
}

/// The median of `samples` (the upper one of an even count).
///
/// # Panics
/// When `samples` is empty.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Milliseconds with three decimals, as the tables print them.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// This process's user + system CPU time so far (Linux `/proc/self/stat`,
/// in USER_HZ ticks of 10 ms); zero where it cannot be read.
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
