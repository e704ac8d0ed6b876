//! A one-shot request whose stream is dropped while the vendor is silent (a
//! hedge that lost, a caller that gave up) is stopped at once: `text.clear`
//! reaches the mock long before the first-audio deadline, not at the
//! vendor's next message, which a stalled vendor never sends.

use std::time::Duration;

use voxwire_core::{AudioFormat, SynthesisRequest, TtsProvider};
use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai, Stall};
use voxwire_xai::{Transport, XaiProvider, XaiSettings};

const KEY: &str = "xai-test-SECRET-dropped-0123";

#[tokio::test]
async fn a_dropped_request_sends_text_clear_while_the_vendor_is_silent() {
    let mock = MockXai::start(
        MockConfig::new()
            .with_api_key(KEY)
            .with_faults(FaultPlan::always(Fault::stall_before_audio(Stall::Forever))),
    )
    .await;
    let provider = XaiProvider::new(XaiSettings {
        api_key: Some(voxwire_core::Secret::new(KEY)),
        base_url: Some(mock.base_url()),
        transport: Transport::Websocket,
        first_audio_timeout_ms: 60_000,
        ..XaiSettings::default()
    })
    .unwrap();
    let stream = provider
        .synthesize(
            SynthesisRequest::new("Never spoken, then given up on.")
                .format(AudioFormat::pcm16_mono(24_000)),
        )
        .await
        .unwrap();
    // The request is on the wire: the mock has its text.
    let sent = |needle: &str| {
        mock.requests()
            .iter()
            .any(|r| format!("{r:?}").contains(needle))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !sent("given up on") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never reached the mock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stream);
    // Far inside the 60 s first-audio deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !sent("text.clear") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no text.clear within 5 s of the drop: {:?}",
            mock.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
