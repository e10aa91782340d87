//! Persisted jobs: one JSON document per job (state, counts, sub-orders), the numbers to send
//! as a list, and results. Only the replica holding a job's lease writes after creation.
//!
//! Results are one record per number: cached answers as a list (written once, at creation),
//! then the job's other numbers as a list in a fixed order, each with a per-number record in one
//! of the job's record hashes ([`Records`]). Every sub-order's answers (and failures, and the
//! checks no provider takes) are merged into those records when written, so a number asked of
//! two vendor orders has one record, and pages are stable (positions in two fixed lists).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{CheckOutcome, CheckSet, CheckStatus, E164, NumberResult, ProviderId};
use serde::{Deserialize, Serialize};

use super::model::{InvalidItem, JobError, JobStatus, JobWarning, ProviderChoice, SubOrderState};
use super::pool::PoolEntry;
use crate::keys;
use crate::store::{Store, StoreError};

/// Items per `lrange` (and page of an export).
pub const CHUNK: usize = 5_000;
/// Items encoded and handed to one `rpush` (the Redis store pipelines them in one round trip).
const PUSH_CHUNK: usize = 5_000;

/// Counts of numbers, never of records or orders.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    /// Numbers answered from cache (or by another request's purchase) and by no vendor order of
    /// this job.
    pub from_cache: u64,
    /// Numbers with at least one check answered by a vendor for this job.
    pub answered: u64,
    /// Numbers without any answer: no provider for them (known at creation), or, once the job
    /// is finished, every order for them failed.
    pub failed: u64,
    pub invalid: u64,
    pub duplicates: u64,
    /// Numbers answered from cache at intake. Present (jobs created since `answered` and
    /// `from_cache` are counted in sets, see [`recount`]): both counts are read from the job's
    /// sets; absent (older jobs): they are added up as answers are merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_at_intake: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubOrder {
    pub index: usize,
    pub provider: ProviderId,
    pub checks: CheckSet,
    /// Range of the job's number list.
    pub start: usize,
    pub len: usize,
    pub state: SubOrderState,
    pub vendor_order_id: Option<String>,
    pub rerouted_from: Option<ProviderId>,
    /// Providers this order was moved away from (refused, failed or circuit open): it is never
    /// moved back to one of them.
    #[serde(default)]
    pub tried: Vec<ProviderId>,
    /// Whether the vendor accepted (and so billed) the order.
    pub billed: bool,
    pub answered: u64,
    pub submitted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub next_poll_at: Option<DateTime<Utc>>,
    pub poll_delay_ms: u64,
    pub poll_errors: u32,
    /// Failed attempts at downloading and reading the result file.
    #[serde(default)]
    pub download_errors: u32,
    pub error: Option<JobError>,
    /// Whether a failure of this order is written into its numbers' records.
    #[serde(default)]
    pub failure_recorded: bool,
    /// Whether the vendor order is shared with other callers' numbers (a filled pool).
    #[serde(default)]
    pub pooled: bool,
    /// Whether a billed order is in the tenant's usage. Written after the order is saved, so a
    /// failed write is made again by the next step (once: see [`super::usage`]). Orders saved
    /// before this was kept had their usage written when they were billed.
    #[serde(default = "usage_was_written_then")]
    pub usage_counted: bool,
}

fn usage_was_written_then() -> bool {
    true
}

impl SubOrder {
    /// A sub-order not sent yet: `numbers[start..start + len]` of the job's number list.
    pub fn new(
        index: usize,
        provider: ProviderId,
        checks: CheckSet,
        start: usize,
        len: usize,
    ) -> Self {
        Self {
            index,
            provider,
            checks,
            start,
            len,
            state: SubOrderState::Pending,
            vendor_order_id: None,
            rerouted_from: None,
            tried: Vec::new(),
            billed: false,
            answered: 0,
            submitted_at: None,
            finished_at: None,
            next_poll_at: None,
            poll_delay_ms: 0,
            poll_errors: 0,
            download_errors: 0,
            error: None,
            failure_recorded: false,
            pooled: false,
            usage_counted: false,
        }
    }
}

