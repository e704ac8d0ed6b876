//! What of one piece the session loop has handed on, shared by the piece's
//! task and the loop: the one place where "drop the audio of a failed
//! attempt" and "hand this audio on" are decided, so they cannot both happen.
//!
//! Each attempt of a piece is a **take**, numbered 1, 2, … in the piece (the
//! winner of a hedge race is take 1). The piece's task tags every message
//! with its take. When a take dies after sending audio, the task asks to
//! [`retract`](Handover::retract) it: granted only while none of the piece's
//! audio has reached the caller yet, and then every message of that take
//! (and of the takes before it) still waiting in the piece's channel is
//! skipped when the loop reaches it. Once the loop has
//! [handed on](Handover::hand_on) any of the piece's audio, nothing of it is
//! retracted: the duplicate bound of `piece::Progress` applies instead.
//!
//! An entry that dies is not seen dying by every stream at the same moment:
//! each sentence in flight on it finds out when its own stream errs or
//! stalls. So that the loop does not start handing on a held sentence of an
//! entry another sentence already saw die (and hear it cut and replayed
//! too), the session keeps [`Deaths`]: when the loop is about to hand on the
//! first audio of a piece whose take's entry died since the take began, and
//! the take is not complete, the loop retracts it itself. The piece's task
//! then fails over when its stream ends; if the stream ends well after all,
//! [`complete`](Handover::complete) tells it the take was dropped, and it
//! fails over as well. A take that completed before is kept.

use std::sync::Mutex;

use tokio::sync::Notify;

/// One piece's handover state (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Handover {
    state: Mutex<State>,
    /// Woken when the loop retracts a take: the piece's task stops waiting
    /// on that take's stream (a stalled one would hold the sentence for its
    /// whole inactivity timeout) and fails over at once.
    retracted: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Some of the piece's audio reached the caller.
    handed_on: bool,
    /// Takes numbered below this are retracted.
    retracted_below: u32,
    /// The take under way and the [`Deaths`] mark when it began.
    take: u32,
    since: usize,
    /// The take under way ended well.
    complete: bool,
}

impl Handover {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once take `take`, served by `entry`, is dropped: the loop retracted it, or `entry` died on
    /// another sentence while nothing of this one was handed on yet (it is
    /// then retracted here). The piece's task stops waiting on the take's
    /// stream (held audio would be dropped anyway, and a stalled stream
    /// would hold the sentence for its whole timeout) and fails over at once.
    pub async fn dropped(&self, take: u32, entry: &str, deaths: &Deaths) {
        loop {
            let retracted = self.retracted.notified();
            let died = deaths.died.notified();
            tokio::pin!(retracted, died);
            retracted.as_mut().enable();
            died.as_mut().enable();
            let (retracted_below, since) = {
                let state = self.lock();
                (state.retracted_below, state.since)
            };
            if take < retracted_below {
                return;
            }
            if deaths.died_since(entry, since) && self.retract(take) {
                return;
            }
            tokio::select! {
                () = retracted => {}
                () = died => {}
            }
        }
    }

    /// The piece's task starts take `take`, `deaths` being at mark `since`.
    pub fn begin(&self, take: u32, since: usize) {
        let mut state = self.lock();
        state.take = take;
        state.since = since;
        state.complete = false;
    }

    /// Take `take` ended well: `false` if the loop had retracted it (its
    /// entry died on another sentence before any of this one was heard),
    /// and the piece must be spoken again elsewhere.
    pub fn complete(&self, take: u32) -> bool {
        let mut state = self.lock();
        if take < state.retracted_below {
            return false;
        }
        state.complete = true;
        true
    }

    /// The loop is about to hand on audio of take `take`, served by entry
    /// `entry`: `false` when that take was retracted (the audio is dropped),
    /// or is now, because nothing of the piece was heard yet, the take is
    /// not complete, and `entry` died since it began. Otherwise the piece
    /// counts as handed on from now on.
    pub fn hand_on(&self, take: u32, entry: Option<&str>, deaths: &Deaths) -> bool {
        let mut state = self.lock();
        if state.find(take, entry, deaths) == Found::Retracted {
            drop(state);
            self.retracted.notify_waiters();
            return false;
        }
        state.handed_on = true;
        true
    }

