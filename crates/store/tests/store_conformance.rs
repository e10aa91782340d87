//! Conformance suite for the store: every case in `cases` runs against the embedded
//! backend (`memory::*`), standalone Redis (`redis::*`), a private one-node Redis Cluster
//! (`cluster_node::*`, which refuses any command or script spanning hash slots), and Redis in
//! cluster and sentinel mode (`cluster::*`, `sentinel::*`), plus Redis-only failure tests
//! (`redis_failures::*`) against private `redis-server` processes.
//!
//! The `redis` cases use the shared server at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`), each under its own `test:{uuid}:` prefix, and FAIL
//! when it is unreachable. The `cluster` (three masters, three replicas) and `sentinel` (a
//! primary, two replicas, three sentinels) cases share engines that this test binary starts
//! once (crates/redis-harness) and that die with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_redis;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use redis_harness::{Cluster, Sentinel};
use secrecy::SecretString;
use store::{SentinelSettings, Store, StoreError, StoreMode, StoreSettings};

use support_redis::{PrivateRedis, shared_url, test_prefix};

fn redis_settings(url: &str, key_prefix: &str, command_timeout: Duration) -> StoreSettings {
    StoreSettings {
        redis_url: Some(SecretString::from(url.to_owned())),
        key_prefix: key_prefix.to_owned(),
        command_timeout,
        pool_size: 4,
        ..StoreSettings::default()
    }
}

fn secrets(urls: Vec<String>) -> Vec<SecretString> {
    urls.into_iter().map(SecretString::from).collect()
}

/// The cluster every `cluster::*` case shares, started by the first one.
fn shared_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

/// The sentinel set every `sentinel::*` case shares, started by the first one.
fn shared_sentinel() -> &'static Sentinel {
    static SENTINEL: OnceLock<Sentinel> = OnceLock::new();
    SENTINEL.get_or_init(Sentinel::start)
}

async fn connect_or_panic(settings: &StoreSettings, what: &str) -> Store {
    let store = Store::connect(settings)
        .await
        .unwrap_or_else(|e| panic!("cannot set up the store on the {what}: {e}"));
    if let Err(e) = store.ping().await {
        panic!("the {what} does not answer: {e}");
    }
    store
}

async fn cluster_store() -> (Store, ()) {
    let cluster = tokio::task::block_in_place(shared_cluster);
    let settings = StoreSettings {
        mode: StoreMode::Cluster,
        cluster_urls: secrets(cluster.urls()),
        key_prefix: test_prefix(),
        command_timeout: Duration::from_secs(2),
        ..StoreSettings::default()
    };
    (connect_or_panic(&settings, "test cluster").await, ())
}

async fn sentinel_store() -> (Store, ()) {
    let set = tokio::task::block_in_place(shared_sentinel);
    let settings = StoreSettings {
        mode: StoreMode::Sentinel,
        sentinel: SentinelSettings {
            urls: secrets(set.sentinel_urls()),
            master_name: set.master_name().to_owned(),
            ..SentinelSettings::default()
        },
        key_prefix: test_prefix(),
        command_timeout: Duration::from_secs(2),
        ..StoreSettings::default()
    };
    (connect_or_panic(&settings, "test sentinel set").await, ())
}

async fn memory_store() -> (Store, ()) {
    (Store::memory(&test_prefix()), ())
}

/// A store on a private one-node cluster (kept alive by the returned server): every case must
/// work there, i.e. keep each multi-key command and script within one hash slot.
async fn cluster_node_store() -> (Store, PrivateRedis) {
    let redis = PrivateRedis::start_cluster_node();
    let settings = redis_settings(&redis.url(), &test_prefix(), Duration::from_secs(2));
    let store = Store::connect(&settings)
        .await
        .unwrap_or_else(|e| panic!("cannot set up the store on the one-node cluster: {e}"));
    (store, redis)
}

async fn redis_store() -> (Store, ()) {
    let url = shared_url();
    // Generous timeout: CI machines are slow; the failure tests use short ones.
    let settings = redis_settings(&url, &test_prefix(), Duration::from_secs(2));
    let store = Store::connect(&settings)
        .await
        .unwrap_or_else(|e| panic!("cannot set up the Redis store for {url}: {e}"));
    if let Err(e) = store.ping().await {
        panic!(
            "Redis at {url} is unreachable ({e}). The Redis conformance tests need a running \
             redis-server: start one or point REDIS_URL at one."
        );
    }
    (store, ())
}

async fn no_cleanup(_: &Store) {}

/// Deletes the keys under the test's prefix (and nothing else).
async fn redis_cleanup(store: &Store) {
    let client = ::redis::Client::open(shared_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection for cleanup");
    let pattern = format!("{}*", store.key_prefix());
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        for key in keys {
            assert!(key.starts_with(store.key_prefix()));
            let _: u64 = ::redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("DEL");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// Instantiates every case for one backend.
macro_rules! conformance {
    ($backend:ident, $make:path, $cleanup:path; $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _server) = $make().await;
                    // Run the case as a task so that its keys are removed even when it fails.
                    let outcome = tokio::spawn(super::cases::$case(store.clone())).await;
                    $cleanup(&store).await;
                    if let Err(e) = outcome {
                        std::panic::resume_unwind(e.into_panic());
                    }
                }
            )*
        }
    };
}

macro_rules! all_cases {
    ($backend:ident, $make:path, $cleanup:path) => {
        conformance!($backend, $make, $cleanup;
            plain_values,
            ttl_expiry,
            expire,
            set_nx,
            mget_mset,
            json,
            compare_and_set,
            incr,
            incr_then_hmget,
            incr_then_mget,
            hashes,
            hash_increments_once,
            hash_batches,
            claims,
            claims_share_a_hash,
            claims_span_slots_and_runs,
            claims_concurrent,
            leases,
            lease_expiry,
            sorted_sets,
            zclaim_due,
            zclaim_due_concurrent,
            lists,
            sets,
            streams,
            stream_max_len,
            stream_trim_before,
            subscribe_appends,
            wrong_type,
            prefix_isolation,
        );
    };
}

all_cases!(memory, super::memory_store, super::no_cleanup);
all_cases!(redis, super::redis_store, super::redis_cleanup);
all_cases!(cluster_node, super::cluster_node_store, super::no_cleanup);
// The engines are this binary's own and die with it: nothing to clean.
all_cases!(cluster, super::cluster_store, super::no_cleanup);
all_cases!(sentinel, super::sentinel_store, super::no_cleanup);

fn is_corrupt<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Corrupt(_)))
}

mod cases {
    use std::collections::HashSet;
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use store::{Field, Store, StoreError, StreamId};

    use super::is_corrupt;

    const SHORT: Duration = Duration::from_millis(200);
    /// Longer than SHORT plus Redis' expiry granularity and scheduling noise.
    const PAST_SHORT: Duration = Duration::from_millis(350);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    pub async fn plain_values(s: Store) {
        assert_eq!(s.get("k").await.unwrap(), None);
        s.set("k", b"v1", None).await.unwrap();
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
        s.set("k", &[0, 159, 255, b'\n'], None).await.unwrap();
        assert_eq!(s.get("k").await.unwrap(), Some(vec![0, 159, 255, b'\n']));
        s.set("empty", b"", None).await.unwrap();
        assert_eq!(s.get("empty").await.unwrap(), Some(vec![]));
        assert!(s.delete("k").await.unwrap());
        assert!(!s.delete("k").await.unwrap());
        assert_eq!(s.get("k").await.unwrap(), None);
        s.ping().await.unwrap();
    }

