//! Wire contract of the 24 account-management operations of document
//! `001_238e5dcc1f61e544.txt`: each request the adapter sends, captured at the HTTP boundary,
//! against the document's parameter table (transcribed below, with the formats its examples show).
//! Blank-named table rows use the spelling of the document's examples (`whatsApp` for account
//! entries, `whatsapp` for the QR-info query).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::contract::{Field, Format as F, Ty, assert_bodyless, assert_json_post, only, opt, req};
use domain::{
    AccountCredentials, AccountKeys, AccountType, ChatActionRequest, ChatPlatform, PairCodeMode,
    PortType, ProfileChannel, RegistrationRequest, ScanAllocation, VerificationType,
};
use providers::AccountOperations;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BUS: &str = "/wscrm-bus-api";
const DISPATCH: &str = "/group-dispatch-api";
const SESSION: &str = "ad518a4271fa43c8937612c5f60396f8";

// ---- the document's tables -------------------------------------------------------------------

/// Wake Up Friend Contact Chat Conversation: `data` items.
const ACTION_ITEM: &[Field] = &[
    req("agentAccount", Ty::Str, F::NonEmpty),
    opt("whatsId", Ty::Str, F::IntlDigits),
    req("friendWhatsId", Ty::Str, F::IntlDigits),
    req("platformType", Ty::Int, F::OneOf(&[1, 2])),
    opt("content", Ty::Str, F::Any),
    req("type", Ty::Int, F::OneOf(&[1])),
];
const BATCH_ADD: &[Field] = &[
    req("tenantId", Ty::Int, F::Positive),
    req("data", Ty::ObjList(ACTION_ITEM), F::Any),
];
/// Query Wake-up Friend Contact Execution Detail.
const CALLBACK_RESULT: &[Field] = &[
    req("tenantId", Ty::Int, F::Positive),
    req("data", Ty::StrList, F::NonEmpty),
];
/// Batch Import Customer Service Accounts: `whatsAppList` items.
const IMPORT_ENTRY: &[Field] = &[
    req("whatsApp", Ty::Str, F::IntlDigits),
    opt("avatar", Ty::Str, F::Any),
    opt("name", Ty::Str, F::Any),
    req("publicKey", Ty::Str, F::Any),
    req("privateKey", Ty::Str, F::Any),
    req("msgPublicKey", Ty::Str, F::Any),
    req("msgPrivateKey", Ty::Str, F::Any),
    req("accountId", Ty::Str, F::Any),
    opt("nextKeyId", Ty::Str, F::Any),
    opt("registrationId", Ty::Str, F::Any),
    opt("deviceParams", Ty::Str, F::Any),
    opt("whatsappType", Ty::Int, F::OneOf(&[1, 2])),
];
const BATCH_INSERT: &[Field] = &[req("whatsAppList", Ty::ObjList(IMPORT_ENTRY), F::Any)];
/// Batch Online Customer Service Accounts: `whatsAppList` items.
const ONLINE_ENTRY: &[Field] = &[
    req("override", Ty::Bool, F::Any),
    req("whatsApp", Ty::Str, F::IntlDigits),
    opt("avatar", Ty::Str, F::Any),
    opt("name", Ty::Str, F::Any),
    req("publicKey", Ty::Str, F::Any),
    req("privateKey", Ty::Str, F::Any),
    req("msgPublicKey", Ty::Str, F::Any),
    req("msgPrivateKey", Ty::Str, F::Any),
    opt("nextKeyId", Ty::Str, F::Any),
    opt("registrationId", Ty::Str, F::Any),
    opt("accountId", Ty::Str, F::Any),
    opt("deviceParams", Ty::Str, F::Any),
    opt("whatsappType", Ty::Int, F::OneOf(&[1, 2])),
];
const BATCH_ONLINE: &[Field] = &[req("whatsAppList", Ty::ObjList(ONLINE_ENTRY), F::Any)];
/// Batch Recycle: a list of numbers (the example: strings).
const BATCH_RECYCLE: &[Field] = &[opt("whatsAppList", Ty::StrList, F::IntlDigits)];
/// Registration (Submit Phone Number).
const SUBMIT_PHONE: &[Field] = &[
    req("phone", Ty::Str, F::Digits),
    req("verifyType", Ty::Int, F::OneOf(&[0, 1, 2, 3])),
    req("accountType", Ty::Int, F::OneOf(&[1, 2])),
    req("areaCode", Ty::Str, F::CallingCode),
    req("countryCode", Ty::Str, F::Iso2),
];
/// Registration (Submit Verification Code).
const SUBMIT_CODE: &[Field] = &[
    req("phone", Ty::Str, F::Digits),
    req("areaCode", Ty::Str, F::CallingCode),
    req("verifyCode", Ty::Str, F::Digits),
];
/// Get QR Code Window ID: `target` is an int in the table and in the example.
const PRE_GENERATE: &[Field] = &[
    req("type", Ty::Int, F::OneOf(&[1, 2])),
    opt("target", Ty::Int, F::Positive),
];
/// Get QR Code.
const GET_QR_CODE: &[Field] = &[
    opt("id", Ty::Str, F::NonEmpty),
    opt("ipConfig", Ty::Str, F::IpConfig),
];
/// Get QR Code or Pair Code.
const GET_QR_CODE_V2: &[Field] = &[
    req("id", Ty::Str, F::NonEmpty),
    req("phone", Ty::Str, F::IntlDigits),
    opt("ipConfig", Ty::Str, F::IpConfig),
    opt("isEasy", Ty::Str, F::OneOfStr(&["n", "y", "b"])),
];
/// Get QR Code Information.
const GET_QR_CODE_INFO: &[Field] = &[
    opt("id", Ty::Str, F::NonEmpty),
    opt("whatsapp", Ty::Str, F::IntlDigits),
];
/// Customer Service Account Online.
const ON_LINE: &[Field] = &[
    req("id", Ty::Str, F::NonEmpty),
    opt("ipConfig", Ty::Str, F::IpConfig),
];
/// Offline, Logout, WhatsApp Profile Information.
const ID_ONLY: &[Field] = &[req("id", Ty::Str, F::NonEmpty)];
/// Cloud Port Address Book (`selectContact?id=xxx`).
const SELECT_CONTACT_QUERY: &[Field] = &[opt("id", Ty::Str, F::NonEmpty)];
/// Cloud Port Contact Information.
const CONTACT_INFO: &[Field] = &[
    req("id", Ty::Str, F::NonEmpty),
    req("phone", Ty::Str, F::IntlDigits),
];
/// Set Avatar and Nickname.
const UPDATE_PROFILE: &[Field] = &[
    req("type", Ty::Int, F::OneOf(&[0, 1])),
    opt("avatar", Ty::Str, F::Url),
    opt("nickname", Ty::Str, F::Any),
    req("phoneList", Ty::StrList, F::IntlDigits),
];
/// Create QR Scan Task.
const SCAN_TASK_CREATE: &[Field] = &[
    opt("userId", Ty::Int, F::Positive),
    req("allocationRole", Ty::Int, F::OneOf(&[1, 3])),
];
/// Get QR Code by Task ID.
const SCAN_TASK_QR: &[Field] = &[req("taskId", Ty::Str, F::NonEmpty)];
/// Requests the document gives no parameters.
const NONE: &[Field] = &[];

