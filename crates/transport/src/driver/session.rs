//! Incremental sessions: text goes out as it comes, one utterance at a time.
//!
//! Text and flushes that arrive while an utterance is being spoken wait in a
//! local, bounded queue. A cancel follows the dialect's [`CancelPlan`]:
//! clear and wait for the acknowledgement (audio until then is dropped),
//! clear without one, or reconnect. When the caller finishes or drops the
//! session, a clean socket goes back to the pool.

use std::collections::VecDeque;
use std::sync::Arc;

use voxwire_core::session::{DriverInput, SessionDriver, SessionEvent};
use voxwire_core::{AudioFormat, Result, TtsError};

use super::utterance::{cancel_and_pool, ours, read_decoded, send_all};
use super::Inner;
use crate::chunker::Chunker;
use crate::connect::WsConn;
use crate::dialect::{CancelPlan, Decoded, Dialect, Voicing};
use crate::errors;

/// Text characters that may wait for the utterance in flight.
const MAX_QUEUED_CHARS: usize = 100_000;

enum Queued {
    Text(String),
    Flush(u64),
}

struct InFlight {
    /// The caller's flush ids this utterance answers (more than one when merged).
    ids: Vec<u64>,
    context: String,
    chunker: Chunker,
}

/// What ending the open utterance did.
enum Ended {
    /// A flush went out; the utterance is in flight.
    Sent(Box<InFlight>),
    /// There was no text: these flush ids are done at once.
    Empty(Vec<u64>),
}

struct Task<D: Dialect> {
    inner: Arc<Inner<D>>,
    conn: Option<WsConn>,
    state: D::State,
    voicing: Voicing,
    target: AudioFormat,
    /// The open (not yet flushed) utterance: its context and the text sent.
    open: Option<(String, String)>,
    sequence: u64,
    /// Flush ids merged into the open utterance (the flush limit had no room for them).
    merged: Vec<u64>,
}

impl<D: Dialect> Task<D> {
    async fn conn(&mut self) -> Result<&mut WsConn> {
        if self.conn.is_none() {
            self.conn = Some(self.inner.open(&self.voicing).await?);
            self.state = D::State::default();
        }
        self.conn
            .as_mut()
            .ok_or_else(|| TtsError::new(voxwire_core::ErrorKind::Unavailable, "no connection"))
    }

    async fn send_text(&mut self, text: String) -> Result<()> {
        // A new utterance on a socket that sat idle: the vendor may have
        // closed it meanwhile (an idle timeout); then it goes on a fresh one.
        if self.open.is_none() && self.conn.as_mut().is_some_and(|c| !c.drain_idle()) {
            tracing::debug!("the session's socket closed while idle: reconnecting");
            self.conn = None;
        }
        let (context, begin) = match &self.open {
            Some((c, _)) => (c.clone(), Vec::new()),
            None => {
                let c = self.inner.next_context();
                let begin = self.inner.dialect.begin(&self.voicing, &c);
                (c, begin)
            }
        };
        let messages = self.inner.dialect.texts(&self.voicing, &context, &text);
        let inner = self.inner.clone();
        let conn = self.conn().await?;
        send_all(&inner, conn, begin).await?;
        send_all(&inner, conn, messages).await?;
        let open = self.open.get_or_insert_with(|| (context, String::new()));
        open.1.push_str(&text);
        Ok(())
    }

    /// When the dialect's flush limit has room again (`None`: it has room now).
    fn flush_blocked(&mut self) -> Option<tokio::time::Instant> {
        let (limit, window) = self.inner.dialect.flush_limit()?;
        self.conn.as_mut()?.flush_room(limit, window)
    }

    /// Ends the open utterance (answering `id` and any merged flush ids).
    async fn flush(&mut self, id: u64) -> Result<Ended> {
        let mut ids = std::mem::take(&mut self.merged);
        ids.push(id);
        let Some((context, text)) = self.open.take() else {
            return Ok(Ended::Empty(ids));
        };
        if text.trim().is_empty() {
            return Ok(Ended::Empty(ids));
        }
        let messages = self.inner.dialect.flush(&self.voicing, &context);
        let inner = self.inner.clone();
        let conn = self.conn().await?;
        send_all(&inner, conn, messages).await?;
        conn.note_flush();
        let mut chunker = Chunker::new(
            self.inner.dialect.provider(),
            self.voicing.wire,
            self.target,
            self.sequence,
        )?;
        chunker.set_text(&text);
        Ok(Ended::Sent(Box::new(InFlight {
            ids,
            context,
            chunker,
        })))
    }
}

