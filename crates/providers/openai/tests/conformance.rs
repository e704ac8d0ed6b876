//! voxwire-openai and its mock pass the testkit's conformance suite (no
//! socket: sessions speak sentence by sentence over HTTP, here as SSE).

use std::sync::Arc;

use voxwire_core::{AudioFormat, Secret};
use voxwire_openai::{OpenAiProvider, OpenAiSettings, StreamFormat};
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::{Fault, Kit, Stall};
use voxwire_testkit::mock_openai::{quota_exhausted, rate_limited, MockOpenAi, Switches};

struct OpenAi;

/// OpenAI's own failure-table rows, replayed by the key-leak check.
fn vendor_fault(n: usize) -> Fault {
    [
        quota_exhausted(),
        Fault::error_frame("server error"),
        Fault::error_frame_in_error_field("rate limit"),
        Fault::close_after(64),
        Fault::drop_after(64),
        Fault::BadJson,
        Fault::BadBase64,
    ][n]
        .clone()
}

impl Conformance for OpenAi {
    type Mock = MockOpenAi;
    const PROVIDER: &'static str = "openai";
    const KEY: &'static str = "sk-CONFORMANCE-d41d8cd98f00b204e9800998ecf8427e";
    const PATHS: &'static [Path] = &[Path::Rest, Path::Session];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);
    /// The model speaks whatever language the text is in.
    const MISSING_LANGUAGE: Option<&'static str> = None;
    const UNKNOWN_VOICE: &'static str = "af_bella";
    const VENDOR_FAULTS: usize = 7;

    async fn start(scenario: Scenario) -> MockOpenAi {
        let mock =
            MockOpenAi::start_with(scenario.accepted_key(Self::KEY), Switches::default()).await;
        let fault = match scenario {
            Scenario::Healthy
            | Scenario::WrongKey
            | Scenario::Slow
            | Scenario::CloseSocketsAfter(_) => Fault::None,
            Scenario::Reject(429) => rate_limited(1),
            Scenario::Reject(status) => Fault::reject(status, "refused"),
            Scenario::SilentBeforeAudio => Fault::stall_before_audio(Stall::Forever),
            Scenario::StallAfterAudio => Fault::stall_after(64, Stall::Forever),
            Scenario::ZeroAudio => Fault::ZeroAudio,
            Scenario::Vendor(n) => vendor_fault(n),
        };
        mock.set_fault(fault);
        mock
    }

    fn kit(mock: &MockOpenAi) -> &Kit {
        mock.kit()
    }

    /// `synthesize` asks for raw audio; sessions ask for SSE, so the suite
    /// reads both of OpenAI's stream formats.
    fn provider(mock: &MockOpenAi, path: Path, deadlines: Deadlines) -> Arc<dyn ProviderUnderTest> {
        let provider = OpenAiProvider::new(OpenAiSettings {
            stream_format: match path {
                Path::Session => StreamFormat::Sse,
                Path::Rest | Path::Socket => StreamFormat::Audio,
            },
            api_key: Some(Secret::new(Self::KEY)),
            base_url: Some(mock.base_url()),
            first_audio_timeout_ms: deadlines.first_audio_ms,
            inactivity_timeout_ms: deadlines.inactivity_ms,
            ..OpenAiSettings::default()
        })
        .expect("provider");
        Arc::new(provider)
    }
}

voxwire_testkit::conformance_suite!(OpenAi);
