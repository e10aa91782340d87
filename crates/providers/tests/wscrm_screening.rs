#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cell, bulk_conformance, e164, registry, request_count, xlsx};
use domain::{Check, CheckSet, Gender, ProviderErrorKind};
use providers::{BulkNumberChecker, OrderProgress, ResultLocation, VendorOrderId};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SUBMIT: &str = "/wscrm-bus-api/open/scan/screenWhatsApp";
const STATUS: &str = "/wscrm-bus-api/open/scan/queryTaskStatus/330e6b1c1dd62662d0474de6f0003288";
const DETAILS: &str = "/wscrm-bus-api/open/scan/queryTaskDetails/330e6b1c1dd62662d0474de6f0003288";
const ORDER: &str = "330e6b1c1dd62662d0474de6f0003288";

fn checker_with(server: &MockServer, extra: serde_json::Value) -> Arc<dyn BulkNumberChecker> {
    let mut wscrm = json!({
        "bus_api_base_url": format!("{}/wscrm-bus-api", server.uri()),
        "auth_headers": {"X-Api-Token": "tok-123"},
        "result_hosts": [server.uri()],
        "timeout_ms": 1000
    });
    if let (Some(w), Some(e)) = (wscrm.as_object_mut(), extra.get("wscrm")) {
        for (k, v) in e.as_object().unwrap() {
            w.insert(k.clone(), v.clone());
        }
    }
    let mut cfg = json!({ "wscrm": wscrm });
    if let Some(d) = extra.get("download") {
        cfg["download"] = d.clone();
    }
    registry(cfg).bulk(providers::wscrm_screening::ID).unwrap()
}

fn checker(server: &MockServer) -> Arc<dyn BulkNumberChecker> {
    checker_with(server, json!({}))
}

fn env(data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": 200, "message": "Success", "data": data}))
}

fn result_file() -> Vec<u8> {
    xlsx(
        &[
            "Phone Number",
            "Is WhatsApp Number",
            "Status",
            "Last Active Time",
            "Active Hour",
            "Avatar",
            "Is Business Number",
            "Gender",
            "Age",
        ],
        &[
            vec![
                Cell::N(919876543210.0),
                Cell::N(1.0),
                Cell::S("happy"),
                Cell::S("2025-09-05 00:10:47"),
                Cell::N(2.0),
                Cell::S("http://cdn.example/1.png"),
                Cell::N(1.0),
                Cell::S("male"),
                Cell::S("22"),
            ],
            vec![Cell::S("919876543211"), Cell::N(0.0)],
            vec![
                Cell::S("919812345678"),
                Cell::S("1"),
                Cell::Empty,
                Cell::S("1970-01-01 08:00:01"),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::S("female(女)"),
                Cell::S("unknown"),
            ],
            // A repeated row and an unusable one.
            vec![Cell::S("919876543210"), Cell::N(1.0)],
            vec![Cell::S("not a number"), Cell::N(1.0)],
        ],
    )
}

async fn mount_happy_path(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(SUBMIT))
        .and(header("X-Api-Token", "tok-123"))
        .and(body_json(json!({
            "data": ["919876543210", "919876543211", "919812345678"],
            "type": 0,
            "country": "IN"
        })))
        .respond_with(env(json!(ORDER)))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(STATUS))
        .respond_with(env(json!(0)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    // The table says int; the vendor's examples drift to strings.
    Mock::given(method("POST"))
        .and(path(STATUS))
        .respond_with(env(json!("1")))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(DETAILS))
        .respond_with(env(json!(format!("{}/files/r.xlsx?sig=abc", server.uri()))))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/r.xlsx"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(result_file()))
        .mount(server)
        .await;
}

fn numbers() -> Vec<domain::E164> {
    ["+919876543210", "+919876543211", "+919812345678"]
        .iter()
        .map(|s| e164(s))
        .collect()
}

