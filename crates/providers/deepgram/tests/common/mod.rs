//! What the Deepgram tests share: a mock, a provider pointed at it, bounded waits.
#![allow(dead_code)]

use voxwire_core::session::{SessionEvent, SynthesisSession};
use voxwire_core::{AudioFormat, Secret, SynthesisRequest, TtsError};
use voxwire_deepgram::{DeepgramProvider, DeepgramSettings};
use voxwire_testkit::kit::Mock;
use voxwire_testkit::mock_deepgram::{base_url, DeepgramConfig, MockDeepgram, DEFAULT_API_KEY};

/// The key the mock accepts.
pub const KEY: &str = DEFAULT_API_KEY;

/// The bound on every test step, and the suite's bounded wait and synthesis.
#[allow(unused_imports)] // not every test binary uses every one
pub use voxwire_testkit::conformance::{bounded, speak, STEP};

/// A mock with `config`.
pub async fn mock(config: DeepgramConfig) -> Mock<MockDeepgram> {
    MockDeepgram::start(config).await.expect("mock starts")
}

/// Settings pointed at `mock` with short deadlines.
pub fn settings(mock: &Mock<MockDeepgram>) -> DeepgramSettings {
    DeepgramSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(base_url(mock)),
        first_audio_timeout_ms: 1_000,
        inactivity_timeout_ms: 1_000,
        connect_timeout_ms: 2_000,
        ..DeepgramSettings::default()
    }
}

/// A provider pointed at `mock`.
pub fn provider(mock: &Mock<MockDeepgram>) -> DeepgramProvider {
    DeepgramProvider::new(settings(mock)).expect("provider")
}

/// A request for `text` in `format`.
pub fn request(text: &str, format: AudioFormat) -> SynthesisRequest {
    let mut r = SynthesisRequest::new(text);
    r.format = Some(format);
    r
}

/// Session events until `UtteranceDone { id }` (audio bytes, and every event), or the error.
pub async fn until_done(
    session: &mut SynthesisSession,
    id: u64,
) -> Result<(Vec<u8>, Vec<SessionEvent>), TtsError> {
    bounded("session events", async {
        let mut audio = Vec::new();
        let mut events = Vec::new();
        loop {
            match session.next_event().await {
                Some(Ok(SessionEvent::Audio(chunk))) => {
                    audio.extend_from_slice(&chunk.data);
                    events.push(SessionEvent::Audio(chunk));
                }
                Some(Ok(SessionEvent::UtteranceDone { id: done })) if done == id => {
                    events.push(SessionEvent::UtteranceDone { id: done });
                    return Ok((audio, events));
                }
                Some(Ok(other)) => events.push(other),
                Some(Err(e)) => return Err(e),
                None => panic!("the session ended before utterance {id} was done"),
            }
        }
    })
    .await
}
