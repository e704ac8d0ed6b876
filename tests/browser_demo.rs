//! The demo page end to end: `voxwire serve` serves it, headless Chromium (via
//! chromedriver) types a sentence, presses Speak, and the page reports audio
//! scheduled for playback; a screenshot is saved. Needs the bundle in
//! `web/pkg` and chromedriver, so `cargo xtask test` runs it (`--ignored`).

mod common;

use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs web/pkg and chromedriver: run by `cargo xtask test`"]
async fn the_demo_page_speaks_in_headless_chromium() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/pkg/voxwire_web.js").is_file(),
        "build the bundle first (cargo xtask test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("voxwire.toml");
    std::fs::write(
        &config,
        "[server]\nopen = true\n\n[[chain]]\nprovider = \"espeak\"\n",
    )
    .unwrap();
    let mut relay = Command::new(env!("CARGO_BIN_EXE_voxwire"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .current_dir(root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::announced_addr(&mut BufReader::new(relay.stderr.take().unwrap()));
    let _relay = KillOnDrop(relay);

    let port = free_port();
    let driver =
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
    let _driver = KillOnDrop(driver);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--autoplay-policy=no-user-gesture-required", "--window-size=900,700"
        ]}),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        match fantoccini::ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot reach chromedriver: {e}"),
        }
    };
    client.goto(&format!("http://{addr}/")).await.unwrap();
    let wait = |script: &'static str| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let v = client.execute(script, vec![]).await.unwrap();
                if v.as_bool() == Some(true) {
                    return;
                }
                assert!(Instant::now() < deadline, "timed out waiting for: {script}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait("return window.voxwireReady === true").await;
    wait("return document.querySelector('#voice').options.length > 1").await;
    // One sentence: the router sends it as one utterance, so the relay's
    // time to first audio below is for exactly this utterance.
    let text = client
        .find(fantoccini::Locator::Css("#text"))
        .await
        .unwrap();
    text.clear().await.unwrap();
    text.send_keys("Typed into the demo page, spoken by the relay, played by Web Audio.")
        .await
        .unwrap();
    client
        .find(fantoccini::Locator::Css("#speak"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let clicked = Instant::now();
    wait("return document.querySelector('#state').textContent === 'done'").await;
    // `done` comes when playback has ended, not when the last chunk arrived.
    let played = clicked.elapsed();
    let page_stats = client
        .execute(
            "return document.querySelector('#stats').textContent",
            vec![],
        )
        .await
        .unwrap();
    let stats = client
        .execute(
            "return document.querySelector('voxwire-speaker').speaker().stats()",
            vec![],
        )
        .await
        .unwrap();
    let png = client.screenshot().await.unwrap();
    let shot = root.join("target").join("voxwire-demo.png");
    std::fs::write(&shot, png).unwrap();
    client.close().await.unwrap();

    assert!(stats["chunks"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(
        page_stats
            .as_str()
            .unwrap_or_default()
            .contains("\"chunks\""),
        "the page shows live stats: {page_stats}"
    );
    let seconds = stats["bytes"].as_f64().unwrap() / 48_000.0;
    assert!(
        played.as_secs_f64() + 0.5 >= seconds,
        "done after {played:?} for {seconds:.2} s of audio"
    );
    assert_eq!(stats["underruns"].as_f64(), Some(0.0), "{stats}");
    let sound = stats["timeToFirstSoundMs"].as_f64().unwrap();
    let audio = stats["timeToFirstAudioMs"].as_f64().unwrap();
    // The relay's own time to first audio for the same utterance, from /metrics.
    let metrics = reqwest_free_get(&addr, "/metrics").await;
    let sum: f64 = metric(&metrics, "voxwire_first_audio_seconds_sum");
    let count: f64 = metric(&metrics, "voxwire_first_audio_seconds_count");
    assert_eq!(count, 1.0, "{metrics}");
    println!(
        "demo: browser time to first audio {audio:.1} ms, first sound {sound:.1} ms; relay time to first audio {:.1} ms; screenshot {}",
        sum * 1000.0,
        shot.display()
    );
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            // `name value` or `name{labels} value` (the relay labels by chain entry).
            let rest = l.strip_prefix(name)?;
            let rest = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest,
            };
            Some(rest.trim().parse::<f64>().unwrap_or(f64::NAN))
        })
        .unwrap_or(f64::NAN)
}

/// A plain HTTP GET over a TCP stream (no HTTP client dependency for one request).
async fn reqwest_free_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}
