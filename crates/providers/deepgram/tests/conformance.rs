//! voxwire-deepgram and its mock pass the testkit's conformance suite.

use std::sync::Arc;
use std::time::Duration;

use voxwire_core::AudioFormat;
use voxwire_deepgram::{DeepgramProvider, DeepgramSettings, Transport};
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::fault::{Fault, Stall};
use voxwire_testkit::kit::{Kit, Mock};
use voxwire_testkit::mock_deepgram::{
    base_url, dg_error_frame, dg_reject, dg_warning_instead_of_flushed, DeepgramConfig,
    MockDeepgram,
};

struct Deepgram;

/// Utterances a scripted socket fault covers (each path's, the doctor's).
const REPEAT: usize = 16;

/// Deepgram's own failure-table rows, replayed by the key-leak check: the
/// socket's (scripted per utterance) or the HTTP answer's (the plan).
fn vendor_fault(n: usize) -> (Fault, Option<Fault>) {
    let socket = [
        dg_warning_instead_of_flushed(),
        Fault::close_with(1011, "NET-0000", 100),
        Fault::close_with(1008, "DATA-0001", 0),
        Fault::close_with(1009, "BIG-0001", 0),
        Fault::drop_after(100),
        dg_error_frame(401, "bad key"),
        Fault::InjectText("not json".into()),
    ];
    match n {
        0 => (dg_reject(402, "PAYMENT_REQUIRED", "out of credits"), None),
        1 => (Fault::close_after(100), None),
        n => (Fault::None, Some(socket[n - 2].clone())),
    }
}

impl Conformance for Deepgram {
    type Mock = Mock<MockDeepgram>;
    const PROVIDER: &'static str = "deepgram";
    const KEY: &'static str = "dg-CONFORMANCE-9e107d9d372bb6826bd81d3542a419d6";
    const PATHS: &'static [Path] = &[Path::Socket, Path::Rest, Path::Session];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);
    const MISSING_LANGUAGE: Option<&'static str> = Some("tlh");
    const UNKNOWN_VOICE: &'static str = "aura-luna-en";
    const VENDOR_FAULTS: usize = 9;

    async fn start(scenario: Scenario) -> Mock<MockDeepgram> {
        let mut config = DeepgramConfig {
            api_key: scenario.accepted_key(Self::KEY).to_string(),
            ..DeepgramConfig::default()
        };
        let (fault, socket) = match scenario {
            Scenario::Healthy | Scenario::WrongKey => (Fault::None, None),
            Scenario::Reject(status) => (dg_reject(status, "REFUSED", "refused"), None),
            // The plan's stalls and zero audio act on the socket and REST alike.
            Scenario::SilentBeforeAudio => (Fault::stall_before_audio(Stall::Forever), None),
            Scenario::StallAfterAudio => (Fault::stall_after(100, Stall::Forever), None),
            Scenario::ZeroAudio => (Fault::ZeroAudio, None),
            Scenario::Slow => {
                config.frame_delay = Duration::from_millis(2);
                config.frame_bytes = 481;
                (Fault::None, None)
            }
            Scenario::CloseSocketsAfter(idle) => {
                config.idle_timeout = Some(idle);
                (Fault::None, None)
            }
            Scenario::Vendor(n) => vendor_fault(n),
        };
        let mock = MockDeepgram::start(config).await.expect("mock starts");
        mock.kit().set_fault(fault);
        if let Some(socket) = socket {
            mock.script_utterances(std::iter::repeat_n(socket, REPEAT));
        }
        mock
    }

    fn kit(mock: &Mock<MockDeepgram>) -> &Kit {
        mock.kit()
    }

    fn provider(
        mock: &Mock<MockDeepgram>,
        path: Path,
        deadlines: Deadlines,
    ) -> Arc<dyn ProviderUnderTest> {
        let settings = voxwire_testkit::conformance_settings!(
            DeepgramSettings,
            Transport,
            Self::KEY,
            base_url(mock),
            path,
            deadlines
        );
        let provider = DeepgramProvider::new(settings).expect("provider");
        Arc::new(provider)
    }
}

voxwire_testkit::conformance_suite!(Deepgram);
