//! Events: the vendor's webhooks in (through the simulator), the feed, the SSE stream,
//! projections, subscriptions with signed deliveries and retries, several replicas.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::support::{TestApp, expect_problem, spawn_app_with, spawn_sibling};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{Stream, StreamExt};
use gateway_api::events::latest_state;
use gateway_api::ownership::{self, OwnedKind};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const SECRET: &str = "test-webhook-secret-0123456789";
pub(crate) const TENANT: &str = "tenant-a";

pub(crate) fn events_config(extra: Value) -> Value {
    let mut events = json!({
        "webhook_secret": SECRET,
        "webhook_base_path": "/vendor",
        "retry_schedule": ["150ms", "150ms", "150ms", "150ms"],
        "delivery_poll_interval": "50ms",
        "delivery_timeout": "2s",
        "delivery_claim_hold": "5s",
        "sse_poll_interval": "200ms",
        "sse_heartbeat": "1s"
    });
    if let (Some(base), Value::Object(extra)) = (events.as_object_mut(), extra) {
        base.extend(extra);
    }
    json!({ "events": events })
}

async fn spawn_events_app() -> TestApp {
    spawn_app_with(events_config(json!({}))).await
}

/// The events app with `receiver` (a loopback listener) named as the one allowed subscriber.
async fn spawn_events_app_for(receiver: &MockServer) -> TestApp {
    spawn_app_with(events_config(
        json!({"subscription_allow": [format!("{}/", receiver.uri())]}),
    ))
    .await
}

async fn start_sim(app: &TestApp) -> crate::support::sim::RunningSim {
    let mut cfg = vendor_sim::SimConfig::for_tests(11);
    cfg.webhook_target = Some(app.address.clone());
    cfg.accounts.webhook_headers = vec![("X-Webhook-Secret".to_owned(), SECRET.to_owned())];
    crate::support::sim::start(cfg, "127.0.0.1:0")
        .await
        .expect("sim")
}

