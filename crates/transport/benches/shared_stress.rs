//! The shared-socket path under stress, and what sharing costs (issue 35).
//!
//! `cargo bench -p voxwire-transport --bench shared_stress` prints two tables:
//!
//! 1. **Stress.** 200 concurrent utterances over one group capped at 2
//!    sockets × 5 contexts, on the kit's multiplexing mock, which closes every
//!    socket 3 s after it opened (whatever it carries). A fifth of the callers
//!    cancel at a random point (they drop their stream), a tenth are dropped
//!    mid-open (a random 0–30 ms into `synthesize`), the rest read to the end;
//!    an utterance cut by a socket close ends with a transient `Unavailable`
//!    and its caller says it again, as the router would. Checked afterwards:
//!    every utterance read to the end got every byte; no slot, dial or waiter
//!    is left counted; the next 10 utterances run at full concurrency (all
//!    ten at once take under twice one alone); the socket tasks running are
//!    the sockets open, and all end once the provider is dropped; the live
//!    heap is back within 10 % of its figure before the run (a counting
//!    allocator, the in-process mock's own records cleared; the RSS is
//!    printed too). The run is two rounds: the first warms what stays (the
//!    sockets, the runtime's and the allocator's pools), the second is
//!    measured against the figure after the first; both are checked.
//! 2. **Cost.** First audio and total time of one utterance over a shared
//!    socket against a dedicated (pooled, one utterance at a time) socket on
//!    the same mock, same run; alone and ten at once.
//!
//! The process exits non-zero if a check fails.

#[path = "../tests/support/mux.rs"]
mod mux;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mux::{Mux, KEY};
use voxwire_core::{AudioFormat, ErrorKind, Extensions, Secret};
use voxwire_testkit::kit::mux_echo::{mux_audio, MuxEcho};
use voxwire_testkit::kit::Mock;
use voxwire_transport::{DriverSettings, SharedStats, Voicing, WsProvider};

/// Counts the bytes live on the heap.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a
// counter is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const RATE: u32 = 16_000;
const UTTERANCES: usize = 200;

fn voicing() -> Voicing {
    Voicing {
        voice: None,
        language: None,
        speed: None,
        wire: AudioFormat::pcm16_mono(RATE),
        extensions: Extensions::default(),
    }
}

fn text_of(i: usize) -> String {
    format!("stress utterance {i:03}, said whole.")
}

/// The resident set, in KiB (Linux).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn provider(url: String, max_contexts: usize, max_sockets: usize) -> WsProvider<Mux> {
    let settings = DriverSettings {
        first_audio_timeout: Duration::from_secs(60),
        inactivity_timeout: Duration::from_secs(10),
        max_shared_sockets: max_sockets,
        ..DriverSettings::new(Secret::new(KEY))
    };
    WsProvider::new(Mux::new(url, max_contexts), settings).expect("provider")
}

/// How one utterance of a caller that reads to the end went.
struct Heard {
    right: bool,
    /// Times it was said again after a socket close cut it.
    again: usize,
    first_audio: Duration,
    total: Duration,
}

/// Says `text` to the end, again (up to 5 times) when a socket close cuts it.
async fn say_whole(p: &WsProvider<Mux>, text: &str) -> Heard {
    let mut again = 0;
    loop {
        let started = Instant::now();
        let mut first_audio = None;
        let outcome = async {
            let mut stream = p
                .synthesize(text.to_string(), voicing(), AudioFormat::pcm16_mono(RATE))
                .await?;
            let mut audio = Vec::new();
            while let Some(chunk) = stream.next().await {
                first_audio.get_or_insert_with(|| started.elapsed());
                audio.extend_from_slice(&chunk?.data);
            }
            Ok::<_, voxwire_core::TtsError>(audio)
        }
        .await;
        match outcome {
            Ok(audio) => {
                return Heard {
                    right: audio == mux_audio(text, RATE),
                    again,
                    first_audio: first_audio.unwrap_or_default(),
                    total: started.elapsed(),
                }
            }
            Err(e) if e.kind() == ErrorKind::Unavailable && again < 5 => again += 1,
            Err(e) => {
                eprintln!("utterance failed: {e}");
                return Heard {
                    right: false,
                    again,
                    first_audio: Duration::ZERO,
                    total: started.elapsed(),
                };
            }
        }
    }
}

/// A caller that reads a random part of its utterance, then drops it.
async fn say_and_cancel(p: &WsProvider<Mux>, text: &str, after: Duration) {
    let cut = tokio::time::sleep(after);
    tokio::pin!(cut);
    let said = async {
        let Ok(mut stream) = p
            .synthesize(text.to_string(), voicing(), AudioFormat::pcm16_mono(RATE))
            .await
        else {
            return;
        };
        while let Some(Ok(_)) = stream.next().await {}
    };
    tokio::select! {
        () = &mut cut => {}
        () = said => {}
    }
}

