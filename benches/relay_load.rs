//! Load on the relay: N concurrent WebSocket sessions, each speaking a few
//! utterances through `voxwire serve` (a child process) to a mock xAI
//! upstream (in this process). Prints, per N: sessions held, time to first
//! audio p50/p99 (from `text.done` to the first `audio.delta`), the relay's
//! memory per session (peak resident set above its size before any session,
//! divided by N) and its CPU seconds
//! per hour of audio served. Run: `cargo bench --bench relay_load [-- N...]`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_testkit::mock_xai::{MockConfig, MockXai};

const KEY: &str = "xai-load-upstream-key";
const TOKEN: &str = "relay-load-token-0123456789";
const UTTERANCES: usize = 3;
const TEXT: &str = "Hi there.";

/// The relay's resident memory (kB) and CPU time (s), from /proc.
fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (rss, ticks / 100.0)
}

fn start_relay(mock: &MockXai, dir: &std::path::Path) -> (Child, String) {
    let config = dir.join("voxwire.toml");
    let mut f = std::fs::File::create(&config).expect("config");
    writeln!(
        f,
        "[server]\ntokens = [{{ id = \"load\", secret = \"{TOKEN}\" }}]\nmax_sessions = 5000\nmax_sessions_per_token = 5000\nutterances_per_second = 100000.0\nutterance_burst = 100000.0\n\n[[chain]]\nprovider = \"xai\"\napi_key = \"{KEY}\"\nbase_url = \"{}\"\npool_size = 64\n",
        mock.base_url()
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxwire"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .stderr(Stdio::piped())
        .spawn()
        .expect("voxwire serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    reader.read_line(&mut line).expect("listening line");
    // Keep draining the relay's stderr so it never writes to a closed pipe.
    std::thread::spawn(move || for _ in reader.lines().map_while(Result::ok) {});
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("address")
        .to_string();
    (child, addr)
}

/// One session: `UTTERANCES` utterances, returning each one's time to first audio.
async fn session(addr: String, start_after: Duration) -> Result<(Vec<Duration>, usize), String> {
    let mut request = format!("ws://{addr}/v1/tts?codec=pcm&sample_rate=24000")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().map_err(|_| "header")?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(start_after).await;
    let mut firsts = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..UTTERANCES {
        let delta = serde_json::json!({"type": "text.delta", "delta": TEXT}).to_string();
        ws.send(Message::text(delta))
            .await
            .map_err(|e| e.to_string())?;
        ws.send(Message::text(r#"{"type":"text.done"}"#))
            .await
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let mut first = None;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
                .await
                .map_err(|_| "timeout".to_string())?
                .ok_or("closed")?
                .map_err(|e| e.to_string())?;
            let Message::Text(text) = frame else { continue };
            let value: serde_json::Value =
                serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
            match value["type"].as_str() {
                Some("audio.delta") => {
                    first.get_or_insert_with(|| sent.elapsed());
                    bytes += value["delta"].as_str().map_or(0, |d| d.len() * 3 / 4);
                }
                Some("audio.done") => break,
                Some("error") => return Err(value.to_string()),
                _ => {}
            }
        }
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

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 100, 250, 500, 1000]
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
        let (mut relay, addr) = start_relay(&mock, &dir);
        let pid = relay.id();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Memory per session is measured above the relay's size before any session.
        let (idle_rss, _) = usage(pid);
        println!("\nrelay load: `voxwire serve` child, mock xAI upstream in the bench process, {UTTERANCES} utterances of \"{TEXT}\" per session, 24 kHz PCM, first utterance at a random time within 1 s");
        println!("{:>6} {:>8} {:>12} {:>12} {:>16} {:>20}", "N", "held", "TTFA p50 ms", "TTFA p99 ms", "RSS kB/session", "CPU s per audio h");
        for &n in &sizes {
            let (_, cpu_before) = usage(pid);
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let addr = addr.clone();
                    let offset = Duration::from_millis((i as u64 * 7919) % 1000);
                    tokio::spawn(session(addr, offset))
                })
                .collect();
            // Sample the relay's memory while the sessions are open.
            let mut peak_rss = idle_rss;
            let sampler = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    peak_rss = peak_rss.max(usage(pid).0);
                }
            };
            let all = futures::future::join_all(tasks);
            let results = tokio::select! {
                r = all => r,
                () = sampler => unreachable!(),
            };
            let (_, cpu_after) = usage(pid);
            let mut firsts = Vec::new();
            let mut held = 0;
            let mut audio_bytes = 0usize;
            let mut errors = Vec::new();
            for r in results {
                match r {
                    Ok(Ok((f, b))) => {
                        held += 1;
                        firsts.extend(f);
                        audio_bytes += b;
                    }
                    Ok(Err(e)) => errors.push(e),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let audio_hours = audio_bytes as f64 / 48_000.0 / 3600.0;
            let per_session = peak_rss.saturating_sub(idle_rss) as f64 / n as f64;
            println!(
                "{n:>6} {held:>8} {:>12.2} {:>12.2} {:>16.1} {:>20.1}",
                percentile(&mut firsts, 0.5),
                percentile(&mut firsts, 0.99),
                per_session,
                (cpu_after - cpu_before) / audio_hours.max(1e-9),
            );
            if !errors.is_empty() {
                println!("       {} sessions failed, e.g. {}", errors.len(), errors[0]);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let _ = relay.kill();
        let _ = relay.wait();
    });
    let _ = std::fs::remove_dir_all(&dir);
}
