//! The Redis store over TLS (`rediss://`), against real engines serving TLS with a throw-away
//! CA (crates/redis-harness, made with `openssl` at test time) that the store trusts through
//! `tls_ca_file`: standalone and cluster (nodes talking TLS to each other), also with an ACL
//! user. Plain `redis://` against a TLS-only port fails with an error instead of hanging, and
//! so does TLS without trusting the CA.
//!
//! Sentinel is not covered: redis-rs 1.8's sentinel client takes no CA (only the system's
//! roots), so the store refuses `tls_ca_file` in sentinel mode (tested below).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_redis;

use std::sync::OnceLock;
use std::time::Duration;

use redis_harness::{Acl, Cluster, Standalone, Tls, tls_url, url};
use secrecy::SecretString;
use store::{SentinelSettings, Store, StoreError, StoreMode, StoreSettings};

use support_redis::{exercise, test_prefix};

fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(Tls::generate)
}

fn settings(mode: StoreMode, urls: Vec<String>, ca: bool) -> StoreSettings {
    let mut settings = StoreSettings {
        mode,
        key_prefix: test_prefix(),
        command_timeout: Duration::from_secs(2),
        tls_ca_file: ca.then(|| tls().ca_file()),
        ..StoreSettings::default()
    };
    let urls: Vec<SecretString> = urls.into_iter().map(SecretString::from).collect();
    match mode {
        StoreMode::Standalone => settings.redis_url = urls.into_iter().next(),
        StoreMode::Cluster => settings.cluster_urls = urls,
        StoreMode::Sentinel => {
            settings.sentinel = SentinelSettings {
                urls,
                master_name: "gw".to_owned(),
                ..SentinelSettings::default()
            }
        }
    }
    settings
}

/// `ping` fails with a transient error (readiness reports it) rather than hanging or
/// succeeding.
async fn fails(settings: &StoreSettings, what: &str) -> StoreError {
    let store = Store::connect(settings)
        .await
        .unwrap_or_else(|e| panic!("{what}: valid settings must not fail start-up: {e}"));
    let error = store.ping().await.expect_err(what);
    assert!(error.is_transient(), "{what}: got {error:?}");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_over_tls() {
    let redis = tokio::task::block_in_place(|| Standalone::start_with(None, Some(tls())));
    let port = redis.tls_port().unwrap();
    exercise(
        &settings(StoreMode::Standalone, vec![tls_url(port)], true),
        "standalone TLS",
    )
    .await;
    fails(
        &settings(StoreMode::Standalone, vec![url(port)], false),
        "plain redis:// on the TLS-only port",
    )
    .await;
    fails(
        &settings(StoreMode::Standalone, vec![tls_url(port)], false),
        "TLS without trusting the test CA",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_over_tls_with_acl_user() {
    let acl = Acl::new("gw", "tls-acl-secret");
    let redis = tokio::task::block_in_place(|| Standalone::start_with(Some(&acl), Some(tls())));
    let port = redis.tls_port().unwrap();
    let login = format!("rediss://gw:tls-acl-secret@127.0.0.1:{port}");
    exercise(
        &settings(StoreMode::Standalone, vec![login], true),
        "standalone TLS + ACL",
    )
    .await;
    let wrong = format!("rediss://gw:wrong-pass-91@127.0.0.1:{port}");
    let error = fails(
        &settings(StoreMode::Standalone, vec![wrong], true),
        "TLS + wrong password",
    )
    .await;
    let text = error.to_string();
    assert!(
        text.contains("login refused") && !text.contains("wrong-pass-91"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_over_tls() {
    let cluster = tokio::task::block_in_place(|| Cluster::start_with(None, Some(tls())));
    exercise(
        &settings(StoreMode::Cluster, cluster.tls_urls(), true),
        "cluster TLS",
    )
    .await;
    let plain: Vec<String> = cluster
        .tls_urls()
        .iter()
        .map(|u| u.replacen("rediss://", "redis://", 1))
        .collect();
    fails(
        &settings(StoreMode::Cluster, plain, false),
        "plain redis:// on the TLS-only ports",
    )
    .await;
}

#[tokio::test]
async fn tls_ca_file_is_checked_at_start() {
    let refused = |settings: StoreSettings, what: &'static str| async move {
        match Store::connect(&settings).await {
            Err(StoreError::Corrupt(text)) => {
                assert!(text.contains("store.tls_ca_file"), "{what}: {text}")
            }
            other => panic!(
                "{what}: expected a settings error, got {:?}",
                other.map(|_| ())
            ),
        }
    };
    let mut missing = settings(StoreMode::Standalone, vec![tls_url(1)], true);
    missing.tls_ca_file = Some("/nonexistent/ca.pem".into());
    refused(missing, "missing file").await;
    let mut not_pem = settings(StoreMode::Standalone, vec![tls_url(1)], true);
    let junk = std::env::temp_dir().join(format!("not-a-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&junk, "not a certificate\n").unwrap();
    not_pem.tls_ca_file = Some(junk.clone());
    refused(not_pem, "not PEM").await;
    let _ = std::fs::remove_file(&junk);
    refused(
        settings(StoreMode::Standalone, vec![url(1)], true),
        "plain URL",
    )
    .await;
    refused(
        settings(StoreMode::Sentinel, vec![tls_url(1)], true),
        "sentinel",
    )
    .await;
}
