//! Cached answers: one entry per number, a hash with one field per check holding that check's
//! answer (the fields it fills, its status, provider and check time). Writing some checks of a
//! number sets only their fields, so the number's other answers are kept; each check keeps its
//! own time, and `max_age` applies to each asked check. Reads fetch only the asked checks.
//! Reads and writes are batched (pipelined on Redis).
//!
//! Entries written before one entry per number (one key per (number, check), each holding the
//! whole record) are read only with `number_checks.legacy_cache_reads` ([`Cache::reading_legacy`]),
//! for the checks a number's entry lacks: reading them for every lookup costs a key read per
//! (number, check) that after the cut-over almost never finds anything. They expire
//! `cache_ttl` after they were written; the setting and its code can go once no supported
//! release writes them.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Check, CheckSet, E164, NumberResult};
use futures_util::StreamExt;

use super::CacheScope;
use crate::keys;
pub use crate::keys::scope_name;
use crate::store::{Field, Store, StoreError};

/// Numbers looked up or written per batch.
const CHUNK: usize = 5_000;
/// Lookups in flight at once (pipelined on the shared connection), so the store answers one
/// while the next is encoded and the previous one decoded.
const LOOKUPS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
pub struct Cache {
    store: Store,
    scope: String,
    ttl: Duration,
    /// Whether checks a number's entry lacks are looked for in the per-(number, check) keys of
    /// earlier releases.
    legacy_reads: bool,
}

/// Cached answers found fresh, and the numbers that still need a vendor.
#[derive(Debug, Default)]
pub struct Lookup {
    pub hits: Vec<NumberResult>,
    pub misses: Vec<E164>,
}

impl Cache {
    pub fn new(store: Store, scope: CacheScope, tenant: &str, ttl: Duration) -> Self {
        Self {
            store,
            scope: scope_name(scope, tenant),
            ttl,
            legacy_reads: false,
        }
    }

    /// Also reads the per-(number, check) entries of earlier releases (off by default).
    #[must_use]
    pub fn reading_legacy(mut self, on: bool) -> Self {
        self.legacy_reads = on;
        self
    }

    /// A number is a hit only when every asked check has an answer younger than `max_age`
    /// (and than the cache's own lifetime).
    pub async fn lookup(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lookup, StoreError> {
        self.find(numbers, checks, max_age, now, self.legacy_reads)
            .await
    }

    /// [`Cache::lookup`] of answers written since the legacy entries (which do not change):
    /// never reads those.
    pub async fn lookup_recent(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lookup, StoreError> {
        self.find(numbers, checks, max_age, now, false).await
    }

    /// What [`Cache::lookup_read`] needs read first for one number: its entry's key and the
    /// fields of `checks`, for a caller that sends that read along with another command.
    pub fn entry_read(&self, number: &E164, checks: &CheckSet) -> (String, Vec<String>) {
        let fields = checks.iter().map(|c| c.as_str().to_owned()).collect();
        (keys::CachedNumber::of(&self.scope, number).into(), fields)
    }

    /// [`Cache::lookup`] of one number whose entry was read already ([`Cache::entry_read`]):
    /// `row` holds the values of its fields (`None` for absent ones). Only checks the entry lacks
    /// are read again (from the legacy keys, when they are read).
    pub async fn lookup_read(
        &self,
        number: E164,
        asked: &CheckSet,
        row: Vec<Option<Vec<u8>>>,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lookup, StoreError> {
        let checks: Vec<Check> = asked.iter().collect();
        if checks.is_empty() || row.len() != checks.len() {
            return self.lookup(&[number], asked, max_age, now).await;
        }
        let mut rows = vec![row];
        if self.legacy_reads {
            self.fill_from_legacy(&[number], &checks, &mut rows).await?;
        }
        let oldest = self.oldest(max_age, now);
        let mut out = Lookup::default();
        match rows
            .pop()
            .and_then(|row| merge_fresh(number, &row, &checks, oldest))
        {
            Some(record) => out.hits.push(record),
            None => out.misses.push(number),
        }
        count_lookups(&out);
        Ok(out)
    }

    /// Answers checked before this are too old.
    fn oldest(&self, max_age: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
        let max_age = max_age.min(self.ttl);
        now - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX)
    }

    async fn find(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
        max_age: Duration,
        now: DateTime<Utc>,
        legacy: bool,
    ) -> Result<Lookup, StoreError> {
        let mut out = Lookup::default();
        let checks: Vec<Check> = checks.iter().collect();
        if checks.is_empty() {
            out.misses = numbers.to_vec();
            return Ok(out);
        }
        let oldest = self.oldest(max_age, now);
        // Made up front (they run only when polled), so the stream holds no closure whose
        // borrows would keep the lookup from being sent to another thread.
        let lookups: Vec<_> = numbers
            .chunks(CHUNK)
            .map(|chunk| self.answers(chunk, &checks, legacy))
            .collect();
        // `buffered` yields the replies in chunk order, so hits and misses keep the input order.
        let mut replies = futures_util::stream::iter(lookups).buffered(LOOKUPS_IN_FLIGHT);
        let mut chunks = numbers.chunks(CHUNK);
        while let Some(reply) = replies.next().await {
            let (Some(chunk), answers) = (chunks.next(), reply?) else {
                break;
            };
            for (number, answers) in chunk.iter().zip(answers) {
                match merge_fresh(*number, &answers, &checks, oldest) {
                    Some(record) => out.hits.push(record),
                    None => out.misses.push(*number),
                }
            }
        }
        count_lookups(&out);
        Ok(out)
    }

    /// The cached answers of `checks` for each number (one row per number, one value per
    /// check), from the numbers' entries, else from the legacy keys.
    async fn answers(
        &self,
        numbers: &[E164],
        checks: &[Check],
        legacy: bool,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        let keys: Vec<String> = numbers
            .iter()
            .map(|n| keys::CachedNumber::of(&self.scope, n).into())
            .collect();
        let fields: Vec<String> = checks.iter().map(|c| c.as_str().to_owned()).collect();
        let mut rows = self.store.hmget_many(&keys, &fields).await?;
        if legacy {
            self.fill_from_legacy(numbers, checks, &mut rows).await?;
        }
        Ok(rows)
    }

    /// Fills the values `rows` lack from the legacy per-(number, check) keys.
    async fn fill_from_legacy(
        &self,
        numbers: &[E164],
        checks: &[Check],
        rows: &mut [Vec<Option<Vec<u8>>>],
    ) -> Result<(), StoreError> {
        let gaps: Vec<(usize, usize)> = rows
            .iter()
            .enumerate()
            .flat_map(|(n, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, value)| value.is_none())
                    .map(move |(c, _)| (n, c))
            })
            .collect();
        if gaps.is_empty() {
            return Ok(());
        }
        let legacy: Vec<String> = gaps
            .iter()
            .map(|&(n, c)| keys::LegacyCachedAnswer::of(&self.scope, &numbers[n], checks[c]).into())
            .collect();
        let found = self.store.mget(&legacy).await?;
        for ((n, c), value) in gaps.into_iter().zip(found) {
            rows[n][c] = value;
        }
        Ok(())
    }