pub(crate) async fn run<D: Dialect>(
    inner: Arc<Inner<D>>,
    conn: WsConn,
    mut driver: SessionDriver,
    voicing: Voicing,
    target: AudioFormat,
) {
    let secret = inner.settings.secret.clone();
    let mut t = Task {
        inner: inner.clone(),
        conn: Some(conn),
        state: D::State::default(),
        voicing,
        target,
        open: None,
        sequence: 0,
        merged: Vec::new(),
    };
    let d = &inner.dialect;
    let s = &inner.settings;
    let multiplex = d.multiplex();
    let keep_alive = d.keep_alive();
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut queued_chars = 0usize;
    let mut in_flight: Option<InFlight> = None;
    // A cancel waiting for its acknowledgement: (generation, context).
    let mut clearing: Option<(u64, String)> = None;
    let mut input_open = true;
    let mut last_sent = tokio::time::Instant::now();
    // A flush held back by the dialect's flush limit, until this instant.
    let mut flush_wait: Option<tokio::time::Instant> = None;

    loop {
        if !input_open && in_flight.is_none() && clearing.is_none() && queue.is_empty() {
            if let Some(conn) = t.conn.take() {
                if t.open.is_none() && d.reusable_after_done() {
                    inner.pool.keep(conn).await;
                } else {
                    inner.pool.retire(conn).await;
                }
            }
            return;
        }
        let server_busy = in_flight.is_some() || clearing.is_some() || flush_wait.is_some();
        let limit = match &in_flight {
            Some(f) if f.chunker.got_audio() => s.inactivity_timeout,
            _ => s.first_audio_timeout,
        };
        let keep_alive_due = keep_alive
            .as_ref()
            .map(|(every, _)| last_sent + *every)
            .unwrap_or_else(|| {
                tokio::time::Instant::now() + std::time::Duration::from_secs(86_400)
            });
        let reading = (in_flight.is_some() || clearing.is_some()) && t.conn.is_some();
        let wait_until = flush_wait.unwrap_or(keep_alive_due);
        tokio::select! {
            input = driver.next_input(), if input_open => {
                match input {
                    None => {
                        // The caller dropped the session: stop the vendor, keep the socket if we can.
                        input_open = false;
                        if let (Some(flight), Some(conn)) = (in_flight.take(), t.conn.take()) {
                            cancel_and_pool(&inner, conn, std::mem::take(&mut t.state), &flight.context).await;
                            return;
                        }
                        queue.clear();
                    }
                    Some(DriverInput::Finish) => input_open = false,
                    Some(DriverInput::Cancel { generation }) => {
                        queue.clear();
                        queued_chars = 0;
                        t.merged.clear();
                        flush_wait = None;
                        let context = in_flight
                            .take()
                            .map(|f| f.context)
                            .or_else(|| t.open.take().map(|(c, _)| c))
                            .or_else(|| clearing.take().map(|(_, c)| c));
                        t.open = None;
                        let Some(context) = context else {
                            if driver.emit(SessionEvent::Cleared { generation }).await.is_err() { return }
                            continue;
                        };
                        match d.cancel(&context) {
                            CancelPlan::Clear { messages, acknowledged } => {
                                let sent = match t.conn.as_mut() {
                                    Some(conn) => send_all(&inner, conn, messages).await,
                                    None => Ok(()),
                                };
                                if let Err(e) = sent {
                                    return driver.fail(e.scrub(&secret)).await;
                                }
                                last_sent = tokio::time::Instant::now();
                                if acknowledged && t.conn.is_some() {
                                    clearing = Some((generation, context));
                                } else if driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                                    return;
                                }
                            }
                            CancelPlan::Reconnect => {
                                if let Some(conn) = t.conn.take() {
                                    inner.pool.retire(conn).await;
                                }
                                if driver.emit(SessionEvent::Cleared { generation }).await.is_err() { return }
                            }
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
                        if let Err(e) = t.send_text(text).await {
                            return driver.fail(e.scrub(&secret)).await;
                        }
                        last_sent = tokio::time::Instant::now();
                    }
                    Some(DriverInput::Flush { id }) => {
                        if let Some(when) = t.flush_blocked() {
                            // Over the vendor's flush limit: hold it (later input merges into it).
                            queue.push_back(Queued::Flush(id));
                            flush_wait = Some(when);
                            continue;
                        }
                        match t.flush(id).await {
                            Ok(Ended::Sent(f)) => in_flight = Some(*f),
                            Ok(Ended::Empty(ids)) => for id in ids {
                                if driver.emit(SessionEvent::UtteranceDone { id }).await.is_err() { return }
                            },
                            Err(e) => return driver.fail(e.scrub(&secret)).await,
                        }
                        last_sent = tokio::time::Instant::now();
                    }
                }
            }
            _ = tokio::time::sleep_until(wait_until), if flush_wait.is_some() => flush_wait = None,
            _ = tokio::time::sleep_until(keep_alive_due), if keep_alive.is_some() && !server_busy && t.conn.is_some() => {
                if let (Some((_, message)), Some(conn)) = (keep_alive.as_ref(), t.conn.as_mut()) {
                    if let Err(e) = conn.send(message.clone(), s.send_timeout).await {
                        return driver.fail(e.scrub(&secret)).await;
                    }
                }
                last_sent = tokio::time::Instant::now();
            }
            decoded = async {
                match t.conn.as_mut() {
                    Some(conn) => read_decoded(d, &mut t.state, conn, limit, "no audio").await,
                    None => std::future::pending().await,
                }
            }, if reading => {
                let decoded = match decoded {
                    Ok(decoded) => decoded,
                    Err(e) => return driver.fail(e.scrub(&secret)).await,
                };
                if let Some((generation, context)) = &clearing {
                    match decoded {
                        Decoded::Cleared { context: c } if ours(multiplex, &c, context) => {
                            let generation = *generation;
                            clearing = None;
                            if driver.emit(SessionEvent::Cleared { generation }).await.is_err() { return }
                        }
                        Decoded::Error { context: c, error } if c.is_none() || ours(multiplex, &c, context) => {
                            return driver.fail(error.scrub(&secret)).await;
                        }
                        _ => {} // audio from before the clear
                    }
                    continue;
                }
                let Some(flight) = in_flight.as_mut() else { continue };
                match decoded {
                    Decoded::Audio { context: c, data, timing } if ours(multiplex, &c, &flight.context) => {
                        if let Some(timing) = timing {
                            flight.chunker.timing(timing);
                        }
                        if data.is_empty() { continue }
                        match flight.chunker.push(data) {
                            Ok(Some(chunk)) => {
                                t.sequence = flight.chunker.next_sequence();
                                if driver.emit(SessionEvent::Audio(chunk)).await.is_err() { return }
                            }
                            Ok(None) => {}
                            Err(e) => return driver.fail(e).await,
                        }
                    }
                    Decoded::Done { context: c } if ours(multiplex, &c, &flight.context) => {
                        let Some(mut flight) = in_flight.take() else { continue };
                        let endpoint = t.conn.as_ref().map(|c| c.endpoint().to_string()).unwrap_or_default();
                        match flight.chunker.finish(&endpoint) {
                            Ok(Some(chunk)) => {
                                if driver.emit(SessionEvent::Audio(chunk)).await.is_err() { return }
                            }
                            Ok(None) => {}
                            Err(e) => return driver.fail(e).await,
                        }
                        t.sequence = flight.chunker.next_sequence();
                        if !d.reusable_after_done() {
                            if let Some(conn) = t.conn.take() {
                                conn.close().await;
                            }
                        }
                        for id in flight.ids {
                            if driver.emit(SessionEvent::UtteranceDone { id }).await.is_err() { return }
                        }
                    }
                    Decoded::Error { context: c, error } if ours(multiplex, &c, &flight.context) => {
                        return driver.fail(error.scrub(&secret)).await;
                    }
                    Decoded::Cleared { context: c } if ours(multiplex, &c, &flight.context) => {
                        let endpoint = t.conn.as_ref().map(|c| c.endpoint().to_string()).unwrap_or_default();
                        return driver.fail(errors::protocol(d.provider(), &endpoint, "a clear acknowledged that was never asked for")).await;
                    }
                    _ => {}
                }
            }
        }
        // The server is idle again: replay what waited, up to the next flush.
        while in_flight.is_none() && clearing.is_none() && flush_wait.is_none() {
            let Some(item) = queue.pop_front() else { break };
            let result = match item {
                Queued::Text(text) => {
                    queued_chars = queued_chars.saturating_sub(text.chars().count());
                    t.send_text(text).await.map(|()| None)
                }
                Queued::Flush(id) => {
                    if let Some(when) = t.flush_blocked() {
                        if queue.iter().any(|q| matches!(q, Queued::Flush(_))) {
                            // A later flush will carry this one's text too.
                            t.merged.push(id);
                        } else {
                            queue.push_front(Queued::Flush(id));
                            flush_wait = Some(when);
                        }
                        continue;
                    }
                    match t.flush(id).await {
                        Ok(Ended::Sent(f)) => Ok(Some(*f)),
                        Ok(Ended::Empty(ids)) => {
                            for id in ids {
                                if driver
                                    .emit(SessionEvent::UtteranceDone { id })
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            Ok(None)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            last_sent = tokio::time::Instant::now();
            match result {
                Ok(Some(f)) => in_flight = Some(f),
                Ok(None) => {}
                Err(e) => return driver.fail(e.scrub(&secret)).await,
            }
        }
    }
}