// ---- a vendor that answers every operation ---------------------------------------------------

fn success(path: &str) -> Value {
    let data = match path.rsplit('/').next().unwrap_or_default() {
        "batchAdd" => json!(["20c7c02bf11b494286dd165da47388c9"]),
        "submitPhone" => json!(12),
        "preGenerate" => json!(SESSION),
        "getQrCode" => json!("2@BBisWIG5D2RkAqYI5NhFXG+Mrw,1"),
        "getQrCodeV2" => {
            json!({"qrcode": "2@BBisWIG5D2RkAqYI5NhFXG+Mrw,1", "pairCode": "IVEA_IPON"})
        }
        "selectCloudPort" => json!({"currentPort": 3, "maxPort": 20}),
        "info" => json!({"whatsapp": "8618733334444", "pushName": "Ryan yu", "isFriend": false}),
        "profile" => json!({"whatsapp": "447962000000", "isBusiness": true}),
        "create" => json!("f0d485cb2e5e4c5ca21b74e970043e6c"),
        "callbackResult"
        | "queryWhatsAppStatus"
        | "selectPairTarget"
        | "getQrCodeInfo"
        | "selectCloudPortDetail"
        | "selectContact"
        | "onLine"
        | "offline"
        | "logOut" => json!([]),
        _ => json!(""),
    };
    // The task QR code shares its last segment with the session one; both answer a string.
    json!({"code": 200, "message": "Success", "data": data})
}

async fn vendor() -> (MockServer, Arc<dyn AccountOperations>) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(|r: &Request| ResponseTemplate::new(200).set_body_json(success(r.url.path())))
        .mount(&server)
        .await;
    let ops = common::registry(json!({"wscrm": {
        "bus_api_base_url": format!("{}{BUS}", server.uri()),
        "dispatch_api_base_url": format!("{}{DISPATCH}", server.uri()),
        "auth_headers": {"X-Api-Key": "k1"},
        "timeout_ms": 2000
    }}))
    .account_operations()
    .expect("account operations configured");
    (server, ops)
}

