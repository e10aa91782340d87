//! Spend ledger per tenant and month: numbers billed per vendor, numbers a vendor may have
//! billed without the gateway knowing (unconfirmed), numbers saved by the cache, and the budget
//! reservation that refuses a job before any vendor call.
//!
//! A reservation is given back when a vendor call fails without billing; it is kept when the
//! outcome is unknown (a timeout, an unreadable answer, a crash mid-submit), and those numbers
//! are counted as unconfirmed, so usage never shows less than a vendor may charge.
//!
//! A job's steps are repeated after any failure, from the job as last saved, so the changes a
//! job makes to the ledger are made once per mark: a field `once:<what>` of the month's usage
//! hash itself, written in the same atomic step as the change (so on every store engine), that
//! a repeat finds. [`read`] skips the marks; a job deletes its marks when it ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use domain::ProviderId;

use crate::keys;
use crate::store::{Once, Store, StoreError};

pub fn month_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

const COMMITTED: &str = "committed";
const FROM_CACHE: &str = "from_cache";
const REQUESTED: &str = "requested";
const BILLED: &str = "billed:";
const UNCONFIRMED: &str = "unconfirmed:";

pub async fn record_billed(
    store: &Store,
    tenant: &str,
    month: &str,
    provider: ProviderId,
    numbers: u64,
) -> Result<(), StoreError> {
    store
        .hincr(
            &keys::Usage::new(tenant, month),
            &format!("{BILLED}{provider}"),
            numbers as i64,
        )
        .await?;
    Ok(())
}

const ONCE: &str = "once:";

/// The mark of a job's `n`th budget reservation after its creation.
pub fn reservation_mark(job: &str, n: u32) -> String {
    format!("{ONCE}reserve:{job}:{n}")
}

/// The mark of the billed usage of a job's sub-order.
pub fn billed_mark(job: &str, sub_order: usize) -> String {
    format!("{ONCE}billed:{job}:{sub_order}")
}

/// The mark of the unconfirmed usage of a job's sub-order.
pub fn unconfirmed_mark(job: &str, sub_order: usize) -> String {
    format!("{ONCE}unconfirmed:{job}:{sub_order}")
}

/// [`record_billed`] once per `mark`; whether it was counted now (not by an earlier attempt).
pub async fn record_billed_once(
    store: &Store,
    tenant: &str,
    month: &str,
    provider: ProviderId,
    numbers: u64,
    mark: &str,
) -> Result<bool, StoreError> {
    let field = format!("{BILLED}{provider}");
    add_once(store, tenant, month, &field, numbers, mark).await
}

/// [`record_unconfirmed`] once per `mark`.
pub async fn record_unconfirmed_once(
    store: &Store,
    tenant: &str,
    month: &str,
    provider: ProviderId,
    numbers: u64,
    mark: &str,
) -> Result<(), StoreError> {
    let field = format!("{UNCONFIRMED}{provider}");
    add_once(store, tenant, month, &field, numbers, mark)
        .await
        .map(|_| ())
}

/// Adds `numbers` to a usage counter once per `mark`; whether it was added now.
async fn add_once(
    store: &Store,
    tenant: &str,
    month: &str,
    field: &str,
    numbers: u64,
    mark: &str,
) -> Result<bool, StoreError> {
    let key = keys::Usage::new(tenant, month);
    let done = store
        .hincr_once(&key, field, numbers as i64, None, mark)
        .await?;
    Ok(matches!(done, Once::Applied(_)))
}

/// [`reserve`] once per `mark`: the numbers reserved (by this call or, for a repeat, by the
/// first one, which may differ from `numbers`), or on refusal the remaining budget. Atomic:
/// a refusal changes nothing.
pub async fn reserve_once(
    store: &Store,
    tenant: &str,
    month: &str,
    numbers: u64,
    budget: u64,
    mark: &str,
) -> Result<Result<u64, u64>, StoreError> {
    let key = keys::Usage::new(tenant, month);
    let cap = i64::try_from(budget).unwrap_or(i64::MAX);
    let done = store
        .hincr_once(&key, COMMITTED, numbers as i64, Some(cap), mark)
        .await?;
    Ok(match done {
        Once::Applied(_) => Ok(numbers),
        Once::Repeated(earlier) => Ok(u64::try_from(earlier).unwrap_or(0)),
        Once::Refused(current) => Err(budget.saturating_sub(u64::try_from(current).unwrap_or(0))),
    })
}

