//! Routing and splitting: which provider gets which numbers, in orders of which size. Pure.
//!
//! Policy (for `provider: auto`):
//! 1. Among the candidates (configured providers, in the configured preference order, those whose
//!    circuit is closed first), only those answering the most of the asked checks are eligible.
//! 2. Numbers go to the first eligible provider whose order limits they fit: a vendor taking one
//!    region per order gets one group per region. A group of at least the vendor's minimum is
//!    split into the fewest orders of at most its maximum, sized evenly (45,000 → 3 × 15,000),
//!    so no order is over the maximum nor under the minimum.
//! 3. A group below a vendor's minimum (e.g. under 500 for screening) is not padded or held back
//!    for other callers: it goes to the next eligible provider without that minimum (ekycpro).
//!    If none is left, those numbers are reported as not checked.

use domain::{CheckSet, E164, ProviderId, split_by_country};
use providers::BatchLimits;

/// What the planner needs to know about one provider.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: ProviderId,
    pub checks: CheckSet,
    pub limits: BatchLimits,
    pub one_region_per_order: bool,
    /// The provider's order groups for the asked checks (one order per group and chunk).
    pub groups: Vec<CheckSet>,
    /// False while the provider's circuit is open.
    pub healthy: bool,
}

/// One vendor order to make: `numbers[start..start + len]` of [`Plan::numbers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder {
    pub provider: ProviderId,
    pub checks: CheckSet,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The numbers to send, ordered so each order is a contiguous range.
    pub numbers: Vec<E164>,
    pub orders: Vec<PlannedOrder>,
    /// Numbers no provider could take (below every minimum, or no provider at all).
    pub unplanned: Vec<E164>,
    /// Asked checks no eligible provider answers.
    pub unanswerable: CheckSet,
}

impl Plan {
    /// Numbers that will be billed (a number in two orders is billed twice).
    pub fn billed(&self) -> u64 {
        self.orders.iter().map(|o| o.len as u64).sum()
    }
}

/// Order sizes for `n` numbers: the fewest orders of at most `max`, sized evenly.
pub fn split_sizes(n: usize, max: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let max = max.max(1);
    let k = n.div_ceil(max);
    let (base, rem) = (n / k, n % k);
    (0..k).map(|i| base + usize::from(i < rem)).collect()
}

