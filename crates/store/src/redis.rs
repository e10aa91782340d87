//! Redis backend.
//!
//! Commands go over a few multiplexed connections shared by every task (requests are
//! pipelined on them), to one server, a cluster or the Sentinels' primary (`redis_link`);
//! each thread sticks to one of them. A connection is opened on first use and replaced
//! after a connection-level failure or a timeout; nothing is checked out or pinged per
//! call, so a command costs one round trip. Every call runs under the command timeout, and
//! so does opening a connection: a stopped or stuck server fails a call in at most about
//! twice the command timeout.
//!
//! Multi-step operations that must be atomic (compare-and-set, counters with TTL, leases,
//! claiming due members) are Lua scripts, sent by hash with `EVALSHA` and with their body
//! (`EVAL`) only when the server does not know them yet (`NOSCRIPT`).
//!
//! On a cluster, a pipeline or a script may only touch one hash slot: batches over many keys
//! (`mset`, `hset_many`, `hmget_many`, claims) are split by slot first, and the parts run
//! side by side. `MGET` is split by redis-rs itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, Value};

use super::backend::Backend;
use super::redis_link::{Connector, Link};
use super::sentinel_watch::Verdict;
use super::slot::key_slot;
use super::{Field, HashRow, Once, SetSizes, StoreError, StoreSettings, StreamId, ttl_millis};

/// Entries per pipeline for `mset`.
const MSET_CHUNK: usize = 500;
/// Fields per run of a claim script: the server runs nothing else meanwhile, about 2 ms per
/// 1,000 new claims on a busy 2-core machine. What a claim costs depends on how many fields of
/// one hash a run has (the calls are per hash), not on the run's size.
const CLAIM_RUN_FIELDS: usize = 1000;
/// Script runs in flight on one connection: enough that the server has the next run when one
/// ends, few enough that the last reply comes long before the command timeout.
const CLAIM_PIPELINE: usize = 8;
/// `MGET` commands (one per hash slot) sent per round trip.
const MGET_PIPELINE: usize = 2000;
/// Hashes per pipeline for `hset_many` and `hmget_many`.
const HASH_CHUNK: usize = 250;
/// `mset`, `hset_many` and `hmget_many` pipelines sent before waiting for their replies.
const WRITES_IN_FLIGHT: usize = 4;
/// Items per `RPUSH` command.
const RPUSH_CHUNK: usize = 1000;
/// Items sent per round trip by `rpush` (several `RPUSH` commands pipelined on one connection,
/// which Redis applies in order).
const RPUSH_PIPELINE: usize = 20 * RPUSH_CHUNK;
/// Field holding the payload of a stream entry.
const STREAM_FIELD: &str = "p";

/// KEYS[1]; ARGV: has_expected ("1"/"0"), expected, new, ttl_ms ("" = none).
static CAS_SCRIPT: Lua = Lua::new(
    r"
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
",
);

/// KEYS[1]; ARGV: by, ttl_ms ("" = none). The TTL goes on a key that has none.
static INCR_SCRIPT: Lua = Lua::new(
    r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
",
);

/// KEYS[1]; ARGV: owner, ttl_ms.
static LEASE_ACQUIRE_SCRIPT: Lua = Lua::new(
    r"
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
);

/// KEYS[1]; ARGV: owner, ttl_ms.
static LEASE_RENEW_SCRIPT: Lua = Lua::new(
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
);

/// KEYS[1]; ARGV: owner.
static LEASE_RELEASE_SCRIPT: Lua = Lua::new(
    r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
);

/// KEYS[1]: a hash; ARGV: field, by, cap ('' for none), marker field ('' for none). Adds `by`
/// to the field unless the marker field exists (then replies what it recorded) or the sum would
/// exceed the cap; records `by` under the marker. Replies {0, new value} | {1, earlier by} |
/// {2, value}.
static HINCR_ONCE_SCRIPT: Lua = Lua::new(
    r"
if ARGV[4] ~= '' then
  local earlier = redis.call('HGET', KEYS[1], ARGV[4])
  if earlier then return {1, tonumber(earlier)} end
end
local by = tonumber(ARGV[2])
if ARGV[3] ~= '' then
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  if current + by > tonumber(ARGV[3]) then return {2, current} end
end
local after = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], ARGV[4], ARGV[2]) end
return {0, after}
",
);

/// Sizes of two sets and of their intersection, read together; the intersection is only
/// computed when both have members (it walks the smaller one).
static SET_SIZES_SCRIPT: Lua = Lua::new(
    r"
local a = redis.call('SCARD', KEYS[1])
local b = redis.call('SCARD', KEYS[2])
local both = 0
if a > 0 and b > 0 then
  both = redis.call('SINTERCARD', 2, KEYS[1], KEYS[2])
end
return {a, b, both}
",
);

/// KEYS[1]; ARGV: now, new score, limit. Scores are passed as strings and
/// never go through Lua numbers (which would lose precision).
static ZCLAIM_SCRIPT: Lua = Lua::new(
    r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], m)
end
return due
",
);