/// Deletes marks of the month that nothing will repeat any more (their job has ended).
pub async fn forget_marks(
    store: &Store,
    tenant: &str,
    month: &str,
    marks: &[String],
) -> Result<(), StoreError> {
    store
        .hdel(&keys::Usage::new(tenant, month), marks)
        .await
        .map(|_| ())
}

/// Numbers a vendor may have billed: the call's outcome is unknown.
pub async fn record_unconfirmed(
    store: &Store,
    tenant: &str,
    month: &str,
    provider: ProviderId,
    numbers: u64,
) -> Result<(), StoreError> {
    store
        .hincr(
            &keys::Usage::new(tenant, month),
            &format!("{UNCONFIRMED}{provider}"),
            numbers as i64,
        )
        .await?;
    Ok(())
}

pub async fn record_request(
    store: &Store,
    tenant: &str,
    month: &str,
    requested: u64,
    from_cache: u64,
) -> Result<(), StoreError> {
    store
        .hincr_many(
            &keys::Usage::new(tenant, month),
            &[
                (REQUESTED, requested as i64),
                (FROM_CACHE, from_cache as i64),
            ],
        )
        .await
}

/// Request counters of the one-number route, summed in memory and added to the store by
/// [`Tally::flush`]: every second (a worker), before this process answers a usage read, and at
/// shutdown. A cached lookup then costs no store write; billing and budgets never wait here.
/// It also keeps billed and unconfirmed usage of lookups whose direct write failed, so that a
/// store failure after a vendor call delays that usage instead of losing it.
#[derive(Debug, Default, Clone)]
pub struct Tally(Arc<Mutex<HashMap<String, BTreeMap<String, i64>>>>);

impl Tally {
    pub fn add(&self, tenant: &str, month: &str, requested: u64, from_cache: u64) {
        self.add_fields(
            tenant,
            month,
            [
                (REQUESTED.to_owned(), requested),
                (FROM_CACHE.to_owned(), from_cache),
            ],
        );
    }

    /// Billed usage whose write failed, for the next flush.
    pub fn add_billed(&self, tenant: &str, month: &str, provider: ProviderId, numbers: u64) {
        self.add_fields(tenant, month, [(format!("{BILLED}{provider}"), numbers)]);
    }

    /// Unconfirmed usage whose write failed, for the next flush.
    pub fn add_unconfirmed(&self, tenant: &str, month: &str, provider: ProviderId, numbers: u64) {
        self.add_fields(
            tenant,
            month,
            [(format!("{UNCONFIRMED}{provider}"), numbers)],
        );
    }

    fn add_fields<const N: usize>(&self, tenant: &str, month: &str, fields: [(String, u64); N]) {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = pending
            .entry(keys::Usage::new(tenant, month).into())
            .or_default();
        for (field, by) in fields {
            *entry.entry(field).or_default() += by as i64;
        }
    }

