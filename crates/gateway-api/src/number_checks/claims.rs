//! In-flight claims: who is buying the answer to a (number, check) right now, so that nobody
//! else sends it to a vendor meanwhile; the others wait for the answer and reuse it.
//!
//! - A claim is a field `<digits>:<check>` holding its holder, in one of a fixed number of
//!   bucket hashes per cache scope ([`keys::ClaimBucket`]): exactly the requests that would
//!   share the answer coordinate (with `per_tenant`, tenants never wait for each other). No
//!   key per number: a batch costs the store a few calls per bucket, not per number. Fields
//!   are taken in batches, each field atomically ([`Store::claim_fields`]).
//! - A holder is a job (its id) or a one-number lookup (`lookup_<uuid>`). Its claims count
//!   while it is alive: its key ([`keys::ClaimHolder`]) exists. The worker renews a job's key at
//!   every step and with the job lease, a lookup renews its own while it calls the vendor; it
//!   expires [`holder_ttl`] after the last renewal, so the claims of a replica that crashed are
//!   free soon after, and the waiters then buy the answers themselves (still once: they claim
//!   first).
//! - A claim is released once its answer is in the cache, or when its order failed; a finished
//!   job drops its holder key, which frees whatever it still held: a field whose holder is gone
//!   counts as free and is overwritten by the next claimant (Redis 7.0 cannot expire a hash
//!   field). A bucket lives the claim TTL after it was last claimed into, so idle buckets
//!   vanish with whatever such fields they kept.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Check, CheckSet, E164, NumberResult};
use futures_util::StreamExt;

use super::cache::{Cache, scope_name};
use super::{CacheScope, NumberChecksConfig};
use crate::keys;
use crate::store::{Store, StoreError};

