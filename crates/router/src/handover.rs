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

use std::sync::Mutex;

/// One piece's handover state (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Handover(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// Some of the piece's audio reached the caller.
    handed_on: bool,
    /// Takes numbered below this are retracted.
    retracted_below: u32,
}

impl Handover {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loop is about to hand on audio of take `take`: `false` when that
    /// take was retracted (the audio is dropped); otherwise the piece counts
    /// as handed on from now on.
    pub fn hand_on(&self, take: u32) -> bool {
        let mut state = self.lock();
        if take < state.retracted_below {
            return false;
        }
        state.handed_on = true;
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_retracted_only_before_anything_was_handed_on() {
        let h = Handover::default();
        assert!(h.retract(1));
        assert!(h.retracted(1));
        assert!(!h.hand_on(1), "a retracted take's audio is dropped");
        assert!(!h.retracted(2));
        assert!(h.hand_on(2));
        assert!(!h.retract(2), "take 2 was heard: it is kept");
        assert!(h.hand_on(2));
        assert!(h.hand_on(3));
    }
}
