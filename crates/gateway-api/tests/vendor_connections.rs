//! Vendor calls keep their connections alive (HTTP/1.1 keep-alive) and reuse them: sequential
//! calls to one vendor go over one connection, not one each.

mod support;

use serde_json::json;
use support::counting_proxy::CountingProxy;
use support::{spawn_app_with, token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CALLS: usize = 5;

#[tokio::test]
async fn sequential_vendor_calls_reuse_one_connection() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/check/whatsapp_advanced"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "OK",
            "result": {"number": "+51987654321", "whatsapp": "yes", "business_user": "no"},
            "request_id": "TID591cb9fb0e284cf296912a4d0ffea889"
        })))
        .expect(CALLS as u64)
        .mount(&vendor)
        .await;
    let proxy = CountingProxy::start(&vendor.address().to_string()).await;
    let app = spawn_app_with(json!({"vendors": {"accuauth": {
        "base_url": proxy.http_url(),
        "api_id": "id-1",
        "api_secret": "secret-1"
    }}}))
    .await;
    let token = token("acme", "numbers:check");
    for _ in 0..CALLS {
        // `max_age=0s`: no cached answer is fresh enough, so every lookup calls the vendor.
        let response = app
            .get(
                "/v1/numbers/%2B51987654321?checks=registered&max_age=0s",
                &token,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["from_cache"], false, "{body}");
    }
    assert_eq!(
        proxy.accepts(),
        1,
        "{CALLS} sequential vendor calls should share one kept-alive connection"
    );
}
