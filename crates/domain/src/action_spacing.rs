//! The vendor's spacing rule for "open friend conversation" actions, per agent account.
//!
//! Document 001: actions of the same agent account and WhatsApp account must go out at least
//! 10 s apart. An action that names no WhatsApp account lets the vendor pick one of the agent's
//! logged-in accounts, which may be the account of any other action of that agent. So:
//!
//! - an action without a WhatsApp account keeps the gap to every action of the agent;
//! - an action with one keeps the gap to the agent's actions of that account and to the agent's
//!   actions without an account;
//! - actions of two named accounts of the agent do not delay each other.
//!
//! [`AgentSpacing`] holds what one agent's past and reserved actions imply, as instants in
//! milliseconds; it is small enough to be stored as one value and updated by compare-and-set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpacing {
    /// Earliest instant of an action without an account: one gap after every action of the agent.
    #[serde(default)]
    any: i64,
    /// Earliest instant of an action with an account, as far as actions without one are concerned.
    #[serde(default)]
    unpinned: i64,
    /// Per WhatsApp account (digits): earliest instant of its next action.
    #[serde(default)]
    pinned: BTreeMap<String, i64>,
}

impl AgentSpacing {
    /// The earliest instant an action from `account` (`None`: the vendor picks) may go out.
    pub fn earliest(&self, account: Option<&str>) -> i64 {
        match account {
            None => self.any,
            Some(a) => self
                .unpinned
                .max(self.pinned.get(a).copied().unwrap_or(i64::MIN)),
        }
    }

    /// Records an action from `account` at `at`: the actions it constrains keep `gap` after it.
    pub fn take(&mut self, at: i64, gap: i64, account: Option<&str>) {
        let until = at.saturating_add(gap);
        self.any = self.any.max(until);
        match account {
            None => self.unpinned = self.unpinned.max(until),
            Some(a) => {
                let next = self.pinned.entry(a.to_owned()).or_insert(until);
                *next = (*next).max(until);
            }
        }
    }

    /// The earliest instant from `now` on for an action from `account`, recorded as taken.
    pub fn reserve(&mut self, now: i64, gap: i64, account: Option<&str>) -> i64 {
        self.forget_before(now);
        let at = self.earliest(account).max(now);
        self.take(at, gap, account);
        at
    }

    /// Drops accounts that no longer delay anything, so the value stays small.
    pub fn forget_before(&mut self, now: i64) {
        self.pinned.retain(|_, until| *until > now);
    }

    /// The instant after which nothing is delayed any more.
    pub fn horizon(&self) -> i64 {
        self.any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: i64 = 10_000;

    #[test]
    fn one_account_is_spaced() {
        let mut s = AgentSpacing::default();
        assert_eq!(s.reserve(0, GAP, Some("861")), 0);
        assert_eq!(s.reserve(5, GAP, Some("861")), GAP);
        assert_eq!(s.reserve(5, GAP, Some("861")), 2 * GAP);
    }

    #[test]
    fn two_named_accounts_do_not_wait_for_each_other() {
        let mut s = AgentSpacing::default();
        assert_eq!(s.reserve(0, GAP, Some("861")), 0);
        assert_eq!(s.reserve(0, GAP, Some("862")), 0);
    }

    #[test]
    fn an_action_without_an_account_waits_for_every_action_of_the_agent() {
        let mut s = AgentSpacing::default();
        s.reserve(0, GAP, Some("861"));
        s.reserve(3_000, GAP, Some("862"));
        assert_eq!(s.reserve(3_005, GAP, None), 3_000 + GAP);
        assert_eq!(s.reserve(3_005, GAP, None), 3_000 + 2 * GAP);
    }

    #[test]
    fn a_named_account_waits_for_actions_without_an_account() {
        let mut s = AgentSpacing::default();
        assert_eq!(s.reserve(0, GAP, None), 0);
        assert_eq!(s.reserve(5, GAP, Some("861")), GAP);
        assert_eq!(s.reserve(5, GAP, Some("862")), GAP);
    }

    #[test]
    fn any_order_of_reservations_keeps_every_conflicting_pair_apart() {
        let accounts = [None, Some("861"), Some("862"), Some("863")];
        let mut state = 0x1234_5678_u64;
        let mut s = AgentSpacing::default();
        let mut taken: Vec<(i64, Option<&str>)> = Vec::new();
        let mut now = 0;
        for _ in 0..500 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            now += (state % 4_000) as i64;
            let account = accounts[(state >> 20) as usize % accounts.len()];
            let at = s.reserve(now, GAP, account);
            assert!(at >= now);
            for (other, other_account) in &taken {
                let conflict =
                    account.is_none() || other_account.is_none() || account == *other_account;
                if conflict {
                    assert!(
                        (at - other).abs() >= GAP,
                        "{account:?}@{at} vs {other_account:?}@{other}"
                    );
                }
            }
            taken.push((at, account));
        }
    }

    #[test]
    fn stale_accounts_are_forgotten() {
        let mut s = AgentSpacing::default();
        s.reserve(0, GAP, Some("861"));
        s.reserve(GAP + 1, GAP, Some("862"));
        assert_eq!(s.pinned.len(), 1);
        assert_eq!(s.horizon(), 2 * GAP + 1);
    }
}
