//! Incremental sessions over the WebSocket: text deltas go out as they come.
//!
//! One utterance is in flight at a time (the protocol is sequential): text and
//! flushes that arrive while an utterance is being spoken wait in a local,
//! bounded queue. A cancel sends `text.clear`, drops the queue, and waits for
//! `audio.clear` before acknowledging with `Cleared`.

use std::collections::VecDeque;
use std::sync::Arc;

use voxwire_core::session::{DriverInput, SessionDriver, SessionEvent};
use voxwire_core::{AudioFormat, TtsError};

use crate::chunker::Chunker;
use crate::protocol::ClientMessage;
use crate::settings::Resolved;
use crate::ws::{Conn, WireEvent};

/// Text characters that may wait for the utterance in flight.
const MAX_QUEUED_CHARS: usize = 100_000;

enum Queued {
    Text(String),
    Flush(u64),
}

pub(crate) struct SessionTask {
    pub conn: Conn,
    pub driver: SessionDriver,
    pub resolved: Arc<Resolved>,
    pub wire: AudioFormat,
    pub target: AudioFormat,
}

struct InFlight {
    id: u64,
    chunker: Chunker,
}

impl SessionTask {
    pub async fn run(self) {
        let SessionTask {
            mut conn,
            mut driver,
            resolved,
            wire,
            target,
        } = self;
        let mut queue: VecDeque<Queued> = VecDeque::new();
        let mut queued_chars = 0usize;
        let mut text_open = String::new(); // sent since the last text.done / text.clear
        let mut in_flight: Option<InFlight> = None;
        let mut clearing: Option<u64> = None;
        let mut input_open = true;
        let mut sequence = 0u64;

        loop {
            // Nothing left to do once input is closed and the server is idle.
            if !input_open && in_flight.is_none() && clearing.is_none() && queue.is_empty() {
                conn.close().await;
                return;
            }
            let server_busy = in_flight.is_some() || clearing.is_some();
            let limit = match &in_flight {
                Some(f) if f.chunker.got_audio() => resolved.inactivity_timeout,
                _ => resolved.first_audio_timeout,
            };
            tokio::select! {
                input = driver.next_input(), if input_open => {
                    match input {
                        None | Some(DriverInput::Finish) => input_open = false,
                        Some(DriverInput::Cancel { generation }) => {
                            queue.clear();
                            queued_chars = 0;
                            if server_busy || !text_open.is_empty() {
                                if let Err(e) = conn.send(&ClientMessage::TextClear).await {
                                    return driver.fail(e).await;
                                }
                                text_open.clear();
                                in_flight = None;
                                clearing = Some(generation);
                            } else if driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                                return;
                            }
                        }
                        Some(DriverInput::Text(text)) if server_busy => {
                            queued_chars += text.chars().count();
                            if queued_chars > MAX_QUEUED_CHARS {
                                return driver.fail(TtsError::invalid_input(
                                    "over 100 000 characters queued behind the utterance in flight",
                                )).await;
                            }
                            queue.push_back(Queued::Text(text));
                        }
                        Some(DriverInput::Flush { id }) if server_busy => queue.push_back(Queued::Flush(id)),
                        Some(DriverInput::Text(text)) => {
                            if let Err(e) = send_text(&mut conn, &mut text_open, text).await {
                                return driver.fail(e).await;
                            }
                        }
                        Some(DriverInput::Flush { id }) => {
                            match start_utterance(&mut conn, &mut text_open, id, wire, target, sequence).await {
                                Ok(Some(f)) => in_flight = Some(f),
                                Ok(None) => if driver.emit(SessionEvent::UtteranceDone { id }).await.is_err() { return },
                                Err(e) => return driver.fail(e).await,
                            }
                        }
                    }
                }
                event = conn.next_event(limit, "no audio"), if server_busy => {
                    let event = match event {
                        Ok(ev) => ev,
                        Err(e) => return driver.fail(e.scrub(&resolved.key)).await,
                    };
                    match (event, clearing, in_flight.as_mut()) {
                        (WireEvent::Cleared, Some(generation), _) => {
                            clearing = None;
                            if driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                                return;
                            }
                        }
                        (_, Some(_), _) => {} // audio from before the clear
                        (WireEvent::Audio { data, timestamp_chars }, None, Some(flight)) => {
                            if timestamp_chars > 0 {
                                flight.chunker.covered_chars(timestamp_chars);
                            }
                            match flight.chunker.push(data) {
                                Ok(Some(chunk)) => {
                                    sequence = flight.chunker.next_sequence();
                                    if driver.emit(SessionEvent::Audio(chunk)).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(None) => {}
                                Err(e) => return driver.fail(e).await,
                            }
                        }
                        (WireEvent::Done, None, Some(_)) => {
                            let Some(mut flight) = in_flight.take() else { continue };
                            match flight.chunker.finish(&conn.endpoint) {
                                Ok(Some(chunk)) => {
                                    if driver.emit(SessionEvent::Audio(chunk)).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(None) => {}
                                Err(e) => return driver.fail(e).await,
                            }
                            sequence = flight.chunker.next_sequence();
                            if driver.emit(SessionEvent::UtteranceDone { id: flight.id }).await.is_err() {
                                return;
                            }
                        }
                        (other, None, _) => {
                            return driver.fail(crate::errors::protocol(
                                &conn.endpoint,
                                format!("unexpected {other:?} with no utterance in flight"),
                            )).await;
                        }
                    }
                }
            }
            // The server is idle again: replay what waited, up to the next flush.
            while in_flight.is_none() && clearing.is_none() {
                let Some(item) = queue.pop_front() else { break };
                let result = match item {
                    Queued::Text(text) => {
                        queued_chars = queued_chars.saturating_sub(text.chars().count());
                        send_text(&mut conn, &mut text_open, text)
                            .await
                            .map(|()| None)
                    }
                    Queued::Flush(id) => {
                        match start_utterance(&mut conn, &mut text_open, id, wire, target, sequence)
                            .await
                        {
                            Ok(Some(f)) => Ok(Some(f)),
                            Ok(None) => {
                                if driver
                                    .emit(SessionEvent::UtteranceDone { id })
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                                Ok(None)
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                match result {
                    Ok(Some(f)) => in_flight = Some(f),
                    Ok(None) => {}
                    Err(e) => return driver.fail(e).await,
                }
            }
        }
    }
}

async fn send_text(
    conn: &mut Conn,
    text_open: &mut String,
    text: String,
) -> voxwire_core::Result<()> {
    conn.send(&ClientMessage::TextDelta {
        delta: text.clone(),
    })
    .await?;
    text_open.push_str(&text);
    Ok(())
}

/// Sends `text.done` for the text sent so far; `None` when there was no text.
async fn start_utterance(
    conn: &mut Conn,
    text_open: &mut String,
    id: u64,
    wire: AudioFormat,
    target: AudioFormat,
    sequence: u64,
) -> voxwire_core::Result<Option<InFlight>> {
    if text_open.trim().is_empty() {
        text_open.clear();
        return Ok(None);
    }
    conn.send(&ClientMessage::TextDone).await?;
    let mut chunker = Chunker::new(wire, target, sequence)?;
    chunker.set_text(text_open);
    text_open.clear();
    Ok(Some(InFlight { id, chunker }))
}
