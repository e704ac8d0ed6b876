//! The API key appears in no error and no log line, whatever the mock does.
//!
//! One test in its own binary: it installs a global TRACE-level subscriber
//! that writes into a buffer, provokes every failure the Deepgram mock can
//! script over both transports, a session and the doctor, formats every
//! error with Display and Debug, and searches all of it for the key.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::{Secret, SynthesisRequest, TtsProvider};
use voxwire_deepgram::{DeepgramProvider, DeepgramSettings, Transport};
use voxwire_testkit::kit::fault::{Fault, Stall};
use voxwire_testkit::mock_deepgram::{base_url, dg_reject, DeepgramConfig, DgFault, MockDeepgram};

const KEY: &str = "dg-LOGTEST-9e107d9d372bb6826bd81d3542a419d6";

fn kit_faults() -> Vec<Fault> {
    vec![
        Fault::None,
        dg_reject(401, "INVALID_AUTH", "Invalid credentials."),
        dg_reject(402, "PAYMENT_REQUIRED", "out of credits"),
        dg_reject(403, "INSUFFICIENT_PERMISSIONS", "no"),
        dg_reject(404, "NOT_FOUND", "no"),
        dg_reject(429, "TOO_MANY_REQUESTS", "slow"),
        dg_reject(503, "SERVICE_UNAVAILABLE", "down"),
        Fault::close_after(100),
        Fault::stall_before_audio(Stall::Forever),
    ]
}

fn utterance_faults() -> Vec<DgFault> {
    vec![
        DgFault::Silent,
        DgFault::NoFlushed,
        DgFault::WarningNoFlushed,
        DgFault::ZeroAudio,
        DgFault::close(1011, "NET-0000", 100),
        DgFault::close(1008, "DATA-0001", 0),
        DgFault::close(1009, "BIG-0001", 0),
        DgFault::Drop { after_bytes: 100 },
        DgFault::error_frame(401, "bad key"),
        DgFault::TextFirst("not json".into()),
    ]
}

async fn run(p: &DeepgramProvider, errors: &mut Vec<String>) {
    let go = async {
        let mut stream = p
            .synthesize(SynthesisRequest::new("Keep it secret."))
            .await?;
        while let Some(chunk) = stream.next().await {
            chunk?;
        }
        Ok::<_, voxwire_core::TtsError>(())
    };
    if let Err(e) = tokio::time::timeout(Duration::from_secs(20), go)
        .await
        .unwrap()
    {
        errors.push(format!("{e} {e:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_in_no_error_and_no_log_line() {
    let logs = voxwire_testkit::assert::LogCapture::install();
    let mut errors = Vec::new();
    let m = MockDeepgram::start(DeepgramConfig {
        api_key: KEY.into(),
        ..DeepgramConfig::default()
    })
    .await
    .unwrap();
    let settings = |transport| DeepgramSettings {
        api_key: Some(Secret::new(KEY)),
        base_url: Some(base_url(&m)),
        transport,
        first_audio_timeout_ms: 300,
        inactivity_timeout_ms: 300,
        ..DeepgramSettings::default()
    };
    for transport in [Transport::Websocket, Transport::Rest] {
        let p = DeepgramProvider::new(settings(transport)).unwrap();
        errors.push(format!("{p:?}"));
        for fault in kit_faults() {
            m.kit().set_fault(fault);
            run(&p, &mut errors).await;
        }
        m.kit().set_fault(Fault::None);
        for fault in utterance_faults() {
            m.dialect().script([fault]);
            run(&p, &mut errors).await;
        }
        let report = tokio::time::timeout(Duration::from_secs(20), p.diagnose())
            .await
            .unwrap();
        errors.push(format!("{report:?}"));
    }
    // A wrong key (it must not show either), and a session.
    let wrong = "dg-WRONG-0123456789abcdef";
    let bad = DeepgramProvider::new(DeepgramSettings {
        api_key: Some(Secret::new(wrong)),
        ..settings(Transport::Websocket)
    })
    .unwrap();
    run(&bad, &mut errors).await;
    let p = DeepgramProvider::new(settings(Transport::Websocket)).unwrap();
    m.dialect().script([DgFault::close(1011, "NET-0000", 10)]);
    let mut session = p.stream(Default::default()).await.unwrap();
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
    errors.push(format!("{:?}", m.kit().requests()));

    let logs = logs.text();
    assert!(!logs.is_empty(), "the subscriber captured nothing");
    for (i, line) in logs.lines().enumerate() {
        assert!(!line.contains(KEY), "log line {i} holds the key: {line}");
        assert!(
            !line.contains(wrong),
            "log line {i} holds the wrong key: {line}"
        );
    }
    assert!(
        errors.len() > 20,
        "too few errors provoked: {}",
        errors.len()
    );
    for e in &errors {
        assert!(!e.contains(KEY), "the key leaked: {e}");
        assert!(!e.contains(wrong), "the wrong key leaked: {e}");
    }
}
