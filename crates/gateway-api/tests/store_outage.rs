//! A dead or frozen Redis: readiness says so, liveness does not, and requests fail fast with a
//! 503 problem instead of hanging.

mod support;
#[path = "../../store/tests/support_redis/mod.rs"]
mod support_redis;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{expect_problem, spawn_app_with, token};
use support_redis::PrivateRedis;

async fn app_on(redis: &PrivateRedis) -> support::TestApp {
    spawn_app_with(json!({"store": {"redis_url": redis.url(), "command_timeout": "300ms"}})).await
}

#[tokio::test]
async fn a_stopped_redis_fails_readiness_and_requests_fast() {
    let mut redis = PrivateRedis::start();
    let app = app_on(&redis).await;
    let bearer = token("acme", "numbers:read");
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    assert_eq!(app.get("/v1/whoami", &bearer).await.status(), 200);

    redis.stop();
    let started = Instant::now();
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    expect_problem(ready, 503, "store_unavailable").await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "liveness never depends on Redis");
    let response = app.get("/v1/whoami", &bearer).await;
    assert!(response.headers().get("retry-after").is_some());
    expect_problem(response, 503, "store_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_frozen_redis_times_out_instead_of_hanging() {
    let redis = PrivateRedis::start();
    let app = app_on(&redis).await;
    let bearer = token("acme", "numbers:read");
    assert_eq!(app.get("/v1/whoami", &bearer).await.status(), 200);

    redis.pause();
    let started = Instant::now();
    expect_problem(
        app.get("/v1/whoami", &bearer).await,
        503,
        "store_unavailable",
    )
    .await;
    expect_problem(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz"),
        503,
        "store_unavailable",
    )
    .await;
    let elapsed = started.elapsed();
    redis.resume();
    assert!(
        elapsed < Duration::from_secs(3),
        "two requests took {elapsed:?} with a 300 ms command timeout"
    );
    // Once Redis answers again, so does the gateway.
    let mut recovered = false;
    for _ in 0..20 {
        if app.get("/v1/whoami", &bearer).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the gateway recovers when Redis does");
}
