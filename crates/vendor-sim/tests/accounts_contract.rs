//! Document 001's request tables enforced: wrong JSON types, undocumented fields, a scheme in
//! `ipConfig`, and cloud-port avatar/nickname changes for numbers not online on a cloud port are
//! refused with the vendor's envelope (HTTP 200, `{"code": 400|409, "message", "data": null}`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_support;

use accounts_support::{data, error, fast_config};
use serde_json::{Value, json};
use vendor_sim::accounts::AccountsSim;

// Inside `accounts` so that `cargo test -p vendor-sim accounts` selects them.
mod accounts {
    use super::*;

    const Q: &str = "/group-dispatch-api/qrCode";
    const UPDATE: &str = "/group-dispatch-api/channelInfo/updateAvatarOrNickname";
    const ACTIONS: &str = "/wscrm-bus-api/open/action/batchAdd";

    fn p(op: &str) -> String {
        format!("{Q}/{op}")
    }

    /// A refusal naming `field`.
    fn refused(res: &Value, code: i64, field: &str) {
        error(res, code);
        let message = res["message"].as_str().unwrap();
        assert!(message.contains(field), "{field} not named: {res}");
    }

    #[actix_web::test]
    async fn a_string_where_the_table_says_int_is_refused() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        // The gateway's old preGenerate: the pairing target as a string.
        refused(
            &post!(
                app,
                &p("preGenerate"),
                json!({"type": 2, "target": "10085"})
            ),
            400,
            "target",
        );
        refused(
            &post!(app, &p("preGenerate"), json!({"type": "1"})),
            400,
            "type",
        );
        refused(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/create",
                json!({"allocationRole": 3, "userId": "10001"})
            ),
            400,
            "userId",
        );
        refused(
            &post!(
                app,
                "/wscrm-bus-api/open/action/callbackResult",
                json!({"tenantId": "500766", "data": []})
            ),
            400,
            "tenantId",
        );
        refused(
            &post!(
                app,
                UPDATE,
                json!({"type": "1", "nickname": "x", "phoneList": ["8613800138000"]})
            ),
            400,
            "type",
        );
        // The document's own batchAdd example writes `type` as "1": that one stays accepted.
        let ids = data(&post!(
            app,
            ACTIONS,
            json!({"tenantId": 500766, "data": [{
                "agentAccount": "test", "whatsId": "13633802288", "friendWhatsId": "8613633800088",
                "platformType": 1, "content": "hello", "type": "1"
            }]})
        ));
        assert_eq!(ids.as_array().map(Vec::len), Some(1));
        refused(
            &post!(
                app,
                ACTIONS,
                json!({"tenantId": 500766, "data": [{
                    "agentAccount": "test", "friendWhatsId": "8613633800088",
                    "platformType": "1", "type": 1
                }]})
            ),
            400,
            "data[0].platformType",
        );
    }

    #[actix_web::test]
    async fn a_number_where_the_table_says_string_is_refused() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = data(&post!(app, &p("preGenerate"), json!({"type": 1})));
        let id = id.as_str().unwrap();
        refused(
            &post!(
                app,
                &p("getQrCodeV2"),
                json!({"id": id, "phone": 8618733334444_u64})
            ),
            400,
            "phone",
        );
        refused(
            &post!(
                app,
                UPDATE,
                json!({"type": 0, "nickname": "x", "phoneList": [8613800138000_u64]})
            ),
            400,
            "phoneList",
        );
        refused(
            &post!(
                app,
                "/group-dispatch-api/register/submitVerifyCode",
                json!({"phone": "1821726232", "verifyCode": 123456, "areaCode": "+86"})
            ),
            400,
            "verifyCode",
        );
        refused(
            &post!(
                app,
                ACTIONS,
                json!({"tenantId": 1, "data": [{
                    "agentAccount": "test", "friendWhatsId": 8613633800088_u64, "platformType": 1, "type": 1
                }]})
            ),
            400,
            "friendWhatsId",
        );
        refused(
            &post!(
                app,
                "/group-dispatch-api/whatsapp/batchOnline",
                json!({"whatsAppList": [{
                    "whatsApp": "861821726232", "override": "false", "publicKey": "", "privateKey": "",
                    "msgPublicKey": "", "msgPrivateKey": ""
                }]})
            ),
            400,
            "override",
        );
    }

    #[actix_web::test]
    async fn undocumented_fields_and_query_parameters_are_refused() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        refused(
            &post!(
                app,
                &p("preGenerate"),
                json!({"type": 1, "proxy": "1.2.3.4:1080"})
            ),
            400,
            "proxy",
        );
        let id = data(&post!(app, &p("preGenerate"), json!({"type": 1})));
        let id = id.as_str().unwrap();
        refused(
            &post!(
                app,
                &p("getQrCode"),
                json!({"id": id, "phone": "8618733334444"})
            ),
            400,
            "phone",
        );
        refused(
            &post!(
                app,
                &p("getQrCodeInfo"),
                json!({"id": id, "whatsApp": "8618733334444"})
            ),
            400,
            "whatsApp",
        );
        refused(
            &post!(
                app,
                &p("logOut"),
                json!({"id": id, "ipConfig": "1.2.3.4:1080"})
            ),
            400,
            "ipConfig",
        );
        refused(
            &post!(
                app,
                "/group-dispatch-api/register/submitPhone",
                json!({"phone": "1821726232", "verifyType": 0, "accountType": 1, "areaCode": "+86",
                       "countryCode": "CN", "language": "en"})
            ),
            400,
            "language",
        );
        refused(
            &post!(
                app,
                ACTIONS,
                json!({"tenantId": 1, "data": [{
                    "agentAccount": "test", "friendWhatsId": "8613633800088", "platformType": 1,
                    "type": 1, "message": "hi"
                }]})
            ),
            400,
            "data[0].message",
        );
        refused(
            &get!(app, &format!("{}?id={id}&page=2", p("selectContact"))),
            400,
            "page",
        );
        refused(
            &get!(app, &format!("{}?all=1", p("selectCloudPortDetail"))),
            400,
            "all",
        );
        refused(
            &get!(app, &format!("{}?x=1", p("selectCloudPort"))),
            400,
            "x",
        );
        refused(
            &get!(app, &format!("{}?x=1", p("selectPairTarget"))),
            400,
            "x",
        );
    }

    #[actix_web::test]
    async fn ip_config_with_a_scheme_is_refused() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = data(&post!(app, &p("preGenerate"), json!({"type": 1})));
        let id = id.as_str().unwrap().to_owned();
        for proxy in [
            "socks5://1.2.3.4:1080",
            "SOCKS5://1.2.3.4:1080:u:p",
            "http://1.2.3.4:1080",
        ] {
            refused(
                &post!(app, &p("getQrCode"), json!({"id": id, "ipConfig": proxy})),
                400,
                "ipConfig",
            );
            refused(
                &post!(
                    app,
                    &p("getQrCodeV2"),
                    json!({"id": id, "phone": "8618733334444", "ipConfig": proxy})
                ),
                400,
                "ipConfig",
            );
        }
        let qr = data(&post!(
            app,
            &p("getQrCode"),
            json!({"id": id, "ipConfig": "1.2.3.4:1080"})
        ));
        assert!(qr.is_string());
        assert_eq!(
            sim.state_json()["sessions"][&id]["ipConfig"],
            "1.2.3.4:1080"
        );
        let (status, _) = admin!(
            app,
            &format!("/_sim/accounts/sessions/{id}/scan"),
            json!({"whatsapp": "8618733334444"})
        );
        assert_eq!(status, 200);
        refused(
            &post!(
                app,
                &p("onLine"),
                json!({"id": id, "ipConfig": "socks5://1.2.3.4:1080"})
            ),
            400,
            "ipConfig",
        );
        data(&post!(
            app,
            &p("onLine"),
            json!({"id": id, "ipConfig": "1.2.3.4:1080:u:p"})
        ));
    }

    #[actix_web::test]
    async fn cloud_port_profile_changes_need_the_number_online_on_a_cloud_port() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let update = |phone: &str| json!({"type": 1, "nickname": "desk", "phoneList": [phone]});

        // Online with its keys (batchOnline) but on no cloud port.
        data(&post!(
            app,
            "/group-dispatch-api/whatsapp/batchOnline",
            json!({"whatsAppList": [{
                "whatsApp": "8613800138000", "override": false, "publicKey": "p", "privateKey": "k",
                "msgPublicKey": "mp", "msgPrivateKey": "mk"
            }]})
        ));
        for _ in 0..100 {
            let states = data(&get!(
                app,
                "/group-dispatch-api/whatsapp/queryWhatsAppStatus"
            ));
            if states[0]["onlineStatus"] == 2 {
                break;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            sim.state_json()["accounts"]["8613800138000"]["onlineStatus"],
            2
        );
        refused(
            &post!(app, UPDATE, update("8613800138000")),
            409,
            "8613800138000",
        );
        assert_eq!(
            sim.state_json()["accounts"]["8613800138000"]["nickname"],
            Value::Null,
            "nothing changed"
        );
        // A physical device needs no cloud port.
        data(&post!(
            app,
            UPDATE,
            json!({"type": 0, "nickname": "desk", "phoneList": ["8613800138000"]})
        ));

        // Logged in on a cloud port and online: done. Taken offline: refused again.
        let id = login!(app, "8613800138001");
        data(&post!(app, UPDATE, update("8613800138001")));
        assert_eq!(
            sim.state_json()["accounts"]["8613800138001"]["nickname"],
            "desk"
        );
        data(&post!(app, &p("offline"), json!({"id": id})));
        refused(
            &post!(app, UPDATE, update("8613800138001")),
            409,
            "8613800138001",
        );

        // Logged in by a PC scan task (which holds a cloud port): done.
        let task = data(&post!(
            app,
            "/wscrm-bus-api/qrCodeTask/create",
            json!({"allocationRole": 1})
        ));
        let (status, _) = admin!(
            app,
            &format!(
                "/_sim/accounts/scan-tasks/{}/progress",
                task.as_str().unwrap()
            ),
            json!({"taskStatus": 80, "whatsapp": "8613800138002"})
        );
        assert_eq!(status, 200);
        data(&post!(app, UPDATE, update("8613800138002")));
    }
}
