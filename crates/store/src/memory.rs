//! Embedded backend: maps behind one mutex, mirroring the Redis semantics the
//! gateway relies on. Expiry is lazy (checked on every access to a key) plus a
//! sweep of the whole map at most once per [`SWEEP_INTERVAL`], piggybacked on
//! ordinary calls (no background task).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::backend::Backend;
use super::{Field, HashRow, Once, SetSizes, StoreError, StreamId, ttl_millis};

const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A score with a total order (NaN is rejected before it gets here; -0.0 is stored as 0.0).
#[derive(Debug, Clone, Copy)]
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn score(v: f64) -> Score {
    // Redis treats -0 and 0 as the same score.
    Score(if v == 0.0 { 0.0 } else { v })
}

#[derive(Debug, Default)]
struct ZSet {
    scores: HashMap<String, Score>,
    ordered: BTreeSet<(Score, String)>,
}

impl ZSet {
    fn insert(&mut self, member: &str, s: Score) {
        if let Some(old) = self.scores.insert(member.to_owned(), s) {
            self.ordered.remove(&(old, member.to_owned()));
        }
        self.ordered.insert((s, member.to_owned()));
    }

    fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(old) => {
                self.ordered.remove(&(old, member.to_owned()));
                true
            }
            None => false,
        }
    }

    /// Members with `min <= score <= max`, in order.
    fn range(&self, min: f64, max: f64) -> impl Iterator<Item = &(Score, String)> {
        let max = score(max);
        self.ordered
            .range((
                Bound::Included((score(min), String::new())),
                Bound::Unbounded,
            ))
            .take_while(move |(s, _)| *s <= max)
    }
}

#[derive(Debug, Default)]
struct StreamData {
    entries: BTreeMap<StreamId, Vec<u8>>,
    last_id: StreamId,
}

#[derive(Debug)]
enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<String, Vec<u8>>),
    ZSet(ZSet),
    List(VecDeque<Vec<u8>>),
    Set(HashSet<String>),
    Stream(StreamData),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

impl Entry {
    fn new(value: Value) -> Self {
        Entry {
            value,
            expires_at: None,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

fn deadline(now: Instant, ttl: Duration) -> Instant {
    now + Duration::from_millis(ttl_millis(ttl))
}

#[derive(Debug)]
struct Inner {
    map: HashMap<String, Entry>,
    last_sweep: Instant,
}

impl Inner {
    /// Drops `key` if it has expired, so that `self.map` only shows live keys for it.
    fn purge(&mut self, key: &str, now: Instant) {
        if self.map.get(key).is_some_and(|e| e.expired(now)) {
            self.map.remove(key);
        }
    }

    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        self.purge(key, now);
        self.map.get_mut(key)
    }

    fn str_value(&mut self, key: &str, now: Instant) -> Result<Option<&[u8]>, StoreError> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(v),
                ..
            }) => Ok(Some(v)),
            Some(_) => Err(StoreError::wrong_type()),
        }
    }

    fn put_str(&mut self, key: &str, value: &[u8], ttl: Option<Duration>, now: Instant) {
        self.map.insert(
            key.to_owned(),
            Entry {
                value: Value::Str(value.to_vec()),
                expires_at: ttl.map(|t| deadline(now, t)),
            },
        );
    }

    /// The existing value of `key`, or a new one made by `create`.
    fn value_or_insert(&mut self, key: &str, now: Instant, create: fn() -> Value) -> &mut Entry {
        self.purge(key, now);
        self.map
            .entry(key.to_owned())
            .or_insert_with(|| Entry::new(create()))
    }

    fn remove_if_empty(&mut self, key: &str) {
        let empty = match self.map.get(key).map(|e| &e.value) {
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::ZSet(z)) => z.scores.is_empty(),
            Some(Value::List(l)) => l.is_empty(),
            _ => false,
        };
        if empty {
            self.map.remove(key);
        }
    }

    fn zset(&mut self, key: &str, now: Instant) -> Result<Option<&mut ZSet>, StoreError> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Value::ZSet(z),
                ..
            }) => Ok(Some(z)),
            Some(_) => Err(StoreError::wrong_type()),
        }
    }

    fn list(
        &mut self,
        key: &str,
        now: Instant,
    ) -> Result<Option<&mut VecDeque<Vec<u8>>>, StoreError> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Value::List(l),
                ..
            }) => Ok(Some(l)),
            Some(_) => Err(StoreError::wrong_type()),
        }
    }

    fn set(&mut self, key: &str, now: Instant) -> Result<Option<&mut HashSet<String>>, StoreError> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => Ok(Some(s)),
            Some(_) => Err(StoreError::wrong_type()),
        }
    }

    fn set_len(&mut self, key: &str, now: Instant) -> Result<u64, StoreError> {
        Ok(self
            .set(key, now)?
            .map_or(0, |s| u64::try_from(s.len()).unwrap_or(u64::MAX)))
    }

    fn stream(&mut self, key: &str, now: Instant) -> Result<Option<&mut StreamData>, StoreError> {
        match self.live(key, now) {
            None => Ok(None),
            Some(Entry {
                value: Value::Stream(s),
                ..
            }) => Ok(Some(s)),
            Some(_) => Err(StoreError::wrong_type()),
        }
    }
}

