//! Weighted groups: entries that share one `group` name share new sessions
//! by `weight`, and a session keeps the member it started on.
//!
//! The choice is smooth weighted round-robin (the one nginx uses): each
//! member's running score grows by its weight, the highest is chosen and
//! loses the group's total. It is deterministic (weights 80/20 give exactly
//! 8 and 2 of every 10 sessions, interleaved) and needs no random source.

use std::sync::Mutex;

/// One weighted group of the chain.
#[derive(Debug)]
pub(crate) struct Group {
    /// Member indices, in chain order.
    pub members: Vec<usize>,
    weights: Vec<i64>,
    scores: Mutex<Vec<i64>>,
}

impl Group {
    pub fn new(members: Vec<usize>, weights: Vec<u32>) -> Self {
        let scores = vec![0; members.len()];
        Self {
            members,
            weights: weights.into_iter().map(i64::from).collect(),
            scores: Mutex::new(scores),
        }
    }

    /// The next member for a new session, among those `eligible` says may
    /// take one (all of them when none may). Members of weight 0 are chosen
    /// only when no eligible member has a weight.
    pub fn choose(&self, eligible: impl Fn(usize) -> bool) -> usize {
        let allowed: Vec<bool> = self.members.iter().map(|&m| eligible(m)).collect();
        let any = allowed.iter().any(|&a| a);
        let pool: Vec<usize> = (0..self.members.len())
            .filter(|&i| !any || allowed[i])
            .collect();
        let total: i64 = pool.iter().map(|&i| self.weights[i]).sum();
        if total == 0 {
            return pool.first().map_or(self.members[0], |&i| self.members[i]);
        }
        let mut scores = self.scores.lock().unwrap_or_else(|p| p.into_inner());
        let mut best = pool[0];
        for &i in &pool {
            scores[i] += self.weights[i];
            if scores[i] > scores[best] {
                best = i;
            }
        }
        scores[best] -= total;
        self.members[best]
    }
}

/// The member each group gave one session (or one stateless call): kept
/// while it is up, so a conversation keeps its voice.
#[derive(Debug, Default)]
pub(crate) struct Sticky {
    picks: Mutex<Vec<(usize, usize)>>,
}

impl Sticky {
    /// The member kept for group `group`, if one was chosen.
    pub fn get(&self, group: usize) -> Option<usize> {
        let picks = self.picks.lock().unwrap_or_else(|p| p.into_inner());
        picks.iter().find(|(g, _)| *g == group).map(|&(_, m)| m)
    }

    /// Keeps `member` for group `group` from now on.
    pub fn set(&self, group: usize, member: usize) {
        let mut picks = self.picks.lock().unwrap_or_else(|p| p.into_inner());
        match picks.iter_mut().find(|(g, _)| *g == group) {
            Some(pick) => pick.1 = member,
            None => picks.push((group, member)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_share_sessions_exactly_and_interleaved() {
        let g = Group::new(vec![3, 5], vec![80, 20]);
        let picks: Vec<usize> = (0..10).map(|_| g.choose(|_| true)).collect();
        assert_eq!(picks.iter().filter(|&&m| m == 3).count(), 8);
        assert_eq!(picks.iter().filter(|&&m| m == 5).count(), 2);
        assert_ne!(picks[..5], [3, 3, 3, 3, 3][..], "interleaved: {picks:?}");
        let even = Group::new(vec![0, 1], vec![1, 1]);
        let picks: Vec<usize> = (0..4).map(|_| even.choose(|_| true)).collect();
        assert_eq!(picks, vec![0, 1, 0, 1]);
    }

    #[test]
    fn ineligible_members_are_passed_over_and_zero_weights_are_a_last_resort() {
        let g = Group::new(vec![0, 1, 2], vec![1, 1, 0]);
        assert!((0..6).all(|_| g.choose(|m| m != 0) == 1));
        assert_eq!(g.choose(|m| m == 2), 2);
        assert_eq!(g.choose(|_| false), 0, "none eligible: all are");
    }

    #[test]
    fn a_pick_is_kept_per_group() {
        let s = Sticky::default();
        assert_eq!(s.get(0), None);
        s.set(0, 4);
        s.set(1, 7);
        s.set(0, 5);
        assert_eq!((s.get(0), s.get(1)), (Some(5), Some(7)));
    }
}
