//! Speaking one piece (a sentence) with retries and failover.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::Instrument;
use voxwire_core::{AudioFormat, ErrorKind, Phase, TtsError};

use crate::attempt::{self, PieceMsg};
use crate::events::{AttemptOutcome, AttemptRecord};
use crate::jitter;
use crate::member::Template;
use crate::rt::{self, Instant};
use crate::Inner;

/// Speaks `text` on the first provider that can, in chain order (providers
/// marked down are skipped unless all are down). Retryable errors before any
/// audio retry on the same provider with backoff within the deadline; other
/// errors, and any failure after audio started, fail over at once;
/// `InvalidInput` and `Cancelled` end the piece without failing over.
pub(crate) async fn speak(
    inner: Arc<Inner>,
    index: usize,
    text: String,
    template: Template,
    target: AudioFormat,
    tx: mpsc::Sender<PieceMsg>,
) {
    let span = tracing::info_span!("piece", index, chars = text.chars().count());
    async move {
        let deadline = Instant::now() + inner.settings.deadline();
        let (order, mut left) = inner.order();
        let mut failures: Vec<String> = Vec::new();
        let mut failed_ids: Vec<&str> = Vec::new();
        let mut last_kind = ErrorKind::Unavailable;
        for idx in order {
            let member = &inner.members[idx];
            let mut attempt_no = 0u32;
            loop {
                attempt_no += 1;
                let request = member.request(&template, &text).await;
                let started = Instant::now();
                let attempt_span = tracing::info_span!("attempt", provider = member.id(), attempt = attempt_no);
                let result = attempt::run(member, request, target, &tx, left.clone())
                    .instrument(attempt_span)
                    .await;
                inner.report_attempt(AttemptRecord {
                    provider: member.id().to_string(),
                    attempt: attempt_no,
                    piece: index,
                    outcome: match &result.error {
                        None => AttemptOutcome::Spoke,
                        Some(e) => AttemptOutcome::Failed {
                            kind: e.kind(),
                            message: e.to_string(),
                        },
                    },
                    first_audio: result.first_audio,
                    audio: result.audio,
                    chars: text.chars().count(),
                    elapsed: started.elapsed(),
                });
                let error = match result.error {
                    None => {
                        inner.mark_up(idx, "it spoke a request");
                        let _ = tx.send(PieceMsg::Done).await;
                        return;
                    }
                    Some(e) => e,
                };
                if error.kind() == ErrorKind::Cancelled {
                    return; // the session stopped listening
                }
                if !error.may_fail_over() {
                    let _ = tx.send(PieceMsg::Failed(error)).await;
                    return;
                }
                failures.push(format!("{} attempt {attempt_no}: {error}", member.id()));
                if !failed_ids.contains(&member.id()) {
                    failed_ids.push(member.id());
                }
                last_kind = error.kind();
                // A provider that dies mid-piece is left at once: retrying it
                // would replay the same partial audio again; the next provider
                // replays the piece once (at most one partial piece repeated).
                let died_mid_stream = result.first_audio.is_some();
                if error.is_retryable() && !died_mid_stream && attempt_no <= member.policy.max_retries {
                    let wait = member
                        .policy
                        .backoff(attempt_no - 1, error.retry_after(), jitter::unit());
                    if Instant::now() + wait < deadline {
                        tracing::info!(provider = member.id(), wait_ms = wait.as_millis() as u64, %error, "retrying");
                        rt::sleep(wait).await;
                        continue;
                    }
                }
                inner.mark_down(idx, &error);
                left = Some((member.id().to_string(), error.to_string()));
                break;
            }
            if Instant::now() >= deadline {
                failures.push(format!(
                    "deadline of {} ms passed",
                    inner.settings.deadline().as_millis()
                ));
                last_kind = ErrorKind::Timeout;
                break;
            }
        }
        let error = TtsError::new(
            last_kind,
            format!("every provider failed: {}", failures.join("; ")),
        )
        .with_provider(if failed_ids.is_empty() {
            "router".to_string()
        } else {
            failed_ids.join(", ")
        })
        .with_phase(Phase::Receive)
        .with_hint("see each attempt's reason; `voxwire doctor` checks each provider");
        let _ = tx.send(PieceMsg::Failed(error)).await;
    }
    .instrument(span)
    .await
}
