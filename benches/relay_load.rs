//! Load on the relay beside a baseline measured in the same run: N concurrent
//! WebSocket sessions, each speaking a few utterances, (a) through `voxwire
//! serve` and (b) through a bare pass-through WebSocket proxy (tokio-tungstenite,
//! forwarding frames with no routing and no limits), both child processes
//! started afresh for each N, both to the same mock xAI upstream (in this
//! process, with the clients). The proxy is this bench binary run again with
//! `VOXWIRE_BENCH_PROXY_UPSTREAM` set. Prints, per N and path: sessions held,
//! time to first audio p50/p99 (from `text.done` to the first `audio.delta`),
//! throughput (seconds of audio delivered per wall second), peak memory per
//! session above the process's own idle size, CPU seconds per hour of audio
//! (each child's own, from /proc), and the relay/proxy ratios. Rows under
//! 500 sessions repeat their N concurrent sessions in rounds until 500 have
//! run, so that CPU time is many accounting ticks.
//! Run: `cargo bench --bench relay_load [-- N...]`.

#[path = "relay_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{audio_until_done, connect, start_relay, usage, utterance, KEY, TOKEN};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use voxwire_testkit::mock_xai::{MockConfig, MockXai};

const UTTERANCES: usize = 3;
const TEXT: &str = "Hi there.";
/// Bytes per second of 24 kHz 16-bit mono PCM.
const PCM_RATE: f64 = 48_000.0;

