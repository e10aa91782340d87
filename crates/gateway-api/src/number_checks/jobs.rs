//! Persisted jobs: one JSON document per job (state, counts, sub-orders), the numbers to send
//! as a list, and results as lists (cached answers first, then one list per sub-order) written
//! in chunks. Only the replica holding a job's lease writes its document after creation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{CheckSet, E164, NumberResult, ProviderId};
use serde::{Deserialize, Serialize};

use super::model::{InvalidItem, JobError, JobStatus, ProviderChoice, SubOrderState};
use crate::store::{Store, StoreError};

/// Items per `lrange` (and page of an export).
pub const CHUNK: usize = 5_000;
/// Items encoded and handed to one `rpush` (the Redis store pipelines them in one round trip).
const PUSH_CHUNK: usize = 20_000;

/// Jobs due for work, scored by when (unix seconds).
pub const DUE: &str = "nc:jobs:due";

pub fn job_key(id: &str) -> String {
    format!("nc:job:{id}")
}

pub fn lease_key(id: &str) -> String {
    format!("nc:lease:job:{id}")
}

fn numbers_key(id: &str) -> String {
    format!("nc:job:{id}:numbers")
}

/// Result list `n`: 0 holds cached answers, `i + 1` the answers of sub-order `i`.
fn results_key(id: &str, list: usize) -> String {
    format!("nc:job:{id}:results:{list}")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub from_cache: u64,
    pub answered: u64,
    pub failed: u64,
    pub invalid: u64,
    pub duplicates: u64,
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
    /// Providers that refused or failed a submit of this job: no further order of the job goes
    /// to them, so a job whose every provider fails makes at most one submit per provider.
    #[serde(default)]
    pub failed_providers: Vec<FailedProvider>,
}

/// A provider that failed a submit of a job, with the error's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedProvider {
    pub provider: ProviderId,
    pub code: String,
}

impl Job {
    pub fn all_sub_orders_done(&self) -> bool {
        self.sub_orders.iter().all(|s| s.state.is_terminal())
    }

    /// Sets the final status from the counts.
    pub fn finish(&mut self, now: DateTime<Utc>) {
        let answered = self.counts.answered + self.counts.from_cache;
        let any_failed = self.counts.failed > 0
            || self
                .sub_orders
                .iter()
                .any(|s| matches!(s.state, SubOrderState::Failed | SubOrderState::Unknown));
        self.status = match (any_failed, answered > 0) {
            (false, _) => JobStatus::Completed,
            (true, true) => JobStatus::PartiallyFailed,
            (true, false) => JobStatus::Failed,
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
    store.get_json(&job_key(id)).await
}

pub async fn save(store: &Store, job: &Job, ttl: Duration) -> Result<(), StoreError> {
    store.set_json(&job_key(&job.id), job, Some(ttl)).await
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
    push_json(store, &numbers_key(id), numbers, ttl).await
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
            .lrange(&numbers_key(id), from as i64, to as i64 - 1)
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

/// Writes the cached answers (list 0).
pub async fn put_cached_results(
    store: &Store,
    id: &str,
    results: &[NumberResult],
    ttl: Duration,
) -> Result<(), StoreError> {
    push_json(store, &results_key(id, 0), results, ttl).await
}

/// Writes a sub-order's answers, replacing any earlier write (a retry after a crash).
pub async fn put_sub_order_results(
    store: &Store,
    id: &str,
    index: usize,
    results: &[NumberResult],
    ttl: Duration,
) -> Result<(), StoreError> {
    let key = results_key(id, index + 1);
    store.delete(&key).await?;
    push_json(store, &key, results, ttl).await
}

/// A position in a job's results: list and offset, rendered `list.offset`.
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

/// Up to `limit` raw result records from `cursor`, and where the next page starts.
pub async fn read_results(
    store: &Store,
    job: &Job,
    mut cursor: Cursor,
    limit: usize,
) -> Result<(Vec<Vec<u8>>, Option<Cursor>), StoreError> {
    let lists = job.sub_orders.len() + 1;
    let mut out = Vec::new();
    while cursor.list < lists && out.len() < limit {
        let want = limit - out.len();
        let items = store
            .lrange(
                &results_key(&job.id, cursor.list),
                cursor.offset as i64,
                (cursor.offset + want) as i64 - 1,
            )
            .await?;
        let got = items.len();
        out.extend(items);
        if got < want {
            cursor = Cursor {
                list: cursor.list + 1,
                offset: 0,
            };
        } else {
            cursor.offset += got;
        }
    }
    // Skip empty lists so the last page reports no next cursor.
    while cursor.list < lists
        && store.llen(&results_key(&job.id, cursor.list)).await? <= cursor.offset as u64
    {
        cursor = Cursor {
            list: cursor.list + 1,
            offset: 0,
        };
    }
    let next = (cursor.list < lists).then_some(cursor);
    Ok((out, next))
}