/// Numbers whose `checks` another request (a job or a lookup, of any tenant sharing the cache
/// scope) was buying when this job asked: the job waits for those answers and reuses them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wait {
    /// Names the list holding the numbers.
    pub list: usize,
    pub checks: CheckSet,
    pub len: usize,
    /// When to look at the claims again; doubles from `poll_initial` up to `poll_max`.
    pub next_check_at: Option<DateTime<Utc>>,
    pub delay_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub tenant: String,
    pub status: JobStatus,
    pub checks: CheckSet,
    pub provider: ProviderChoice,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub callback_url: Option<String>,
    /// Month the budget reservation was taken in.
    pub month: String,
    /// Budget reserved at creation (0 without a budget).
    pub reserved: u64,
    pub counts: Counts,
    pub sub_orders: Vec<SubOrder>,
    pub invalid: Vec<InvalidItem>,
    pub errors: Vec<JobError>,
    /// Asked checks that cannot be answered for some or all numbers, known at creation.
    #[serde(default)]
    pub warnings: Vec<JobWarning>,
    /// Asked checks no configured provider answers (for any number).
    #[serde(default)]
    pub unanswerable: CheckSet,
    /// Providers that refused or failed a submit of this job: no further order of the job goes
    /// to them, so a job whose every provider fails makes at most one submit per provider.
    #[serde(default)]
    pub failed_providers: Vec<FailedProvider>,
    /// Numbers waiting for answers other requests are buying.
    #[serde(default)]
    pub waits: Vec<Wait>,
    /// Wait lists made so far (names the next one).
    #[serde(default)]
    pub wait_lists: usize,
    /// The job's `max_age` (the configured one when absent), for answers reused later.
    #[serde(default)]
    pub max_age_ms: Option<u64>,
    /// Groups below a vendor's minimum waiting to be pooled with other callers' numbers.
    #[serde(default)]
    pub pooled: Vec<PoolEntry>,
    /// Budget reservations made after creation (names the next one, so that a step repeated
    /// after a failure finds its reservation instead of making another).
    #[serde(default)]
    pub reservations: u32,
    /// The id of the `number_check.completed` event of a finished job until it is published:
    /// set with the final status, cleared once the event and the callback are out, so a
    /// failure in between is made good by the next step, under the same event id.
    #[serde(default)]
    pub unpublished_event: Option<String>,
    /// Whether the job's records have been kept only in its record hashes ([`Records`]) since
    /// it was created. False for jobs created, or saved, by a version that kept a key per
    /// number (it drops this field when it saves): their records are read from both.
    #[serde(default)]
    pub records_in_buckets: bool,
}

/// A provider that failed a submit of a job, with the error's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedProvider {
    pub provider: ProviderId,
    pub code: String,
}

impl Job {
    /// A running job of tenant `t` with these sub-orders, for tests.
    #[cfg(test)]
    pub fn sample(sub_orders: Vec<SubOrder>) -> Job {
        let now = Utc::now();
        Job {
            id: "job".into(),
            tenant: "t".into(),
            status: JobStatus::Running,
            checks: CheckSet::empty(),
            provider: Default::default(),
            created_at: now,
            updated_at: now,
            finished_at: None,
            callback_url: None,
            month: "2026-01".into(),
            reserved: 0,
            counts: Default::default(),
            sub_orders,
            invalid: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            unanswerable: CheckSet::empty(),
            failed_providers: Vec::new(),
            waits: Vec::new(),
            wait_lists: 0,
            max_age_ms: None,
            pooled: Vec::new(),
            reservations: 0,
            unpublished_event: None,
            records_in_buckets: true,
        }
    }

    /// Every sub-order has ended and no number waits for another request's answers or for
    /// its pool.
    pub fn all_work_done(&self) -> bool {
        self.waits.is_empty()
            && self.pooled.is_empty()
            && self.sub_orders.iter().all(|s| s.state.is_terminal())
    }

    /// Numbers of sub-orders a vendor has billed, may have billed, or will bill when sent, and
    /// of groups waiting in a pool.
    pub fn committed(&self) -> u64 {
        let ordered: u64 = self
            .sub_orders
            .iter()
            .filter(|s| {
                s.billed || !matches!(s.state, SubOrderState::Failed | SubOrderState::Completed)
            })
            .map(|s| s.len as u64)
            .sum();
        ordered + self.pooled_numbers()
    }

    /// Numbers waiting in pools.
    pub fn pooled_numbers(&self) -> u64 {
        self.pooled.iter().map(|p| p.len as u64).sum()
    }

    /// Sets the final status: `completed` only when every asked check of every number has its
    /// answer; `failed` when no number has any; `completed_with_errors` otherwise.
    pub fn finish(&mut self, now: DateTime<Utc>) {
        let c = &mut self.counts;
        c.failed = c.total.saturating_sub(c.from_cache + c.answered);
        let answered = c.answered + c.from_cache;
        let incomplete = c.failed > 0
            || !self.warnings.is_empty()
            || !self.errors.is_empty()
            || self
                .sub_orders
                .iter()
                .any(|s| matches!(s.state, SubOrderState::Failed | SubOrderState::Unknown));
        self.status = if answered == 0 {
            JobStatus::Failed
        } else if incomplete {
            JobStatus::CompletedWithErrors
        } else {
            JobStatus::Completed
        };
        self.finished_at = Some(now);
        self.updated_at = now;
    }
}

