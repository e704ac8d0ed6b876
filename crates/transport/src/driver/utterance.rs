//! One whole-text utterance on a socket: send, read to done, pool the socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use voxwire_core::{AudioFormat, AudioStream, Result};

use super::Inner;
use crate::chunker::Chunker;
use crate::connect::WsConn;
use crate::dialect::{CancelPlan, Decoded, Dialect, Frame, Multiplex, Voicing};
use crate::errors;
use crate::stream::spawn_stream;

/// Reads the next server message by `deadline` and decodes it; a close
/// frame becomes the dialect's close error.
pub async fn read_decoded<D: Dialect>(
    dialect: &D,
    state: &mut D::State,
    conn: &mut WsConn,
    limit: Duration,
    waiting_for: &str,
) -> Result<Decoded> {
    match conn.recv(limit, waiting_for).await? {
        Frame::Close { code, reason } => Err(dialect.close_error(conn.endpoint(), code, &reason)),
        frame => dialect.decode(state, conn.endpoint(), frame),
    }
}

/// Whether a decoded message belongs to utterance `context`.
pub(crate) fn ours(multiplex: Multiplex, theirs: &Option<String>, context: &str) -> bool {
    match (multiplex, theirs) {
        (Multiplex::Sequential, _) | (Multiplex::ByContext, None) => true,
        (Multiplex::ByContext, Some(c)) => c == context,
    }
}

/// Sends every message in order.
pub(crate) async fn send_all<D: Dialect>(
    inner: &Inner<D>,
    conn: &mut WsConn,
    messages: Vec<crate::dialect::Outgoing>,
) -> Result<()> {
    for m in messages {
        conn.send(m, inner.settings.send_timeout).await?;
    }
    Ok(())
}

/// The messages of a whole utterance: begin, the text, flush.
fn whole<D: Dialect>(
    d: &D,
    voicing: &Voicing,
    context: &str,
    text: &str,
) -> Vec<crate::dialect::Outgoing> {
    let mut out = d.begin(voicing, context);
    out.extend(d.texts(voicing, context, text));
    out.extend(d.flush(voicing, context));
    out
}

pub(crate) async fn synthesize<D: Dialect>(
    inner: Arc<Inner<D>>,
    text: String,
    voicing: Voicing,
    target: AudioFormat,
) -> Result<AudioStream> {
    let d = &inner.dialect;
    let provider = d.provider();
    let mut chunker = Chunker::new(provider, voicing.wire, target, 0)?;
    chunker.set_text(&text);
    let context = inner.next_context();
    let key = d.upgrade(&voicing)?.url;
    let secret = inner.settings.secret.clone();
    // A pooled socket is proven alive by a ping sent with the request: its
    // pong (or any answer) must come within the liveness limit, else the
    // request is sent again on a fresh socket. The check costs no round trip.
    let mut probe = None;
    let mut pooled = inner.pool.take_unprobed(&key);
    if let (Some((limit, window)), Some(conn)) = (d.flush_limit(), pooled.as_mut()) {
        if conn.flush_room(limit, window).is_some() {
            // The vendor would ignore another flush on this socket now: leave
            // it in the pool and speak on a fresh one.
            if let Some(conn) = pooled.take() {
                inner.pool.keep(conn).await;
            }
        }
    }
    let mut conn = match pooled {
        Some(mut conn) => {
            let sent = async {
                let ping = conn.send_ping(inner.settings.send_timeout).await?;
                send_all(&inner, &mut conn, whole(d, &voicing, &context, &text)).await?;
                conn.note_flush();
                Ok::<_, voxwire_core::TtsError>(ping)
            }
            .await;
            match sent {
                Ok(ping) => {
                    probe = Some(ping);
                    Some(conn)
                }
                Err(_) => None, // died while pooled
            }
        }
        None => None,
    };
    if conn.is_none() {
        let mut fresh = inner.open(&voicing).await?;
        send_all(&inner, &mut fresh, whole(d, &voicing, &context, &text))
            .await
            .map_err(|e| e.scrub(&secret))?;
        fresh.note_flush();
        conn = Some(fresh);
    }
    let Some(mut conn) = conn else {
        return Err(errors::closed_mid_stream(d.provider(), "", "no connection"));
    };
    Ok(spawn_stream(move |out| async move {
        let d = &inner.dialect;
        let s = &inner.settings;
        let multiplex = d.multiplex();
        let mut state = D::State::default();
        let mut pending: Option<Frame> = None;
        if let Some(ping) = probe.take() {
            match conn.recv_probe(inner.pool.liveness(), &ping).await {
                Ok(frame) => pending = frame,
                Err(_) => {
                    tracing::debug!(endpoint = conn.endpoint(), "a pooled socket did not answer its ping: the request goes again on a fresh one");
                    let fresh = async {
                        let mut fresh = inner.open(&voicing).await?;
                        send_all(&inner, &mut fresh, whole(d, &voicing, &context, &text)).await?;
                        fresh.note_flush();
                        Ok::<_, voxwire_core::TtsError>(fresh)
                    }
                    .await;
                    match fresh {
                        Ok(fresh) => conn = fresh,
                        Err(e) => {
                            out.send(Err(e.scrub(&s.secret))).await;
                            return;
                        }
                    }
                }
            }
        }
        loop {
            let limit = if chunker.got_audio() {
                s.inactivity_timeout
            } else {
                s.first_audio_timeout
            };
            let what = if chunker.got_audio() {
                "no more audio"
            } else {
                "no audio"
            };
            let read = match pending.take() {
                Some(Frame::Close { code, reason }) => {
                    Err(d.close_error(conn.endpoint(), code, &reason))
                }
                Some(frame) => d.decode(&mut state, conn.endpoint(), frame),
                None => {
                    let read = tokio::select! {
                        read = read_decoded(d, &mut state, &mut conn, limit, what) => Some(read),
                        () = out.closed() => None,
                    };
                    match read {
                        Some(read) => read,
                        None => {
                            // The consumer is gone (a lost hedge, a cancel): stop the vendor now.
                            cancel_and_pool(&inner, conn, state, &context).await;
                            return;
                        }
                    }
                }
            };
            let decoded = match read {
                Ok(decoded) => decoded,
                Err(e) => {
                    out.send(Err(e.scrub(&s.secret))).await;
                    return;
                }
            };
            match decoded {
                Decoded::Audio {
                    context: c,
                    data,
                    timing,
                } if ours(multiplex, &c, &context) => {
                    if let Some(t) = timing {
                        chunker.timing(t);
                    }
                    if data.is_empty() {
                        continue;
                    }
                    if !out.forward(chunker.push(data)).await {
                        if out.is_closed() {
                            cancel_and_pool(&inner, conn, state, &context).await;
                        }
                        return;
                    }
                }
                Decoded::Done { context: c } if ours(multiplex, &c, &context) => break,
                Decoded::Error { context: c, error } if ours(multiplex, &c, &context) => {
                    out.send(Err(error.scrub(&s.secret))).await;
                    return;
                }
                Decoded::Cleared { context: c } if ours(multiplex, &c, &context) => {
                    let e = errors::protocol(
                        provider,
                        conn.endpoint(),
                        "a clear acknowledged that was never asked for",
                    );
                    out.send(Err(e)).await;
                    return;
                }
                _ => {} // skipped, or another context's
            }
        }
        if out.forward(chunker.finish(conn.endpoint())).await && d.reusable_after_done() {
            inner.pool.keep(conn).await;
        }
    }))
}

