//! Per-tenant rate limits per route class, counted in Redis so replicas share them.

mod support;

use serde_json::json;
use support::{expect_problem, spawn_app_with, spawn_sibling, token};

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