    /// Caches each of `checks` that a record answers (a check without an answer in the record,
    /// `failed` say, is not cached) into the record's number's entry, keeping its other checks.
    /// A written entry is kept `cache_ttl` from this write.
    pub async fn store(
        &self,
        results: impl Into<Arc<[NumberResult]>>,
        checks: &CheckSet,
    ) -> Result<(), StoreError> {
        // Each chunk encoded in its own task, on whichever thread is free.
        super::spread::over_chunks(results.into(), CHUNK, |chunk| {
            let (cache, checks) = (self.clone(), *checks);
            async move { cache.store_chunk(&chunk, &checks).await }
        })
        .await?;
        Ok(())
    }

    async fn store_chunk(
        &self,
        chunk: &[NumberResult],
        checks: &CheckSet,
    ) -> Result<(), StoreError> {
        let entries: Vec<(String, Vec<Field>)> = chunk
            .iter()
            .map(|record| {
                let fields = checks
                    .iter()
                    .filter_map(|check| {
                        let answer = answer_of(record, check)?;
                        let bytes = super::jobs::record_json(&answer)?;
                        Some((check.as_str().to_owned(), bytes))
                    })
                    .collect();
                (
                    keys::CachedNumber::of(&self.scope, &record.number).into(),
                    fields,
                )
            })
            .collect();
        self.store.hset_many(&entries, Some(self.ttl)).await
    }
}

fn count_lookups(lookup: &Lookup) {
    metrics::counter!("number_checks_cache_lookups_total", "result" => "hit")
        .increment(lookup.hits.len() as u64);
    metrics::counter!("number_checks_cache_lookups_total", "result" => "miss")
        .increment(lookup.misses.len() as u64);
}

