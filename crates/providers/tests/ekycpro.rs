#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use common::{Cell, bulk_conformance, e164, registry, request_count, xlsx};
use domain::{Check, CheckSet, ProviderErrorKind};
use providers::{BulkNumberChecker, OrderProgress, ResultLocation, VendorOrderId};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TASKS: &str = "/wa/api/detail/tasks";
const TASK: &str = "/wa/api/detail/tasks/cs9viu7i61pkfs4oavvg";

fn checker_with(server: &MockServer, download: serde_json::Value) -> Arc<dyn BulkNumberChecker> {
    registry(json!({
        "ekycpro": {
            "base_url": server.uri(),
            "user_id": "u-1",
            "api_key": "key-xyz",
            "result_hosts": [server.uri()],
            "timeout_ms": 1000
        },
        "download": download
    }))
    .bulk(providers::ekycpro::ID)
    .unwrap()
}

fn checker(server: &MockServer) -> Arc<dyn BulkNumberChecker> {
    checker_with(server, json!({}))
}

fn task(status: &str, extra: serde_json::Value) -> ResponseTemplate {
    let mut body = json!({
        "created_at": "2024-10-19T18:24:56.450567423Z",
        "updated_at": "2024-10-19T18:33:22.86152082Z",
        "task_id": "cs9viu7i61pkfs4oavvg",
        "user_id": "u-1",
        "status": status,
        "total": 3,
        "success": 1,
        "failure": 0
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn result_file() -> Vec<u8> {
    xlsx(
        &["Number", "signature", "status_update", "whatsapp"],
        &[
            vec![
                Cell::S("+919876543210"),
                Cell::S("Hey there! I am using WhatsApp"),
                Cell::S("2025-01-19"),
                Cell::S("yes"),
            ],
            vec![
                Cell::S("+919876543211"),
                Cell::Empty,
                Cell::Empty,
                Cell::S("no"),
            ],
            vec![
                Cell::S("+41798284651"),
                Cell::S("hi"),
                Cell::S("20250101"),
                Cell::S("yes"),
            ],
            vec![
                Cell::S("+919876543210"),
                Cell::Empty,
                Cell::Empty,
                Cell::S("yes"),
            ],
        ],
    )
}

async fn mount_happy_path(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(TASKS))
        .and(header("X-API-Key", "key-xyz"))
        .respond_with(task("pending", json!({"total": 0, "success": 0})))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(TASK))
        .and(query_param("user_id", "u-1"))
        .and(header("X-API-Key", "key-xyz"))
        .respond_with(task("processing", json!({})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(TASK))
        .and(query_param("user_id", "u-1"))
        .and(header("X-API-Key", "key-xyz"))
        .respond_with(task(
            "exported",
            json!({"success": 3, "result_url": format!("{}/results/out.xlsx", server.uri())}),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/results/out.xlsx"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(result_file()))
        .mount(server)
        .await;
}

fn numbers() -> Vec<domain::E164> {
    ["+919876543210", "+919876543211", "+41798284651"]
        .iter()
        .map(|s| e164(s))
        .collect()
}

#[tokio::test]
async fn conformance() {
    let server = MockServer::start().await;
    mount_happy_path(&server).await;
    let c = checker(&server);
    bulk_conformance(c.as_ref(), &server, &numbers(), CheckSet::all()).await;
}

#[tokio::test]
async fn end_to_end_upload_poll_fetch() {
    let server = MockServer::start().await;
    mount_happy_path(&server).await;
    let c = checker(&server);
    let order = c
        .submit(
            &numbers(),
            &CheckSet::of(&[Check::Registered, Check::Profile]),
        )
        .await
        .unwrap();
    assert_eq!(order.as_str(), "cs9viu7i61pkfs4oavvg");

    // The upload is multipart with user_id and one E.164 number per line.
    let upload = &server.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&upload.body);
    assert!(body.contains("name=\"user_id\""));
    assert!(body.contains("u-1"));
    assert!(body.contains("name=\"file\""));
    assert!(body.contains("+919876543210\n+919876543211\n+41798284651\n"));

    assert_eq!(
        c.poll(&order).await.unwrap(),
        OrderProgress::Running {
            done: Some(1),
            total: Some(3)
        }
    );
    let OrderProgress::Ready { result } = c.poll(&order).await.unwrap() else {
        panic!("expected ready");
    };
    let results = c.fetch_results(&order, &result).await.unwrap();
    assert_eq!(results.len(), 3);
    let r = &results[0];
    assert_eq!(r.number, e164("+919876543210"));
    assert_eq!(r.registered, Some(true));
    assert_eq!(r.about.as_deref(), Some("Hey there! I am using WhatsApp"));
    assert_eq!(r.status_updated_on, NaiveDate::from_ymd_opt(2025, 1, 19));
    assert_eq!(r.last_active_at, None);
    assert_eq!(r.provider, Some(providers::ekycpro::ID));
    assert_eq!(results[1].registered, Some(false));
    assert_eq!(results[1].about, None);
    assert_eq!(
        results[2].status_updated_on,
        NaiveDate::from_ymd_opt(2025, 1, 1)
    );
}

#[tokio::test]
async fn statuses_map_to_progress() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wa/api/detail/tasks/t-completed"))
        .respond_with(task("completed", json!({"success": 2, "failure": 1})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wa/api/detail/tasks/t-no-url"))
        .respond_with(task("exported", json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wa/api/detail/tasks/t-weird"))
        .respond_with(task("sleeping", json!({})))
        .mount(&server)
        .await;
    let c = checker(&server);
    assert_eq!(
        c.poll(&VendorOrderId::new("t-completed")).await.unwrap(),
        OrderProgress::Running {
            done: Some(3),
            total: Some(3)
        }
    );
    for id in ["t-no-url", "t-weird"] {
        let e = c.poll(&VendorOrderId::new(id)).await.unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::MalformedAnswer, "{id}");
    }
}

async fn submit_error(response: ResponseTemplate) -> domain::ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TASKS))
        .respond_with(response)
        .mount(&server)
        .await;
    checker(&server)
        .submit(
            &[e164("+919876543210")],
            &CheckSet::of(&[Check::Registered]),
        )
        .await
        .unwrap_err()
}

#[tokio::test]
async fn documented_errors_map_to_kinds() {
    assert_eq!(
        submit_error(ResponseTemplate::new(400).set_body_string("bad file"))
            .await
            .kind,
        ProviderErrorKind::BadRequest
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(500)).await.kind,
        ProviderErrorKind::Unavailable
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(401)).await.kind,
        ProviderErrorKind::Auth
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(429).insert_header("Retry-After", "9"))
            .await
            .kind,
        ProviderErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(9))
        }
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(200).set_body_string(r#"{"task_id": "cs9v"#))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(200).set_body_json(json!({"status": "pending"})))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        submit_error(task("pending", json!({})).set_delay(Duration::from_secs(3)))
            .await
            .kind,
        ProviderErrorKind::Timeout
    );
}

