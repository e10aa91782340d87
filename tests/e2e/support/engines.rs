//! Private Redis engines for the suites that run on something other than the shared standalone
//! server: one 3+3 cluster per test binary, shared by every test on it (each test keeps its own
//! key prefix), and sentinel sets started per test (a failover changes the set for good).

use std::sync::OnceLock;

use redis_harness::{Cluster, Sentinel};
use serde_json::{Value, json};

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The cluster shared by this test binary, started by the first test that asks for it and
/// stopped when the binary exits (the harness's watchdog).
pub fn shared_cluster() -> &'static Cluster {
    CLUSTER.get_or_init(Cluster::start)
}

/// Store overrides that put an app on `cluster` instead of the standalone server; merge them
/// into a suite's configuration with [`on_cluster`].
pub fn cluster_store(cluster: &Cluster) -> Value {
    json!({"store": {"mode": "cluster", "redis_url": null, "cluster": {"urls": cluster.urls()}}})
}

/// Store overrides that put an app behind the sentinels of `set`.
pub fn sentinel_store(set: &Sentinel) -> Value {
    json!({"store": {
        "mode": "sentinel",
        "redis_url": null,
        "sentinel": {"urls": set.sentinel_urls(), "master_name": set.master_name()}
    }})
}

/// A suite's configuration (e.g. `number_checks::config(..)`), targeted at the shared cluster.
pub fn on_cluster(config: Value) -> Value {
    with_store(config, cluster_store(shared_cluster()))
}

/// `config` with the `store` overrides added; their `null`s are kept, so that `test_settings`
/// removes the standalone URL.
pub fn with_store(mut config: Value, store: Value) -> Value {
    let (Some(target), Value::Object(store)) = (config.as_object_mut(), store) else {
        panic!("a suite's configuration and the store overrides are objects");
    };
    for (key, value) in store {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(value)) => existing.extend(value),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
    config
}