pub async fn load(store: &Store, id: &str) -> Result<Option<Job>, StoreError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Ok(None);
    }
    store.load(&keys::JobRecord::new(id)).await
}

pub async fn save(store: &Store, job: &Job, ttl: Duration) -> Result<(), StoreError> {
    store
        .save_for(&keys::JobRecord::new(&job.id), job, Some(ttl))
        .await
}

/// [`save`], held by the store's replicas before it counts (`store.replica_acks`): for the
/// marks a vendor order is sent on.
pub async fn save_acked(store: &Store, job: &Job, ttl: Duration) -> Result<(), StoreError> {
    store
        .save_acked_for(&keys::JobRecord::new(&job.id), job, Some(ttl))
        .await
}

async fn push_json<T: Serialize>(
    store: &Store,
    key: &str,
    items: &[T],
    ttl: Duration,
) -> Result<(), StoreError> {
    for chunk in items.chunks(PUSH_CHUNK) {
        let encoded: Vec<Vec<u8>> = chunk
            .iter()
            .filter_map(|item| serde_json::to_vec(item).ok())
            .collect();
        store.rpush(key, &encoded).await?;
    }
    if !items.is_empty() {
        store.expire(key, ttl).await?;
    }
    Ok(())
}

pub async fn put_numbers(
    store: &Store,
    id: &str,
    numbers: &[E164],
    ttl: Duration,
) -> Result<(), StoreError> {
    push_json(store, &keys::JobNumbers::new(id), numbers, ttl).await
}

pub async fn read_numbers(
    store: &Store,
    id: &str,
    start: usize,
    len: usize,
) -> Result<Vec<E164>, StoreError> {
    let mut out = Vec::with_capacity(len);
    let end = start + len;
    let mut from = start;
    while from < end {
        let to = (from + CHUNK).min(end);
        let raw = store
            .lrange(&keys::JobNumbers::new(id), from as i64, to as i64 - 1)
            .await?;
        if raw.is_empty() {
            break;
        }
        for item in raw {
            let n: E164 = serde_json::from_slice(&item)
                .map_err(|e| StoreError::Corrupt(format!("job {id} numbers: {e}")))?;
            out.push(n);
        }
        from = to;
    }
    Ok(out)
}

/// Appends `numbers` to the job's number list; returns where they start.
pub async fn append_numbers(
    store: &Store,
    id: &str,
    numbers: &[E164],
    ttl: Duration,
) -> Result<usize, StoreError> {
    let start = store.llen(&keys::JobNumbers::new(id)).await? as usize;
    put_numbers(store, id, numbers, ttl).await?;
    Ok(start)
}

/// Writes the numbers of a new wait list of the job and returns the [`Wait`].
pub async fn put_wait(
    store: &Store,
    job: &mut Job,
    checks: CheckSet,
    numbers: &[E164],
    delay: Duration,
    ttl: Duration,
) -> Result<Wait, StoreError> {
    let list = job.wait_lists;
    job.wait_lists += 1;
    push_json(store, &keys::JobWait::new(&job.id, list), numbers, ttl).await?;
    Ok(Wait {
        list,
        checks,
        len: numbers.len(),
        next_check_at: Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default()),
        delay_ms: delay.as_millis() as u64,
    })
}

pub async fn read_wait(store: &Store, id: &str, wait: &Wait) -> Result<Vec<E164>, StoreError> {
    let raw = store
        .lrange(&keys::JobWait::new(id, wait.list), 0, -1)
        .await?;
    raw.iter()
        .map(|item| {
            serde_json::from_slice(item)
                .map_err(|e| StoreError::Corrupt(format!("job {id} wait list: {e}")))
        })
        .collect()
}

/// Writes `numbers` as a new list of the job (named like wait lists); returns its name.
pub async fn put_list(
    store: &Store,
    job: &mut Job,
    numbers: &[E164],
    ttl: Duration,
) -> Result<usize, StoreError> {
    let list = job.wait_lists;
    job.wait_lists += 1;
    push_json(store, &keys::JobWait::new(&job.id, list), numbers, ttl).await?;
    Ok(list)
}

