//! The generic `Idempotency-Key` middleware, on a state-changing test route that counts how
//! often it really runs.

mod support;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, test, web};
use gateway_api::http::idempotency::idempotency;
use gateway_api::http::request_id::request_id;
use gateway_api::state::AppState;
use gateway_api::store::Store;
use serde_json::{Value, json};
use support::{test_config, token};

#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

async fn create(counter: web::Data<Counter>, body: web::Json<Value>) -> HttpResponse {
    let n = counter.0.fetch_add(1, Ordering::SeqCst) + 1;
    if body.get("slow").is_some() {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    if body.get("fail").is_some() {
        return HttpResponse::ServiceUnavailable().json(json!({"n": n}));
    }
    HttpResponse::Created()
        .insert_header(("location", format!("/things/{n}")))
        .json(json!({"id": n, "echo": body.into_inner()}))
}

async fn state_for(config: gateway_api::config::Config) -> AppState {
    let store = Store::connect(&gateway_api::store::StoreSettings {
        pool_size: 4,
        ..config.store.settings()
    })
    .await
    .expect("store");
    AppState::new(config, store).expect("state")
}

macro_rules! app {
    ($state:expr, $counter:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($state))
                .app_data(web::Data::new($counter))
                .route("/things", web::post().to(create))
                .wrap(from_fn(idempotency))
                .wrap(from_fn(request_id)),
        )
        .await
    };
}

fn post(key: Option<&str>, tenant: &str, body: Value) -> test::TestRequest {
    let mut req = test::TestRequest::post()
        .uri("/things")
        .insert_header((
            "authorization",
            format!("Bearer {}", token(tenant, "admin")),
        ))
        .set_json(body);
    if let Some(key) = key {
        req = req.insert_header(("idempotency-key", key));
    }
    req
}

#[actix_web::test]
async fn same_key_same_body_replays_the_first_answer() {
    let counter = Counter::default();
    let app = app!(state_for(test_config(json!({}))).await, counter.clone());
    let first = test::call_service(
        &app,
        post(Some("k-1"), "acme", json!({"a": 1})).to_request(),
    )
    .await;
    assert_eq!(first.status(), 201);
    let location = first.headers().get("location").cloned();
    let first_body: Value = test::read_body_json(first).await;
    let again = test::call_service(
        &app,
        post(Some("k-1"), "acme", json!({"a": 1})).to_request(),
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(again.headers().get("location").cloned(), location);
    let again_body: Value = test::read_body_json(again).await;
    assert_eq!(first_body, again_body);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the handler ran twice");
    // No key: every request runs.
    let _ = test::call_service(&app, post(None, "acme", json!({"a": 1})).to_request()).await;
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn same_key_different_body_is_409() {
    let counter = Counter::default();
    let app = app!(state_for(test_config(json!({}))).await, counter.clone());
    let _ = test::call_service(
        &app,
        post(Some("k-2"), "acme", json!({"a": 1})).to_request(),
    )
    .await;
    let res = test::call_service(
        &app,
        post(Some("k-2"), "acme", json!({"a": 2})).to_request(),
    )
    .await;
    assert_eq!(res.status(), 409);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["code"], "idempotency_key_reused");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn keys_are_scoped_per_tenant() {
    let counter = Counter::default();
    let app = app!(state_for(test_config(json!({}))).await, counter.clone());
    let a = test::call_service(
        &app,
        post(Some("shared"), "tenant-a", json!({"a": 1})).to_request(),
    )
    .await;
    let b = test::call_service(
        &app,
        post(Some("shared"), "tenant-b", json!({"a": 1})).to_request(),
    )
    .await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
    assert!(b.headers().get("idempotent-replayed").is_none());
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn a_duplicate_while_the_first_runs_is_409_with_retry_after() {
    let counter = Counter::default();
    let app = Rc::new(app!(
        state_for(test_config(json!({}))).await,
        counter.clone()
    ));
    let slow = {
        let app = app.clone();
        actix_web::rt::spawn(async move {
            test::call_service(
                &*app,
                post(Some("k-3"), "acme", json!({"slow": true})).to_request(),
            )
            .await
            .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let dup = test::call_service(
        &*app,
        post(Some("k-3"), "acme", json!({"slow": true})).to_request(),
    )
    .await;
    assert_eq!(dup.status(), 409);
    assert_eq!(
        dup.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: Value = test::read_body_json(dup).await;
    assert_eq!(body["code"], "idempotency_request_in_flight");
    assert_eq!(slow.await.expect("join"), 201);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn server_errors_are_not_remembered() {
    let counter = Counter::default();
    let app = app!(state_for(test_config(json!({}))).await, counter.clone());
    for _ in 0..2 {
        let res = test::call_service(
            &app,
            post(Some("k-4"), "acme", json!({"fail": true})).to_request(),
        )
        .await;
        assert_eq!(res.status(), 503);
    }
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        2,
        "a retry after a 5xx must run again"
    );
}

#[actix_web::test]
async fn bad_keys_are_refused() {
    let counter = Counter::default();
    let app = app!(state_for(test_config(json!({}))).await, counter.clone());
    let long = "k".repeat(256);
    for key in [long.as_str(), "has space"] {
        let res = test::call_service(&app, post(Some(key), "acme", json!({})).to_request()).await;
        assert_eq!(res.status(), 400, "{key}");
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["code"], "invalid_header");
    }
    let ok = test::call_service(
        &app,
        post(Some(&"k".repeat(255)), "acme", json!({})).to_request(),
    )
    .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn two_instances_sharing_redis_share_keys() {
    let config = test_config(json!({}));
    let counter = Counter::default();
    let one = app!(state_for(config.clone()).await, counter.clone());
    let two = app!(state_for(config).await, counter.clone());
    let first = test::call_service(
        &one,
        post(Some("k-5"), "acme", json!({"x": 1})).to_request(),
    )
    .await;
    assert_eq!(first.status(), 201);
    let replay = test::call_service(
        &two,
        post(Some("k-5"), "acme", json!({"x": 1})).to_request(),
    )
    .await;
    assert_eq!(replay.status(), 201);
    assert!(replay.headers().get("idempotent-replayed").is_some());
    let conflict = test::call_service(
        &two,
        post(Some("k-5"), "acme", json!({"x": 2})).to_request(),
    )
    .await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}
