//! Wire contract of the three screening operations of document `000_fe3853ebb177c98b.txt`,
//! captured at the HTTP boundary and compared with the document's tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{Field, Format as F, Ty, assert_bodyless, assert_json_post, only, opt, req};
use common::{e164, registry};
use domain::{Check, CheckSet};
use providers::OrderProgress;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PREFIX: &str = "/wscrm-bus-api/open/scan";
const ORDER: &str = "330e6b1c1dd62662d0474de6f0003288";

/// WhatsApp Number Screening Interface: `data` phone numbers with country code (the example
/// writes them as digit strings), `type` 0..2, `activeType` 0..2, `country`.
const SCREEN: &[Field] = &[
    req("data", Ty::StrList, F::IntlDigits),
    req("type", Ty::Int, F::OneOf(&[0, 1, 2])),
    opt("activeType", Ty::Int, F::OneOf(&[0, 1, 2])),
    req("country", Ty::Str, F::Iso2),
];
/// The status and result queries take the order id in the path and document no body.
const NONE: &[Field] = &[];

async fn vendor(
    active_type: Option<u8>,
) -> (MockServer, std::sync::Arc<dyn providers::BulkNumberChecker>) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(|r: &Request| {
            let path = r.url.path();
            let data = if path.ends_with("screenWhatsApp") {
                json!(ORDER)
            } else if path.contains("queryTaskStatus") {
                json!(1)
            } else {
                json!("http://aliyun.example/xxx/zzz.xlsx")
            };
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 200, "message": "Success", "data": data}))
        })
        .mount(&server)
        .await;
    let checker = registry(json!({"wscrm": {
        "bus_api_base_url": format!("{}/wscrm-bus-api", server.uri()),
        "auth_headers": {"X-Api-Token": "tok-123"},
        "screening": {"active_type": active_type},
        "timeout_ms": 2000
    }}))
    .bulk(providers::wscrm_screening::ID)
    .unwrap();
    (server, checker)
}

#[tokio::test]
async fn screen_whatsapp_for_each_screening_type() {
    for (checks, active) in [
        (CheckSet::of(&[Check::Registered]), None),
        (CheckSet::of(&[Check::Activity]), Some(0)),
        (CheckSet::of(&[Check::Activity]), None),
        (CheckSet::of(&[Check::Demographics]), Some(2)),
    ] {
        let (server, checker) = vendor(active).await;
        checker
            .submit(&[e164("+919876543210"), e164("+919876543211")], &checks)
            .await
            .unwrap();
        let reqs = server.received_requests().await.unwrap();
        let r = only(&reqs, &format!("{PREFIX}/screenWhatsApp"));
        assert_json_post(r, SCREEN, "screenWhatsApp");
    }
}

#[tokio::test]
async fn query_task_status_and_details() {
    let (server, checker) = vendor(None).await;
    let progress = checker
        .poll(&providers::VendorOrderId::new(ORDER.to_owned()))
        .await
        .unwrap();
    assert!(matches!(progress, OrderProgress::Ready { .. }));
    let reqs = server.received_requests().await.unwrap();
    for op in ["queryTaskStatus", "queryTaskDetails"] {
        let r = only(&reqs, &format!("{PREFIX}/{op}/{ORDER}"));
        assert_bodyless(r, "POST", NONE, op);
    }
}
