//! Every store key of the gateway, declared once: its name pattern, what it holds and how long
//! it lives. Nothing else builds key strings.
//!
//! # Hash slots
//!
//! On Redis Cluster, keys that one atomic operation uses together must share a hash tag
//! (`{...}`); the store's prefix stays outside the braces. Two groups are tagged:
//!
//! - A number-check job's keys share `{nc:job:<id>}`: its record, lease, lists, per-number
//!   records, pool markers and the sets its counts come from live in one slot (a job's records
//!   are read by one `MGET`, and its two count sets are read by one script).
//! - In-flight claims live in [`CLAIM_BUCKETS`] hashes per scope (a number's bucket is a
//!   stable hash of its digits), and the buckets are tagged `{nc:claims:<scope>:<group>}`,
//!   the group being the bucket modulo [`CLAIM_SLOT_GROUPS`]: a claim batch runs as one
//!   script per group (not per bucket or number), and the claims of a scope still spread over
//!   several slots. A holder's liveness key is read apart from the script, so it needs no tag.
//!
//! Every other key is used alone (single-key commands and scripts, non-atomic pipelines, or an
//! `MGET` the store splits per slot) and keeps its untagged name, so that its data stays
//! readable across upgrades and spreads over the whole cluster. Tagging a tenant's keys
//! together would put a large tenant on one node without making anything atomic.

use domain::{BusinessPhone, Check, CheckSet, E164};
use providers::ProviderId;
use store::key_def;
use store::keys::{Bytes, Counter, Hash, Json, Lease, List, Set, SortedSet, Stream};

use crate::events::LatestState;
use crate::events::subscriptions::StoredSubscription;
use crate::number_checks::CacheScope;
use crate::number_checks::jobs::Job;
use crate::ownership::OwnedKind;

/// Claim hashes of a scope: enough that a bucket stays small (a million claims in flight are
/// about a thousand fields each) and an idle one expires, few enough that a batch of claims
/// meets each bucket several times.
pub const CLAIM_BUCKETS: u64 = 1024;
/// Hash slots the buckets of a scope are tagged into: a batch of claims runs as at most this
/// many scripts (per chunk) on a cluster.
pub const CLAIM_SLOT_GROUPS: u64 = 16;