/// KEYS: claim hashes, all of one hash slot (a hash may come more than once); ARGV: holder,
/// ttl_ms, number of gone holders, the gone holders, then per key its number of fields and the
/// fields. A field is taken when it is free, the holder's or a gone holder's. Replies only the
/// fields it did not take, as pairs: position among the run's fields (from 0), other holder.
/// Liveness is judged by the caller, so the script touches only its declared keys. A hash
/// costs an `HMGET` and an `HSET` per slice of fields, an `OBJECT ENCODING` and one `PEXPIRE`,
/// whatever the number of fields (slices keep `unpack` within Lua's stack).
///
/// A hash written to is turned into a real hash table at once (a field with a name longer
/// than `hash-max-listpack-value` is set and deleted: Redis never turns a hash back). A small
/// hash is a listpack, where each field read or written scans the whole hash: a claim bucket
/// grows to hundreds of fields (a listpack up to `hash-max-listpack-entries`, 512 by
/// default), and those scans made up half of the script's time on a 1,000,000-number job.
static CLAIM_SCRIPT: Lua = Lua::new(
    r"
local holder, ttl, ngone = ARGV[1], ARGV[2], tonumber(ARGV[3])
local wide = string.rep('~', 128)
local gone = {}
for i = 4, 3 + ngone do gone[ARGV[i]] = true end
local held = {}
local at = 4 + ngone
local pos = 0
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  local first, last = at + 1, at + n
  local took = false
  for s = first, last, 1000 do
    local e = math.min(s + 999, last)
    local cur = redis.call('HMGET', key, unpack(ARGV, s, e))
    local take = {}
    for j = 1, #cur do
      local c = cur[j]
      if c == holder then
        took = true
      elseif c and not gone[c] then
        held[#held + 1] = pos + s - first + j - 1
        held[#held + 1] = c
      else
        take[#take + 1] = ARGV[s + j - 1]
        take[#take + 1] = holder
      end
    end
    if #take > 0 then
      redis.call('HSET', key, unpack(take))
      took = true
    end
  end
  if took then
    if redis.call('OBJECT', 'ENCODING', key) == 'listpack' then
      redis.call('HSET', key, wide, '')
      redis.call('HDEL', key, wide)
    end
    redis.call('PEXPIRE', key, ttl)
  end
  pos = pos + n
  at = last + 1
end
return held
",
);

/// KEYS: claim hashes, all of one hash slot; ARGV: holder, then per key its number of fields
/// and the fields. Deletes the fields the holder holds; replies how many.
static RELEASE_SCRIPT: Lua = Lua::new(
    r"
local holder = ARGV[1]
local freed = 0
local at = 2
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  local first, last = at + 1, at + n
  for s = first, last, 1000 do
    local e = math.min(s + 999, last)
    local cur = redis.call('HMGET', key, unpack(ARGV, s, e))
    local mine = {}
    for j = 1, #cur do
      if cur[j] == holder then mine[#mine + 1] = ARGV[s + j - 1] end
    end
    if #mine > 0 then freed = freed + redis.call('HDEL', key, unpack(mine)) end
  end
  at = last + 1
end
return freed
",
);

/// A Lua script of the store, known to the server by its SHA-1 once sent.
struct Lua {
    body: &'static str,
    sha: OnceLock<String>,
}

impl Lua {
    const fn new(body: &'static str) -> Self {
        Lua {
            body,
            sha: OnceLock::new(),
        }
    }

    fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| sha1_smol::Sha1::from(self.body).digest().to_string())
    }

    /// `EVALSHA` (or, with `by_body`, `EVAL`) on one key; the caller adds the arguments.
    fn cmd(&self, key: &str, by_body: bool) -> Cmd {
        let mut c = if by_body {
            let mut c = redis::cmd("EVAL");
            c.arg(self.body);
            c
        } else {
            let mut c = redis::cmd("EVALSHA");
            c.arg(self.sha());
            c
        };
        c.arg(1).arg(key);
        c
    }

    /// `EVALSHA` (or `EVAL`) on several keys; the caller adds the arguments.
    fn cmd_keys(&self, keys: &[String], by_body: bool) -> Cmd {
        let mut c = if by_body {
            let mut c = redis::cmd("EVAL");
            c.arg(self.body);
            c
        } else {
            let mut c = redis::cmd("EVALSHA");
            c.arg(self.sha());
            c
        };
        c.arg(keys.len()).arg(keys);
        c
    }
}

/// Indexes of `keys` grouped by hash slot, each group in the order of `keys`, groups in the
/// order of their first key.
fn by_slot(keys: &[String]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_slot = std::collections::HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let group = *group_of_slot.entry(key_slot(key)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(i);
    }
    groups
}

fn ttl_arg(ttl: Option<Duration>) -> String {
    ttl.map(|t| ttl_millis(t).to_string()).unwrap_or_default()
}

/// Score as Redis reads it (Rust's shortest round-trip formatting, `±inf`).
fn score_arg(v: f64) -> String {
    if v == f64::INFINITY {
        "+inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-inf".to_owned()
    } else {
        v.to_string()
    }
}

/// Why a connection could not be opened, quoting nothing that may hold a secret (redis-rs's
/// details can contain a URL). A refused login is named as such in every mode: the cluster
/// client reports it as an I/O error whose detail carries the node's refusal. So is a server
/// certificate that TLS refused, which otherwise reads as a bare I/O error.
fn connect_failure(e: &RedisError) -> String {
    const REFUSALS: [&str; 4] = ["WRONGPASS", "NOAUTH", "NOPERM", "authentication failed"];
    let detail = e.detail().unwrap_or_default();
    let refused = e.kind() == ErrorKind::AuthenticationFailed
        || REFUSALS
            .iter()
            .any(|r| e.code() == Some(*r) || detail.contains(r));
    if refused {
        "cannot connect to redis: login refused (WRONGPASS / NOAUTH): check the user and password"
            .to_owned()
    } else if e.kind() == ErrorKind::Io && e.to_string().contains("invalid peer certificate") {
        "cannot connect to redis: TLS refused the server's certificate (not signed by a CA of \
         store.tls_ca_file or the system's roots, expired, or for another host name)"
            .to_owned()
    } else {
        format!("cannot connect to redis: {}", e.category())
    }
}

fn map_redis_error(e: &RedisError) -> StoreError {
    if e.is_timeout() {
        return StoreError::Timeout;
    }
    let text = e.to_string();
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => StoreError::Corrupt(text),
        _ if e.code() == Some("WRONGTYPE")
            || text.contains("not an integer")
            || text.contains("would overflow")
            || text.contains("not a valid float") =>
        {
            StoreError::Corrupt(text)
        }
        _ => StoreError::Unavailable(text),
    }
}

/// A pipeline reports the server errors of its commands together (without the single
/// command's error code); judge it by its first one, like a single command.
fn map_pipeline_error(e: RedisError) -> StoreError {
    let mapped = map_redis_error(&e);
    if !matches!(mapped, StoreError::Unavailable(_)) {
        return mapped;
    }
    let text = e.to_string();
    let first_code = e
        .into_server_errors()
        .and_then(|errors| errors.first().map(|(_, error)| error.code().to_owned()));
    match first_code.as_deref() {
        Some("WRONGTYPE") => StoreError::Corrupt(text),
        _ => mapped,
    }
}

/// One reply of a pipeline sent with `ignore_errors`: its server error, or its value.
fn decode_reply<T: FromRedisValue>(reply: Value) -> Result<T, StoreError> {
    reply
        .extract_error()
        .and_then(|value| T::from_redis_value(value).map_err(RedisError::from))
        .map_err(|e| map_redis_error(&e))
}

fn corrupt_reply(what: &str) -> StoreError {
    StoreError::Corrupt(format!("unexpected redis reply to {what}"))
}

fn bytes_of(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// Parses an `XRANGE` reply: `[[id, [field, value, ...]], ...]`.
fn parse_entries(v: Value) -> Result<Vec<(StreamId, Vec<u8>)>, StoreError> {
    let bad = || corrupt_reply("XRANGE");
    let Value::Array(items) = v else {
        return Err(bad());
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(parts) = item else {
                return Err(bad());
            };
            let mut parts = parts.into_iter();
            let (Some(id), Some(Value::Array(fields))) = (parts.next(), parts.next()) else {
                return Err(bad());
            };
            let id = bytes_of(id).ok_or_else(bad)?;
            let id: StreamId = std::str::from_utf8(&id).map_err(|_| bad())?.parse()?;
            let mut fields = fields.into_iter();
            let mut payload = None;
            while let (Some(f), Some(v)) = (fields.next(), fields.next()) {
                if bytes_of(f).as_deref() == Some(STREAM_FIELD.as_bytes()) {
                    payload = bytes_of(v);
                }
            }
            Ok((id, payload.ok_or_else(bad)?))
        })
        .collect()
}

/// Why a call failed before its reply could be read.
enum Failure {
    Timeout,
    Redis(RedisError),
}

impl Failure {
    fn into_store_error(self) -> StoreError {
        match self {
            Failure::Timeout => StoreError::Timeout,
            Failure::Redis(e) => map_redis_error(&e),
        }
    }

    /// The connection itself is suspect: open a new one for the next call. A server that is
    /// no longer the primary (a failover under Sentinel) is left the same way, so the next
    /// connection goes to the primary the sentinels name now.
    fn breaks_connection(&self) -> bool {
        match self {
            Failure::Timeout => true,
            Failure::Redis(e) => {
                e.is_timeout()
                    || e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_unrecoverable_error()
                    || matches!(e.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"))
            }
        }
    }
}

/// A small number per thread, fixed for the thread's life. A thread always uses the same
/// connection, which it most likely opened itself: the connection's driver task then runs on
/// that thread's runtime (each actix worker has its own), and a call wakes no other thread.
fn thread_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|i| *i)
}

/// One shared connection, opened on first use and replaced after a failure.
#[derive(Default)]
struct Slot {
    current: Mutex<Option<Link>>,
    /// Only one task opens the slot's connection; the others wait for it.
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    fn get(&self) -> Option<Link> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn forget(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// A connection taken for one call (a cheap handle on a shared connection).
#[derive(Clone)]
struct Conn {
    inner: Link,
}

struct Shared {
    connector: Connector,
    slots: Vec<Slot>,
}

/// Replicas that must hold an acknowledged write, and how long it waits for them.
#[derive(Clone, Copy, Debug)]
struct ReplicaAcks {
    replicas: u32,
    within: Duration,
}

/// The Redis backend. Cloning shares the connections.
#[derive(Clone)]
pub(crate) struct RedisStore {
    shared: Arc<Shared>,
    timeout: Duration,
    acks: ReplicaAcks,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("mode", &self.shared.connector.mode())
            .field("connections", &self.shared.slots.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Validates the URLs of the settings' mode; does not connect.
    pub(crate) fn new(settings: &StoreSettings) -> Result<Self, StoreError> {
        let shared = Shared {
            connector: Connector::new(settings)?,
            slots: (0..settings.pool_size.max(1))
                .map(|_| Slot::default())
                .collect(),
        };
        Ok(RedisStore {
            shared: Arc::new(shared),
            timeout: settings.command_timeout,
            acks: ReplicaAcks {
                replicas: settings.replica_acks,
                within: settings.replica_ack_timeout,
            },
        })
    }

    /// Indexes of `keys` in groups that one pipeline or script may serve: all of them on a
    /// single server; one group per hash slot on a cluster, in order of first appearance.
    /// One `HMGET` per hash, `hash(i)` naming the i-th hash and its fields, pipelined per slot
    /// (and per [`HASH_CHUNK`]): a row per hash, a value or none per field, in order.
    async fn hmget_rows<'a>(
        &self,
        len: usize,
        hash: impl Fn(usize) -> (&'a str, &'a [String]) + Sync,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        let conn = self.conn().await?;
        let groups = self.slot_groups((0..len).map(|i| hash(i).0));
        let chunks: Vec<&[usize]> = groups
            .iter()
            .flat_map(|group| group.chunks(HASH_CHUNK))
            .collect();
        let pipes: Vec<Pipeline> = chunks
            .iter()
            .map(|chunk| {
                let mut pipe = redis::pipe();
                for &i in *chunk {
                    let (key, fields) = hash(i);
                    pipe.cmd("HMGET").arg(key).arg(fields);
                }
                pipe
            })
            .collect();
        let replies: Vec<Vec<Vec<Option<Vec<u8>>>>> = self.run_pipes(&conn, &pipes).await?;
        let mut rows = vec![Vec::new(); len];
        for (chunk, reply) in chunks.iter().zip(replies) {
            if reply.len() != chunk.len() {
                return Err(corrupt_reply("HMGET"));
            }
            for (&i, row) in chunk.iter().zip(reply) {
                if row.len() != hash(i).1.len() {
                    return Err(corrupt_reply("HMGET"));
                }
                rows[i] = row;
            }
        }
        Ok(rows)
    }

    fn slot_groups<'k>(&self, keys: impl ExactSizeIterator<Item = &'k str>) -> Vec<Vec<usize>> {
        if !self.shared.connector.is_cluster() {
            return vec![(0..keys.len()).collect()];
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_slot: HashMap<u16, usize> = HashMap::new();
        for (i, key) in keys.enumerate() {
            let group = *group_of_slot.entry(key_slot(key)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(i);
        }
        groups
    }

    /// Writes one entry per key: `add(pipe, i)` adds the commands of entry `i` to a pipeline of
    /// at most `per_pipe` entries whose keys share a slot (on a cluster); a few pipelines are
    /// in flight at once, so the server applies one while the next is sent.
    async fn write_by_slot<'k>(
        &self,
        keys: impl ExactSizeIterator<Item = &'k str>,
        per_pipe: usize,
        add: impl Fn(&mut Pipeline, usize),
    ) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let pipes: Vec<Pipeline> = self
            .slot_groups(keys)
            .iter()
            .flat_map(|group| group.chunks(per_pipe))
            .map(|chunk| {
                // Room for a command and its expiry per item.
                let mut pipe = Pipeline::with_capacity(2 * chunk.len());
                for &i in chunk {
                    add(&mut pipe, i);
                }
                pipe
            })
            .collect();
        self.run_pipes::<()>(&conn, &pipes).await?;
        Ok(())
    }

    /// Runs `pipes` on `conn`, [`WRITES_IN_FLIGHT`] at a time, and returns their replies in
    /// order.
    async fn run_pipes<T: FromRedisValue>(
        &self,
        conn: &Conn,
        pipes: &[Pipeline],
    ) -> Result<Vec<T>, StoreError> {
        // Collected before the stream is built: with the closure inside the stream, rustc cannot
        // prove the caller's future `Send`.
        let runs: Vec<_> = pipes
            .iter()
            .map(|pipe| {
                let mut conn = conn.clone();
                async move { self.run_pipe::<T>(&mut conn, pipe).await }
            })
            .collect();
        futures_util::stream::iter(runs)
            .buffered(WRITES_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Under Sentinel, now and then (in the background) asks the sentinels about the primary:
    /// drops the connections when it moved, or when a failover is under way (see
    /// `sentinel_watch`). Err while a failover is under way.
    fn watch_sentinels(&self) -> Result<(), StoreError> {
        let Some(watch) = self.shared.connector.sentinel_watch() else {
            return Ok(());
        };
        if watch.check_due() {
            let store = self.clone();
            tokio::spawn(async move {
                let Some(watch) = store.shared.connector.sentinel_watch() else {
                    return;
                };
                let verdict = tokio::time::timeout(store.timeout * 2, watch.check()).await;
                watch.check_finished();
                if let Ok(verdict @ (Verdict::Moved | Verdict::Switching)) = verdict {
                    tracing::warn!(
                        ?verdict,
                        "the sentinels are moving the primary: reconnecting"
                    );
                    for slot in &store.shared.slots {
                        slot.forget();
                    }
                }
            });
        }
        if watch.switching() {
            return Err(StoreError::Unavailable(
                "the sentinels are failing over the primary".to_owned(),
            ));
        }
        Ok(())
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.watch_sentinels()?;
        let shared = &*self.shared;
        let index = thread_index() % shared.slots.len();
        let slot = &shared.slots[index];
        if let Some(inner) = slot.get() {
            return Ok(Conn { inner });
        }
        let opened = tokio::time::timeout(self.timeout, async {
            let _opening = slot.opening.lock().await;
            if let Some(current) = slot.get() {
                return Ok(current);
            }
            let inner = shared.connector.open().await?;
            *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(inner.clone());
            Ok::<_, RedisError>(inner)
        })
        .await;
        match opened {
            Err(_) => Err(StoreError::Timeout),
            Ok(Err(e)) if e.is_timeout() => Err(StoreError::Timeout),
            Ok(Err(e)) => Err(StoreError::Unavailable(connect_failure(&e))),
            Ok(Ok(inner)) => Ok(Conn { inner }),
        }
    }

    /// A broken connection usually means the server restarted or went away, and then the
    /// other connections are dead too: all are replaced, so only calls already in flight fail.
    fn after_failure(&self, failure: &Failure) {
        if failure.breaks_connection() {
            for slot in &self.shared.slots {
                slot.forget();
            }
        }
    }

    async fn exec<T: FromRedisValue>(&self, conn: &mut Conn, cmd: &Cmd) -> Result<T, Failure> {
        let failure =
            match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn.inner)).await {
                Err(_) => Failure::Timeout,
                Ok(Err(e)) => Failure::Redis(e),
                Ok(Ok(v)) => return Ok(v),
            };
        self.after_failure(&failure);
        Err(failure)
    }

    async fn run<T: FromRedisValue>(&self, conn: &mut Conn, cmd: &Cmd) -> Result<T, StoreError> {
        self.exec(conn, cmd)
            .await
            .map_err(Failure::into_store_error)
    }

    /// A rate-limit count (the INCR script) and, in the same pipeline, the commands `reads`
    /// adds: the count and the reads' replies, in order. A script the server no longer knows is
    /// sent again with its body: nothing was counted, as an unknown script is refused before
    /// anything runs.
    async fn count_then(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        reads: impl Fn(&mut Pipeline),
    ) -> Result<(i64, Vec<Value>), StoreError> {
        let pipe = |by_body| {
            let mut incr = INCR_SCRIPT.cmd(counter, by_body);
            incr.arg(by).arg(ttl_arg(ttl));
            let mut pipe = redis::pipe();
            pipe.ignore_errors().add_command(incr);
            reads(&mut pipe);
            pipe
        };
        let mut conn = self.conn().await?;
        let mut replies: Vec<Value> = self.run_pipe(&mut conn, &pipe(false)).await?;
        if matches!(replies.first(), Some(Value::ServerError(e)) if e.code() == "NOSCRIPT") {
            replies = self.run_pipe(&mut conn, &pipe(true)).await?;
        }
        let mut replies = replies.into_iter();
        let count = replies
            .next()
            .ok_or_else(|| corrupt_reply("a counter and its reads"))?;
        Ok((decode_reply(count)?, replies.collect()))
    }

    async fn run_pipe<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
        pipe: &Pipeline,
    ) -> Result<T, StoreError> {
        let failure = match tokio::time::timeout(
            self.timeout,
            pipe.query_async::<T>(&mut conn.inner),
        )
        .await
        {
            Err(_) => Failure::Timeout,
            Ok(Err(e)) => Failure::Redis(e),
            Ok(Ok(v)) => return Ok(v),
        };
        self.after_failure(&failure);
        Err(match failure {
            Failure::Redis(e) => map_pipeline_error(e),
            other => other.into_store_error(),
        })
    }

    /// One command on a shared connection.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        self.run(&mut conn, cmd).await
    }

    /// A script by hash, and by body when the server has not seen it (first use, restart).
    async fn eval<T: FromRedisValue>(
        &self,
        lua: &Lua,
        key: &str,
        args: impl Fn(&mut Cmd),
    ) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        let mut cmd = lua.cmd(key, false);
        args(&mut cmd);
        match self.exec(&mut conn, &cmd).await {
            Ok(v) => Ok(v),
            Err(Failure::Redis(e)) if e.code() == Some("NOSCRIPT") => {
                let mut cmd = lua.cmd(key, true);
                args(&mut cmd);
                self.run(&mut conn, &cmd).await
            }
            Err(failure) => Err(failure.into_store_error()),
        }
    }

    fn set_cmd(key: &str, value: &[u8], ttl: Option<Duration>) -> Cmd {
        let mut c = redis::cmd("SET");
        c.arg(key).arg(value);
        if let Some(ttl) = ttl {
            c.arg("PX").arg(ttl_millis(ttl));
        }
        c
    }

    /// A script on several keys (of one hash slot), by hash and by body when the server has
    /// not seen it.
    async fn eval_keys<T: FromRedisValue>(
        &self,
        conn: &Conn,
        lua: &Lua,
        keys: &[String],
        args: &impl Fn(&mut Cmd),
    ) -> Result<T, StoreError> {
        let mut conn = conn.clone();
        let mut cmd = lua.cmd_keys(keys, false);
        args(&mut cmd);
        match self.exec(&mut conn, &cmd).await {
            Ok(v) => Ok(v),
            Err(Failure::Redis(e)) if e.code() == Some("NOSCRIPT") => {
                let mut cmd = lua.cmd_keys(keys, true);
                args(&mut cmd);
                self.run(&mut conn, &cmd).await
            }
            Err(failure) => Err(failure.into_store_error()),
        }
    }

    /// Runs of `entries` (hashes with their fields) that one script may serve: the hashes of
    /// a run share a hash slot (a server in cluster mode refuses others, even when reached as
    /// a single server) and a run has at most [`CLAIM_RUN_FIELDS`] fields, so a hash with more
    /// is split over runs.
    fn field_runs(entries: &[(String, &[String])]) -> Vec<Vec<Piece>> {
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let mut runs = Vec::new();
        for group in by_slot(&keys) {
            let mut run: Vec<Piece> = Vec::new();
            let mut fields = 0;
            for entry in group {
                let len = entries[entry].1.len();
                let mut start = 0;
                while start < len {
                    if fields == CLAIM_RUN_FIELDS {
                        runs.push(std::mem::take(&mut run));
                        fields = 0;
                    }
                    let end = len.min(start + CLAIM_RUN_FIELDS - fields);
                    run.push(Piece { entry, start, end });
                    fields += end - start;
                    start = end;
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
        runs
    }

    /// Runs `lua` once per run of `entries` (see `field_runs`): KEYS are the run's
    /// hashes, ARGV what `head` adds, then per hash its number of fields and the fields. The
    /// first run goes alone (sending the body if the server lacks the script), then up to
    /// [`CLAIM_PIPELINE`] runs are in flight on one connection (each its own command: a
    /// cluster connection routes it to its slot's node, and loads the script there when that
    /// node lacks it). Returns each run with its reply.
    async fn eval_pieces<T: FromRedisValue>(
        &self,
        lua: &Lua,
        entries: &[(String, &[String])],
        head: impl Fn(&mut Cmd),
    ) -> Result<Vec<(Vec<Piece>, T)>, StoreError> {
        let mut runs = Self::field_runs(entries).into_iter();
        let Some(first) = runs.next() else {
            return Ok(Vec::new());
        };
        let conn = self.conn().await?;
        let (conn, head) = (&conn, &head);
        let run_one = |run: Vec<Piece>| async move {
            let keys: Vec<String> = run.iter().map(|p| entries[p.entry].0.clone()).collect();
            let args = |c: &mut Cmd| {
                head(c);
                for piece in &run {
                    c.arg(piece.end - piece.start)
                        .arg(&entries[piece.entry].1[piece.start..piece.end]);
                }
            };
            let reply = self.eval_keys(conn, lua, &keys, &args).await?;
            Ok::<_, StoreError>((run, reply))
        };
        let mut out = vec![run_one(first).await?];
        // Collected before the stream is built, as in `run_pipes`.
        let rest: Vec<_> = runs.map(run_one).collect();
        let rest: Vec<(Vec<Piece>, T)> = futures_util::stream::iter(rest)
            .buffered(CLAIM_PIPELINE)
            .try_collect()
            .await?;
        out.extend(rest);
        Ok(out)
    }
}

/// Part of an entry's fields (`start..end`) sent in one script run.
#[derive(Debug, Clone, Copy)]
struct Piece {
    entry: usize,
    start: usize,
    end: usize,
}

/// Spreads a claim script's reply (pairs of a field's position in the run and its other
/// holder) over the rows of the entries, which start all `None`.
fn place_holders(
    run: &[Piece],
    reply: Vec<Value>,
    rows: &mut [Vec<Option<String>>],
) -> Result<(), StoreError> {
    let bad = || corrupt_reply("the claim script");
    let mut reply = reply.into_iter();
    // Positions come in ascending order: the pieces are walked once.
    let mut pieces = run.iter();
    let mut piece = pieces.next();
    let mut offset = 0;
    while let Some(pos) = reply.next() {
        let pos =
            usize::try_from(i64::from_redis_value(pos).map_err(|_| bad())?).map_err(|_| bad())?;
        let other = reply.next().and_then(bytes_of).ok_or_else(bad)?;
        loop {
            let p = piece.ok_or_else(bad)?;
            let len = p.end - p.start;
            if pos < offset + len {
                let field = p.start + pos - offset;
                let slot = rows
                    .get_mut(p.entry)
                    .and_then(|row| row.get_mut(field))
                    .ok_or_else(bad)?;
                *slot = Some(String::from_utf8_lossy(&other).into_owned());
                break;
            }
            offset += len;
            piece = pieces.next();
        }
    }
    Ok(())
}

impl Backend for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(corrupt_reply("PING"))
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.query(&Self::set_cmd(key, value, ttl)).await
    }

    async fn set_nx(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut c = Self::set_cmd(key, value, ttl);
        c.arg("NX");
        // `SET .. NX` answers OK or nil.
        let reply: Option<String> = self.query(&c).await?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        // UNLINK: a large key (a finished job's count set of a million members) is freed on
        // the server's background thread; `DEL` held every client up while it freed it.
        let n: u64 = self.query(redis::cmd("UNLINK").arg(key)).await?;
        Ok(n > 0)
    }

    /// One `MGET` per hash slot (at most [`MSET_CHUNK`] keys each), pipelined: a batch of
    /// unrelated keys (cache entries, one per number) is naturally cross-slot, and a cluster
    /// refuses an `MGET` over several slots. Not atomic across slots.
    async fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let groups = by_slot(keys);
        if groups.len() == 1 && keys.len() <= MSET_CHUNK {
            return self.query(redis::cmd("MGET").arg(keys)).await;
        }
        let runs: Vec<&[usize]> = groups
            .iter()
            .flat_map(|group| group.chunks(MSET_CHUNK))
            .collect();
        // A cluster connection sends a pipeline to one node: there, each slot's MGET goes alone.
        let per_pipe = if self.shared.connector.is_cluster() {
            1
        } else {
            MGET_PIPELINE
        };
        let batches: Vec<&[&[usize]]> = runs.chunks(per_pipe).collect();
        let pipes: Vec<Pipeline> = batches
            .iter()
            .map(|batch| {
                let mut pipe = redis::pipe();
                for run in *batch {
                    pipe.cmd("MGET")
                        .arg(run.iter().map(|&i| &keys[i]).collect::<Vec<_>>());
                }
                pipe
            })
            .collect();
        let conn = self.conn().await?;
        let replies: Vec<Vec<Vec<Option<Vec<u8>>>>> = self.run_pipes(&conn, &pipes).await?;
        let mut values = vec![None; keys.len()];
        for (batch, replies) in batches.iter().zip(replies) {
            for (run, reply) in batch.iter().zip(replies) {
                if reply.len() != run.len() {
                    return Err(corrupt_reply("MGET"));
                }
                for (&i, value) in run.iter().zip(reply) {
                    values[i] = value;
                }
            }
        }
        Ok(values)
    }

    async fn mset(
        &self,
        entries: &[(String, &[u8])],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let keys = entries.iter().map(|(k, _)| k.as_str());
        self.write_by_slot(keys, MSET_CHUNK, |pipe, i| {
            let (k, v) = &entries[i];
            pipe.add_command(Self::set_cmd(k, v, ttl)).ignore();
        })
        .await
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let ms: i64 = self.query(redis::cmd("PTTL").arg(key)).await?;
        // -2: no such key, -1: no TTL.
        Ok(u64::try_from(ms).ok().map(Duration::from_millis))
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let written: i64 = self
            .eval(&CAS_SCRIPT, key, |c| {
                c.arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(new)
                    .arg(ttl_arg(ttl));
            })
            .await?;
        Ok(written == 1)
    }

    async fn write_acked(
        &self,
        key: &str,
        guard: Option<Option<&[u8]>>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let ReplicaAcks { replicas, within } = self.acks;
        if replicas == 0 {
            return crate::backend::write_unacked(self, key, guard, new, ttl).await;
        }
        let write = match guard {
            None => Self::set_cmd(key, new, ttl),
            Some(expected) => {
                // By body: a pipeline cannot resend a script the server lacks, and
                // acknowledged writes are few.
                let mut c = CAS_SCRIPT.cmd(key, true);
                c.arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(new)
                    .arg(ttl_arg(ttl));
                c
            }
        };
        // WAIT counts the replicas holding this connection's writes, so both go down one
        // connection in one pipeline; on a cluster the pipeline goes to the key's master.
        let mut pipe = redis::pipe();
        pipe.add_command(write)
            .cmd("WAIT")
            .arg(replicas)
            .arg(ttl_millis(within));
        let mut conn = self.conn().await?;
        let (written, acked): (Value, i64) = self.run_pipe(&mut conn, &pipe).await?;
        let written = match written {
            Value::Okay => true,
            Value::Int(n) => n == 1,
            _ => return Err(corrupt_reply("an acknowledged write")),
        };
        if written && acked < i64::from(replicas) {
            return Err(StoreError::Unavailable(format!(
                "a write reached {acked} of the {replicas} replicas it needs within {within:?}"
            )));
        }
        Ok(written)
    }

    async fn incr(&self, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64, StoreError> {
        self.eval(&INCR_SCRIPT, key, |c| {
            c.arg(by).arg(ttl_arg(ttl));
        })
        .await
    }

    async fn incr_then_hmget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        hash: &str,
        fields: &[String],
    ) -> Result<(i64, HashRow), StoreError> {
        if self.shared.connector.is_cluster() && key_slot(counter) != key_slot(hash) {
            // A cluster connection sends a pipeline to one node: the two go side by side.
            let hashes = [hash.to_owned()];
            let (count, mut rows) = futures_util::try_join!(
                self.incr(counter, by, ttl),
                self.hmget_many(&hashes, fields)
            )?;
            return Ok((count, rows.pop().unwrap_or_default()));
        }
        let (count, replies) = self
            .count_then(counter, by, ttl, |pipe| {
                pipe.cmd("HMGET").arg(hash).arg(fields);
            })
            .await?;
        let [row] = <[Value; 1]>::try_from(replies)
            .map_err(|_| corrupt_reply("a counter and hash read"))?;
        Ok((count, decode_reply(row)?))
    }

    async fn incr_then_mget(
        &self,
        counter: &str,
        by: i64,
        ttl: Option<Duration>,
        keys: &[String],
    ) -> Result<(i64, Vec<Option<Vec<u8>>>), StoreError> {
        let slot = key_slot(counter);
        let groups = by_slot(keys);
        let spans_slots = || groups.len() > 1 || keys.iter().any(|k| key_slot(k) != slot);
        if (self.shared.connector.is_cluster() && spans_slots()) || keys.len() > MSET_CHUNK {
            // A cluster connection sends a pipeline to one node: the two go side by side.
            return futures_util::try_join!(self.incr(counter, by, ttl), self.mget(keys));
        }
        // One `MGET` per slot: a node of a cluster refuses one that spans slots.
        let (count, replies) = self
            .count_then(counter, by, ttl, |pipe| {
                for group in &groups {
                    pipe.cmd("MGET")
                        .arg(group.iter().map(|&i| &keys[i]).collect::<Vec<_>>());
                }
            })
            .await?;
        if replies.len() != groups.len() {
            return Err(corrupt_reply("a counter and a read of keys"));
        }
        let mut values = vec![None; keys.len()];
        for (group, reply) in groups.iter().zip(replies) {
            let reply: Vec<Option<Vec<u8>>> = decode_reply(reply)?;
            if reply.len() != group.len() {
                return Err(corrupt_reply("MGET"));
            }
            for (&i, value) in group.iter().zip(reply) {
                values[i] = value;
            }
        }
        Ok((count, values))
    }

    async fn hincr(&self, key: &str, field: &str, by: i64) -> Result<i64, StoreError> {
        self.query(redis::cmd("HINCRBY").arg(key).arg(field).arg(by))
            .await
    }

    async fn hincr_many(&self, key: &str, fields: &[(&str, i64)]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for (field, by) in fields {
            pipe.cmd("HINCRBY").arg(key).arg(*field).arg(*by).ignore();
        }
        let mut conn = self.conn().await?;
        self.run_pipe(&mut conn, &pipe).await
    }

    async fn hincr_once(
        &self,
        key: &str,
        field: &str,
        by: i64,
        cap: Option<i64>,
        marker: &str,
    ) -> Result<Once, StoreError> {
        let (kind, value): (u8, i64) = self
            .eval(&HINCR_ONCE_SCRIPT, key, |c| {
                c.arg(field)
                    .arg(by)
                    .arg(cap.map(|c| c.to_string()).unwrap_or_default())
                    .arg(marker);
            })
            .await?;
        match kind {
            0 => Ok(Once::Applied(value)),
            1 => Ok(Once::Repeated(value)),
            2 => Ok(Once::Refused(value)),
            _ => Err(corrupt_reply("a once-only increment")),
        }
    }

    async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError> {
        self.query(redis::cmd("HDEL").arg(key).arg(fields)).await
    }

    async fn hset(&self, key: &str, fields: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut c = redis::cmd("HSET");
        c.arg(key);
        for (f, v) in fields {
            c.arg(f).arg(v.as_slice());
        }
        let _added: u64 = self.query(&c).await?;
        Ok(())
    }

    async fn hset_many(
        &self,
        entries: &[(String, &[Field])],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let keys = entries.iter().map(|(k, _)| k.as_str());
        let ttl = ttl.map(ttl_millis);
        self.write_by_slot(keys, HASH_CHUNK, |pipe, i| {
            let (key, fields) = &entries[i];
            // Sized up front: growing each command's buffer argument by argument was a sizeable
            // share of writing a large job's answers.
            let bytes: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
            let mut hset = Cmd::with_capacity(2 + 2 * fields.len(), 4 + key.len() + bytes);
            hset.arg("HSET").arg(key);
            for (f, v) in *fields {
                hset.arg(f).arg(v.as_slice());
            }
            pipe.add_command(hset).ignore();
            if let Some(ttl) = ttl {
                pipe.cmd("PEXPIRE").arg(key).arg(ttl).ignore();
            }
        })
        .await
    }

    async fn hmget_many(
        &self,
        keys: &[String],
        fields: &[String],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        self.hmget_rows(keys.len(), |i| (keys[i].as_str(), fields))
            .await
    }

    async fn hgetall(&self, key: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.query(redis::cmd("HGETALL").arg(key)).await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let n: i64 = self
            .query(redis::cmd("PEXPIRE").arg(key).arg(ttl_millis(ttl)))
            .await?;
        Ok(n == 1)
    }

    async fn lease_acquire(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let taken: i64 = self
            .eval(&LEASE_ACQUIRE_SCRIPT, key, |c| {
                c.arg(owner).arg(ttl_millis(ttl));
            })
            .await?;
        Ok(taken == 1)
    }

    async fn lease_renew(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let renewed: i64 = self
            .eval(&LEASE_RENEW_SCRIPT, key, |c| {
                c.arg(owner).arg(ttl_millis(ttl));
            })
            .await?;
        Ok(renewed == 1)
    }

    async fn lease_release(&self, key: &str, owner: &str) -> Result<bool, StoreError> {
        let released: i64 = self
            .eval(&LEASE_RELEASE_SCRIPT, key, |c| {
                c.arg(owner);
            })
            .await?;
        Ok(released == 1)
    }

    async fn claim_fields(
        &self,
        claims: &[(String, &[String])],
        holder: &str,
        gone: &[String],
        ttl: Duration,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let runs: Vec<(Vec<Piece>, Vec<Value>)> = self
            .eval_pieces(&CLAIM_SCRIPT, claims, |c| {
                c.arg(holder).arg(ttl_millis(ttl)).arg(gone.len()).arg(gone);
            })
            .await?;
        let mut rows: Vec<Vec<Option<String>>> = claims
            .iter()
            .map(|(_, fields)| vec![None; fields.len()])
            .collect();
        for (run, reply) in runs {
            place_holders(&run, reply, &mut rows)?;
        }
        Ok(rows)
    }

    async fn release_fields(
        &self,
        claims: &[(String, &[String])],
        holder: &str,
    ) -> Result<u64, StoreError> {
        let freed: Vec<(Vec<Piece>, u64)> = self
            .eval_pieces(&RELEASE_SCRIPT, claims, |c| {
                c.arg(holder);
            })
            .await?;
        Ok(freed.into_iter().map(|(_, n)| n).sum())
    }

    async fn hmget_each(
        &self,
        entries: &[(String, &[String])],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, StoreError> {
        self.hmget_rows(entries.len(), |i| (entries[i].0.as_str(), entries[i].1))
            .await
    }

    async fn zadd(&self, key: &str, member: &str, score: f64) -> Result<(), StoreError> {
        let _added: u64 = self
            .query(
                redis::cmd("ZADD")
                    .arg(key)
                    .arg(score_arg(score))
                    .arg(member),
            )
            .await?;
        Ok(())
    }

    async fn zrem(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let n: u64 = self.query(redis::cmd("ZREM").arg(key).arg(member)).await?;
        Ok(n > 0)
    }

    async fn zrange_by_score(
        &self,
        key: &str,
        min: f64,
        max: f64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        self.query(
            redis::cmd("ZRANGEBYSCORE")
                .arg(key)
                .arg(score_arg(min))
                .arg(score_arg(max))
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(offset)
                .arg(limit),
        )
        .await
    }

    async fn zcount(&self, key: &str, min: f64, max: f64) -> Result<u64, StoreError> {
        self.query(
            redis::cmd("ZCOUNT")
                .arg(key)
                .arg(score_arg(min))
                .arg(score_arg(max)),
        )
        .await
    }

    async fn zcard(&self, key: &str) -> Result<u64, StoreError> {
        self.query(redis::cmd("ZCARD").arg(key)).await
    }

    async fn zclaim_due(
        &self,
        key: &str,
        now: f64,
        until: f64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.eval(&ZCLAIM_SCRIPT, key, |c| {
            c.arg(score_arg(now)).arg(score_arg(until)).arg(limit);
        })
        .await
    }

    async fn set_add(
        &self,
        key: &str,
        members: &[String],
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SADD").arg(key).arg(members);
        if let Some(ttl) = ttl {
            pipe.cmd("PEXPIRE").arg(key).arg(ttl_millis(ttl)).ignore();
        }
        let mut conn = self.conn().await?;
        let (added,): (u64,) = self.run_pipe(&mut conn, &pipe).await?;
        Ok(added)
    }

    async fn set_sizes(&self, a: &str, b: &str) -> Result<SetSizes, StoreError> {
        let conn = self.conn().await?;
        let keys = [a.to_owned(), b.to_owned()];
        let (a, b, both): (u64, u64, u64) = self
            .eval_keys(&conn, &SET_SIZES_SCRIPT, &keys, &|_| {})
            .await?;
        Ok(SetSizes { a, b, both })
    }

    async fn rpush(&self, key: &str, items: &[Vec<u8>]) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let mut len = 0;
        for batch in items.chunks(RPUSH_PIPELINE) {
            let mut pipe = redis::pipe();
            for chunk in batch.chunks(RPUSH_CHUNK) {
                let mut c = redis::cmd("RPUSH");
                c.arg(key);
                for item in chunk {
                    c.arg(item.as_slice());
                }
                pipe.add_command(c);
            }
            let lens: Vec<u64> = self.run_pipe(&mut conn, &pipe).await?;
            len = lens.last().copied().ok_or_else(|| corrupt_reply("RPUSH"))?;
        }
        Ok(len)
    }

    async fn lrange(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.query(redis::cmd("LRANGE").arg(key).arg(start).arg(stop))
            .await
    }

    async fn llen(&self, key: &str) -> Result<u64, StoreError> {
        self.query(redis::cmd("LLEN").arg(key)).await
    }

    async fn ltrim(&self, key: &str, start: i64, stop: i64) -> Result<(), StoreError> {
        self.query(redis::cmd("LTRIM").arg(key).arg(start).arg(stop))
            .await
    }

    async fn stream_append(
        &self,
        key: &str,
        payload: &[u8],
        max_len: usize,
    ) -> Result<StreamId, StoreError> {
        let mut c = redis::cmd("XADD");
        c.arg(key);
        if max_len > 0 {
            c.arg("MAXLEN").arg("~").arg(max_len);
        }
        c.arg("*").arg(STREAM_FIELD).arg(payload);
        let id: String = self.query(&c).await?;
        id.parse()
            .map_err(|_| StoreError::Corrupt(format!("redis returned stream id {id:?}")))
    }

    async fn stream_read_after(
        &self,
        key: &str,
        after: Option<StreamId>,
        limit: usize,
    ) -> Result<Vec<(StreamId, Vec<u8>)>, StoreError> {
        let start = match after {
            None => "-".to_owned(),
            Some(id) => format!("({id}"),
        };
        let reply: Value = self
            .query(
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        parse_entries(reply)
    }

    async fn stream_trim_before(&self, key: &str, min_id_ms: u64) -> Result<u64, StoreError> {
        self.query(redis::cmd("XTRIM").arg(key).arg("MINID").arg(min_id_ms))
            .await
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::super::{SentinelSettings, StoreMode};
    use super::*;

    fn settings(mode: StoreMode, url: &str) -> StoreSettings {
        let url = SecretString::from(url.to_owned());
        StoreSettings {
            mode,
            redis_url: Some(url.clone()),
            cluster_urls: vec![url.clone()],
            sentinel: SentinelSettings {
                urls: vec![url],
                master_name: "gw".into(),
                ..SentinelSettings::default()
            },
            command_timeout: Duration::from_millis(100),
            pool_size: 1,
            ..StoreSettings::default()
        }
    }

    #[test]
    fn invalid_url_error_does_not_leak_the_password() {
        for mode in [
            StoreMode::Standalone,
            StoreMode::Cluster,
            StoreMode::Sentinel,
        ] {
            for url in [
                "http://user:hunter2@localhost",
                "redis://:hunter2@localhost:notaport",
                "hunter2",
            ] {
                let Err(e) = RedisStore::new(&settings(mode, url)) else {
                    panic!("{url} should be rejected in {mode:?} mode");
                };
                assert!(!e.to_string().contains("hunter2"), "{e}");
            }
        }
    }

    #[test]
    fn batches_split_per_hash_slot_in_order() {
        let keys: Vec<String> = ["p:{a}:1", "p:free", "p:{a}:2", "p:{b}:1", "p:{a}:3"]
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        let groups = by_slot(&keys);
        assert_eq!(groups[0], vec![0, 2, 4]);
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), keys.len());
        for group in &groups {
            let slot = key_slot(&keys[group[0]]);
            assert!(group.iter().all(|&i| key_slot(&keys[i]) == slot));
        }
    }

    #[test]
    fn every_mode_accepts_tls_and_acl_users() {
        for mode in [
            StoreMode::Standalone,
            StoreMode::Cluster,
            StoreMode::Sentinel,
        ] {
            for url in [
                "rediss://gateway:hunter2@redis.example:6380",
                "redis://gateway:hunter2@127.0.0.1:6379",
            ] {
                let store = RedisStore::new(&settings(mode, url))
                    .unwrap_or_else(|e| panic!("{mode:?} {url}: {e}"));
                assert_eq!(store.shared.connector.mode(), mode);
                assert!(!format!("{store:?}").contains("hunter2"));
            }
        }
    }

    #[test]
    fn each_mode_needs_its_urls() {
        let empty = StoreSettings {
            command_timeout: Duration::from_millis(100),
            ..StoreSettings::default()
        };
        for (mode, setting) in [
            (StoreMode::Standalone, "store.redis_url"),
            (StoreMode::Cluster, "store.cluster.urls"),
            (StoreMode::Sentinel, "store.sentinel.urls"),
        ] {
            let Err(e) = RedisStore::new(&StoreSettings {
                mode,
                ..empty.clone()
            }) else {
                panic!("{mode:?} without URLs accepted");
            };
            assert!(e.to_string().contains(setting), "{e}");
        }
        let mut no_name = settings(StoreMode::Sentinel, "redis://127.0.0.1:26379");
        no_name.sentinel.master_name = " ".into();
        let Err(e) = RedisStore::new(&no_name) else {
            panic!("a sentinel set without master name accepted");
        };
        assert!(e.to_string().contains("store.sentinel.master_name"), "{e}");
    }

    #[test]
    fn cluster_batches_are_split_by_hash_slot() {
        let cluster = RedisStore::new(&settings(StoreMode::Cluster, "redis://127.0.0.1:7000"))
            .expect("cluster settings");
        let keys = ["{a}:1", "{b}:1", "{a}:2", "{b}:2", "{c}:1"];
        assert_eq!(
            cluster.slot_groups(keys.iter().copied()),
            vec![vec![0, 2], vec![1, 3], vec![4]]
        );
        let single = RedisStore::new(&settings(StoreMode::Standalone, "redis://127.0.0.1:6379"))
            .expect("standalone settings");
        assert_eq!(
            single.slot_groups(keys.iter().copied()),
            vec![vec![0, 1, 2, 3, 4]]
        );
    }

    #[test]
    fn scores_are_sent_in_a_form_redis_parses() {
        assert_eq!(score_arg(f64::INFINITY), "+inf");
        assert_eq!(score_arg(f64::NEG_INFINITY), "-inf");
        assert_eq!(score_arg(1.5), "1.5");
        assert_eq!(score_arg(1_700_000_000_123.0), "1700000000123");
    }
}
