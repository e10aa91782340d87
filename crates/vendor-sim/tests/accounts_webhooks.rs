//! The five webhooks: sent on state changes with the documented payloads and quirks, and on demand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_support;

use std::time::Duration;

use accounts_support::{Receiver, config_with, data, fast_config, keys};
use serde_json::{Value, json};
use vendor_sim::accounts::{AccountsConfig, AccountsSim, OnlineStatusEnvelope};

// Inside `accounts` so that `cargo test -p vendor-sim accounts` selects them.
mod accounts {
    use super::*;

    const ONLINE: &str = "/api/callback/whatsapp/onlineStatus";
    const ACCOUNT: &str = "/callback/gsTask/syncWhatsAppStatus";
    const REGISTRATION: &str = "/group-dispatch-api/register/syncStatus";
    const QR_LOGIN: &str = "/wscrm-bus-api/open/qrCode/syncLoginStatus";
    const SCAN_TASK: &str = "/wscrm-bus-api/open/qrCodeTask/syncStatus";
    const ONLINE_FIELDS: [&str; 6] = [
        "whatsId",
        "status",
        "detailStatus",
        "account",
        "platformType",
        "time",
    ];

    fn records(body: &Value) -> &Vec<Value> {
        body.as_array()
            .or_else(|| body["whatsAppList"].as_array())
            .unwrap_or_else(|| panic!("neither envelope: {body}"))
    }

    #[actix_web::test]
    async fn qr_login_sends_login_online_and_account_status_then_offline_alternates_the_envelope() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(config_with(&rx));
        let app = service!(sim);
        let id = login!(app, "817272727272");

        let login = rx.wait_for(QR_LOGIN, 1).await;
        assert_eq!(
            login[0].body,
            json!({"id": id, "whatsapp": "817272727272", "status": 1})
        );
        assert_eq!(login[0].header("x-webhook-secret"), Some("s3cret"));
        assert_eq!(login[0].header("content-type"), Some("application/json"));

        let online = rx.wait_for(ONLINE, 1).await;
        assert!(
            online[0].body.is_array(),
            "first one is the bare array: {}",
            online[0].body
        );
        let rec = &records(&online[0].body)[0];
        keys(rec, &ONLINE_FIELDS);
        assert_eq!(rec["whatsId"], json!("817272727272"));
        assert_eq!(rec["status"], json!(10));
        assert_eq!(rec["detailStatus"], json!(11));
        assert_eq!(rec["platformType"], json!(1));
        assert!(rec["account"].is_string());
        assert!(
            chrono::NaiveDateTime::parse_from_str(
                rec["time"].as_str().unwrap(),
                "%Y-%m-%d %H:%M:%S"
            )
            .is_ok()
        );

        let acc = rx.wait_for(ACCOUNT, 1).await;
        assert_eq!(
            acc[0].body,
            json!({"whatsApp": "817272727272", "status": 1, "onlineStatus": 2, "reason": "", "instanceCode": id})
        );

        data(&post!(
            app,
            "/group-dispatch-api/qrCode/offline",
            json!({"id": id})
        ));
        let online = rx.wait_for(ONLINE, 2).await;
        let list = online[1].body["whatsAppList"]
            .as_array()
            .expect("second one is wrapped");
        assert_eq!(list[0]["status"], json!(30));
        assert_eq!(list[0]["detailStatus"], json!(32));
        let acc = rx.wait_for(ACCOUNT, 2).await;
        assert_eq!(acc[1].body["onlineStatus"], json!(4));