key_def! {
    // ---- number checks: one job --------------------------------------------------------
    /// A number-check job (its state, plan and progress).
    pub JobRecord(id: &str) => "{{nc:job:{id}}}": Json<Job>, ttl = caller;
    /// The lease of the worker running a job; the value is the worker.
    pub JobLease(id: &str) => "{{nc:job:{id}}}:lease": Lease, ttl = caller;
    /// The job's numbers as submitted.
    pub JobNumbers(id: &str) => "{{nc:job:{id}}}:numbers": List, ttl = caller;
    /// The answers the cache gave at intake, complete records.
    pub JobCachedResults(id: &str) => "{{nc:job:{id}}}:results:0": List, ttl = caller;
    /// The job's numbers not answered from cache, distinct, in result order.
    pub JobOpenNumbers(id: &str) => "{{nc:job:{id}}}:open": List, ttl = caller;
    /// The numbers of one of the job's waits (answers another holder is buying).
    pub JobWait(id: &str, list: usize) => "{{nc:job:{id}}}:wait:{list}": List, ttl = caller;
    /// The merged record of one of the job's open numbers, in jobs created before records were
    /// kept in buckets (read, never written, by this version).
    pub JobNumberRecord(id: &str, digits: u64) => "{{nc:job:{id}}}:record:{digits}": Bytes,
        ttl = caller;
    /// Merged records of some of the job's open numbers: field the number's digits, value the
    /// record (see `jobs::Records`).
    pub JobRecordBucket(id: &str, bucket: u32) => "{{nc:job:{id}}}:records:{bucket}": Hash,
        ttl = caller;
    /// The job's numbers a vendor answered (at least one check) for it: its `answered` count.
    /// Sets converge when a write is repeated after a lost reply, which a counter does not.
    pub JobAnsweredNumbers(id: &str) => "{{nc:job:{id}}}:answered": Set, ttl = caller;
    /// The job's numbers given answers another request bought, after intake: with the cache
    /// hits at intake, and less the numbers a vendor also answered, its `from_cache` count.
    pub JobReusedNumbers(id: &str) => "{{nc:job:{id}}}:reused": Set, ttl = caller;
    /// The pool batch a job's group is joining or has joined (its id).
    pub JobPoolMarker(id: &str, list: usize) => "{{nc:job:{id}}}:pool:{list}": Bytes,
        ttl = caller;

    // ---- number checks: shared ---------------------------------------------------------
    /// Jobs due for work, scored by when (unix seconds).
    pub DueJobs() => "nc:jobs:due": SortedSet, ttl = forever;
    /// The open batch (its id) of the pool of groups asking the same checks of one provider
    /// in one region and cache scope (compare-and-set).
    pub PoolOpenBatch(scope: &str, provider: &str, checks: &str, region: &str)
        => "nc:pool:{scope}:{provider}:{checks}:{region}": Bytes, ttl = caller;
    /// A pool's batch of groups from several jobs (JSON, compare-and-set).
    pub PoolBatch(id: &str) => "nc:poolbatch:{id}": Bytes, ttl = caller;
    /// Cached answers for one number in a cache scope, a field per check.
    pub CachedNumber(scope: &str, digits: u64) => "nc:cache:{scope}:{digits}": Hash,
        ttl = caller;
    /// Cached answer of one check, as written before answers were grouped per number
    /// (read as a fallback).
    pub LegacyCachedAnswer(scope: &str, digits: u64, check: &str)
        => "nc:cache:{scope}:{digits}:{check}": Bytes, ttl = caller;
    /// Who is buying which check of the numbers of one bucket: a field `<digits>:<check>`
    /// per claim, the holder as value. Lives while claimed into (a field of a holder that is
    /// gone counts as free).
    pub ClaimBucket(scope: &str, group: u64, bucket: u64)
        => "{{nc:claims:{scope}:{group}}}:{bucket}": Hash, ttl = caller;
    /// A claim holder is alive while this exists.
    pub ClaimHolder(holder: &str) => "nc:holder:{holder}": Bytes, ttl = caller;
    /// How many times claims of a scope were released (counted before each release): a job
    /// that saw it unchanged from before its cache lookup to after its claims knows that no
    /// answer was cached and freed meanwhile.
    pub ClaimReleases(scope: &str) => "nc:claims:{scope}:released": Counter, ttl = forever;
    /// A tenant's usage in a month: counters per provider and kind.
    pub Usage(tenant: &str, month: &str) => "nc:usage:{tenant}:{month}": Hash, ttl = forever;
    /// Number-check callbacks of the former API waiting to be sent, scored by when.
    pub DueLegacyCallbacks() => "nc:callbacks:due": SortedSet, ttl = forever;
    /// A queued callback of the former API.
    pub LegacyCallback(id: &str) => "nc:callback:{id}": Bytes, ttl = forever;

    // ---- events ------------------------------------------------------------------------
    /// One tenant's events.
    pub TenantEvents(tenant: &str) => "events:tenant:{tenant}": Stream, ttl = forever;
    /// Events that could not be routed to a tenant.
    pub UnroutedEvents() => "events:unrouted": Stream, ttl = forever;
    /// Tenants that have events (to trim their streams).
    pub EventTenants() => "events:tenants": Hash, ttl = forever;
    /// The last state seen of a vendor object, to tell real changes from repeats.
    pub Projection(kind: &str, id: &str) => "projection:{kind}:{id}": Json<LatestState>,
        ttl = forever;
    /// A vendor webhook already taken in (by the hash of its body).
    pub InboundSeen(digest: &str) => "events:dedupe:{digest}": Bytes, ttl = caller;
    /// A webhook subscription.
    pub SubscriptionRecord(id: &str) => "subscription:{id}": Json<StoredSubscription>,
        ttl = forever;
    /// A tenant's subscription ids, scored by creation.
    pub TenantSubscriptions(tenant: &str) => "subscriptions:{tenant}": SortedSet, ttl = forever;
    /// Deliveries due to be sent, scored by when.
    pub DueDeliveries() => "events:deliveries:due": SortedSet, ttl = forever;
    /// One delivery of an event to a subscription (JSON, kept `events.delivery_record_ttl`).
    pub DeliveryRecord(id: &str) => "delivery:{id}": Bytes, ttl = caller;
    /// A subscription's latest delivery ids, newest last (trimmed to a fixed length).
    pub DeliveryLog(subscription: &str) => "subscription:{subscription}:deliveries": List,
        ttl = forever;
    /// The lease of the worker sending a delivery.
    pub DeliveryLease(id: &str) => "lease:delivery:{id}": Lease, ttl = caller;

    // ---- accounts ----------------------------------------------------------------------
    /// The tenant owning a vendor object.
    pub Owner(kind: &str, id: &str) => "owner:{kind}:{id}": Bytes, ttl = forever;
    /// Chat-action owners as once written (still honoured).
    pub LegacyActionOwner(id: &str) => "owner:action:{id}": Bytes, ttl = forever;
    /// The accounts capability's own record of an object.
    pub AccountsRecord(kind: &str, id: &str) => "accounts:{kind}:{id}": Bytes, ttl = forever;
    /// The registration running for a number.
    pub RegistrationByNumber(digits: &str) => "accounts:registration-by-number:{digits}": Bytes,
        ttl = forever;
    /// A session's risk counter in one time slot.
    pub SessionRisk(session: &str, slot: i64) => "accounts:risk:{session}:{slot}": Counter,
        ttl = caller;
    /// When an agent account may next act.
    /// The times reserved for an agent account's next actions (JSON, compare-and-set, kept
    /// as long as its furthest reservation).
    pub AgentSchedule(agent: &str) => "accounts:agent:{agent}:schedule": Bytes, ttl = caller;
    /// When an agent account last sent, per account (as [`AgentSchedule`]).
    pub AgentSent(agent: &str) => "accounts:agent:{agent}:sent": Bytes, ttl = caller;
    /// Chat actions due, scored by when.
    pub DueActions() => "accounts:actions:due": SortedSet, ttl = forever;
    /// A tenant's business phones for one filter, as the vendor last listed them.
    pub BusinessPhones(tenant: &str, filter: &str)
        => "accounts:business-phones:v3:{tenant}:{filter}": Json<Vec<BusinessPhone>>,
        ttl = caller;

    // ---- HTTP --------------------------------------------------------------------------
    /// A tenant's requests of one rate-limit class in one window.
    pub RateWindow(class: &str, tenant: &str, window: u64)
        => "ratelimit:{class}:{tenant}:{window}": Counter, ttl = caller;
    /// A request under an `Idempotency-Key` (by the key's hash): in flight or its response.
    pub Idempotency(tenant: &str, key_hash: &str) => "idempotency:{tenant}:{key_hash}": Bytes,
        ttl = caller;

    // ---- vendors -----------------------------------------------------------------------
    /// Until when a vendor's breaker is open.
    pub BreakerOpenUntil(provider: &str) => "breaker:{provider}:open_until": Bytes,
        ttl = forever;
    /// A vendor's recent failures.
    pub BreakerFailures(provider: &str) => "breaker:{provider}:failures": Counter, ttl = caller;
    /// The one trial call let through a half-open breaker.
    pub BreakerProbe(provider: &str) => "breaker:{provider}:probe": Bytes, ttl = caller;
}

