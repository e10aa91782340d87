//! One circuit breaker per vendor (provider id), kept in the store so every replica sees the same
//! state. Every vendor call of the gateway goes through it: bulk and single-number checks,
//! account operations and business phones, from routes and workers alike.
//!
//! - **Closed**: calls go through. `failures` consecutive failures that say "the vendor is down"
//!   ([`counts_as_failure`]) open the circuit.
//! - **Open** for `cooldown`: calls are refused at once, without a vendor call, with the remaining
//!   cool-down.
//! - **Half-open** once the cool-down has passed: exactly one call (across replicas) is let
//!   through as a probe; the probe slot is taken with an atomic set-if-absent and expires by
//!   itself if its holder dies. A probe that succeeds closes the circuit; one that fails opens it
//!   for another cool-down. Other calls are refused while the probe runs.
//!
//! No web framework type appears here: routes map [`Refused`] to a problem, workers reschedule.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::{ProviderError, ProviderErrorKind, ProviderId};

use crate::keys;
use crate::store::{Store, StoreError};

/// When one vendor's circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long an open circuit refuses calls before one probe is let through.
    pub cooldown: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(60),
        }
    }
}

/// Why a call was not made.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The vendor's circuit is open (or its one probe is under way).
    #[error("{provider} circuit open; retry in {retry_after:?}")]
    Open {
        provider: ProviderId,
        retry_after: Duration,
    },
    /// The breaker's state could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Leave to make one call; hand it back to [`Breakers::settle`] with the outcome.
#[derive(Debug)]
#[must_use = "settle the permit with the call's outcome"]
pub struct Permit {
    provider: ProviderId,
    /// The probe slot's owner token when this call is the half-open probe.
    probe: Option<String>,
    /// Whether failures were counted when leave was given: a success resets them only then,
    /// which spares a healthy vendor's calls a store write each.
    failures_counted: bool,
}

impl Permit {
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }
}

/// Whether a vendor error says the vendor is down. Only unavailability and timeouts count:
/// an answer that refuses the request (caller errors, credentials, quota, a rate limit with its
/// own `Retry-After`, an unreadable body) proves the vendor is up, and opening the circuit for
/// every tenant on one tenant's bad request or burst would punish the others.
pub fn counts_as_failure(error: &ProviderError) -> bool {
    matches!(
        error.kind,
        ProviderErrorKind::Unavailable | ProviderErrorKind::Timeout
    )
}

#[derive(Debug, Clone)]
pub struct Breakers {
    store: Store,
    policies: Arc<BTreeMap<ProviderId, Policy>>,
    /// How long a probe slot is held at most: longer than any one guarded vendor operation, so
    /// a second probe never starts while the first still runs, yet a probe whose replica died
    /// does not keep the circuit half-open for long.
    probe_ttl: Duration,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ceil_secs(ms: i64) -> Duration {
    Duration::from_secs(u64::try_from(ms).unwrap_or(0).div_ceil(1000).max(1))
}

/// The stored end of a cool-down, in epoch milliseconds.
fn parse_open_until(raw: &[u8]) -> Option<i64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

impl Breakers {
    pub fn new(store: Store, probe_ttl: Duration) -> Self {
        Self {
            store,
            policies: Arc::new(BTreeMap::new()),
            probe_ttl,
        }
    }

    /// Sets one vendor's policy (vendors without one get [`Policy::default`]).
    pub fn with_policy(mut self, provider: ProviderId, policy: Policy) -> Self {
        let policy = Policy {
            failures: policy.failures.max(1),
            ..policy
        };
        Arc::make_mut(&mut self.policies).insert(provider, policy);
        self
    }

    fn policy(&self, provider: ProviderId) -> Policy {
        self.policies.get(&provider).copied().unwrap_or_default()
    }

    /// When the circuit opened last and has not been closed by a probe since: the end of its
    /// cool-down (unix ms).
    async fn open_until(&self, provider: ProviderId) -> Result<Option<i64>, StoreError> {
        Ok(self
            .store
            .get(&keys::BreakerOpenUntil::new(provider.as_str()))
            .await?
            .as_deref()
            .and_then(parse_open_until))
    }

    /// The remaining cool-down while the circuit is open; `None` when closed or ready for a
    /// probe. Takes no probe slot (for planning).
    pub async fn cooling_down(&self, provider: ProviderId) -> Result<Option<Duration>, StoreError> {
        let now = now_ms();
        Ok(self
            .open_until(provider)
            .await?
            .filter(|until| *until > now)
            .map(|until| ceil_secs(until - now)))
    }