/// `check`'s answer in `record` as a record of its own: the fields the check fills, its status,
/// and its own provider and check time. `None` when the record has no answer to it. A record
/// without statuses is the answer of its provider to every check.
fn answer_of(record: &NumberResult, check: Check) -> Option<NumberResult> {
    let source = if record.status(check).is_some() {
        Cow::Borrowed(record)
    } else {
        let mut settled = record.clone();
        settled.settle(&CheckSet::of(&[check]));
        Cow::Owned(settled)
    };
    let outcome = source.checks.get(&check)?;
    if !outcome.status.is_answer() {
        return None;
    }
    let mut answer = NumberResult::unanswered(record.number);
    answer.absorb_check(&source, check);
    answer.provider = outcome.provider.or(answer.provider);
    answer.checked_at = outcome.checked_at.or(answer.checked_at);
    Some(answer)
}

/// One record answering every check, if each check's answer is present and fresh; only the
/// asked checks' fields are taken from the cached answers.
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
        // Legacy entries written before records carried statuses are answers of their provider.
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
        let mut fresh = NumberResult::empty(a, providers::ekycpro::ID, now);
        fresh.registered = Some(true);
        fresh.settle(&CheckSet::of(&[Check::Registered]));
        let stale =
            NumberResult::empty(b, providers::ekycpro::ID, now - chrono::Duration::hours(2));
        let registered = CheckSet::of(&[Check::Registered]);
        cache
            .store(vec![fresh.clone(), stale], &registered)
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

    fn answered(
        number: E164,
        provider: ProviderId,
        at: DateTime<Utc>,
        check: Check,
    ) -> NumberResult {
        let mut record = NumberResult::empty(number, provider, at);
        record.registered = Some(true);
        match check {
            Check::Activity => record.active_hour = Some(7),
            Check::Profile => record.about = Some("hi".into()),
            _ => {}
        }
        record.settle(&CheckSet::of(&[check]));
        record
    }

    #[tokio::test]
    async fn one_entry_per_number_keeps_each_checks_answer_and_time() {
        let store = Store::memory("t:");
        let cache = Cache::new(
            store.clone(),
            CacheScope::Shared,
            "acme",
            Duration::from_secs(3600),
        );
        let now = Utc::now();
        let a: E164 = "+919800000001".parse().unwrap();
        let earlier = now - chrono::Duration::minutes(50);
        let profile = answered(a, providers::ekycpro::ID, earlier, Check::Profile);
        cache
            .store(vec![profile], &CheckSet::of(&[Check::Profile]))
            .await
            .unwrap();
        // Writing `activity` keeps the cached `profile`.
        let activity = answered(a, providers::wscrm_screening::ID, now, Check::Activity);
        cache
            .store(vec![activity], &CheckSet::of(&[Check::Activity]))
            .await
            .unwrap();

        let entry = store
            .hgetall(&keys::CachedNumber::of("shared", &a))
            .await
            .unwrap();
        let fields: Vec<&str> = entry.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["activity", "profile"]);
        assert!(
            store
                .mget(&[keys::LegacyCachedAnswer::of("shared", &a, Check::Activity).into()])
                .await
                .unwrap()[0]
                .is_none()
        );

        let both = CheckSet::of(&[Check::Activity, Check::Profile]);
        let found = cache
            .lookup(&[a], &both, Duration::from_secs(3600), now)
            .await
            .unwrap();
        let [hit] = found.hits.as_slice() else {
            panic!("{found:?}")
        };
        assert_eq!(
            (hit.about.as_deref(), hit.active_hour),
            (Some("hi"), Some(7))
        );
        assert_eq!(
            hit.checks[&Check::Profile].provider,
            Some(providers::ekycpro::ID)
        );
        assert_eq!(hit.checks[&Check::Profile].checked_at, Some(earlier));
        assert_eq!(hit.checks[&Check::Activity].checked_at, Some(now));
        // The record's provenance: its first check's provider, its oldest answer's time.
        assert_eq!(
            (hit.provider, hit.checked_at),
            (Some(providers::wscrm_screening::ID), Some(earlier))
        );

        // `max_age` applies to each check: the older answer is stale for 30 minutes.
        let strict = cache
            .lookup(&[a], &both, Duration::from_secs(1800), now)
            .await
            .unwrap();
        assert_eq!(strict.misses, vec![a]);
        let activity_only = CheckSet::of(&[Check::Activity]);
        let fresh = cache
            .lookup(&[a], &activity_only, Duration::from_secs(1800), now)
            .await
            .unwrap();
        assert_eq!(fresh.hits.len(), 1);
        assert!(
            fresh.hits[0].about.is_none(),
            "only the asked checks' fields"
        );
    }

    /// Writes entries as earlier releases did (one key per (number, check)): a `profile` of
    /// `a`, whose `activity` is in its new entry, and an unsettled `registered` of `b`.
    async fn earlier_release_entries(store: &Store, now: DateTime<Utc>) -> (E164, E164) {
        let cache = Cache::new(
            store.clone(),
            CacheScope::Shared,
            "acme",
            Duration::from_secs(3600),
        );
        let a: E164 = "+919800000001".parse().unwrap();
        let b: E164 = "+919800000002".parse().unwrap();
        // One key per (number, check), holding the whole record: how earlier releases cached.
        let legacy = |n: E164, check: Check, record: &NumberResult| {
            (
                keys::LegacyCachedAnswer::of("shared", &n, check).into(),
                serde_json::to_vec(record).unwrap(),
            )
        };
        let old_profile = answered(a, providers::ekycpro::ID, now, Check::Profile);
        let mut unsettled = NumberResult::empty(b, providers::ekycpro::ID, now);
        unsettled.registered = Some(false);
        store
            .mset(
                &[
                    legacy(a, Check::Profile, &old_profile),
                    legacy(b, Check::Registered, &unsettled),
                ],
                None,
            )
            .await
            .unwrap();
        let activity = answered(a, providers::wscrm_screening::ID, now, Check::Activity);
        cache
            .store(vec![activity], &CheckSet::of(&[Check::Activity]))
            .await
            .unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn with_legacy_reads_entries_of_earlier_releases_answer_the_checks_an_entry_lacks() {
        let store = Store::memory("t:");
        let now = Utc::now();
        let (a, b) = earlier_release_entries(&store, now).await;
        let cache = Cache::new(
            store.clone(),
            CacheScope::Shared,
            "acme",
            Duration::from_secs(3600),
        )
        .reading_legacy(true);

        let both = CheckSet::of(&[Check::Activity, Check::Profile]);
        let found = cache
            .lookup(&[a], &both, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert_eq!(found.hits.len(), 1, "{found:?}");
        assert_eq!(found.hits[0].about.as_deref(), Some("hi"));
        let registered = CheckSet::of(&[Check::Registered]);
        let found = cache
            .lookup(&[b], &registered, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert_eq!(found.hits[0].registered, Some(false));
        assert_eq!(
            found.hits[0].status(Check::Registered),
            Some(domain::CheckStatus::Answered)
        );
    }

    #[tokio::test]
    async fn without_legacy_reads_entries_of_earlier_releases_are_not_read() {
        let store = Store::memory("t:");
        let now = Utc::now();
        let (a, b) = earlier_release_entries(&store, now).await;
        let cache = Cache::new(
            store.clone(),
            CacheScope::Shared,
            "acme",
            Duration::from_secs(3600),
        );
        let both = CheckSet::of(&[Check::Activity, Check::Profile]);
        let found = cache
            .lookup(&[a], &both, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert_eq!(found.misses, vec![a], "{found:?}");
        let registered = CheckSet::of(&[Check::Registered]);
        let found = cache
            .lookup(&[b], &registered, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert_eq!(found.misses, vec![b], "{found:?}");
        // A lookup of one number whose entry was read along with another command, too.
        let (key, fields) = cache.entry_read(&b, &registered);
        let row = store.hmget_many(&[key], &fields).await.unwrap().remove(0);
        let found = cache
            .lookup_read(b, &registered, row, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert_eq!(found.misses, vec![b], "{found:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_of_many_chunks_caches_every_number() {
        let store = Store::memory("t:");
        let cache = Cache::new(store, CacheScope::Shared, "acme", Duration::from_secs(3600));
        let now = Utc::now();
        let registered = CheckSet::of(&[Check::Registered]);
        // More chunks than are written at once, the last one short.
        let records: Vec<NumberResult> = (0..(CHUNK * 9 + 17) as u64)
            .map(|i| {
                let number: E164 = format!("+9198{i:08}").parse().unwrap();
                let mut record = NumberResult::empty(number, providers::ekycpro::ID, now);
                record.registered = Some(i % 3 == 0);
                record.settle(&registered);
                record
            })
            .collect();
        cache.store(records.as_slice(), &registered).await.unwrap();
        let numbers: Vec<E164> = records.iter().map(|r| r.number).collect();
        let found = cache
            .lookup(&numbers, &registered, Duration::from_secs(3600), now)
            .await
            .unwrap();
        assert!(found.misses.is_empty(), "{} misses", found.misses.len());
        assert_eq!(found.hits.len(), records.len());
        for (hit, record) in found.hits.iter().zip(&records) {
            assert_eq!(hit.number, record.number);
            assert_eq!(hit.registered, record.registered);
        }
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
        one.store(
            vec![NumberResult::empty(a, providers::ekycpro::ID, now)],
            &checks,
        )
        .await
        .unwrap();
        let found = two
            .lookup(&[a], &checks, Duration::from_secs(60), now)
            .await
            .unwrap();
        assert!(found.hits.is_empty());
    }
}
