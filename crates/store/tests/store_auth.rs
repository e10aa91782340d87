//! The Redis store logs in with an ACL user in every mode (standalone, cluster, sentinel),
//! against real engines whose only user is that one (`default` is off, crates/redis-harness),
//! and a wrong password fails with a clear, password-free `StoreError` instead of hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_redis;

use std::time::Duration;

use redis_harness::{Acl, Cluster, Sentinel, Standalone};
use secrecy::SecretString;
use store::{SentinelSettings, Store, StoreError, StoreMode, StoreSettings};

use support_redis::{exercise, test_prefix};

const USER: &str = "gw";
const PASSWORD: &str = "s3cret-acl-pass";
const WRONG_PASSWORD: &str = "not-the-pass-7f3a";

fn acl() -> Acl {
    Acl::new(USER, PASSWORD)
}

fn base_settings(mode: StoreMode) -> StoreSettings {
    StoreSettings {
        mode,
        key_prefix: test_prefix(),
        command_timeout: Duration::from_secs(2),
        ..StoreSettings::default()
    }
}

fn standalone_settings(port: u16, password: &str) -> StoreSettings {
    StoreSettings {
        redis_url: Some(SecretString::from(Acl::new(USER, password).url(port))),
        ..base_settings(StoreMode::Standalone)
    }
}

fn cluster_settings(ports: &[u16], password: &str) -> StoreSettings {
    let login = Acl::new(USER, password);
    StoreSettings {
        cluster_urls: ports
            .iter()
            .map(|&p| SecretString::from(login.url(p)))
            .collect(),
        ..base_settings(StoreMode::Cluster)
    }
}

fn sentinel_settings(set: &Sentinel, password: &str) -> StoreSettings {
    StoreSettings {
        sentinel: SentinelSettings {
            urls: set
                .sentinel_urls()
                .into_iter()
                .map(SecretString::from)
                .collect(),
            master_name: set.master_name().to_owned(),
            primary_username: Some(USER.to_owned()),
            primary_password: Some(SecretString::from(password.to_owned())),
        },
        ..base_settings(StoreMode::Sentinel)
    }
}

/// A wrong password: `ping` (what readiness calls) returns an error, which says the login was
/// refused and does not quote the password; nothing hangs past the command timeout.
async fn refuses_wrong_password(settings: &StoreSettings, what: &str) {
    let store = Store::connect(settings)
        .await
        .unwrap_or_else(|e| panic!("{what}: settings are valid, start-up must not fail: {e}"));
    let error = store
        .ping()
        .await
        .expect_err("a wrong password must not log in");
    let text = error.to_string();
    assert!(
        matches!(error, StoreError::Unavailable(_)),
        "{what}: a refused login is `Unavailable` (readiness reports it), got {error:?}"
    );
    assert!(
        text.contains("login refused"),
        "{what}: the error says the login was refused: {text}"
    );
    assert!(
        !text.contains(WRONG_PASSWORD) && !text.contains(PASSWORD),
        "{what}: the error quotes a password: {text}"
    );
    let set = store.set("plain", b"v", None).await;
    assert!(set.is_err(), "{what}: a command must fail too, got {set:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_acl_user() {
    let redis = tokio::task::block_in_place(|| Standalone::start_with_acl(Some(&acl())));
    exercise(&standalone_settings(redis.port(), PASSWORD), "standalone").await;
    refuses_wrong_password(
        &standalone_settings(redis.port(), WRONG_PASSWORD),
        "standalone",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_without_credentials_is_refused() {
    let redis = tokio::task::block_in_place(|| Standalone::start_with_acl(Some(&acl())));
    let settings = StoreSettings {
        redis_url: Some(SecretString::from(redis.url())),
        ..base_settings(StoreMode::Standalone)
    };
    let store = Store::connect(&settings).await.unwrap();
    let error = store
        .ping()
        .await
        .expect_err("`default` is off: no login, no access");
    assert!(
        matches!(error, StoreError::Unavailable(_)) && error.to_string().contains("NOAUTH"),
        "got {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_acl_user() {
    let cluster = tokio::task::block_in_place(|| Cluster::start_with_acl(Some(&acl())));
    exercise(&cluster_settings(&cluster.ports(), PASSWORD), "cluster").await;
    refuses_wrong_password(
        &cluster_settings(&cluster.ports(), WRONG_PASSWORD),
        "cluster",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_acl_user() {
    let set = tokio::task::block_in_place(|| Sentinel::start_with_acl(Some(&acl())));
    exercise(&sentinel_settings(&set, PASSWORD), "sentinel").await;
    refuses_wrong_password(&sentinel_settings(&set, WRONG_PASSWORD), "sentinel").await;
}