/// Has the simulator send one webhook now; asserts the gateway answered as the vendor expects.
async fn trigger(app: &TestApp, sim: &crate::support::sim::RunningSim, kind: &str, body: Value) {
    let record: Value = app
        .client
        .post(format!("{}/_sim/accounts/webhooks/{kind}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("trigger")
        .json()
        .await
        .expect("record");
    assert_eq!(record["outcome"]["httpStatus"], 200, "{record}");
    let answer: Value = serde_json::from_str(
        record["outcome"]["responseBody"]
            .as_str()
            .expect("response body"),
    )
    .expect("json answer");
    assert_eq!(
        answer,
        json!({"code": 200, "message": "Success", "data": ""}),
        "{record}"
    );
}

pub(crate) async fn post_webhook(
    app: &TestApp,
    path: &str,
    body: Value,
    secret: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("X-Webhook-Secret", secret)
        .json(&body)
        .send()
        .await
        .expect("webhook")
}

async fn feed(app: &TestApp, tenant: &str, query: &str) -> Value {
    let response = app
        .get(
            &format!("/v1/events{query}"),
            &app.token(tenant, "events:read events:write"),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("feed")
}

fn types_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

pub(crate) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal SSE reader.
struct Sse {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

#[derive(Debug, Clone)]
struct Frame {
    id: String,
    event: String,
    data: Value,
}

impl Sse {
    async fn open(app: &TestApp, tenant: &str, last_event_id: Option<&str>) -> Sse {
        let mut request = app
            .client
            .get(app.url("/v1/events/stream"))
            .bearer_auth(app.token(tenant, "events:read events:write"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().expect("ct"),
            "text/event-stream"
        );
        let mut sse = Sse {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        };
        // The stream announces itself once it is subscribed.
        assert!(sse.next_block(Duration::from_secs(5)).await.is_some());
        sse
    }

    async fn next_block(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                return Some(block);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
    }

    /// The next event frame (comments skipped), or `None` after `wait`.
    async fn next_event(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let block = self.next_block(left).await?;
            let mut frame = Frame {
                id: String::new(),
                event: String::new(),
                data: Value::Null,
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    frame.id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    frame.event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    frame.data = serde_json::from_str(v).expect("data is JSON");
                }
            }
            if !frame.id.is_empty() {
                return Some(frame);
            }
        }
    }
}

pub(crate) async fn claim(app: &TestApp, kind: OwnedKind, id: &str, tenant: &str) {
    assert!(
        ownership::claim(&app.store, kind, id, tenant)
            .await
            .expect("claim")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vendor_webhook_becomes_an_event_in_the_feed_the_stream_and_the_projection() {
    let app = spawn_events_app().await;
    let sim = start_sim(&app).await;
    claim(&app, OwnedKind::Account, "8617633819542", TENANT).await;
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    claim(
        &app,
        OwnedKind::Session,
        "ad518a4271fa43c8937612c5f60396f8",
        TENANT,
    )
    .await;
    claim(
        &app,
        OwnedKind::ScanTask,
        "f0d485cb2e5e4c5ca21b74e970043e6c",
        TENANT,
    )
    .await;
    let mut sse = Sse::open(&app, TENANT, None).await;

    trigger(
        &app,
        &sim,
        "online-status",
        json!({"whatsapp": "8617633819542", "status": 10, "detailStatus": 12, "envelope": "wrapped"}),
    )
    .await;
    trigger(
        &app,
        &sim,
        "account-status",
        json!({"whatsapp": "8617633819542", "status": 1, "onlineStatus": 4, "reason": "1002"}),
    )
    .await;
    trigger(
        &app,
        &sim,
        "registration-status",
        json!({"phone": "861821726232", "success": true}),
    )
    .await;
    trigger(
        &app,
        &sim,
        "qr-login",
        json!({"id": "ad518a4271fa43c8937612c5f60396f8", "whatsapp": "817272727272", "status": 1}),
    )
    .await;
    trigger(
        &app,
        &sim,
        "scan-task",
        json!({"taskId": "f0d485cb2e5e4c5ca21b74e970043e6c", "taskStatus": 80, "whatsapp": "86166666666"}),
    )
    .await;

    let expected = [
        "account.online_status_changed",
        "account.status_changed",
        "registration.completed",
        "session.login_succeeded",
        "scan_task.updated",
    ];
    let page = feed(&app, TENANT, "").await;
    assert_eq!(types_of(&page), expected, "{page}");
    let events = page["items"].as_array().expect("items");
    for event in events {
        assert_eq!(event["tenant"], TENANT);
        assert!(
            event["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("evt_"))
        );
        assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    assert_eq!(events[0]["data"]["status"], "online");
    assert_eq!(events[0]["data"]["detail"], "pc_online");
    assert_eq!(events[1]["data"]["reason"], "network_error");
    assert_eq!(events[1]["data"]["login_state"], "offline");
    assert_eq!(
        events[2]["subject"],
        json!({"kind": "registration", "id": "861821726232"})
    );
    assert_eq!(events[3]["data"]["account"], "817272727272");
    assert_eq!(events[4]["data"]["status"], "login_succeeded");
    assert_eq!(events[4]["data"]["agent_id"], "10001");

    for (i, expected_type) in expected.iter().enumerate() {
        let frame = sse
            .next_event(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("frame {i}"));
        assert_eq!(frame.event, *expected_type);
        assert_eq!(frame.id, events[i]["cursor"].as_str().expect("cursor"));
        assert_eq!(frame.data["id"], events[i]["id"]);
    }

    let state = |kind, id: &'static str| {
        let store = app.store.clone();
        async move {
            latest_state(&store, kind, id)
                .await
                .expect("projection")
                .expect("state kept")
        }
    };
    assert_eq!(
        state(OwnedKind::Registration, "861821726232").await.status,
        "completed"
    );
    let account = state(OwnedKind::Account, "8617633819542").await;
    assert_eq!(account.status, "offline");
    assert_eq!(account.reason.as_deref(), Some("network_error"));
    assert_eq!(
        state(OwnedKind::Session, "ad518a4271fa43c8937612c5f60396f8")
            .await
            .status,
        "logged_in"
    );
    assert_eq!(
        state(OwnedKind::ScanTask, "f0d485cb2e5e4c5ca21b74e970043e6c")
            .await
            .status,
        "login_succeeded"
    );

    // Cursor paging: a full page, then a short one (no more now), then an empty one that keeps
    // the position, as a poller sees the feed.
    let first = feed(&app, TENANT, "?limit=2").await;
    assert_eq!(first["items"].as_array().expect("items").len(), 2);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let rest = feed(&app, TENANT, &format!("?cursor={cursor}&limit=10")).await;
    assert_eq!(types_of(&rest), expected[2..]);
    let last = rest["next_cursor"]
        .as_str()
        .expect("a live feed keeps a cursor");
    let caught_up = feed(&app, TENANT, &format!("?cursor={last}")).await;
    assert_eq!(caught_up["items"], json!([]), "{caught_up}");
    assert_eq!(caught_up["next_cursor"], last);
    let only = feed(
        &app,
        TENANT,
        "?types=registration.completed,scan_task.updated",
    )
    .await;
    assert_eq!(
        types_of(&only),
        ["registration.completed", "scan_task.updated"]
    );
    let token = app.token(TENANT, "events:read events:write");
    expect_problem(
        app.get("/v1/events?types=nope", &token).await,
        400,
        "invalid_query",
    )
    .await;
    expect_problem(
        app.get("/v1/events?cursor=abc", &token).await,
        422,
        "invalid_cursor",
    )
    .await;
    // The cursor of another list, well formed as it is, is no position in this feed.
    let subscriptions_cursor = "c3Vic2NyaXB0aW9ucwpzdWJfMQ";
    expect_problem(
        app.get(&format!("/v1/events?cursor={subscriptions_cursor}"), &token)
            .await,
        422,
        "invalid_cursor",
    )
    .await;
    for limit in ["0", "1001", "99999999999999999999999"] {
        let problem = expect_problem(
            app.get(&format!("/v1/events?limit={limit}"), &token).await,
            400,
            "invalid_query",
        )
        .await;
        assert_eq!(problem["detail"], "`limit`: an integer from 1 to 1000");
    }
    expect_problem(
        app.get("/v1/events", &app.token(TENANT, "accounts:read"))
            .await,
        403,
        "insufficient_scope",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_and_stores_nothing() {
    let app = spawn_events_app().await;
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    let body = json!({"phone": "861821726232", "status": "1"});
    for secret in ["wrong", ""] {
        let response = post_webhook(
            &app,
            "/group-dispatch-api/register/syncStatus",
            body.clone(),
            secret,
        )
        .await;
        expect_problem(response, 401, "invalid_webhook_secret").await;
    }
    let response = app
        .client
        .post(app.url("/group-dispatch-api/register/syncStatus"))
        .json(&body)
        .send()
        .await
        .expect("no header");
    expect_problem(response, 401, "invalid_webhook_secret").await;
    assert_eq!(feed(&app, TENANT, "").await["items"], json!([]));
    assert!(
        latest_state(&app.store, OwnedKind::Registration, "861821726232")
            .await
            .expect("store")
            .is_none()
    );

    // The configured base path serves the same webhooks.
    let response = post_webhook(
        &app,
        "/vendor/group-dispatch-api/register/syncStatus",
        body,
        SECRET,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        types_of(&feed(&app, TENANT, "").await),
        ["registration.completed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_vendor_delivery_twice_is_one_event() {
    let app = spawn_events_app().await;
    let sim = start_sim(&app).await;
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    claim(&app, OwnedKind::Account, "8617633819542", TENANT).await;
    let payload = json!({"phone": "861821726232", "status": "1"});
    trigger(
        &app,
        &sim,
        "registration-status",
        json!({"payload": payload}),
    )
    .await;
    trigger(
        &app,
        &sim,
        "registration-status",
        json!({"payload": payload}),
    )
    .await;
    // The document's own example: one delivery holding the same record twice, then the same
    // record again in the other envelope.
    let record = json!({"whatsId": "8617633819542", "status": 1, "detailStatus": 11, "account": "", "time": "2024-07-03 15:27:00", "platformType": 1});
    trigger(
        &app,
        &sim,
        "online-status",
        json!({"payload": [record, record], "envelope": "array"}),
    )
    .await;
    trigger(
        &app,
        &sim,
        "online-status",
        json!({"payload": [record], "envelope": "wrapped"}),
    )
    .await;
    assert_eq!(
        types_of(&feed(&app, TENANT, "").await),
        ["registration.completed", "account.online_status_changed"]
    );

    // A real change back and forth is not a duplicate, even with an identical payload.
    let online = json!({"whatsApp": "8617633819542", "status": 1, "onlineStatus": 2, "reason": "", "instanceCode": ""});
    let offline = json!({"whatsApp": "8617633819542", "status": 1, "onlineStatus": 4, "reason": "", "instanceCode": ""});
    for body in [&online, &offline, &online, &online] {
        trigger(&app, &sim, "account-status", json!({"payload": body})).await;
    }
    let page = feed(&app, TENANT, "?types=account.status_changed").await;
    let states: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["data"]["login_state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["online", "offline", "online"]);
}

pub(crate) async fn subscribe(app: &TestApp, url: &str, types: Value) -> Value {
    let response = app
        .client
        .post(app.url("/v1/subscriptions"))
        .bearer_auth(app.token(TENANT, "events:read events:write"))
        .json(&json!({"url": url, "event_types": types}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), 201);
    response.json().await.expect("subscription")
}

fn verify(secret: &str, request: &wiremock::Request) -> Value {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{name} header"))
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp = header("webhook-timestamp");
    let signature = header("webhook-signature");
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    assert_eq!(signature, expected, "signature");
    let now = chrono::Utc::now().timestamp();
    let ts: i64 = timestamp.parse().expect("timestamp");
    assert!((now - ts).abs() < 60, "timestamp is current");
    let body: Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(body["id"], id.as_str());
    body
}

pub(crate) async fn deliveries(app: &TestApp, subscription: &str) -> Value {
    app.get(
        &format!("/v1/subscriptions/{subscription}/deliveries"),
        &app.token(TENANT, "events:read events:write"),
    )
    .await
    .json()
    .await
    .expect("deliveries")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_failing_three_times_gets_the_event_once_signed() {
    let receiver = MockServer::start().await;
    let app = spawn_events_app_for(&receiver).await;
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let sub = subscribe(
        &app,
        &format!("{}/hooks", receiver.uri()),
        json!(["registration.completed"]),
    )
    .await;
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let sub_id = sub["id"].as_str().expect("id").to_owned();

    // Not subscribed: never delivered.
    claim(&app, OwnedKind::ScanTask, "t1", TENANT).await;
    post_webhook(
        &app,
        "/wscrm-bus-api/open/qrCodeTask/syncStatus",
        json!({"taskId": "t1", "taskStatus": 70, "updateTime": 1710236000000_i64}),
        SECRET,
    )
    .await;
    let response = post_webhook(
        &app,
        "/group-dispatch-api/register/syncStatus",
        json!({"phone": "861821726232", "status": 1}),
        SECRET,
    )
    .await;
    assert_eq!(response.status(), 200);

    wait_for("the delivery", || async {
        deliveries(&app, &sub_id).await["items"][0]["status"] == "delivered"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests = receiver.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 4, "three failures, one success");
    let ids: Vec<String> = requests
        .iter()
        .map(|r| verify(&secret, r)["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one event: {ids:?}");
    let body = verify(&secret, &requests[3]);
    assert_eq!(body["type"], "registration.completed");
    assert_eq!(body["data"]["phone"], "861821726232");
    let log = deliveries(&app, &sub_id).await;
    let attempts = log["items"][0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[0]["status_code"], 503);
    assert_eq!(attempts[3]["status_code"], 204);
    assert_eq!(log["items"].as_array().expect("data").len(), 1);

    // The secret is never shown again.
    let listed = app
        .get(
            "/v1/subscriptions",
            &app.token(TENANT, "events:read events:write"),
        )
        .await
        .text()
        .await
        .expect("list");
    assert!(
        listed.contains(&sub_id) && !listed.contains(&secret),
        "{listed}"
    );

    // Manual redelivery sends it again.
    let delivery_id = log["items"][0]["id"].as_str().expect("delivery id");
    let response = app
        .client
        .post(app.url(&format!(
            "/v1/subscriptions/{sub_id}/deliveries/{delivery_id}/retry"
        )))
        .bearer_auth(app.token(TENANT, "events:read events:write"))
        .send()
        .await
        .expect("retry");
    assert_eq!(response.status(), 202);
    wait_for("the redelivery", || async {
        receiver.received_requests().await.expect("recorded").len() == 5
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_answering_410_is_not_retried() {
    let receiver = MockServer::start().await;
    let app = spawn_events_app_for(&receiver).await;
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&receiver)
        .await;
    let sub = subscribe(&app, &receiver.uri(), json!([])).await;
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    post_webhook(
        &app,
        "/group-dispatch-api/register/syncStatus",
        json!({"phone": "861821726232", "status": "0"}),
        SECRET,
    )
    .await;
    wait_for("the failure", || async {
        deliveries(&app, &sub_id).await["items"][0]["status"] == "failed"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.received_requests().await.expect("recorded").len(),
        1
    );
    let log = deliveries(&app, &sub_id).await;
    assert_eq!(
        log["items"][0]["attempts"]
            .as_array()
            .expect("attempts")
            .len(),
        1
    );
    assert_eq!(log["items"][0]["event_type"], "registration.failed");

    // Subscription URLs must match the allow-list.
    let response = app
        .client
        .post(app.url("/v1/subscriptions"))
        .bearer_auth(app.token(TENANT, "events:read events:write"))
        .json(&json!({"url": "https://elsewhere.example.com/hook"}))
        .send()
        .await
        .expect("subscribe");
    let problem = expect_problem(response, 422, "url_not_allowed").await;
    assert_eq!(problem["rule"], "host_not_allowed");
    assert_eq!(problem["errors"][0]["field"], "url");
    assert_eq!(problem["errors"][0]["code"], "host_not_allowed");
    // Deleting stops deliveries.
    let response = app
        .client
        .delete(app.url(&format!("/v1/subscriptions/{sub_id}")))
        .bearer_auth(app.token(TENANT, "events:read events:write"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    let listed: Value = app
        .get(
            "/v1/subscriptions",
            &app.token(TENANT, "events:read events:write"),
        )
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_every_event_once_when_one_stops() {
    let receiver = MockServer::start().await;
    let app = spawn_events_app_for(&receiver).await;
    let sibling = spawn_sibling(&app).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(30)))
        .mount(&receiver)
        .await;
    let sub = subscribe(&app, &receiver.uri(), json!([])).await;
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    let phones: Vec<String> = (0..30).map(|i| format!("8613800000{i:03}")).collect();
    for phone in &phones {
        claim(&app, OwnedKind::Registration, phone, TENANT).await;
    }
    for (i, phone) in phones.iter().enumerate() {
        let target = if i % 2 == 0 && i <= 10 {
            &app
        } else {
            &sibling
        };
        let response = post_webhook(
            target,
            "/group-dispatch-api/register/syncStatus",
            json!({"phone": phone, "status": "1"}),
            SECRET,
        )
        .await;
        assert_eq!(response.status(), 200);
        if i == 10 {
            app.stop().await;
        }
    }
    wait_for("every delivery", || async {
        receiver.received_requests().await.expect("recorded").len() >= phones.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let requests = receiver.received_requests().await.expect("recorded");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for request in &requests {
        let body = verify(&secret, request);
        *seen
            .entry(body["data"]["phone"].as_str().expect("phone").to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), phones.len(), "every event delivered");
    assert!(seen.values().all(|n| *n == 1), "none twice: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_client_resuming_with_last_event_id_gets_exactly_the_missed_events() {
    let app = spawn_events_app().await;
    for phone in ["861", "862", "863", "864"] {
        claim(&app, OwnedKind::Registration, phone, TENANT).await;
    }
    let send = |phone: &'static str| {
        let app = &app;
        async move {
            let response = post_webhook(
                app,
                "/group-dispatch-api/register/syncStatus",
                json!({"phone": phone, "status": "1"}),
                SECRET,
            )
            .await;
            assert_eq!(response.status(), 200);
        }
    };
    send("861").await;
    let mut sse = Sse::open(&app, TENANT, None).await;
    send("862").await;
    let seen = sse
        .next_event(Duration::from_secs(5))
        .await
        .expect("live event");
    assert_eq!(
        seen.data["data"]["phone"], "862",
        "only events after connecting"
    );
    drop(sse);
    send("863").await;
    send("864").await;
    let mut resumed = Sse::open(&app, TENANT, Some(&seen.id)).await;
    let mut phones = Vec::new();
    while let Some(frame) = resumed.next_event(Duration::from_millis(1500)).await {
        phones.push(
            frame.data["data"]["phone"]
                .as_str()
                .expect("phone")
                .to_owned(),
        );
    }
    assert_eq!(phones, ["863", "864"]);
    expect_problem(
        app.client
            .get(app.url("/v1/events/stream"))
            .bearer_auth(app.token(TENANT, "events:read events:write"))
            .header("Last-Event-ID", "not-a-cursor")
            .send()
            .await
            .expect("bad id"),
        422,
        "invalid_cursor",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_only_their_own_events() {
    let receiver = MockServer::start().await;
    let app = spawn_events_app_for(&receiver).await;
    claim(&app, OwnedKind::Registration, "861", TENANT).await;
    claim(&app, OwnedKind::Registration, "862", "tenant-b").await;
    for phone in ["861", "862", "869"] {
        let response = post_webhook(
            &app,
            "/group-dispatch-api/register/syncStatus",
            json!({"phone": phone, "status": "1"}),
            SECRET,
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    let phones = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["data"]["phone"].as_str().expect("phone").to_owned())
            .collect()
    };
    assert_eq!(phones(feed(&app, TENANT, "").await), ["861"]);
    assert_eq!(phones(feed(&app, "tenant-b", "").await), ["862"]);
    assert_eq!(
        phones(feed(&app, "tenant-c", "").await),
        Vec::<String>::new()
    );
    // The unowned object's event is kept, but in no tenant's feed.
    let unrouted = app
        .store
        .stream_read_after(&gateway_api::keys::UnroutedEvents::new(), None, 10)
        .await
        .expect("unrouted");
    assert_eq!(unrouted.len(), 1);
    // A's stream does not leak to B, and B cannot see A's subscriptions.
    // The feed's cursor of its start (position `0-0`), as an empty feed answers it.
    let start = feed(&app, "tenant-c", "").await["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let mut sse = Sse::open(&app, "tenant-b", Some(&start)).await;
    let frame = sse
        .next_event(Duration::from_secs(3))
        .await
        .expect("b's event");
    assert_eq!(frame.data["tenant"], "tenant-b");
    assert!(sse.next_event(Duration::from_millis(500)).await.is_none());
    let sub = subscribe(&app, &receiver.uri(), json!([])).await;
    let response = app
        .get(
            &format!(
                "/v1/subscriptions/{}/deliveries",
                sub["id"].as_str().expect("id")
            ),
            &app.token("tenant-b", "events:read events:write"),
        )
        .await;
    expect_problem(response, 404, "not_found").await;
}

/// A subscriber that fails until told to recover, and counts what it accepted per phone.
#[derive(Clone, Default)]
struct Recovering {
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accepted: std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

impl wiremock::Respond for Recovering {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        if !self.healthy.load(std::sync::atomic::Ordering::SeqCst) {
            return ResponseTemplate::new(503);
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let phone = body["data"]["phone"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Ok(mut accepted) = self.accepted.lock() {
            *accepted.entry(phone).or_default() += 1;
        }
        ResponseTemplate::new(200)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_with_pending_deliveries_loses_none_and_repeats_none() {
    let subscriber = Recovering::default();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(subscriber.clone())
        .mount(&receiver)
        .await;
    // Two replicas on one configuration file: the same store and key prefix.
    let doomed = spawn_app_with(json!({
        "events": {
            "webhook_secret": SECRET,
            "subscription_allow": [format!("{}/", receiver.uri())],
            "retry_schedule": vec!["200ms"; 20],
            "delivery_poll_interval": "50ms",
            "delivery_timeout": "1s",
            "delivery_claim_hold": "2s"
        }
    }))
    .await;
    let survivor = spawn_sibling(&doomed).await;

    subscribe(&survivor, &receiver.uri(), json!([])).await;
    let phones: Vec<String> = (0..20).map(|i| format!("8613900000{i:03}")).collect();
    for phone in &phones {
        claim(&survivor, OwnedKind::Registration, phone, TENANT).await;
    }
    let client = reqwest::Client::new();
    for phone in &phones {
        let response = client
            .post(doomed.url("/group-dispatch-api/register/syncStatus"))
            .header("X-Webhook-Secret", SECRET)
            .json(&json!({"phone": phone, "status": "1"}))
            .send()
            .await
            .expect("webhook");
        assert_eq!(response.status(), 200);
    }
    // Deliveries are failing and pending on both replicas; one dies without warning.
    tokio::time::sleep(Duration::from_millis(500)).await;
    doomed.process.kill();
    subscriber
        .healthy
        .store(true, std::sync::atomic::Ordering::SeqCst);

    wait_for("every delivery after the kill", || async {
        subscriber.accepted.lock().map(|a| a.len()).unwrap_or(0) >= phones.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let accepted = subscriber.accepted.lock().expect("lock").clone();
    assert_eq!(
        accepted.len(),
        phones.len(),
        "every event delivered: {accepted:?}"
    );
    assert!(
        accepted.values().all(|n| *n == 1),
        "none twice: {accepted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_listed_in_pages_oldest_first() {
    let receiver = MockServer::start().await;
    let app = spawn_events_app_for(&receiver).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let sub = subscribe(&app, &format!("{}/hook/{i}", receiver.uri()), json!([])).await;
        created.push(sub["id"].as_str().expect("id").to_owned());
    }
    let token = app.token(TENANT, "events:read");
    let mut listed = Vec::new();
    let mut path = "/v1/subscriptions?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let response = app.get(&path, &token).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.expect("page");
        pages += 1;
        for sub in page["items"].as_array().expect("items") {
            listed.push(sub["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/subscriptions?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!((listed, pages), (created, 3));
    let events_cursor = feed(&app, TENANT, "").await["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    expect_problem(
        app.get(&format!("/v1/subscriptions?cursor={events_cursor}"), &token)
            .await,
        422,
        "invalid_cursor",
    )
    .await;
}