/// The name of the cache (and of the in-flight claims) a tenant uses: one for all tenants, or
/// one per tenant.
#[must_use]
pub fn scope_name(scope: CacheScope, tenant: &str) -> String {
    match scope {
        CacheScope::Shared => "shared".to_owned(),
        CacheScope::PerTenant => format!("t:{tenant}"),
    }
}

impl JobNumberRecord {
    /// The record of `number` in job `id`.
    #[must_use]
    pub fn of(id: &str, number: &E164) -> Self {
        Self::new(id, number.as_u64())
    }
}

impl PoolOpenBatch {
    /// The pool a group of `checks` of `provider` in `region` joins, in the cache scope `scope`.
    #[must_use]
    pub fn of(scope: &str, provider: ProviderId, checks: &CheckSet, region: Option<&str>) -> Self {
        let checks: Vec<&str> = checks.iter().map(|c| c.as_str()).collect();
        Self::new(
            scope,
            provider.as_str(),
            &checks.join("+"),
            region.unwrap_or("none"),
        )
    }
}

impl CachedNumber {
    /// `number`'s cached answers in `scope`.
    #[must_use]
    pub fn of(scope: &str, number: &E164) -> Self {
        Self::new(scope, number.as_u64())
    }
}

impl LegacyCachedAnswer {
    /// `number`'s old-style cached answer to `check` in `scope`.
    #[must_use]
    pub fn of(scope: &str, number: &E164, check: Check) -> Self {
        Self::new(scope, number.as_u64(), check.as_str())
    }
}

impl ClaimBucket {
    /// The claims on `number` in `scope`: the hash of its bucket.
    #[must_use]
    pub fn of(scope: &str, number: &E164) -> Self {
        Self::for_digits(scope, number.as_u64())
    }

    /// The bucket hash of the number with these digits (country code first) in `scope`.
    #[must_use]
    pub fn for_digits(scope: &str, digits: u64) -> Self {
        let bucket = claim_bucket(digits);
        Self::new(scope, bucket % CLAIM_SLOT_GROUPS, bucket)
    }

    /// The field of a claim on `check` of `number` in its bucket.
    #[must_use]
    pub fn field(number: &E164, check: Check) -> String {
        Self::field_for_digits(number.as_u64(), check.as_str())
    }

    /// The field of a claim on `check` of the number with these digits.
    #[must_use]
    pub fn field_for_digits(digits: u64, check: &str) -> String {
        format!("{digits}:{check}")
    }
}

/// The claim bucket of a number: Fibonacci hashing of its digits (stable across releases and
/// replicas, unlike `std`'s hasher), so that runs of consecutive numbers spread evenly.
#[must_use]
pub fn claim_bucket(digits: u64) -> u64 {
    const BITS: u32 = CLAIM_BUCKETS.trailing_zeros();
    digits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS)
}

