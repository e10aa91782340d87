//! The contract of the store's backends: every operation [`Store`](crate::Store) offers, on
//! full keys (the prefix already applied) and with arguments already checked. The embedded
//! backend ([`MemoryStore`](crate::memory::MemoryStore)) and Redis
//! ([`RedisStore`](crate::redis::RedisStore)) implement it, and the conformance suite
//! (`tests/store_conformance.rs`) runs each of its cases against both. `Store` dispatches
//! statically (an enum over the two), so no call goes through a vtable or a boxed future.

use std::time::Duration;

use crate::{Field, HashRow, SetSizes, StoreError, StreamId};

pub(crate) trait Backend {
    /// Round trip to the backend (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// The value at `key`, `None` if absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value`, replacing any value and TTL; `None` = no expiry.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError>;
    /// Stores `value` only if `key` does not exist; true if written.
    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
    /// Removes `key` (any type); true if it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Values of `keys` in order; `None` for absent keys and non-plain values. Not atomic
    /// across hash slots.
    async fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Stores all entries with `ttl`; not atomic as a whole.
    async fn mset(
        &self,
        entries: &[(String, &[u8])],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;
    /// Remaining time to live; `None` if absent or without TTL.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError>;
    /// Writes `new` only if the value equals `expected` (`None`: absent); true if written.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
    /// [`Backend::set`] (`guard` `None`) or [`Backend::compare_and_set`] (`guard`
    /// `Some(expected)`) of a write the caller acts on outside the store: where replicas must
    /// acknowledge such writes (`replica_acks`), it returns once they hold it, or fails with
    /// `Unavailable`. True if written.
    async fn write_acked(
        &self,
        key: &str,
        guard: Option<Option<&[u8]>>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
    /// Adds `by` (absent = 0); `ttl` goes on a key without one.
    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StoreError>;
    /// [`Backend::incr`] of `counter`, then the `fields` of hash `hash`, in one round trip; not
    /// atomic as a whole.
    async fn incr_then_hmget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        hash: &str,
        fields: &[String],
    ) -> Result<(i64, HashRow), StoreError>;
    /// [`Backend::incr`] of `counter`, then the plain values of `keys`, in one round trip; not
    /// atomic as a whole.
    async fn incr_then_mget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        keys: &[String],
    ) -> Result<(i64, Vec<Option<Vec<u8>>>), StoreError>;
    /// Adds `by` to an integer field.
    async fn hincr(&self, key: &str, field: &str, by: i64) -> Result<i64, StoreError>;
    /// Adds to several integer fields of one hash.
    async fn hincr_many(&self, key: &str, fields: &[(&str, i64)]) -> Result<(), StoreError>;
    /// Adds `by` to an integer field within a cap, at most once per marker field (none when
    /// the marker is empty).
    async fn hincr_once(
        &self,
        key: &str,
        field: &str,
        by: i64,
        cap: Option<i64>,
        marker: &str,
    ) -> Result<crate::Once, StoreError>;
    /// Deletes fields; returns how many there were.
    async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError>;
    /// Sets fields, keeping the others and the TTL.
    async fn hset(&self, key: &str, fields: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    /// Sets fields of many hashes, each then given `ttl` if set; not atomic as a whole.
    async fn hset_many(
        &self,
        entries: &[(String, &[Field])],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;
    /// One row per key, one value per field.
    async fn hmget_many(
        &self,
        keys: &[String],
        fields: &[String],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError>;
    /// All fields, in any order.
    async fn hgetall(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Sets the TTL of an existing key; false if absent.
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Takes the lease if free or `owner`'s (refreshing it); false if held by another.
    async fn lease_acquire(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Extends `owner`'s lease; false if it is not theirs.
    async fn lease_renew(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Frees `owner`'s lease; false if it is not theirs.
    async fn lease_release(&self, key: &str, owner: &str) -> Result<bool, StoreError>;
    /// Takes the listed fields of each hash for `holder` where free, `holder`'s or a `gone`
    /// holder's, atomically per hash slot. One row per entry: `None` where `holder` holds the
    /// field now, else the other holder. A hash where something was taken lives `ttl`.
    async fn claim_fields(
        &self,
        claims: &[(String, &[String])],
        holder: &str,
        gone: &[String],
        ttl: Duration,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError>;
    /// Frees the listed fields `holder` holds; returns how many.
    async fn release_fields(
        &self,
        claims: &[(String, &[String])],
        holder: &str,
    ) -> Result<u64, StoreError>;
    /// One row per entry, one value per listed field.
    async fn hmget_each(
        &self,
        entries: &[(String, &[String])],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError>;
    /// Adds `member` or updates its score.
    async fn zadd(&self, key: &str, member: &str, score: f64) -> Result<(), StoreError>;
    /// Removes `member`; true if it was there.
    async fn zrem(&self, key: &str, member: &str) -> Result<bool, StoreError>;
    /// Members within the scores, by score then member, after `offset`, at most `limit`.
    async fn zrange_by_score(
        &self,
        key: &str,
        min: f64,
        max: f64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, StoreError>;
    /// Members within the scores.
    async fn zcount(&self, key: &str, min: f64, max: f64) -> Result<u64, StoreError>;
    /// Number of members.
    async fn zcard(&self, key: &str) -> Result<u64, StoreError>;
    /// Atomically moves up to `limit` members with score `<= now` to `until` and returns them.
    async fn zclaim_due(
        &self,
        key: &str,
        now: f64,
        until: f64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// Adds `members` (at least one) to the set at `key`, giving it `ttl` if set; returns how
    /// many were not members before.
    async fn set_add(
        &self,
        key: &str,
        members: &[String],
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError>;
    /// Members of set `a`, of set `b`, and of both (keys of one hash slot).
    async fn set_sizes(&self, a: &str, b: &str) -> Result<SetSizes, StoreError>;
    /// Appends `items`; returns the new length.
    async fn rpush(&self, key: &str, items: &[Vec<u8>]) -> Result<u64, StoreError>;
    /// Items `start..=stop` (negative from the end).
    async fn lrange(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Length of the list.
    async fn llen(&self, key: &str) -> Result<u64, StoreError>;
    /// Keeps items `start..=stop`.
    async fn ltrim(&self, key: &str, start: i64, stop: i64) -> Result<(), StoreError>;
    /// Appends `payload`, keeping at least the newest `max_len` entries (0 = all).
    async fn stream_append(
        &self,
        key: &str,
        payload: &[u8],
        max_len: usize,
    ) -> Result<StreamId, StoreError>;
    /// Up to `limit` entries after `after`, oldest first.
    async fn stream_read_after(
        &self,
        key: &str,
        after: Option<StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, Vec<u8>)>, StoreError>;
    /// Removes entries older than `min_id_ms`; returns how many.
    async fn stream_trim_before(&self, key: &str, min_id_ms: u64) -> Result<u64, StoreError>;
}

/// [`Backend::write_acked`] where no replica has to acknowledge the write: the plain write.
pub(crate) async fn write_unacked(
    backend: &impl Backend,
    key: &str,
    guard: Option<Option<&[u8]>>,
    new: &[u8],
    ttl: Option<Duration>,
) -> Result<bool, StoreError> {
    match guard {
        None => backend.set(key, new, ttl).await.map(|()| true),
        Some(expected) => backend.compare_and_set(key, expected, new, ttl).await,
    }
}