fn parse_int(bytes: &[u8]) -> Result<i64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(StoreError::not_integer)
}

/// Redis `LRANGE`/`LTRIM` index normalisation: the inclusive range, or `None` if empty.
fn list_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop + len
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(stop).ok()?))
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The embedded backend.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub(crate) fn new() -> Self {
        MemoryStore {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Locks the maps (a poisoned lock is recovered: every operation leaves
    /// the maps consistent before it can panic) and sweeps expired keys now and then.
    fn lock(&self) -> (MutexGuard<'_, Inner>, Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(inner.last_sweep) >= SWEEP_INTERVAL {
            inner.map.retain(|_, e| !e.expired(now));
            inner.last_sweep = now;
        }
        (inner, now)
    }

    /// A row per hash of `hashes` (its name and the fields asked of it): a value or none per
    /// field, in order.
    fn hmget_rows<'a>(
        &self,
        hashes: impl Iterator<Item = (&'a str, &'a [String])>,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        let (mut inner, now) = self.lock();
        hashes
            .map(|(key, fields)| match inner.live(key, now) {
                None => Ok(vec![None; fields.len()]),
                Some(Entry {
                    value: Value::Hash(h),
                    ..
                }) => Ok(fields.iter().map(|f| h.get(f).cloned()).collect()),
                Some(_) => Err(StoreError::wrong_type()),
            })
            .collect()
    }
}