/// The numbers of list `list` of job `id`.
pub async fn read_list(store: &Store, id: &str, list: usize) -> Result<Vec<E164>, StoreError> {
    let raw = store.lrange(&keys::JobWait::new(id, list), 0, -1).await?;
    raw.iter()
        .map(|item| {
            serde_json::from_slice(item)
                .map_err(|e| StoreError::Corrupt(format!("job {id} list {list}: {e}")))
        })
        .collect()
}

pub async fn drop_list(store: &Store, id: &str, list: usize) -> Result<(), StoreError> {
    store.delete(&keys::JobWait::new(id, list)).await?;
    Ok(())
}

pub async fn drop_wait(store: &Store, id: &str, wait: &Wait) -> Result<(), StoreError> {
    store.delete(&keys::JobWait::new(id, wait.list)).await?;
    Ok(())
}

/// Writes the cached answers (complete records).
pub async fn put_cached_results(
    store: &Store,
    id: &str,
    results: &[NumberResult],
    ttl: Duration,
) -> Result<(), StoreError> {
    push_json(store, &keys::JobCachedResults::new(id), results, ttl).await
}

/// Writes the numbers that are not answered from cache, in result order.
pub async fn put_open_numbers(
    store: &Store,
    id: &str,
    numbers: &[E164],
    ttl: Duration,
) -> Result<(), StoreError> {
    push_json(store, &keys::JobOpenNumbers::new(id), numbers, ttl).await
}

/// Records per record hash of a job: large enough that a merge of a chunk of a large job meets
/// each hash with several records (a command and an expiry per hash, not per number), small
/// enough that a hash stays quick to expire.
const RECORDS_PER_BUCKET: u64 = 4_096;
/// Beyond this many hashes a job's hashes grow instead.
const MAX_RECORD_BUCKETS: u64 = 1_024;

/// Where a job's per-number records are: in `buckets` hashes of the job, each holding the
/// records of the numbers that hash to it (field: the digits). One key per number cost a
/// command and an expiry per number and order: the largest single cost in Redis of a large
/// job's completion.
#[derive(Debug, Clone)]
pub struct Records {
    id: String,
    buckets: u64,
    /// Records may also be under a key per number ([`keys::JobNumberRecord`]): read with the
    /// hashes' and merged, never written.
    per_number_keys: bool,
}

impl Job {
    /// Where this job's records are.
    pub fn records(&self) -> Records {
        Records {
            per_number_keys: !self.records_in_buckets,
            ..Records::new(&self.id, self.counts.total)
        }
    }
}

impl Records {
    /// The records of job `id` of `total` numbers, created by this version.
    pub fn new(id: &str, total: u64) -> Records {
        Records {
            id: id.to_owned(),
            buckets: total
                .div_ceil(RECORDS_PER_BUCKET)
                .clamp(1, MAX_RECORD_BUCKETS),
            per_number_keys: false,
        }
    }

    fn bucket_of(&self, number: &E164) -> u32 {
        // Mixed first: numbers of one range differ mostly in their last digits.
        let mixed = number.as_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        (mixed % self.buckets) as u32
    }

    /// The numbers' positions in `numbers`, by record hash.
    fn by_bucket(&self, numbers: &[E164]) -> BTreeMap<u32, Vec<usize>> {
        let mut by_bucket: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, number) in numbers.iter().enumerate() {
            by_bucket.entry(self.bucket_of(number)).or_default().push(i);
        }
        by_bucket
    }

    /// The records of `numbers`, in order (`None`: nothing merged for it yet).
    pub async fn load(
        &self,
        store: &Store,
        numbers: &[E164],
    ) -> Result<Vec<Option<NumberResult>>, StoreError> {
        let mut out = vec![None; numbers.len()];
        if numbers.is_empty() {
            return Ok(out);
        }
        let by_bucket = self.by_bucket(numbers);
        let asked: Vec<(String, Vec<String>)> = by_bucket
            .iter()
            .map(|(bucket, at)| {
                let fields = at.iter().map(|&i| numbers[i].as_u64().to_string());
                (
                    keys::JobRecordBucket::new(&self.id, *bucket).into(),
                    fields.collect(),
                )
            })
            .collect();
        let rows = store.hmget_each(&asked).await?;
        for (at, row) in by_bucket.values().zip(rows) {
            for (&i, value) in at.iter().zip(row) {
                out[i] = value.and_then(|bytes| decode(&bytes));
            }
        }
        if self.per_number_keys {
            self.merge_per_number_keys(store, numbers, &mut out).await?;
        }
        Ok(out)
    }

    async fn merge_per_number_keys(
        &self,
        store: &Store,
        numbers: &[E164],
        out: &mut [Option<NumberResult>],
    ) -> Result<(), StoreError> {
        let keys: Vec<String> = numbers
            .iter()
            .map(|n| keys::JobNumberRecord::of(&self.id, n).into())
            .collect();
        for (slot, old) in out.iter_mut().zip(store.mget(&keys).await?) {
            let Some(mut record) = old.and_then(|bytes| decode(&bytes)) else {
                continue;
            };
            if let Some(newer) = slot.take() {
                record.absorb(&newer);
            }
            *slot = Some(record);
        }
        Ok(())
    }

    /// Writes `records` (of distinct numbers, replacing what they had), each hash with `ttl`.
    async fn write(
        &self,
        store: &Store,
        records: Vec<(E164, Vec<u8>)>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut by_bucket: BTreeMap<u32, Vec<crate::store::Field>> = BTreeMap::new();
        for (number, bytes) in records {
            let field = (number.as_u64().to_string(), bytes);
            by_bucket
                .entry(self.bucket_of(&number))
                .or_default()
                .push(field);
        }
        let entries: Vec<(String, Vec<crate::store::Field>)> = by_bucket
            .into_iter()
            .map(|(bucket, fields)| (keys::JobRecordBucket::new(&self.id, bucket).into(), fields))
            .collect();
        store.hset_many(&entries, Some(ttl)).await
    }
}