    /// Adds what is pending to the store; what could not be written stays pending.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        let mut entries = pending.into_iter();
        while let Some((key, fields)) = entries.next() {
            let increments: Vec<(&str, i64)> = fields
                .iter()
                .filter(|(_, by)| **by != 0)
                .map(|(field, by)| (field.as_str(), *by))
                .collect();
            if let Err(e) = store.hincr_many(&key, &increments).await {
                let mut back = self.0.lock().unwrap_or_else(PoisonError::into_inner);
                for (key, fields) in std::iter::once((key, fields)).chain(entries) {
                    let entry = back.entry(key).or_default();
                    for (field, by) in fields {
                        *entry.entry(field).or_default() += by;
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Reserves `numbers` of the tenant's monthly `budget`; on refusal, the remaining budget.
/// Decided in one atomic step: a refusal changes nothing, and concurrent reservations near the
/// budget never refuse each other.
pub async fn reserve(
    store: &Store,
    tenant: &str,
    month: &str,
    numbers: u64,
    budget: u64,
) -> Result<Result<(), u64>, StoreError> {
    let key = keys::Usage::new(tenant, month);
    let cap = i64::try_from(budget).unwrap_or(i64::MAX);
    Ok(
        match store
            .hincr_capped(&key, COMMITTED, numbers as i64, cap)
            .await?
        {
            Ok(_) => Ok(()),
            Err(committed) => Err(budget.saturating_sub(u64::try_from(committed).unwrap_or(0))),
        },
    )
}

/// Gives back a reservation that was not spent (nothing billed, nor possibly billed).
pub async fn release(
    store: &Store,
    tenant: &str,
    month: &str,
    numbers: u64,
) -> Result<(), StoreError> {
    if numbers > 0 {
        store
            .hincr(
                &keys::Usage::new(tenant, month),
                COMMITTED,
                -(numbers as i64),
            )
            .await?;
    }
    Ok(())
}

/// Gives back a reservation `holder` (a job, a lookup) no longer needs, without ever giving it
/// back twice: one attempt, and when it fails (the store away, the reply lost) the numbers stay
/// reserved until the month ends, counted by `number_checks_budget_not_given_back_total` and
/// logged, rather than risk letting the tenant spend past the budget.
pub async fn give_back(store: &Store, tenant: &str, month: &str, numbers: u64, holder: &str) {
    if numbers == 0 {
        return;
    }
    if let Err(e) = release(store, tenant, month, numbers).await {
        metrics::counter!("number_checks_budget_not_given_back_total").increment(numbers);
        tracing::warn!(
            holder,
            tenant,
            numbers,
            error = %e,
            "reservation not given back; it stays reserved for the month"
        );
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Usage {
    pub billed: BTreeMap<String, u64>,
    pub unconfirmed: BTreeMap<String, u64>,
    pub from_cache: u64,
    pub requested: u64,
    pub committed: u64,
}

pub async fn read(store: &Store, tenant: &str, month: &str) -> Result<Usage, StoreError> {
    let mut usage = Usage::default();
    for (field, value) in store.hgetall(&keys::Usage::new(tenant, month)).await? {
        let value = std::str::from_utf8(&value)
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        match field.as_str() {
            FROM_CACHE => usage.from_cache = value,
            REQUESTED => usage.requested = value,
            COMMITTED => usage.committed = value,
            mark if mark.starts_with(ONCE) => {}
            other => {
                if let Some(provider) = other.strip_prefix(BILLED) {
                    usage.billed.insert(provider.to_owned(), value);
                } else if let Some(provider) = other.strip_prefix(UNCONFIRMED) {
                    usage.unconfirmed.insert(provider.to_owned(), value);
                }
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_tally_reaches_the_store_when_flushed_and_keeps_what_failed() {
        let store = Store::memory("t:");
        let tally = Tally::default();
        tally.add("a", "2026-11", 1, 1);
        tally.add("a", "2026-11", 1, 0);
        tally.add("b", "2026-11", 1, 1);
        assert_eq!(read(&store, "a", "2026-11").await.unwrap().requested, 0);
        tally.flush(&store).await.unwrap();
        let a = read(&store, "a", "2026-11").await.unwrap();
        assert_eq!((a.requested, a.from_cache), (2, 1));
        let b = read(&store, "b", "2026-11").await.unwrap();
        assert_eq!((b.requested, b.from_cache), (1, 1));
        tally.flush(&store).await.unwrap();
        assert_eq!(
            read(&store, "a", "2026-11").await.unwrap().requested,
            2,
            "flushed once"
        );

        // A key of another type makes the write fail: the counts stay pending.
        store
            .set(&keys::Usage::new("c", "2026-11"), b"text", None)
            .await
            .unwrap();
        tally.add("c", "2026-11", 3, 0);
        assert!(tally.flush(&store).await.is_err());
        store
            .delete(&keys::Usage::new("c", "2026-11"))
            .await
            .unwrap();
        tally.flush(&store).await.unwrap();
        assert_eq!(read(&store, "c", "2026-11").await.unwrap().requested, 3);

        // Usage whose direct write failed waits here too, per provider.
        let ekycpro = providers::ekycpro::ID;
        tally.add_billed("a", "2026-11", ekycpro, 2);
        tally.add_billed("a", "2026-11", ekycpro, 1);
        tally.add_unconfirmed("a", "2026-11", ekycpro, 1);
        tally.flush(&store).await.unwrap();
        let a = read(&store, "a", "2026-11").await.unwrap();
        assert_eq!(a.billed.get("ekycpro"), Some(&3));
        assert_eq!(a.unconfirmed.get("ekycpro"), Some(&1));
        assert_eq!((a.requested, a.from_cache), (2, 1), "only what was added");
    }

    #[tokio::test]
    async fn budget_refuses_what_would_exceed_it() {
        let store = Store::memory("t:");
        assert_eq!(
            reserve(&store, "a", "2026-11", 600, 1_000).await.unwrap(),
            Ok(())
        );
        assert_eq!(
            reserve(&store, "a", "2026-11", 500, 1_000).await.unwrap(),
            Err(400)
        );
        release(&store, "a", "2026-11", 600).await.unwrap();
        assert_eq!(
            reserve(&store, "a", "2026-11", 1_000, 1_000).await.unwrap(),
            Ok(())
        );
        record_billed(&store, "a", "2026-11", providers::ekycpro::ID, 7)
            .await
            .unwrap();
        record_unconfirmed(&store, "a", "2026-11", providers::ekycpro::ID, 3)
            .await
            .unwrap();
        let usage = read(&store, "a", "2026-11").await.unwrap();
        assert_eq!(usage.billed.get("ekycpro"), Some(&7));
        assert_eq!(usage.unconfirmed.get("ekycpro"), Some(&3));
        assert_eq!(usage.committed, 1_000);
    }

    #[tokio::test]
    async fn marked_changes_are_made_once_and_marks_stay_out_of_the_usage() {
        let store = Store::memory("t:");
        let ekycpro = providers::ekycpro::ID;
        let mark = reservation_mark("job1", 0);
        assert_eq!(
            reserve_once(&store, "a", "2026-11", 600, 1_000, &mark)
                .await
                .unwrap(),
            Ok(600)
        );
        // A repeat (the step failed after reserving) finds the first reservation, whatever
        // it asks now.
        assert_eq!(
            reserve_once(&store, "a", "2026-11", 700, 1_000, &mark)
                .await
                .unwrap(),
            Ok(600)
        );
        let next = reservation_mark("job1", 1);
        assert_eq!(
            reserve_once(&store, "a", "2026-11", 500, 1_000, &next)
                .await
                .unwrap(),
            Err(400)
        );
        let billed = billed_mark("job1", 0);
        assert!(
            record_billed_once(&store, "a", "2026-11", ekycpro, 7, &billed)
                .await
                .unwrap()
        );
        assert!(
            !record_billed_once(&store, "a", "2026-11", ekycpro, 7, &billed)
                .await
                .unwrap()
        );
        let unknown = unconfirmed_mark("job1", 1);
        for _ in 0..2 {
            record_unconfirmed_once(&store, "a", "2026-11", ekycpro, 3, &unknown)
                .await
                .unwrap();
        }
        let usage = read(&store, "a", "2026-11").await.unwrap();
        assert_eq!(usage.committed, 600);
        assert_eq!(usage.billed.get("ekycpro"), Some(&7));
        assert_eq!(usage.unconfirmed.get("ekycpro"), Some(&3));
        assert_eq!(usage.billed.len() + usage.unconfirmed.len(), 2, "{usage:?}");
        forget_marks(&store, "a", "2026-11", &[mark, billed, unknown])
            .await
            .unwrap();
        let fields = store
            .hgetall(&keys::Usage::new("a", "2026-11"))
            .await
            .unwrap();
        assert!(
            fields.iter().all(|(f, _)| !f.starts_with(ONCE)),
            "{fields:?}"
        );
        assert_eq!(read(&store, "a", "2026-11").await.unwrap(), usage);
    }
}
