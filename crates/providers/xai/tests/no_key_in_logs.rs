//! The API key appears in no error and no log line, whatever the mock does.
//!
//! One test in its own binary: it installs a global TRACE-level subscriber
//! (bridging the `log` crate, which tungstenite uses) that writes into a
//! buffer, provokes every failure the mock can script over both transports
//! and a session, formats every error with Display and Debug, and searches
//! all of it for the key.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::{Secret, SynthesisRequest, TtsProvider};
use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai, Stall};
use voxwire_xai::{Transport, XaiProvider, XaiSettings};

const KEY: &str = "xai-LOGTEST-d41d8cd98f00b204e9800998ecf8427e";

fn faults() -> Vec<Fault> {
    vec![
        Fault::None,
        Fault::reject(401, "unauthorized"),
        Fault::reject(403, "forbidden"),
        Fault::reject(404, "not found"),
        Fault::reject(400, "bad request"),
        Fault::rate_limited(1),
        Fault::reject(500, "boom"),
        Fault::websocket_forbidden(),
        Fault::error_frame("invalid api key"),
        Fault::error_frame_in_error_field("rate limit"),
        Fault::close_after(64),
        Fault::drop_after(64),
        Fault::stall_before_audio(Stall::Forever),
        Fault::stall_after(64, Stall::Forever),
        Fault::ZeroAudio,
        Fault::BadJson,
        Fault::BadBase64,
        Fault::BinaryFrame,
        Fault::ConnectionDeadline(Duration::from_millis(30)),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_in_no_error_and_no_log_line() {
    let logs = voxwire_testkit::assert::LogCapture::install();

    let mut errors = Vec::new();
    for fault in faults() {
        let m = MockXai::start(
            MockConfig::new()
                .with_api_key(KEY)
                .with_chunk_size(256)
                .with_faults(FaultPlan::always(fault.clone())),
        )
        .await;
        for transport in [Transport::Websocket, Transport::Rest] {
            let p = XaiProvider::new(XaiSettings {
                api_key: Some(Secret::new(KEY)),
                base_url: Some(m.base_url()),
                transport,
                first_audio_timeout_ms: 300,
                inactivity_timeout_ms: 300,
                ..XaiSettings::default()
            })
            .unwrap();
            errors.push(format!("{p:?}"));
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
                errors.push(format!("{e} {e:?}"));
            }
        }
        // A session too, and the doctor's report.
        let p = XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(m.base_url()),
            first_audio_timeout_ms: 300,
            inactivity_timeout_ms: 300,
            ..XaiSettings::default()
        })
        .unwrap();
        match p.stream(Default::default()).await {
            Ok(mut session) => {
                let _ = session.push_text("Keep it secret.").await;
                let _ = session.flush().await;
                let _ = session.finish().await;
                while let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_secs(20), session.next_event()).await
                {
                    if let Err(e) = ev {
                        errors.push(format!("{e} {e:?}"));
                    }
                }
            }
            Err(e) => errors.push(format!("{e} {e:?}")),
        }
        let report = tokio::time::timeout(Duration::from_secs(20), p.diagnose())
            .await
            .unwrap();
        errors.push(format!("{report:?}"));
        errors.push(format!("{:?}", m.requests()));
    }

    let logs = logs.text();
    assert!(!logs.is_empty(), "the subscriber captured nothing");
    for (i, line) in logs.lines().enumerate() {
        assert!(!line.contains(KEY), "log line {i} holds the key: {line}");
    }
    assert!(
        errors.len() > 50,
        "too few errors provoked: {}",
        errors.len()
    );
    for e in &errors {
        assert!(!e.contains(KEY), "the key leaked: {e}");
    }
}
