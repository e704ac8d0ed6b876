//! voxwire-cartesia and its mock pass the testkit's conformance suite over
//! REST, the shared socket and sessions on it.

use std::sync::Arc;

use std::time::Duration;

use voxwire_cartesia::{CartesiaProvider, CartesiaSettings, Transport};
use voxwire_core::AudioFormat;
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::{Fault, Kit, Stall};
use voxwire_testkit::mock_cartesia::{
    error_fault, ErrorShape, MockCartesia, WsConfig, UNLISTED_VOICE,
};

struct Cartesia;

/// Cartesia's own failure-table rows, replayed by the key-leak check.
fn vendor_fault(n: usize) -> Fault {
    [
        error_fault(
            401,
            ErrorShape::Titled,
            "invalid_api_key",
            "Invalid API key",
        ),
        error_fault(401, ErrorShape::Plain, "", "Invalid API key"),
        error_fault(
            404,
            ErrorShape::Titled,
            "voice_not_found",
            "Voice x not found",
        ),
        error_fault(429, ErrorShape::Plain, "", "Concurrency limit exceeded"),
        Fault::error_frame("server error"),
        Fault::drop_after(64),
    ][n]
        .clone()
}

impl Conformance for Cartesia {
    type Mock = MockCartesia;
    const PROVIDER: &'static str = "cartesia";
    const KEY: &'static str = "sk_car_CONFORMANCE-d41d8cd98f00b204e9800998ecf8427e";
    const PATHS: &'static [Path] = &[Path::Socket, Path::Rest, Path::Session];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);
    /// Not one of sonic-3's languages.
    const MISSING_LANGUAGE: Option<&'static str> = Some("tlh");
    const UNKNOWN_VOICE: &'static str = UNLISTED_VOICE;
    const VENDOR_FAULTS: usize = 6;

    async fn start(scenario: Scenario) -> MockCartesia {
        let key = scenario.accepted_key(Self::KEY);
        let fault = match scenario {
            Scenario::Healthy | Scenario::WrongKey => Fault::None,
            // A slow socket, for the barge-in.
            Scenario::Slow => Fault::SlowDrip(Duration::from_millis(5)),
            Scenario::CloseSocketsAfter(age) => {
                let ws = WsConfig {
                    idle_close: age,
                    ..WsConfig::default()
                };
                return MockCartesia::start_socket(key, ws).await;
            }
            Scenario::Reject(status) => Fault::reject(status, "refused"),
            Scenario::SilentBeforeAudio => Fault::stall_before_audio(Stall::Forever),
            Scenario::StallAfterAudio => Fault::stall_after(64, Stall::Forever),
            Scenario::ZeroAudio => Fault::ZeroAudio,
            Scenario::Vendor(n) => vendor_fault(n),
        };
        let mock = MockCartesia::start_with(key).await;
        mock.kit().set_fault(fault);
        mock
    }

    fn kit(mock: &MockCartesia) -> &Kit {
        mock.kit()
    }

    fn provider(
        mock: &MockCartesia,
        path: Path,
        deadlines: Deadlines,
    ) -> Arc<dyn ProviderUnderTest> {
        let settings = voxwire_testkit::conformance_settings!(
            CartesiaSettings,
            Transport,
            Self::KEY,
            mock.base_url(),
            path,
            deadlines
        );
        let provider = CartesiaProvider::new(settings).expect("provider");
        Arc::new(provider)
    }
}

voxwire_testkit::conformance_suite!(Cartesia);
