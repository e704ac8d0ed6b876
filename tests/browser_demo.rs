//! The demo page's `<voxwire-speaker>` end to end: `voxwire serve` serves it,
//! headless Chromium (via chromedriver) drives it through each state (idle,
//! speaking with the text highlighted, after a failover, after an error, at
//! phone width, word by word over a relay whose xAI upstream reports
//! timestamps) and a screenshot of the widget is saved for each in
//! `target/voxwire-widget-*.png`. Needs the bundle in
//! `web/pkg` and chromedriver, so `cargo xtask test` runs it (`--ignored`).

mod common;

use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use voxwire_testkit::mock_xai::{MockConfig, MockXai};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `voxwire serve` on a free loopback port with `config`: its address and the process.
fn start_relay(root: &std::path::Path, config: &std::path::Path) -> (String, KillOnDrop) {
    let mut relay = Command::new(env!("CARGO_BIN_EXE_voxwire"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .current_dir(root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut relay_log = BufReader::new(relay.stderr.take().unwrap());
    let addr = common::announced_addr(&mut relay_log);
    // Keep reading: a relay whose stderr is closed dies on its next line.
    std::thread::spawn(move || std::io::copy(&mut relay_log, &mut std::io::sink()));
    (addr, KillOnDrop(relay))
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
    let (addr, _relay) = start_relay(root, &config);

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
                if Instant::now() >= deadline {
                    let seen = client
                        .execute(
                            "return document.querySelector('voxwire-speaker').innerHTML",
                            vec![],
                        )
                        .await
                        .unwrap();
                    panic!("timed out waiting for: {script}\nthe widget: {seen}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait("return window.voxwireReady === true").await;
    wait("return document.querySelector('#voice').options.length > 1").await;
    // Beside the build, wherever CARGO_TARGET_DIR puts it.
    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let text_of = |css: &'static str| {
        let client = client.clone();
        async move {
            let script = format!("return document.querySelector('{css}').textContent");
            let v = client.execute(&script, vec![]).await.unwrap();
            v.as_str().unwrap_or_default().to_string()
        }
    };
    let widget = || client.find(fantoccini::Locator::Css("voxwire-speaker"));
    let type_text = |words: &'static str| {
        let client = client.clone();
        async move {
            let text = client
                .find(fantoccini::Locator::Css("#text"))
                .await
                .unwrap();
            text.clear().await.unwrap();
            text.send_keys(words).await.unwrap();
        }
    };
    let click_speak = || {
        let client = client.clone();
        async move {
            let speak = client.find(fantoccini::Locator::Css("#speak")).await;
            speak.unwrap().click().await.unwrap();
        }
    };
    let shoot = |name: &'static str| {
        let shots = shots.clone();
        let widget = widget();
        async move {
            let png = widget.await.unwrap().screenshot().await.unwrap();
            let path = shots.join(format!("voxwire-widget-{name}.png"));
            std::fs::write(&path, png).unwrap();
            path
        }
    };

    // Idle: the endpoint is shown before anything is spoken.
    wait("return document.querySelector('#state').textContent === 'idle'").await;
    let endpoint = text_of("#endpoint").await;
    assert_eq!(endpoint, format!("ws://{addr}/v1/tts"));
    shoot("idle").await;

    // Speaking, started from the keyboard (Enter on the focused Speak button).
    type_text(SPOKEN).await;
    let speak = client
        .find(fantoccini::Locator::Css("#speak"))
        .await
        .unwrap();
    client
        .execute("document.querySelector('#speak').focus()", vec![])
        .await
        .unwrap();
    speak.send_keys("\u{E007}").await.unwrap();
    let clicked = Instant::now();
    wait("return document.querySelector('#state').textContent === 'speaking' && !!document.querySelector('#spoken mark')").await;
    // The second sentence is heard later: the first is highlighted now.
    let marked = text_of("#spoken mark").await;
    assert!(
        SPOKEN.starts_with(marked.trim_end()) || SPOKEN.contains(marked.trim()),
        "{marked}"
    );
    assert!(
        !marked.contains("Then a second"),
        "the first sentence is heard first: {marked}"
    );
    let level_seen = client
        .execute(
            "return new Promise(r => { let max = 0, n = 0; const t = setInterval(() => { max = Math.max(max, document.querySelector('#level').value); if (++n == 20) { clearInterval(t); r(max); } }, 25); })",
            vec![],
        )
        .await
        .unwrap();
    shoot("speaking").await;
    wait("return document.querySelector('#state').textContent === 'done'").await;
    // `done` comes when playback has ended, not when the last chunk arrived.
    let played = clicked.elapsed();
    let shown_stats = text_of("#stats").await;
    let provider = text_of("#provider").await;
    let stats = client
        .execute(
            "return document.querySelector('voxwire-speaker').speaker.stats()",
            vec![],
        )
        .await
        .unwrap();
    assert!(stats["chunks"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(
        level_seen.as_f64().unwrap_or(0.0) > 0.0,
        "the meter moved: {level_seen}"
    );
    // Stats are labelled and rounded (one decimal), not raw JSON.
    assert!(shown_stats.contains("First audio"), "{shown_stats}");
    assert!(!shown_stats.contains('{'), "{shown_stats}");
    let long_decimal = shown_stats
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|n| n.split('.').nth(1).is_some_and(|d| d.len() > 2));
    assert!(!long_decimal, "rounded: {shown_stats}");
    // Who speaks behind the relay comes from its `voxwire.provider` frame:
    // TIGHTEN AT MERGE to `provider == "espeak"` once the relay sends it.
    assert_eq!(provider, "espeak");
    let seconds = stats["bytes"].as_f64().unwrap() / 48_000.0;
    assert!(
        played.as_secs_f64() + 0.5 >= seconds,
        "done after {played:?} for {seconds:.2} s of audio"
    );
    assert_eq!(stats["underruns"].as_f64(), Some(0.0), "{stats}");
    let sound = stats["timeToFirstSoundMs"].as_f64().unwrap();
    let audio = stats["timeToFirstAudioMs"].as_f64().unwrap();
    let metrics = reqwest_free_get(&addr, "/metrics").await;
    let sum: f64 = metric(&metrics, "voxwire_first_audio_seconds_sum");
    let count: f64 = metric(&metrics, "voxwire_first_audio_seconds_count");

    // After a failover: the first endpoint refuses, the page moves to the relay.
    let dead = format!("ws://127.0.0.1:{}/v1/tts", free_port());
    let set_url = |urls: String| {
        let client = client.clone();
        async move {
            client
                .execute(
                    "document.querySelector('voxwire-speaker').setAttribute('url', arguments[0])",
                    vec![serde_json::Value::String(urls)],
                )
                .await
                .unwrap();
        }
    };
    set_url(format!("{dead} ws://{addr}/v1/tts")).await;
    assert_eq!(text_of("#endpoint").await, dead);
    click_speak().await;
    wait("return document.querySelector('#state').textContent === 'done'").await;
    // The visitor reads who took over, once, with no URL; the developer
    // finds the whole reason behind "Details".
    let notice = text_of("#notice-text").await;
    assert_eq!(
        notice,
        format!("Another server ({addr}) took over; speech goes on."),
        "{notice}"
    );
    let detail = text_of("#notice-detail").await;
    assert!(
        detail.starts_with(&format!("{dead} → ws://{addr}/v1/tts: "))
            && detail.len() > dead.len() + 40,
        "the whole reason: {detail}"
    );
    assert_eq!(text_of("#endpoint").await, format!("ws://{addr}/v1/tts"));
    shoot("failover").await;

    // After an error: the only endpoint refuses.
    set_url(dead.clone()).await;
    click_speak().await;
    wait("return document.querySelector('#state').textContent === 'error'").await;
    let error = text_of("#error").await;
    assert!(error.starts_with("Error (unavailable): "), "{error}");
    assert!(error.contains(&dead), "{error}");
    shoot("error").await;

    // Word by word: a relay whose upstream (the xAI mock) reports per-character
    // times; the widget marks the word being heard, not the whole sentence.
    let mock = MockXai::start(MockConfig::new().with_api_key("xai-browser-test-key")).await;
    let xai_config = dir.path().join("xai.toml");
    std::fs::write(
        &xai_config,
        format!(
            "[server]\nopen = true\n\n[[chain]]\nprovider = \"xai\"\napi_key = \"{}\"\nbase_url = \"{}\"\n",
            mock.api_key(),
            mock.base_url()
        ),
    )
    .unwrap();
    let (xai_addr, _xai_relay) = start_relay(root, &xai_config);
    set_url(format!("ws://{xai_addr}/v1/tts")).await;
    type_text(WORDS).await;
    click_speak().await;
    wait("const m = document.querySelector('#spoken mark'); return !!m && m.parentElement.classList.contains('now') && m.textContent.trim().length > 0").await;
    let word = text_of("#spoken mark").await;
    assert!(
        WORDS.split_whitespace().any(|w| w == word),
        "one whole word of the text is marked: `{word}`"
    );
    assert_eq!(text_of("#provider").await, "xai");
    shoot("words").await;
    wait("return document.querySelector('#state').textContent === 'done'").await;
    let asked = mock.requests();
    assert!(
        asked.iter().any(|r| r
            .query
            .as_deref()
            .is_some_and(|q| q.contains("with_timestamps=true"))),
        "the relay asked the mock for timestamps: {asked:?}"
    );

    // Phone width: nothing wider than the screen.
    client.set_window_size(375, 740).await.unwrap();
    let fits = client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits.as_bool(), Some(true), "the page fits 375 px");
    client.close().await.unwrap();

    assert_eq!(count, 2.0, "{metrics}");
    println!(
        "demo: browser time to first audio {audio:.1} ms, first sound {sound:.1} ms; relay mean time to first audio {:.1} ms over {count} utterances; screenshots {}/voxwire-widget-{{idle,speaking,failover,error,words}}.png",
        sum * 1000.0 / count,
        shots.display()
    );
}

/// Spoken through the xAI mock, whose per-character times mark each word.
const WORDS: &str = "Every word lights up while the mock voice speaks it aloud.";

/// Two sentences: the widget speaks them as two utterances.
const SPOKEN: &str = "Typed into the demo page, spoken by the relay, played by Web Audio. Then a second sentence follows it.";

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
