//! Errors look the same everywhere: unknown routes, wrong methods, bad JSON, bad queries,
//! oversized bodies and validation failures are RFC 9457 problems with a stable code.

mod support;

use actix_web::{App, HttpResponse, test, web};
use gateway_api::http::extractors;
use gateway_api::http::request_id::request_id;
use serde::Deserialize;
use serde_json::{Value, json};
use support::{expect_problem, spawn_app, token};
use validator::Validate;

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = spawn_app().await;
    let response = app.get("/v1/nowhere", &token("acme", "admin")).await;
    expect_problem(response, 404, "route_not_found").await;
    let response = app
        .client
        .delete(app.url("/v1/whoami"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET"[..])
    );
    expect_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_wrong_method_is_405_even_with_an_idempotency_key_in_use() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", token("acme", "events:write"));
    let send = |method: reqwest::Method| {
        app.client
            .request(method, app.url("/v1/subscriptions"))
            .header("authorization", &bearer)
            .header("idempotency-key", "shared-key")
            .json(&json!({"url": "https://nowhere.invalid/hook"}))
            .send()
    };
    let first = send(reqwest::Method::POST).await.expect("request");
    assert_ne!(first.status().as_u16(), 405);
    let response = send(reqwest::Method::PUT).await.expect("request");
    expect_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn request_ids_are_accepted_or_generated_and_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/nowhere"))
        .header("x-request-id", "caller-chosen-42")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"caller-chosen-42"[..])
    );
    let body = expect_problem(response, 404, "route_not_found").await;
    assert_eq!(body["request_id"], "caller-chosen-42");

    // Problems raised inside extractors carry the id too.
    let response = app
        .client
        .get(app.url("/v1/whoami"))
        .header("x-request-id", "rid-from-extractor")
        .send()
        .await
        .expect("request");
    let body = expect_problem(response, 401, "missing_token").await;
    assert_eq!(body["request_id"], "rid-from-extractor");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("request");
    let generated = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("id")
        .to_owned();
    assert_ne!(generated, "bad id with spaces");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
}

#[derive(Debug, Deserialize, Validate)]
struct Thing {
    #[validate(length(min = 1, max = 3, message = "between 1 and 3 items"))]
    items: Vec<String>,
    #[validate(range(min = 1, max = 10))]
    count: u32,
}

#[derive(Debug, Deserialize)]
struct Paging {
    #[allow(dead_code)]
    limit: u32,
}

async fn create(
    body: web::Json<Thing>,
    _q: web::Query<Paging>,
) -> Result<HttpResponse, gateway_api::error::ApiError> {
    body.validate()?;
    Ok(HttpResponse::Created().finish())
}

#[actix_web::test]
async fn extractor_failures_are_problems() {
    let app = test::init_service(
        App::new()
            .app_data(extractors::json_config(2048))
            .app_data(extractors::query_config())
            .app_data(extractors::path_config())
            .route("/things", web::post().to(create))
            .wrap(actix_web::middleware::from_fn(request_id)),
    )
    .await;
    let call = |uri: &str, body: &str, content_type: &str| {
        test::TestRequest::post()
            .uri(uri)
            .insert_header(("content-type", content_type.to_owned()))
            .set_payload(body.to_owned())
            .to_request()
    };
    let cases = [
        (
            call("/things?limit=5", "{not json", "application/json"),
            400,
            "invalid_json",
        ),
        (
            call(
                "/things?limit=5",
                r#"{"items": 3, "count": 1}"#,
                "application/json",
            ),
            422,
            "validation_failed",
        ),
        (
            call(
                "/things?limit=5",
                &format!(r#"{{"items": ["{}"], "count": 1}}"#, "x".repeat(4096)),
                "application/json",
            ),
            413,
            "payload_too_large",
        ),
        (
            call(
                "/things?limit=5",
                r#"{"items": ["a"], "count": 1}"#,
                "text/plain",
            ),
            415,
            "unsupported_media_type",
        ),
        (
            call(
                "/things?limit=many",
                r#"{"items": ["a"], "count": 1}"#,
                "application/json",
            ),
            400,
            "invalid_query",
        ),
        (
            call(
                "/things?limit=5",
                r#"{"items": [], "count": 11}"#,
                "application/json",
            ),
            422,
            "validation_failed",
        ),
        (
            call(
                "/things?limit=5",
                r#"{"items": ["a"], "count": 2}"#,
                "application/json",
            ),
            201,
            "",
        ),
    ];
    for (request, status, code) in cases {
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status().as_u16(), status, "{code}");
        if status >= 400 {
            assert_eq!(
                response.headers().get("content-type").map(|v| v.as_bytes()),
                Some(&b"application/problem+json"[..])
            );
            let body: Value = test::read_body_json(response).await;
            assert_eq!(body["code"], code, "{body}");
            assert!(body["request_id"].is_string(), "{body}");
            if code == "validation_failed"
                && body["errors"].as_array().is_some_and(|e| e.len() == 2)
            {
                let fields: Vec<&str> = body["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["field"].as_str())
                    .collect();
                assert_eq!(fields, ["count", "items"], "{body}");
                assert_eq!(body["errors"][1]["message"], "between 1 and 3 items");
            }
        }
    }
    let _ = json!({});
}