/// Bytes reserved for one record's JSON: a record with a check or two fits, so encoding it
/// does not grow its buffer step by step (a large job encodes two of them per number).
const RECORD_JSON_BYTES: usize = 384;

/// `value` as JSON in a buffer sized for a record.
pub(super) fn record_json(value: &NumberResult) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(RECORD_JSON_BYTES);
    serde_json::to_writer(&mut bytes, value).ok()?;
    Some(bytes)
}

fn decode(bytes: &[u8]) -> Option<NumberResult> {
    serde_json::from_slice(bytes).ok()
}

/// What merging partial records changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Merged {
    /// Numbers that had no answered check before and have one now. Not a count to add up: a
    /// merge whose reply was lost wrote its records, and its repeat finds them answered.
    pub newly_answered: u64,
}

/// Where merged answers come from, and so which of the job's counts they go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A vendor order of this job: `answered`.
    Vendor,
    /// Another request's purchase, or the cache after intake: `from_cache`.
    Reused,
}

/// Merges `partials` (records of open numbers, each with statuses for the checks it speaks
/// of) into the numbers' records. Idempotent: writing the same partials again changes nothing.
/// For partials without answers (failures, checks no provider takes). The partials name
/// distinct numbers, since chunks of them are merged at once.
pub async fn merge_records(
    store: &Store,
    records: &Records,
    partials: impl Into<Arc<[NumberResult]>>,
    ttl: Duration,
) -> Result<Merged, StoreError> {
    merge(store, records, partials.into(), ttl, None).await
}

/// [`merge_records`] of answers from `source`: the numbers answered are also added to the
/// job's set for that source (one command per chunk), which [`recount`] reads. Repeating the
/// merge after any partial attempt leaves the same records and sets.
pub async fn merge_answers(
    store: &Store,
    records: &Records,
    partials: impl Into<Arc<[NumberResult]>>,
    ttl: Duration,
    source: Source,
) -> Result<Merged, StoreError> {
    merge(store, records, partials.into(), ttl, Some(source)).await
}

async fn merge(
    store: &Store,
    records: &Records,
    partials: Arc<[NumberResult]>,
    ttl: Duration,
    source: Option<Source>,
) -> Result<Merged, StoreError> {
    // The chunks hold different numbers, so they are merged at once, each in its own task:
    // decoding and encoding the records is most of a merge's time.
    let newly_answered = super::spread::over_chunks(partials, CHUNK, |chunk| {
        let (store, records) = (store.clone(), records.clone());
        async move { merge_chunk(&store, &records, &chunk, ttl, source).await }
    })
    .await?;
    Ok(Merged {
        newly_answered: newly_answered.into_iter().sum(),
    })
}