pub fn plan(numbers: Vec<E164>, asked: &CheckSet, candidates: &[Candidate]) -> Plan {
    let mut plan = Plan::default();
    if numbers.is_empty() {
        return plan;
    }
    let coverage = |c: &Candidate| c.checks.intersection(asked).len();
    let best = candidates
        .iter()
        .filter(|c| !c.groups.is_empty())
        .map(coverage)
        .max()
        .unwrap_or(0);
    if best == 0 {
        plan.unanswerable = *asked;
        plan.unplanned = numbers;
        return plan;
    }
    let mut eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.groups.is_empty() && coverage(c) == best)
        .collect();
    // Stable: keeps the preference order within healthy and within open-circuit providers.
    eligible.sort_by_key(|c| !c.healthy);
    let answered = eligible
        .iter()
        .fold(CheckSet::empty(), |acc, c| acc.union(&c.checks));
    plan.unanswerable = asked.difference(&answered);

    let mut remaining = numbers;
    for candidate in eligible {
        if remaining.is_empty() {
            break;
        }
        let groups: Vec<Vec<E164>> = if candidate.one_region_per_order {
            split_by_country(&remaining).into_values().collect()
        } else {
            vec![std::mem::take(&mut remaining)]
        };
        let mut leftover = Vec::new();
        for group in groups {
            if group.len() < candidate.limits.min.max(1) {
                leftover.extend(group);
                continue;
            }
            let mut offset = 0;
            for size in split_sizes(group.len(), candidate.limits.max) {
                let start = plan.numbers.len();
                plan.numbers
                    .extend_from_slice(&group[offset..offset + size]);
                offset += size;
                for checks in &candidate.groups {
                    plan.orders.push(PlannedOrder {
                        provider: candidate.provider,
                        checks: *checks,
                        start,
                        len: size,
                    });
                }
            }
        }
        remaining = leftover;
    }
    plan.unplanned = remaining;
    plan
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use domain::Check;

    fn screening(healthy: bool, asked: &CheckSet) -> Candidate {
        let checks = ProviderId::WscrmScreening.checks();
        Candidate {
            provider: ProviderId::WscrmScreening,
            checks,
            limits: BatchLimits {
                min: 500,
                max: 20_000,
            },
            one_region_per_order: true,
            groups: vec![checks.intersection(asked)]
                .into_iter()
                .filter(|g| !g.is_empty())
                .collect(),
            healthy,
        }
    }

    fn ekycpro(asked: &CheckSet) -> Candidate {
        let checks = ProviderId::Ekycpro.checks();
        Candidate {
            provider: ProviderId::Ekycpro,
            checks,
            limits: BatchLimits {
                min: 1,
                max: 20_000,
            },
            one_region_per_order: false,
            groups: vec![checks.intersection(asked)]
                .into_iter()
                .filter(|g| !g.is_empty())
                .collect(),
            healthy: true,
        }
    }

    fn indian(n: usize, from: u64) -> Vec<E164> {
        (0..n as u64)
            .map(|i| format!("+9198{:08}", from + i).parse().unwrap())
            .collect()
    }

    fn us(n: usize) -> Vec<E164> {
        (0..n)
            .map(|i| format!("+1415555{:04}", i).parse().unwrap())
            .collect()
    }

    fn registered() -> CheckSet {
        CheckSet::of(&[Check::Registered])
    }

    #[test]
    fn sizes_are_even_and_within_limits() {
        assert_eq!(split_sizes(45_000, 20_000), vec![15_000; 3]);
        assert_eq!(split_sizes(20_000, 20_000), vec![20_000]);
        assert_eq!(split_sizes(20_001, 20_000), vec![10_001, 10_000]);
        assert_eq!(split_sizes(0, 20_000), Vec::<usize>::new());
        for n in [500, 20_001, 40_001, 1_000_000] {
            let sizes = split_sizes(n, 20_000);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| (500..=20_000).contains(s)), "{n}");
        }
    }

    #[test]
    fn large_batches_go_to_screening_in_three_orders() {
        let asked = registered();
        let plan = plan(
            indian(45_000, 0),
            &asked,
            &[screening(true, &asked), ekycpro(&asked)],
        );
        assert_eq!(plan.orders.len(), 3);
        assert!(
            plan.orders.iter().all(
                |o| o.provider == ProviderId::WscrmScreening && (500..=20_000).contains(&o.len)
            )
        );
        assert_eq!(plan.billed(), 45_000);
        assert!(plan.unplanned.is_empty());
    }

    #[test]
    fn small_batches_and_small_regions_go_to_a_provider_without_minimum() {
        let asked = registered();
        let cands = [screening(true, &asked), ekycpro(&asked)];
        let small = plan(indian(120, 0), &asked, &cands);
        assert_eq!(small.orders.len(), 1);
        assert_eq!(small.orders[0].provider, ProviderId::Ekycpro);

        let mut mixed = indian(1_000, 0);
        mixed.extend(us(120));
        let mixed = plan(mixed, &asked, &cands);
        assert_eq!(mixed.orders.len(), 2);
        assert_eq!(mixed.orders[0].provider, ProviderId::WscrmScreening);
        assert_eq!(mixed.orders[0].len, 1_000);
        assert_eq!(mixed.orders[1].provider, ProviderId::Ekycpro);
        assert_eq!(mixed.orders[1].len, 120);
        assert_eq!(mixed.numbers.len(), 1_120);
    }

    #[test]
    fn an_open_circuit_moves_numbers_to_the_next_provider() {
        let asked = registered();
        let plan = plan(
            indian(45_000, 0),
            &asked,
            &[screening(false, &asked), ekycpro(&asked)],
        );
        assert!(
            plan.orders
                .iter()
                .all(|o| o.provider == ProviderId::Ekycpro)
        );
        assert_eq!(plan.orders.len(), 3);
    }

    #[test]
    fn checks_only_screening_answers_stay_there_or_are_unplanned() {
        let asked = CheckSet::of(&[Check::Activity]);
        let cands = [screening(true, &asked), ekycpro(&asked)];
        let small = plan(indian(120, 0), &asked, &cands);
        assert!(small.orders.is_empty());
        assert_eq!(small.unplanned.len(), 120);
        let nothing = plan(
            indian(10, 0),
            &CheckSet::of(&[Check::Profile]),
            &[screening(true, &CheckSet::of(&[Check::Profile]))],
        );
        assert_eq!(nothing.unanswerable, CheckSet::of(&[Check::Profile]));
        assert_eq!(nothing.unplanned.len(), 10);
    }
}