/// The consumer went away mid-utterance: stop the vendor and keep the
/// socket when the dialect can (bounded by the first-audio deadline).
pub(crate) async fn cancel_and_pool<D: Dialect>(
    inner: &Inner<D>,
    mut conn: WsConn,
    mut state: D::State,
    context: &str,
) {
    let d = &inner.dialect;
    match d.cancel(context) {
        CancelPlan::Clear {
            messages,
            acknowledged,
        } => {
            if send_all(inner, &mut conn, messages).await.is_err() {
                return;
            }
            if !acknowledged {
                if d.multiplex() == Multiplex::ByContext {
                    inner.pool.keep(conn).await; // late messages of the context are ignored
                }
                return;
            }
            let deadline = tokio::time::Instant::now() + inner.settings.first_audio_timeout;
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match read_decoded(d, &mut state, &mut conn, left, "no clear acknowledgement").await
                {
                    Ok(Decoded::Cleared { context: c }) if ours(d.multiplex(), &c, context) => {
                        inner.pool.keep(conn).await;
                        return;
                    }
                    Ok(Decoded::Error { .. }) | Err(_) => return,
                    Ok(_) => {} // audio from before the clear
                }
            }
        }
        CancelPlan::Reconnect => inner.pool.retire(conn).await,
    }
}

pub(crate) async fn speak_once<D: Dialect>(
    inner: &Inner<D>,
    conn: &mut WsConn,
    voicing: &Voicing,
    text: &str,
) -> Result<Duration> {
    let d = &inner.dialect;
    let s = &inner.settings;
    let started = Instant::now();
    let context = inner.next_context();
    let result = async {
        send_all(inner, conn, whole(d, voicing, &context, text)).await?;
        conn.note_flush();
        let mut state = D::State::default();
        let mut first = None;
        loop {
            let limit = if first.is_some() {
                s.inactivity_timeout
            } else {
                s.first_audio_timeout
            };
            match read_decoded(d, &mut state, conn, limit, "no audio").await? {
                Decoded::Audio { data, .. } if !data.is_empty() => {
                    first.get_or_insert_with(|| started.elapsed());
                }
                Decoded::Done { .. } => break,
                Decoded::Error { error, .. } => return Err(error),
                Decoded::Cleared { .. } => {
                    return Err(errors::protocol(
                        d.provider(),
                        conn.endpoint(),
                        "a clear acknowledged that was never asked for",
                    ))
                }
                _ => {}
            }
        }
        first.ok_or_else(|| errors::no_audio(d.provider(), conn.endpoint()))
    }
    .await;
    result.map_err(|e| e.scrub(&s.secret))
}
