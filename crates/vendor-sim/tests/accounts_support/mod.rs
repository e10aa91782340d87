//! Shared pieces of the account-management tests: a fast configuration, request macros over an
//! in-process service, and a webhook receiver on a loopback port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use vendor_sim::accounts::AccountsConfig;

/// Fast timings: logins and registrations finish at once unless a test says otherwise.
pub fn fast_config() -> AccountsConfig {
    AccountsConfig {
        action_spacing: Duration::from_millis(300),
        execute_after: Duration::from_millis(0),
        login_after: Duration::ZERO,
        registration_after: None,
        ..AccountsConfig::default()
    }
}

/// POST a JSON body (a `serde_json::Value`) and read the JSON answer.
#[macro_export]
macro_rules! post {
    ($app:expr, $path:expr, $body:expr) => {{
        let req = actix_web::test::TestRequest::post()
            .uri($path)
            .set_json($body)
            .to_request();
        let v: serde_json::Value = actix_web::test::call_and_read_body_json(&$app, req).await;
        v
    }};
}

/// POST raw bytes (for malformed bodies).
#[macro_export]
macro_rules! post_raw {
    ($app:expr, $path:expr, $body:expr) => {{
        let req = actix_web::test::TestRequest::post()
            .uri($path)
            .insert_header(("content-type", "application/json"))
            .set_payload($body)
            .to_request();
        let v: serde_json::Value = actix_web::test::call_and_read_body_json(&$app, req).await;
        v
    }};
}

#[macro_export]
macro_rules! get {
    ($app:expr, $path:expr) => {{
        let req = actix_web::test::TestRequest::get().uri($path).to_request();
        let v: serde_json::Value = actix_web::test::call_and_read_body_json(&$app, req).await;
        v
    }};
}

/// POST to an admin route and return (HTTP status, JSON body).
#[macro_export]
macro_rules! admin {
    ($app:expr, $path:expr, $body:expr) => {{
        let req = actix_web::test::TestRequest::post()
            .uri($path)
            .set_json($body)
            .to_request();
        let res = actix_web::test::call_service(&$app, req).await;
        let status = res.status().as_u16();
        let bytes = actix_web::test::read_body(res).await;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, v)
    }};
}

/// Builds the in-process service for a simulator.
#[macro_export]
macro_rules! service {
    ($sim:expr) => {{
        let sim = std::sync::Arc::clone(&$sim);
        actix_web::test::init_service(
            actix_web::App::new().configure(move |cfg| vendor_sim::accounts::configure(cfg, sim)),
        )
        .await
    }};
}

/// Asserts a success envelope and returns its `data`.
pub fn data(v: &Value) -> Value {
    assert_eq!(v["code"], json!(200), "expected success, got {v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("success")),
        "{v}"
    );
    v["data"].clone()
}

/// Asserts an error envelope with `code` and `data: null`.
pub fn error(v: &Value, code: i64) {
    assert_eq!(v["code"], json!(code), "expected code {code}, got {v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(v["data"], Value::Null, "{v}");
}

/// Asserts that `obj` has exactly these keys.
pub fn keys(obj: &Value, expected: &[&str]) {
    let mut got: Vec<&str> = obj
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {obj}"))
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "fields of {obj}");
}

/// A webhook as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A gateway stand-in that records webhooks and answers as the document asks.
#[derive(Clone)]
pub struct Receiver {
    pub base_url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
}

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    got: web::Data<Arc<Mutex<Vec<Received>>>>,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    got.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        headers,
        body,
    });
    HttpResponse::Ok().json(json!({"code": 200, "message": "Success", "data": ""}))
}

impl Receiver {
    pub fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::new(Arc::clone(&got));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self { base_url, got }
    }

    pub fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` webhooks arrived to `path` and returns them.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let hits: Vec<Received> = self.all().into_iter().filter(|r| r.path == path).collect();
            if hits.len() >= n {
                return hits;
            }
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("expected {n} webhooks to {path}, got {:?}", self.all());
    }
}

/// A config whose webhooks go to `receiver`, with a secret header.
pub fn config_with(receiver: &Receiver) -> AccountsConfig {
    AccountsConfig {
        webhook_target: Some(receiver.base_url.clone()),
        webhook_headers: vec![("X-Webhook-Secret".to_owned(), "s3cret".to_owned())],
        ..fast_config()
    }
}

/// Pre-generates a port, fetches its QR code and has `phone` scan it; returns the session id.
#[macro_export]
macro_rules! login {
    ($app:expr, $phone:expr) => {{
        let id = $crate::accounts_support::data(&$crate::post!($app, "/group-dispatch-api/qrCode/preGenerate", serde_json::json!({"type": 1})));
        let id = id.as_str().expect("session id").to_owned();
        $crate::accounts_support::data(&$crate::post!($app, "/group-dispatch-api/qrCode/getQrCode", serde_json::json!({"id": id})));
        let (status, body) = $crate::admin!($app, &format!("/_sim/accounts/sessions/{id}/scan"), serde_json::json!({"whatsapp": $phone}));
        assert_eq!(status, 200, "scan: {body}");
        id
    }};
}