    /// The circuit's state as a number for the `vendor_circuit_state` gauge: 0 closed, 1 half-open
    /// (the cool-down is over, the next call probes), 2 open.
    pub async fn state_gauge(&self, provider: ProviderId) -> Result<f64, StoreError> {
        Ok(match self.open_until(provider).await? {
            None => 0.0,
            Some(until) if until <= now_ms() => 1.0,
            Some(_) => 2.0,
        })
    }

    /// What [`Breakers::admit`] reads of `provider`'s circuit, for a caller that reads it along
    /// with another command and hands the values to [`Breakers::call_read`].
    pub fn state_keys(provider: ProviderId) -> Vec<String> {
        vec![
            keys::BreakerOpenUntil::new(provider.as_str()).into(),
            keys::BreakerFailures::new(provider.as_str()).into(),
        ]
    }

    /// Leave to call `provider` now, or why not.
    ///
    /// The circuit and its failure count are read together (one round trip). A failure counted
    /// after this read, while the call runs, is not reset by the call's success; the next call's
    /// success resets it.
    pub async fn admit(&self, provider: ProviderId) -> Result<Permit, Refused> {
        self.admit_read(provider, &[]).await
    }

    /// [`Breakers::admit`] from the values of [`Breakers::state_keys`] read already; reads them
    /// itself when `state` is not such a read.
    async fn admit_read(
        &self,
        provider: ProviderId,
        state: &[Option<Vec<u8>>],
    ) -> Result<Permit, Refused> {
        let read;
        let state = if state.len() == 2 {
            state
        } else {
            read = self.store.mget(&Self::state_keys(provider)).await?;
            read.as_slice()
        };
        let failures_counted = state.get(1).is_some_and(Option::is_some);
        let open_until = state
            .first()
            .and_then(Option::as_deref)
            .and_then(parse_open_until);
        let Some(until) = open_until else {
            return Ok(Permit {
                provider,
                probe: None,
                failures_counted,
            });
        };
        let now = now_ms();
        if until > now {
            return Err(self.refuse(provider, ceil_secs(until - now)));
        }
        let owner = uuid::Uuid::new_v4().simple().to_string();
        if self
            .store
            .lease_acquire(
                &keys::BreakerProbe::new(provider.as_str()),
                &owner,
                self.probe_ttl,
            )
            .await?
        {
            // A probe that failed a moment ago re-opened the circuit before freeing the slot:
            // read the circuit again, or a call that saw the old cool-down would probe twice.
            if let Some(until) = self.open_until(provider).await?
                && until > now_ms()
            {
                let _ = self
                    .store
                    .lease_release(&keys::BreakerProbe::new(provider.as_str()), &owner)
                    .await;
                return Err(self.refuse(provider, ceil_secs(until - now_ms())));
            }
            tracing::info!(%provider, "vendor circuit half-open: probing");
            return Ok(Permit {
                provider,
                probe: Some(owner),
                failures_counted,
            });
        }
        // Another call is the probe; its answer comes soon.
        Err(self.refuse(provider, Duration::from_secs(1)))
    }

    fn refuse(&self, provider: ProviderId, retry_after: Duration) -> Refused {
        metrics::counter!("vendor_circuit_refused_total", "provider" => provider.as_str())
            .increment(1);
        Refused::Open {
            provider,
            retry_after,
        }
    }

    /// Records a call's outcome. `failed` is the vendor error when it [`counts_as_failure`].
    /// The call has happened: a store failure here is logged, never turned into the call's result.
    pub async fn settle(&self, permit: Permit, error: Option<&ProviderError>) {
        let failed = error.is_some_and(counts_as_failure);
        let provider = permit.provider;
        if let Err(e) = self.record(permit, failed).await {
            tracing::warn!(%provider, error = %e, "vendor circuit state not updated");
        }
    }

    /// Hands back a permit whose call was not made (the probe slot is freed for another call).
    pub async fn abandon(&self, permit: Permit) {
        if let Some(owner) = &permit.probe {
            let _ = self
                .store
                .lease_release(&keys::BreakerProbe::new(permit.provider.as_str()), owner)
                .await;
        }
    }