/// [`merge`] of one chunk of distinct numbers; returns how many were newly answered.
async fn merge_chunk(
    store: &Store,
    records: &Records,
    chunk: &[NumberResult],
    ttl: Duration,
    source: Option<Source>,
) -> Result<u64, StoreError> {
    let mut newly_answered = 0;
    let numbers: Vec<E164> = chunk.iter().map(|r| r.number).collect();
    let existing = records.load(store, &numbers).await?;
    let mut entries = Vec::with_capacity(chunk.len());
    for (partial, old) in chunk.iter().zip(existing) {
        let mut record = old.unwrap_or_else(|| NumberResult::unanswered(partial.number));
        let had_answer = record.has_answer();
        record.absorb(partial);
        if !had_answer && record.has_answer() {
            newly_answered += 1;
        }
        if let Some(bytes) = record_json(&record) {
            entries.push((partial.number, bytes));
        }
    }
    records.write(store, entries, ttl).await?;
    // After the records: a count never runs ahead of the records it counts.
    if let Some(source) = source {
        tally(store, &records.id, chunk, source, ttl).await?;
    }
    Ok(newly_answered)
}

/// Adds the numbers of `partials` that carry an answer to the job's set for `source`. Which
/// numbers go in depends on the partials alone, not on what the records held before, so a
/// repeat after a lost reply adds the same ones.
async fn tally(
    store: &Store,
    id: &str,
    partials: &[NumberResult],
    source: Source,
    ttl: Duration,
) -> Result<(), StoreError> {
    let answered: Vec<String> = partials
        .iter()
        .filter(|p| p.has_answer())
        .map(|p| p.number.as_u64().to_string())
        .collect();
    store
        .set_add(&tally_key(id, source), &answered, Some(ttl))
        .await?;
    Ok(())
}

fn tally_key(id: &str, source: Source) -> String {
    match source {
        Source::Vendor => keys::JobAnsweredNumbers::new(id).into(),
        Source::Reused => keys::JobReusedNumbers::new(id).into(),
    }
}

/// Sets the job's `answered` and `from_cache` from its sets (one script): a number a vendor
/// answered is `answered`, whatever else answered it; one answered only by others' purchases
/// is `from_cache`, like the cache hits at intake. The counts are read from state every retry
/// converges to, never added up, so a step repeated after a failure cannot skip or double
/// them. Callers hold the job (its lock, or the only copy), so saves keep the order of reads.
pub async fn recount(store: &Store, job: &mut Job) -> Result<(), StoreError> {
    let Some(at_intake) = job.counts.cached_at_intake else {
        return Ok(());
    };
    let sizes = store
        .set_sizes(
            &keys::JobAnsweredNumbers::new(&job.id),
            &keys::JobReusedNumbers::new(&job.id),
        )
        .await?;
    job.counts.answered = sizes.a;
    job.counts.from_cache = at_intake + sizes.b.saturating_sub(sizes.both);
    Ok(())
}

/// Whether the job's counts are added up as answers are merged (a job created before they
/// were counted in sets).
pub fn counts_added_up(job: &Job) -> bool {
    job.counts.cached_at_intake.is_none()
}

/// Drops the sets the counts of a finished job were read from (they also expire with it).
pub async fn drop_tallies(store: &Store, id: &str) -> Result<(), StoreError> {
    store.delete(&keys::JobAnsweredNumbers::new(id)).await?;
    store.delete(&keys::JobReusedNumbers::new(id)).await?;
    Ok(())
}

/// Partial records saying `checks` of `numbers` have no answer, with `status` and `reason`.
pub fn unanswered(
    numbers: &[E164],
    checks: &CheckSet,
    status: CheckStatus,
    reason: &str,
    provider: Option<ProviderId>,
) -> Vec<NumberResult> {
    let outcome = CheckOutcome {
        provider,
        ..CheckOutcome::unanswered(status, reason)
    };
    numbers
        .iter()
        .map(|n| {
            let mut record = NumberResult::unanswered(*n);
            for check in checks.iter() {
                record.checks.insert(check, outcome.clone());
            }
            record
        })
        .collect()
}

/// A position in a job's results: list (0 cached answers, 1 the other numbers) and offset,
/// rendered `list.offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub list: usize,
    pub offset: usize,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        let (list, offset) = s.split_once('.')?;
        Some(Self {
            list: list.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.list, self.offset)
    }
}

const LISTS: usize = 2;

/// Up to `limit` records (one per number) from `cursor`, and where the next page starts.
pub async fn read_results(
    store: &Store,
    job: &Job,
    mut cursor: Cursor,
    limit: usize,
) -> Result<(Vec<NumberResult>, Option<Cursor>), StoreError> {
    let mut out = Vec::new();
    while cursor.list < LISTS && out.len() < limit {
        let want = limit - out.len();
        let got = match cursor.list {
            0 => read_cached(store, job, cursor.offset, want, &mut out).await?,
            _ => read_open(store, job, cursor.offset, want, &mut out).await?,
        };
        if got < want {
            cursor = Cursor {
                list: cursor.list + 1,
                offset: 0,
            };
        } else {
            cursor.offset += got;
        }
    }
    // Skip exhausted lists so the last page reports no next cursor.
    while cursor.list < LISTS && list_len(store, job, cursor.list).await? <= cursor.offset as u64 {
        cursor = Cursor {
            list: cursor.list + 1,
            offset: 0,
        };
    }
    let next = (cursor.list < LISTS).then_some(cursor);
    Ok((out, next))
}

