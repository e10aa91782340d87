#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{e164, registry};
use domain::{
    BusinessPhoneStatus, CodeVerificationStatus, MessagingLimit, NameStatus, ProviderErrorKind,
    QualityRating,
};
use md5::{Digest, Md5};
use providers::BusinessPhones;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const GET_PHONE: &str = "/api/wa/getPhone";

fn phones(server: &MockServer) -> Arc<dyn BusinessPhones> {
    registry(json!({"nxcloud": {
        "base_url": server.uri(),
        "access_key": "fme2na3kdi3ki",
        "access_secret": "s3cr3t",
        "appkey": "jh42xxxd434",
        "timeout_ms": 1000
    }}))
    .business_phones()
    .unwrap()
}

/// Recomputes the signature from what actually arrived, as NxCloud does.
struct SignedWith(&'static str);

impl Match for SignedWith {
    fn matches(&self, req: &Request) -> bool {
        let h = |k: &str| {
            req.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let ts: i64 = h("ts").parse().unwrap_or(0);
        let fresh = (chrono::Utc::now().timestamp_millis() - ts).abs() < 60_000;
        let mut s = format!(
            "accessKey={}&action={}&bizType={}&ts={}",
            h("accessKey"),
            h("action"),
            h("bizType"),
            h("ts")
        )
        .into_bytes();
        if !req.body.is_empty() {
            s.extend_from_slice(b"&body=");
            s.extend_from_slice(&req.body);
        }
        s.extend_from_slice(b"&accessSecret=");
        s.extend_from_slice(self.0.as_bytes());
        fresh && hex::encode(Md5::digest(&s)) == h("sign")
    }
}

fn ok(data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": 0, "data": data, "message": "Request successful"}))
}

#[tokio::test]
async fn lists_all_numbers_signed_and_flattened() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GET_PHONE))
        .and(header("accessKey", "fme2na3kdi3ki"))
        .and(header("bizType", "2"))
        .and(header("action", "getPhone"))
        .and(SignedWith("s3cr3t"))
        .and(body_json(
            json!({"appkey": "jh42xxxd434", "messaging_product": "whatsapp"}),
        ))
        .respond_with(ok(json!({
            "8613800138024": [{
                "display_phone_number": "+86 138 0013 8024",
                "quality_rating": "GREEN",
                "name_status": "APPROVED",
                "verified_name": "GLORY JACK",
                "code_verification_status": "VERIFIED",
                "current_limit": "",
                "status": "CONNECTED"
            }],
            "12025550143": [{
                "display_phone_number": "+1 202-555-0143",
                "quality_rating": "PURPLE",
                "name_status": "APPROVED",
                "verified_name": "Glory HK",
                "code_verification_status": "NOT_VERIFIED",
                "current_limit": "TIER_1K",
                "status": "CONNECTED"
            }, {
                "display_phone_number": "garbage",
                "quality_rating": "RED"
            }]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut list = phones(&server).list(&[]).await.unwrap();
    list.sort_by_key(|p| p.number);
    // An entry whose display number is unusable falls back to the number it is keyed by.
    assert_eq!(list.len(), 3);
    let us: Vec<_> = list
        .iter()
        .filter(|p| p.number == e164("+12025550143"))
        .collect();
    assert_eq!(us.len(), 2);
    assert_eq!(us[0].quality_rating, QualityRating::Unknown);
    assert_eq!(us[0].messaging_limit, Some(MessagingLimit::Tier1K));
    assert_eq!(
        us[0].code_verification_status,
        CodeVerificationStatus::NotVerified
    );
    let cn = list
        .iter()
        .find(|p| p.number == e164("+8613800138024"))
        .unwrap();
    assert_eq!(cn.verified_name, "GLORY JACK");
    assert_eq!(cn.quality_rating, QualityRating::Green);
    assert_eq!(cn.messaging_limit, None);
    assert_eq!(
        cn.code_verification_status,
        CodeVerificationStatus::Verified
    );
    assert_eq!(cn.status, BusinessPhoneStatus::Connected);
    assert_eq!(cn.name_status, NameStatus::Approved);
}

#[tokio::test]
async fn filter_is_sent_as_comma_separated_digits_and_table_layout_is_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GET_PHONE))
        .and(SignedWith("s3cr3t"))
        .and(body_json(json!({
            "appkey": "jh42xxxd434",
            "business_phones": "8613800138024,12025550143",
            "messaging_product": "whatsapp"
        })))
        .respond_with(ok(json!({"business_phones": [{
            "display_phone_number": "+86 138 0013 8024",
            "quality_rating": "YELLOW",
            "verified_name": "X",
            "name_status": "PENDING_REVIEW",
            "code_verification_status": "EXPIRED",
            "status": "CONNECTED"
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    let list = phones(&server)
        .list(&[e164("+8613800138024"), e164("+12025550143")])
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].quality_rating, QualityRating::Yellow);
    assert_eq!(list[0].name_status, NameStatus::PendingReview);
    assert_eq!(
        list[0].code_verification_status,
        CodeVerificationStatus::Expired
    );
}

async fn error_for(response: ResponseTemplate) -> domain::ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GET_PHONE))
        .respond_with(response)
        .mount(&server)
        .await;
    phones(&server).list(&[]).await.unwrap_err()
}

fn code(c: i64) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": c, "message": "Request failed", "data": null}))
}

#[tokio::test]
async fn vendor_codes_map_to_kinds() {
    let cases = [
        (1000, ProviderErrorKind::Auth),
        (1003, ProviderErrorKind::Auth),
        (9000, ProviderErrorKind::BadRequest),
        (9001, ProviderErrorKind::Unavailable),
        (9002, ProviderErrorKind::BadRequest),
        (9006, ProviderErrorKind::NumberNotBound),
        (-1, ProviderErrorKind::Unavailable),
    ];
    for (c, kind) in cases {
        let e = error_for(code(c)).await;
        assert_eq!(e.kind, kind, "code {c}");
        assert_eq!(e.vendor_code, Some(c.to_string()));
    }
}

#[tokio::test]
async fn transport_and_format_failures() {
    assert_eq!(
        error_for(ResponseTemplate::new(500)).await.kind,
        ProviderErrorKind::Unavailable
    );
    assert_eq!(
        error_for(ResponseTemplate::new(200).set_body_string(r#"{"code":0,"data":{"86"#))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        error_for(ResponseTemplate::new(200).set_body_json(json!({"code": 0, "data": [1, 2]})))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        error_for(ResponseTemplate::new(200).set_body_json(json!({"message": "?"})))
            .await
            .kind,
        ProviderErrorKind::MalformedAnswer
    );
    assert_eq!(
        error_for(code(0).set_delay(Duration::from_secs(3)))
            .await
            .kind,
        ProviderErrorKind::Timeout
    );
    // A success with no data is an empty list, not an error.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GET_PHONE))
        .respond_with(code(0))
        .mount(&server)
        .await;
    assert!(phones(&server).list(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn secrets_stay_out_of_debug() {
    let server = MockServer::start().await;
    let p = phones(&server);
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("s3cr3t"));
    assert!(!dbg.contains("fme2na3kdi3ki"));
}