        data(&post!(
            app,
            "/group-dispatch-api/qrCode/logOut",
            json!({"id": id})
        ));
        let acc = rx.wait_for(ACCOUNT, 3).await;
        assert_eq!(acc[2].body["reason"], json!("1004"), "logged out");
    }

    #[actix_web::test]
    async fn failed_scan_ban_and_batch_online_webhooks() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(AccountsConfig {
            online_status_envelope: OnlineStatusEnvelope::Wrapped,
            ..config_with(&rx)
        });
        let app = service!(sim);
        let id = data(&post!(
            app,
            "/group-dispatch-api/qrCode/preGenerate",
            json!({"type": 1})
        ));
        let id = id.as_str().unwrap();
        data(&post!(
            app,
            "/group-dispatch-api/qrCode/getQrCodeV2",
            json!({"id": id, "phone": "8618733334444"})
        ));
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/sessions/{id}/scan"),
            json!({"success": false, "code": 1003})
        );
        assert_eq!(s, 200);
        let login = rx.wait_for(QR_LOGIN, 1).await;
        assert_eq!(
            login[0].body,
            json!({"id": id, "whatsapp": "8618733334444", "status": 0})
        );
        let acc = rx.wait_for(ACCOUNT, 1).await;
        assert_eq!(acc[0].body["reason"], json!("1003"));
        assert_eq!(acc[0].body["instanceCode"], json!(id));

        data(&post!(
            app,
            "/group-dispatch-api/whatsapp/batchOnline",
            json!({"whatsAppList": [{
                "whatsApp": "8218132718231", "override": false, "publicKey": "", "privateKey": "",
                "msgPublicKey": "", "msgPrivateKey": ""
            }]})
        ));
        // Logging in (account status only), then online (both).
        let acc = rx.wait_for(ACCOUNT, 3).await;
        assert_eq!(acc[1].body["onlineStatus"], json!(1));
        assert_eq!(acc[2].body["onlineStatus"], json!(2));
        let online = rx.wait_for(ONLINE, 1).await;
        assert_eq!(online[0].body["whatsAppList"][0]["detailStatus"], json!(12));

        let (s, _) = admin!(app, "/_sim/accounts/accounts/8218132718231/ban", json!({}));
        assert_eq!(s, 200);
        let online = rx.wait_for(ONLINE, 2).await;
        let rec = &online[1].body["whatsAppList"][0];
        assert_eq!(
            (rec["status"].clone(), rec["detailStatus"].clone()),
            (json!(40), json!(41))
        );
        let acc = rx.wait_for(ACCOUNT, 4).await;
        assert_eq!(acc[3].body["status"], json!(2));

        let (s, _) = admin!(
            app,
            "/_sim/accounts/accounts/8218132718231/online-status",
            json!({"onlineStatus": 7})
        );
        assert_eq!(s, 400);
    }

    #[actix_web::test]
    async fn scan_task_progress_is_posted() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(config_with(&rx));
        let app = service!(sim);
        let task = data(&post!(
            app,
            "/wscrm-bus-api/qrCodeTask/create",
            json!({"userId": 10001, "allocationRole": 3})
        ));
        let task = task.as_str().unwrap();
        for status in [70, 80] {
            let (s, _) = admin!(
                app,
                &format!("/_sim/accounts/scan-tasks/{task}/progress"),
                json!({"taskStatus": status, "whatsapp": "86166666666"})
            );
            assert_eq!(s, 200);
        }
        let hooks = rx.wait_for(SCAN_TASK, 2).await;
        keys(
            &hooks[1].body,
            &["taskId", "userId", "taskStatus", "whatsapp", "updateTime"],
        );
        assert_eq!(hooks[0].body["taskStatus"], json!(70));
        assert_eq!(hooks[1].body["taskStatus"], json!(80));
        assert_eq!(hooks[1].body["taskId"], json!(task));
        assert_eq!(hooks[1].body["userId"], json!(10001));
        let ms = hooks[1].body["updateTime"].as_i64().unwrap();
        assert!(ms > 1_700_000_000_000, "milliseconds: {ms}");
        // Login succeeded: the account is online and announced.
        let online = rx.wait_for(ONLINE, 1).await;
        assert_eq!(records(&online[0].body)[0]["whatsId"], json!("86166666666"));
    }

    #[actix_web::test]
    async fn every_webhook_can_be_triggered_with_both_online_envelopes_and_overrides() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(AccountsConfig {
            scan_task_webhook_path: "/hooks/scan".to_owned(),
            ..config_with(&rx)
        });
        let app = service!(sim);
        let (s, rec) = admin!(
            app,
            "/_sim/accounts/webhooks/online-status",
            json!({"envelope": "array", "whatsapp": "8617633819542"})
        );
        assert_eq!(s, 200);
        assert_eq!(rec["outcome"]["delivered"], json!(true));
        assert_eq!(rec["outcome"]["httpStatus"], json!(200));
        let (_, _) = admin!(
            app,
            "/_sim/accounts/webhooks/online-status",
            json!({"envelope": "wrapped", "status": 20, "detailStatus": 21})
        );
        // The document's own example, sent as is (status 1 and all).
        let example = json!([{"whatsId": "8617633819542", "status": 1, "detailStatus": 11, "account": "", "time": "2024-07-03 15:27:00", "platformType": 1}]);
        admin!(
            app,
            "/_sim/accounts/webhooks/online-status",
            json!({"payload": example, "envelope": "array"})
        );
        let online = rx.wait_for(ONLINE, 3).await;
        assert!(online[0].body.is_array());
        keys(&online[0].body[0], &ONLINE_FIELDS);
        assert_eq!(online[1].body["whatsAppList"][0]["status"], json!(20));
        assert_eq!(online[2].body, example);

        admin!(
            app,
            "/_sim/accounts/webhooks/account-status",
            json!({"whatsapp": "8218132718231", "reason": "1002"})
        );
        let acc = rx.wait_for(ACCOUNT, 1).await;
        keys(
            &acc[0].body,
            &[
                "whatsApp",
                "status",
                "onlineStatus",
                "reason",
                "instanceCode",
            ],
        );
        assert_eq!(acc[0].body["reason"], json!("1002"));

        admin!(
            app,
            "/_sim/accounts/webhooks/registration-status",
            json!({"phone": "861821726232"})
        );
        assert_eq!(
            rx.wait_for(REGISTRATION, 1).await[0].body,
            json!({"phone": "861821726232", "status": "1"})
        );

        admin!(
            app,
            "/_sim/accounts/webhooks/qr-login",
            json!({"id": "ad518a4271fa43c8937612c5f60396f8", "whatsapp": "817272727272"})
        );
        assert_eq!(
            rx.wait_for(QR_LOGIN, 1).await[0].body,
            json!({"id": "ad518a4271fa43c8937612c5f60396f8", "whatsapp": "817272727272", "status": 1})
        );

        admin!(app, "/_sim/accounts/webhooks/scan-task", json!({}));
        let scan = rx.wait_for("/hooks/scan", 1).await;
        keys(
            &scan[0].body,
            &["taskId", "userId", "taskStatus", "whatsapp", "updateTime"],
        );

        let (s, _) = admin!(app, "/_sim/accounts/webhooks/nope", json!({}));
        assert_eq!(s, 404);
        let (s, _) = admin!(
            app,
            "/_sim/accounts/webhooks/online-status",
            json!({"envelope": "box"})
        );
        assert_eq!(s, 400);
        let log = get!(app, "/_sim/accounts/webhooks");
        assert_eq!(log.as_array().unwrap().len(), 7);
    }

    #[actix_web::test]
    async fn delivery_failures_are_recorded_not_fatal() {
        // A port nobody listens on.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let sim = AccountsSim::new(AccountsConfig {
            webhook_target: Some(dead),
            webhook_timeout: Duration::from_secs(2),
            ..fast_config()
        });
        let app = service!(sim);
        login!(app, "817272727270");
        let (s, rec) = admin!(app, "/_sim/accounts/webhooks/qr-login", json!({}));
        assert_eq!(s, 200);
        assert_eq!(rec["outcome"]["delivered"], json!(false));
        assert!(rec["outcome"]["error"].is_string());
        for _ in 0..100 {
            if sim.webhook_log().len() >= 4 {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let log = sim.webhook_log();
        assert!(log.len() >= 4, "{log:?}");
        assert!(log.iter().all(|r| !r.outcome.delivered));

        // Without a target nothing is sent, and the state dump shows everything.
        let quiet = AccountsSim::new(fast_config());
        let app = service!(quiet);
        login!(app, "817272727271");
        let state = get!(app, "/_sim/accounts/state");
        for k in [
            "accounts",
            "sessions",
            "ports",
            "maxPorts",
            "actions",
            "registrations",
            "scanTasks",
            "webhooks",
            "now",
        ] {
            assert!(state.get(k).is_some(), "{k} missing from {state}");
        }
        assert_eq!(state["accounts"]["817272727271"]["onlineStatus"], json!(2));
        let (s, _) = admin!(app, "/_sim/accounts/reset", json!({}));
        assert_eq!(s, 200);
        assert_eq!(get!(app, "/_sim/accounts/state")["accounts"], json!({}));
    }

    #[actix_web::test]
    async fn auto_scan_logs_a_fetched_code_in() {
        let rx = Receiver::start();
        let sim = AccountsSim::new(AccountsConfig {
            auto_scan_after: Some(Duration::from_millis(50)),
            ..config_with(&rx)
        });
        let app = service!(sim);
        let id = data(&post!(
            app,
            "/group-dispatch-api/qrCode/preGenerate",
            json!({"type": 1})
        ));
        data(&post!(
            app,
            "/group-dispatch-api/qrCode/getQrCodeV2",
            json!({"id": id, "phone": "8618733335555", "isEasy": "y"})
        ));
        let login = rx.wait_for(QR_LOGIN, 1).await;
        assert_eq!(login[0].body["whatsapp"], json!("8618733335555"));
        assert_eq!(login[0].body["status"], json!(1));
    }
}
