//! Per-tenant rate limits per route class, counted in Redis so replicas share them.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use domain::{Check, CheckSet, E164, NumberResult};
use gateway_api::number_checks::cache::{Cache, scope_name};
use gateway_api::store::{Store, StoreSettings};
use secrecy::SecretString;
use serde_json::json;
use support::counting_proxy::CountingProxy;
use support::{
    TestApp, expect_problem, redis_url, spawn_app_with, spawn_configured, spawn_sibling, token,
};

fn limited(requests: u64) -> serde_json::Value {
    json!({"limits": {"rate_limits": {"default": {"requests": requests, "per": "1m"}, "admin": {"requests": 1, "per": "1m"}}}})
}

#[tokio::test]
async fn requests_over_the_limit_get_429_with_retry_after() {
    let app = spawn_app_with(limited(3)).await;
    let token = token("acme", "numbers:read");
    for remaining in (0..3).rev() {
        let response = app.get("/v1/whoami", &token).await;
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(header("ratelimit-remaining"), Some(remaining.to_string()));
        assert_eq!(header("ratelimit-policy").as_deref(), Some("3;w=60"));
        let reset: u64 = header("ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .expect("reset");
        assert!((1..=60).contains(&reset), "{reset}");
    }
    let response = app.get("/v1/whoami", &token).await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after));
    let body = expect_problem(response, 429, "rate_limited").await;
    assert_eq!(body["retry_after"], retry_after);
}

