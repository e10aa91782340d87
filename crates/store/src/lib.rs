//! The gateway's state store: one API, two backends.
//!
//! - **Redis** (a few shared multiplexed connections): shared by all replicas, the production
//!   backend; one server, a Redis Cluster or the primary named by Sentinels ([`StoreMode`]).
//! - **Embedded** (in-process maps): for a single replica, tests and local runs;
//!   state is lost on restart.
//!
//! Both backends behave the same for everything the conformance suite
//! (`tests/store_conformance.rs`) checks. Semantics shared by both:
//!
//! - Every key is prefixed with the store's `key_prefix`; callers pass logical
//!   keys such as `job:123`.
//! - TTLs have millisecond granularity; a non-zero TTL below 1 ms is rounded up
//!   to 1 ms and `Duration::ZERO` is treated as 1 ms (it expires at once).
//!   `set`/`mset`/`compare_and_set` with `ttl: None` store a value without
//!   expiry (removing any previous TTL), like Redis `SET`.
//! - Empty hashes, lists, sets and sorted sets do not exist (they are removed when
//!   their last element goes); an emptied stream still exists.
//! - Using a key with an operation of another data type (e.g. `get` on a hash)
//!   fails with [`StoreError::Corrupt`], except `mget` which yields `None`.
//! - Keys used together by one atomic operation (a claim batch) must share a hash tag
//!   (`{...}`, see [`slot`]) so that it runs on Redis Cluster too; the Redis backend splits
//!   such batches per slot, and `mget` too. Typed keys are declared with [`key_def!`].
//! - Every Redis command runs under `command_timeout`, and so does taking a
//!   opening a connection: a dead or stuck Redis makes a call fail with
//!   [`StoreError::Unavailable`]/[`StoreError::Timeout`] after at most about
//!   twice the command timeout, never hang.

mod backend;
mod error;
pub mod keys;
mod memory;
mod redis;
mod redis_link;
mod sentinel_discovery;
mod sentinel_watch;
pub mod slot;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use self::backend::Backend as _;
pub use self::error::StoreError;
use self::keys::{DeclaredTtl, Json, Key};
use self::memory::MemoryStore;
use self::redis::RedisStore;

/// How many stream names a [`Store::subscribe_appends`] receiver buffers before it lags.
const APPEND_CHANNEL_CAPACITY: usize = 1024;

/// A hash field and its value.
pub type Field = (String, Vec<u8>);

/// The values of some fields of one hash, in order; `None` for absent ones.
pub type HashRow = Vec<Option<Vec<u8>>>;

/// What [`Store::claim_fields_noting_takeovers`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// As [`Store::claim_fields`] answers: per entry, per field, `None` when the holder has it
    /// now, else the (live) holder that has it.
    pub rows: Vec<Vec<Option<String>>>,
    /// Whether a field was taken from a holder that is gone (rather than found free).
    pub took_over: bool,
}

/// The sizes of two sets and of their intersection ([`Store::set_sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetSizes {
    /// Members of the first set.
    pub a: u64,
    /// Members of the second set.
    pub b: u64,
    /// Members of both.
    pub both: u64,
}

/// What [`Store::hincr_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// Added now; the field's new value.
    Applied(i64),
    /// An addition under the same marker was made before (this is a repeat after a lost reply
    /// or a failed step): nothing added now; what the first one added.
    Repeated(i64),
    /// Not added: the field would exceed the cap. The field's value.
    Refused(i64),
}

/// How the Redis backend reaches Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreMode {
    /// One server at [`StoreSettings::redis_url`] (none: the embedded backend).
    #[default]
    Standalone,
    /// A Redis Cluster found through [`StoreSettings::cluster_urls`]. Each multi-key script
    /// and pipeline is split by hash slot, so what must be atomic needs keys of one slot.
    Cluster,
    /// The primary that the Sentinels of [`StoreSettings::sentinel`] name, found again after
    /// a failover.
    Sentinel,
}

impl StoreMode {
    /// `standalone`, `cluster` or `sentinel`, as configured.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StoreMode::Standalone => "standalone",
            StoreMode::Cluster => "cluster",
            StoreMode::Sentinel => "sentinel",
        }
    }
}

/// Where the Sentinels are and what they watch ([`StoreMode::Sentinel`]).
#[derive(Debug, Clone, Default)]
pub struct SentinelSettings {
    /// `redis://[user:password@]host:port` of each sentinel; the credentials are the
    /// sentinels' own. `rediss://` also makes the connections to the primary use TLS.
    pub urls: Vec<SecretString>,
    /// The name the sentinels monitor the primary under.
    pub master_name: String,
    /// ACL user for the primary (and replicas); `None`: the default user.
    pub primary_username: Option<String>,
    /// Password for the primary; `None`: no `AUTH`.
    pub primary_password: Option<SecretString>,
}

