//! Customer-service accounts and registration: import, status list, online, recycle, register.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_support;

use std::time::Duration;

use accounts_support::{Receiver, config_with, data, error, fast_config, keys};
use serde_json::{Value, json};
use vendor_sim::accounts::{AccountsConfig, AccountsSim};

// Inside `accounts` so that `cargo test -p vendor-sim accounts` selects them.
mod accounts {
    use super::*;

    const INSERT: &str = "/group-dispatch-api/whatsapp/batchInsert";
    const QUERY: &str = "/group-dispatch-api/whatsapp/queryWhatsAppStatus";
    const ONLINE: &str = "/group-dispatch-api/whatsapp/batchOnline";
    const RECYCLE: &str = "/group-dispatch-api/whatsapp/batchRecycle";
    const SUBMIT_PHONE: &str = "/group-dispatch-api/register/submitPhone";
    const SUBMIT_CODE: &str = "/group-dispatch-api/register/submitVerifyCode";

    fn insert_example() -> Value {
        json!({"whatsAppList": [{
            "whatsApp": "861821726232", "whatsappType": 1, "name": "lee", "avatar": "wwww.baiux.com/1.img",
            "publicKey": "", "privateKey": "", "msgPublicKey": "", "msgPrivateKey": "",
            "accountId": "", "nextKeyId": "", "registrationId": "", "deviceParams": ""
        }]})
    }

    fn online_example() -> Value {
        json!({"whatsAppList": [{
            "whatsApp": "861821726232", "whatsappType": 1, "override": false, "name": "lee",
            "avatar": "wwww.baiux.com/1.img", "publicKey": "", "privateKey": "", "msgPublicKey": "",
            "msgPrivateKey": "", "accountId": "", "nextKeyId": "", "registrationId": "", "deviceParams": ""
        }]})
    }