#[tokio::test]
async fn tenants_and_route_classes_are_counted_apart() {
    let app = spawn_app_with(limited(2)).await;
    for _ in 0..2 {
        assert_eq!(
            app.get("/v1/whoami", &token("tenant-a", "admin"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        app.get("/v1/whoami", &token("tenant-a", "admin"))
            .await
            .status(),
        429
    );
    // Another tenant has its own budget.
    assert_eq!(
        app.get("/v1/whoami", &token("tenant-b", "admin"))
            .await
            .status(),
        200
    );
    // Another route class (admin: 1 per minute) has its own counter.
    assert_eq!(
        app.get("/v1/admin/config", &token("tenant-a", "admin"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get("/v1/admin/config", &token("tenant-a", "admin"))
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn two_instances_on_one_redis_share_the_limit() {
    let one = spawn_app_with(limited(4)).await;
    let two = spawn_sibling(&one).await;
    let token = token("acme", "numbers:read");
    for app in [&one, &two, &one, &two] {
        assert_eq!(app.get("/v1/whoami", &token).await.status(), 200);
    }
    expect_problem(two.get("/v1/whoami", &token).await, 429, "rate_limited").await;
    expect_problem(one.get("/v1/whoami", &token).await, 429, "rate_limited").await;
}

const NUMBER: &str = "+919800000001";

fn redis_address() -> String {
    redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned()
}

/// A store on the app's Redis and prefix, not through any proxy.
async fn store_of(app: &TestApp) -> Store {
    Store::connect(&StoreSettings {
        redis_url: Some(SecretString::from(redis_url())),
        key_prefix: app.config.store.key_prefix.clone(),
        ..StoreSettings::default()
    })
    .await
    .expect("store")
}

/// Caches a fresh `registered` answer for [`NUMBER`] the way the gateway caches answers;
/// returns the logical key of the number's cache entry.
async fn cache_answer(app: &TestApp, tenant: &str) -> String {
    let config = &app.config.number_checks;
    let number: E164 = NUMBER.parse().expect("number");
    let mut answer = NumberResult::empty(number, providers::ekycpro::ID, Utc::now());
    answer.registered = Some(true);
    let registered = CheckSet::of(&[Check::Registered]);
    answer.settle(&registered);
    Cache::new(
        store_of(app).await,
        config.cache_scope,
        tenant,
        config.cache_ttl,
    )
    .store(vec![answer], &registered)
    .await
    .expect("cached");
    format!(
        "nc:cache:{}:{}",
        scope_name(config.cache_scope, tenant),
        number.as_u64()
    )
}

async fn lookup(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/v1/numbers/%2B919800000001?checks=registered", token)
        .await
}

#[tokio::test]
async fn a_cached_lookup_counts_and_reads_in_one_round_trip() {
    let redis = CountingProxy::start(&redis_address()).await;
    let app = spawn_app_with(json!({"store": {"redis_url": redis.redis_url()}})).await;
    let entry = cache_answer(&app, "acme").await;

    let response = lookup(&app, &token("acme", "numbers:check")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("119")
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["from_cache"], true, "{body}");
    assert_eq!(body["result"]["registered"], true, "{body}");

    let counts = redis.writes_naming("ratelimit:numbers:check:acme:");
    let reads = redis.writes_naming(&entry);
    assert_eq!(counts.len(), 1, "one count: {counts:?}");
    assert_eq!(reads, counts, "the cache read went with the count");
}

/// A simulator whose NxCloud application has two business numbers that pass numbering checks.
async fn nxcloud_sim() -> vendor_sim::RunningSim {
    let mut config = vendor_sim::SimConfig::for_tests(43);
    config.nxcloud.appkeys.insert(
        vendor_sim::dev::NXCLOUD_APPKEY.to_owned(),
        vec!["8613800138024".into(), "14155550123".into()],
    );
    vendor_sim::start(config, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

#[tokio::test]
async fn a_business_phones_call_counts_and_reads_the_circuit_in_one_round_trip() {
    use vendor_sim::dev;
    let sim = nxcloud_sim().await;
    let redis = CountingProxy::start(&redis_address()).await;
    for cache_ttl in ["0s", "60s"] {
        let app = spawn_app_with(json!({
            "store": {"redis_url": redis.redis_url()},
            "accounts": {"business_phones_cache_ttl": cache_ttl},
            "vendors": {"nxcloud": {
                "base_url": sim.base_url(),
                "access_key": dev::NXCLOUD_ACCESS_KEY,
                "access_secret": dev::NXCLOUD_ACCESS_SECRET,
                "appkey": dev::NXCLOUD_APPKEY,
            }},
        }))
        .await;
        let token = token("acme", "business:read");
        let response = app.get("/v1/business-phones", &token).await;
        assert_eq!(response.status(), 200, "{cache_ttl}");
        let remaining = |response: &reqwest::Response| -> u64 {
            response
                .headers()
                .get("ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("RateLimit-Remaining")
        };
        let first = remaining(&response);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{body}");

        let prefix = &app.config.store.key_prefix;
        let counts = redis.writes_naming(&format!("{prefix}ratelimit:"));
        // The circuit's reads before a call (a gauge task also reads it now and then, alone).
        let circuit: Vec<String> = redis
            .writes_naming(&format!("{prefix}breaker:nxcloud:failures"))
            .into_iter()
            .filter(|write| write.contains("MGET"))
            .collect();
        let list = redis.writes_naming(&format!("{prefix}accounts:business-phones:"));
        assert_eq!(counts.len(), 1, "{cache_ttl}: one count: {counts:?}");
        assert_eq!(
            circuit, counts,
            "{cache_ttl}: the circuit was read with the count"
        );
        if cache_ttl == "0s" {
            assert_eq!(
                list,
                Vec::<String>::new(),
                "caching off: the list is never read"
            );
        } else {
            // Read with the count, then written once the vendor answered.
            assert_eq!(list.len(), 2, "{list:?}");
            assert_eq!(
                list[0], counts[0],
                "the cached list was read with the count"
            );
        }

        // Refused input is counted like any other request of the token.
        let bad = app
            .get("/v1/business-phones?numbers=nonsense", &token)
            .await;
        assert_eq!(bad.status(), 422, "{cache_ttl}");
        let again = app.get("/v1/business-phones", &token).await;
        assert_eq!(again.status(), 200, "{cache_ttl}");
        assert_eq!(remaining(&again), first - 2, "{cache_ttl}");
    }

    // Counted in process: the circuit is read on its own, and the call is made.
    let mut overrides = local(3, "60s");
    overrides["store"] = json!({"redis_url": redis.redis_url()});
    overrides["vendors"] = json!({"nxcloud": {
        "base_url": sim.base_url(),
        "access_key": dev::NXCLOUD_ACCESS_KEY,
        "access_secret": dev::NXCLOUD_ACCESS_SECRET,
        "appkey": dev::NXCLOUD_APPKEY,
    }});
    let app = spawn_app_with(overrides).await;
    let token = token("acme", "business:read");
    let response = app.get("/v1/business-phones", &token).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{body}");
    let prefix = &app.config.store.key_prefix;
    assert_eq!(
        redis.writes_naming(&format!("{prefix}ratelimit:")),
        Vec::<String>::new()
    );
    assert_eq!(
        redis
            .writes_naming(&format!("{prefix}breaker:nxcloud:failures"))
            .len(),
        1
    );
}

#[tokio::test]
async fn lookups_over_the_limit_get_429_and_refused_tokens_never_count() {
    let app = spawn_app_with(
        json!({"limits": {"rate_limits": {"numbers:check": {"requests": 2, "per": "1m"}}}}),
    )
    .await;
    cache_answer(&app, "acme").await;
    // Refused for the scope: not counted.
    for _ in 0..3 {
        expect_problem(
            lookup(&app, &token("acme", "numbers:read")).await,
            403,
            "insufficient_scope",
        )
        .await;
    }
    let token = token("acme", "numbers:check");
    // Refused input is counted like any other request of the token.
    let bad = app
        .get("/v1/numbers/%2B919800000001?checks=nonsense", &token)
        .await;
    assert_eq!(bad.status(), 400);
    let response = lookup(&app, &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    let over = lookup(&app, &token).await;
    let header = |name: &str| {
        over.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header("ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header("ratelimit-policy").as_deref(), Some("2;w=60"));
    let retry_after: u64 = header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    let body = expect_problem(over, 429, "rate_limited").await;
    assert_eq!(body["retry_after"], retry_after);
}

fn local(requests: u64, sync_interval: &str) -> serde_json::Value {
    json!({"limits": {
        "mode": "local",
        "sync_interval": sync_interval,
        "rate_limits": {"default": {"requests": requests, "per": "1h"}},
    }})
}

/// The tenant's `default`-class count in the store, once a sync has put one there.
async fn stored_count(store: &Store) -> Option<i64> {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    // The window's key by name (a `KEYS` scan of a shared server can take too long): the
    // current one-hour window, or the one before it when the hour just turned.
    let hour_ms = 3_600_000;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut value = None;
    for window in [now_ms / hour_ms, now_ms / hour_ms - 1] {
        let key = format!("{}ratelimit:default:acme:{window}", store.key_prefix());
        value = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("GET");
        if value.is_some() {
            break;
        }
    }
    value
}

/// Waits (10 s at most) until the store's count is `count`.
async fn wait_for_stored_count(store: &Store, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored_count(store).await != Some(count) {
        assert!(
            Instant::now() < deadline,
            "the count never reached {count}: {:?}",
            stored_count(store).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (10 s at most) until the replica behind `redis` has finished a sync that began after
/// this call: two more syncs must have been sent, and the second only once the first's answer
/// was taken in.
async fn wait_for_a_full_sync(redis: &CountingProxy) {
    let seen = redis.writes_naming("ratelimit:").len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.writes_naming("ratelimit:").len() < seen + 2 {
        assert!(Instant::now() < deadline, "no sync");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn local_mode_counts_in_process_without_a_store_command_per_request() {
    let redis = CountingProxy::start(&redis_address()).await;
    let mut overrides = local(3, "60s");
    overrides["store"] = json!({"redis_url": redis.redis_url()});
    let app = spawn_app_with(overrides).await;
    let token = token("acme", "numbers:read");
    for remaining in ["2", "1", "0"] {
        let response = app.get("/v1/whoami", &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get("ratelimit-remaining")
                .and_then(|v| v.to_str().ok()),
            Some(remaining)
        );
    }
    expect_problem(app.get("/v1/whoami", &token).await, 429, "rate_limited").await;
    assert_eq!(redis.writes_naming("ratelimit:"), Vec::<String>::new());
}

#[tokio::test]
async fn local_mode_still_enforces_the_limit_after_a_sync() {
    let app = spawn_app_with(local(3, "20ms")).await;
    let store = store_of(&app).await;
    let token = token("acme", "numbers:read");
    for _ in 0..2 {
        assert_eq!(app.get("/v1/whoami", &token).await.status(), 200);
    }
    wait_for_stored_count(&store, 2).await;
    let third = app.get("/v1/whoami", &token).await;
    assert_eq!(third.status(), 200, "synced requests are not counted twice");
    assert_eq!(
        third
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    expect_problem(app.get("/v1/whoami", &token).await, 429, "rate_limited").await;
    wait_for_stored_count(&store, 4).await;
}

#[tokio::test]
async fn local_mode_replicas_converge_after_a_sync() {
    let first_redis = CountingProxy::start(&redis_address()).await;
    let second_redis = CountingProxy::start(&redis_address()).await;
    let mut overrides = local(4, "20ms");
    overrides["store"] = json!({"redis_url": first_redis.redis_url()});
    let one = spawn_app_with(overrides).await;
    let mut config = one.config.clone();
    config.store.redis_url = Some(SecretString::from(second_redis.redis_url()));
    let two = spawn_configured(config).await;
    let store = store_of(&one).await;
    let token = token("acme", "numbers:read");
    for app in [&one, &two, &one, &two] {
        assert_eq!(app.get("/v1/whoami", &token).await.status(), 200);
    }
    // Each replica alone has seen 2 of the 4 requests; the store has all of them.
    wait_for_stored_count(&store, 4).await;
    wait_for_a_full_sync(&first_redis).await;
    wait_for_a_full_sync(&second_redis).await;
    expect_problem(one.get("/v1/whoami", &token).await, 429, "rate_limited").await;
    expect_problem(two.get("/v1/whoami", &token).await, 429, "rate_limited").await;
}
