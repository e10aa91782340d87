//! Wiremock tests of a representative set of operations, the tolerant reading and error mapping.

use super::*;
use domain::{AccountKeys, AccountType, ChatPlatform};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn adapter(server: &MockServer) -> WscrmAccounts {
    let config: WscrmConfig = serde_json::from_value(json!({
        "bus_api_base_url": format!("{}/wscrm-bus-api", server.uri()),
        "dispatch_api_base_url": format!("{}/group-dispatch-api", server.uri()),
        "auth_headers": {"X-Api-Key": "k1"}
    }))
    .unwrap();
    WscrmAccounts::new(&config, reqwest::Client::new()).unwrap()
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"code": 200, "message": "Success", "data": data}))
}

fn credentials() -> AccountCredentials {
    let s = |v: &str| SecretString::from(v.to_owned());
    AccountCredentials {
        number_digits: "8613800138000".into(),
        account_type: AccountType::Personal,
        name: Some("Ann".into()),
        avatar_url: None,
        account_id: Some("a1".into()),
        keys: AccountKeys {
            public_key: s("pub"),
            private_key: s("very-private"),
            msg_public_key: s("mpub"),
            msg_private_key: s("mpriv"),
            next_key_id: None,
            registration_id: None,
            device_params: None,
        },
    }
}

#[tokio::test]
async fn statuses_read_drifting_types_and_both_spellings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/group-dispatch-api/whatsapp/queryWhatsAppStatus"))
        .and(header("X-Api-Key", "k1"))
        .respond_with(ok(json!([
            {"whatsApp": "8613800138000", "status": 1, "onlineStatus": "2"},
            {"whatsapp": 8613900139000_u64, "status": "2", "onlineStatus": 4},
            {"whatsApp": "1", "status": 9, "onlineStatus": 1}
        ])))
        .mount(&server)
        .await;
    let states = adapter(&server).await.account_states().await.unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].number, "+8613800138000");
    assert_eq!(states[0].online_status, OnlineStatus::Online);
    assert_eq!(states[1].status, AccountStatus::Banned);
    assert_eq!(states[1].number, "+8613900139000");
}

#[tokio::test]
async fn import_sends_keys_in_the_body_as_the_table_says() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/group-dispatch-api/whatsapp/batchInsert"))
        .and(body_partial_json(json!({"whatsAppList": [{
            "whatsApp": "8613800138000", "whatsappType": 1, "privateKey": "very-private", "accountId": "a1"
        }]})))
        .respond_with(ok(json!("")))
        .expect(1)
        .mount(&server)
        .await;
    adapter(&server)
        .await
        .import_accounts(&[credentials()])
        .await
        .unwrap();
    assert!(!format!("{:?}", credentials()).contains("very-private"));
}

#[tokio::test]
async fn qr_errors_keep_the_vendor_code() {
    let server = MockServer::start().await;
    Mock::given(path("/group-dispatch-api/qrCode/preGenerate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"code": 1001, "message": "Current user cloud port quota is insufficient", "data": null}),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/group-dispatch-api/qrCode/getQrCode"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": "1002", "message": "port released", "data": null})),
        )
        .mount(&server)
        .await;
    let a = adapter(&server).await;
    let e = a.reserve_port(PortType::Pc, None).await.unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::PortQuotaExhausted);
    assert_eq!(e.vendor_code.as_deref(), Some("1001"));
    let e = a.session_qr_code("abc", None).await.unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::PortReleased);
    assert_eq!(e.vendor_code.as_deref(), Some("1002"));
}

#[tokio::test]
async fn port_ids_stay_exact_strings() {
    let server = MockServer::start().await;
    Mock::given(path("/group-dispatch-api/qrCode/selectCloudPortDetail"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"code":200,"message":"Success","data":[{"phone":"8613800138000","createTime":"2025-01-02 11:04:05","id":8639164839053938688,"status":"10"}]}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/group-dispatch-api/qrCode/selectCloudPort"))
        .respond_with(ok(json!({"currentPort": "3", "maxPort": 20})))
        .mount(&server)
        .await;
    let a = adapter(&server).await;
    let ports = a.port_details().await.unwrap();
    assert_eq!(ports[0].id, "8639164839053938688");
    assert_eq!(ports[0].status, PortStatus::Online);
    assert_eq!(
        ports[0].created_at.unwrap().to_rfc3339(),
        "2025-01-02T03:04:05+00:00"
    );
    assert_eq!(
        a.port_quota().await.unwrap(),
        PortQuota { used: 3, max: 20 }
    );
}

#[tokio::test]
async fn contacts_read_is_friend_as_bool_or_string() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/group-dispatch-api/qrCode/selectContact"))
        .and(query_param("id", "s1"))
        .respond_with(ok(json!([
            {"whatsapp": "8613900139000", "pushName": "Li", "isFriend": true, "firstName": "Lei", "fullName": "Li Lei"},
            {"whatsapp": "8613900139001", "isFriend": "false"}
        ])))
        .mount(&server)
        .await;
    let c = adapter(&server).await.contacts("s1").await.unwrap();
    assert_eq!(c[0].is_friend, Some(true));
    assert_eq!(c[1].is_friend, Some(false));
    assert_eq!(c[1].push_name, None);
}

#[tokio::test]
async fn action_results_treat_the_1970_placeholder_as_unset() {
    let server = MockServer::start().await;
    Mock::given(path("/wscrm-bus-api/open/action/batchAdd"))
        .and(body_partial_json(json!({"tenantId": 7, "data": [{"agentAccount": "ag", "friendWhatsId": "8613900139000", "platformType": 1, "type": 1}]})))
        .respond_with(ok(json!(["0123456789abcdef0123456789abcdef"])))
        .mount(&server)
        .await;
    Mock::given(path("/wscrm-bus-api/open/action/callbackResult"))
        .respond_with(ok(json!([
            {"id": "a", "executeStatus": "0", "executeTime": "1970-01-01 08:00:01"},
            {"id": "b", "executeStatus": 1, "executeTime": "2025-01-02 11:04:05"},
            {"id": "c", "executeStatus": "2", "executeTime": "1970-01-01 08:00:01"}
        ])))
        .mount(&server)
        .await;
    let a = adapter(&server).await;
    let ids = a
        .submit_chat_actions(&[ChatActionRequest {
            vendor_tenant_id: 7,
            agent_account: "ag".into(),
            whatsapp_digits: None,
            friend_digits: "8613900139000".into(),
            platform: ChatPlatform::Pc,
            message: None,
        }])
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    let r = a.chat_action_results(7, &ids).await.unwrap();
    assert_eq!(r[0].status, ActionStatus::Pending);
    assert_eq!(r[0].executed_at, None);
    assert_eq!(r[1].status, ActionStatus::Succeeded);
    assert!(r[1].executed_at.is_some());
    assert_eq!(r[2].status, ActionStatus::Failed);
}

#[tokio::test]
async fn unauthorized_envelope_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(path("/group-dispatch-api/qrCode/selectPairTarget"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 401, "message": "Unauthorized", "data": null})),
        )
        .mount(&server)
        .await;
    let e = adapter(&server).await.pair_targets().await.unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::Auth);
    assert_eq!(e.vendor_code.as_deref(), Some("401"));
}
