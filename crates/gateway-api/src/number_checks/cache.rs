//! Cached answers, one entry per (number, check), holding the whole record and its check time.
//! Reads and writes are batched (`mget`/`mset`, pipelined on Redis).

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Check, CheckSet, E164, NumberResult};
use futures_util::StreamExt;

use super::CacheScope;
use crate::store::{Store, StoreError};

/// Numbers looked up per `mget`.
const CHUNK: usize = 5_000;
/// `mget`s in flight at once (pipelined on the shared connection), so the store answers one
/// while the next is encoded and the previous one decoded.
const LOOKUPS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct Cache {
    store: Store,
    scope: String,
    ttl: Duration,
}

/// Cached answers found fresh, and the numbers that still need a vendor.
#[derive(Debug, Default)]
pub struct Lookup {
    pub hits: Vec<NumberResult>,
    pub misses: Vec<E164>,
}

impl Cache {
    pub fn new(store: Store, scope: CacheScope, tenant: &str, ttl: Duration) -> Self {
        let scope = match scope {
            CacheScope::Shared => "shared".to_owned(),
            CacheScope::PerTenant => format!("t:{tenant}"),
        };
        Self { store, scope, ttl }
    }

    fn key(&self, number: &E164, check: Check) -> String {
        format!(
            "nc:cache:{}:{}:{}",
            self.scope,
            // The digits, as `E164::digits` writes them, without a String of their own.
            number.as_u64(),
            check.as_str()
        )
    }

    /// A number is a hit only when every asked check has an answer younger than `max_age`.
    pub async fn lookup(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lookup, StoreError> {
        let mut out = Lookup::default();
        let checks: Vec<Check> = checks.iter().collect();
        if checks.is_empty() {
            out.misses = numbers.to_vec();
            return Ok(out);
        }
        let oldest = now - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        let checks = &checks;
        // `buffered` yields the replies in chunk order, so hits and misses keep the input order.
        let mut replies = futures_util::stream::iter(numbers.chunks(CHUNK))
            .map(|chunk| async move {
                let keys: Vec<String> = chunk
                    .iter()
                    .flat_map(|n| checks.iter().map(move |c| (n, *c)))
                    .map(|(n, c)| self.key(n, c))
                    .collect();
                self.store.mget(&keys).await.map(|values| (chunk, values))
            })
            .buffered(LOOKUPS_IN_FLIGHT);
        while let Some(reply) = replies.next().await {
            let (chunk, values) = reply?;
            for (number, answers) in chunk.iter().zip(values.chunks(checks.len())) {
                match merge_fresh(*number, answers, checks, oldest) {
                    Some(record) => out.hits.push(record),
                    None => out.misses.push(*number),
                }
            }
        }
        metrics::counter!("number_checks_cache_lookups_total", "result" => "hit")
            .increment(out.hits.len() as u64);
        metrics::counter!("number_checks_cache_lookups_total", "result" => "miss")
            .increment(out.misses.len() as u64);
        Ok(out)
    }

    /// Caches `results` as the answer to each of `checks` it answers (a check without an answer
    /// in the record, `failed` say, is not cached).
    pub async fn store(
        &self,
        results: &[NumberResult],
        checks: &CheckSet,
    ) -> Result<(), StoreError> {
        for chunk in results.chunks(CHUNK) {
            let mut entries = Vec::with_capacity(chunk.len() * checks.len());
            for record in chunk {
                let Ok(bytes) = serde_json::to_vec(record) else {
                    continue;
                };
                for check in checks
                    .iter()
                    .filter(|c| record.status(*c).is_none_or(domain::CheckStatus::is_answer))
                {
                    entries.push((self.key(&record.number, check), bytes.clone()));
                }
            }
            self.store.mset(&entries, Some(self.ttl)).await?;
        }
        Ok(())
    }
}

/// One record answering every check, if each check's answer is present and fresh; only the
/// asked checks' fields are taken from the cached records.
fn merge_fresh(
    number: E164,
    answers: &[Option<Vec<u8>>],
    checks: &[Check],
    oldest: DateTime<Utc>,
) -> Option<NumberResult> {
    let mut merged = NumberResult::unanswered(number);
    for (answer, check) in answers.iter().zip(checks) {
        let mut record: NumberResult = serde_json::from_slice(answer.as_deref()?).ok()?;
        if record.number != number {
            return None;
        }
        // Entries written before records carried statuses are answers of their provider.
        record.settle(&CheckSet::of(&[*check]));
        let outcome = record.checks.get(check)?;
        if !outcome.status.is_answer() || outcome.checked_at.is_none_or(|at| at < oldest) {
            return None;
        }
        merged.absorb_check(&record, *check);
    }
    Some(merged)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use domain::ProviderId;

    #[tokio::test]
    async fn fresh_answers_hit_and_stale_or_partial_ones_miss() {
        let store = Store::memory("t:");
        let cache = Cache::new(store, CacheScope::Shared, "acme", Duration::from_secs(3600));
        let now = Utc::now();
        let a: E164 = "+919800000001".parse().unwrap();
        let b: E164 = "+919800000002".parse().unwrap();
        let mut fresh = NumberResult::empty(a, ProviderId::Ekycpro, now);
        fresh.registered = Some(true);
        fresh.settle(&CheckSet::of(&[Check::Registered]));
        let stale = NumberResult::empty(b, ProviderId::Ekycpro, now - chrono::Duration::hours(2));
        let registered = CheckSet::of(&[Check::Registered]);
        cache
            .store(&[fresh.clone(), stale], &registered)
            .await
            .unwrap();

        let found = cache
            .lookup(&[a, b], &registered, Duration::from_secs(3600), now)
            .await
            .unwrap();
        assert_eq!(found.hits, vec![fresh]);
        assert_eq!(found.misses, vec![b]);

        let both = CheckSet::of(&[Check::Registered, Check::Profile]);
        let partial = cache
            .lookup(&[a], &both, Duration::from_secs(3600), now)
            .await
            .unwrap();
        assert_eq!(partial.misses, vec![a]);
    }

    #[tokio::test]
    async fn per_tenant_scope_separates_tenants() {
        let store = Store::memory("t:");
        let now = Utc::now();
        let a: E164 = "+919800000001".parse().unwrap();
        let checks = CheckSet::of(&[Check::Registered]);
        let one = Cache::new(
            store.clone(),
            CacheScope::PerTenant,
            "one",
            Duration::from_secs(60),
        );
        let two = Cache::new(store, CacheScope::PerTenant, "two", Duration::from_secs(60));
        one.store(&[NumberResult::empty(a, ProviderId::Ekycpro, now)], &checks)
            .await
            .unwrap();
        let found = two
            .lookup(&[a], &checks, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert!(found.hits.is_empty());
    }
}
