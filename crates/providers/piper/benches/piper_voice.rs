//! Real-time factor and time to first audio: Piper against both eSpeak engines.
//!
//! All voices speak the same 10-sentence text in one run, 7 times each; the
//! table gives medians and the ratios to the system eSpeak engine. RTF is
//! synthesis time / audio time (below 1 is faster than real time).
//!
//! Run: `VOXWIRE_PIPER_VOICE=…/en_US-joe-medium.onnx ORT_DYLIB_PATH=…/libonnxruntime.so.1.32.0
//! cargo bench -p voxwire-piper --bench piper_voice` (`cargo xtask setup` downloads
//! both into `target/piper-cache`; the `VOXWIRE_PIPER_TEST_*` variables work too).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{SynthesisRequest, TtsProvider};
use voxwire_espeak::{EngineChoice, EspeakProvider, EspeakSettings};
use voxwire_piper::{PiperProvider, PiperSettings};

const RUNS: usize = 7;

fn text() -> String {
    [
        "The weather is nice today and the sun is shining.",
        "Please call me back when you get home tonight.",
        "We will meet at the station at nine in the morning.",
        "Your order has shipped and should arrive on Thursday.",
        "The meeting was moved to the large room on the second floor.",
        "I could not find the file you asked for, so I searched again.",
        "Remember to bring an umbrella, because it may rain later.",
        "The train to the airport leaves every fifteen minutes.",
        "Thank you for waiting, a person will answer your call shortly.",
        "That is all for now, have a good evening.",
    ]
    .join(" ")
}

fn var(names: [&str; 2]) -> Option<PathBuf> {
    names
        .iter()
        .find_map(|n| std::env::var_os(n).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
}

fn voices() -> Vec<(String, Box<dyn TtsProvider>)> {
    let mut out: Vec<(String, Box<dyn TtsProvider>)> = Vec::new();
    let voice = var(["VOXWIRE_PIPER_TEST_VOICE", "VOXWIRE_PIPER_VOICE"]);
    let runtime = var(["VOXWIRE_PIPER_TEST_RUNTIME", "ORT_DYLIB_PATH"]);
    for threads in [1, 2] {
        match PiperProvider::new(PiperSettings {
            voice: voice.clone(),
            runtime: runtime.clone(),
            threads: Some(threads),
            ..PiperSettings::default()
        }) {
            Ok(p) => out.push((
                format!("piper joe-medium, {threads} thread(s)"),
                Box::new(p),
            )),
            Err(e) => eprintln!("skipping piper: {e}"),
        }
    }
    for (name, engine) in [
        ("espeak system", EngineChoice::System),
        ("espeak embedded", EngineChoice::Embedded),
    ] {
        match EspeakProvider::new(EspeakSettings {
            engine,
            ..EspeakSettings::default()
        }) {
            Ok(p) => out.push((name.to_string(), Box::new(p))),
            Err(e) => eprintln!("skipping {name}: {e}"),
        }
    }
    out
}

/// (time to first audio, total time, audio seconds).
async fn run_once(p: &dyn TtsProvider, text: &str) -> (Duration, Duration, f64) {
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

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let text = text();
    let voices = voices();
    let mut rows = Vec::new();
    for (name, provider) in &voices {
        let _warm = runtime.block_on(run_once(provider.as_ref(), "Warm up."));
        let runs: Vec<_> = (0..RUNS)
            .map(|_| runtime.block_on(run_once(provider.as_ref(), &text)))
            .collect();
        let first = median(runs.iter().map(|r| r.0.as_secs_f64() * 1e3).collect());
        let rtf = median(runs.iter().map(|r| r.1.as_secs_f64() / r.2).collect());
        let audio = median(runs.iter().map(|r| r.2).collect());
        rows.push((name.clone(), first, rtf, audio));
    }
    let base = rows.iter().find(|r| r.0 == "espeak system").cloned();
    println!(
        "\n{RUNS} runs each, medians; 10 sentences, {} characters\n",
        text.len()
    );
    println!(
        "{:<28} {:>14} {:>8} {:>10} {:>16} {:>10}",
        "voice", "first audio", "RTF", "audio", "first vs system", "RTF vs system"
    );
    for (name, first, rtf, audio) in &rows {
        let (fr, rr) = base
            .as_ref()
            .map_or((f64::NAN, f64::NAN), |b| (first / b.1, rtf / b.2));
        println!("{name:<28} {first:>11.1} ms {rtf:>8.3} {audio:>8.1} s {fr:>15.2}x {rr:>9.2}x");
    }
}
