//! The session of a vendor with no streaming input (REST and SSE only):
//! text is cut into sentences as they complete (the router's segmenter), each
//! spoken with its own request, in order; cancel drops the request in flight
//! (closing its connection) and everything queued.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use voxwire_core::segment::IncrementalSegmenter;
use voxwire_core::session::{
    self, DriverInput, SessionDriver, SessionEvent, StreamConfig, SynthesisSession,
};
use voxwire_core::{AudioChunk, AudioStream, Result, TtsProvider};

/// A session speaking each sentence of its text with its own
/// `provider.synthesize`; the task it runs on ends with the session.
pub fn session<P: TtsProvider + Clone + 'static>(
    provider: P,
    config: StreamConfig,
) -> Result<SynthesisSession> {
    if let Some(f) = &config.format {
        f.validate()?;
    }
    let (session, driver) = session::channel(session::DEFAULT_QUEUE_CAPACITY);
    // Owned by the session: it ends when the caller finishes or drops it.
    tokio::spawn(run(provider, driver, config));
    Ok(session)
}

/// What the session speaks next.
enum Queued {
    Sentence(String),
    Done(u64),
}

type Opening = Pin<Box<dyn Future<Output = Result<AudioStream>> + Send>>;

/// The request in flight: being opened, or streaming.
enum InFlight {
    Idle,
    Opening(Opening),
    Streaming(AudioStream),
}

enum Step {
    Opened(Result<AudioStream>),
    Chunk(Option<Result<AudioChunk>>),
}

async fn advance(flight: &mut InFlight) -> Step {
    match flight {
        InFlight::Idle => std::future::pending().await,
        InFlight::Opening(f) => Step::Opened(f.await),
        InFlight::Streaming(s) => Step::Chunk(s.next().await),
    }
}

async fn run<P: TtsProvider + Clone + 'static>(
    provider: P,
    mut driver: SessionDriver,
    config: StreamConfig,
) {
    let mut segmenter = IncrementalSegmenter::new();
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut flight = InFlight::Idle;
    let mut watch = driver.cancel_watch();
    let mut sequence = 0u64;
    let mut input_open = true;
    loop {
        while matches!(flight, InFlight::Idle) {
            match queue.pop_front() {
                Some(Queued::Sentence(text)) if text.trim().is_empty() => {}
                Some(Queued::Sentence(text)) => {
                    let p = provider.clone();
                    let request = config.request(text);
                    watch = driver.cancel_watch();
                    flight =
                        InFlight::Opening(Box::pin(async move { p.synthesize(request).await }));
                }
                Some(Queued::Done(id)) => {
                    if driver
                        .emit(SessionEvent::UtteranceDone { id })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                None if !input_open => return,
                None => break,
            }
        }
        tokio::select! {
            input = driver.next_input(), if input_open => match input {
                None => input_open = false,
                Some(DriverInput::Text(text)) => {
                    for s in segmenter.push(&text) {
                        queue.push_back(Queued::Sentence(s));
                    }
                }
                Some(DriverInput::Flush { id }) => {
                    flush(&mut segmenter, &mut queue);
                    queue.push_back(Queued::Done(id));
                }
                Some(DriverInput::Finish) => {
                    flush(&mut segmenter, &mut queue);
                    input_open = false;
                }
                Some(DriverInput::Cancel { generation }) => {
                    flight = InFlight::Idle; // drops the request: its connection closes
                    queue.clear();
                    segmenter = IncrementalSegmenter::new();
                    if driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                        return;
                    }
                }
            },
            step = advance(&mut flight) => match step {
                Step::Opened(Ok(stream)) => flight = InFlight::Streaming(stream),
                Step::Opened(Err(e)) | Step::Chunk(Some(Err(e))) => return driver.fail(e).await,
                Step::Chunk(None) => flight = InFlight::Idle,
                Step::Chunk(Some(Ok(mut chunk))) => {
                    chunk.sequence = sequence;
                    sequence += 1;
                    match driver.emit_unless_cancelled(SessionEvent::Audio(chunk), &watch).await {
                        Ok(true) => {}
                        Ok(false) => flight = InFlight::Idle, // the Cancel input comes next
                        Err(session::Closed) => return,
                    }
                }
            },
        }
    }
}

/// The end of an utterance: what the segmenter holds, cut into sentences.
fn flush(segmenter: &mut IncrementalSegmenter, queue: &mut VecDeque<Queued>) {
    if let Some(rest) = segmenter.flush() {
        for range in voxwire_core::segment::sentences(&rest) {
            queue.push_back(Queued::Sentence(rest[range].to_string()));
        }
    }
}
