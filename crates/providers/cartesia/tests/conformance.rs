//! voxwire-cartesia and its mock pass the testkit's conformance suite
//! (REST only in this step: sessions speak sentence by sentence over HTTP).

use std::sync::Arc;

use voxwire_cartesia::{CartesiaProvider, CartesiaSettings};
use voxwire_core::{AudioFormat, Secret};
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::{Fault, Kit, Stall};
use voxwire_testkit::mock_cartesia::{error_fault, ErrorShape, MockCartesia, UNLISTED_VOICE};

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
    const PATHS: &'static [Path] = &[Path::Rest, Path::Session];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);
    /// Not one of sonic-3's languages.
    const MISSING_LANGUAGE: Option<&'static str> = Some("tlh");
    const UNKNOWN_VOICE: &'static str = UNLISTED_VOICE;
    const VENDOR_FAULTS: usize = 6;

    async fn start(scenario: Scenario) -> MockCartesia {
        let mock = MockCartesia::start_with(scenario.accepted_key(Self::KEY)).await;
        let fault = match scenario {
            Scenario::Healthy
            | Scenario::WrongKey
            | Scenario::Slow
            | Scenario::CloseSocketsAfter(_) => Fault::None,
            Scenario::Reject(status) => Fault::reject(status, "refused"),
            Scenario::SilentBeforeAudio => Fault::stall_before_audio(Stall::Forever),
            Scenario::StallAfterAudio => Fault::stall_after(64, Stall::Forever),
            Scenario::ZeroAudio => Fault::ZeroAudio,
            Scenario::Vendor(n) => vendor_fault(n),
        };
        mock.kit().set_fault(fault);
        mock
    }

    fn kit(mock: &MockCartesia) -> &Kit {
        mock.kit()
    }

    fn provider(mock: &MockCartesia, _: Path, deadlines: Deadlines) -> Arc<dyn ProviderUnderTest> {
        let provider = CartesiaProvider::new(CartesiaSettings {
            api_key: Some(Secret::new(Self::KEY)),
            base_url: Some(mock.base_url()),
            first_audio_timeout_ms: deadlines.first_audio_ms,
            inactivity_timeout_ms: deadlines.inactivity_ms,
            ..CartesiaSettings::default()
        })
        .expect("provider");
        Arc::new(provider)
    }
}

voxwire_testkit::conformance_suite!(Cartesia);
