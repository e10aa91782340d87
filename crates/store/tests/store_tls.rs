//! The Redis store over TLS (`rediss://`), against real engines serving TLS with a throw-away
//! CA (crates/redis-harness, made with `openssl` at test time) that the store trusts through
//! `tls_ca_file`: standalone, cluster (nodes talking TLS to each other) and sentinel (the
//! sentinels, the primary and the replicas all reached over TLS, also after a failover), also
//! with an ACL user. Plain `redis://` against a TLS-only port fails with an error instead of
//! hanging, and so does TLS without trusting the CA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_redis;

use std::sync::OnceLock;
use std::time::Duration;

use redis_harness::{Acl, Cluster, Sentinel, Standalone, Tls, tls_url, url};
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
    let untrusted = fails(
        &settings(StoreMode::Standalone, vec![tls_url(port)], false),
        "TLS without trusting the test CA",
    )
    .await
    .to_string();
    assert!(
        untrusted.contains("certificate") && !untrusted.contains("127.0.0.1"),
        "{untrusted}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_over_tls_follows_a_failover() {
    let set = tokio::task::block_in_place(|| Sentinel::start_with(None, Some(tls())));
    let with_ca = settings(StoreMode::Sentinel, set.sentinel_tls_urls(), true);
    exercise(&with_ca, "sentinel TLS").await;

    let store = Store::connect(&with_ca).await.unwrap();
    store.set("before", b"1", None).await.unwrap();
    let old = set.primary_port();
    let new = tokio::task::block_in_place(|| set.failover());
    assert_ne!(new, old);
    // The switch breaks the store's connections; calls fail (transiently) until it has
    // found the new primary, which the sentinels name by its TLS port only.
    let mut written = None;
    for _ in 0..1200 {
        match store.set("after", b"2", None).await {
            Ok(()) => {
                written = Some(());
                break;
            }
            Err(e) => assert!(e.is_transient(), "during the switch: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(written.is_some(), "no write succeeded after the failover");

    // The write is on the new primary, read over TLS with the test CA.
    let direct = redis::Client::build_with_tls(
        tls_url(new),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(tls().ca_file()).unwrap()),
        },
    )
    .unwrap();
    let mut conn = direct.get_multiplexed_async_connection().await.unwrap();
    let after: Option<String> = redis::cmd("GET")
        .arg(format!("{}after", store.key_prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(after.as_deref(), Some("2"));
    assert_eq!(
        store.get("before").await.unwrap(),
        Some(b"1".to_vec()),
        "a write from before the failover"
    );

    // Without the CA, neither the sentinels nor the primary are trusted: a clear error that
    // quotes no URL.
    let error = fails(
        &settings(StoreMode::Sentinel, set.sentinel_tls_urls(), false),
        "sentinel TLS without trusting the test CA",
    )
    .await;
    let text = error.to_string();
    assert!(
        text.contains("certificate") && !text.contains("127.0.0.1") && !text.contains("rediss"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_over_tls_with_acl_user() {
    let acl = Acl::new("gw", "tls-acl-secret");
    let set = tokio::task::block_in_place(|| Sentinel::start_with(Some(&acl), Some(tls())));
    let login = |password: &str| {
        let mut settings = settings(StoreMode::Sentinel, set.sentinel_tls_urls(), true);
        settings.sentinel.primary_username = Some("gw".to_owned());
        settings.sentinel.primary_password = Some(SecretString::from(password.to_owned()));
        settings
    };
    exercise(&login("tls-acl-secret"), "sentinel TLS + ACL").await;
    let text = fails(&login("wrong-pass-91"), "sentinel TLS + wrong password")
        .await
        .to_string();
    assert!(
        text.contains("login refused") && !text.contains("wrong-pass-91"),
        "{text}"
    );
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
        settings(StoreMode::Sentinel, vec![tls_url(1), url(2)], true),
        "a plain sentinel URL",
    )
    .await;
}