/// The baseline: accepts WebSockets and forwards every frame both ways to the
/// mock's `/v1/tts` (same query plus `language=en`, the upstream key), nothing else. Each
/// connection's task is owned by the `JoinSet`, dropped with the proxy.
async fn proxy(listener: tokio::net::TcpListener, upstream: String) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let upstream = upstream.clone();
                let _ = stream.set_nodelay(true);
                tasks.spawn(async move {
                    let mut query = String::new();
                    // The handshake callback's signature is tungstenite's.
                    #[allow(clippy::result_large_err)]
                    let callback = |req: &Request, resp: Response| {
                        query = req.uri().query().unwrap_or_default().to_string();
                        Ok(resp)
                    };
                    let Ok(Ok(client)) = tokio::time::timeout(
                        Duration::from_secs(30),
                        tokio_tungstenite::accept_hdr_async(stream, callback),
                    )
                    .await
                    else {
                        return;
                    };
                    // xAI requires `language`; the relay fills it in from its config, so does the proxy.
                    if !query.split('&').any(|kv| kv.starts_with("language=")) {
                        query.push_str(if query.is_empty() { "language=en" } else { "&language=en" });
                    }
                    let Ok(mut request) = format!("{upstream}?{query}").into_client_request() else {
                        return;
                    };
                    let Ok(bearer) = format!("Bearer {KEY}").parse() else { return };
                    request.headers_mut().insert("authorization", bearer);
                    let server = match tokio::time::timeout(
                        Duration::from_secs(30),
                        tokio_tungstenite::connect_async_with_config(request, None, true),
                    )
                    .await
                    {
                        Ok(Ok((server, _))) => server,
                        Ok(Err(e)) => {
                            eprintln!("proxy: upstream refused: {e}");
                            return;
                        }
                        Err(_) => {
                            eprintln!("proxy: upstream connect timed out");
                            return;
                        }
                    };
                    let (mut client_tx, mut client_rx) = client.split();
                    let (mut server_tx, mut server_rx) = server.split();
                    let up = async {
                        while let Some(Ok(m)) = client_rx.next().await {
                            if server_tx.send(m).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(m)) = server_rx.next().await {
                            if client_tx.send(m).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { () = up => {}, () = down => {} }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// One session: `UTTERANCES` utterances, returning each one's time to first
/// audio and the audio bytes received.
async fn session(
    addr: String,
    bearer: &'static str,
    start_after: Duration,
) -> Result<(Vec<Duration>, usize), String> {
    let mut ws = connect(&addr, bearer).await?;
    tokio::time::sleep(start_after).await;
    let mut firsts = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..UTTERANCES {
        utterance(&mut ws, TEXT).await?;
        let sent = Instant::now();
        let mut first = None;
        let audio = audio_until_done(&mut ws, || first = Some(sent.elapsed())).await?;
        bytes += audio.len();
        firsts.push(first.ok_or("no audio")?);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = ws.close(None).await;
    Ok((firsts, bytes))
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// One row's figures.
struct Row {
    held: usize,
    p50: f64,
    p99: f64,
    /// Seconds of audio delivered per wall-clock second.
    throughput: f64,
    audio_bytes: usize,
    errors: Vec<String>,
}

/// Sessions a row runs in all at least: below it, a row repeats its `n`
/// concurrent sessions in rounds, so that its CPU time spans many of the
/// kernel's 10 ms accounting ticks (at 10 sessions one round is about one
/// tick, and ratios of one or three ticks say nothing).
const MIN_SESSIONS_PER_ROW: usize = 500;

/// Rounds of `n` concurrent sessions a row runs.
fn rounds_for(n: usize) -> usize {
    MIN_SESSIONS_PER_ROW.div_ceil(n.max(1)).max(1)
}

/// Runs `n` sessions against `addr` at once, [`rounds_for`]`(n)` times in a
/// row; `sample` is called every 100 ms meanwhile. `held` is the fewest
/// sessions held in one round.
async fn run(n: usize, addr: &str, bearer: &'static str, mut sample: impl FnMut()) -> Row {
    let started = Instant::now();
    let mut firsts = Vec::new();
    let (mut held, mut audio_bytes, mut errors) = (usize::MAX, 0usize, Vec::new());
    for _ in 0..rounds_for(n) {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let offset = Duration::from_millis((i as u64 * 7919) % 1000);
                tokio::spawn(session(addr.to_string(), bearer, offset))
            })
            .collect();
        let sampler = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                sample();
            }
        };
        let results = tokio::select! {
            r = futures::future::join_all(tasks) => r,
            () = sampler => Vec::new(),
        };
        let mut round_held = 0;
        for r in results {
            match r {
                Ok(Ok((f, b))) => {
                    round_held += 1;
                    firsts.extend(f);
                    audio_bytes += b;
                }
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        held = held.min(round_held);
    }
    let wall = started.elapsed().as_secs_f64();
    Row {
        held,
        p50: percentile(&mut firsts, 0.5),
        p99: percentile(&mut firsts, 0.99),
        throughput: audio_bytes as f64 / PCM_RATE / wall.max(1e-9),
        audio_bytes,
        errors,
    }
}

/// The proxy child: serves until its stdin closes (the bench ended) or it is killed.
fn proxy_child(upstream: String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("{}", listener.local_addr().expect("addr"));
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        tokio::select! {
            () = proxy(listener, upstream) => {}
            _ = stdin_closed => {}
        }
    });
}

/// Starts the proxy child on `upstream`; returns it and its `host:port`.
fn start_proxy(upstream: &str) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env("VOXWIRE_BENCH_PROXY_UPSTREAM", upstream)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("proxy child");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("proxy address");
    (child, line.trim().to_string())
}

/// A child's figures over one row: peak memory above idle per session and
/// CPU seconds per audio hour.
struct Cost {
    kb_per_session: f64,
    cpu_per_audio_hour: f64,
}

/// Runs one row against a child `pid` listening on `addr`, sampling its memory.
async fn measured(n: usize, pid: u32, addr: &str, bearer: &'static str) -> (Row, Cost) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_rss, cpu_before) = usage(pid);
    let mut peak_rss = idle_rss;
    let row = run(n, addr, bearer, || peak_rss = peak_rss.max(usage(pid).0)).await;
    let (end_rss, cpu_after) = usage(pid);
    peak_rss = peak_rss.max(end_rss);
    let audio_hours = row.audio_bytes as f64 / PCM_RATE / 3600.0;
    let cost = Cost {
        kb_per_session: peak_rss.saturating_sub(idle_rss) as f64 / n as f64,
        cpu_per_audio_hour: (cpu_after - cpu_before) / audio_hours.max(1e-9),
    };
    (row, cost)
}

fn main() {
    if let Ok(upstream) = std::env::var("VOXWIRE_BENCH_PROXY_UPSTREAM") {
        proxy_child(upstream);
        return;
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 100, 1000, 2500, 5000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("voxwire-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    runtime.block_on(async {
        let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
        println!("\nrelay load: `voxwire serve` vs a bare pass-through WebSocket proxy, each a fresh child process per N, same mock xAI upstream and clients in the bench process, {UTTERANCES} utterances of \"{TEXT}\" per session, 24 kHz PCM, first utterance at a random time within 1 s, rows under {MIN_SESSIONS_PER_ROW} sessions repeated in rounds of N up to {MIN_SESSIONS_PER_ROW}; proxy row first, relay row second, for each N");
        println!(
            "{:>6} {:>6} {:>6} {:>9} {:>9} {:>10} {:>8} {:>11} {:>8} {:>8} {:>8} {:>8}",
            "N", "path", "held", "p50 ms", "p99 ms", "audio s/s", "kB/sess", "CPU s/aud h", "p50 r/p", "p99 r/p", "mem r/p", "CPU r/p"
        );
        for &n in &sizes {
            let (mut proxy, proxy_addr) = start_proxy(&mock.ws_url());
            let (base, base_cost) = measured(n, proxy.id(), &proxy_addr, KEY).await;
            drop(proxy.stdin.take());
            let _ = proxy.kill();
            let _ = proxy.wait();
            let (mut relay, addr) = start_relay(
                &mock,
                &dir,
                "utterances_per_second = 100000.0\nutterance_burst = 100000.0",
                false,
            );
            let (relay_row, relay_cost) = measured(n, relay.id(), &addr, TOKEN).await;
            let _ = relay.kill();
            let _ = relay.wait();
            println!(
                "{n:>6} {:>6} {:>6} {:>9.2} {:>9.2} {:>10.1} {:>8.1} {:>11.1} {:>8} {:>8} {:>8} {:>8}",
                "proxy", base.held, base.p50, base.p99, base.throughput, base_cost.kb_per_session, base_cost.cpu_per_audio_hour, "-", "-", "-", "-"
            );
            println!(
                "{n:>6} {:>6} {:>6} {:>9.2} {:>9.2} {:>10.1} {:>8.1} {:>11.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                "relay",
                relay_row.held,
                relay_row.p50,
                relay_row.p99,
                relay_row.throughput,
                relay_cost.kb_per_session,
                relay_cost.cpu_per_audio_hour,
                relay_row.p50 / base.p50,
                relay_row.p99 / base.p99,
                relay_cost.kb_per_session / base_cost.kb_per_session,
                relay_cost.cpu_per_audio_hour / base_cost.cpu_per_audio_hour,
            );
            for (path, row) in [("proxy", &base), ("relay", &relay_row)] {
                if let Some(e) = row.errors.first() {
                    println!("       {path}: {} sessions failed, e.g. {}", row.errors.len(), e.chars().take(160).collect::<String>());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