impl ClaimHolder {
    /// The liveness keys of claim holders are this prefix and the holder.
    pub const PREFIX: &'static str = "nc:holder:";
}

impl AccountsRecord {
    /// The accounts record of `id` (chat actions keep their first name, `action`, so stored
    /// records stay readable).
    #[must_use]
    pub fn of(kind: OwnedKind, id: &str) -> Self {
        let name = match kind {
            OwnedKind::ChatAction => "action",
            other => other.as_str(),
        };
        Self::new(name, id)
    }
}

impl Owner {
    /// The owner record of `id`.
    #[must_use]
    pub fn of(kind: OwnedKind, id: &str) -> Self {
        Self::new(kind.as_str(), id)
    }
}

impl Projection {
    /// The projection of `id`.
    #[must_use]
    pub fn of(kind: OwnedKind, id: &str) -> Self {
        Self::new(kind.as_str(), id)
    }
}

#[cfg(test)]
mod tests {
    use store::keys::Key;
    use store::slot::key_slot;

    use super::*;

    const PREFIXES: [&str; 3] = ["", "wagw:", "test:0190ffee:"];
    const JOB_IDS: [&str; 3] = ["nc_0190ffee8f5a7c3e9d2b4a6c8e0f1a2b", "1", "x:y"];

    fn slot(prefix: &str, key: &str) -> u16 {
        key_slot(&format!("{prefix}{key}"))
    }

    #[test]
    fn a_jobs_keys_share_one_slot() {
        let number: E164 = "+919876543210".parse().expect("valid number");
        for prefix in PREFIXES {
            for id in JOB_IDS {
                let record = slot(prefix, &JobRecord::new(id));
                let together = [
                    slot(prefix, &JobLease::new(id)),
                    slot(prefix, &JobNumbers::new(id)),
                    slot(prefix, &JobCachedResults::new(id)),
                    slot(prefix, &JobOpenNumbers::new(id)),
                    slot(prefix, &JobWait::new(id, 3)),
                    slot(prefix, &JobNumberRecord::of(id, &number)),
                    slot(prefix, &JobRecordBucket::new(id, 7)),
                    slot(prefix, &JobPoolMarker::new(id, 0)),
                    slot(prefix, &JobAnsweredNumbers::new(id)),
                    slot(prefix, &JobReusedNumbers::new(id)),
                ];
                assert!(
                    together.iter().all(|s| *s == record),
                    "job {id} under {prefix:?}"
                );
            }
        }
    }

    #[test]
    fn claim_buckets_are_stable_and_even() {
        assert!(CLAIM_BUCKETS.is_power_of_two());
        // Pinned: replicas of different releases must agree on a number's bucket.
        assert_eq!(claim_bucket(919_876_543_210), 554);
        assert_eq!(
            &*ClaimBucket::for_digits("shared", 919_876_543_210),
            "{nc:claims:shared:10}:554"
        );
        let mut counts = vec![0u32; usize::try_from(CLAIM_BUCKETS).expect("small")];
        for i in 0..102_400u64 {
            let bucket = claim_bucket(919_800_000_000 + i);
            counts[usize::try_from(bucket).expect("small")] += 1;
        }
        // 100 per bucket on average: consecutive numbers must not crowd a few buckets.
        assert!(
            counts.iter().all(|&n| (50..=150).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn claims_of_a_group_share_one_slot_and_groups_spread() {
        for prefix in PREFIXES {
            for scope in ["shared", "t:acme"] {
                let mut group_slots = std::collections::HashMap::new();
                for i in 0..500u64 {
                    let number: E164 = format!("+9198765{i:05}").parse().expect("valid number");
                    let bucket = claim_bucket(number.as_u64());
                    let claim = slot(prefix, &ClaimBucket::of(scope, &number));
                    let first = *group_slots
                        .entry(bucket % CLAIM_SLOT_GROUPS)
                        .or_insert(claim);
                    assert_eq!(claim, first, "{scope} {number} under {prefix:?}");
                }
                let distinct: std::collections::HashSet<_> = group_slots.values().collect();
                assert!(distinct.len() > 1, "every group of {scope} in one slot");
            }
        }
    }

    #[test]
    fn tags_stay_inside_the_key_and_out_of_the_prefix() {
        for pattern in [
            JobRecord::PATTERN,
            JobLease::PATTERN,
            JobNumbers::PATTERN,
            JobNumberRecord::PATTERN,
            JobRecordBucket::PATTERN,
            ClaimBucket::PATTERN,
        ] {
            assert!(pattern.starts_with("{{"), "{pattern} starts with its tag");
        }
        assert_eq!(
            ClaimHolder::new("lookup_1").to_string(),
            format!("{}lookup_1", ClaimHolder::PREFIX)
        );
    }
}
