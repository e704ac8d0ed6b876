//! What the router reports: every attempt, every failover, every change of health.

use std::time::Duration;

pub use voxwire_core::failover::{FailoverKind, FailoverReason};
use voxwire_core::ErrorKind;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// The provider spoke the whole piece.
    Spoke,
    /// It failed with this kind and message.
    Failed {
        /// The error kind.
        kind: ErrorKind,
        /// The error's one-line description.
        message: String,
    },
    /// It was not tried: its capabilities say it cannot serve the request
    /// (language, speed range, format, text limit). Health is not touched.
    Skipped {
        /// Why it cannot serve it.
        reason: String,
    },
}

/// One try of one chain entry on one piece of text.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The chain entry's name (its provider id unless the config names it).
    pub entry: String,
    /// The entry's provider id.
    pub provider: String,
    /// 1 for the first try on this piece, 2 for the first retry, ... (0: skipped)
    pub attempt: u32,
    /// Index of the piece (sentence) within the request or session.
    pub piece: usize,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// From the start of the attempt to its first audio, if any arrived.
    pub first_audio: Option<Duration>,
    /// Audio of this attempt handed on to the caller (zero for a take whose
    /// audio was dropped unheard, see `audio_received`).
    pub audio: Duration,
    /// Characters of text in the piece.
    pub chars: usize,
    /// Characters sent to the entry in this attempt (0 when it was skipped):
    /// what the attempt costs at a per-character price.
    pub chars_sent: usize,
    /// Audio the entry sent in this attempt, whether forwarded or not (a
    /// replay's dropped start and a hedge loser's audio included).
    pub audio_received: Duration,
    /// The attempt was a hedge: started beside a slow first attempt.
    pub hedge: bool,
    /// Wall time of the attempt.
    pub elapsed: Duration,
}

/// Everything the router reports, on [`Router::subscribe`](crate::Router::subscribe).
#[derive(Debug, Clone, PartialEq)]
pub enum RouterEvent {
    /// An attempt finished.
    Attempt(AttemptRecord),
    /// The serving entry changed because the one serving failed or was
    /// passed over: sent once per failure of an entry in a session (not
    /// again when a sentence it had finished before failing is played in
    /// between, see [`FailoverKind::Kept`]).
    Failover {
        /// The entry (by name) that served until now.
        from: String,
        /// The entry (by name) serving from now on.
        to: String,
        /// Why.
        reason: FailoverReason,
    },
    /// An entry was marked down, or a probe brought it back.
    Availability {
        /// The entry's name (its provider id unless the config names it).
        provider: String,
        /// Whether it is now used again.
        available: bool,
        /// Why.
        reason: String,
    },
    /// An entry's first audio missed its service level `slow_strikes` times
    /// in a row (`degraded`), or fast answers or a probe restored it.
    Latency {
        /// The entry's name.
        entry: String,
        /// Whether it is now ordered behind the healthy entries.
        degraded: bool,
        /// Why.
        reason: String,
    },
    /// A sentence was played from the phrase cache: no vendor was asked.
    Cached {
        /// The entry whose stored audio played.
        entry: String,
        /// Index of the piece.
        piece: usize,
        /// Characters of the sentence (not sent to any vendor).
        chars: usize,
        /// Audio bytes played from the cache.
        bytes: usize,
    },
    /// A hedged first sentence was decided.
    Hedge {
        /// Index of the piece.
        piece: usize,
        /// The entry asked first, which gave no audio in time.
        primary: String,
        /// The entry started beside it.
        secondary: String,
        /// The one that gave audio first (the other was cancelled); `None`
        /// when neither gave audio.
        winner: Option<String>,
    },
}
