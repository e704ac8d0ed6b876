//! Assertions and capture helpers shared by the crates' integration tests.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use voxwire_core::session::{SessionEvent, SynthesisSession};
use voxwire_core::TextSpan;

/// Barge-in as a caller does it: waits (up to `limit`) for the first audio of
/// what was flushed, cancels, and waits for the matching `Cleared`. Returns how
/// long the cancel took to be acknowledged; panics on any other event but a
/// router's `Serving` notice before the audio.
pub async fn cancel_after_first_audio(session: &mut SynthesisSession, limit: Duration) -> Duration {
    loop {
        match tokio::time::timeout(limit, session.next_event()).await {
            Ok(Some(Ok(SessionEvent::Audio(_)))) => break,
            Ok(Some(Ok(SessionEvent::Serving { .. }))) => continue,
            other => panic!("expected the first audio, got {other:?}"),
        }
    }
    let started = Instant::now();
    let generation = session.cancel();
    match tokio::time::timeout(limit, session.next_event()).await {
        Ok(Some(Ok(SessionEvent::Cleared { generation: g }))) => assert_eq!(g, generation),
        other => panic!("expected Cleared {{ generation: {generation} }}, got {other:?}"),
    }
    started.elapsed()
}

/// Asserts that chunk spans cover `text` from start to end, contiguously, in
/// more than one piece, on character boundaries.
pub fn assert_spans_cover(text: &str, spans: &[TextSpan]) {
    assert!(spans.len() > 1, "too few spans: {spans:?}");
    assert_eq!(spans[0].start, 0, "{spans:?}");
    for pair in spans.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "contiguous: {spans:?}");
    }
    assert_eq!(spans[spans.len() - 1].end, text.len(), "{spans:?}");
    assert!(
        spans
            .iter()
            .all(|s| text.is_char_boundary(s.start) && text.is_char_boundary(s.end)),
        "{spans:?}"
    );
}

/// Everything a tracing subscriber writes, kept in memory so a test can search it.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs a global TRACE-level subscriber (with the `log` bridge) writing
    /// here. Call once per test binary.
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("the only subscriber in this test binary");
        capture
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