    pub async fn ttl_expiry(s: Store) {
        assert_eq!(s.ttl("missing").await.unwrap(), None);
        s.set("short", b"x", Some(SHORT)).await.unwrap();
        s.set("forever", b"x", None).await.unwrap();
        let left = s.ttl("short").await.unwrap().expect("has a ttl");
        assert!(left > Duration::ZERO && left <= SHORT, "{left:?}");
        assert_eq!(s.ttl("forever").await.unwrap(), None);
        assert_eq!(s.get("short").await.unwrap().as_deref(), Some(&b"x"[..]));

        // Overwriting without a TTL makes the key persistent again.
        s.set("cleared", b"x", Some(SHORT)).await.unwrap();
        s.set("cleared", b"y", None).await.unwrap();
        assert_eq!(s.ttl("cleared").await.unwrap(), None);

        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(s.get("short").await.unwrap(), None);
        assert_eq!(s.ttl("short").await.unwrap(), None);
        assert!(!s.delete("short").await.unwrap());
        assert_eq!(s.get("forever").await.unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(s.get("cleared").await.unwrap().as_deref(), Some(&b"y"[..]));
    }

    pub async fn expire(s: Store) {
        assert!(!s.expire("missing", SHORT).await.unwrap());
        s.set("k", b"v", None).await.unwrap();
        assert!(s.expire("k", SHORT).await.unwrap());
        assert!(s.ttl("k").await.unwrap().is_some());
        s.hset("h", &[("f".into(), b"1".to_vec())]).await.unwrap();
        assert!(s.expire("h", SHORT).await.unwrap());
        s.set("long", b"v", None).await.unwrap();
        assert!(s.expire("long", Duration::from_secs(60)).await.unwrap());
        let left = s.ttl("long").await.unwrap().expect("ttl");
        assert!(
            left > Duration::from_secs(58) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(s.get("k").await.unwrap(), None);
        assert!(s.hgetall("h").await.unwrap().is_empty());
        assert!(s.get("long").await.unwrap().is_some());
    }

    pub async fn set_nx(s: Store) {
        assert!(s.set_nx("k", b"first", Some(SHORT)).await.unwrap());
        assert!(!s.set_nx("k", b"second", None).await.unwrap());
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"first"[..]));
        assert!(s.ttl("k").await.unwrap().is_some());
        tokio::time::sleep(PAST_SHORT).await;
        assert!(s.set_nx("k", b"third", None).await.unwrap());
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"third"[..]));
        assert_eq!(s.ttl("k").await.unwrap(), None);
    }

    pub async fn mget_mset(s: Store) {
        assert!(s.mget(&[]).await.unwrap().is_empty());
        s.mset(&[], None).await.unwrap();
        s.mset(
            &[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())],
            None,
        )
        .await
        .unwrap();
        let got = s
            .mget(&["b".into(), "missing".into(), "a".into()])
            .await
            .unwrap();
        assert_eq!(got, vec![Some(b"2".to_vec()), None, Some(b"1".to_vec())]);
        assert_eq!(s.ttl("a").await.unwrap(), None);

        // Large batch (chunked on Redis), with a TTL.
        let entries: Vec<(String, Vec<u8>)> = (0..1234)
            .map(|i| (format!("bulk:{i}"), i.to_string().into_bytes()))
            .collect();
        s.mset(&entries, Some(Duration::from_secs(30)))
            .await
            .unwrap();
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let got = s.mget(&keys).await.unwrap();
        assert_eq!(got.len(), entries.len());
        for ((_, v), g) in entries.iter().zip(&got) {
            assert_eq!(g.as_ref(), Some(v));
        }
        assert!(s.ttl("bulk:1233").await.unwrap().is_some());

        // Keys of a few hash slots interleaved, one slot with more keys than one command takes:
        // values come back in the order asked.
        let entries: Vec<(String, Vec<u8>)> = (0..1500)
            .map(|i| {
                let key = match i % 3 {
                    0 => format!("{{tag:a}}:{i}"),
                    1 => format!("{{tag:b}}:{i}"),
                    _ => format!("free:{i}"),
                };
                (key, i.to_string().into_bytes())
            })
            .collect();
        s.mset(&entries, None).await.unwrap();
        let mut keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        keys.push("{tag:a}:missing".to_owned());
        let got = s.mget(&keys).await.unwrap();
        assert_eq!(got.len(), keys.len());
        assert_eq!(got.last(), Some(&None));
        for ((_, v), g) in entries.iter().zip(&got) {
            assert_eq!(g.as_ref(), Some(v));
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Job {
        id: u32,
        name: String,
        tags: Vec<String>,
    }

    pub async fn json(s: Store) {
        let job = Job {
            id: 7,
            name: "broadcast".into(),
            tags: vec!["a".into(), "ü".into()],
        };
        assert_eq!(s.get_json::<Job>("job").await.unwrap(), None);
        s.set_json("job", &job, Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(s.get_json::<Job>("job").await.unwrap(), Some(job));
        assert!(s.ttl("job").await.unwrap().is_some());
        s.set("bad", b"{not json", None).await.unwrap();
        assert!(is_corrupt(s.get_json::<Job>("bad").await));
        s.set_json("num", &5u8, None).await.unwrap();
        assert!(is_corrupt(s.get_json::<Job>("num").await));
    }

    pub async fn compare_and_set(s: Store) {
        assert!(
            !s.compare_and_set("k", Some(b"x"), b"y", None)
                .await
                .unwrap()
        );
        assert_eq!(s.get("k").await.unwrap(), None);
        assert!(s.compare_and_set("k", None, b"queued", None).await.unwrap());
        assert!(!s.compare_and_set("k", None, b"other", None).await.unwrap());
        assert!(
            !s.compare_and_set("k", Some(b"running"), b"done", None)
                .await
                .unwrap()
        );
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"queued"[..]));
        assert!(
            s.compare_and_set(
                "k",
                Some(b"queued"),
                b"running",
                Some(Duration::from_secs(30))
            )
            .await
            .unwrap()
        );
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"running"[..]));
        assert!(s.ttl("k").await.unwrap().is_some());
        // A value that is a prefix of the expected one does not match.
        assert!(
            !s.compare_and_set("k", Some(b"run"), b"x", None)
                .await
                .unwrap()
        );
        // Binary values and the empty value.
        assert!(
            s.compare_and_set("k", Some(b"running"), &[0, 255], None)
                .await
                .unwrap()
        );
        assert_eq!(s.ttl("k").await.unwrap(), None);
        assert!(
            s.compare_and_set("k", Some(&[0, 255]), b"", None)
                .await
                .unwrap()
        );
        assert!(
            s.compare_and_set("k", Some(b""), b"end", None)
                .await
                .unwrap()
        );
        assert!(
            !s.compare_and_set("k", Some(b""), b"again", None)
                .await
                .unwrap()
        );
    }

    pub async fn incr(s: Store) {
        assert_eq!(
            s.incr("c", 1, Some(Duration::from_secs(10))).await.unwrap(),
            1
        );
        let first_ttl = s.ttl("c").await.unwrap().expect("ttl set on creation");
        tokio::time::sleep(ms(20)).await;
        // Later increments neither reset nor extend the window.
        assert_eq!(
            s.incr("c", 5, Some(Duration::from_secs(100)))
                .await
                .unwrap(),
            6
        );
        let ttl = s.ttl("c").await.unwrap().expect("ttl kept");
        assert!(ttl <= first_ttl, "{ttl:?} > {first_ttl:?}");
        assert_eq!(s.incr("c", -10, None).await.unwrap(), -4);
        assert_eq!(s.get("c").await.unwrap().as_deref(), Some(&b"-4"[..]));

        // Without a TTL the counter is persistent; a TTL is added later if missing.
        assert_eq!(s.incr("p", 2, None).await.unwrap(), 2);
        assert_eq!(s.ttl("p").await.unwrap(), None);
        assert_eq!(
            s.incr("p", 1, Some(Duration::from_secs(10))).await.unwrap(),
            3
        );
        assert!(s.ttl("p").await.unwrap().is_some());

        // Fixed window: after expiry the count starts again.
        assert_eq!(s.incr("w", 1, Some(SHORT)).await.unwrap(), 1);
        assert_eq!(s.incr("w", 1, Some(SHORT)).await.unwrap(), 2);
        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(s.incr("w", 1, Some(SHORT)).await.unwrap(), 1);

        s.set("text", b"abc", None).await.unwrap();
        assert!(is_corrupt(s.incr("text", 1, None).await));
        s.set("big", i64::MAX.to_string().as_bytes(), None)
            .await
            .unwrap();
        assert!(is_corrupt(s.incr("big", 1, None).await));
        assert_eq!(
            s.get("big").await.unwrap().as_deref(),
            Some(i64::MAX.to_string().as_bytes())
        );
    }

    pub async fn incr_then_hmget(s: Store) {
        let fields = ["a".to_owned(), "b".to_owned()];
        let window = Some(Duration::from_secs(10));
        // An absent hash reads as absent fields; the counter starts with its TTL, like `incr`.
        let (count, row) = s
            .incr_then_hmget("c", 1, window, "h", &fields)
            .await
            .unwrap();
        assert_eq!((count, row), (1, vec![None, None]));
        let first_ttl = s.ttl("c").await.unwrap().expect("ttl set on creation");
        s.hset("h", &[("b".to_owned(), b"2".to_vec())])
            .await
            .unwrap();
        let (count, row) = s
            .incr_then_hmget("c", 2, Some(Duration::from_secs(100)), "h", &fields)
            .await
            .unwrap();
        assert_eq!((count, row), (3, vec![None, Some(b"2".to_vec())]));
        let ttl = s.ttl("c").await.unwrap().expect("ttl kept");
        assert!(ttl <= first_ttl, "{ttl:?} > {first_ttl:?}");
        assert_eq!(s.get("c").await.unwrap().as_deref(), Some(&b"3"[..]));
        // No fields: only the count.
        let (count, row) = s.incr_then_hmget("c", 1, window, "h", &[]).await.unwrap();
        assert_eq!((count, row), (4, Vec::new()));

        s.set("text", b"abc", None).await.unwrap();
        assert!(is_corrupt(
            s.incr_then_hmget("text", 1, window, "h", &fields).await
        ));
        assert!(is_corrupt(
            s.incr_then_hmget("c", 1, window, "text", &fields).await
        ));
    }

    pub async fn incr_then_mget(s: Store) {
        let window = Some(Duration::from_secs(10));
        // Absent keys read as absent; the counter starts with its TTL, like `incr`.
        let keys = ["a".to_owned(), "b".to_owned()];
        let (count, values) = s.incr_then_mget("c", 1, window, &keys).await.unwrap();
        assert_eq!((count, values), (1, vec![None, None]));
        assert!(s.ttl("c").await.unwrap().is_some(), "ttl set on creation");
        // Keys on several slots, in the order asked; a hash is not a plain value.
        s.set("b", b"2", None).await.unwrap();
        s.set("d", b"4", None).await.unwrap();
        s.hset("h", &[("f".to_owned(), b"x".to_vec())])
            .await
            .unwrap();
        let keys = ["d", "a", "h", "b"].map(str::to_owned);
        let (count, values) = s.incr_then_mget("c", 2, window, &keys).await.unwrap();
        let expected = vec![Some(b"4".to_vec()), None, None, Some(b"2".to_vec())];
        assert_eq!((count, values), (3, expected));
        assert_eq!(s.get("c").await.unwrap().as_deref(), Some(&b"3"[..]));
        // No keys: only the count.
        let (count, values) = s.incr_then_mget("c", 1, window, &[]).await.unwrap();
        assert_eq!((count, values), (4, Vec::new()));

        s.set("text", b"abc", None).await.unwrap();
        assert!(is_corrupt(s.incr_then_mget("text", 1, window, &keys).await));
    }

    pub async fn hashes(s: Store) {
        assert!(s.hgetall("h").await.unwrap().is_empty());
        assert_eq!(s.hincr("h", "sent", 3).await.unwrap(), 3);
        assert_eq!(s.hincr("h", "sent", 2).await.unwrap(), 5);
        assert_eq!(s.hincr("h", "failed", -1).await.unwrap(), -1);
        s.hset("h", &[]).await.unwrap();
        s.hset(
            "h",
            &[
                ("status".into(), b"running".to_vec()),
                ("bin".into(), vec![0, 255]),
            ],
        )
        .await
        .unwrap();
        s.hset("h", &[("status".into(), b"done".to_vec())])
            .await
            .unwrap();
        assert_eq!(
            s.hgetall("h").await.unwrap(),
            vec![
                ("bin".to_owned(), vec![0, 255]),
                ("failed".to_owned(), b"-1".to_vec()),
                ("sent".to_owned(), b"5".to_vec()),
                ("status".to_owned(), b"done".to_vec()),
            ]
        );
        assert!(is_corrupt(s.hincr("h", "status", 1).await));
        s.hincr_many("counts", &[]).await.unwrap();
        s.hincr_many("counts", &[("a", 2), ("b", 1)]).await.unwrap();
        s.hincr_many("counts", &[("a", 1), ("c", -4)])
            .await
            .unwrap();
        assert_eq!(
            s.hgetall("counts").await.unwrap(),
            vec![
                ("a".to_owned(), b"3".to_vec()),
                ("b".to_owned(), b"1".to_vec()),
                ("c".to_owned(), b"-4".to_vec()),
            ]
        );
        assert!(is_corrupt(s.hincr_many("h", &[("status", 1)]).await));
        // hset/hincr keep the key's TTL.
        assert!(s.expire("h", Duration::from_secs(30)).await.unwrap());
        s.hset("h", &[("x".into(), b"1".to_vec())]).await.unwrap();
        s.hincr("h", "sent", 1).await.unwrap();
        assert!(s.ttl("h").await.unwrap().is_some());
        assert!(s.delete("h").await.unwrap());
        assert!(s.hgetall("h").await.unwrap().is_empty());
    }

    pub async fn hash_increments_once(s: Store) {
        use store::Once;
        // Applied once per marker; a repeat reports what the first added and adds nothing.
        assert_eq!(
            s.hincr_once("u", "committed", 5, None, "once:a")
                .await
                .unwrap(),
            Once::Applied(5)
        );
        assert_eq!(
            s.hincr_once("u", "committed", 7, None, "once:a")
                .await
                .unwrap(),
            Once::Repeated(5)
        );
        assert_eq!(
            s.hincr_once("u", "committed", -2, None, "once:b")
                .await
                .unwrap(),
            Once::Applied(3)
        );
        // The cap refuses what would exceed it, without remembering the marker.
        assert_eq!(
            s.hincr_once("u", "committed", 8, Some(10), "once:c")
                .await
                .unwrap(),
            Once::Refused(3)
        );
        assert_eq!(
            s.hincr_once("u", "committed", 7, Some(10), "once:c")
                .await
                .unwrap(),
            Once::Applied(10)
        );
        assert_eq!(
            s.hincr_once("u", "committed", 1, Some(10), "once:c")
                .await
                .unwrap(),
            Once::Repeated(7)
        );
        // A refusal on a new hash leaves no key behind.
        assert_eq!(
            s.hincr_once("fresh", "n", 2, Some(1), "once:x")
                .await
                .unwrap(),
            Once::Refused(0)
        );
        assert!(s.hgetall("fresh").await.unwrap().is_empty());
        assert_eq!(
            s.hincr_once("u", "other", 1, None, "once:d").await.unwrap(),
            Once::Applied(1)
        );
        let fields = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            s.hdel("u", &fields(&["once:a", "once:b", "once:missing"]))
                .await
                .unwrap(),
            2
        );
        assert_eq!(s.hdel("absent", &fields(&["f"])).await.unwrap(), 0);
        assert_eq!(
            s.hgetall("u").await.unwrap(),
            vec![
                ("committed".to_owned(), b"10".to_vec()),
                ("once:c".to_owned(), b"7".to_vec()),
                ("once:d".to_owned(), b"1".to_vec()),
                ("other".to_owned(), b"1".to_vec()),
            ]
        );
        // After its marker is gone, the same marker adds again.
        assert_eq!(
            s.hincr_once("u", "committed", -1, None, "once:a")
                .await
                .unwrap(),
            Once::Applied(9)
        );
        // Capped alone: no marker written, a refusal changes nothing.
        assert_eq!(s.hincr_capped("c", "n", 6, 10).await.unwrap(), Ok(6));
        assert_eq!(s.hincr_capped("c", "n", 6, 10).await.unwrap(), Err(6));
        assert_eq!(s.hincr_capped("c", "n", 4, 10).await.unwrap(), Ok(10));
        assert_eq!(
            s.hgetall("c").await.unwrap(),
            vec![("n".to_owned(), b"10".to_vec())]
        );
        assert!(s.hincr_once("c", "n", 1, None, "").await.is_err());
        s.set("text", b"abc", None).await.unwrap();
        assert!(s.hincr_once("text", "n", 1, None, "once:e").await.is_err());
        assert!(s.hdel("text", &fields(&["n"])).await.is_err());
    }

    pub async fn leases(s: Store) {
        let ttl = Duration::from_secs(30);
        assert_eq!(s.lease_owner("l").await.unwrap(), None);
        assert!(s.lease_acquire("l", "a", ttl).await.unwrap());
        assert!(!s.lease_acquire("l", "b", ttl).await.unwrap());
        // Re-acquiring by the holder succeeds (retry-safe).
        assert!(s.lease_acquire("l", "a", ttl).await.unwrap());
        assert_eq!(s.lease_owner("l").await.unwrap().as_deref(), Some("a"));

        assert!(!s.lease_renew("l", "b", ttl).await.unwrap());
        assert!(s.lease_renew("l", "a", ttl).await.unwrap());
        assert!(!s.lease_renew("free", "a", ttl).await.unwrap());

        assert!(!s.lease_release("l", "b").await.unwrap());
        assert_eq!(s.lease_owner("l").await.unwrap().as_deref(), Some("a"));
        assert!(s.lease_release("l", "a").await.unwrap());
        assert!(!s.lease_release("l", "a").await.unwrap());
        assert_eq!(s.lease_owner("l").await.unwrap(), None);
        assert!(s.lease_acquire("l", "b", ttl).await.unwrap());
        assert_eq!(s.lease_owner("l").await.unwrap().as_deref(), Some("b"));
        let left = s.ttl("l").await.unwrap().expect("lease has a ttl");
        assert!(left > Duration::from_secs(28), "{left:?}");
    }

    pub async fn lease_expiry(s: Store) {
        assert!(s.lease_acquire("l", "a", SHORT).await.unwrap());
        assert!(s.lease_acquire("r", "a", SHORT).await.unwrap());
        tokio::time::sleep(ms(120)).await;
        // Renewing in time keeps the lease past its first deadline.
        assert!(
            s.lease_renew("r", "a", Duration::from_secs(30))
                .await
                .unwrap()
        );
        tokio::time::sleep(ms(230)).await;
        assert_eq!(s.lease_owner("l").await.unwrap(), None);
        assert!(!s.lease_renew("l", "a", SHORT).await.unwrap());
        assert!(s.lease_acquire("l", "b", SHORT).await.unwrap());
        assert!(!s.lease_release("l", "a").await.unwrap());
        assert_eq!(s.lease_owner("l").await.unwrap().as_deref(), Some("b"));
        assert_eq!(s.lease_owner("r").await.unwrap().as_deref(), Some("a"));
        assert!(!s.lease_acquire("r", "b", SHORT).await.unwrap());
    }

    pub async fn sorted_sets(s: Store) {
        let inf = f64::INFINITY;
        assert_eq!(s.zcard("z").await.unwrap(), 0);
        assert!(
            s.zrange_by_score("z", -inf, inf, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        s.zadd("z", "c", 3.0).await.unwrap();
        s.zadd("z", "a", 1.0).await.unwrap();
        s.zadd("z", "b2", 2.0).await.unwrap();
        s.zadd("z", "b1", 2.0).await.unwrap();
        s.zadd("z", "neg", -5.5).await.unwrap();
        let precise = 1_732_240_000.123_456_7;
        s.zadd("z", "t", precise).await.unwrap();
        s.zadd("z", "c", 2.5).await.unwrap(); // update
        assert_eq!(s.zcard("z").await.unwrap(), 6);
        assert_eq!(s.zcount("z", -inf, 2.0).await.unwrap(), 4);
        assert_eq!(s.zcount("z", 2.0, 2.5).await.unwrap(), 3);
        assert_eq!(s.zcount("z", 3.0, 2.0).await.unwrap(), 0);
        assert_eq!(s.zcount("nothing", -inf, inf).await.unwrap(), 0);

        let all = s.zrange_by_score("z", -inf, inf, 0, 100).await.unwrap();
        assert_eq!(
            all,
            vec![
                ("neg".to_owned(), -5.5),
                ("a".to_owned(), 1.0),
                ("b1".to_owned(), 2.0),
                ("b2".to_owned(), 2.0),
                ("c".to_owned(), 2.5),
                ("t".to_owned(), precise),
            ]
        );
        // Inclusive bounds, offset and limit.
        let mid = s.zrange_by_score("z", 1.0, 2.5, 1, 2).await.unwrap();
        assert_eq!(mid, vec![("b1".to_owned(), 2.0), ("b2".to_owned(), 2.0)]);
        assert!(
            s.zrange_by_score("z", 1.0, 2.5, 0, 0)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.zrange_by_score("z", 3.0, 1.0, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.zrange_by_score("z", 1.0, 2.5, 10, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.zrange_by_score("z", 2.6, inf, 0, 10).await.unwrap().len(),
            1
        );

        assert!(s.zrem("z", "a").await.unwrap());
        assert!(!s.zrem("z", "a").await.unwrap());
        assert!(!s.zrem("nothing", "a").await.unwrap());
        assert_eq!(s.zcard("z").await.unwrap(), 5);
        assert!(is_corrupt(s.zadd("z", "nan", f64::NAN).await));
        s.zadd("z", "inf", inf).await.unwrap();
        assert_eq!(
            s.zrange_by_score("z", 1e300, inf, 0, 10).await.unwrap(),
            vec![("inf".to_owned(), inf)]
        );
        for m in ["neg", "b1", "b2", "c", "t", "inf"] {
            assert!(s.zrem("z", m).await.unwrap());
        }
        assert_eq!(s.zcard("z").await.unwrap(), 0);
    }

    pub async fn zclaim_due(s: Store) {
        for (m, sc) in [("a", 1.0), ("b", 2.0), ("c", 3.0), ("later", 10.0)] {
            s.zadd("q", m, sc).await.unwrap();
        }
        assert!(s.zclaim_due("q", 5.0, 100.0, 0).await.unwrap().is_empty());
        assert_eq!(
            s.zclaim_due("q", 5.0, 100.0, 2).await.unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(s.zclaim_due("q", 5.0, 100.0, 10).await.unwrap(), vec!["c"]);
        assert!(s.zclaim_due("q", 5.0, 100.0, 10).await.unwrap().is_empty());
        assert_eq!(
            s.zrange_by_score("q", 0.0, 1000.0, 0, 10).await.unwrap(),
            vec![
                ("later".to_owned(), 10.0),
                ("a".to_owned(), 105.0),
                ("b".to_owned(), 105.0),
                ("c".to_owned(), 105.0),
            ]
        );
        // Claimed members come back once their hold has passed.
        assert_eq!(
            s.zclaim_due("q", 200.0, 100.0, 10).await.unwrap(),
            vec!["later", "a", "b", "c"]
        );
        assert!(
            s.zclaim_due("missing", 5.0, 1.0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // Fractional timestamps keep their precision through the claim.
        s.zadd("f", "m", 1_732_240_000.25).await.unwrap();
        assert_eq!(
            s.zclaim_due("f", 1_732_240_000.5, 0.125, 1).await.unwrap(),
            vec!["m"]
        );
        assert_eq!(
            s.zrange_by_score("f", 0.0, f64::INFINITY, 0, 1)
                .await
                .unwrap(),
            vec![("m".to_owned(), 1_732_240_000.625)]
        );
    }

    pub async fn zclaim_due_concurrent(s: Store) {
        const MEMBERS: usize = 300;
        for i in 0..MEMBERS {
            s.zadd("q", &format!("m{i}"), i as f64).await.unwrap();
        }
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.zclaim_due("q", 1_000.0, 1_000_000.0, 7).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                    tokio::task::yield_now().await;
                }
            }));
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        for t in tasks {
            for m in t.await.unwrap() {
                total += 1;
                assert!(seen.insert(m.clone()), "{m} was claimed twice");
            }
        }
        assert_eq!(total, MEMBERS);
        assert_eq!(seen.len(), MEMBERS);
        assert_eq!(s.zcard("q").await.unwrap(), MEMBERS as u64);
    }

    pub async fn sets(s: Store) {
        let (a, b) = ("{s}:a", "{s}:b");
        let members = |m: &[&str]| -> Vec<String> { m.iter().map(|x| (*x).to_owned()).collect() };
        let sizes = |a, b, both| store::SetSizes { a, b, both };
        assert_eq!(s.set_sizes(a, b).await.unwrap(), sizes(0, 0, 0));
        assert_eq!(s.set_add(a, &[], Some(SHORT)).await.unwrap(), 0);
        assert_eq!(
            s.ttl(a).await.unwrap(),
            None,
            "adding nothing creates nothing"
        );
        assert_eq!(
            s.set_add(a, &members(&["1", "2", "3"]), None)
                .await
                .unwrap(),
            3
        );
        // Adding again changes nothing: a repeated write converges.
        assert_eq!(
            s.set_add(a, &members(&["3", "2", "4"]), None)
                .await
                .unwrap(),
            1
        );
        assert_eq!(s.set_sizes(a, b).await.unwrap(), sizes(4, 0, 0));
        assert_eq!(
            s.set_add(b, &members(&["4", "5", "1"]), None)
                .await
                .unwrap(),
            3
        );
        assert_eq!(s.set_sizes(a, b).await.unwrap(), sizes(4, 3, 2));
        assert_eq!(s.set_sizes(b, a).await.unwrap(), sizes(3, 4, 2));

        s.set_add(b, &members(&["6"]), Some(SHORT)).await.unwrap();
        let left = s.ttl(b).await.unwrap().expect("the set has a ttl");
        assert!(left <= SHORT, "{left:?}");
        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(s.set_sizes(a, b).await.unwrap(), sizes(4, 0, 0));
        assert!(s.delete(a).await.unwrap());
        assert_eq!(s.set_sizes(a, b).await.unwrap(), sizes(0, 0, 0));
    }

    pub async fn lists(s: Store) {
        assert_eq!(s.llen("l").await.unwrap(), 0);
        assert!(s.lrange("l", 0, -1).await.unwrap().is_empty());
        assert_eq!(s.rpush("l", &[]).await.unwrap(), 0);
        assert_eq!(
            s.rpush("l", &[b"a".to_vec(), b"b".to_vec()]).await.unwrap(),
            2
        );
        let items: Vec<Vec<u8>> = ["c", "d", "e"]
            .iter()
            .map(|x| x.as_bytes().to_vec())
            .collect();
        assert_eq!(s.rpush("l", &items).await.unwrap(), 5);
        assert_eq!(s.rpush("l", &[]).await.unwrap(), 5);
        let strs = |v: Vec<Vec<u8>>| -> Vec<String> {
            v.into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect()
        };
        assert_eq!(
            strs(s.lrange("l", 0, -1).await.unwrap()),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(strs(s.lrange("l", 1, 2).await.unwrap()), ["b", "c"]);
        assert_eq!(strs(s.lrange("l", -2, -1).await.unwrap()), ["d", "e"]);
        assert_eq!(strs(s.lrange("l", -100, 0).await.unwrap()), ["a"]);
        assert_eq!(strs(s.lrange("l", 3, 100).await.unwrap()), ["d", "e"]);
        assert!(s.lrange("l", 3, 2).await.unwrap().is_empty());
        assert!(s.lrange("l", 5, 10).await.unwrap().is_empty());

        s.ltrim("l", 1, -2).await.unwrap();
        assert_eq!(strs(s.lrange("l", 0, -1).await.unwrap()), ["b", "c", "d"]);
        s.ltrim("l", -2, -1).await.unwrap();
        assert_eq!(strs(s.lrange("l", 0, -1).await.unwrap()), ["c", "d"]);
        assert_eq!(s.llen("l").await.unwrap(), 2);
        // Trimming everything removes the key.
        s.ltrim("l", 5, 10).await.unwrap();
        assert_eq!(s.llen("l").await.unwrap(), 0);
        assert!(!s.delete("l").await.unwrap());
        s.ltrim("missing", 0, 1).await.unwrap();

        // Large batch (chunked on Redis), order kept.
        let many: Vec<Vec<u8>> = (0..2500).map(|i: u32| i.to_be_bytes().to_vec()).collect();
        assert_eq!(s.rpush("big", &many).await.unwrap(), 2500);
        assert_eq!(s.lrange("big", 0, -1).await.unwrap(), many);
        assert_eq!(
            s.lrange("big", 2499, 2499).await.unwrap(),
            vec![many[2499].clone()]
        );
    }

    fn id(s: &str) -> StreamId {
        s.parse().expect("stream id")
    }

    pub async fn streams(s: Store) {
        assert!(
            s.stream_read_after("st", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let mut ids = Vec::new();
        for i in 0..30u32 {
            ids.push(s.stream_append("st", &i.to_be_bytes(), 0).await.unwrap());
        }
        for pair in ids.windows(2) {
            assert!(id(&pair[0]) < id(&pair[1]), "{} !< {}", pair[0], pair[1]);
        }
        // Ids look like `ms-seq` with a plausible wall-clock ms.
        let first = id(&ids[0]);
        assert_eq!(ids[0], first.to_string());
        assert!(first.ms > 1_600_000_000_000, "{first}");

        let head = s.stream_read_after("st", None, 10).await.unwrap();
        assert_eq!(head.len(), 10);
        for (i, (eid, payload)) in head.iter().enumerate() {
            assert_eq!(eid, &ids[i]);
            assert_eq!(payload, &(i as u32).to_be_bytes());
        }
        // Exclusive of the cursor.
        let next = s.stream_read_after("st", Some(&ids[9]), 5).await.unwrap();
        let next_ids: Vec<&String> = next.iter().map(|(i, _)| i).collect();
        assert_eq!(next_ids, ids[10..15].iter().collect::<Vec<_>>());
        let rest = s
            .stream_read_after("st", Some(&ids[14]), 100)
            .await
            .unwrap();
        assert_eq!(rest.len(), 15);
        assert!(
            s.stream_read_after("st", Some(&ids[29]), 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.stream_read_after("st", Some(&ids[0]), 0)
                .await
                .unwrap()
                .is_empty()
        );
        // A cursor between entries (not an existing id) works too.
        let between = format!("{}-{}", id(&ids[29]).ms, u64::MAX);
        assert!(
            s.stream_read_after("st", Some(&between), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let bare_ms = (first.ms - 1).to_string();
        assert_eq!(
            s.stream_read_after("st", Some(&bare_ms), 100)
                .await
                .unwrap()
                .len(),
            30
        );
        assert!(is_corrupt(
            s.stream_read_after("st", Some("nope"), 10).await
        ));

        // Ids keep increasing after the stream was emptied.
        assert_eq!(s.stream_trim_before("st", u64::MAX).await.unwrap(), 30);
        assert!(
            s.stream_read_after("st", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let after_trim = s.stream_append("st", b"again", 0).await.unwrap();
        assert!(id(&after_trim) > id(&ids[29]));
    }

    pub async fn stream_max_len(s: Store) {
        const N: u32 = 250;
        const MAX: usize = 20;
        for i in 0..N {
            s.stream_append("st", &i.to_be_bytes(), MAX).await.unwrap();
        }
        let entries = s.stream_read_after("st", None, 1000).await.unwrap();
        // Redis trims approximately (whole nodes), the embedded backend exactly:
        // both keep at least the newest MAX entries and drop old ones.
        assert!(entries.len() >= MAX, "{}", entries.len());
        assert!(entries.len() < N as usize, "nothing trimmed");
        let tail: Vec<Vec<u8>> = entries[entries.len() - MAX..]
            .iter()
            .map(|(_, p)| p.clone())
            .collect();
        let expected: Vec<Vec<u8>> = (N - MAX as u32..N)
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        assert_eq!(tail, expected);
    }

    pub async fn stream_trim_before(s: Store) {
        assert_eq!(s.stream_trim_before("missing", u64::MAX).await.unwrap(), 0);
        let mut old = Vec::new();
        for i in 0..3u8 {
            old.push(s.stream_append("st", &[i], 0).await.unwrap());
        }
        tokio::time::sleep(ms(5)).await;
        let d = s.stream_append("st", b"d", 0).await.unwrap();
        let e = s.stream_append("st", b"e", 0).await.unwrap();
        let cut = id(&d).ms;
        assert!(id(&old[2]).ms < cut);
        assert_eq!(s.stream_trim_before("st", 0).await.unwrap(), 0);
        assert_eq!(s.stream_trim_before("st", cut).await.unwrap(), 3);
        assert_eq!(s.stream_trim_before("st", cut).await.unwrap(), 0);
        let left: Vec<String> = s
            .stream_read_after("st", None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(left, vec![d, e]);
    }

    pub async fn subscribe_appends(s: Store) {
        let mut rx = s.subscribe_appends();
        s.stream_append("events:1", b"x", 100).await.unwrap();
        s.stream_append("events:2", b"y", 100).await.unwrap();
        let wait = Duration::from_secs(1);
        assert_eq!(
            tokio::time::timeout(wait, rx.recv())
                .await
                .unwrap()
                .unwrap(),
            "events:1"
        );
        assert_eq!(
            tokio::time::timeout(wait, rx.recv())
                .await
                .unwrap()
                .unwrap(),
            "events:2"
        );
        // Clones share the channel.
        let mut rx2 = s.clone().subscribe_appends();
        s.clone()
            .stream_append("events:3", b"z", 100)
            .await
            .unwrap();
        assert_eq!(
            tokio::time::timeout(wait, rx2.recv())
                .await
                .unwrap()
                .unwrap(),
            "events:3"
        );
    }

    pub async fn hash_batches(s: Store) {
        let fields =
            |names: &[&str]| -> Vec<String> { names.iter().map(|f| (*f).to_owned()).collect() };
        s.hset_many(&[], None).await.unwrap();
        assert!(s.hmget_many(&[], &fields(&["a"])).await.unwrap().is_empty());
        assert_eq!(
            s.hmget_many(&["h1".into()], &[]).await.unwrap(),
            vec![Vec::<Option<Vec<u8>>>::new()]
        );
        s.hset_many(
            &[
                (
                    "h1".into(),
                    vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())],
                ),
                ("h2".into(), vec![("a".into(), vec![0, 255])]),
                ("skipped".into(), Vec::new()),
            ],
            None,
        )
        .await
        .unwrap();
        // A later write of one field keeps the others.
        s.hset_many(&[("h1".into(), vec![("a".into(), b"3".to_vec())])], None)
            .await
            .unwrap();
        let got = s
            .hmget_many(
                &["h1".into(), "missing".into(), "h2".into()],
                &fields(&["b", "a", "c"]),
            )
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![
                vec![Some(b"2".to_vec()), Some(b"3".to_vec()), None],
                vec![None, None, None],
                vec![None, Some(vec![0, 255]), None],
            ]
        );
        assert_eq!(s.ttl("h1").await.unwrap(), None);
        assert!(s.hgetall("skipped").await.unwrap().is_empty());

        // With a TTL, every written hash gets it; `None` keeps it.
        s.hset_many(
            &[("short".into(), vec![("a".into(), b"x".to_vec())])],
            Some(SHORT),
        )
        .await
        .unwrap();
        s.hset_many(&[("short".into(), vec![("b".into(), b"y".to_vec())])], None)
            .await
            .unwrap();
        assert!(s.ttl("short").await.unwrap().is_some());

        // Large batch (chunked on Redis).
        let entries: Vec<(String, Vec<Field>)> = (0..2345)
            .map(|i| {
                (
                    format!("bulk:{i}"),
                    vec![("n".into(), i.to_string().into_bytes())],
                )
            })
            .collect();
        s.hset_many(&entries, Some(Duration::from_secs(30)))
            .await
            .unwrap();
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let got = s.hmget_many(&keys, &fields(&["n"])).await.unwrap();
        assert_eq!(got.len(), entries.len());
        for ((_, fields), row) in entries.iter().zip(&got) {
            assert_eq!(row, &vec![Some(fields[0].1.clone())]);
        }
        assert!(s.ttl("bulk:2344").await.unwrap().is_some());

        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(
            s.hmget_many(&["short".into()], &fields(&["a", "b"]))
                .await
                .unwrap(),
            vec![vec![None, None]]
        );

        s.set("str", b"v", None).await.unwrap();
        assert!(is_corrupt(
            s.hmget_many(&["str".into()], &fields(&["a"])).await
        ));
        assert!(is_corrupt(
            s.hset_many(&[("str".into(), vec![("a".into(), b"x".to_vec())])], None)
                .await
        ));
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|f| (*f).to_owned()).collect()
    }

    /// Each of `hashes` with the same `fields`.
    fn claim_entries(hashes: &[String], fields: &[&str]) -> Vec<(String, Vec<String>)> {
        hashes.iter().map(|h| (h.clone(), names(fields))).collect()
    }

    fn claim_keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("claim:{i}")).collect()
    }

    pub async fn claims(s: Store) {
        let minute = Duration::from_secs(60);
        s.set("alive:a", b"", None).await.unwrap();
        s.set("alive:b", b"", None).await.unwrap();
        let keys = claim_keys(3);
        let taken = |n: usize| vec![None::<String>; n];
        assert_eq!(
            s.claim_fields(&claim_entries(&keys, &["x", "y"]), "a", "alive:", minute)
                .await
                .unwrap(),
            vec![taken(2); 3]
        );
        // A live holder keeps its fields; the free ones are taken.
        assert_eq!(
            s.claim_fields(&claim_entries(&keys, &["x", "z"]), "b", "alive:", minute)
                .await
                .unwrap(),
            vec![vec![Some("a".to_owned()), None]; 3]
        );
        // Taking again what one holds is harmless.
        assert_eq!(
            s.claim_fields(&claim_entries(&keys[..1], &["y"]), "a", "alive:", minute)
                .await
                .unwrap(),
            vec![taken(1)]
        );
        assert!(s.ttl("claim:0").await.unwrap().is_some());

        // Only the holder frees its fields.
        assert_eq!(
            s.release_fields(&claim_entries(&keys[..1], &["x", "z"]), "a")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            s.claim_fields(&claim_entries(&keys[..1], &["x"]), "b", "alive:", minute)
                .await
                .unwrap(),
            vec![taken(1)]
        );

        // Free fields are not taken over.
        assert!(
            !s.claim_fields_noting_takeovers(&claim_entries(&keys, &["w"]), "b", "alive:", minute)
                .await
                .unwrap()
                .took_over
        );

        // A holder that is gone holds nothing: its fields are taken over.
        s.delete("alive:a").await.unwrap();
        let claimed = s
            .claim_fields_noting_takeovers(
                &claim_entries(&keys, &["x", "y"]),
                "b",
                "alive:",
                minute,
            )
            .await
            .unwrap();
        assert_eq!(claimed.rows, vec![taken(2); 3]);
        assert!(claimed.took_over);
        assert!(
            !s.claim_fields_noting_takeovers(
                &claim_entries(&keys, &["x", "y"]),
                "b",
                "alive:",
                minute
            )
            .await
            .unwrap()
            .took_over,
            "its own fields are not taken over"
        );
        assert_eq!(
            s.hgetall("claim:1").await.unwrap(),
            vec![
                ("w".to_owned(), b"b".to_vec()),
                ("x".to_owned(), b"b".to_vec()),
                ("y".to_owned(), b"b".to_vec()),
                ("z".to_owned(), b"b".to_vec()),
            ]
        );
        assert_eq!(
            s.release_fields(&claim_entries(&keys, &["w", "x", "y", "z"]), "b")
                .await
                .unwrap(),
            12
        );
        assert!(s.hgetall("claim:1").await.unwrap().is_empty());
        assert!(is_corrupt(
            s.claim_fields(&claim_entries(&keys, &["x"]), "", "alive:", minute)
                .await
        ));
        // Entries without fields answer empty rows and touch nothing.
        assert_eq!(
            s.claim_fields(&claim_entries(&keys[..2], &[]), "b", "alive:", minute)
                .await
                .unwrap(),
            vec![taken(0); 2]
        );
        assert!(s.hgetall("claim:0").await.unwrap().is_empty());

        // Claims expire with their hash.
        s.claim_fields(
            &claim_entries(&names(&["short"]), &["x"]),
            "b",
            "alive:",
            SHORT,
        )
        .await
        .unwrap();
        tokio::time::sleep(PAST_SHORT).await;
        assert!(s.hgetall("short").await.unwrap().is_empty());

        // Large batch (several script runs on Redis).
        let many = claim_keys(1234);
        assert_eq!(
            s.claim_fields(&claim_entries(&many, &["x"]), "b", "alive:", minute)
                .await
                .unwrap(),
            vec![taken(1); 1234]
        );
        s.set("alive:c", b"", None).await.unwrap();
        let refused = s
            .claim_fields(&claim_entries(&many, &["x", "w"]), "c", "alive:", minute)
            .await
            .unwrap();
        assert!(
            refused
                .iter()
                .all(|row| row == &vec![Some("b".to_owned()), None])
        );
    }

    /// Many owners' claims in one hash, a field each: each holder's fields are its own.
    pub async fn claims_share_a_hash(s: Store) {
        let minute = Duration::from_secs(60);
        for holder in ["a", "b", "c"] {
            s.set(&format!("alive:{holder}"), b"", None).await.unwrap();
        }
        let bucket = |fields: &[&str]| vec![("bucket".to_owned(), names(fields))];
        assert_eq!(
            s.claim_fields(&bucket(&["1:x", "2:x"]), "a", "alive:", minute)
                .await
                .unwrap(),
            vec![vec![None, None]]
        );
        // Another holder's claims on other numbers of the bucket are not in the way.
        assert_eq!(
            s.claim_fields(&bucket(&["3:x", "2:x", "1:y"]), "b", "alive:", minute)
                .await
                .unwrap(),
            vec![vec![None, Some("a".to_owned()), None]]
        );
        // Releasing frees only one's own fields, whatever one names.
        assert_eq!(
            s.release_fields(&bucket(&["1:x", "2:x", "3:x", "1:y"]), "b")
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.hgetall("bucket").await.unwrap(),
            vec![
                ("1:x".to_owned(), b"a".to_vec()),
                ("2:x".to_owned(), b"a".to_vec()),
            ]
        );
        // A gone holder's field stays until someone claims it, and is then overwritten; a
        // live holder's neighbour keeps its own.
        s.delete("alive:a").await.unwrap();
        assert_eq!(
            s.claim_fields(&bucket(&["1:x"]), "c", "alive:", minute)
                .await
                .unwrap(),
            vec![vec![None]]
        );
        s.claim_fields(&bucket(&["3:x"]), "b", "alive:", minute)
            .await
            .unwrap();
        assert_eq!(
            s.claim_fields(&bucket(&["2:x", "3:x"]), "c", "alive:", minute)
                .await
                .unwrap(),
            vec![vec![None, Some("b".to_owned())]]
        );
        assert_eq!(
            s.hgetall("bucket").await.unwrap(),
            vec![
                ("1:x".to_owned(), b"c".to_vec()),
                ("2:x".to_owned(), b"c".to_vec()),
                ("3:x".to_owned(), b"b".to_vec()),
            ]
        );
        // The hash lives the claim TTL from the last claim into it.
        let ttl = s.ttl("bucket").await.unwrap().expect("a TTL");
        assert!(ttl > Duration::from_secs(50), "{ttl:?}");
        // Reads name each entry's own fields.
        let rows = s
            .hmget_each(&[
                ("bucket".to_owned(), names(&["3:x", "9:x"])),
                ("absent".to_owned(), names(&["1:x"])),
                ("bucket".to_owned(), names(&[])),
                ("bucket".to_owned(), names(&["1:x"])),
            ])
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Some(b"b".to_vec()), None],
                vec![None],
                vec![],
                vec![Some(b"c".to_vec())],
            ]
        );
    }

    /// Hashes in many hash slots, one hash with more fields than a script run takes, and a
    /// hash named twice: every field is answered in its place.
    pub async fn claims_span_slots_and_runs(s: Store) {
        let minute = Duration::from_secs(60);
        s.set("alive:a", b"", None).await.unwrap();
        s.set("alive:b", b"", None).await.unwrap();
        let spread: Vec<String> = (0..200).map(|i| format!("{{claims:{i}}}:b")).collect();
        let mut entries = claim_entries(&spread, &["x", "y"]);
        let big: Vec<String> = (0..9_000).map(|i| format!("{i}:x")).collect();
        entries.push(("{claims:0}:big".to_owned(), big.clone()));
        entries.push(("{claims:7}:b".to_owned(), names(&["z"])));
        let rows = s
            .claim_fields(&entries, "a", "alive:", minute)
            .await
            .unwrap();
        assert!(rows.iter().flatten().all(Option::is_none));
        assert_eq!(rows.len(), 202);
        assert_eq!(rows[200].len(), 9_000);

        // Every third field of each hash taken by b first: a's answer names b exactly there.
        s.release_fields(&entries, "a").await.unwrap();
        let thirds: Vec<(String, Vec<String>)> = entries
            .iter()
            .map(|(k, fields)| (k.clone(), fields.iter().step_by(3).cloned().collect()))
            .collect();
        s.claim_fields(&thirds, "b", "alive:", minute)
            .await
            .unwrap();
        let rows = s
            .claim_fields(&entries, "a", "alive:", minute)
            .await
            .unwrap();
        for ((key, fields), row) in entries.iter().zip(&rows) {
            for (i, held) in row.iter().enumerate() {
                let expected = (i % 3 == 0).then(|| "b".to_owned());
                assert_eq!(held, &expected, "{key} {}", fields[i]);
            }
        }
        let b_fields = thirds.iter().map(|(_, f)| f.len() as u64).sum::<u64>();
        assert_eq!(s.release_fields(&entries, "b").await.unwrap(), b_fields);
        let total = entries.iter().map(|(_, f)| f.len() as u64).sum::<u64>();
        assert_eq!(
            s.release_fields(&entries, "a").await.unwrap(),
            total - b_fields
        );
    }

    /// Two holders claiming the same fields at once: each field goes to exactly one of them.
    pub async fn claims_concurrent(s: Store) {
        let minute = Duration::from_secs(60);
        s.set("alive:a", b"", None).await.unwrap();
        s.set("alive:b", b"", None).await.unwrap();
        let keys = claim_keys(1500);
        let entries = claim_entries(&keys, &["x", "y"]);
        let (a, b) = tokio::join!(
            s.claim_fields(&entries, "a", "alive:", minute),
            s.claim_fields(&entries, "b", "alive:", minute)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        for (row_a, row_b) in a.iter().zip(&b) {
            for (held_a, held_b) in row_a.iter().zip(row_b) {
                match (held_a, held_b) {
                    (None, Some(h)) => assert_eq!(h, "a"),
                    (Some(h), None) => assert_eq!(h, "b"),
                    other => panic!("one holder each: {other:?}"),
                }
            }
        }
    }

    pub async fn wrong_type(s: Store) {
        s.rpush("list", &[b"x".to_vec()]).await.unwrap();
        s.hset("hash", &[("f".into(), b"v".to_vec())])
            .await
            .unwrap();
        s.set("str", b"v", None).await.unwrap();
        s.zadd("zset", "m", 1.0).await.unwrap();
        s.stream_append("stream", b"p", 0).await.unwrap();

        assert!(is_corrupt(s.get("list").await));
        assert!(is_corrupt(s.get("hash").await));
        assert!(is_corrupt(
            s.compare_and_set("hash", None, b"x", None).await
        ));
        assert!(is_corrupt(s.incr("list", 1, None).await));
        assert!(is_corrupt(
            s.lease_acquire("zset", "a", Duration::from_secs(1)).await
        ));
        assert!(is_corrupt(s.hgetall("str").await));
        assert!(is_corrupt(s.hincr("str", "f", 1).await));
        assert!(is_corrupt(s.rpush("str", &[b"x".to_vec()]).await));
        assert!(is_corrupt(s.zadd("list", "m", 1.0).await));
        assert!(is_corrupt(s.zclaim_due("hash", 1.0, 1.0, 1).await));
        assert!(is_corrupt(s.stream_append("list", b"p", 0).await));
        assert!(is_corrupt(s.stream_read_after("zset", None, 1).await));
        assert!(is_corrupt(s.lrange("stream", 0, -1).await));
        assert!(is_corrupt(s.set_add("list", &["m".to_owned()], None).await));
        // mget reports non-plain keys as absent; set_nx sees them as present.
        assert_eq!(
            s.mget(&["list".into(), "str".into()]).await.unwrap(),
            vec![None, Some(b"v".to_vec())]
        );
        assert!(!s.set_nx("hash", b"x", None).await.unwrap());
        // set replaces a value of any type.
        s.set("list", b"now a string", None).await.unwrap();
        assert_eq!(
            s.get("list").await.unwrap().as_deref(),
            Some(&b"now a string"[..])
        );
        // Errors are not reported as transient.
        let Err(e) = s.get("hash").await else {
            panic!("expected an error")
        };
        assert!(!e.is_transient());
        assert!(matches!(e, StoreError::Corrupt(_)));
    }

    pub async fn prefix_isolation(s: Store) {
        let a = s.with_prefix(&format!("{}a:", s.key_prefix()));
        let b = s.with_prefix(&format!("{}b:", s.key_prefix()));
        assert_eq!(a.backend_name(), s.backend_name());
        a.set("k", b"from a", None).await.unwrap();
        b.set("k", b"from b", None).await.unwrap();
        assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"from a"[..]));
        assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"from b"[..]));
        assert_eq!(s.get("k").await.unwrap(), None);
        // The prefix is part of the stored key: the parent sees a's key under "a:k".
        assert_eq!(s.get("a:k").await.unwrap().as_deref(), Some(&b"from a"[..]));

        a.zadd("z", "m", 1.0).await.unwrap();
        assert_eq!(b.zcard("z").await.unwrap(), 0);
        a.incr("c", 5, None).await.unwrap();
        assert_eq!(b.incr("c", 1, None).await.unwrap(), 1);
        assert!(
            a.lease_acquire("l", "owner-a", Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert!(
            b.lease_acquire("l", "owner-b", Duration::from_secs(5))
                .await
                .unwrap()
        );

        let mut rx_b = b.subscribe_appends();
        let mut rx_a = a.subscribe_appends();
        a.stream_append("st", b"x", 0).await.unwrap();
        assert!(
            b.stream_read_after("st", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), rx_a.recv())
                .await
                .unwrap()
                .unwrap(),
            "st"
        );
        assert!(
            rx_b.try_recv().is_err(),
            "b must not hear about a's streams"
        );

        assert!(a.delete("k").await.unwrap());
        assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"from b"[..]));

        // Separate embedded stores never share data.
        if s.backend_name() == "embedded" {
            let other = Store::memory(s.key_prefix());
            assert_eq!(other.get("a:k").await.unwrap(), None);
        }
    }
}