#[tokio::test]
async fn conformance() {
    let server = MockServer::start().await;
    mount_happy_path(&server).await;
    let c = checker(&server);
    bulk_conformance(
        c.as_ref(),
        &server,
        &numbers(),
        CheckSet::of(&[Check::Registered]),
    )
    .await;
}

#[tokio::test]
async fn end_to_end_fields_and_utc_times() {
    let server = MockServer::start().await;
    mount_happy_path(&server).await;
    let c = checker(&server);
    let checks = CheckSet::of(&[Check::Registered]);
    let order = c.submit(&numbers(), &checks).await.unwrap();
    assert_eq!(order.as_str(), ORDER);
    assert_eq!(
        c.poll(&order).await.unwrap(),
        OrderProgress::Running {
            done: None,
            total: None
        }
    );
    let OrderProgress::Ready { result } = c.poll(&order).await.unwrap() else {
        panic!("expected ready");
    };
    let results = c.fetch_results(&order, &result).await.unwrap();
    assert_eq!(results.len(), 3);

    let first = &results[0];
    assert_eq!(first.number, e164("+919876543210"));
    assert_eq!(first.registered, Some(true));
    assert_eq!(first.business, Some(true));
    assert_eq!(first.about.as_deref(), Some("happy"));
    assert_eq!(
        first.last_active_at.unwrap().to_rfc3339(),
        "2025-09-04T16:10:47+00:00"
    );
    assert_eq!(first.active_hour, Some(2));
    assert_eq!(
        first.avatar_url.as_deref(),
        Some("http://cdn.example/1.png")
    );
    assert_eq!(first.has_avatar, Some(true));
    assert_eq!(first.gender, Some(Gender::Male));
    assert_eq!(first.age, Some(22));
    assert_eq!(first.provider, Some(providers::wscrm_screening::ID));

    let second = &results[1];
    assert_eq!(second.registered, Some(false));
    assert_eq!(second.last_active_at, None);
    assert_eq!(
        second.has_avatar, None,
        "no avatar column value is not a 'no'"
    );
    assert_eq!(second.gender, None);

    let third = &results[2];
    assert_eq!(third.registered, Some(true));
    assert_eq!(third.last_active_at, None, "vendor epoch means never");
    assert_eq!(third.gender, Some(Gender::Female));
    assert_eq!(third.age, None);
}

#[tokio::test]
async fn vendor_time_zone_is_configurable() {
    let server = MockServer::start().await;
    mount_happy_path(&server).await;
    let c = checker_with(&server, json!({"wscrm": {"vendor_utc_offset": "+00:00"}}));
    let loc = ResultLocation::new(format!("{}/files/r.xlsx", server.uri()));
    let results = c
        .fetch_results(&VendorOrderId::new(ORDER), &loc)
        .await
        .unwrap();
    assert_eq!(
        results[0].last_active_at.unwrap().to_rfc3339(),
        "2025-09-05T00:10:47+00:00"
    );
}

#[tokio::test]
async fn check_to_type_mapping_and_active_type() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SUBMIT))
        .and(body_json(json!({
            "data": ["919876543210"],
            "type": 1,
            "activeType": 0,
            "country": "IN"
        })))
        .respond_with(env(json!(8639164839053938688u64)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SUBMIT))
        .and(body_json(
            json!({"data": ["919876543210"], "type": 2, "country": "IN"}),
        ))
        .respond_with(env(json!("o-2")))
        .expect(1)
        .mount(&server)
        .await;
    let c = checker_with(&server, json!({"wscrm": {"screening": {"active_type": 0}}}));
    let all = CheckSet::of(&[Check::Registered, Check::Activity, Check::Demographics]);
    let groups = c.order_groups(&all);
    assert_eq!(
        groups,
        vec![
            CheckSet::of(&[Check::Registered, Check::Activity]),
            CheckSet::of(&[Check::Demographics])
        ]
    );
    let n = [e164("+919876543210")];
    // 64-bit ids stay exact strings.
    assert_eq!(
        c.submit(&n, &groups[0]).await.unwrap().as_str(),
        "8639164839053938688"
    );
    assert_eq!(c.submit(&n, &groups[1]).await.unwrap().as_str(), "o-2");

    let before = request_count(&server).await;
    let err = c.submit(&n, &all).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unsupported);
    let err = c
        .submit(&n, &CheckSet::of(&[Check::Profile]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unsupported);
    assert_eq!(request_count(&server).await, before);
}

