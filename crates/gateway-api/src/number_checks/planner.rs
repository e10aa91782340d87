//! Routing and splitting: which provider gets which numbers for which checks, in orders of which
//! size. Pure.
//!
//! Policy (for `provider: auto`):
//! 1. Every asked check is planned, for every number, or reported as not plannable: nothing is
//!    dropped. The checks are covered in rounds: each round takes the first candidate (configured
//!    preference order, those whose circuit is closed first) answering the most of the checks
//!    still to plan, and plans exactly the checks it answers (its *target*) with the candidates
//!    answering all of them. The remaining checks go to the next round (e.g. `activity` to
//!    screening, then `profile` to ekycpro).
//! 2. Numbers go to the first eligible provider whose order limits they fit: a vendor taking one
//!    region per order gets one group per region. A group of at least the vendor's minimum is
//!    split into the fewest orders of at most its maximum, sized evenly (45,000 → 3 × 15,000),
//!    so no order is over the maximum nor under the minimum.
//! 3. A group below a vendor's minimum (e.g. under 500 for screening) is never padded. When the
//!    candidate may pool ([`Candidate::pool`]: a batching window is open for this job), the
//!    group is held back for other callers' numbers of the same region ([`Plan::pooled`]);
//!    otherwise it goes to the next eligible provider without that minimum (ekycpro). If none
//!    is left, its checks are planned again with the providers not tried yet (which may answer
//!    only some of them); what no provider takes is [`Plan::unplanned`].

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
    /// Whether a group below the provider's minimum waits to be pooled with other callers'
    /// numbers instead of moving on.
    pub pool: bool,
}

impl Candidate {
    /// The order groups answering `target` (a subset of the asked checks).
    fn groups_for(&self, target: &CheckSet) -> Vec<CheckSet> {
        self.groups
            .iter()
            .map(|g| g.intersection(target))
            .filter(|g| !g.is_empty())
            .collect()
    }
}

/// One vendor order to make: `numbers[start..start + len]` of [`Plan::numbers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder {
    pub provider: ProviderId,
    pub checks: CheckSet,
    pub start: usize,
    pub len: usize,
}

/// Numbers no candidate takes for `checks` (below every minimum, or no provider left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplanned {
    pub checks: CheckSet,
    pub numbers: Vec<E164>,
}

/// A group below `provider`'s minimum, held back to be pooled with other callers' numbers of
/// the same `region` asked for the same `checks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pooled {
    pub provider: ProviderId,
    pub checks: CheckSet,
    /// ISO 3166-1 alpha-2 region, `None` for numbers of no known region.
    pub region: Option<String>,
    pub numbers: Vec<E164>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The numbers to send, ordered so each order is a contiguous range. A number asked for
    /// checks of two providers appears once per provider.
    pub numbers: Vec<E164>,
    pub orders: Vec<PlannedOrder>,
    /// (Numbers, checks) no provider could take; every asked check not in an order, in
    /// `unanswerable` or here is planned.
    pub unplanned: Vec<Unplanned>,
    /// Asked checks no candidate answers at all (for no number).
    pub unanswerable: CheckSet,
    /// Groups waiting to be pooled (planned, billed once their pool is ordered).
    pub pooled: Vec<Pooled>,
}

impl Plan {
    /// Numbers that will be billed (a number in two orders is billed twice), pooled ones
    /// included: they are billed either in their pool's order or by the fallback.
    pub fn billed(&self) -> u64 {
        let ordered: u64 = self.orders.iter().map(|o| o.len as u64).sum();
        let pooled: u64 = self.pooled.iter().map(|p| p.numbers.len() as u64).sum();
        ordered + pooled
    }