async fn sent(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording on")
}

fn account(number: &str, full: bool) -> AccountCredentials {
    let s = |v: &str| SecretString::from(v.to_owned());
    AccountCredentials {
        number_digits: number.into(),
        account_type: AccountType::Business,
        name: full.then(|| "lee".into()),
        avatar_url: full.then(|| "https://cdn.example.com/1.png".into()),
        account_id: full.then(|| "acc-1".into()),
        keys: AccountKeys {
            public_key: s("pub"),
            private_key: s("priv"),
            msg_public_key: s("mpub"),
            msg_private_key: s("mpriv"),
            next_key_id: full.then(|| "7".into()),
            registration_id: full.then(|| "9".into()),
            device_params: full.then(|| s("{}")),
        },
    }
}

// ---- one test per operation --------------------------------------------------------------------

#[tokio::test]
async fn batch_add() {
    let (server, ops) = vendor().await;
    let action = |whatsapp: Option<&str>, message: Option<&str>| ChatActionRequest {
        vendor_tenant_id: 500766,
        agent_account: "test".into(),
        whatsapp_digits: whatsapp.map(str::to_owned),
        friend_digits: "8613633800088".into(),
        platform: ChatPlatform::Android,
        message: message.map(str::to_owned),
    };
    ops.submit_chat_actions(&[action(Some("8613633802288"), Some("hello"))])
        .await
        .unwrap();
    ops.submit_chat_actions(&[action(None, None)])
        .await
        .unwrap();
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.url.path(), format!("{BUS}/open/action/batchAdd"));
        assert_json_post(r, BATCH_ADD, "batchAdd");
    }
}

#[tokio::test]
async fn callback_result() {
    let (server, ops) = vendor().await;
    ops.chat_action_results(500766, &["ad518a4271fa43c8937612c5f60396f8".into()])
        .await
        .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{BUS}/open/action/callbackResult"));
    assert_json_post(r, CALLBACK_RESULT, "callbackResult");
}

#[tokio::test]
async fn batch_insert() {
    let (server, ops) = vendor().await;
    ops.import_accounts(&[
        account("861821726232", true),
        account("861821726233", false),
    ])
    .await
    .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/whatsapp/batchInsert"));
    assert_json_post(r, BATCH_INSERT, "batchInsert");
}

#[tokio::test]
async fn query_whats_app_status() {
    let (server, ops) = vendor().await;
    ops.account_states().await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/whatsapp/queryWhatsAppStatus"));
    assert_bodyless(r, "GET", NONE, "queryWhatsAppStatus");
}

#[tokio::test]
async fn batch_online() {
    let (server, ops) = vendor().await;
    ops.bring_accounts_online(
        &[
            account("861821726232", true),
            account("861821726233", false),
        ],
        true,
    )
    .await
    .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/whatsapp/batchOnline"));
    assert_json_post(r, BATCH_ONLINE, "batchOnline");
}

#[tokio::test]
async fn batch_recycle() {
    let (server, ops) = vendor().await;
    ops.recycle_accounts(&["861821726232".into(), "861821726231".into()])
        .await
        .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/whatsapp/batchRecycle"));
    assert_json_post(r, BATCH_RECYCLE, "batchRecycle");
}

#[tokio::test]
async fn submit_phone() {
    let (server, ops) = vendor().await;
    ops.submit_phone(&RegistrationRequest {
        national_digits: "18217262321".into(),
        area_code: "+86".into(),
        country_code: "CN".into(),
        verification: VerificationType::Voice,
        account_type: AccountType::Business,
    })
    .await
    .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/register/submitPhone"));
    assert_json_post(r, SUBMIT_PHONE, "submitPhone");
}

#[tokio::test]
async fn submit_verify_code() {
    let (server, ops) = vendor().await;
    ops.submit_verification_code("1821726232", "+86", "123456")
        .await
        .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/register/submitVerifyCode"));
    assert_json_post(r, SUBMIT_CODE, "submitVerifyCode");
}

#[tokio::test]
async fn select_pair_target() {
    let (server, ops) = vendor().await;
    ops.pair_targets().await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/selectPairTarget"));
    assert_bodyless(r, "GET", NONE, "selectPairTarget");
}