fn decode_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{key}: invalid JSON: {e}")))
}

/// `value` as the JSON stored at `key`.
fn json_bytes<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::invalid(format!("{key}: cannot encode as JSON: {e}")))
}

/// Settings for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Which Redis deployment to use; see [`StoreMode`].
    pub mode: StoreMode,
    /// Standalone mode: `redis[s]://[[user]:password@]host:port[/db]`; `None` selects the
    /// embedded backend.
    pub redis_url: Option<SecretString>,
    /// Cluster mode: seed nodes, `redis[s]://[[user]:password@]host:port`; every one must use
    /// the same scheme and credentials, which then apply to every node.
    pub cluster_urls: Vec<SecretString>,
    /// Sentinel mode: the sentinels and the primary's name and credentials.
    pub sentinel: SentinelSettings,
    /// Prepended to every key, e.g. `wagw:`.
    pub key_prefix: String,
    /// Upper bound for one Redis command, and for opening a connection.
    pub command_timeout: Duration,
    /// Redis connections, each shared (multiplexed) by every task.
    pub pool_size: usize,
    /// PEM file of the CA(s) that sign the servers' certificates, trusted instead of the
    /// system's roots for `rediss://` in every mode (a private CA; under Sentinel, for the
    /// sentinels and the primary). `None`: the system's roots. Read and checked by [`Store::connect`].
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Replicas that must hold an *acknowledged* write ([`Store::set_acked`],
    /// [`Store::compare_and_set_acked`]) before it counts: the few writes the gateway acts on
    /// outside Redis (a vendor order about to be sent). 0: acknowledged writes are plain ones.
    pub replica_acks: u32,
    /// How long an acknowledged write waits for its replicas (`WAIT`); less than
    /// `command_timeout`.
    pub replica_ack_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            mode: StoreMode::Standalone,
            redis_url: None,
            cluster_urls: Vec::new(),
            sentinel: SentinelSettings::default(),
            key_prefix: String::new(),
            command_timeout: Duration::from_millis(500),
            pool_size: 4,
            tls_ca_file: None,
            replica_acks: 0,
            replica_ack_timeout: Duration::from_millis(250),
        }
    }
}

/// A stream entry id, `ms-seq` (milliseconds since the epoch, sequence within
/// that millisecond). Ids of one stream increase strictly. Both backends
/// produce ids in this form; order them with `Ord`, parse cursors with `FromStr`
/// (a bare `ms` means `ms-0`, as in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for StreamId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || StoreError::invalid(format!("malformed stream id {s:?}"));
        let (ms, seq) = match s.split_once('-') {
            Some((ms, seq)) => (ms, Some(seq)),
            None => (s, None),
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !seq.is_none_or(digits) {
            return Err(bad());
        }
        let ms = ms.parse().map_err(|_| bad())?;
        let seq = match seq {
            Some(seq) => seq.parse().map_err(|_| bad())?,
            None => 0,
        };
        Ok(StreamId { ms, seq })
    }
}

/// The backend of a [`Store`]: an enum rather than `dyn Backend`, so calls dispatch statically.
#[derive(Clone)]
enum Engine {
    Memory(Arc<MemoryStore>),
    Redis(RedisStore),
}

/// In-process fan-out of "stream X got appended" notifications, one channel per key prefix.
#[derive(Default)]
struct AppendHub {
    channels: Mutex<HashMap<String, broadcast::Sender<String>>>,
}

impl AppendHub {
    fn subscribe(&self, prefix: &str) -> broadcast::Receiver<String> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        channels
            .entry(prefix.to_owned())
            .or_insert_with(|| broadcast::channel(APPEND_CHANNEL_CAPACITY).0)
            .subscribe()
    }

    fn notify(&self, prefix: &str, stream: &str) {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = channels.get(prefix) {
            // No receiver is fine: notifications are best effort.
            let _ = tx.send(stream.to_owned());
        }
    }
}

/// Handle to the state store. Cheap to clone; clones share the backend.
#[derive(Clone)]
pub struct Store {
    backend: Engine,
    prefix: Arc<str>,
    hub: Arc<AppendHub>,
}

