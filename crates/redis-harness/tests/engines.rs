//! Each engine starts, serves a SET/GET, and is gone once dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use redis::Commands;
use redis_harness::{Cluster, MASTER_NAME, Sentinel, Standalone};

fn conn(port: u16) -> redis::Connection {
    redis::Client::open(redis_harness::url(port))
        .unwrap()
        .get_connection()
        .unwrap_or_else(|e| panic!("connect to port {port}: {e}"))
}

fn answers(port: u16) -> bool {
    redis::Client::open(redis_harness::url(port))
        .unwrap()
        .get_connection_with_timeout(std::time::Duration::from_millis(300))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

#[test]
fn standalone_serves_and_goes_away() {
    let redis = Standalone::start();
    let port = redis.port();
    let mut c = conn(port);
    let () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    drop(c);
    drop(redis);
    assert!(!answers(port), "the server outlived its handle");
}

#[test]
fn cluster_serves_keys_and_fails_over() {
    let cluster = Cluster::start();
    assert_eq!(cluster.urls().len(), 6);
    let key = "{job:1}:state";
    let master = cluster.master_of(key);
    let () = conn(master).set(key, "running").unwrap();
    // Another node answers with a redirection to the master.
    let other = cluster.ports().into_iter().find(|&p| p != master).unwrap();
    let moved = conn(other)
        .get::<_, String>(key)
        .expect_err("not this node's slot");
    assert_eq!(moved.code(), Some("MOVED"), "{moved}");

    let promoted = cluster.failover_master_of(key);
    assert_ne!(promoted, master);
    assert_eq!(cluster.master_of(key), promoted);
    assert_eq!(conn(promoted).get::<_, String>(key).unwrap(), "running");

    let ports = cluster.ports();
    drop(cluster);
    assert!(
        ports.iter().all(|&p| !answers(p)),
        "a node outlived the cluster"
    );
}

#[test]
fn sentinel_set_serves_and_fails_over() {
    let set = Sentinel::start();
    assert_eq!(set.sentinel_urls().len(), 3);
    assert_eq!(set.master_name(), MASTER_NAME);
    let primary = set.primary_port();
    let () = conn(primary).set("k", "v").unwrap();

    let promoted = set.failover();
    assert_ne!(promoted, primary);
    assert_eq!(conn(promoted).get::<_, String>("k").unwrap(), "v");
    let () = conn(promoted).set("k", "after").unwrap();

    let ports = set.data_ports();
    drop(set);
    assert!(
        ports.iter().all(|&p| !answers(p)),
        "a server outlived the set"
    );
}
