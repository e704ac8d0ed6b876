//! Time to first audio and real-time factor of the offline voice, per engine.
//!
//! Criterion measures two things per engine on a 20-sentence text: the time
//! until the first audio chunk arrives (the stream is then dropped, which
//! cancels the rest), and the whole synthesis. Before that, a table gives the
//! medians of 9 runs and the real-time factor (synthesis time / audio time;
//! below 1 is faster than real time), all from the same run.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::StreamExt;
use tokio::runtime::Runtime;
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_espeak::{EngineChoice, EspeakProvider, EspeakSettings};

fn text() -> String {
    (1..=20)
        .map(|i| format!("This is sentence number {i} of the benchmark, spoken clause by clause."))
        .collect::<Vec<_>>()
        .join(" ")
}

fn engines() -> Vec<(&'static str, EspeakProvider)> {
    let mut out = Vec::new();
    for (name, engine) in [
        ("system", EngineChoice::System),
        ("embedded", EngineChoice::Embedded),
    ] {
        match EspeakProvider::new(EspeakSettings {
            engine,
            ..EspeakSettings::default()
        }) {
            Ok(p) => out.push((name, p)),
            Err(e) => eprintln!("skipping {name}: {e}"),
        }
    }
    out
}

/// Returns (time to first audio, total time, audio seconds).
async fn run_once(
    p: &EspeakProvider,
    text: &str,
    stop_at_first: bool,
) -> (Duration, Duration, f64) {
    let started = Instant::now();
    let mut stream = p
        .synthesize(SynthesisRequest::new(text))
        .await
        .expect("starts");
    let mut first = None;
    let mut audio = Duration::ZERO;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        first.get_or_insert_with(|| started.elapsed());
        audio += chunk.duration();
        if stop_at_first {
            break;
        }
    }
    (
        first.unwrap_or_default(),
        started.elapsed(),
        audio.as_secs_f64(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary_table(rt: &Runtime, engines: &[(&'static str, EspeakProvider)], text: &str) {
    println!(
        "\noffline voice, 20 sentences ({} chars), medians of 9 runs",
        text.len()
    );
    println!(
        "{:<10} {:>16} {:>14} {:>12} {:>8}",
        "engine", "first audio ms", "total ms", "audio s", "RTF"
    );
    for (name, p) in engines {
        rt.block_on(run_once(p, "Warm up.", false));
        let runs: Vec<_> = (0..9)
            .map(|_| rt.block_on(run_once(p, text, false)))
            .collect();
        let first = median(runs.iter().map(|r| r.0.as_secs_f64() * 1e3).collect());
        let total = median(runs.iter().map(|r| r.1.as_secs_f64() * 1e3).collect());
        let audio = median(runs.iter().map(|r| r.2).collect());
        println!(
            "{name:<10} {first:>16.1} {total:>14.1} {audio:>12.2} {:>8.4}",
            total / 1e3 / audio
        );
    }
    println!();
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let engines = engines();
    let text = text();
    summary_table(&rt, &engines, &text);
    let mut group = c.benchmark_group("offline_voice");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, p) in &engines {
        group.bench_function(format!("{name}/first_audio"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(run_once(p, &text, true)).0)
                    .sum()
            })
        });
        group.bench_function(format!("{name}/whole_text"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(run_once(p, &text, false)).1)
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
