//! Every route that acts on one record by its path id goes through the `Owned` extractor: an
//! unknown id and another tenant's id get the same 404, and a token without the route's scope
//! gets 403 before any record is looked at.

mod support;

use serde_json::json;
use support::{expect_problem, spawn_app_with, token};

const BY_ID: [(&str, &str, &str); 10] = [
    ("GET", "/v1/sessions/{id}", "accounts:read"),
    ("GET", "/v1/sessions/{id}/contacts", "accounts:read"),
    ("GET", "/v1/sessions/{id}/profile", "accounts:read"),
    ("GET", "/v1/scan-tasks/{id}", "accounts:read"),
    ("GET", "/v1/registrations/{id}", "accounts:read"),
    ("GET", "/v1/chat-actions/{id}", "accounts:read"),
    ("GET", "/v1/number-checks/{id}", "numbers:read"),
    ("GET", "/v1/number-checks/{id}/results", "numbers:read"),
    ("GET", "/v1/subscriptions/{id}/deliveries", "events:read"),
    ("DELETE", "/v1/subscriptions/{id}", "events:write"),
];

fn app_config() -> serde_json::Value {
    json!({
        "accounts": {"tenants": {"tenant-a": {"wscrm_tenant_id": 1}, "tenant-b": {"wscrm_tenant_id": 2}}},
        "events": {"subscription_allow": ["https://hooks.example.com/"]}
    })
}

#[tokio::test]
async fn unknown_ids_are_404_and_a_missing_scope_is_403_first() {
    let app = spawn_app_with(app_config()).await;
    let every_scope = token(
        "tenant-a",
        "accounts:read numbers:read events:read events:write",
    );
    for (method, path, scope) in BY_ID {
        let url = app.url(&path.replace("{id}", "no-such-id"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = app
            .client
            .request(method.clone(), &url)
            .bearer_auth(&every_scope)
            .send()
            .await
            .expect("call");
        expect_problem(resp, 404, "not_found").await;
        let others: Vec<&str> = [
            "accounts:read",
            "numbers:read",
            "events:read",
            "events:write",
        ]
        .into_iter()
        .filter(|s| *s != scope)
        .collect();
        let resp = app
            .client
            .request(method, &url)
            .bearer_auth(token("tenant-a", &others.join(" ")))
            .send()
            .await
            .expect("call");
        expect_problem(resp, 403, "insufficient_scope").await;
    }
}

#[tokio::test]
async fn another_tenants_record_is_the_same_404() {
    let app = spawn_app_with(app_config()).await;
    let a = token("tenant-a", "events:read events:write");
    let created: serde_json::Value = app
        .client
        .post(app.url("/v1/subscriptions"))
        .bearer_auth(&a)
        .json(&json!({"url": "https://hooks.example.com/wa"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    let b = token("tenant-b", "events:read events:write");
    for path in [
        format!("/v1/subscriptions/{id}/deliveries"),
        "/v1/subscriptions/no-such-id/deliveries".to_owned(),
    ] {
        let resp = app.get(&path, &b).await;
        let problem = expect_problem(resp, 404, "not_found").await;
        assert_eq!(problem["detail"], "subscription not found");
    }
    let resp = app
        .client
        .delete(app.url(&format!("/v1/subscriptions/{id}")))
        .bearer_auth(&b)
        .send()
        .await
        .expect("delete");
    expect_problem(resp, 404, "not_found").await;
    // Still there for its owner.
    assert_eq!(
        app.get(&format!("/v1/subscriptions/{id}/deliveries"), &a)
            .await
            .status(),
        200
    );
}
