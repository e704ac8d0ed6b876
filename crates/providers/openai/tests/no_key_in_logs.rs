//! The API key appears in no error and no log line, whatever the mock does.
//!
//! One test in its own binary: it installs a global TRACE-level subscriber
//! that writes into a buffer, provokes every failure the mock can script
//! over raw audio and SSE, a session and the doctor, formats every error with
//! Display and Debug, and searches all of it for the key.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::session::StreamConfig;
use voxwire_core::{Secret, SynthesisRequest, TtsProvider};
use voxwire_openai::{OpenAiProvider, OpenAiSettings, StreamFormat};
use voxwire_testkit::kit::{Fault, Stall};
use voxwire_testkit::mock_openai::{quota_exhausted, rate_limited, MockOpenAi, Switches};

const KEY: &str = "sk-LOGTEST-d41d8cd98f00b204e9800998ecf8427e";

fn faults() -> Vec<Fault> {
    vec![
        Fault::None,
        Fault::reject(401, "unauthorized"),
        Fault::reject(403, "forbidden"),
        Fault::reject(404, "not found"),
        Fault::reject(400, "bad request"),
        rate_limited(1),
        quota_exhausted(),
        Fault::reject(500, "boom"),
        Fault::error_frame("server error"),
        Fault::error_frame_in_error_field("rate limit"),
        Fault::close_after(64),
        Fault::drop_after(64),
        Fault::stall_before_audio(Stall::Forever),
        Fault::stall_after(64, Stall::Forever),
        Fault::ZeroAudio,
        Fault::BadJson,
        Fault::BadBase64,
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_in_no_error_and_no_log_line() {
    let logs = voxwire_testkit::assert::LogCapture::install();
    let mut seen = Vec::new();
    let m = MockOpenAi::start_with(KEY, Switches::default()).await;
    for fault in faults() {
        m.set_fault(fault.clone());
        for stream_format in [StreamFormat::Audio, StreamFormat::Sse] {
            let p = OpenAiProvider::new(OpenAiSettings {
                api_key: Some(Secret::new(KEY)),
                base_url: Some(m.base_url()),
                stream_format,
                first_audio_timeout_ms: 300,
                inactivity_timeout_ms: 300,
                ..OpenAiSettings::default()
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
        }
    }
    // A session and the doctor, with a rejected key and a healthy one.
    for key in [KEY, "sk-wrong-but-also-secret"] {
        m.set_fault(Fault::None);
        let p = OpenAiProvider::new(OpenAiSettings {
            api_key: Some(Secret::new(key)),
            base_url: Some(m.base_url()),
            ..OpenAiSettings::default()
        })
        .unwrap();
        let mut session = p.stream(StreamConfig::default()).await.unwrap();
        // With the wrong key the session may end before `finish`: its error is read below.
        let _ = session.push_text("One. Two.").await;
        let _ = session.finish().await;
        while let Some(event) = tokio::time::timeout(Duration::from_secs(20), session.next_event())
            .await
            .unwrap()
        {
            if let Err(e) = event {
                seen.push(format!("{e} {e:?}"));
            }
        }
        seen.push(format!("{:?}", p.diagnose().await));
    }
    // A connection refused names the URL (never the key).
    let url = m.base_url();
    m.shutdown().await;
    let p = OpenAiProvider::new(OpenAiSettings {
        api_key: Some(Secret::new(KEY)),
        base_url: Some(url),
        ..OpenAiSettings::default()
    })
    .unwrap();
    if let Err(e) = p.synthesize(SynthesisRequest::new("x")).await {
        seen.push(format!("{e} {e:?}"));
    }

    let all = format!("{}\n{}", seen.join("\n"), logs.text());
    assert!(
        seen.len() > 30,
        "the faults produced errors: {}",
        seen.len()
    );
    assert!(
        logs.text().contains("TRACE") || logs.text().contains("DEBUG"),
        "the subscriber captured logs"
    );
    assert!(!all.contains(KEY), "the key leaked");
    assert!(
        !all.contains("sk-wrong-but-also-secret"),
        "a rejected key leaked"
    );
    assert!(!all.contains("d41d8cd98f00b204"), "part of the key leaked");
}
