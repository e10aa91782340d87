//! In-flight claims: who is buying the answer to a (number, check) right now, so that nobody
//! else sends it to a vendor meanwhile; the others wait for the answer and reuse it.
//!
//! - One claim hash per number ([`keys::Claim`]), a field per check holding its
//!   holder, in the cache's scope: exactly the requests that would share the answer coordinate
//!   (with `per_tenant`, tenants never wait for each other). Fields are taken in batches,
//!   atomically per chunk ([`Store::claim_fields`]).
//! - A holder is a job (its id) or a one-number lookup (`lookup_<uuid>`). Its claims count
//!   while it is alive: its key ([`keys::ClaimHolder`]) exists. The worker renews a job's key at
//!   every step and with the job lease, a lookup renews its own while it calls the vendor; it
//!   expires [`holder_ttl`] after the last renewal, so the claims of a replica that crashed are
//!   free soon after, and the waiters then buy the answers themselves (still once: they claim
//!   first).
//! - A claim is released once its answer is in the cache, or when its order failed; a finished
//!   job drops its holder key, which frees whatever it still held.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{CheckSet, E164, NumberResult};
use futures_util::StreamExt;

use super::cache::{Cache, scope_name};
use super::{CacheScope, NumberChecksConfig};
use crate::keys;
use crate::store::{Store, StoreError};

/// Numbers per batch.
const CHUNK: usize = 5_000;
/// Batches of claims in flight at once.
const CHUNKS_IN_FLIGHT: usize = 4;

/// How long a holder counts as alive after its last renewal: two lease times, so a job whose
/// replica died is taken up by another one (after one lease time) before its claims lapse.
pub fn holder_ttl(config: &NumberChecksConfig) -> Duration {
    config.lease_ttl * 2
}

/// Marks `holder` alive for `ttl` more.
pub async fn keep_alive(store: &Store, holder: &str, ttl: Duration) -> Result<(), StoreError> {
    let key = keys::ClaimHolder::new(holder);
    store.set(&key, b"", Some(ttl)).await
}