/// Claims (numbers times checks) per batch. The store's calls are per bucket of a batch, so a
/// batch that meets each bucket many times costs it far less per claim: with 1,024 buckets, a
/// batch of 5,000 claims did three calls per five claims, one of 64,000 three per sixty. The
/// store splits a batch into script runs of its own bounded size, so a larger batch does not
/// hold the server longer at a time; it holds about 60 bytes per claim in the gateway.
const CHUNK_CLAIMS: usize = 64_000;
/// Batches of claims in flight at once (the store pipelines each batch's script runs): the
/// next batch is built while the store works on one.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Numbers per batch when each has `checks` claims.
fn chunk_len(checks: usize) -> usize {
    (CHUNK_CLAIMS / checks.max(1)).max(1)
}

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

    /// The claims on `checks` of `numbers`, grouped by bucket.
    fn buckets(&self, numbers: &[E164], checks: &[Check]) -> Buckets {
        let mut index_of = [usize::MAX; keys::CLAIM_BUCKETS as usize];
        let mut out = Buckets::default();
        for (i, number) in numbers.iter().enumerate() {
            let bucket = keys::claim_bucket(number.as_u64());
            let at = &mut index_of[bucket as usize];
            if *at == usize::MAX {
                *at = out.hashes.len();
                let key =
                    keys::ClaimBucket::new(&self.scope, bucket % keys::CLAIM_SLOT_GROUPS, bucket);
                out.hashes.push((key.into(), Vec::new()));
                out.numbers.push(Vec::new());
            }
            let fields = &mut out.hashes[*at].1;
            fields.extend(checks.iter().map(|c| keys::ClaimBucket::field(number, *c)));
            out.numbers[*at].push(i);
        }
        out
    }

    /// How many times claims of this scope were released so far. Read before a cache lookup
    /// and given to [`split`], it spares the claims that follow looking up again what they
    /// took, when nothing was released meanwhile.
    pub async fn releases(&self) -> Result<Releases, StoreError> {
        let key = keys::ClaimReleases::new(&self.scope);
        let count = match self.store.get(&key).await? {
            None => 0,
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("{}: not a count", &*key)))?,
        };
        Ok(Releases(count))
    }

    /// Takes `checks` of `numbers` for `holder` wherever no other live holder has them. Per
    /// number, the checks another holder has (empty: all are `holder`'s now).
    pub async fn take(
        &self,
        holder: &str,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<Vec<CheckSet>, StoreError> {
        Ok(self.take_noting_takeovers(holder, numbers, checks).await?.0)
    }

    /// [`Claims::take`], and whether a claim was taken from a holder that is gone (rather than
    /// found free).
    async fn take_noting_takeovers(
        &self,
        holder: &str,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<(Vec<CheckSet>, bool), StoreError> {
        let list: Vec<Check> = checks.iter().collect();
        let mut out = vec![CheckSet::empty(); numbers.len()];
        let mut took_over = false;
        if list.is_empty() {
            return Ok((out, took_over));
        }
        // Each chunk is atomic per field only, so several are in flight: the store runs one
        // while the next is encoded and the previous one decoded. Made up front, as in the
        // cache's lookups, so that the stream holds no closure borrowing `self`.
        let chunk_len = chunk_len(list.len());
        let runs: Vec<_> = numbers
            .chunks(chunk_len)
            .enumerate()
            .map(|(n, chunk)| {
                let list = &list;
                async move {
                    let buckets = self.buckets(chunk, list);
                    let claimed = self
                        .store
                        .claim_fields_noting_takeovers(
                            &buckets.hashes,
                            holder,
                            keys::ClaimHolder::PREFIX,
                            self.ttl,
                        )
                        .await?;
                    Ok::<_, StoreError>((n * chunk_len, buckets.numbers, claimed))
                }
            })
            .collect();
        let mut replies = futures_util::stream::iter(runs).buffered(CHUNKS_IN_FLIGHT);
        while let Some(reply) = replies.next().await {
            let (start, numbers_of, claimed) = reply?;
            took_over |= claimed.took_over;
            for (members, row) in numbers_of.iter().zip(claimed.rows) {
                for (field, other) in row.iter().enumerate() {
                    if other.is_some() {
                        let number = start + members[field / list.len()];
                        out[number].insert(list[field % list.len()]);
                    }
                }
            }
        }
        Ok((out, took_over))
    }

    /// Frees `holder`'s claims on `checks` of `numbers`. Their answers, if any, must be cached
    /// by now: the release is counted first ([`Claims::releases`]), then the claims are freed.
    pub async fn release(
        &self,
        holder: &str,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<(), StoreError> {
        let list: Vec<Check> = checks.iter().collect();
        if list.is_empty() || numbers.is_empty() {
            return Ok(());
        }
        let counter = keys::ClaimReleases::new(&self.scope);
        self.store.incr(&counter, 1, None).await?;
        for chunk in numbers.chunks(chunk_len(list.len())) {
            let buckets = self.buckets(chunk, &list);
            self.store.release_fields(&buckets.hashes, holder).await?;
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
        let list: Vec<Check> = checks.iter().collect();
        let mut out = vec![false; numbers.len()];
        if list.is_empty() {
            return Ok(out);
        }
        let chunk_len = chunk_len(list.len());
        for (n, chunk) in numbers.chunks(chunk_len).enumerate() {
            let buckets = self.buckets(chunk, &list);
            let rows = self.store.hmget_each(&buckets.hashes).await?;
            // Per number of the chunk, the other holders named on its checks.
            let mut others: Vec<Vec<String>> = vec![Vec::new(); chunk.len()];
            for (members, row) in buckets.numbers.iter().zip(rows) {
                for (field, value) in row.into_iter().enumerate() {
                    let Some(other) = value.and_then(|h| String::from_utf8(h).ok()) else {
                        continue;
                    };
                    if other != holder {
                        others[members[field / list.len()]].push(other);
                    }
                }
            }
            let alive = self.alive(&others).await?;
            for (i, holders) in others.iter().enumerate() {
                out[n * chunk_len + i] = holders.iter().any(|h| alive.contains(h));
            }
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

/// How many times the claims of a scope were released, at one moment ([`Claims::releases`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Releases(i64);

/// A batch of claims grouped by bucket hash.
#[derive(Debug, Default)]
struct Buckets {
    /// Each bucket hash with its fields: the checks of one number are consecutive.
    hashes: Vec<(String, Vec<String>)>,
    /// Per bucket hash, the positions (in the batch) of its numbers, in field order.
    numbers: Vec<Vec<usize>>,
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
///
/// That look-up again is skipped when `since` ([`Claims::releases`] read before the lookup
/// that missed `misses`) is still the count after the claims, and no claim was taken from a
/// gone holder. An answer is bought only under a claim, which is released only after the
/// answer is cached, and each release is counted before its claims are freed. A number taken
/// here had its claim free or held by a gone holder; if another holder bought its answer and
/// the lookup missed it, that holder's claim was freed before this claim (counted after
/// `since`, or the lookup would have found the answer) or it is gone (a take-over).
#[allow(clippy::too_many_arguments)]
pub async fn split(
    claims: &Claims,
    cache: &Cache,
    holder: &str,
    misses: &[E164],
    checks: &CheckSet,
    since: Option<Releases>,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<Split, StoreError> {
    let mut out = Split::default();
    if misses.is_empty() || checks.is_empty() {
        return Ok(out);
    }
    let (held, took_over) = claims.take_noting_takeovers(holder, misses, checks).await?;
    let look_again = took_over
        || match since {
            Some(since) => claims.releases().await? != since,
            None => true,
        };
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
        if !look_again {
            out.buy.push((checks, numbers));
            continue;
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use domain::Check;

    const TTL: Duration = Duration::from_secs(600);

    fn number(i: u64) -> E164 {
        format!("+9198{i:08}").parse().unwrap()
    }

    /// Two numbers whose claims share a bucket hash.
    fn same_bucket() -> (E164, E164) {
        let first = number(0);
        let bucket = keys::claim_bucket(first.as_u64());
        let other = (1..)
            .map(number)
            .find(|n| keys::claim_bucket(n.as_u64()) == bucket)
            .unwrap();
        (first, other)
    }

    async fn alive(store: &Store, holders: &[&str]) {
        for holder in holders {
            keep_alive(store, holder, TTL).await.unwrap();
        }
    }

    fn shared(store: &Store) -> Claims {
        Claims::new(store.clone(), CacheScope::Shared, "acme", TTL)
    }

    #[tokio::test]
    async fn holders_of_one_bucket_keep_to_their_own_numbers() {
        let store = Store::memory("t:");
        alive(&store, &["a", "b"]).await;
        let claims = shared(&store);
        let (n1, n2) = same_bucket();
        let registered = CheckSet::of(&[Check::Registered]);
        let both = CheckSet::of(&[Check::Registered, Check::Profile]);

        let a = claims.take("a", &[n1], &registered).await.unwrap();
        assert_eq!(a, vec![CheckSet::empty()]);
        let b = claims.take("b", &[n1, n2], &both).await.unwrap();
        assert_eq!(
            b,
            vec![registered, CheckSet::empty()],
            "b takes all but a's"
        );
        assert_eq!(
            claims
                .held_elsewhere("c", &[n1, n2], &registered)
                .await
                .unwrap(),
            vec![true, true]
        );
        assert_eq!(
            claims
                .held_elsewhere("a", &[n1, n2], &registered)
                .await
                .unwrap(),
            vec![false, true]
        );

        // b releasing everything it named frees only its own claims.
        claims.release("b", &[n1, n2], &both).await.unwrap();
        assert_eq!(
            claims.held_elsewhere("c", &[n1, n2], &both).await.unwrap(),
            vec![true, false]
        );
        let c = claims.take("c", &[n1, n2], &both).await.unwrap();
        assert_eq!(c, vec![registered, CheckSet::empty()]);
    }

    #[tokio::test]
    async fn a_gone_holders_claims_are_taken_over() {
        let store = Store::memory("t:");
        alive(&store, &["a", "b"]).await;
        let claims = shared(&store);
        let (n1, n2) = same_bucket();
        let registered = CheckSet::of(&[Check::Registered]);
        claims.take("a", &[n1, n2], &registered).await.unwrap();
        assert_eq!(
            claims.take("b", &[n1, n2], &registered).await.unwrap(),
            vec![registered; 2]
        );

        gone(&store, "a").await.unwrap();
        assert_eq!(
            claims
                .held_elsewhere("b", &[n1, n2], &registered)
                .await
                .unwrap(),
            vec![false, false]
        );
        assert_eq!(
            claims.take("b", &[n1], &registered).await.unwrap(),
            vec![CheckSet::empty()]
        );
        // Taken over, the claim is b's: a third holder waits for b.
        alive(&store, &["c"]).await;
        assert_eq!(
            claims.take("c", &[n1, n2], &registered).await.unwrap(),
            vec![registered, CheckSet::empty()]
        );
    }

    #[tokio::test]
    async fn per_tenant_claims_keep_tenants_apart() {
        let store = Store::memory("t:");
        alive(&store, &["a", "b"]).await;
        let registered = CheckSet::of(&[Check::Registered]);
        let acme = Claims::new(store.clone(), CacheScope::PerTenant, "acme", TTL);
        let globex = Claims::new(store.clone(), CacheScope::PerTenant, "globex", TTL);
        let n = number(1);
        acme.take("a", &[n], &registered).await.unwrap();
        assert_eq!(
            globex.take("b", &[n], &registered).await.unwrap(),
            vec![CheckSet::empty()]
        );
        assert_eq!(
            acme.take("b", &[n], &registered).await.unwrap(),
            vec![registered]
        );
    }

    /// An answer to `registered` of `number`, as a vendor gave it now.
    fn answer(number: E164) -> NumberResult {
        let mut record = NumberResult::empty(number, providers::ekycpro::ID, Utc::now());
        record.registered = Some(true);
        record.settle(&CheckSet::of(&[Check::Registered]));
        record
    }

    fn cache_of(store: &Store) -> Cache {
        Cache::new(store.clone(), CacheScope::Shared, "acme", TTL)
    }

    /// `b`'s split of `numbers` (all missed by a lookup made after `since`): the numbers it
    /// buys and those whose answers it found late.
    async fn split_for_b(
        store: &Store,
        numbers: &[E164],
        since: Option<Releases>,
    ) -> (Vec<E164>, Vec<E164>) {
        let registered = CheckSet::of(&[Check::Registered]);
        let split = split(
            &shared(store),
            &cache_of(store),
            "b",
            numbers,
            &registered,
            since,
            TTL,
            Utc::now(),
        )
        .await
        .unwrap();
        let buy = split.buy.into_iter().flat_map(|(_, n)| n).collect();
        let late = split.late_hits.iter().map(|r| r.number).collect();
        (buy, late)
    }

    #[tokio::test]
    async fn an_answer_cached_and_released_after_the_lookup_is_not_bought_again() {
        let store = Store::memory("t:");
        alive(&store, &["a", "b"]).await;
        let claims = shared(&store);
        let registered = CheckSet::of(&[Check::Registered]);
        let (n1, n2) = (number(1), number(2));
        claims.take("a", &[n1], &registered).await.unwrap();
        // b reads the count, then its lookup misses n1 and n2; meanwhile a caches n1's answer
        // and frees its claim.
        let since = claims.releases().await.unwrap();
        cache_of(&store)
            .store(vec![answer(n1)], &registered)
            .await
            .unwrap();
        claims.release("a", &[n1], &registered).await.unwrap();
        assert_ne!(claims.releases().await.unwrap(), since);

        assert_eq!(
            split_for_b(&store, &[n1, n2], Some(since)).await,
            (vec![n2], vec![n1])
        );
    }

    #[tokio::test]
    async fn an_answer_a_gone_holder_cached_is_not_bought_again() {
        let store = Store::memory("t:");
        alive(&store, &["a", "b"]).await;
        let claims = shared(&store);
        let registered = CheckSet::of(&[Check::Registered]);
        let (n1, n2) = (number(1), number(2));
        let since = claims.releases().await.unwrap();
        // a claims n1 and caches its answer, but is gone before freeing the claim.
        claims.take("a", &[n1], &registered).await.unwrap();
        cache_of(&store)
            .store(vec![answer(n1)], &registered)
            .await
            .unwrap();
        gone(&store, "a").await.unwrap();
        assert_eq!(claims.releases().await.unwrap(), since);

        assert_eq!(
            split_for_b(&store, &[n1, n2], Some(since)).await,
            (vec![n2], vec![n1])
        );
    }

    #[tokio::test]
    async fn claims_taken_with_nothing_released_are_not_looked_up_again() {
        let store = Store::memory("t:");
        alive(&store, &["b"]).await;
        let registered = CheckSet::of(&[Check::Registered]);
        let (n1, n2) = (number(1), number(2));
        let since = shared(&store).releases().await.unwrap();
        // An answer that no claim covered (no buyer does that) is not looked for again...
        cache_of(&store)
            .store(vec![answer(n1)], &registered)
            .await
            .unwrap();
        assert_eq!(
            split_for_b(&store, &[n1, n2], Some(since)).await,
            (vec![n1, n2], vec![])
        );
        // ... unless the caller has no count from before its lookup.
        shared(&store)
            .release("b", &[n1, n2], &registered)
            .await
            .unwrap();
        assert_eq!(
            split_for_b(&store, &[n1, n2], None).await,
            (vec![n2], vec![n1])
        );
    }

    #[tokio::test]
    async fn large_batches_answer_each_number_in_its_place() {
        let store = Store::memory("t:");
        alive(&store, &["a", "b"]).await;
        let claims = shared(&store);
        // More than one chunk, so that answers must land at their chunk's offset.
        let numbers: Vec<E164> = (0..(chunk_len(2) as u64 * 2 + 123)).map(number).collect();
        let registered = CheckSet::of(&[Check::Registered]);
        let profile = CheckSet::of(&[Check::Profile]);
        let both = registered.union(&profile);
        let every_third: Vec<E164> = numbers.iter().step_by(3).copied().collect();
        let every_fifth: Vec<E164> = numbers.iter().step_by(5).copied().collect();
        claims.take("a", &every_third, &registered).await.unwrap();
        claims.take("a", &every_fifth, &profile).await.unwrap();

        let b = claims.take("b", &numbers, &both).await.unwrap();
        for (i, held) in b.iter().enumerate() {
            let mut expected = CheckSet::empty();
            if i % 3 == 0 {
                expected.insert(Check::Registered);
            }
            if i % 5 == 0 {
                expected.insert(Check::Profile);
            }
            assert_eq!(*held, expected, "number {i}");
        }
        let elsewhere = claims
            .held_elsewhere("b", &numbers, &profile)
            .await
            .unwrap();
        for (i, held) in elsewhere.iter().enumerate() {
            assert_eq!(*held, i % 5 == 0, "number {i}");
        }
    }
}
