//! What the REST vendors' overhead benches (`vs_bare_client`) share: timing
//! one synthesis through a provider, and the table's median and number
//! format.

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
