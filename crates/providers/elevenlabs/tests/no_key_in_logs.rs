//! The API key appears in no error and no log line, whatever the mock does.
//!
//! One test in its own binary: it installs a global TRACE-level subscriber
//! that writes into a buffer, provokes every failure the mock can script
//! over timed and raw answers, the voice list and the doctor, formats every
//! error with Display and Debug, and searches all of it for the key.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::{Secret, SynthesisRequest, TtsProvider};
use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings};
use voxwire_testkit::kit::{Fault, Stall};
use voxwire_testkit::mock_elevenlabs::{detail_error, quota_exceeded, MockElevenLabs, Switches};

const KEY: &str = "xi-LOGTEST-d41d8cd98f00b204e9800998ecf8427e";

fn faults() -> Vec<Fault> {
    vec![
        Fault::None,
        quota_exceeded(),
        detail_error(401, "invalid_api_key", "Invalid API key"),
        detail_error(404, "voice_not_found", "no voice"),
        detail_error(429, "system_busy", "busy"),
        Fault::reject(500, "boom"),
        Fault::error_frame("server error"),
        Fault::drop_after(64),
        Fault::stall_before_audio(Stall::Forever),
        Fault::ZeroAudio,
        Fault::BadJson,
        Fault::BadBase64,
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_in_no_error_and_no_log_line() {
    let logs = voxwire_testkit::assert::LogCapture::install();
    let mut seen = Vec::new();
    let m = MockElevenLabs::start_with(KEY, Switches::default()).await;
    for key in [KEY, "xi-wrong-but-also-secret"] {
        for fault in faults() {
            m.set_fault(fault.clone());
            for timestamps in [true, false] {
                let p = ElevenLabsProvider::new(ElevenLabsSettings {
                    api_key: Some(Secret::new(key)),
                    base_url: Some(m.base_url()),
                    timestamps,
                    first_audio_timeout_ms: 300,
                    inactivity_timeout_ms: 300,
                    ..ElevenLabsSettings::default()
                })
                .unwrap();
                seen.push(format!("{p:?} {}", p.describe()));
                let run = async {
                    let mut stream = p
                        .synthesize(SynthesisRequest::new("Keep it secret."))
                        .await?;
                    while let Some(chunk) = stream.next().await {
                        chunk?;
                    }
                    Ok::<_, voxwire_core::TtsError>(())
                };
                if let Err(e) = tokio::time::timeout(Duration::from_secs(20), run)
                    .await
                    .unwrap()
                {
                    seen.push(format!("{e} {e:?}"));
                }
                match p.voices().await {
                    Ok(v) => seen.push(format!("{v:?}")),
                    Err(e) => seen.push(format!("{e} {e:?}")),
                }
            }
        }
        m.set_fault(Fault::None);
        let p = ElevenLabsProvider::new(ElevenLabsSettings {
            api_key: Some(Secret::new(key)),
            base_url: Some(m.base_url()),
            ..ElevenLabsSettings::default()
        })
        .unwrap();
        seen.push(format!("{:?}", p.diagnose().await));
    }
    let all = format!("{}\n{}", seen.join("\n"), logs.text());
    assert!(
        seen.len() > 40,
        "the faults produced errors: {}",
        seen.len()
    );
    assert!(
        logs.text().contains("TRACE") || logs.text().contains("DEBUG"),
        "the subscriber captured logs"
    );
    assert!(!all.contains(KEY), "the key leaked");
    assert!(
        !all.contains("xi-wrong-but-also-secret"),
        "a rejected key leaked"
    );
    assert!(!all.contains("d41d8cd98f00b204"), "part of the key leaked");
    m.shutdown().await;
}