    /// Numbers for which no asked check at all can be answered.
    pub fn unplanned_numbers(&self, asked: &CheckSet) -> u64 {
        let answerable = asked.difference(&self.unanswerable);
        let mut missing: std::collections::HashMap<E164, CheckSet> = Default::default();
        for u in &self.unplanned {
            for n in &u.numbers {
                let entry = missing.entry(*n).or_default();
                *entry = entry.union(&u.checks);
            }
        }
        missing
            .values()
            .filter(|checks| answerable.is_subset(checks))
            .count() as u64
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
    let mut ordered: Vec<&Candidate> = candidates.iter().filter(|c| !c.groups.is_empty()).collect();
    // Stable: keeps the preference order within healthy and within open-circuit providers.
    ordered.sort_by_key(|c| !c.healthy);
    let answerable = ordered
        .iter()
        .fold(CheckSet::empty(), |acc, c| acc.union(&c.checks));
    plan.unanswerable = asked.difference(&answerable);
    if numbers.is_empty() {
        return plan;
    }
    plan_checks(
        &mut plan,
        numbers,
        asked.intersection(&answerable),
        &ordered,
    );
    plan
}

/// [`plan`] for groups of numbers each asking its own checks (all among `asked`), in one plan:
/// the groups' numbers one after another, their orders on those ranges.
pub fn plan_groups(
    groups: Vec<(CheckSet, Vec<E164>)>,
    asked: &CheckSet,
    candidates: &[Candidate],
) -> Plan {
    let mut out = plan(Vec::new(), asked, candidates);
    for (checks, numbers) in groups {
        let part = plan(numbers, &checks, candidates);
        let offset = out.numbers.len();
        out.numbers.extend(part.numbers);
        out.orders
            .extend(part.orders.into_iter().map(|o| PlannedOrder {
                start: o.start + offset,
                ..o
            }));
        out.unplanned.extend(part.unplanned);
        out.pooled.extend(part.pooled);
    }
    out
}

/// Plans `todo` for `numbers` with `candidates`, round by round (see the module policy).
fn plan_checks(plan: &mut Plan, numbers: Vec<E164>, todo: CheckSet, candidates: &[&Candidate]) {
    if numbers.is_empty() || todo.is_empty() {
        return;
    }
    let coverage = |c: &&Candidate| c.checks.intersection(&todo).len();
    let best = candidates.iter().map(coverage).max().unwrap_or(0);
    let Some(first) = candidates.iter().find(|c| best > 0 && coverage(c) == best) else {
        plan.unplanned.push(Unplanned {
            checks: todo,
            numbers,
        });
        return;
    };
    let target = first.checks.intersection(&todo);
    let (eligible, others): (Vec<&Candidate>, Vec<&Candidate>) =
        candidates.iter().partition(|c| target.is_subset(&c.checks));
    let leftover = assign(plan, numbers.clone(), &target, &eligible);
    // Numbers no eligible provider took: the providers not tried may answer part of the target.
    plan_checks(plan, leftover, target, &others);
    plan_checks(plan, numbers, todo.difference(&target), candidates);
}

/// Puts `numbers` into orders of the first eligible provider whose limits they fit; returns the
/// numbers none took.
fn assign(
    plan: &mut Plan,
    numbers: Vec<E164>,
    target: &CheckSet,
    eligible: &[&Candidate],
) -> Vec<E164> {
    let mut remaining = numbers;
    for candidate in eligible {
        if remaining.is_empty() {
            break;
        }
        let order_groups = candidate.groups_for(target);
        let groups: Vec<(Option<String>, Vec<E164>)> = if candidate.one_region_per_order {
            split_by_country(&remaining).into_iter().collect()
        } else {
            vec![(None, std::mem::take(&mut remaining))]
        };
        let mut leftover = Vec::new();
        for (region, group) in groups {
            if group.len() < candidate.limits.min.max(1) {
                if candidate.pool {
                    plan.pooled.extend(order_groups.iter().map(|checks| Pooled {
                        provider: candidate.provider,
                        checks: *checks,
                        region: region.clone(),
                        numbers: group.clone(),
                    }));
                } else {
                    leftover.extend(group);
                }
                continue;
            }
            let mut offset = 0;
            for size in split_sizes(group.len(), candidate.limits.max) {
                let start = plan.numbers.len();
                plan.numbers
                    .extend_from_slice(&group[offset..offset + size]);
                offset += size;
                for checks in &order_groups {
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
    remaining
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use domain::Check;

    fn screening(healthy: bool, asked: &CheckSet) -> Candidate {
        let checks = providers::wscrm_screening::checks();
        Candidate {
            provider: providers::wscrm_screening::ID,
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
            pool: false,
        }
    }

    fn pooling(asked: &CheckSet) -> Candidate {
        Candidate {
            pool: true,
            ..screening(true, asked)
        }
    }

    fn ekycpro(asked: &CheckSet) -> Candidate {
        let checks = providers::ekycpro::checks();
        Candidate {
            provider: providers::ekycpro::ID,
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
            pool: false,
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
    fn groups_asking_different_checks_are_planned_on_their_own_ranges() {
        let asked = CheckSet::of(&[Check::Registered, Check::Profile]);
        let candidates = [screening(true, &asked), ekycpro(&asked)];
        let profile = CheckSet::of(&[Check::Profile]);
        let plan = plan_groups(
            vec![(registered(), indian(600, 0)), (profile, indian(20, 1_000))],
            &asked,
            &candidates,
        );
        assert_eq!(plan.numbers.len(), 620);
        let orders: Vec<(ProviderId, CheckSet, usize, usize)> = plan
            .orders
            .iter()
            .map(|o| (o.provider, o.checks, o.start, o.len))
            .collect();
        assert_eq!(
            orders,
            vec![
                (providers::wscrm_screening::ID, registered(), 0, 600),
                (providers::ekycpro::ID, profile, 600, 20),
            ]
        );
        assert_eq!(plan.numbers[600], indian(1, 1_000)[0]);
        assert!(plan.unplanned.is_empty() && plan.unanswerable.is_empty());
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
        assert!(plan.orders.iter().all(
            |o| o.provider == providers::wscrm_screening::ID && (500..=20_000).contains(&o.len)
        ));
        assert_eq!(plan.billed(), 45_000);
        assert!(plan.unplanned.is_empty());
        assert!(plan.unanswerable.is_empty());
    }

    #[test]
    fn small_batches_and_small_regions_go_to_a_provider_without_minimum() {
        let asked = registered();
        let cands = [screening(true, &asked), ekycpro(&asked)];
        let small = plan(indian(120, 0), &asked, &cands);
        assert_eq!(small.orders.len(), 1);
        assert_eq!(small.orders[0].provider, providers::ekycpro::ID);

        let mut mixed = indian(1_000, 0);
        mixed.extend(us(120));
        let mixed = plan(mixed, &asked, &cands);
        assert_eq!(mixed.orders.len(), 2);
        assert_eq!(mixed.orders[0].provider, providers::wscrm_screening::ID);
        assert_eq!(mixed.orders[0].len, 1_000);
        assert_eq!(mixed.orders[1].provider, providers::ekycpro::ID);
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
                .all(|o| o.provider == providers::ekycpro::ID)
        );
        assert_eq!(plan.orders.len(), 3);
    }

    #[test]
    fn checks_only_screening_answers_stay_there_or_are_unplanned() {
        let asked = CheckSet::of(&[Check::Activity]);
        let cands = [screening(true, &asked), ekycpro(&asked)];
        let small = plan(indian(120, 0), &asked, &cands);
        assert!(small.orders.is_empty());
        assert_eq!(small.unplanned.len(), 1);
        assert_eq!(small.unplanned[0].checks, asked);
        assert_eq!(small.unplanned[0].numbers.len(), 120);
        assert_eq!(small.unplanned_numbers(&asked), 120);
        let nothing = plan(
            indian(10, 0),
            &CheckSet::of(&[Check::Profile]),
            &[screening(true, &CheckSet::of(&[Check::Profile]))],
        );
        assert_eq!(nothing.unanswerable, CheckSet::of(&[Check::Profile]));
        assert!(nothing.orders.is_empty());
    }

    #[test]
    fn checks_of_two_providers_are_both_planned() {
        let asked = CheckSet::of(&[Check::Activity, Check::Profile]);
        let both = plan(
            indian(600, 0),
            &asked,
            &[screening(true, &asked), ekycpro(&asked)],
        );
        let planned: Vec<(ProviderId, CheckSet, usize)> = both
            .orders
            .iter()
            .map(|o| (o.provider, o.checks, o.len))
            .collect();
        assert_eq!(
            planned,
            vec![
                (
                    providers::wscrm_screening::ID,
                    CheckSet::of(&[Check::Activity]),
                    600
                ),
                (providers::ekycpro::ID, CheckSet::of(&[Check::Profile]), 600),
            ]
        );
        assert!(both.unplanned.is_empty() && both.unanswerable.is_empty());
    }

    #[test]
    fn numbers_below_a_minimum_keep_the_checks_another_provider_answers() {
        let asked = CheckSet::of(&[Check::Registered, Check::Activity]);
        let small = plan(
            indian(120, 0),
            &asked,
            &[screening(true, &asked), ekycpro(&asked)],
        );
        assert_eq!(small.orders.len(), 1);
        assert_eq!(small.orders[0].provider, providers::ekycpro::ID);
        assert_eq!(small.orders[0].checks, CheckSet::of(&[Check::Registered]));
        assert_eq!(
            small.unplanned,
            vec![Unplanned {
                checks: CheckSet::of(&[Check::Activity]),
                numbers: indian(120, 0),
            }]
        );
        assert_eq!(small.unplanned_numbers(&asked), 0);
    }

    #[test]
    fn a_small_group_waits_for_a_pool_instead_of_moving_on() {
        let asked = registered();
        let mut numbers = indian(1_000, 0);
        numbers.extend(us(120));
        let plan = plan(numbers, &asked, &[pooling(&asked), ekycpro(&asked)]);
        assert_eq!(plan.orders.len(), 1, "the large region is ordered at once");
        assert_eq!(plan.orders[0].provider, providers::wscrm_screening::ID);
        assert_eq!(
            plan.pooled,
            vec![Pooled {
                provider: providers::wscrm_screening::ID,
                checks: asked,
                region: Some("US".into()),
                numbers: us(120),
            }]
        );
        assert!(plan.unplanned.is_empty());
        assert_eq!(plan.billed(), 1_120, "pooled numbers are reserved too");
    }

    #[test]
    fn a_pooled_group_keeps_every_check_of_its_provider() {
        let asked = CheckSet::of(&[Check::Registered, Check::Activity]);
        let plan = plan(indian(120, 0), &asked, &[pooling(&asked), ekycpro(&asked)]);
        assert!(
            plan.orders.is_empty(),
            "nothing moves to ekycpro while pooled"
        );
        assert_eq!(plan.pooled.len(), 1);
        assert_eq!(plan.pooled[0].checks, asked);
        assert_eq!(plan.pooled[0].region.as_deref(), Some("IN"));
        assert!(plan.unplanned.is_empty());
    }
}
