//! Failover the listener does not hear twice, end to end (issue 31): LiveKit's
//! own xAI plugin streams a six-sentence reply as word tokens into the relay,
//! whose chain is two xAI entries on two mock servers; the primary is killed
//! mid-reply. The audio the plugin received is read back character by
//! character (each character of the mock's audio is a tone of its own):
//! every word is heard, in order, and what is heard twice is at most the
//! pause and the part of the one word being heard when the primary died
//! (the relay's router asks both entries for word times and resumes the
//! backup at that word).

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use voxwire_core::{Secret, TtsProvider};
use voxwire_router::{Entry, Policy, Router, RouterSettings};
use voxwire_testkit::mock_xai::{expected_audio, Fault, FaultPlan, MockConfig, MockXai};
use voxwire_testkit::python;
use voxwire_xai::{XaiProvider, XaiSettings};

/// Six sentences, 283 characters: the issue's measurement.
const REPLY: &str = "Thanks for calling Acme support, this is Ava speaking today. \
Your order shipped this morning from our warehouse in Denver. \
It should arrive at your door by Thursday afternoon. \
Would you like me to text you the tracking number now? \
I can also send it by email if that is easier for you. \
Is there anything else I can help you with?";

/// LiveKit's plugin streams `REPLY` word by word; prints the audio it got.
const SCRIPT: &str = r#"
import asyncio, base64, json, sys
import aiohttp
from livekit.plugins import xai

url, key, text = sys.argv[1], sys.argv[2], sys.argv[3]

async def main():
    xai.tts.XAI_WEBSOCKET_URL = url
    audio = bytearray()
    async with aiohttp.ClientSession() as http:
        tts = xai.TTS(api_key=key, voice="eve", http_session=http)
        stream = tts.stream()
        words = text.split(" ")
        for i, word in enumerate(words):
            stream.push_text(word if i == len(words) - 1 else word + " ")
        stream.flush()
        stream.end_input()
        async for ev in stream:
            audio += bytes(ev.frame.data)
        await tts.aclose()
    print(json.dumps({"audio": base64.b64encode(bytes(audio)).decode()}))

asyncio.run(asyncio.wait_for(main(), 90))
"#;

/// Each character of `alphabet` as the first character (in code point order)
/// with the same tone: a few characters share one (`n` and `.` do), so text
/// is compared in these terms.
fn canonical(text: &str, alphabet: &str) -> String {
    let mut chars: Vec<char> = alphabet.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    let tone = |c: char| expected_audio(&c.to_string(), pcm());
    text.chars()
        .map(|c| {
            let mine = tone(c);
            chars
                .iter()
                .copied()
                .find(|o| tone(*o) == mine)
                .unwrap_or(c)
        })
        .collect()
}

/// The characters `audio` speaks, read against the mock's tone of each
/// character of `alphabet` (see [`canonical`]). Where the audio matches no
/// tone (a tone cut off by the failure), reading resumes at the next place
/// one matches.
fn heard(audio: &[u8], alphabet: &str) -> String {
    let tones: Vec<(char, Vec<u8>)> = {
        let mut chars: Vec<char> = alphabet.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        chars
            .into_iter()
            .map(|c| (c, expected_audio(&c.to_string(), pcm())))
            .collect()
    };
    let width = tones[0].1.len();
    let at = |pos: usize| {
        audio
            .get(pos..pos + width)
            .and_then(|window| tones.iter().find(|(_, tone)| tone == window))
            .map(|(c, _)| *c)
    };
    let mut out = String::new();
    let mut pos = 0;
    while pos + width <= audio.len() {
        match at(pos) {
            Some(c) => {
                out.push(c);
                pos += width;
            }
            // Samples are 2 bytes: resynchronise sample by sample.
            None => pos += 2,
        }
    }
    out
}

/// Where each sentence of `text` starts (byte offsets).
fn sentence_starts(text: &str) -> Vec<usize> {
    voxwire_core::segment::sentences(text)
        .into_iter()
        .map(|r| r.start)
        .collect()
}