/// A caller dropped a random moment into its open.
async fn drop_mid_open(p: &WsProvider<Mux>, text: &str, after: Duration) -> bool {
    let open = p.synthesize(text.to_string(), voicing(), AudioFormat::pcm16_mono(RATE));
    tokio::time::timeout(after, open).await.is_err()
}

/// Waits (up to 5 s) until nothing is held, dialled or waiting.
async fn settled(p: &WsProvider<Mux>) -> SharedStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = p.shared_stats();
        let quiet = stats.slots == 0
            && stats.opening == 0
            && stats.awaiting_open == 0
            && stats.waiting == 0;
        if quiet || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Says `n` utterances at once; the wall time and whether all were right.
async fn at_once(p: &WsProvider<Mux>, n: usize, from: usize) -> (Duration, bool, Vec<Heard>) {
    let started = Instant::now();
    let heard = futures::future::join_all((0..n).map(|i| {
        let text = text_of(from + i);
        async move { say_whole(p, &text).await }
    }))
    .await;
    let right = heard.iter().all(|h| h.right);
    (started.elapsed(), right, heard)
}

struct Check {
    what: String,
    figure: String,
    ok: bool,
}

/// What one stress round found.
struct Round {
    /// Callers that read to the end, and how many got every byte.
    whole: usize,
    right: usize,
    /// Utterances said again after a socket close cut them.
    again: usize,
    /// Callers dropped while their open was still under way.
    mid_open: usize,
    took: Duration,
    /// What was still counted once the round settled.
    after: SharedStats,
}

/// One round: [`UTTERANCES`] callers at once, a fifth cancelling at a
/// random point, a tenth dropped a random moment into their open.
async fn stress_round(p: &WsProvider<Mux>, seed: u64) -> Round {
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut whole = Vec::new();
    let mut cancelled = Vec::new();
    let mut dropped = Vec::new();
    for i in 0..UTTERANCES {
        let p = p.clone();
        let text = text_of(i);
        if i % 10 == 0 {
            let after = Duration::from_millis(rng.u64(0..30));
            dropped.push(tokio::spawn(async move {
                drop_mid_open(&p, &text, after).await
            }));
        } else if i % 5 == 1 {
            let after = Duration::from_millis(rng.u64(0..400));
            cancelled.push(tokio::spawn(async move {
                say_and_cancel(&p, &text, after).await
            }));
        } else {
            whole.push(tokio::spawn(async move { say_whole(&p, &text).await }));
        }
    }
    let mut heard = Vec::new();
    for h in whole {
        heard.push(h.await.expect("caller"));
    }
    for h in cancelled {
        h.await.expect("caller");
    }
    let mut mid_open = 0;
    for h in dropped {
        mid_open += usize::from(h.await.expect("caller"));
    }
    let took = started.elapsed();
    Round {
        whole: heard.len(),
        right: heard.iter().filter(|h| h.right).count(),
        again: heard.iter().map(|h| h.again).sum(),
        mid_open,
        took,
        after: settled(p).await,
    }
}

/// The live heap once the mock forgets what it recorded (it runs in this
/// process, but it is not what is measured).
fn heap_without_mock(mock: &Mock<MuxEcho>) -> usize {
    mock.kit().recorder().clear();
    mock.dialect()
        .ends
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    LIVE_BYTES.load(Ordering::Relaxed)
}

async fn stress() -> Vec<Check> {
    let config = MuxEcho {
        max_contexts: 5,
        char_delay: Duration::from_millis(5),
        close_after: Some(Duration::from_secs(3)),
        ..MuxEcho::default()
    };
    let mock = Mock::start(config.clone(), KEY).await.expect("mock");
    let p = provider(mock.ws_url("/mux"), 5, 2);
    let tasks = p.shared_task_count();

    // The first round warms what stays: the sockets, the runtime's and the
    // allocator's pools. The second is measured against it.
    let warm = stress_round(&p, 35).await;
    let heap_before = heap_without_mock(&mock);
    let rss_before = rss_kib();
    let round = stress_round(&p, 36).await;

    // One alone, then ten at once: full concurrency takes about as long.
    let (alone, alone_right, _) = at_once(&p, 1, 2000).await;
    let (ten, ten_right, _) = at_once(&p, 10, 3000).await;
    settled(&p).await;
    let heap_after = heap_without_mock(&mock);
    let rss_after = rss_kib();
    let running = p.shared_stats();

    drop(p);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tasks.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tasks_left = tasks.load(Ordering::Acquire);

    let growth = heap_after as f64 / heap_before.max(1) as f64 - 1.0;
    let mut checks = Vec::new();
    for (name, r) in [("warm round", &warm), ("measured round", &round)] {
        checks.push(Check {
            what: format!("{name}: read to the end, every byte right"),
            figure: format!(
                "{} of {} ({} said again after a close cut them; {:.1} s in all)",
                r.right,
                r.whole,
                r.again,
                r.took.as_secs_f64()
            ),
            ok: r.right == r.whole,
        });
        checks.push(Check {
            what: format!("{name}: cancelled / dropped mid-open"),
            figure: format!(
                "{} cancelled, {} dropped ({} of them while opening)",
                UTTERANCES / 5,
                UTTERANCES / 10,
                r.mid_open
            ),
            ok: true,
        });
        let a = r.after;
        checks.push(Check {
            what: format!("{name}: nothing left counted"),
            figure: format!(
                "slots {}, dialling {}, awaiting a dial {}, in line {}",
                a.slots, a.opening, a.awaiting_open, a.waiting
            ),
            ok: a.slots == 0 && a.opening == 0 && a.awaiting_open == 0 && a.waiting == 0,
        });
    }
    checks.extend([
        Check {
            what: "next 10 at full concurrency".into(),
            figure: format!(
                "10 at once {:.0} ms, one alone {:.0} ms",
                ten.as_secs_f64() * 1e3,
                alone.as_secs_f64() * 1e3
            ),
            ok: alone_right && ten_right && ten < alone * 2,
        },
        Check {
            what: "socket tasks = sockets open".into(),
            figure: format!("{} tasks, {} sockets", running.tasks, running.sockets),
            ok: running.tasks == running.sockets,
        },
        Check {
            what: "socket tasks after the provider is dropped".into(),
            figure: format!("{tasks_left}"),
            ok: tasks_left == 0,
        },
        Check {
            what: "live heap after / before the measured round (within 10 %)".into(),
            figure: format!(
                "{} / {} KiB ({:+.1} %); RSS {} / {} KiB",
                heap_after / 1024,
                heap_before / 1024,
                growth * 100.0,
                rss_after,
                rss_before
            ),
            ok: growth.abs() <= 0.10,
        },
    ]);
    checks
}