async fn list_len(store: &Store, job: &Job, list: usize) -> Result<u64, StoreError> {
    match list {
        0 => store.llen(&keys::JobCachedResults::new(&job.id)).await,
        _ => store.llen(&keys::JobOpenNumbers::new(&job.id)).await,
    }
}

async fn read_cached(
    store: &Store,
    job: &Job,
    offset: usize,
    want: usize,
    out: &mut Vec<NumberResult>,
) -> Result<usize, StoreError> {
    let raw = store
        .lrange(
            &keys::JobCachedResults::new(&job.id),
            offset as i64,
            (offset + want) as i64 - 1,
        )
        .await?;
    let got = raw.len();
    out.extend(
        raw.iter()
            .filter_map(|r| serde_json::from_slice::<NumberResult>(r).ok()),
    );
    Ok(got)
}

async fn read_open(
    store: &Store,
    job: &Job,
    offset: usize,
    want: usize,
    out: &mut Vec<NumberResult>,
) -> Result<usize, StoreError> {
    let raw = store
        .lrange(
            &keys::JobOpenNumbers::new(&job.id),
            offset as i64,
            (offset + want) as i64 - 1,
        )
        .await?;
    let numbers: Vec<E164> = raw
        .iter()
        .filter_map(|r| serde_json::from_slice(r).ok())
        .collect();
    let records = job.records().load(store, &numbers).await?;
    for (number, record) in numbers.into_iter().zip(records) {
        let mut record = record.unwrap_or_else(|| NumberResult::unanswered(number));
        complete(&mut record, job);
        out.push(record);
    }
    Ok(raw.len())
}

