//! Acknowledged writes (`replica_acks`): a write the gateway acts on outside Redis counts only
//! once the replicas hold it (`WAIT` on the connection that wrote it), on real engines: a
//! server without replicas and a sentinel set that lost a replica refuse it, a full sentinel
//! set and a 3+3 cluster (one replica per master) acknowledge it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_redis;

use std::time::Duration;

use redis_harness::{Cluster, Sentinel, Standalone};
use secrecy::SecretString;
use store::{SentinelSettings, Store, StoreError, StoreMode, StoreSettings};

use support_redis::test_prefix;

fn acked(mode: StoreMode, replicas: u32) -> StoreSettings {
    StoreSettings {
        mode,
        key_prefix: test_prefix(),
        command_timeout: Duration::from_secs(2),
        replica_acks: replicas,
        replica_ack_timeout: Duration::from_millis(200),
        ..StoreSettings::default()
    }
}

fn sentinel_settings(set: &Sentinel, replicas: u32) -> StoreSettings {
    StoreSettings {
        sentinel: SentinelSettings {
            urls: set
                .sentinel_urls()
                .into_iter()
                .map(SecretString::from)
                .collect(),
            master_name: set.master_name().to_owned(),
            ..SentinelSettings::default()
        },
        ..acked(StoreMode::Sentinel, replicas)
    }
}

fn refused_for_want_of_replicas(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    match result {
        Err(StoreError::Unavailable(why)) => assert!(
            why.contains("replicas"),
            "{what}: the error says what was missing: {why}"
        ),
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

/// Both kinds of acknowledged write succeed and the value is there afterwards; a
/// compare-and-set whose expectation fails writes nothing and waits for nothing.
async fn acknowledged(store: &Store, key: &str, what: &str) {
    store
        .set_acked(key, b"one", Some(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("{what}: set_acked: {e}"));
    assert!(
        store
            .compare_and_set_acked(key, Some(b"one"), b"two", Some(Duration::from_secs(60)))
            .await
            .unwrap_or_else(|e| panic!("{what}: compare_and_set_acked: {e}")),
        "{what}: the expected value was there"
    );
    assert!(
        !store
            .compare_and_set_acked(key, Some(b"one"), b"three", None)
            .await
            .unwrap_or_else(|e| panic!("{what}: a failed compare: {e}")),
        "{what}: the value had changed"
    );
    assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&b"two"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_replicas_refuses_acknowledged_writes_only() {
    let server = Standalone::start();
    let settings = StoreSettings {
        redis_url: Some(SecretString::from(server.url())),
        ..acked(StoreMode::Standalone, 1)
    };
    let store = Store::connect(&settings).await.expect("connect");
    refused_for_want_of_replicas(store.set_acked("mark", b"1", None).await, "set_acked");
    refused_for_want_of_replicas(
        store.compare_and_set_acked("cas", None, b"1", None).await,
        "compare_and_set_acked",
    );
    store
        .set("plain", b"1", None)
        .await
        .expect("plain writes do not wait");

    let unacked = Store::connect(&StoreSettings {
        replica_acks: 0,
        ..settings
    })
    .await
    .expect("connect");
    acknowledged(&unacked, "mark", "replica_acks = 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_set_acknowledges_until_it_lacks_a_replica() {
    let set = Sentinel::start();
    let store = Store::connect(&sentinel_settings(&set, 2))
        .await
        .expect("connect");
    acknowledged(&store, "mark", "both replicas up").await;

    let primary = set.primary_port();
    let replica = set
        .data_ports()
        .into_iter()
        .find(|&p| p != primary)
        .expect("a replica");
    let stopped = std::process::Command::new("redis-cli")
        .args(["-p", &replica.to_string(), "shutdown", "nosave"])
        .output()
        .expect("redis-cli runs");
    // redis-cli reports the connection the server closed as it went down.
    assert!(
        stopped.status.success() || !stopped.stderr.is_empty(),
        "{stopped:?}"
    );
    refused_for_want_of_replicas(
        store.set_acked("mark", b"after", None).await,
        "one replica of two down",
    );
    refused_for_want_of_replicas(
        store
            .compare_and_set_acked("mark", Some(b"after"), b"again", None)
            .await,
        "one replica of two down",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_acknowledges_on_the_master_of_each_key() {
    let cluster = Cluster::start();
    let settings = StoreSettings {
        cluster_urls: cluster.urls().into_iter().map(SecretString::from).collect(),
        ..acked(StoreMode::Cluster, 1)
    };
    let store = Store::connect(&settings).await.expect("connect");
    // Keys of different slots, so different masters answer for them.
    for key in ["{a}mark", "{b}mark", "{c}mark"] {
        acknowledged(&store, key, key).await;
    }
}