/// Redis-only behaviour when the server is missing, stopped or stuck.
mod redis_failures {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(300);

    /// "Fails fast": within about twice the command timeout (plus scheduling slack).
    fn assert_fast(started: Instant, what: &str) {
        let took = started.elapsed();
        assert!(
            took <= TIMEOUT * 2 + Duration::from_millis(150),
            "{what} took {took:?}, more than ~2x the {TIMEOUT:?} command timeout"
        );
    }

    async fn connect(url: &str) -> Store {
        Store::connect(&redis_settings(url, &test_prefix(), TIMEOUT))
            .await
            .expect("connect must not fail while Redis is down")
    }

    /// Deleting a large key must not hold the server up while it frees it: the value is
    /// handed to Redis's background thread (`UNLINK`), which Redis counts in
    /// `lazyfreed_objects` once it is freed (a private server: no other client touches the count).
    #[tokio::test]
    async fn a_large_key_is_freed_in_the_background() {
        let redis = PrivateRedis::start();
        let store = connect(&redis.url()).await;
        let members: Vec<String> = (0..1_000).map(|n| n.to_string()).collect();
        assert_eq!(store.set_add("big", &members, None).await.unwrap(), 1_000);
        let client = ::redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let lazyfreed = async |conn: &mut ::redis::aio::MultiplexedConnection| -> u64 {
            let info: String = ::redis::cmd("INFO")
                .arg("memory")
                .query_async(conn)
                .await
                .unwrap();
            info.lines()
                .find_map(|l| l.strip_prefix("lazyfreed_objects:"))
                .expect("INFO memory has lazyfreed_objects")
                .trim()
                .parse()
                .unwrap()
        };
        let before = lazyfreed(&mut conn).await;
        assert!(store.delete("big").await.unwrap());
        assert!(!store.delete("big").await.unwrap(), "deleted once");
        // Counted once the background thread has freed it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while lazyfreed(&mut conn).await == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(lazyfreed(&mut conn).await, before + 1);
    }