/// Whether `heard` is `text` with at most one stretch repeated, and that
/// stretch inside one sentence: `text[..k] + text[j..]` with `j <= k` and
/// `text[j..k]` within the sentence holding it. Returns the repeat.
fn at_most_one_sentence_repeated(text: &str, heard: &str) -> Option<String> {
    if heard == text {
        return Some(String::new());
    }
    let starts = sentence_starts(text);
    let extra = heard.len().checked_sub(text.len())?;
    // heard = text[..k] + text[k - extra..]
    (extra..=text.len())
        .filter(|k| text.is_char_boundary(*k) && text.is_char_boundary(k - extra))
        .find(|&k| {
            let j = k - extra;
            let same_sentence =
                starts.iter().filter(|s| **s <= j).max() == starts.iter().filter(|s| **s < k).max();
            same_sentence && heard == format!("{}{}", &text[..k], &text[j..])
        })
        .map(|k| text[k - extra..k].to_string())
}

fn xai(mock: &MockXai) -> Arc<dyn TtsProvider> {
    Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(UPSTREAM_KEY)),
            base_url: Some(mock.base_url()),
            ..XaiSettings::default()
        })
        .unwrap(),
    )
}

#[tokio::test]
async fn livekit_hears_every_word_and_at_most_part_of_one_twice_when_the_primary_dies_mid_reply() {
    if python::interpreter().is_none() {
        return; // no venv outside the test command
    }
    // Audio paced at about five times real time: 4096 bytes (85 ms) every 17 ms.
    let paced = || {
        MockConfig::new()
            .with_api_key(UPSTREAM_KEY)
            .with_faults(FaultPlan::always(Fault::SlowDrip(Duration::from_millis(
                17,
            ))))
    };
    let primary = MockXai::start(paced()).await;
    let backup = MockXai::start(paced()).await;
    let policy = Policy {
        max_retries: 0,
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        ..Policy::default()
    };
    let router = Router::with_entries(
        vec![
            Entry::new(xai(&primary), policy.clone()).named("primary"),
            Entry::new(xai(&backup), policy).named("backup"),
        ],
        RouterSettings::default(),
    )
    .unwrap();
    let relay = start(router, token_settings()).await;
    let url = format!("ws://{}/v1/tts", relay.addr);
    let client = tokio::task::spawn_blocking(move || {
        python::run_script(SCRIPT, &[&url, SERVER_TOKEN, REPLY], &[])
    });
    // Kill the primary (its server and every socket on it) once the relay
    // has handed on 2.4 s of its audio.
    let mut primary = Some(primary);
    let killed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let metrics = metrics_of(relay.addr).await;
            let sent = sample(&metrics, "voxwire_audio_seconds_total{entry=\"primary\"} ");
            if sent.unwrap_or(0.0) >= 2.4 {
                primary.take();
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let output = client.await.unwrap().expect("the venv's interpreter");
    killed.expect("the primary spoke 2.4 s");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "LiveKit's plugin failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let audio = base64::engine::general_purpose::STANDARD
        .decode(v["audio"].as_str().unwrap())
        .unwrap();
    let text = heard(&audio, REPLY);
    let text = text.trim_end(); // LiveKit pads its last frame with silence
    let reply = canonical(REPLY, REPLY);
    let repeat = at_most_one_sentence_repeated(&reply, text).unwrap_or_else(|| {
        panic!("heard:\n{text}\nwanted (at most one sentence repeated):\n{reply}")
    });
    let metrics = metrics_of(relay.addr).await;
    assert!(
        metrics.contains("voxwire_failovers_total{entry=\"primary\""),
        "the primary died mid-reply: {metrics}"
    );
    eprintln!(
        "repeated {} characters ({:.2} s of audio): {repeat:?}",
        repeat.chars().count(),
        repeat.chars().count() as f64 * 0.060
    );
    assert!(
        !repeat.trim_start().contains(char::is_whitespace),
        "at most the pause and part of one word is heard twice: {repeat:?}"
    );
    drop(backup);
}
