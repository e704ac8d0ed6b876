//! voxwire-xai and its mock pass the testkit's conformance suite.

use std::sync::Arc;
use std::time::Duration;

use voxwire_core::AudioFormat;
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::Kit;
use voxwire_testkit::mock_xai::{Fault, FaultPlan, MockConfig, MockXai, Stall};
use voxwire_xai::{Transport, XaiProvider, XaiSettings};

struct Xai;

/// xAI's own failure-table rows, replayed by the key-leak check.
fn vendor_fault(n: usize) -> Fault {
    [
        Fault::websocket_forbidden(),
        Fault::error_frame("invalid api key"),
        Fault::error_frame_in_error_field("rate limit"),
        Fault::close_after(64),
        Fault::drop_after(64),
        Fault::BadJson,
        Fault::BadBase64,
        Fault::BinaryFrame,
        Fault::ConnectionDeadline(Duration::from_millis(30)),
    ][n]
        .clone()
}

impl Conformance for Xai {
    type Mock = MockXai;
    const PROVIDER: &'static str = "xai";
    const KEY: &'static str = "xai-CONFORMANCE-d41d8cd98f00b204e9800998ecf8427e";
    const PATHS: &'static [Path] = &[Path::Socket, Path::Rest, Path::Session];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);
    /// A tag xAI lacks is sent as `auto` (xAI detects the language).
    const MISSING_LANGUAGE: Option<&'static str> = None;
    const UNKNOWN_VOICE: &'static str = "nova-unlisted";
    const VENDOR_FAULTS: usize = 9;

    async fn start(scenario: Scenario) -> MockXai {
        let config = MockConfig::new()
            .with_api_key(scenario.accepted_key(Self::KEY))
            .with_chunk_size(256)
            .with_voice(Self::UNKNOWN_VOICE, "Unlisted");
        let fault = match scenario {
            Scenario::Healthy | Scenario::WrongKey => Fault::None,
            Scenario::Reject(429) => Fault::rate_limited(1),
            Scenario::Reject(status) => Fault::reject(status, "refused"),
            Scenario::SilentBeforeAudio => Fault::stall_before_audio(Stall::Forever),
            Scenario::StallAfterAudio => Fault::stall_after(256, Stall::Forever),
            Scenario::ZeroAudio => Fault::ZeroAudio,
            // One slow connection, for the barge-in.
            Scenario::Slow => {
                let slow = Fault::SlowDrip(Duration::from_millis(2));
                return MockXai::start(config.with_faults(FaultPlan::script(vec![slow]))).await;
            }
            Scenario::CloseSocketsAfter(age) => {
                return MockXai::start(config.with_max_connection_age(age)).await
            }
            Scenario::Vendor(n) => vendor_fault(n),
        };
        MockXai::start(config.with_faults(FaultPlan::always(fault))).await
    }

    fn kit(mock: &MockXai) -> &Kit {
        mock.kit()
    }

    fn provider(mock: &MockXai, path: Path, deadlines: Deadlines) -> Arc<dyn ProviderUnderTest> {
        let settings = voxwire_testkit::conformance_settings!(
            XaiSettings,
            Transport,
            Self::KEY,
            mock.base_url(),
            path,
            deadlines
        );
        let provider = XaiProvider::new(settings).expect("provider");
        Arc::new(provider)
    }
}

voxwire_testkit::conformance_suite!(Xai);