#[tokio::test]
async fn mixed_countries_are_refused_without_request() {
    let server = MockServer::start().await;
    let c = checker(&server);
    let err = c
        .submit(
            &[e164("+919876543210"), e164("+51987654321")],
            &CheckSet::of(&[Check::Registered]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unsupported);
    assert!(c.one_region_per_order());
    assert_eq!(request_count(&server).await, 0);
}

async fn submit_error(response: ResponseTemplate) -> domain::ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SUBMIT))
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
async fn envelope_codes_map_to_kinds() {
    let body = |code: serde_json::Value| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": code, "message": "nope", "data": null}))
    };
    let e = submit_error(body(json!(401))).await;
    assert_eq!(e.kind, ProviderErrorKind::Auth);
    assert_eq!(e.vendor_code.as_deref(), Some("401"));
    assert_eq!(
        submit_error(body(json!(500))).await.kind,
        ProviderErrorKind::Unavailable
    );
    assert_eq!(
        submit_error(body(json!("400"))).await.kind,
        ProviderErrorKind::BadRequest
    );
    assert_eq!(
        submit_error(body(json!(429))).await.kind,
        ProviderErrorKind::RateLimited { retry_after: None }
    );
    assert_eq!(
        submit_error(body(json!(null))).await.kind,
        ProviderErrorKind::MalformedAnswer
    );
}

#[tokio::test]
async fn http_errors_map_to_kinds() {
    let e = submit_error(ResponseTemplate::new(429).insert_header("Retry-After", "5")).await;
    assert_eq!(
        e.kind,
        ProviderErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(503)).await.kind,
        ProviderErrorKind::Unavailable
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(401)).await.kind,
        ProviderErrorKind::Auth
    );
    assert_eq!(
        submit_error(ResponseTemplate::new(302).insert_header("Location", "http://elsewhere/"))
            .await
            .kind,
        ProviderErrorKind::Unavailable
    );
}

#[tokio::test]
async fn malformed_and_truncated_answers() {
    let e = submit_error(ResponseTemplate::new(200).set_body_string("<html>oops</html>")).await;
    assert_eq!(e.kind, ProviderErrorKind::MalformedAnswer);
    let e =
        submit_error(ResponseTemplate::new(200).set_body_string(r#"{"code":200,"message":"Succ"#))
            .await;
    assert_eq!(e.kind, ProviderErrorKind::MalformedAnswer);
    // Order id missing from a success envelope.
    let e = submit_error(env(json!(null))).await;
    assert_eq!(e.kind, ProviderErrorKind::MalformedAnswer);
}

#[tokio::test]
async fn slow_vendor_times_out() {
    let e = submit_error(env(json!(ORDER)).set_delay(Duration::from_secs(3))).await;
    assert_eq!(e.kind, ProviderErrorKind::Timeout);
}

#[tokio::test]
async fn unreachable_vendor_is_unavailable() {
    // A port that nothing listens on (wiremock servers are pooled, so dropping one is not enough).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = registry(json!({"wscrm": {
        "bus_api_base_url": format!("http://127.0.0.1:{port}/wscrm-bus-api"),
        "timeout_ms": 1000
    }}))
    .bulk(providers::wscrm_screening::ID)
    .unwrap();
    let e = c
        .submit(
            &[e164("+919876543210")],
            &CheckSet::of(&[Check::Registered]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::Unavailable, "{e}");
}