impl fmt::Debug for Store {
    // Deliberately no connection details: the Redis URL may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .field("key_prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Runs one store operation on the backend. Redis commands are client spans of the trace (seen
/// by the trace exporter only; free when traces are off).
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.backend {
            Engine::Memory(m) => m.$method($($arg),*).await,
            Engine::Redis(r) => {
                use tracing::Instrument as _;
                r.$method($($arg),*)
                    .instrument(tracing::info_span!(
                        target: "otel",
                        "store",
                        otel.name = concat!("redis ", stringify!($method)),
                        otel.kind = "client",
                        db.system = "redis",
                        db.operation = stringify!($method),
                    ))
                    .await
            }
        }
    };
}

fn check_score(score: f64) -> Result<(), StoreError> {
    if score.is_nan() {
        Err(StoreError::invalid("score is NaN"))
    } else {
        Ok(())
    }
}

/// TTL in whole milliseconds, at least 1 (see the module docs).
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000).max(1);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl Store {
    /// Builds the store from settings. Standalone mode without `redis_url` selects the
    /// embedded backend (logged at WARN). For Redis the URLs are validated and the connections
    /// are opened on first use; an unreachable Redis does not fail start-up: it is logged, and
    /// [`Store::ping`] (readiness) reports it until Redis comes up.
    pub async fn connect(settings: &StoreSettings) -> Result<Store, StoreError> {
        // Braces in the prefix would become the hash tag of every key, putting all of them in
        // one slot of a cluster (or splitting keys that must stay together).
        if settings.key_prefix.contains(['{', '}']) {
            return Err(StoreError::invalid(
                "key_prefix must not contain `{` or `}`",
            ));
        }
        if settings.mode == StoreMode::Standalone && settings.redis_url.is_none() {
            tracing::warn!("embedded store: single replica only, state is lost on restart");
            return Ok(Store::memory(&settings.key_prefix));
        }
        if settings.command_timeout.is_zero() {
            return Err(StoreError::invalid("command_timeout must be positive"));
        }
        if settings.pool_size == 0 {
            return Err(StoreError::invalid("pool_size must be at least 1"));
        }
        if settings.replica_acks > 0 && settings.replica_ack_timeout >= settings.command_timeout {
            return Err(StoreError::invalid(
                "replica_ack_timeout must be shorter than command_timeout",
            ));
        }
        let redis = RedisStore::new(settings)?;
        let store = Store::from_backend(Engine::Redis(redis), &settings.key_prefix);
        let mode = settings.mode.as_str();
        match store.ping().await {
            Ok(()) => {
                tracing::info!(key_prefix = %settings.key_prefix, mode, "redis store connected")
            }
            Err(e) => tracing::warn!(
                error = %e,
                mode,
                "redis store not reachable at start-up; will keep trying, readiness reports it"
            ),
        }
        Ok(store)
    }

    /// A fresh embedded store (its own, empty maps).
    #[must_use]
    pub fn memory(key_prefix: &str) -> Store {
        Store::from_backend(Engine::Memory(Arc::new(MemoryStore::new())), key_prefix)
    }

    fn from_backend(backend: Engine, key_prefix: &str) -> Store {
        Store {
            backend,
            prefix: Arc::from(key_prefix),
            hub: Arc::new(AppendHub::default()),
        }
    }

    /// A handle on the same backend (same maps / same connections) using another key
    /// prefix. The prefix replaces this store's prefix; it is not appended.
    #[must_use]
    pub fn with_prefix(&self, key_prefix: &str) -> Store {
        Store {
            backend: self.backend.clone(),
            prefix: Arc::from(key_prefix),
            hub: Arc::clone(&self.hub),
        }
    }

    /// The prefix put in front of every key.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// `"redis"` or `"embedded"`.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Engine::Memory(_) => "embedded",
            Engine::Redis(_) => "redis",
        }
    }

    fn key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }

    /// Round trip to the backend (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }

    // ---- plain values -------------------------------------------------------

    /// The value at `key`, `None` if absent or expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(key);
        dispatch!(self.get(&key))
    }

    /// Stores `value`, replacing any value (of any type) and any previous TTL.
    pub async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let key = self.key(key);
        dispatch!(self.set(&key, value, ttl))
    }

    /// [`Store::set`] of a write the caller is about to act on outside Redis: with
    /// `replica_acks` set, it returns only once that many replicas hold the write, and fails
    /// with [`StoreError::Unavailable`] when they do not within `replica_ack_timeout` (the
    /// primary keeps the value, but a failover could lose it: do not act on it).
    pub async fn set_acked(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let key = self.key(key);
        dispatch!(self.write_acked(&key, None, value, ttl)).map(|_| ())
    }

    /// Stores `value` only if `key` does not exist; true if written.
    pub async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.set_nx(&key, value, ttl))
    }

    /// Removes `key` (any type); true if it existed. On Redis the memory of a large value is
    /// freed in the background (`UNLINK`), so the call holds no other client up.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.delete(&key))
    }

    /// Values of `keys`, in the same order; `None` for absent keys and for keys
    /// holding a non-plain value. On Redis, one `MGET` per hash slot, pipelined: atomic
    /// only among keys of one slot.
    pub async fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        dispatch!(self.mget(&keys))
    }

    /// Stores all entries, each with `ttl`. Pipelined on Redis in chunks; not
    /// atomic as a whole (a failure may leave a prefix of the batch written).
    pub async fn mset(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries: Vec<(String, &[u8])> = entries
            .iter()
            .map(|(k, v)| (self.key(k), v.as_slice()))
            .collect();
        dispatch!(self.mset(&entries, ttl))
    }

    /// Remaining time to live; `None` if the key is absent or has no TTL.
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let key = self.key(key);
        dispatch!(self.ttl(&key))
    }

    // ---- JSON -----------------------------------------------------------------

    /// [`Store::get`] decoded from JSON; undecodable data is [`StoreError::Corrupt`].
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => decode_json(key, &bytes).map(Some),
        }
    }

    /// [`Store::set`] of `value` encoded as JSON.
    pub async fn set_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.set(key, &json_bytes(key, value)?, ttl).await
    }

    // ---- typed keys -------------------------------------------------------------

    /// The JSON document at a declared key.
    pub async fn load<K, T>(&self, key: &K) -> Result<Option<T>, StoreError>
    where
        K: Key<Value = Json<T>>,
        T: DeserializeOwned,
    {
        self.get_json(key).await
    }

    /// The JSON document of `key` from bytes read along with other commands
    /// ([`Store::incr_then_mget`]), as [`Store::load`] would decode it.
    pub fn decode<K, T>(key: &K, bytes: &[u8]) -> Result<T, StoreError>
    where
        K: Key<Value = Json<T>>,
        T: DeserializeOwned,
    {
        decode_json(key, bytes)
    }

    /// Writes the JSON document at a key whose TTL is declared with it.
    pub async fn save<K, T>(&self, key: &K, value: &T) -> Result<(), StoreError>
    where
        K: DeclaredTtl<Value = Json<T>>,
        T: Serialize,
    {
        self.set_json(key, value, K::ttl()).await
    }

    /// Writes the JSON document at a key whose TTL the caller sets (`None`: no expiry).
    pub async fn save_for<K, T>(
        &self,
        key: &K,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>
    where
        K: Key<Value = Json<T>>,
        T: Serialize,
    {
        self.set_json(key, value, ttl).await
    }

    /// [`Store::save_for`] as an acknowledged write ([`Store::set_acked`]).
    pub async fn save_acked_for<K, T>(
        &self,
        key: &K,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>
    where
        K: Key<Value = Json<T>>,
        T: Serialize,
    {
        self.set_acked(key, &json_bytes(key, value)?, ttl).await
    }

    // ---- compare-and-swap ----------------------------------------------------

    /// Writes `new` (with `ttl`, `None` = no expiry) only if the current value
    /// equals `expected` (`None` = the key must be absent). True if written.
    pub async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.compare_and_set(&key, expected, new, ttl))
    }

    /// [`Store::compare_and_set`], acknowledged by replicas as [`Store::set_acked`] is. A
    /// write that was not made (`false`) waits for nothing.
    pub async fn compare_and_set_acked(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.write_acked(&key, Some(expected), new, ttl))
    }

    // ---- counters --------------------------------------------------------------

    /// Adds `by` to the integer at `key` (absent = 0) and returns the new value.
    /// `ttl` is applied when the key has no TTL yet, i.e. when it is created by
    /// this call (fixed windows); an existing TTL is never extended.
    pub async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StoreError> {
        let key = self.key(key);
        dispatch!(self.incr(&key, by, ttl))
    }

    /// [`Store::incr`] of `counter`, and the values of `fields` in the hash `hash` (`None` for
    /// absent ones), in one round trip (one pipeline on Redis): a request's rate-limit count and
    /// its first read, without waiting for one before sending the other.
    pub async fn incr_then_hmget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        hash: &str,
        fields: &[String],
    ) -> Result<(i64, HashRow), StoreError> {
        if fields.is_empty() {
            return Ok((self.incr(counter, by, ttl).await?, Vec::new()));
        }
        let counter = self.key(counter);
        let hash = self.key(hash);
        dispatch!(self.incr_then_hmget(&counter, by, ttl, &hash, fields))
    }

    /// [`Store::incr`] of `counter`, and the values of `keys` as [`Store::mget`] reads them, in
    /// one round trip where the keys allow it (one pipeline on Redis; side by side when a
    /// cluster holds them on other slots than the counter): a request's rate-limit count and
    /// the state its handler reads first.
    pub async fn incr_then_mget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        keys: &[String],
    ) -> Result<(i64, Vec<Option<Vec<u8>>>), StoreError> {
        if keys.is_empty() {
            return Ok((self.incr(counter, by, ttl).await?, Vec::new()));
        }
        let counter = self.key(counter);
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        dispatch!(self.incr_then_mget(&counter, by, ttl, &keys))
    }

    // ---- hashes ------------------------------------------------------------------

    /// Adds `by` to the integer in `field` (absent = 0); returns the new value.
    pub async fn hincr(&self, key: &str, field: &str, by: i64) -> Result<i64, StoreError> {
        let key = self.key(key);
        dispatch!(self.hincr(&key, field, by))
    }

    /// Adds to several integer fields of one hash in one round trip (not atomically as a
    /// group: each field's addition is). For counters updated on every request.
    pub async fn hincr_many(&self, key: &str, fields: &[(&str, i64)]) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let key = self.key(key);
        dispatch!(self.hincr_many(&key, fields))
    }

    /// Adds `by` to the integer in `field` at most once per `marker`, a field of the same hash
    /// that remembers the addition: a caller that cannot know whether an earlier attempt landed
    /// (its reply was lost, or what followed it failed) repeats it safely. With a `cap`, the
    /// addition is refused when it would take the field above it. Atomic.
    pub async fn hincr_once(
        &self,
        key: &str,
        field: &str,
        by: i64,
        cap: Option<i64>,
        marker: &str,
    ) -> Result<Once, StoreError> {
        if marker.is_empty() {
            return Err(StoreError::invalid("a once-only addition needs a marker"));
        }
        let key = self.key(key);
        dispatch!(self.hincr_once(&key, field, by, cap, marker))
    }

    /// Adds `by` to the integer in `field` unless that would take it above `cap`, atomically:
    /// the new value, or on refusal (nothing changed) the value. Concurrent callers are decided
    /// one at a time, so one refused never makes another refused.
    pub async fn hincr_capped(
        &self,
        key: &str,
        field: &str,
        by: i64,
        cap: i64,
    ) -> Result<Result<i64, i64>, StoreError> {
        let key = self.key(key);
        match dispatch!(self.hincr_once(&key, field, by, Some(cap), ""))? {
            Once::Applied(after) => Ok(Ok(after)),
            Once::Refused(value) => Ok(Err(value)),
            Once::Repeated(_) => Err(StoreError::Corrupt(
                "a capped addition without marker reported a repeat".to_owned(),
            )),
        }
    }

    /// Deletes the given fields; returns how many there were.
    pub async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError> {
        if fields.is_empty() {
            return Ok(0);
        }
        let key = self.key(key);
        dispatch!(self.hdel(&key, fields))
    }

    /// Sets the given fields (others are kept). Keeps the key's TTL.
    pub async fn hset(&self, key: &str, fields: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let key = self.key(key);
        dispatch!(self.hset(&key, fields))
    }

    /// Sets fields of many hashes (their other fields are kept), then gives each hash `ttl`
    /// (`None` keeps its TTL). Each hash's fields are set at once (Redis `HSET`); the batch is
    /// pipelined in chunks and not atomic as a whole. Entries without fields are skipped.
    pub async fn hset_many(
        &self,
        entries: &[(String, Vec<Field>)],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let entries: Vec<(String, &[Field])> = entries
            .iter()
            .filter(|(_, fields)| !fields.is_empty())
            .map(|(k, fields)| (self.key(k), fields.as_slice()))
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        dispatch!(self.hset_many(&entries, ttl))
    }

    /// The values of `fields` in each hash of `keys` (Redis `HMGET`, pipelined): one row per
    /// key, in order, with one value per field; `None` for absent keys and fields.
    pub async fn hmget_many(
        &self,
        keys: &[String],
        fields: &[String],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        if fields.is_empty() {
            return Ok(vec![Vec::new(); keys.len()]);
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        dispatch!(self.hmget_many(&keys, fields))
    }

    /// All fields, sorted by field name; empty if the key is absent.
    pub async fn hgetall(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let key = self.key(key);
        let mut fields = dispatch!(self.hgetall(&key))?;
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(fields)
    }

    /// Sets the TTL of an existing key (any type); false if the key is absent.
    pub async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.expire(&key, ttl))
    }

    // ---- leases --------------------------------------------------------------------

    /// Takes the lease if it is free, or refreshes it (new `ttl`) if `owner`
    /// already holds it, so a retried acquire is harmless. False if someone
    /// else holds it.
    pub async fn lease_acquire(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.lease_acquire(&key, owner, ttl))
    }

    /// Extends the lease to `ttl` from now; false if `owner` does not hold it any more.
    pub async fn lease_renew(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.lease_renew(&key, owner, ttl))
    }

    /// Frees the lease if `owner` holds it; false otherwise (nothing changes).
    pub async fn lease_release(&self, key: &str, owner: &str) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.lease_release(&key, owner))
    }

    /// Current holder of the lease, `None` if free.
    pub async fn lease_owner(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("{key}: lease owner is not UTF-8"))),
        }
    }

    // ---- claims ----------------------------------------------------------------------

    /// Claims, in each hash of `claims`, its listed fields for `holder`: a field is taken (set
    /// to `holder`) when it is absent, already `holder`'s, or held by a holder that is gone,
    /// i.e. whose liveness key `{alive_prefix}{holder}` does not exist. A hash where something
    /// was taken lives `ttl` from now. Returns one row per entry of `claims` with one item per
    /// listed field: `None` when `holder` holds it now, else the (live) holder.
    ///
    /// A hash may hold the claims of many owners at once (a field each): its TTL only bounds
    /// the life of an idle hash, and a field whose holder is gone counts as free.
    ///
    /// Each field is taken atomically (on Redis, by a script over the keys of one hash slot).
    /// The liveness keys are not read inside that script, so that it touches only the keys it
    /// declares: a first pass takes the free fields and reports the other holders, their
    /// liveness keys are read, and a second pass takes the fields of the gone ones, but only
    /// if they are still theirs.
    pub async fn claim_fields(
        &self,
        claims: &[(String, Vec<String>)],
        holder: &str,
        alive_prefix: &str,
        ttl: Duration,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        Ok(self
            .claim_fields_noting_takeovers(claims, holder, alive_prefix, ttl)
            .await?
            .rows)
    }

    /// [`Store::claim_fields`], also saying whether a field a gone holder had was taken.
    pub async fn claim_fields_noting_takeovers(
        &self,
        claims: &[(String, Vec<String>)],
        holder: &str,
        alive_prefix: &str,
        ttl: Duration,
    ) -> Result<Claimed, StoreError> {
        if holder.is_empty() {
            return Err(StoreError::invalid("a claim needs a holder"));
        }
        let mut rows: Vec<Vec<Option<String>>> = claims
            .iter()
            .map(|(_, fields)| vec![None; fields.len()])
            .collect();
        let asked: Vec<usize> = (0..claims.len())
            .filter(|&i| !claims[i].1.is_empty())
            .collect();
        if asked.is_empty() {
            return Ok(Claimed {
                rows,
                took_over: false,
            });
        }
        let prefixed = self.prefixed_entries(claims, &asked);
        let first = dispatch!(self.claim_fields(&prefixed, holder, &[], ttl))?;
        for (&i, row) in asked.iter().zip(first) {
            rows[i] = row;
        }
        let gone = self.gone_holders(&rows, alive_prefix).await?;
        if gone.is_empty() {
            return Ok(Claimed {
                rows,
                took_over: false,
            });
        }
        let retry: Vec<usize> = asked
            .into_iter()
            .filter(|&i| rows[i].iter().flatten().any(|other| gone.contains(other)))
            .collect();
        let prefixed = self.prefixed_entries(claims, &retry);
        let again = dispatch!(self.claim_fields(&prefixed, holder, &gone, ttl))?;
        let mut took_over = false;
        for (i, row) in retry.into_iter().zip(again) {
            // Named a gone holder before, and taken now.
            took_over |= rows[i]
                .iter()
                .zip(&row)
                .any(|(before, now)| before.is_some() && now.is_none());
            rows[i] = row;
        }
        Ok(Claimed { rows, took_over })
    }

    /// The entries `which` of `entries`, with the store's prefix on their keys.
    fn prefixed_entries<'e>(
        &self,
        entries: &'e [(String, Vec<String>)],
        which: &[usize],
    ) -> Vec<(String, &'e [String])> {
        which
            .iter()
            .map(|&i| (self.key(&entries[i].0), entries[i].1.as_slice()))
            .collect()
    }

    /// The holders named in `rows` whose liveness key `{alive_prefix}{holder}` is absent.
    async fn gone_holders(
        &self,
        rows: &[Vec<Option<String>>],
        alive_prefix: &str,
    ) -> Result<Vec<String>, StoreError> {
        let others: Vec<String> = rows
            .iter()
            .flatten()
            .flatten()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let alive_keys: Vec<String> = others
            .iter()
            .map(|other| format!("{alive_prefix}{other}"))
            .collect();
        let alive = self.mget(&alive_keys).await?;
        Ok(others
            .into_iter()
            .zip(alive)
            .filter(|(_, alive)| alive.is_none())
            .map(|(other, _)| other)
            .collect())
    }

    /// Frees, in each hash of `claims`, the listed fields that `holder` holds (others are left
    /// alone); returns how many were freed.
    pub async fn release_fields(
        &self,
        claims: &[(String, Vec<String>)],
        holder: &str,
    ) -> Result<u64, StoreError> {
        let asked: Vec<usize> = (0..claims.len())
            .filter(|&i| !claims[i].1.is_empty())
            .collect();
        if asked.is_empty() {
            return Ok(0);
        }
        let prefixed = self.prefixed_entries(claims, &asked);
        dispatch!(self.release_fields(&prefixed, holder))
    }

    /// The values of each hash's listed fields (Redis `HMGET`, pipelined): one row per entry,
    /// in order, with one value per listed field; `None` for absent keys and fields.
    pub async fn hmget_each(
        &self,
        entries: &[(String, Vec<String>)],
    ) -> Result<Vec<HashRow>, StoreError> {
        let mut rows: Vec<HashRow> = entries
            .iter()
            .map(|(_, fields)| vec![None; fields.len()])
            .collect();
        let asked: Vec<usize> = (0..entries.len())
            .filter(|&i| !entries[i].1.is_empty())
            .collect();
        if asked.is_empty() {
            return Ok(rows);
        }
        let prefixed = self.prefixed_entries(entries, &asked);
        let found = dispatch!(self.hmget_each(&prefixed))?;
        for (i, row) in asked.into_iter().zip(found) {
            rows[i] = row;
        }
        Ok(rows)
    }

    // ---- sorted sets -----------------------------------------------------------------

    /// Adds `member` or updates its score. NaN scores are rejected.
    pub async fn zadd(&self, key: &str, member: &str, score: f64) -> Result<(), StoreError> {
        check_score(score)?;
        let key = self.key(key);
        dispatch!(self.zadd(&key, member, score))
    }

    /// Removes `member`; true if it was there.
    pub async fn zrem(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let key = self.key(key);
        dispatch!(self.zrem(&key, member))
    }

    /// Members with `min <= score <= max`, by score then member, skipping
    /// `offset`, at most `limit` (0 = none). Infinite bounds are allowed.
    pub async fn zrange_by_score(
        &self,
        key: &str,
        min: f64,
        max: f64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        check_score(min)?;
        check_score(max)?;
        if limit == 0 || min > max {
            return Ok(Vec::new());
        }
        let key = self.key(key);
        dispatch!(self.zrange_by_score(&key, min, max, offset, limit))
    }

    /// Number of members.
    pub async fn zcard(&self, key: &str) -> Result<u64, StoreError> {
        let key = self.key(key);
        dispatch!(self.zcard(&key))
    }

    /// Number of members with `min <= score <= max` (infinite bounds allowed).
    pub async fn zcount(&self, key: &str, min: f64, max: f64) -> Result<u64, StoreError> {
        check_score(min)?;
        check_score(max)?;
        if min > max {
            return Ok(0);
        }
        let key = self.key(key);
        dispatch!(self.zcount(&key, min, max))
    }

    /// Atomically claims up to `limit` members with `score <= now` (lowest
    /// scores first): their score becomes `now + hold` and they are returned.
    /// With `hold > 0`, concurrent claimers (any replica) never get the same
    /// member for the same `now`. The caller removes (`zrem`) or re-schedules
    /// (`zadd`) a member when done; if it dies, the member is due again after `hold`.
    pub async fn zclaim_due(
        &self,
        key: &str,
        now: f64,
        hold: f64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        check_score(now)?;
        check_score(hold)?;
        let until = now + hold;
        check_score(until)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.key(key);
        dispatch!(self.zclaim_due(&key, now, until, limit))
    }

    // ---- sets ------------------------------------------------------------------------

    /// Adds `members` to the set at `key`; with `ttl` the set then lives that long. Returns
    /// how many were not members before. Adding a member again changes nothing, so a write
    /// repeated after a lost reply converges.
    pub async fn set_add(
        &self,
        key: &str,
        members: &[String],
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        if members.is_empty() {
            return Ok(0);
        }
        let key = self.key(key);
        dispatch!(self.set_add(&key, members, ttl))
    }

    /// How many members set `a` has, set `b` has, and both have, read together (one
    /// script, so on Redis Cluster the two keys must share a hash tag). Absent sets are empty.
    pub async fn set_sizes(&self, a: &str, b: &str) -> Result<SetSizes, StoreError> {
        let (a, b) = (self.key(a), self.key(b));
        dispatch!(self.set_sizes(&a, &b))
    }

    // ---- lists -----------------------------------------------------------------------

    /// Appends `items`; returns the new length. Large batches are sent in
    /// chunks (not atomic as a whole). Keeps the key's TTL.
    pub async fn rpush(&self, key: &str, items: &[Vec<u8>]) -> Result<u64, StoreError> {
        if items.is_empty() {
            return self.llen(key).await;
        }
        let key = self.key(key);
        dispatch!(self.rpush(&key, items))
    }

    /// Items `start..=stop`; negative indexes count from the end (Redis `LRANGE`).
    pub async fn lrange(
        &self,
        key: &str,
        start: i64,
        stop: i64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let key = self.key(key);
        dispatch!(self.lrange(&key, start, stop))
    }

    /// Length of the list (0 if absent).
    pub async fn llen(&self, key: &str) -> Result<u64, StoreError> {
        let key = self.key(key);
        dispatch!(self.llen(&key))
    }

    /// Keeps only items `start..=stop` (Redis `LTRIM`); an empty result removes the key.
    pub async fn ltrim(&self, key: &str, start: i64, stop: i64) -> Result<(), StoreError> {
        let key = self.key(key);
        dispatch!(self.ltrim(&key, start, stop))
    }

    // ---- streams ---------------------------------------------------------------------

    /// Appends `payload` and returns its id (`ms-seq`, strictly increasing per
    /// stream). Keeps at least the newest `max_len` entries (0 = unbounded);
    /// Redis trims approximately (`MAXLEN ~`, whole nodes only), so a stream
    /// may hold somewhat more than `max_len` entries there; the embedded backend
    /// trims exactly. Notifies [`Store::subscribe_appends`] receivers.
    pub async fn stream_append(
        &self,
        stream: &str,
        payload: &[u8],
        max_len: usize,
    ) -> Result<String, StoreError> {
        let key = self.key(stream);
        let id = dispatch!(self.stream_append(&key, payload, max_len))?;
        self.hub.notify(&self.prefix, stream);
        Ok(id.to_string())
    }

    /// Up to `limit` entries with ids strictly greater than `after` (`None` =
    /// from the start), oldest first. A malformed `after` is
    /// [`StoreError::Corrupt`]; validate client cursors with [`StreamId::from_str`].
    pub async fn stream_read_after(
        &self,
        stream: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let after = after.map(StreamId::from_str).transpose()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.key(stream);
        let entries = dispatch!(self.stream_read_after(&key, after, limit))?;
        Ok(entries
            .into_iter()
            .map(|(id, payload)| (id.to_string(), payload))
            .collect())
    }

    /// Removes entries whose id is below `min_id_ms-0` (retention, exact);
    /// returns how many were removed.
    pub async fn stream_trim_before(
        &self,
        stream: &str,
        min_id_ms: u64,
    ) -> Result<u64, StoreError> {
        let key = self.key(stream);
        dispatch!(self.stream_trim_before(&key, min_id_ms))
    }

    /// Names (logical, without prefix) of streams appended to through a `Store`
    /// of this process with the same key prefix. Best effort: a slow receiver
    /// gets `RecvError::Lagged` and should re-read its streams.
    ///
    /// Both backends notify only appends made **in this process**. With Redis
    /// and several replicas, an append on another replica is not announced:
    /// live readers must also poll `stream_read_after` (e.g. every second) and
    /// use this channel only to wake up early.
    #[must_use]
    pub fn subscribe_appends(&self) -> broadcast::Receiver<String> {
        self.hub.subscribe(&self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_parses_and_orders() {
        let a: StreamId = "5-3".parse().expect("valid");
        assert_eq!(a, StreamId { ms: 5, seq: 3 });
        let b: StreamId = "6".parse().expect("valid");
        assert_eq!(b, StreamId { ms: 6, seq: 0 });
        assert!(a < b);
        assert_eq!(a.to_string(), "5-3");
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+1-2",
            " 1-2",
            "99999999999999999999-0",
        ] {
            assert!(
                bad.parse::<StreamId>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn ttl_is_rounded_up_to_whole_millis() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::from_millis(200)), 200);
    }
}
