//! Incremental sessions on shared sockets: each utterance is a context of
//! its own, taken when its first text arrives and given back at its end, so
//! a quiet session holds no slot.
//!
//! Utterances are spoken in order: text and flushes that arrive while one
//! is in flight wait in a bounded local queue ([`MAX_QUEUED`] items: then
//! input is not read, so the caller's pushes wait — backpressure, nothing
//! dropped — while a cancel is still heard). A cancel drops the contexts
//! (the socket task stops them on the wire and drops their late audio) and
//! is acknowledged at once, even while the session waits for a slot (the
//! wait, and any send, stops as the caller cancels). A session whose caller
//! drops it stops too, at once, even mid-wait: it never takes a slot
//! nobody would hear.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;
use voxwire_core::session::{DriverInput, SessionDriver, SessionEvent};
use voxwire_core::{AudioFormat, Result, TtsError};

use super::speak::worth_resending;
use super::{Opening, Slot};
use crate::chunker::Chunker;
use crate::dialect::{Decoded, Dialect, Voicing};
use crate::driver::Inner;
use crate::errors;

/// Text characters that may wait for the utterance in flight.
const MAX_QUEUED_CHARS: usize = 100_000;

/// Texts and flushes that may wait for the utterance in flight: with this
/// many queued, no more input is read (the caller's pushes wait) until the
/// utterance ends; a cancel is still heard.
const MAX_QUEUED: usize = 256;

enum Queued {
    Text(String),
    Flush(u64),
}

/// The utterance being written: its context and the text sent so far.
struct Open {
    slot: Slot,
    text: String,
    last_sent: Instant,
}

/// The utterance being spoken.
struct InFlight {
    id: u64,
    slot: Slot,
    text: String,
    chunker: Chunker,
    resent: bool,
}

struct Task<D: Dialect> {
    inner: Arc<Inner<D>>,
    voicing: Voicing,
    target: AudioFormat,
    open: Option<Open>,
    sequence: u64,
}

impl<D: Dialect> Task<D> {
    async fn send_text(&mut self, text: String) -> Result<()> {
        let d = &self.inner.dialect;
        match &mut self.open {
            Some(open) => {
                open.slot
                    .send(d.texts(&self.voicing, open.slot.context(), &text))
                    .await?;
                open.text.push_str(&text);
                open.last_sent = Instant::now();
            }
            None => {
                let slot = self
                    .inner
                    .open_context(
                        &self.voicing,
                        |c| Opening {
                            texts: d.texts(&self.voicing, c, &text),
                            flush: Vec::new(),
                        },
                        false,
                    )
                    .await?;
                self.open = Some(Open {
                    slot,
                    text,
                    last_sent: Instant::now(),
                });
            }
        }
        Ok(())
    }

    /// Ends the open utterance; `None` when it had no text (done at once).
    async fn flush(&mut self, id: u64) -> Result<Option<InFlight>> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        if open.text.trim().is_empty() {
            return Ok(None); // dropping the slot closes the empty context
        }
        let d = &self.inner.dialect;
        open.slot
            .flush(d.flush(&self.voicing, open.slot.context()))
            .await?;
        let mut chunker =
            Chunker::new(d.provider(), self.voicing.wire, self.target, self.sequence)?;
        chunker.set_text(&open.text);
        Ok(Some(InFlight {
            id,
            slot: open.slot,
            text: open.text,
            chunker,
            resent: false,
        }))
    }

    /// Sends the in-flight utterance again on a fresh socket.
    async fn resend(&self, flight: &mut InFlight) -> Result<()> {
        let d = &self.inner.dialect;
        let v = &self.voicing;
        let text = flight.text.clone();
        flight.slot = self
            .inner
            .open_context(
                v,
                |c| Opening {
                    texts: d.texts(v, c, &text),
                    flush: d.flush(v, c),
                },
                true,
            )
            .await?;
        flight.resent = true;
        Ok(())
    }
}

/// Runs `work` unless the caller cancels or drops the session first:
/// `None` then, and the loop reads the cancel next (or ends, for a session
/// nobody hears any more).
async fn unless_cancelled<T>(driver: &SessionDriver, work: impl Future<Output = T>) -> Option<T> {
    let watch = driver.unseen_cancel_watch();
    tokio::select! {
        biased;
        () = watch.cancelled() => None,
        () = watch.abandoned() => None,
        out = work => Some(out),
    }
}

async fn next_of(
    flight: &mut Option<InFlight>,
    inner_limits: (std::time::Duration, std::time::Duration),
) -> Result<Decoded> {
    match flight {
        Some(f) => {
            let (limit, what) = if f.chunker.got_audio() {
                (inner_limits.1, "no more audio")
            } else {
                (inner_limits.0, "no audio")
            };
            f.slot.next(limit, what).await
        }
        None => std::future::pending().await,
    }
}