#[tokio::test]
async fn unknown_poll_status_is_malformed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(STATUS))
        .respond_with(env(json!(7)))
        .mount(&server)
        .await;
    let e = checker(&server)
        .poll(&VendorOrderId::new(ORDER))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::MalformedAnswer);
}

#[tokio::test]
async fn download_from_unlisted_host_is_refused_without_request() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(result_file()))
        .mount(&other)
        .await;
    let c = checker(&server);
    for url in [
        format!("{}/files/r.xlsx", other.uri()),
        "file:///etc/passwd".to_owned(),
        "ftp://example.com/r.xlsx".to_owned(),
    ] {
        let e = c
            .fetch_results(&VendorOrderId::new(ORDER), &ResultLocation::new(url))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::ForbiddenHost);
    }
    assert_eq!(request_count(&other).await, 0);
}

#[tokio::test]
async fn download_urls_the_outbound_policy_refuses_are_not_fetched() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(result_file()))
        .mount(&server)
        .await;
    // Results may come from `/files` on the vendor's host only.
    let c = checker_with(
        &server,
        json!({"wscrm": {"result_hosts": [format!("{}/files", server.uri())]}}),
    );
    let authority = server.address().to_string();
    let port = server.address().port();
    for url in [
        format!("http://vendor:secret@{authority}/files/r.xlsx"),
        format!("http://{authority}@127.0.0.1:{port}/files/r.xlsx"),
        format!("http://{authority}/admin/r.xlsx"),
        format!("http://{authority}/files/../admin/r.xlsx"),
        format!("http://{authority}/filesx/r.xlsx"),
        format!("http://[::ffff:127.0.0.1]:{port}/files/r.xlsx"),
        format!("http://localhost:{port}/files/r.xlsx"),
    ] {
        let e = c
            .fetch_results(
                &VendorOrderId::new(ORDER),
                &ResultLocation::new(url.clone()),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::ForbiddenHost, "{url}: {e}");
    }
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn download_redirect_is_refused() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(result_file()))
        .mount(&other)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/r.xlsx"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", format!("{}/x.xlsx", other.uri())),
        )
        .mount(&server)
        .await;
    let e = checker(&server)
        .fetch_results(
            &VendorOrderId::new(ORDER),
            &ResultLocation::new(format!("{}/files/r.xlsx", server.uri())),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::ForbiddenHost);
    assert_eq!(request_count(&other).await, 0);
}

#[tokio::test]
async fn download_size_is_capped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/files/r.xlsx"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 64 * 1024]))
        .mount(&server)
        .await;
    let c = checker_with(&server, json!({"download": {"max_bytes": 1024}}));
    let e = c
        .fetch_results(
            &VendorOrderId::new(ORDER),
            &ResultLocation::new(format!("{}/files/r.xlsx", server.uri())),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::TooLarge);
}

#[tokio::test]
async fn result_file_that_is_not_xlsx_is_malformed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/files/r.xlsx"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not a zip"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/nonumber.xlsx"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(xlsx(&["Foo"], &[vec![Cell::S("1")]])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/gone.xlsx"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let c = checker(&server);
    let fetch = |p: &str| {
        let loc = ResultLocation::new(format!("{}{p}", server.uri()));
        let c = c.clone();
        async move {
            c.fetch_results(&VendorOrderId::new(ORDER), &loc)
                .await
                .unwrap_err()
                .kind
        }
    };
    assert_eq!(
        fetch("/files/r.xlsx").await,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        fetch("/files/nonumber.xlsx").await,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(fetch("/files/gone.xlsx").await, ProviderErrorKind::NotFound);
}

#[tokio::test]
async fn credentials_never_in_debug() {
    let server = MockServer::start().await;
    let c = checker(&server);
    assert!(!format!("{c:?}").contains("tok-123"));
    let loc = ResultLocation::new("https://oss.example/r.xlsx?token=s3cret");
    assert!(!format!("{loc:?}").contains("s3cret"));
}