    async fn record(&self, permit: Permit, failed: bool) -> Result<(), StoreError> {
        let provider = permit.provider;
        let policy = self.policy(provider);
        match (permit.probe, failed) {
            (Some(owner), false) => {
                self.store
                    .delete(&keys::BreakerOpenUntil::new(provider.as_str()))
                    .await?;
                self.store
                    .delete(&keys::BreakerFailures::new(provider.as_str()))
                    .await?;
                self.store
                    .lease_release(&keys::BreakerProbe::new(provider.as_str()), &owner)
                    .await?;
                tracing::info!(%provider, "vendor circuit closed: the probe succeeded");
            }
            (Some(owner), true) => {
                self.open(provider, policy).await?;
                self.store
                    .lease_release(&keys::BreakerProbe::new(provider.as_str()), &owner)
                    .await?;
                tracing::warn!(%provider, "vendor circuit opened again: the probe failed");
            }
            (None, false) if permit.failures_counted => {
                self.store
                    .delete(&keys::BreakerFailures::new(provider.as_str()))
                    .await?;
            }
            (None, false) => {}
            (None, true) => {
                let failures = self
                    .store
                    .incr(
                        &keys::BreakerFailures::new(provider.as_str()),
                        1,
                        Some(policy.cooldown * 10),
                    )
                    .await?;
                if failures >= i64::from(policy.failures) {
                    self.open(provider, policy).await?;
                    self.store
                        .delete(&keys::BreakerFailures::new(provider.as_str()))
                        .await?;
                    tracing::warn!(%provider, failures, "vendor circuit opened");
                }
            }
        }
        Ok(())
    }

    async fn open(&self, provider: ProviderId, policy: Policy) -> Result<(), StoreError> {
        let until = now_ms() + i64::try_from(policy.cooldown.as_millis()).unwrap_or(i64::MAX / 2);
        metrics::counter!("vendor_circuit_opened_total", "provider" => provider.as_str())
            .increment(1);
        self.store
            .set(
                &keys::BreakerOpenUntil::new(provider.as_str()),
                until.to_string().as_bytes(),
                None,
            )
            .await
    }

    /// Makes `call` behind the breaker: not started at all while the circuit is open (futures do
    /// nothing until awaited). The outer error says the call was not made; the inner result is
    /// the vendor's.
    pub async fn call<T, F>(
        &self,
        provider: ProviderId,
        call: F,
    ) -> Result<Result<T, ProviderError>, Refused>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        let permit = self.admit(provider).await?;
        let outcome = call.await;
        self.settle(permit, outcome.as_ref().err()).await;
        Ok(outcome)
    }