    #[tokio::test]
    async fn stopped_server_fails_fast() {
        let mut redis = PrivateRedis::start();
        let store = connect(&redis.url()).await;
        assert_eq!(store.backend_name(), "redis");
        store.ping().await.unwrap();
        store.set("k", b"v", None).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

        redis.stop();
        for _ in 0..3 {
            let t = Instant::now();
            let err = store.ping().await.expect_err("ping must fail");
            assert_fast(t, "ping");
            assert!(err.is_transient(), "{err:?}");
            let t = Instant::now();
            let err = store.get("k").await.expect_err("get must fail");
            assert_fast(t, "get");
            assert!(err.is_transient(), "{err:?}");
        }
    }

    #[tokio::test]
    async fn hung_server_times_out_and_recovers() {
        let redis = PrivateRedis::start();
        let store = connect(&redis.url()).await;
        store.set("k", b"v", None).await.unwrap();

        redis.pause();
        let t = Instant::now();
        let err = store.ping().await.expect_err("ping must fail");
        assert_fast(t, "ping");
        assert!(matches!(err, StoreError::Timeout), "{err:?}");
        // Concurrent callers all give up in time too (the pool is not starved forever).
        let mut calls = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            calls.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = store.get("k").await;
                (t.elapsed(), r.is_err())
            }));
        }
        for c in calls {
            let (took, failed) = c.await.unwrap();
            assert!(failed);
            assert!(
                took <= TIMEOUT * 2 + Duration::from_millis(150),
                "get took {took:?}"
            );
        }

        redis.resume();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if store
                .get("k")
                .await
                .is_ok_and(|v| v.as_deref() == Some(&b"v"[..]))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "store did not recover after Redis resumed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn restarted_server_is_reconnected_and_its_scripts_reloaded() {
        let mut redis = PrivateRedis::start();
        let store = connect(&redis.url()).await;
        // Every shared connection is open before the restart.
        for _ in 0..8 {
            store
                .incr("n", 1, Some(Duration::from_secs(60)))
                .await
                .unwrap();
        }
        assert!(
            store
                .lease_acquire("lease", "me", Duration::from_secs(5))
                .await
                .unwrap()
        );

        redis.restart();
        // The first call on a dead connection fails (transient) and has every connection
        // replaced: no other call fails.
        let mut failures = 0;
        let mut value = None;
        for _ in 0..8 {
            match store.incr("n", 1, Some(Duration::from_secs(60))).await {
                Ok(v) => value = value.or(Some(v)),
                Err(e) => {
                    assert!(e.is_transient(), "{e:?}");
                    failures += 1;
                }
            }
        }
        assert!(failures <= 1, "{failures} calls failed after the restart");
        assert_eq!(value, Some(1), "a fresh server: the counter starts again");
        assert!(
            store.ttl("n").await.unwrap().is_some(),
            "the script ran and set the TTL"
        );
        assert!(
            store
                .lease_acquire("lease", "other", Duration::from_secs(5))
                .await
                .unwrap(),
            "the old lease went with the old server"
        );
        assert!(!store.lease_release("lease", "me").await.unwrap());
    }

    #[tokio::test]
    async fn a_count_with_a_read_reloads_a_forgotten_script_and_counts_once() {
        let redis = PrivateRedis::start();
        let store = connect(&redis.url()).await;
        let fields = ["f".to_owned()];
        let window = Some(Duration::from_secs(60));
        store
            .incr_then_hmget("n", 1, window, "h", &fields)
            .await
            .unwrap();
        let client = ::redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = ::redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
        let (count, row) = store
            .incr_then_hmget("n", 1, window, "h", &fields)
            .await
            .unwrap();
        assert_eq!((count, row), (2, vec![None]));
        assert!(store.ttl("n").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn down_at_start_is_not_fatal() {
        let mut redis = PrivateRedis::start();
        let url = redis.url();
        redis.stop();
        let t = Instant::now();
        let store = connect(&url).await;
        assert_fast(t, "connect");
        let t = Instant::now();
        assert!(store.ping().await.is_err());
        assert_fast(t, "ping");
    }

    #[tokio::test]
    async fn invalid_settings_are_rejected() {
        for url in [
            "http://localhost:6379",
            "not a url",
            "redis://host:99999999",
        ] {
            let r = Store::connect(&redis_settings(url, "p:", TIMEOUT)).await;
            assert!(r.is_err(), "{url} accepted");
        }
        let mut settings = redis_settings(&shared_url(), "p:", TIMEOUT);
        settings.pool_size = 0;
        assert!(Store::connect(&settings).await.is_err());
        let mut settings = redis_settings(&shared_url(), "p:", Duration::ZERO);
        settings.pool_size = 1;
        assert!(Store::connect(&settings).await.is_err());
    }

    #[tokio::test]
    async fn secrets_stay_out_of_debug_and_errors() {
        let redis = PrivateRedis::start();
        let url = format!("redis://:hunter2@127.0.0.1:{}", redis.port());
        let settings = redis_settings(&url, "p:", TIMEOUT);
        assert!(!format!("{settings:?}").contains("hunter2"));
        let store = Store::connect(&settings).await.expect("connect");
        let debug = format!("{store:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("redis"), "{debug}");
        // The private server has no password, so AUTH fails: the error must not echo it.
        let err = store
            .ping()
            .await
            .expect_err("AUTH against a password-less server");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let bad = Store::connect(&redis_settings("http://:hunter2@x", "p:", TIMEOUT))
            .await
            .expect_err("bad scheme");
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[tokio::test]
    async fn no_url_selects_the_embedded_backend() {
        let settings = StoreSettings {
            key_prefix: "p:".into(),
            ..StoreSettings::default()
        };
        assert_eq!(settings.mode, StoreMode::Standalone);
        let store = Store::connect(&settings).await.unwrap();
        assert_eq!(store.backend_name(), "embedded");
        assert_eq!(store.key_prefix(), "p:");
        store.ping().await.unwrap();
    }
}
