//! voxwire-elevenlabs and its mock pass the testkit's conformance suite
//! over each of its paths: streamed REST (with the vendor's timed lines),
//! the multi-context socket, and sessions on that socket.

use std::sync::Arc;

use voxwire_core::{AudioFormat, Secret};
use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings};
use voxwire_testkit::conformance::{Conformance, Deadlines, Path, ProviderUnderTest, Scenario};
use voxwire_testkit::kit::{Fault, Kit, Stall};
use voxwire_testkit::mock_elevenlabs::{
    detail_error, quota_exceeded, MockElevenLabs, Switches, UNLISTED_VOICE,
};
use voxwire_transport::settings::Transport;

struct ElevenLabs;

/// ElevenLabs' own failure-table rows, replayed by the key-leak check.
fn vendor_fault(n: usize) -> Fault {
    [
        quota_exceeded(),
        detail_error(401, "invalid_api_key", "Invalid API key"),
        detail_error(404, "voice_not_found", "no voice"),
        detail_error(429, "system_busy", "busy"),
        Fault::error_frame("server error"),
        Fault::drop_after(64),
        Fault::BadJson,
        Fault::BadBase64,
    ][n]
        .clone()
}

impl Conformance for ElevenLabs {
    type Mock = MockElevenLabs;
    const PROVIDER: &'static str = "elevenlabs";
    const KEY: &'static str = "xi-CONFORMANCE-d41d8cd98f00b204e9800998ecf8427e";
    const PATHS: &'static [Path] = &[Path::Rest, Path::Socket, Path::Session];
    const FORMAT: AudioFormat = AudioFormat::pcm16_mono(24_000);
    /// Not one of the model's languages.
    const MISSING_LANGUAGE: Option<&'static str> = Some("tlh");
    const UNKNOWN_VOICE: &'static str = UNLISTED_VOICE;
    const VENDOR_FAULTS: usize = 8;

    async fn start(scenario: Scenario) -> MockElevenLabs {
        let mut switches = Switches::default();
        if let Scenario::CloseSocketsAfter(after) = scenario {
            // The vendor closes a socket that heard nothing for so long.
            switches.socket_inactivity = after;
        }
        let mock = MockElevenLabs::start_with(scenario.accepted_key(Self::KEY), switches).await;
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
        mock.set_fault(fault);
        mock
    }

    fn kit(mock: &MockElevenLabs) -> &Kit {
        mock.kit()
    }

    /// `synthesize` asks for timed lines, sessions for raw audio, so the
    /// suite reads both of the vendor's answers.
    fn provider(
        mock: &MockElevenLabs,
        path: Path,
        deadlines: Deadlines,
    ) -> Arc<dyn ProviderUnderTest> {
        let provider = ElevenLabsProvider::new(ElevenLabsSettings {
            timestamps: path != Path::Session,
            transport: if path == Path::Rest {
                Transport::Rest
            } else {
                Transport::Websocket
            },
            api_key: Some(Secret::new(Self::KEY)),
            base_url: Some(mock.base_url()),
            first_audio_timeout_ms: deadlines.first_audio_ms,
            inactivity_timeout_ms: deadlines.inactivity_ms,
            ..ElevenLabsSettings::default()
        })
        .expect("provider");
        Arc::new(provider)
    }
}

voxwire_testkit::conformance_suite!(ElevenLabs);