    fn row<'a>(rows: &'a Value, phone: &str) -> &'a Value {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["whatsApp"] == json!(phone))
            .unwrap_or_else(|| panic!("{phone} not in {rows}"))
    }

    #[actix_web::test]
    async fn import_list_online_recycle() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let res = post!(app, INSERT, insert_example());
        keys(&res, &["code", "message", "data"]);
        assert_eq!(res["message"], json!("success"));
        assert_eq!(data(&res), json!(""));
        // Importing it again is refused.
        error(&post!(app, INSERT, insert_example()), 409);

        let rows = data(&get!(app, QUERY));
        let r = row(&rows, "861821726232");
        keys(r, &["whatsApp", "status", "onlineStatus"]);
        assert_eq!(r["status"], json!(1));
        assert_eq!(r["onlineStatus"], json!(4));

        assert_eq!(data(&post!(app, ONLINE, online_example())), json!(""));
        let rows = data(&get!(app, QUERY));
        assert_eq!(row(&rows, "861821726232")["onlineStatus"], json!(2));

        assert_eq!(
            data(&post!(
                app,
                RECYCLE,
                json!({"whatsAppList": ["861821726232", "861821726231"]})
            )),
            json!("")
        );
        assert_eq!(data(&get!(app, QUERY)), json!([]));
    }

    #[actix_web::test]
    async fn online_goes_through_logging_in_and_refuses_banned_accounts() {
        let sim = AccountsSim::new(AccountsConfig {
            login_after: Duration::from_millis(200),
            ..fast_config()
        });
        let app = service!(sim);
        data(&post!(app, ONLINE, online_example()));
        assert_eq!(
            row(&data(&get!(app, QUERY)), "861821726232")["onlineStatus"],
            json!(1)
        );
        actix_web::rt::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            row(&data(&get!(app, QUERY)), "861821726232")["onlineStatus"],
            json!(2)
        );

        let (status, _) = admin!(app, "/_sim/accounts/accounts/861821726232/ban", json!({}));
        assert_eq!(status, 200);
        let r = data(&get!(app, QUERY));
        assert_eq!(row(&r, "861821726232")["status"], json!(2));
        assert_eq!(row(&r, "861821726232")["onlineStatus"], json!(4));
        error(&post!(app, ONLINE, online_example()), 409);
    }

    #[actix_web::test]
    async fn account_input_is_checked() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        error(&post!(app, INSERT, json!({})), 400);
        error(&post!(app, INSERT, json!({"whatsAppList": []})), 400);
        let mut no_key = insert_example();
        no_key["whatsAppList"][0]
            .as_object_mut()
            .unwrap()
            .remove("publicKey");
        error(&post!(app, INSERT, no_key), 400);
        let mut bad_type = insert_example();
        bad_type["whatsAppList"][0]["whatsappType"] = json!(3);
        error(&post!(app, INSERT, bad_type), 400);
        let mut dup = insert_example();
        let item = dup["whatsAppList"][0].clone();
        dup["whatsAppList"].as_array_mut().unwrap().push(item);
        error(&post!(app, INSERT, dup), 400);
        let mut no_override = online_example();
        no_override["whatsAppList"][0]
            .as_object_mut()
            .unwrap()
            .remove("override");
        error(&post!(app, ONLINE, no_override), 400);
        // The table's types and names only: a string `override`, an int `whatsappType` sent as a
        // string, a number as a JSON number, the other spelling of the blank-named field, or a
        // field the table does not have are refused.
        for (key, value) in [
            ("override", json!("true")),
            ("whatsappType", json!("1")),
            ("whatsApp", json!(861821726233_u64)),
            ("whatsapp", json!("861821726233")),
            ("remark", json!("")),
        ] {
            let mut strict = online_example();
            strict["whatsAppList"][0][key] = value;
            let res = post!(app, ONLINE, strict);
            error(&res, 400);
            assert!(res["message"].as_str().unwrap().contains(key), "{res}");
        }
        let mut other = online_example();
        other["whatsAppList"][0]["whatsApp"] = json!("861821726233");
        assert_eq!(data(&post!(app, ONLINE, other)), json!(""));
        error(&post!(app, RECYCLE, json!({"whatsAppList": [{}]})), 400);
        error(
            &post!(app, RECYCLE, json!({"whatsAppList": [861821726233_u64]})),
            400,
        );
        // No list: nothing recycled.
        assert_eq!(data(&post!(app, RECYCLE, json!({}))), json!(""));
        assert_eq!(data(&get!(app, QUERY)).as_array().unwrap().len(), 1);
        error(&get!(app, &format!("{QUERY}?page=1")), 400);
    }

    #[actix_web::test]
    async fn registration_examples_and_result_webhook() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(AccountsConfig {
            registration_after: Some(Duration::from_millis(50)),
            ..config_with(&rx)
        });
        let app = service!(sim);
        let res = post!(
            app,
            SUBMIT_PHONE,
            json!({
                "phone": "182172623211", "verifyType": 1, "accountType": 2, "areaCode": "+86", "countryCode": "CN"
            })
        );
        assert_eq!(res["message"], json!("success"));
        let task = data(&res);
        assert!(task.is_i64(), "task id is an int: {task}");
        // The code example names another number: it has to be submitted first.
        error(
            &post!(
                app,
                SUBMIT_CODE,
                json!({"phone": "1821726232", "verifyCode": "123456", "areaCode": "+86"})
            ),
            404,
        );
        // Ints as the table declares them; the strings a tolerant reader would take are refused.
        error(
            &post!(
                app,
                SUBMIT_PHONE,
                json!({
                    "phone": "1821726232", "verifyType": "0", "accountType": "1", "areaCode": "+86", "countryCode": "CN"
                })
            ),
            400,
        );
        let second = data(&post!(
            app,
            SUBMIT_PHONE,
            json!({
                "phone": "1821726232", "verifyType": 0, "accountType": 1, "areaCode": "+86", "countryCode": "CN"
            })
        ));
        assert_eq!(second.as_i64(), task.as_i64().map(|t| t + 1));
        assert_eq!(
            data(&post!(
                app,
                SUBMIT_CODE,
                json!({"phone": "1821726232", "verifyCode": "123456", "areaCode": "+86"})
            )),
            json!("")
        );
        // While the code is checked, neither a new code nor a new phone submission is taken.
        let hooks = rx
            .wait_for("/group-dispatch-api/register/syncStatus", 1)
            .await;
        assert_eq!(
            hooks[0].body,
            json!({"phone": "861821726232", "status": "1"})
        );
        assert_eq!(hooks[0].header("x-webhook-secret"), Some("s3cret"));
        let rows = data(&get!(app, QUERY));
        assert_eq!(row(&rows, "861821726232")["status"], json!(1));
        error(
            &post!(
                app,
                SUBMIT_PHONE,
                json!({
                    "phone": "1821726232", "verifyType": 0, "accountType": 1, "areaCode": "+86", "countryCode": "CN"
                })
            ),
            409,
        );

        // The failing code gives status "0".
        data(&post!(
            app,
            SUBMIT_CODE,
            json!({"phone": "182172623211", "verifyCode": "000000", "areaCode": "+86"})
        ));
        let hooks = rx
            .wait_for("/group-dispatch-api/register/syncStatus", 2)
            .await;
        assert_eq!(
            hooks[1].body,
            json!({"phone": "86182172623211", "status": "0"})
        );
    }

    #[actix_web::test]
    async fn registration_is_decided_by_the_admin_call_when_not_automatic() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(config_with(&rx));
        let app = service!(sim);
        data(&post!(
            app,
            SUBMIT_PHONE,
            json!({
                "phone": "1821726232", "verifyType": 3, "accountType": 1, "areaCode": "86", "countryCode": "cn"
            })
        ));
        data(&post!(
            app,
            SUBMIT_CODE,
            json!({"phone": "1821726232", "verifyCode": "1234", "areaCode": "+86"})
        ));
        error(
            &post!(
                app,
                SUBMIT_CODE,
                json!({"phone": "1821726232", "verifyCode": "1234", "areaCode": "+86"})
            ),
            409,
        );
        let (status, body) = admin!(
            app,
            "/_sim/accounts/registrations/861821726232/complete",
            json!({"success": false})
        );
        assert_eq!(status, 200, "{body}");
        let hooks = rx
            .wait_for("/group-dispatch-api/register/syncStatus", 1)
            .await;
        assert_eq!(hooks[0].body["status"], json!("0"));
        let (status, _) = admin!(
            app,
            "/_sim/accounts/registrations/861821726232/complete",
            json!({})
        );
        assert_eq!(status, 409);
        let (status, _) = admin!(app, "/_sim/accounts/registrations/1/complete", json!({}));
        assert_eq!(status, 404);
        assert_eq!(data(&get!(app, QUERY)), json!([]));
    }

    #[actix_web::test]
    async fn registration_input_is_checked() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let ok = json!({"phone": "1821726232", "verifyType": 1, "accountType": 2, "areaCode": "+86", "countryCode": "CN"});
        for (field, bad) in [
            ("verifyType", json!(4)),
            ("accountType", json!(0)),
            ("areaCode", json!("+86a")),
            ("countryCode", json!("CHN")),
            ("phone", json!("12ab")),
        ] {
            let mut req = ok.clone();
            req[field] = bad;
            error(&post!(app, SUBMIT_PHONE, req), 400);
        }
        data(&post!(app, SUBMIT_PHONE, ok));
        error(
            &post!(
                app,
                SUBMIT_CODE,
                json!({"phone": "1821726232", "verifyCode": "12", "areaCode": "+86"})
            ),
            400,
        );
        error(
            &post!(
                app,
                SUBMIT_CODE,
                json!({"phone": "1821726232", "areaCode": "+86"})
            ),
            400,
        );
    }
}