pub(crate) async fn run<D: Dialect>(
    inner: Arc<Inner<D>>,
    mut driver: SessionDriver,
    voicing: Voicing,
    target: AudioFormat,
) {
    let secret = inner.settings.secret.clone();
    let limits = (
        inner.settings.first_audio_timeout,
        inner.settings.inactivity_timeout,
    );
    let mut t = Task {
        inner: inner.clone(),
        voicing,
        target,
        open: None,
        sequence: 0,
    };
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut queued_chars = 0usize;
    let mut in_flight: Option<InFlight> = None;
    let mut input_open = true;

    loop {
        if driver.unseen_cancel_watch().is_abandoned() {
            // Nobody hears the session any more: dropping the slots stops the vendor.
            return;
        }
        // Queued input goes out once nothing is in flight.
        while in_flight.is_none() {
            let Some(item) = queue.pop_front() else { break };
            match item {
                Queued::Text(text) => {
                    queued_chars = queued_chars.saturating_sub(text.chars().count());
                    match unless_cancelled(&driver, t.send_text(text)).await {
                        Some(Ok(())) => {}
                        Some(Err(e)) => return driver.fail(e.scrub(&secret)).await,
                        None => break,
                    }
                }
                Queued::Flush(id) => match unless_cancelled(&driver, t.flush(id)).await {
                    None => break,
                    Some(Ok(Some(f))) => in_flight = Some(f),
                    Some(Ok(None)) => {
                        if driver
                            .emit(SessionEvent::UtteranceDone { id })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Some(Err(e)) => return driver.fail(e.scrub(&secret)).await,
                },
            }
        }
        if !input_open && in_flight.is_none() && queue.is_empty() {
            return; // an open, never flushed utterance is dropped (and closed) with `t`
        }
        let keep_alive = t.open.as_ref().and_then(|o| {
            let (every, message) = inner.dialect.context_keep_alive(o.slot.context())?;
            Some((o.last_sent + every, message))
        });
        let keep_alive_due = keep_alive.as_ref().map(|(at, _)| *at);
        let full = queue.len() >= MAX_QUEUED;
        // Behind a full queue only a cancel is listened for (it is read next, once the queue is emptied).
        let watch = driver.unseen_cancel_watch();
        tokio::select! {
            // Nobody hears the session any more: dropping the slots stops the vendor.
            () = watch.abandoned() => return,
            () = watch.cancelled(), if input_open && full => {
                queue.clear();
                queued_chars = 0;
                in_flight = None;
                t.open = None;
            }
            input = driver.next_input(), if input_open && !full => match input {
                // The caller dropped the session: dropping the slots stops the vendor.
                None => return,
                Some(DriverInput::Finish) => input_open = false,
                Some(DriverInput::Cancel { generation }) => {
                    queue.clear();
                    queued_chars = 0;
                    in_flight = None;
                    t.open = None;
                    if driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                        return;
                    }
                }
                Some(DriverInput::Text(text)) if in_flight.is_some() => {
                    queued_chars += text.chars().count();
                    if queued_chars > MAX_QUEUED_CHARS {
                        return driver
                            .fail(TtsError::invalid_input(
                                "over 100 000 characters queued behind the utterance in flight",
                            ))
                            .await;
                    }
                    queue.push_back(Queued::Text(text));
                }
                Some(DriverInput::Flush { id }) if in_flight.is_some() => queue.push_back(Queued::Flush(id)),
                Some(DriverInput::Text(text)) => {
                    if let Some(Err(e)) = unless_cancelled(&driver, t.send_text(text)).await {
                        return driver.fail(e.scrub(&secret)).await;
                    }
                }
                Some(DriverInput::Flush { id }) => match unless_cancelled(&driver, t.flush(id)).await {
                    None => {}
                    Some(Ok(Some(f))) => in_flight = Some(f),
                    Some(Ok(None)) => {
                        let gone = driver.emit(SessionEvent::UtteranceDone { id }).await.is_err();
                        if gone {
                            return;
                        }
                    }
                    Some(Err(e)) => return driver.fail(e.scrub(&secret)).await,
                },
            },
            () = super::socket::sleep_until(keep_alive_due), if keep_alive_due.is_some() => {
                if let (Some(open), Some((_, message))) = (t.open.as_mut(), keep_alive) {
                    if let Err(e) = open.slot.send(vec![message]).await {
                        return driver.fail(e.scrub(&secret)).await;
                    }
                    open.last_sent = Instant::now();
                }
            }
            decoded = next_of(&mut in_flight, limits) => {
                let Some(flight) = in_flight.as_mut() else { continue };
                match decoded {
                    Err(e) if !flight.resent && worth_resending(&e, &flight.slot, flight.chunker.got_audio()) => {
                        tracing::debug!(endpoint = flight.slot.endpoint(), error = %e, "a reused shared socket closed before the first audio: sent again on a fresh one");
                        match unless_cancelled(&driver, t.resend(flight)).await {
                            Some(Ok(())) => {}
                            Some(Err(e)) => return driver.fail(e.scrub(&secret)).await,
                            // Cancelled mid-resend: the cancel that follows clears it.
                            None => in_flight = None,
                        }
                    }
                    Err(e) | Ok(Decoded::Error { error: e, .. }) => return driver.fail(e.scrub(&secret)).await,
                    Ok(Decoded::Audio { data, timing, .. }) => {
                        if let Some(timing) = timing {
                            flight.chunker.timing(timing);
                        }
                        if data.is_empty() {
                            continue;
                        }
                        match flight.chunker.push(data) {
                            Ok(Some(chunk)) => {
                                t.sequence = flight.chunker.next_sequence();
                                if driver.emit(SessionEvent::Audio(chunk)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => return driver.fail(e).await,
                        }
                    }
                    Ok(Decoded::Done { .. }) => {
                        let Some(mut flight) = in_flight.take() else { continue };
                        match flight.chunker.finish(flight.slot.endpoint()) {
                            Ok(Some(chunk)) => {
                                if driver.emit(SessionEvent::Audio(chunk)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => return driver.fail(e).await,
                        }
                        t.sequence = flight.chunker.next_sequence();
                        if driver.emit(SessionEvent::UtteranceDone { id: flight.id }).await.is_err() {
                            return;
                        }
                    }
                    Ok(Decoded::Cleared { .. }) => {
                        let e = errors::protocol(
                            inner.dialect.provider(),
                            flight.slot.endpoint(),
                            "a clear acknowledged that was never asked for",
                        );
                        return driver.fail(e).await;
                    }
                    Ok(Decoded::Skip) => {}
                }
            }
        }
    }
}