#[tokio::test]
async fn pre_generate() {
    let (server, ops) = vendor().await;
    ops.reserve_port(PortType::CloudPc, Some(10085))
        .await
        .unwrap();
    ops.reserve_port(PortType::Pc, None).await.unwrap();
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.url.path(), format!("{DISPATCH}/qrCode/preGenerate"));
        assert_json_post(r, PRE_GENERATE, "preGenerate");
    }
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body, json!({"type": 2, "target": 10085}));
}

#[tokio::test]
async fn get_qr_code() {
    let (server, ops) = vendor().await;
    for proxy in [
        None,
        Some("1.2.3.4:1080:u:p"),
        Some("socks5://1.2.3.4:1080"),
    ] {
        ops.session_qr_code(SESSION, proxy).await.unwrap();
    }
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.url.path(), format!("{DISPATCH}/qrCode/getQrCode"));
        assert_json_post(r, GET_QR_CODE, "getQrCode");
    }
}

#[tokio::test]
async fn get_qr_code_v2() {
    let (server, ops) = vendor().await;
    for (proxy, mode) in [
        (None, PairCodeMode::Eights),
        (Some("socks5://1.2.3.4:1080:u:p"), PairCodeMode::Native),
        (Some("1.2.3.4:1080"), PairCodeMode::Easy),
    ] {
        ops.session_pair_code(SESSION, "8618733334444", proxy, mode)
            .await
            .unwrap();
    }
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.url.path(), format!("{DISPATCH}/qrCode/getQrCodeV2"));
        assert_json_post(r, GET_QR_CODE_V2, "getQrCodeV2");
    }
}

#[tokio::test]
async fn get_qr_code_info() {
    let (server, ops) = vendor().await;
    ops.session_report(SESSION).await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/getQrCodeInfo"));
    assert_json_post(r, GET_QR_CODE_INFO, "getQrCodeInfo");
}

#[tokio::test]
async fn on_line() {
    let (server, ops) = vendor().await;
    ops.session_online(SESSION, None).await.unwrap();
    ops.session_online(SESSION, Some("socks5://1.2.3.4:1080"))
        .await
        .unwrap();
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.url.path(), format!("{DISPATCH}/qrCode/onLine"));
        assert_json_post(r, ON_LINE, "onLine");
    }
}

#[tokio::test]
async fn offline() {
    let (server, ops) = vendor().await;
    ops.session_offline(SESSION).await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/offline"));
    assert_json_post(r, ID_ONLY, "offline");
}

#[tokio::test]
async fn log_out() {
    let (server, ops) = vendor().await;
    ops.session_log_out(SESSION).await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/logOut"));
    assert_json_post(r, ID_ONLY, "logOut");
}

#[tokio::test]
async fn select_cloud_port() {
    let (server, ops) = vendor().await;
    ops.port_quota().await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/selectCloudPort"));
    assert_bodyless(r, "GET", NONE, "selectCloudPort");
}

#[tokio::test]
async fn select_cloud_port_detail() {
    let (server, ops) = vendor().await;
    ops.port_details().await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/selectCloudPortDetail"));
    assert_bodyless(r, "GET", NONE, "selectCloudPortDetail");
}

#[tokio::test]
async fn select_contact() {
    let (server, ops) = vendor().await;
    ops.contacts(SESSION).await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/selectContact"));
    assert_bodyless(r, "GET", SELECT_CONTACT_QUERY, "selectContact");
    assert_eq!(r.url.query(), Some(format!("id={SESSION}").as_str()));
}

#[tokio::test]
async fn contact_info() {
    let (server, ops) = vendor().await;
    ops.contact(SESSION, "8618733334444").await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/contact/info"));
    assert_json_post(r, CONTACT_INFO, "contact/info");
}

#[tokio::test]
async fn info_profile() {
    let (server, ops) = vendor().await;
    ops.profile(SESSION).await.unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{DISPATCH}/qrCode/info/profile"));
    assert_json_post(r, ID_ONLY, "info/profile");
}

#[tokio::test]
async fn update_avatar_or_nickname() {
    let (server, ops) = vendor().await;
    let numbers = ["8618730300001".to_owned(), "8618730300002".to_owned()];
    ops.update_avatar_or_nickname(
        ProfileChannel::CloudPort,
        &numbers,
        Some("https://oss.example.com/3021b973.jpeg"),
        Some("mimanchin"),
    )
    .await
    .unwrap();
    ops.update_avatar_or_nickname(ProfileChannel::Device, &numbers[..1], None, Some("desk"))
        .await
        .unwrap();
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(
            r.url.path(),
            format!("{DISPATCH}/channelInfo/updateAvatarOrNickname")
        );
        assert_json_post(r, UPDATE_PROFILE, "updateAvatarOrNickname");
    }
}