    /// How take `take`, served by `entry`, stands as the loop announces it
    /// (retracting it as [`hand_on`](Handover::hand_on) would).
    pub fn check(&self, take: u32, entry: &str, deaths: &Deaths) -> Found {
        let found = self.lock().find(take, Some(entry), deaths);
        if found == Found::Retracted {
            self.retracted.notify_waiters();
        }
        found
    }

    /// Whether take `take` was retracted (its messages are skipped).
    pub fn retracted(&self, take: u32) -> bool {
        take < self.lock().retracted_below
    }

    /// Take `take` died after sending audio: retracts it, and every take
    /// before it, unless some of the piece's audio was handed on already.
    /// Returns whether it was retracted (nothing of the piece was heard).
    pub fn retract(&self, take: u32) -> bool {
        let mut state = self.lock();
        if state.handed_on {
            return false;
        }
        state.retracted_below = state.retracted_below.max(take.saturating_add(1));
        true
    }
}

/// How the loop finds a take as it announces it or hands its audio on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Retracted: its messages are skipped.
    Retracted,
    /// Its entry died after the take began, but the take was complete
    /// before: it is kept, whole.
    Kept,
    /// Neither: its entry did not die since it began.
    Live,
}

impl State {
    /// How take `take` stands; retracts it if nothing of the piece was
    /// handed on, it is not complete, and `entry` died since it began.
    fn find(&mut self, take: u32, entry: Option<&str>, deaths: &Deaths) -> Found {
        if take < self.retracted_below {
            return Found::Retracted;
        }
        if take == self.take && entry.is_some_and(|e| deaths.died_since(e, self.since)) {
            if self.complete {
                return Found::Kept;
            }
            if !self.handed_on {
                self.retracted_below = take.saturating_add(1);
                return Found::Retracted;
            }
        }
        Found::Live
    }
}

/// The entries that died in one session, in order (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Deaths {
    entries: Mutex<Vec<String>>,
    /// Woken at each death.
    died: Notify,
}

impl Deaths {
    /// The mark to compare a later [`died_since`](Deaths::died_since) with.
    pub fn mark(&self) -> usize {
        self.entries
            .lock()
            .map(|d| d.len())
            .unwrap_or_else(|p| p.into_inner().len())
    }

    /// Entry `entry` died (a sentence's stream on it failed and it was left).
    pub fn record(&self, entry: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry.to_string());
        self.died.notify_waiters();
    }

    /// Whether `entry` died after mark `since`.
    pub fn died_since(&self, entry: &str, since: usize) -> bool {
        let deaths = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        deaths
            .get(since..)
            .is_some_and(|d| d.iter().any(|e| e == entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_retracted_only_before_anything_was_handed_on() {
        let (h, d) = (Handover::default(), Deaths::default());
        h.begin(1, d.mark());
        assert!(h.retract(1));
        assert!(h.retracted(1));
        assert!(
            !h.hand_on(1, Some("a"), &d),
            "a retracted take's audio is dropped"
        );
        h.begin(2, d.mark());
        assert!(!h.retracted(2));
        assert!(h.hand_on(2, Some("b"), &d));
        assert!(!h.retract(2), "take 2 was heard: it is kept");
        assert!(h.hand_on(2, Some("b"), &d));
        assert!(h.complete(2));
    }

    #[test]
    fn a_held_take_of_an_entry_that_died_elsewhere_is_dropped_unless_complete() {
        let d = Deaths::default();
        let held = Handover::default();
        held.begin(1, d.mark());
        let done = Handover::default();
        done.begin(1, d.mark());
        assert!(done.complete(1));
        let before = Handover::default();
        before.begin(1, d.mark());
        d.record("a");
        assert!(
            !held.hand_on(1, Some("a"), &d),
            "a died after the take began"
        );
        assert!(!held.complete(1), "the piece is spoken again elsewhere");
        assert_eq!(done.check(1, "a", &d), Found::Kept, "complete before: kept");
        assert!(done.hand_on(1, Some("a"), &d));
        assert!(before.hand_on(1, Some("b"), &d), "another entry died");
        let later = Handover::default();
        later.begin(1, d.mark());
        assert!(later.hand_on(1, Some("a"), &d), "begun after the death");
    }
}