/// First audio and total of `rounds` utterances, `concurrent` at a time.
async fn timed(p: &WsProvider<Mux>, rounds: usize, concurrent: usize) -> (Duration, Duration) {
    let mut first = Vec::new();
    let mut total = Vec::new();
    for round in 0..rounds {
        let (_, right, heard) = at_once(p, concurrent, 10_000 + round * concurrent).await;
        assert!(right, "the cost runs need every byte right");
        first.extend(heard.iter().map(|h| h.first_audio));
        total.extend(heard.iter().map(|h| h.total));
    }
    (
        voxwire_testkit::bench::median(first),
        voxwire_testkit::bench::median(total),
    )
}

async fn cost() -> Vec<(String, Duration, Duration, Duration, Duration)> {
    let config = MuxEcho {
        max_contexts: 5,
        char_delay: Duration::from_millis(1),
        ..MuxEcho::default()
    };
    let mock = Mock::start(config, KEY).await.expect("mock");
    let shared = provider(mock.ws_url("/mux"), 5, 2);
    let dedicated = provider(mock.ws_url("/mux"), 1, 2);
    let mut rows = Vec::new();
    for (label, concurrent, rounds) in [("alone", 1, 40), ("ten at once", 10, 8)] {
        // Warm both, then alternate so drift hits both alike.
        timed(&shared, 1, concurrent).await;
        timed(&dedicated, 1, concurrent).await;
        let mut s = Vec::new();
        let mut d = Vec::new();
        for _ in 0..rounds {
            s.push(timed(&shared, 1, concurrent).await);
            d.push(timed(&dedicated, 1, concurrent).await);
        }
        let median = voxwire_testkit::bench::median;
        rows.push((
            label.to_string(),
            median(s.iter().map(|x| x.0).collect()),
            median(d.iter().map(|x| x.0).collect()),
            median(s.iter().map(|x| x.1).collect()),
            median(d.iter().map(|x| x.1).collect()),
        ));
    }
    rows
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let checks = runtime.block_on(stress());
    let rows = runtime.block_on(cost());
    let ms = voxwire_testkit::bench::ms;

    println!("## Shared sockets under stress: {UTTERANCES} utterances, 2 sockets x 5 contexts, sockets closed 3 s after they open\n");
    println!("| check | figure | ok |\n|---|---|---|");
    for c in &checks {
        println!(
            "| {} | {} | {} |",
            c.what,
            c.figure,
            if c.ok { "yes" } else { "NO" }
        );
    }
    println!("\n## What sharing costs: one utterance (~30 characters, 1 ms apart), shared socket vs dedicated socket, same mock, same run (medians, ms)\n");
    println!("| load | first audio shared | first audio dedicated | ratio | total shared | total dedicated | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for (label, fs, fd, ts, td) in &rows {
        println!(
            "| {label} | {} | {} | {:.2}x | {} | {} | {:.2}x |",
            ms(*fs),
            ms(*fd),
            fs.as_secs_f64() / fd.as_secs_f64().max(1e-9),
            ms(*ts),
            ms(*td),
            ts.as_secs_f64() / td.as_secs_f64().max(1e-9),
        );
    }
    if checks.iter().any(|c| !c.ok) {
        eprintln!("a check failed");
        std::process::exit(1);
    }
}
