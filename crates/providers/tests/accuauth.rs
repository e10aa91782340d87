#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use common::{e164, registry, request_count};
use domain::{Check, CheckSet, ProviderErrorKind};
use providers::{PollPolicy, SingleCheck, SingleNumberChecker, check_until_done};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CHECK: &str = "/check/whatsapp_advanced";

fn checker(server: &MockServer) -> Arc<dyn SingleNumberChecker> {
    registry(json!({"accuauth": {
        "base_url": server.uri(),
        "api_id": "id-1",
        "api_secret": "secret-1",
        "timeout_ms": 1000,
        "pending_retry_after_ms": 10
    }}))
    .single(providers::accuauth::ID)
    .unwrap()
}

fn ok_body() -> serde_json::Value {
    json!({
        "status": "OK",
        "result": {
            "number": "+51987654321",
            "whatsapp": "yes",
            "status_update": "20231212",
            "signature": "Hello world",
            "business_user": "no",
            "avatar": "yes"
        },
        "request_id": "TID591cb9fb0e284cf296912a4d0ffea889"
    })
}

fn error_body(status: &str) -> serde_json::Value {
    json!({"status": status, "reason": "argument 'number': not found", "request_id": "TID0bb5"})
}

#[tokio::test]
async fn peru_number_is_checked_with_national_digits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHECK))
        .and(header("X-DF-API-ID", "id-1"))
        .and(header("X-DF-API-SECRET", "secret-1"))
        .and(body_json(json!({"number": "987654321"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .expect(1)
        .mount(&server)
        .await;
    let c = checker(&server);
    let SingleCheck::Done(r) = c
        .check(&e164("+51987654321"), &CheckSet::of(&[Check::Registered]))
        .await
        .unwrap()
    else {
        panic!("expected an answer");
    };
    assert_eq!(r.number, e164("+51987654321"));
    assert_eq!(r.registered, Some(true));
    assert_eq!(r.business, Some(false));
    assert_eq!(r.has_avatar, Some(true));
    assert_eq!(r.avatar_url, None);
    assert_eq!(r.about.as_deref(), Some("Hello world"));
    assert_eq!(r.status_updated_on, NaiveDate::from_ymd_opt(2023, 12, 12));
    assert_eq!(r.gender, None);
    assert_eq!(r.provider, Some(providers::accuauth::ID));
}

#[tokio::test]
async fn other_countries_are_unsupported_without_request() {
    let server = MockServer::start().await;
    let c = checker(&server);
    let answer = c
        .check(&e164("+919876543210"), &CheckSet::of(&[Check::Registered]))
        .await
        .unwrap();
    assert!(matches!(answer, SingleCheck::Unsupported(_)));
    let answer = c
        .check(&e164("+51987654321"), &CheckSet::of(&[Check::Activity]))
        .await
        .unwrap();
    assert!(matches!(answer, SingleCheck::Unsupported(_)));
    assert!(!c.accepts(&e164("+919876543210")));
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn pending_then_done_with_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHECK))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": "PENDING", "request_id": "T1"})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(CHECK))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .mount(&server)
        .await;
    let c = checker(&server);
    let n = e164("+51987654321");
    let checks = CheckSet::of(&[Check::Registered]);
    assert_eq!(
        c.check(&n, &checks).await.unwrap(),
        SingleCheck::Pending {
            retry_after: Duration::from_millis(10)
        }
    );
    let policy = PollPolicy {
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        deadline: Duration::from_secs(5),
    };
    let answer = check_until_done(c.as_ref(), &n, &checks, policy)
        .await
        .unwrap();
    assert!(matches!(answer, SingleCheck::Done(_)), "{answer:?}");
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn backoff_gives_up_at_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHECK))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"status": "PENDING"})))
        .mount(&server)
        .await;
    let c = checker(&server);
    let policy = PollPolicy {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(40),
        deadline: Duration::from_millis(150),
    };
    let answer = check_until_done(
        c.as_ref(),
        &e164("+51987654321"),
        &CheckSet::of(&[Check::Registered]),
        policy,
    )
    .await
    .unwrap();
    assert!(matches!(answer, SingleCheck::Pending { .. }));
    let calls = request_count(&server).await;
    assert!((2..=8).contains(&calls), "{calls} calls");
}

async fn error_for(body: ResponseTemplate) -> domain::ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHECK))
        .respond_with(body)
        .mount(&server)
        .await;
    checker(&server)
        .check(&e164("+51987654321"), &CheckSet::of(&[Check::Registered]))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn documented_errors_map_to_kinds() {
    let cases: [(u16, &str, ProviderErrorKind); 8] = [
        (400, "INVALID_ARGUMENT", ProviderErrorKind::BadRequest),
        (401, "UNAUTHORIZED", ProviderErrorKind::Auth),
        (401, "KEY_EXPIRED", ProviderErrorKind::Auth),
        (403, "NO_PERMISSION", ProviderErrorKind::Auth),
        (403, "OUT_OF_QUOTA", ProviderErrorKind::QuotaExhausted),
        (
            403,
            "RATE_LIMIT_EXCEEDED",
            ProviderErrorKind::RateLimited { retry_after: None },
        ),
        (404, "NOT_FOUND", ProviderErrorKind::NotFound),
        (500, "INTERNAL_ERROR", ProviderErrorKind::Unavailable),
    ];
    for (status, code, kind) in cases {
        let e = error_for(ResponseTemplate::new(status).set_body_json(error_body(code))).await;
        assert_eq!(e.kind, kind, "{code}");
        assert_eq!(e.vendor_code.as_deref(), Some(code));
        assert!(!e.message.contains("secret-1"));
    }
    let e = error_for(
        ResponseTemplate::new(403)
            .insert_header("Retry-After", "4")
            .set_body_json(error_body("RATE_LIMIT_EXCEEDED")),
    )
    .await;
    assert_eq!(e.kind.retry_after(), Some(Duration::from_secs(4)));
}

#[tokio::test]
async fn undocumented_and_malformed_answers() {
    assert_eq!(
        error_for(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
            .await
            .kind,
        ProviderErrorKind::Unavailable
    );
    assert_eq!(
        error_for(ResponseTemplate::new(200).set_body_string(r#"{"status":"OK","res"#))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        error_for(ResponseTemplate::new(200).set_body_json(json!({"status": "MAYBE"})))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        error_for(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
            .await
            .kind,
        ProviderErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(
        error_for(
            ResponseTemplate::new(200)
                .set_body_json(ok_body())
                .set_delay(Duration::from_secs(3))
        )
        .await
        .kind,
        ProviderErrorKind::Timeout
    );
}
