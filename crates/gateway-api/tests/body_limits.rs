//! `limits.max_body_bytes` holds on every route class, and each refusal is a problem+json 413:
//! JSON routes (the extractor), idempotent POSTs (the middleware reads the body first), and the
//! vendors' webhooks (raw bodies).

mod support;

use serde_json::json;
use support::{TestApp, expect_problem, spawn_app_with, token};

const SECRET: &str = "test-webhook-secret-0123456789";
const LIMIT: usize = 2_048;

const WEBHOOKS: [&str; 5] = [
    "/api/callback/whatsapp/onlineStatus",
    "/callback/gsTask/syncWhatsAppStatus",
    "/group-dispatch-api/register/syncStatus",
    "/wscrm-bus-api/open/qrCode/syncLoginStatus",
    "/wscrm-bus-api/open/qrCodeTask/syncStatus",
];

async fn app() -> TestApp {
    spawn_app_with(json!({
        "limits": {"max_body_bytes": LIMIT},
        "events": {"webhook_secret": SECRET}
    }))
    .await
}

/// A JSON array of records whose text is larger than the limit.
fn oversized_json() -> String {
    let record = json!({"whatsApp": "8613800000000", "status": 1, "filler": "x".repeat(100)});
    let records = vec![record; LIMIT / 100 + 10];
    serde_json::to_string(&records).expect("json")
}

#[tokio::test]
async fn every_webhook_route_refuses_an_oversized_body_with_a_problem() {
    let app = app().await;
    let body = oversized_json();
    assert!(body.len() > LIMIT);
    for path in WEBHOOKS {
        let response = app
            .client
            .post(app.url(path))
            .header("X-Webhook-Secret", SECRET)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("webhook");
        let problem = expect_problem(response, 413, "payload_too_large").await;
        assert_eq!(problem["limit_bytes"], LIMIT, "{path}: {problem}");
    }
}

#[tokio::test]
async fn a_streamed_webhook_body_is_cut_off_at_the_limit() {
    let app = app().await;
    // No Content-Length: the body arrives chunked and is measured while it streams.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"[".to_vec()), Ok(vec![b' '; LIMIT]), Ok(b"]".to_vec())];
    let response = app
        .client
        .post(app.url(WEBHOOKS[0]))
        .header("X-Webhook-Secret", SECRET)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("webhook");
    expect_problem(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn webhook_bodies_within_the_limit_are_read_and_strangers_are_refused_first() {
    let app = app().await;
    let small = json!([{"whatsApp": "8613800000000", "status": 1}]).to_string();
    let response = app
        .client
        .post(app.url(WEBHOOKS[0]))
        .header("X-Webhook-Secret", SECRET)
        .header("content-type", "application/json")
        .body(small)
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 200);
    // Without the secret the size does not matter: the body is never read.
    let response = app
        .client
        .post(app.url(WEBHOOKS[0]))
        .header("content-type", "application/json")
        .body(oversized_json())
        .send()
        .await
        .expect("webhook");
    expect_problem(response, 401, "invalid_webhook_secret").await;
}

#[tokio::test]
async fn json_routes_and_idempotent_posts_refuse_oversized_bodies_with_a_problem() {
    let app = app().await;
    let numbers: Vec<String> = (0..400).map(|i| format!("+1415555{i:04}")).collect();
    let body = json!({"numbers": numbers, "checks": ["registered"]}).to_string();
    assert!(body.len() > LIMIT);
    let t = token("acme", "numbers:check events:write");
    let plain = app
        .client
        .post(app.url("/v1/number-checks"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    expect_problem(plain, 413, "payload_too_large").await;
    let idempotent = app
        .client
        .post(app.url("/v1/number-checks"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .header("Idempotency-Key", "big-1")
        .body(body)
        .send()
        .await
        .expect("post");
    expect_problem(idempotent, 413, "payload_too_large").await;
    let subscription = app
        .client
        .post(app.url("/v1/subscriptions"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(
            json!({"url": format!("https://hooks.example.com/{}", "a".repeat(LIMIT))}).to_string(),
        )
        .send()
        .await
        .expect("post");
    expect_problem(subscription, 413, "payload_too_large").await;
}
