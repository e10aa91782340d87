//! Wire contract of NxCloud getPhone (document `002_4e13cdfe7b1388d9.txt`): the header and body
//! parameter tables, captured at the HTTP boundary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{Field, Format as F, Ty, assert_json_post, header, opt, req};
use common::{e164, registry};
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Body Parameters.
const BODY: &[Field] = &[
    req("appkey", Ty::Str, F::NonEmpty),
    opt("business_phones", Ty::Str, F::DigitList),
    req("messaging_product", Ty::Str, F::OneOfStr(&["whatsapp"])),
];

#[tokio::test]
async fn get_phone_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 0, "message": "Request successful", "data": {}})),
        )
        .mount(&server)
        .await;
    let phones = registry(json!({"nxcloud": {
        "base_url": server.uri(),
        "access_key": "fme2na3kdi3ki",
        "access_secret": "s3cr3t",
        "appkey": "jh42xxxd434",
        "timeout_ms": 2000
    }}))
    .business_phones()
    .unwrap();
    phones.list(&[]).await.unwrap();
    phones
        .list(&[e164("+8613800138024"), e164("+14155550123")])
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.url.path(), "/api/wa/getPhone");
        assert_json_post(r, BODY, "getPhone");
        // Header Parameters: all Strings.
        assert_eq!(header(r, "accessKey"), Some("fme2na3kdi3ki"));
        let ts = header(r, "ts").expect("ts");
        assert!(
            ts.len() == 13 && ts.bytes().all(|b| b.is_ascii_digit()),
            "ts in ms: {ts}"
        );
        assert_eq!(header(r, "bizType"), Some("2"));
        assert_eq!(header(r, "action"), Some("getPhone"));
        let sign = header(r, "sign").expect("sign");
        assert!(
            sign.len() == 32 && sign.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "lower-case hex MD5: {sign}"
        );
    }
    let filtered: serde_json::Value = serde_json::from_slice(&reqs[1].body).unwrap();
    assert_eq!(filtered["business_phones"], "8613800138024,14155550123");
}