#[tokio::test]
async fn unsupported_checks_and_empty_input_send_nothing() {
    let server = MockServer::start().await;
    let c = checker(&server);
    let e = c
        .submit(&[e164("+919876543210")], &CheckSet::of(&[Check::Activity]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::Unsupported);
    assert_eq!(
        c.submit(&[], &CheckSet::all()).await.unwrap_err().kind,
        ProviderErrorKind::BadRequest
    );
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn download_is_restricted_to_configured_hosts() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(result_file()))
        .mount(&other)
        .await;
    Mock::given(method("GET"))
        .and(path("/redirect.xlsx"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/out.xlsx", other.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/big.xlsx"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![0u8; 8192]))
        .mount(&server)
        .await;
    let c = checker_with(&server, json!({"max_bytes": 4096}));
    let order = VendorOrderId::new("t");
    let kind = |url: String| {
        let c = c.clone();
        let order = order.clone();
        async move {
            c.fetch_results(&order, &ResultLocation::new(url))
                .await
                .unwrap_err()
                .kind
        }
    };
    assert_eq!(
        kind(format!("{}/out.xlsx", other.uri())).await,
        ProviderErrorKind::ForbiddenHost
    );
    assert_eq!(
        kind(format!("{}/redirect.xlsx", server.uri())).await,
        ProviderErrorKind::ForbiddenHost
    );
    assert_eq!(
        kind(format!("{}/big.xlsx", server.uri())).await,
        ProviderErrorKind::TooLarge
    );
    assert_eq!(
        kind("not a url".to_owned()).await,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(request_count(&other).await, 0);
}

#[tokio::test]
async fn twenty_thousand_rows() {
    let rows: Vec<String> = (0..20_000u32).map(|i| format!("+4179{i:07}")).collect();
    let cells: Vec<Vec<Cell<'_>>> = rows
        .iter()
        .map(|n| {
            vec![
                Cell::S(n),
                Cell::S(""),
                Cell::S("2025-01-19"),
                Cell::S("yes"),
            ]
        })
        .collect();
    let file = xlsx(
        &["Number", "signature", "status_update", "whatsapp"],
        &cells,
    );
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/big.xlsx"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(file))
        .mount(&server)
        .await;
    let c = checker(&server);
    let results = c
        .fetch_results(
            &VendorOrderId::new("t"),
            &ResultLocation::new(format!("{}/big.xlsx", server.uri())),
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 20_000);
    assert!(results.iter().all(|r| r.registered == Some(true)));
}
