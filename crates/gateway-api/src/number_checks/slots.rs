//! Order slots: how many vendor calls of number-check orders this replica has in flight at once,
//! per provider ([`super::OrderConcurrency`]). One set per replica, shared by every job, so two
//! jobs at the same vendor share its limit.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::ProviderId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::OrderConcurrency;
use super::jobs::Job;
use super::model::SubOrderState;

#[derive(Debug, Clone)]
pub struct OrderSlots {
    by_provider: Arc<HashMap<ProviderId, Arc<Semaphore>>>,
}

impl OrderSlots {
    pub fn new(limits: &OrderConcurrency) -> Self {
        let by_provider = providers::number_check_vendors()
            .into_iter()
            .map(|p| (p, Arc::new(Semaphore::new(limits.limit(p).max(1)))))
            .collect();
        Self {
            by_provider: Arc::new(by_provider),
        }
    }

    /// Waits for a free slot at `provider`; the slot is free again when the permit drops.
    /// A provider without a limit of its own (not a number checker) is not limited.
    pub async fn acquire(&self, provider: ProviderId) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.by_provider.get(&provider)?.clone();
        // The semaphores are never closed.
        semaphore.acquire_owned().await.ok()
    }
}

/// Result files this replica holds at once ([`super::NumberChecksConfig::result_files_in_flight`]),
/// from the start of a download until its answers are written: what bounds the memory a large
/// job takes while it completes, whatever the order concurrency.
#[derive(Debug, Clone)]
pub struct ResultSlots {
    semaphore: Arc<Semaphore>,
}

impl ResultSlots {
    pub fn new(limit: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    /// Waits for room for one more result file; the room is free again when the permit drops.
    pub async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed.
        self.semaphore.clone().acquire_owned().await.ok()
    }
}

/// What the worker does with a sub-order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Submit,
    Poll,
}

/// The sub-orders of a job to work on now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Sent orders whose next poll is due.
    pub polls: Vec<usize>,
    /// Orders not sent yet, per provider in order of first appearance.
    pub submits: Vec<Submits>,
}

/// One provider's orders to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submits {
    pub provider: ProviderId,
    pub orders: Vec<usize>,
    /// The provider has not accepted an order of this job yet: the first order goes alone, the
    /// others only after its answer.
    pub first_alone: bool,
}

/// The sub-orders to work on now. Sub-orders found `submitting` are not here: they are settled
/// before, without a vendor call.
pub fn due(job: &Job, now: DateTime<Utc>) -> Due {
    let mut due = Due::default();
    for (i, sub) in job.sub_orders.iter().enumerate() {
        match sub.state {
            SubOrderState::Running if sub.next_poll_at.is_none_or(|t| t <= now) => {
                due.polls.push(i);
            }
            SubOrderState::Pending => {
                match due.submits.iter_mut().find(|s| s.provider == sub.provider) {
                    Some(lane) => lane.orders.push(i),
                    None => due.submits.push(Submits {
                        provider: sub.provider,
                        orders: vec![i],
                        first_alone: !job
                            .sub_orders
                            .iter()
                            .any(|s| s.billed && s.provider == sub.provider),
                    }),
                }
            }
            _ => {}
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use domain::CheckSet;

    use super::*;
    use crate::number_checks::jobs::SubOrder;

    fn limits(default: usize, ekycpro: usize) -> OrderConcurrency {
        OrderConcurrency {
            default,
            providers: BTreeMap::from([(providers::ekycpro::ID, ekycpro)]),
        }
    }

    #[test]
    fn a_provider_limit_overrides_the_default() {
        let l = limits(4, 2);
        assert_eq!(l.limit(providers::ekycpro::ID), 2);
        assert_eq!(l.limit(providers::wscrm_screening::ID), 4);
    }

    #[tokio::test]
    async fn slots_are_per_provider_and_come_back_when_dropped() {
        let slots = OrderSlots::new(&limits(1, 2));
        let screening = slots.acquire(providers::wscrm_screening::ID).await;
        assert!(screening.is_some());
        let free = |p| slots.by_provider[&p].available_permits();
        assert_eq!(free(providers::wscrm_screening::ID), 0);
        let (a, b) = (
            slots.acquire(providers::ekycpro::ID).await,
            slots.acquire(providers::ekycpro::ID).await,
        );
        assert_eq!(free(providers::ekycpro::ID), 0);
        drop((a, b, screening));
        assert_eq!(free(providers::ekycpro::ID), 2);
        assert_eq!(free(providers::wscrm_screening::ID), 1);
        assert!(slots.acquire(providers::nxcloud::ID).await.is_none());
    }

    fn sub(i: usize, state: SubOrderState, next_poll_at: Option<DateTime<Utc>>) -> SubOrder {
        let mut sub = SubOrder::new(i, providers::ekycpro::ID, CheckSet::empty(), i * 10, 10);
        sub.state = state;
        sub.next_poll_at = next_poll_at;
        sub
    }

    #[test]
    fn pending_and_due_orders_are_worked_on() {
        let now = Utc::now();
        let later = now + Duration::from_secs(5);
        let job = Job::sample(vec![
            sub(0, SubOrderState::Pending, None),
            sub(1, SubOrderState::Running, Some(now)),
            sub(2, SubOrderState::Running, Some(later)),
            sub(3, SubOrderState::Running, None),
            sub(4, SubOrderState::Submitting, None),
            sub(5, SubOrderState::Completed, None),
            sub(6, SubOrderState::Failed, None),
            sub(7, SubOrderState::Unknown, None),
            sub(8, SubOrderState::Pending, None),
        ]);
        let due = due(&job, now);
        assert_eq!(due.polls, vec![1, 3]);
        assert_eq!(
            due.submits,
            vec![Submits {
                provider: providers::ekycpro::ID,
                orders: vec![0, 8],
                first_alone: true,
            }]
        );
    }

    #[test]
    fn a_provider_that_took_an_order_of_the_job_gets_the_rest_at_once() {
        let mut accepted = sub(0, SubOrderState::Running, Some(Utc::now()));
        accepted.billed = true;
        let mut elsewhere = sub(2, SubOrderState::Pending, None);
        elsewhere.provider = providers::wscrm_screening::ID;
        let job = Job::sample(vec![
            accepted,
            sub(1, SubOrderState::Pending, None),
            elsewhere,
            sub(3, SubOrderState::Pending, None),
        ]);
        let due = due(&job, Utc::now() - Duration::from_secs(60));
        assert!(due.polls.is_empty());
        assert_eq!(
            due.submits,
            vec![
                Submits {
                    provider: providers::ekycpro::ID,
                    orders: vec![1, 3],
                    first_alone: false,
                },
                Submits {
                    provider: providers::wscrm_screening::ID,
                    orders: vec![2],
                    first_alone: true,
                },
            ]
        );
    }
}