    /// [`Breakers::call`] with the circuit's state read already: `state` holds the values of
    /// [`Breakers::state_keys`] (read in the same round trip as the request's rate-limit count).
    pub async fn call_read<T, F>(
        &self,
        provider: ProviderId,
        state: &[Option<Vec<u8>>],
        call: F,
    ) -> Result<Result<T, ProviderError>, Refused>
    where
        F: Future<Output = Result<T, ProviderError>>,
    {
        let permit = self.admit_read(provider, state).await?;
        let outcome = call.await;
        self.settle(permit, outcome.as_ref().err()).await;
        Ok(outcome)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const P: ProviderId = providers::wscrm_screening::ID;

    fn down() -> ProviderError {
        ProviderError::new(ProviderErrorKind::Unavailable, P, "submit", "503")
    }

    fn breakers(failures: u32, cooldown: Duration) -> Breakers {
        Breakers::new(Store::memory("t:"), Duration::from_secs(30))
            .with_policy(P, Policy { failures, cooldown })
    }

    async fn fail(b: &Breakers) {
        let permit = b.admit(P).await.unwrap();
        b.settle(permit, Some(&down())).await;
    }

    async fn succeed(b: &Breakers) {
        let permit = b.admit(P).await.unwrap();
        b.settle(permit, None).await;
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_success_resets() {
        let b = breakers(3, Duration::from_secs(60));
        fail(&b).await;
        fail(&b).await;
        succeed(&b).await;
        fail(&b).await;
        fail(&b).await;
        assert!(b.cooling_down(P).await.unwrap().is_none());
        fail(&b).await;
        let left = b.cooling_down(P).await.unwrap().unwrap();
        assert!(left > Duration::from_secs(58) && left <= Duration::from_secs(60));
        match b.admit(P).await {
            Err(Refused::Open { retry_after, .. }) => assert_eq!(retry_after, left),
            other => panic!("{other:?}"),
        }
        assert!(b.admit(providers::ekycpro::ID).await.is_ok());
    }

    #[tokio::test]
    async fn a_success_resets_the_failures_counted_when_it_was_admitted() {
        let b = breakers(2, Duration::from_secs(60));
        // Admitted while nothing was counted: its success leaves a later failure counted.
        let early = b.admit(P).await.unwrap();
        fail(&b).await;
        b.settle(early, None).await;
        fail(&b).await;
        assert!(
            b.cooling_down(P).await.unwrap().is_some(),
            "two failures counted"
        );

        let b = breakers(2, Duration::from_secs(60));
        fail(&b).await;
        succeed(&b).await;
        fail(&b).await;
        assert!(
            b.cooling_down(P).await.unwrap().is_none(),
            "the success reset the count"
        );
    }

    #[tokio::test]
    async fn caller_errors_and_rate_limits_do_not_count() {
        let b = breakers(1, Duration::from_secs(60));
        for kind in [
            ProviderErrorKind::BadRequest,
            ProviderErrorKind::Auth,
            ProviderErrorKind::RateLimited { retry_after: None },
            ProviderErrorKind::NumberNotBound,
        ] {
            let permit = b.admit(P).await.unwrap();
            b.settle(permit, Some(&ProviderError::new(kind, P, "x", "")))
                .await;
        }
        assert!(b.cooling_down(P).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn after_the_cooldown_exactly_one_probe_goes_and_decides() {
        let b = breakers(1, Duration::from_millis(50));
        fail(&b).await;
        assert!(b.admit(P).await.is_err());
        tokio::time::sleep(Duration::from_millis(80)).await;
        let probe = b.admit(P).await.unwrap();
        assert!(probe.is_probe());
        // While the probe runs, everyone else is refused.
        assert!(matches!(b.admit(P).await, Err(Refused::Open { .. })));
        b.settle(probe, Some(&down())).await;
        assert!(b.cooling_down(P).await.unwrap().is_some(), "re-opened");

        tokio::time::sleep(Duration::from_millis(80)).await;
        let probe = b.admit(P).await.unwrap();
        assert!(probe.is_probe());
        b.settle(probe, None).await;
        let after = b.admit(P).await.unwrap();
        assert!(!after.is_probe(), "closed");
        b.settle(after, None).await;
    }

    #[tokio::test]
    async fn an_abandoned_probe_frees_the_slot() {
        let b = breakers(1, Duration::from_millis(10));
        fail(&b).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let probe = b.admit(P).await.unwrap();
        b.abandon(probe).await;
        assert!(b.admit(P).await.unwrap().is_probe());
    }

    #[tokio::test]
    async fn an_open_circuit_does_not_start_the_call() {
        let b = breakers(1, Duration::from_secs(60));
        fail(&b).await;
        let mut started = false;
        let refused = b
            .call(P, async {
                started = true;
                Ok::<_, ProviderError>(())
            })
            .await;
        assert!(matches!(refused, Err(Refused::Open { .. })));
        assert!(!started);
    }

    #[tokio::test]
    async fn a_call_with_the_state_read_already_follows_that_read() {
        let b = breakers(1, Duration::from_secs(60));
        let closed = b.store.mget(&Breakers::state_keys(P)).await.unwrap();
        fail(&b).await;
        let open = b.store.mget(&Breakers::state_keys(P)).await.unwrap();
        assert!(open[0].is_some(), "the circuit is open: {open:?}");

        // The state handed in decides, without reading the store again.
        let mut calls = 0;
        let refused = b
            .call_read(P, &open, async {
                calls += 1;
                Ok::<_, ProviderError>(())
            })
            .await;
        assert!(matches!(refused, Err(Refused::Open { .. })), "{refused:?}");
        let made = b
            .call_read(P, &closed, async {
                calls += 1;
                Ok::<_, ProviderError>(())
            })
            .await;
        assert!(matches!(made, Ok(Ok(()))), "{made:?}");
        assert_eq!(calls, 1);
        // Anything but such a read: the store is read, and the circuit is open.
        let refused = b
            .call_read(P, &[], async {
                calls += 1;
                Ok::<_, ProviderError>(())
            })
            .await;
        assert!(matches!(refused, Err(Refused::Open { .. })), "{refused:?}");
        assert_eq!(calls, 1);
    }
}
