//! A circuit breaker per vendor, kept in the store so every replica sees the same state:
//! `circuit_failures` consecutive transient failures open it for `circuit_cooldown`, during
//! which the planner prefers other providers that answer the same checks.

use std::time::Duration;

use domain::ProviderId;

use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct Circuit {
    store: Store,
    threshold: u32,
    cooldown: Duration,
}

impl Circuit {
    pub fn new(store: Store, threshold: u32, cooldown: Duration) -> Self {
        Self {
            store,
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn failures_key(provider: ProviderId) -> String {
        format!("nc:circuit:{provider}:failures")
    }

    fn open_key(provider: ProviderId) -> String {
        format!("nc:circuit:{provider}:open")
    }

    pub async fn is_open(&self, provider: ProviderId) -> Result<bool, StoreError> {
        Ok(self.store.get(&Self::open_key(provider)).await?.is_some())
    }

    pub async fn record_success(&self, provider: ProviderId) -> Result<(), StoreError> {
        self.store.delete(&Self::failures_key(provider)).await?;
        Ok(())
    }

    /// Counts a transient failure; opens the circuit at the threshold.
    pub async fn record_failure(&self, provider: ProviderId) -> Result<(), StoreError> {
        let failures = self
            .store
            .incr(&Self::failures_key(provider), 1, Some(self.cooldown * 10))
            .await?;
        if failures >= i64::from(self.threshold) {
            tracing::warn!(%provider, failures, "vendor circuit opened");
            metrics::counter!("number_checks_circuit_opened_total", "provider" => provider.as_str())
                .increment(1);
            self.store
                .set(&Self::open_key(provider), b"1", Some(self.cooldown))
                .await?;
            self.store.delete(&Self::failures_key(provider)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_success_resets() {
        let circuit = Circuit::new(Store::memory("t:"), 3, Duration::from_secs(60));
        let p = ProviderId::WscrmScreening;
        circuit.record_failure(p).await.unwrap();
        circuit.record_failure(p).await.unwrap();
        circuit.record_success(p).await.unwrap();
        circuit.record_failure(p).await.unwrap();
        circuit.record_failure(p).await.unwrap();
        assert!(!circuit.is_open(p).await.unwrap());
        circuit.record_failure(p).await.unwrap();
        assert!(circuit.is_open(p).await.unwrap());
        assert!(!circuit.is_open(ProviderId::Ekycpro).await.unwrap());
    }
}
