//! Wire contract of accuauth `/check/whatsapp_advanced` (document `004_99bd586dd4842bc2.txt`):
//! request header and body tables, captured at the HTTP boundary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{Field, Format as F, Ty, assert_json_post, header, only, opt, req};
use common::{e164, registry};
use domain::{Check, CheckSet};
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// 2.2 Request Body: `number` is the Peru number without country code; `callback` is "not
/// supported yet".
const BODY: &[Field] = &[
    req("number", Ty::Str, F::Digits),
    opt("callback", Ty::Str, F::Url),
];

#[tokio::test]
async fn check_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "OK",
            "result": {"number": "+51987654321", "whatsapp": "yes", "status_update": "20231212",
                       "signature": "Hello world", "business_user": "no", "avatar": "yes"},
            "request_id": "TID591cb9fb0e284cf296912a4d0ffea889"
        })))
        .mount(&server)
        .await;
    let checker = registry(json!({"accuauth": {
        "base_url": server.uri(),
        "api_id": "id-1",
        "api_secret": "secret-1",
        "timeout_ms": 2000
    }}))
    .single(providers::accuauth::ID)
    .unwrap();
    checker
        .check(&e164("+51987654321"), &CheckSet::of(&[Check::Registered]))
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let r = only(&reqs, "/check/whatsapp_advanced");
    assert_json_post(r, BODY, "whatsapp_advanced");
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["number"], "987654321", "without the country code");
    // 2.1 Request Header.
    assert_eq!(header(r, "X-DF-API-ID"), Some("id-1"));
    assert_eq!(header(r, "X-DF-API-SECRET"), Some("secret-1"));
}
