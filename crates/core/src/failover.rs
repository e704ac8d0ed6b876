//! Why a router's serving entry changed: a kind a program can match on and
//! a line for people. Sessions carry it in
//! [`SessionEvent::ProviderChanged`](crate::session::SessionEvent::ProviderChanged),
//! so a relay's metrics, a browser client and the CLI read the kind, never
//! text parsed back.

use crate::error::ErrorKind;

/// Why the serving entry changed: a kind a program can match on, and a
/// line for people ([`Display`](std::fmt::Display) gives the line). A
/// session's [`SessionEvent::ProviderChanged`](crate::session::SessionEvent::ProviderChanged)
/// carries one, and a router's failover event too.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverReason {
    /// What happened.
    pub kind: FailoverKind,
    /// One line saying why.
    pub message: String,
}

impl FailoverReason {
    /// A reason of `kind` with `message`.
    pub fn new(kind: FailoverKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A short lower-case label for the kind, for metrics and logs.
    pub fn label(&self) -> &'static str {
        self.kind.label()
    }
}

impl std::fmt::Display for FailoverReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What made the serving entry change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailoverKind {
    /// The entry failed on a sentence with an error of this kind.
    Failed(ErrorKind),
    /// The entry was passed over: it is down after an earlier failure.
    Down,
    /// The entry was passed over: its first audio misses its service level.
    Degraded,
    /// The entry gave no audio within its hedge delay, and the entry started
    /// beside it gave audio first.
    Hedged,
    /// The entry asked first serves again (it is back, or the last sentence
    /// went to a hedge that won).
    Preferred,
    /// A sentence the entry had spoken whole before it failed is played as
    /// it was: the voice changes back for that sentence. Not a failover
    /// (a router reports no failover for it).
    Kept,
    /// The sentence was in the phrase cache for the entry the chain prefers:
    /// its stored audio plays in that entry's voice, with no vendor asked.
    /// Not a failover.
    Cached,
}

impl FailoverKind {
    /// Whether the entry left failed or was passed over (a failover), rather
    /// than the voice changing back ([`Kept`](Self::Kept),
    /// [`Preferred`](Self::Preferred), [`Cached`](Self::Cached)).
    pub fn is_failover(self) -> bool {
        !matches!(self, Self::Kept | Self::Preferred | Self::Cached)
    }

    /// The kind a [`label`](Self::label) names; `None` for an unknown label.
    pub fn from_label(label: &str) -> Option<Self> {
        Some(match label {
            "down" => Self::Down,
            "degraded" => Self::Degraded,
            "hedged" => Self::Hedged,
            "preferred" => Self::Preferred,
            "kept" => Self::Kept,
            "cached" => Self::Cached,
            other => Self::Failed(other.parse().ok()?),
        })
    }

    /// A short lower-case label: the error kind's for [`Failed`](Self::Failed).
    pub fn label(self) -> &'static str {
        match self {
            Self::Failed(kind) => kind.as_str(),
            Self::Down => "down",
            Self::Degraded => "degraded",
            Self::Hedged => "hedged",
            Self::Preferred => "preferred",
            Self::Kept => "kept",
            Self::Cached => "cached",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_back_as_their_kinds() {
        for kind in [
            FailoverKind::Failed(ErrorKind::Auth),
            FailoverKind::Failed(ErrorKind::Unavailable),
            FailoverKind::Down,
            FailoverKind::Degraded,
            FailoverKind::Hedged,
            FailoverKind::Preferred,
            FailoverKind::Kept,
            FailoverKind::Cached,
        ] {
            assert_eq!(FailoverKind::from_label(kind.label()), Some(kind));
        }
        assert_eq!(FailoverKind::from_label("http_403"), None);
        assert!(FailoverKind::Down.is_failover());
        assert!(!FailoverKind::Kept.is_failover());
    }
}
