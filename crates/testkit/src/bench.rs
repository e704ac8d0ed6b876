//! What the benches share: timing one synthesis through a provider, a
//! provider against a bare client interleaved request by request, the
//! table's median and number format, and the process's CPU time.

use std::future::Future;
use std::pin::Pin;
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

/// One request of a bare client: its time to first audio, its total time
/// and the audio bytes it received (what [`timed_synthesis`] gives).
pub type BareCall<'a> = Pin<Box<dyn Future<Output = (Duration, Duration, usize)> + Send + 'a>>;

/// Medians of a provider and of a bare client on the same mock, same run.
#[derive(Debug, Clone, Copy)]
pub struct Versus {
    /// The provider's first audio and total.
    pub provider: (Duration, Duration),
    /// The bare client's first audio and total.
    pub bare: (Duration, Duration),
}

impl Versus {
    /// The provider's first audio over the bare client's.
    pub fn first_ratio(&self) -> f64 {
        self.provider.0.as_secs_f64() / self.bare.0.as_secs_f64()
    }

    /// The provider's total over the bare client's.
    pub fn total_ratio(&self) -> f64 {
        self.provider.1.as_secs_f64() / self.bare.1.as_secs_f64()
    }
}

/// `provider` speaking `text` against a bare client (`bare(state, index)`),
/// interleaved request by request so drift hits both alike: five warm-up
/// pairs (indices 0 to 4), then `rounds` timed pairs (indices from 1 000:
/// a socket's bare client may name its contexts by them).
///
/// # Panics
/// When a pair did not receive the same audio bytes.
pub async fn interleaved<S>(
    provider: &dyn TtsProvider,
    text: &str,
    rounds: usize,
    state: &mut S,
    mut bare: impl for<'a> FnMut(&'a mut S, usize) -> BareCall<'a>,
) -> Versus {
    for n in 0..5 {
        timed_synthesis(provider, text).await;
        bare(state, n).await;
    }
    let (mut pf, mut pt, mut bf, mut bt) = (vec![], vec![], vec![], vec![]);
    for n in 0..rounds {
        let (f, t, pb) = timed_synthesis(provider, text).await;
        pf.push(f);
        pt.push(t);
        let (f, t, bb) = bare(state, 1_000 + n).await;
        bf.push(f);
        bt.push(t);
        assert_eq!(pb, bb, "both got the same audio");
    }
    Versus {
        provider: (median(pf), median(pt)),
        bare: (median(bf), median(bt)),
    }
}