/// `holder` is done: every claim it still has is free.
pub async fn gone(store: &Store, holder: &str) -> Result<(), StoreError> {
    let key = keys::ClaimHolder::new(holder);
    store.delete(&key).await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Claims {
    store: Store,
    scope: String,
    /// Upper bound of a claim hash's life (claims are normally released long before).
    ttl: Duration,
}

impl Claims {
    pub fn new(store: Store, scope: CacheScope, tenant: &str, ttl: Duration) -> Self {
        Self {
            store,
            scope: scope_name(scope, tenant),
            ttl,
        }
    }

    fn keys(&self, numbers: &[E164]) -> Vec<String> {
        numbers
            .iter()
            .map(|n| keys::Claim::of(&self.scope, n).into())
            .collect()
    }

    /// Takes `checks` of `numbers` for `holder` wherever no other live holder has them. Per
    /// number, the checks another holder has (empty: all are `holder`'s now).
    pub async fn take(
        &self,
        holder: &str,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<Vec<CheckSet>, StoreError> {
        let list: Vec<_> = checks.iter().collect();
        let fields: Vec<String> = list.iter().map(|c| c.as_str().to_owned()).collect();
        let mut out = Vec::with_capacity(numbers.len());
        // Each chunk is atomic on its own, so several are in flight: the store runs one while
        // the next is encoded and the previous one decoded. Made up front, as in the cache's
        // lookups, so that the stream holds no closure borrowing `self`.
        let runs: Vec<_> = numbers
            .chunks(CHUNK)
            .map(|chunk| {
                let fields = &fields;
                async move {
                    let names = self.keys(chunk);
                    self.store
                        .claim_fields(&names, fields, holder, keys::ClaimHolder::PREFIX, self.ttl)
                        .await
                }
            })
            .collect();
        let mut replies = futures_util::stream::iter(runs).buffered(CHUNKS_IN_FLIGHT);
        while let Some(rows) = replies.next().await {
            let rows = rows?;
            out.extend(rows.into_iter().map(|row| {
                row.iter()
                    .zip(&list)
                    .filter(|(other, _)| other.is_some())
                    .map(|(_, check)| *check)
                    .collect::<CheckSet>()
            }));
        }
        Ok(out)
    }

    /// Frees `holder`'s claims on `checks` of `numbers`.
    pub async fn release(
        &self,
        holder: &str,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<(), StoreError> {
        let fields: Vec<String> = checks.iter().map(|c| c.as_str().to_owned()).collect();
        for chunk in numbers.chunks(CHUNK) {
            self.store
                .release_fields(&self.keys(chunk), &fields, holder)
                .await?;
        }
        Ok(())
    }

    /// Per number, whether a live holder other than `holder` has one of `checks`.
    pub async fn held_elsewhere(
        &self,
        holder: &str,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<Vec<bool>, StoreError> {
        let fields: Vec<String> = checks.iter().map(|c| c.as_str().to_owned()).collect();
        let mut out = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(CHUNK) {
            let rows = self.store.hmget_many(&self.keys(chunk), &fields).await?;
            let others: Vec<Vec<String>> = rows
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .flatten()
                        .filter_map(|h| String::from_utf8(h).ok())
                        .filter(|h| h != holder)
                        .collect()
                })
                .collect();
            let alive = self.alive(&others).await?;
            out.extend(
                others
                    .iter()
                    .map(|holders| holders.iter().any(|h| alive.contains(h))),
            );
        }
        Ok(out)
    }

    /// Which of `holders` are alive.
    async fn alive(&self, holders: &[Vec<String>]) -> Result<HashSet<String>, StoreError> {
        let distinct: Vec<String> = holders
            .iter()
            .flatten()
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        if distinct.is_empty() {
            return Ok(HashSet::new());
        }
        let holders: Vec<String> = distinct
            .iter()
            .map(|h| keys::ClaimHolder::new(h).into())
            .collect();
        let found = self.store.mget(&holders).await?;
        Ok(distinct
            .into_iter()
            .zip(found)
            .filter(|(_, v)| v.is_some())
            .map(|(h, _)| h)
            .collect())
    }
}

/// Cache misses divided by who buys them.
#[derive(Debug, Default)]
pub struct Split {
    /// Numbers the holder now claims, grouped by the checks it claims: it buys these.
    pub buy: Vec<(CheckSet, Vec<E164>)>,
    /// Numbers grouped by the checks other holders are buying: their answers are reused.
    pub wait: Vec<(CheckSet, Vec<E164>)>,
    /// Answers that reached the cache between the lookup and the claim (records of the checks
    /// claimed); their claims are released.
    pub late_hits: Vec<NumberResult>,
}

/// Claims `checks` of `misses` (numbers the cache did not answer) for `holder`, and divides
/// them into what it buys and what it waits for. The numbers it claimed are looked up again:
/// an answer cached (and its claim released) just before the claim was taken is reused.
pub async fn split(
    claims: &Claims,
    cache: &Cache,
    holder: &str,
    misses: &[E164],
    checks: &CheckSet,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<Split, StoreError> {
    let mut out = Split::default();
    if misses.is_empty() || checks.is_empty() {
        return Ok(out);
    }
    let held = claims.take(holder, misses, checks).await?;
    let mut buy: HashMap<CheckSet, Vec<E164>> = HashMap::new();
    let mut wait: HashMap<CheckSet, Vec<E164>> = HashMap::new();
    for (number, held) in misses.iter().zip(held) {
        let mine = checks.difference(&held);
        if !mine.is_empty() {
            buy.entry(mine).or_default().push(*number);
        }
        if !held.is_empty() {
            wait.entry(held).or_default().push(*number);
        }
    }
    for (checks, numbers) in buy {
        let found = cache.lookup_recent(&numbers, &checks, max_age, now).await?;
        if !found.hits.is_empty() {
            let answered: Vec<E164> = found.hits.iter().map(|r| r.number).collect();
            claims.release(holder, &answered, &checks).await?;
            out.late_hits.extend(found.hits);
        }
        if !found.misses.is_empty() {
            out.buy.push((checks, found.misses));
        }
    }
    out.wait = wait.into_iter().collect();
    // Stable groups: the plan, the order lists and the tests see the same order every time.
    out.buy
        .sort_by_key(|(checks, _)| checks.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    out.wait
        .sort_by_key(|(checks, _)| checks.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    Ok(out)
}