#[tokio::test]
async fn qr_code_task_create() {
    let (server, ops) = vendor().await;
    ops.create_scan_task(ScanAllocation::Specified, Some(10001))
        .await
        .unwrap();
    ops.create_scan_task(ScanAllocation::Random, None)
        .await
        .unwrap();
    let reqs = sent(&server).await;
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.url.path(), format!("{BUS}/qrCodeTask/create"));
        assert_json_post(r, SCAN_TASK_CREATE, "qrCodeTask/create");
    }
}

#[tokio::test]
async fn qr_code_task_get_qr_code() {
    let (server, ops) = vendor().await;
    ops.scan_task_qr_code("f0d485cb2e5e4c5ca21b74e970043e6c")
        .await
        .unwrap();
    let reqs = sent(&server).await;
    let r = only(&reqs, &format!("{BUS}/qrCodeTask/getQrCode"));
    assert_json_post(r, SCAN_TASK_QR, "qrCodeTask/getQrCode");
}

/// The checker itself: a body of today's `preGenerate` shape (the target as a string) and one
/// with an undocumented field are refused, so the tests above can fail.
#[test]
fn the_contract_check_refuses_wrong_types_and_unknown_fields() {
    use common::contract::problems;
    let obj = |v: Value| v.as_object().cloned().unwrap();
    assert!(
        !problems(
            &obj(json!({"type": 2, "target": "10085"})),
            PRE_GENERATE,
            ""
        )
        .is_empty()
    );
    assert!(!problems(&obj(json!({"type": "1"})), PRE_GENERATE, "").is_empty());
    assert!(!problems(&obj(json!({"id": "x", "extra": 1})), ID_ONLY, "").is_empty());
    assert!(
        !problems(
            &obj(json!({"id": "x", "ipConfig": "socks5://1.2.3.4:1080"})),
            ON_LINE,
            ""
        )
        .is_empty()
    );
    assert!(!problems(&obj(json!({})), ID_ONLY, "").is_empty());
    assert!(problems(&obj(json!({"type": 1, "target": 10085})), PRE_GENERATE, "").is_empty());
}

/// Every number the adapter reports, whatever notation the vendor used, is a number the
/// gateway accepts back as input.
#[tokio::test]
async fn reported_numbers_are_accepted_back_whatever_the_vendor_notation() {
    let notations = [
        json!("8612248863574"),
        json!("+8612248863574"),
        json!(" 8612248863574 "),
        json!(8612248863574_u64),
        json!("86 1224-886-3574"),
    ];
    for n in notations {
        let server = MockServer::start().await;
        let data = move |path: &str| match path.rsplit('/').next().unwrap_or_default() {
            "queryWhatsAppStatus" => json!([{"whatsApp": n, "status": 1, "onlineStatus": 2}]),
            "getQrCodeInfo" => json!([{"status": 1, "userName": "a", "whatsApp": n}]),
            "selectCloudPortDetail" => {
                json!([{"phone": n, "createTime": "2025-07-31 15:40:19", "id": "1", "status": 10}])
            }
            "selectContact" => json!([{"whatsapp": n, "isFriend": true}]),
            "info" => json!({"whatsapp": n, "isFriend": "false"}),
            "profile" => json!({"whatsapp": n}),
            _ => json!(null),
        };
        Mock::given(wiremock::matchers::any())
            .respond_with(move |r: &Request| {
                ResponseTemplate::new(200).set_body_json(
                    json!({"code": 200, "message": "Success", "data": data(r.url.path())}),
                )
            })
            .mount(&server)
            .await;
        let ops = common::registry(json!({"wscrm": {
            "bus_api_base_url": format!("{}{BUS}", server.uri()),
            "dispatch_api_base_url": format!("{}{DISPATCH}", server.uri()),
            "auth_headers": {"X-Api-Key": "k1"}
        }}))
        .account_operations()
        .unwrap();
        let mut reported = vec![
            ops.account_states().await.unwrap()[0].number.clone(),
            ops.contact(SESSION, "8613900139000").await.unwrap().number,
            ops.contacts(SESSION).await.unwrap()[0].number.clone(),
            ops.profile(SESSION).await.unwrap().number,
        ];
        reported.extend(ops.session_report(SESSION).await.unwrap()[0].number.clone());
        reported.extend(ops.port_details().await.unwrap()[0].number.clone());
        assert_eq!(reported.len(), 6);
        for number in reported {
            assert_eq!(number, "+8612248863574");
            assert_eq!(
                domain::account_digits(&number).as_deref(),
                Some("8612248863574"),
                "{number} must be accepted as input"
            );
        }
    }
}