/// Gives every asked check without a status one: `unavailable` when no provider answers it,
/// else `pending` while the job runs (`failed` after, which a finished job should not have).
fn complete(record: &mut NumberResult, job: &Job) {
    for check in job.checks.iter() {
        if record.checks.contains_key(&check) {
            continue;
        }
        let outcome = if job.unanswerable.contains(check) {
            CheckOutcome::unanswered(CheckStatus::Unavailable, "checks_unanswered")
        } else if job.status.is_terminal() {
            CheckOutcome::unanswered(CheckStatus::Failed, "no_answer")
        } else {
            CheckOutcome {
                status: CheckStatus::Pending,
                provider: None,
                checked_at: None,
                reason: None,
            }
        };
        record.checks.insert(check, outcome);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use domain::{Check, Gender};

    use super::*;

    /// Answers of `provider` to `check` for `n` distinct numbers: more chunks than are merged at
    /// once, the last one short.
    fn answers(n: u64, check: Check, provider: ProviderId) -> Vec<NumberResult> {
        (0..n)
            .map(|i| {
                let number: E164 = format!("+9198{i:08}").parse().expect("valid number");
                let mut record = NumberResult::empty(number, provider, Utc::now());
                match check {
                    Check::Registered => record.registered = Some(i % 2 == 0),
                    _ => record.gender = Some(Gender::Female),
                }
                record.settle(&CheckSet::of(&[check]));
                record
            })
            .collect()
    }

    async fn stored(
        store: &Store,
        records: &Records,
        partials: &[NumberResult],
    ) -> Vec<NumberResult> {
        let numbers: Vec<E164> = partials.iter().map(|r| r.number).collect();
        records
            .load(store, &numbers)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.expect("a record per number"))
            .collect()
    }

    /// A job of `total` numbers, created by this version.
    fn job_of(total: u64) -> Job {
        let mut job = Job::sample(Vec::new());
        job.counts.total = total;
        job
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_merge_of_many_chunks_writes_every_record_and_counts_each_number_once() {
        let store = Store::memory("t:");
        let ttl = Duration::from_secs(600);
        let n = (CHUNK * 9 + 17) as u64;
        let records = job_of(n).records();
        let registered = answers(n, Check::Registered, ProviderId::new("first"));
        let merged = merge_answers(&store, &records, registered.as_slice(), ttl, Source::Vendor)
            .await
            .unwrap();
        assert_eq!(merged.newly_answered, n);
        let again = merge_answers(&store, &records, registered.as_slice(), ttl, Source::Vendor)
            .await
            .unwrap();
        assert_eq!(again.newly_answered, 0, "a repeated merge changes nothing");

        // A second check of the same numbers is merged into the same records.
        let demographics = answers(n, Check::Demographics, ProviderId::new("second"));
        merge_answers(&store, &records, demographics, ttl, Source::Vendor)
            .await
            .unwrap();
        let merged = stored(&store, &records, &registered).await;
        assert_eq!(merged.len() as u64, n);
        for (i, record) in merged.iter().enumerate() {
            assert_eq!(record.registered, Some(i % 2 == 0), "{record:?}");
            assert_eq!(record.gender, Some(Gender::Female), "{record:?}");
            assert_eq!(
                record.status(Check::Registered),
                Some(CheckStatus::Answered)
            );
        }
        let sizes = store
            .set_sizes(
                &keys::JobAnsweredNumbers::new("job"),
                &keys::JobReusedNumbers::new("job"),
            )
            .await
            .unwrap();
        assert_eq!(sizes.a, n);
    }

    #[tokio::test]
    async fn a_large_jobs_records_are_in_a_few_hashes_not_a_key_per_number() {
        let store = Store::memory("t:");
        let ttl = Duration::from_secs(600);
        let n = RECORDS_PER_BUCKET * 3 + 1;
        let records = job_of(n).records();
        let registered = answers(n, Check::Registered, ProviderId::new("first"));
        merge_answers(&store, &records, registered.as_slice(), ttl, Source::Vendor)
            .await
            .unwrap();

        let mut sizes = Vec::new();
        for bucket in 0..4 {
            let key = keys::JobRecordBucket::new("job", bucket);
            sizes.push(store.hgetall(&key).await.unwrap().len() as u64);
            assert!(store.ttl(&key).await.unwrap().is_some(), "{key} expires");
        }
        assert_eq!(
            sizes.iter().sum::<u64>(),
            n,
            "every record in the 4 hashes: {sizes:?}"
        );
        assert!(
            sizes.iter().all(|&size| size > n / 8),
            "the numbers spread over the hashes: {sizes:?}"
        );
        let one = keys::JobNumberRecord::of("job", &registered[0].number);
        assert_eq!(store.get(&one).await.unwrap(), None, "no key per number");
    }

    #[tokio::test]
    async fn records_kept_a_key_per_number_by_an_earlier_version_are_read_and_merged() {
        let store = Store::memory("t:");
        let ttl = Duration::from_secs(600);
        let registered = answers(40, Check::Registered, ProviderId::new("first"));
        let earlier: Vec<(String, Vec<u8>)> = registered[..30]
            .iter()
            .map(|r| {
                let key = keys::JobNumberRecord::of("job", &r.number).into();
                (key, serde_json::to_vec(r).unwrap())
            })
            .collect();
        store.mset(&earlier, Some(ttl)).await.unwrap();
        // Saved by that version: no `records_in_buckets`.
        let mut saved = serde_json::to_value(job_of(40)).unwrap();
        saved.as_object_mut().unwrap().remove("records_in_buckets");
        let job: Job = serde_json::from_value(saved).unwrap();
        let records = job.records();

        // The last 10 answered now; then another check of all 40.
        let merged = merge_answers(&store, &records, &registered[30..], ttl, Source::Vendor)
            .await
            .unwrap();
        assert_eq!(merged.newly_answered, 10, "the 30 earlier answers are seen");
        let demographics = answers(40, Check::Demographics, ProviderId::new("second"));
        let merged = merge_answers(&store, &records, demographics, ttl, Source::Vendor)
            .await
            .unwrap();
        assert_eq!(merged.newly_answered, 0);
        for (i, record) in stored(&store, &records, &registered)
            .await
            .iter()
            .enumerate()
        {
            assert_eq!(record.registered, Some(i % 2 == 0), "{record:?}");
            assert_eq!(record.gender, Some(Gender::Female), "{record:?}");
        }

        // A job of this version does not look for keys per number.
        let mut fresh = job_of(40);
        fresh.id = "fresh".into();
        let key = keys::JobNumberRecord::of("fresh", &registered[0].number).into();
        let bytes = serde_json::to_vec(&registered[0]).unwrap();
        store.mset(&[(key, bytes)], Some(ttl)).await.unwrap();
        let none = fresh
            .records()
            .load(&store, &[registered[0].number])
            .await
            .unwrap();
        assert!(none[0].is_none(), "{none:?}");
    }
}