impl Backend for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(inner.str_value(key, now)?.map(<[u8]>::to_vec))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let (mut inner, now) = self.lock();
        inner.put_str(key, value, ttl, now);
        Ok(())
    }

    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        if inner.live(key, now).is_some() {
            return Ok(false);
        }
        inner.put_str(key, value, ttl, now);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        inner.purge(key, now);
        Ok(inner.map.remove(key).is_some())
    }

    async fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(keys
            .iter()
            .map(|k| match inner.live(k, now) {
                Some(Entry {
                    value: Value::Str(v),
                    ..
                }) => Some(v.clone()),
                _ => None,
            })
            .collect())
    }

    async fn mset(
        &self,
        entries: &[(String, &[u8])],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let (mut inner, now) = self.lock();
        for (k, v) in entries {
            inner.put_str(k, v, ttl, now);
        }
        Ok(())
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(inner.live(key, now).and_then(|e| e.expires_at).map(|at| {
            let left = at.saturating_duration_since(now);
            Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
        }))
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        if inner.str_value(key, now)? != expected {
            return Ok(false);
        }
        inner.put_str(key, new, ttl, now);
        Ok(true)
    }

    /// One process, no replicas: the write is as safe as it gets once made.
    async fn write_acked(
        &self,
        key: &str,
        guard: Option<Option<&[u8]>>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        crate::backend::write_unacked(self, key, guard, new, ttl).await
    }

    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::Str(b"0".to_vec()));
        let Value::Str(bytes) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        let value = parse_int(bytes)?.checked_add(by).ok_or_else(|| {
            StoreError::Corrupt("increment or decrement would overflow".to_owned())
        })?;
        *bytes = value.to_string().into_bytes();
        if let (Some(ttl), None) = (ttl, entry.expires_at) {
            entry.expires_at = Some(deadline(now, ttl));
        }
        Ok(value)
    }

    async fn incr_then_mget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        keys: &[String],
    ) -> Result<(i64, Vec<Option<Vec<u8>>>), StoreError> {
        let count = self.incr(counter, by, ttl).await?;
        Ok((count, self.mget(keys).await?))
    }

    async fn incr_then_hmget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        hash: &str,
        fields: &[String],
    ) -> Result<(i64, HashRow), StoreError> {
        let count = self.incr(counter, by, ttl).await?;
        let mut rows = self.hmget_many(&[hash.to_owned()], fields).await?;
        Ok((count, rows.pop().unwrap_or_default()))
    }

    async fn hincr_many(&self, key: &str, fields: &[(&str, i64)]) -> Result<(), StoreError> {
        for (field, by) in fields {
            self.hincr(key, field, *by).await?;
        }
        Ok(())
    }

    async fn hincr(&self, key: &str, field: &str, by: i64) -> Result<i64, StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::Hash(BTreeMap::new()));
        let Value::Hash(hash) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        let current = match hash.get(field) {
            Some(bytes) => parse_int(bytes)
                .map_err(|_| StoreError::Corrupt("hash value is not an integer".to_owned())),
            None => Ok(0),
        };
        let result = current.and_then(|c| {
            c.checked_add(by).ok_or_else(|| {
                StoreError::Corrupt("increment or decrement would overflow".to_owned())
            })
        });
        match result {
            Ok(value) => {
                hash.insert(field.to_owned(), value.to_string().into_bytes());
                Ok(value)
            }
            Err(e) => {
                // Do not leave a hash created just for this failed call.
                inner.remove_if_empty(key);
                Err(e)
            }
        }
    }

    async fn hincr_once(
        &self,
        key: &str,
        field: &str,
        by: i64,
        cap: Option<i64>,
        marker: &str,
    ) -> Result<Once, StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::Hash(BTreeMap::new()));
        let Value::Hash(hash) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        let int = |bytes: Option<&Vec<u8>>| match bytes {
            Some(bytes) => parse_int(bytes)
                .map_err(|_| StoreError::Corrupt("hash value is not an integer".to_owned())),
            None => Ok(0),
        };
        if let Some(earlier) = hash.get(marker).filter(|_| !marker.is_empty()) {
            return int(Some(earlier)).map(Once::Repeated);
        }
        let current = int(hash.get(field))?;
        let after = current.checked_add(by).ok_or_else(|| {
            StoreError::Corrupt("increment or decrement would overflow".to_owned())
        })?;
        if cap.is_some_and(|cap| after > cap) {
            inner.remove_if_empty(key);
            return Ok(Once::Refused(current));
        }
        hash.insert(field.to_owned(), after.to_string().into_bytes());
        if !marker.is_empty() {
            hash.insert(marker.to_owned(), by.to_string().into_bytes());
        }
        Ok(Once::Applied(after))
    }

    async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        let Some(entry) = inner.live(key, now) else {
            return Ok(0);
        };
        let Value::Hash(hash) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        let removed = fields.iter().filter(|f| hash.remove(*f).is_some()).count();
        inner.remove_if_empty(key);
        Ok(removed as u64)
    }

    async fn hset(&self, key: &str, fields: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::Hash(BTreeMap::new()));
        let Value::Hash(hash) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        for (f, v) in fields {
            hash.insert(f.clone(), v.clone());
        }
        Ok(())
    }

    async fn hset_many(
        &self,
        entries: &[(String, &[Field])],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let (mut inner, now) = self.lock();
        for (key, fields) in entries {
            let entry = inner.value_or_insert(key, now, || Value::Hash(BTreeMap::new()));
            let Value::Hash(hash) = &mut entry.value else {
                return Err(StoreError::wrong_type());
            };
            for (f, v) in *fields {
                hash.insert(f.clone(), v.clone());
            }
            if let Some(ttl) = ttl {
                entry.expires_at = Some(deadline(now, ttl));
            }
        }
        Ok(())
    }

    async fn hmget_many(
        &self,
        keys: &[String],
        fields: &[String],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        self.hmget_rows(keys.iter().map(|key| (key.as_str(), fields)))
    }

    async fn hgetall(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (mut inner, now) = self.lock();
        match inner.live(key, now) {
            None => Ok(Vec::new()),
            Some(Entry {
                value: Value::Hash(h),
                ..
            }) => Ok(h.iter().map(|(f, v)| (f.clone(), v.clone())).collect()),
            Some(_) => Err(StoreError::wrong_type()),
        }
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        match inner.live(key, now) {
            None => Ok(false),
            Some(e) => {
                e.expires_at = Some(deadline(now, ttl));
                Ok(true)
            }
        }
    }

    async fn lease_acquire(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        match inner.str_value(key, now)? {
            None => {
                inner.put_str(key, owner.as_bytes(), Some(ttl), now);
                Ok(true)
            }
            Some(current) if current == owner.as_bytes() => {
                inner.put_str(key, owner.as_bytes(), Some(ttl), now);
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    async fn lease_renew(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        if inner.str_value(key, now)? != Some(owner.as_bytes()) {
            return Ok(false);
        }
        inner.put_str(key, owner.as_bytes(), Some(ttl), now);
        Ok(true)
    }

    async fn lease_release(&self, key: &str, owner: &str) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        if inner.str_value(key, now)? != Some(owner.as_bytes()) {
            return Ok(false);
        }
        inner.map.remove(key);
        Ok(true)
    }

    async fn claim_fields(
        &self,
        claims: &[(String, &[String])],
        holder: &str,
        gone: &[String],
        ttl: Duration,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let (mut inner, now) = self.lock();
        let mut rows = Vec::with_capacity(claims.len());
        for (key, fields) in claims {
            let current: Vec<Option<Vec<u8>>> = match inner.live(key, now) {
                None => vec![None; fields.len()],
                Some(Entry {
                    value: Value::Hash(h),
                    ..
                }) => fields.iter().map(|f| h.get(f).cloned()).collect(),
                Some(_) => return Err(StoreError::wrong_type()),
            };
            let mut row = Vec::with_capacity(fields.len());
            let mut take = Vec::new();
            for (field, current) in fields.iter().zip(current) {
                let live_other = current.filter(|other| {
                    other != holder.as_bytes()
                        && !gone.iter().any(|g| g.as_bytes() == other.as_slice())
                });
                match live_other {
                    Some(other) => row.push(Some(String::from_utf8_lossy(&other).into_owned())),
                    None => {
                        take.push(field);
                        row.push(None);
                    }
                }
            }
            if !take.is_empty() {
                let entry = inner.value_or_insert(key, now, || Value::Hash(BTreeMap::new()));
                if let Value::Hash(hash) = &mut entry.value {
                    for field in take {
                        hash.insert(field.clone(), holder.as_bytes().to_vec());
                    }
                }
                entry.expires_at = Some(deadline(now, ttl));
            }
            rows.push(row);
        }
        Ok(rows)
    }

    async fn release_fields(
        &self,
        claims: &[(String, &[String])],
        holder: &str,
    ) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        let mut freed = 0;
        for (key, fields) in claims {
            match inner.live(key, now) {
                None => continue,
                Some(Entry {
                    value: Value::Hash(hash),
                    ..
                }) => {
                    for field in *fields {
                        if hash.get(field).is_some_and(|h| h == holder.as_bytes()) {
                            hash.remove(field);
                            freed += 1;
                        }
                    }
                }
                Some(_) => return Err(StoreError::wrong_type()),
            }
            inner.remove_if_empty(key);
        }
        Ok(freed)
    }

    async fn hmget_each(
        &self,
        entries: &[(String, &[String])],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        self.hmget_rows(entries.iter().map(|(key, fields)| (key.as_str(), *fields)))
    }

    async fn zadd(&self, key: &str, member: &str, s: f64) -> Result<(), StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::ZSet(ZSet::default()));
        let Value::ZSet(z) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        z.insert(member, score(s));
        Ok(())
    }

    async fn zrem(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let (mut inner, now) = self.lock();
        let removed = match inner.zset(key, now)? {
            Some(z) => z.remove(member),
            None => false,
        };
        inner.remove_if_empty(key);
        Ok(removed)
    }

    async fn zrange_by_score(
        &self,
        key: &str,
        min: f64,
        max: f64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(match inner.zset(key, now)? {
            None => Vec::new(),
            Some(z) => z
                .range(min, max)
                .skip(offset)
                .take(limit)
                .map(|(s, m)| (m.clone(), s.0))
                .collect(),
        })
    }

    async fn zcount(&self, key: &str, min: f64, max: f64) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(inner.zset(key, now)?.map_or(0, |z| {
            u64::try_from(z.range(min, max).count()).unwrap_or(u64::MAX)
        }))
    }

    async fn zcard(&self, key: &str) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(inner
            .zset(key, now)?
            .map_or(0, |z| u64::try_from(z.scores.len()).unwrap_or(u64::MAX)))
    }

    async fn zclaim_due(
        &self,
        key: &str,
        now_score: f64,
        until: f64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let (mut inner, now) = self.lock();
        let Some(z) = inner.zset(key, now)? else {
            return Ok(Vec::new());
        };
        let due: Vec<String> = z
            .range(f64::NEG_INFINITY, now_score)
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect();
        for m in &due {
            z.insert(m, score(until));
        }
        Ok(due)
    }

    async fn set_add(
        &self,
        key: &str,
        members: &[String],
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::Set(HashSet::new()));
        let Value::Set(set) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        let added = members.iter().filter(|m| set.insert((*m).clone())).count();
        if let Some(ttl) = ttl {
            entry.expires_at = Some(deadline(now, ttl));
        }
        Ok(u64::try_from(added).unwrap_or(u64::MAX))
    }

    async fn set_sizes(&self, a: &str, b: &str) -> Result<SetSizes, StoreError> {
        let (mut inner, now) = self.lock();
        let (size_a, size_b) = (inner.set_len(a, now)?, inner.set_len(b, now)?);
        let both = match (inner.map.get(a), inner.map.get(b)) {
            (
                Some(Entry {
                    value: Value::Set(x),
                    ..
                }),
                Some(Entry {
                    value: Value::Set(y),
                    ..
                }),
            ) => x.intersection(y).count(),
            _ => 0,
        };
        Ok(SetSizes {
            a: size_a,
            b: size_b,
            both: u64::try_from(both).unwrap_or(u64::MAX),
        })
    }

    async fn rpush(&self, key: &str, items: &[Vec<u8>]) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::List(VecDeque::new()));
        let Value::List(list) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        list.extend(items.iter().cloned());
        Ok(u64::try_from(list.len()).unwrap_or(u64::MAX))
    }

    async fn lrange(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        let (mut inner, now) = self.lock();
        let Some(list) = inner.list(key, now)? else {
            return Ok(Vec::new());
        };
        Ok(match list_range(list.len(), start, stop) {
            None => Vec::new(),
            Some((a, b)) => list.range(a..=b).cloned().collect(),
        })
    }

    async fn llen(&self, key: &str) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        Ok(inner
            .list(key, now)?
            .map_or(0, |l| u64::try_from(l.len()).unwrap_or(u64::MAX)))
    }

    async fn ltrim(&self, key: &str, start: i64, stop: i64) -> Result<(), StoreError> {
        let (mut inner, now) = self.lock();
        let Some(list) = inner.list(key, now)? else {
            return Ok(());
        };
        match list_range(list.len(), start, stop) {
            None => list.clear(),
            Some((a, b)) => {
                list.truncate(b + 1);
                list.drain(..a);
            }
        }
        inner.remove_if_empty(key);
        Ok(())
    }

    async fn stream_append(
        &self,
        key: &str,
        payload: &[u8],
        max_len: usize,
    ) -> Result<StreamId, StoreError> {
        let (mut inner, now) = self.lock();
        let entry = inner.value_or_insert(key, now, || Value::Stream(StreamData::default()));
        let Value::Stream(stream) = &mut entry.value else {
            return Err(StoreError::wrong_type());
        };
        let ms = now_millis();
        let last = stream.last_id;
        let id = if ms > last.ms {
            StreamId { ms, seq: 0 }
        } else {
            let seq = last
                .seq
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt("stream id sequence exhausted".to_owned()))?;
            StreamId { ms: last.ms, seq }
        };
        stream.entries.insert(id, payload.to_vec());
        stream.last_id = id;
        if max_len > 0 {
            while stream.entries.len() > max_len {
                stream.entries.pop_first();
            }
        }
        Ok(id)
    }

    async fn stream_read_after(
        &self,
        key: &str,
        after: Option<StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, Vec<u8>)>, StoreError> {
        let (mut inner, now) = self.lock();
        let Some(stream) = inner.stream(key, now)? else {
            return Ok(Vec::new());
        };
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(stream
            .entries
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(id, p)| (*id, p.clone()))
            .collect())
    }

    async fn stream_trim_before(&self, key: &str, min_id_ms: u64) -> Result<u64, StoreError> {
        let (mut inner, now) = self.lock();
        let Some(stream) = inner.stream(key, now)? else {
            return Ok(0);
        };
        let keep = stream.entries.split_off(&StreamId {
            ms: min_id_ms,
            seq: 0,
        });
        let removed = std::mem::replace(&mut stream.entries, keep).len();
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::list_range;

    #[test]
    fn list_range_matches_redis() {
        assert_eq!(list_range(5, 0, -1), Some((0, 4)));
        assert_eq!(list_range(5, -2, -1), Some((3, 4)));
        assert_eq!(list_range(5, 1, 100), Some((1, 4)));
        assert_eq!(list_range(5, -100, 1), Some((0, 1)));
        assert_eq!(list_range(5, 3, 2), None);
        assert_eq!(list_range(5, 5, 10), None);
        assert_eq!(list_range(5, 0, -6), None);
        assert_eq!(list_range(0, 0, -1), None);
    }
}
