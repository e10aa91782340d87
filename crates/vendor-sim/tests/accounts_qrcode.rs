//! Login sessions on cloud ports: examples, QR error codes, quota, port release, lifecycle moves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_support;

use std::time::Duration;

use accounts_support::{data, error, fast_config, keys};
use serde_json::{Value, json};
use vendor_sim::accounts::{AccountsConfig, AccountsSim};

// Inside `accounts` so that `cargo test -p vendor-sim accounts` selects them.
mod accounts {
    use super::*;

    const Q: &str = "/group-dispatch-api/qrCode";

    fn p(op: &str) -> String {
        format!("{Q}/{op}")
    }

    fn pre(kind: i64) -> Value {
        json!({"type": kind})
    }

    #[actix_web::test]
    async fn pair_targets_and_pre_generate_example() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let res = get!(app, &p("selectPairTarget"));
        assert_eq!(res["message"], json!("Success"));
        let targets = data(&res);
        assert_eq!(targets.as_array().unwrap().len(), 2);
        for t in targets.as_array().unwrap() {
            keys(t, &["createTime", "targetTenantName", "targetTenantId"]);
        }
        assert_eq!(targets[0]["targetTenantId"], json!(10085));
        let id = data(&post!(
            app,
            &p("preGenerate"),
            json!({"type": 1, "target": 10085})
        ));
        let id = id.as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[actix_web::test]
    async fn qr_error_codes() {
        let sim = AccountsSim::new(AccountsConfig {
            cloud_port_quota: 1,
            ..fast_config()
        });
        let app = service!(sim);
        error(&post!(app, &p("preGenerate"), pre(3)), 1003);
        error(
            &post!(app, &p("preGenerate"), json!({"type": 1, "target": 1})),
            1004,
        );
        error(&post!(app, &p("preGenerate"), pre(2)), 1004);
        error(&post!(app, &p("preGenerate"), json!({})), 400);
        // `target` is an int in the table and in the example: a string is refused.
        error(
            &post!(
                app,
                &p("preGenerate"),
                json!({"type": 2, "target": "10086"})
            ),
            400,
        );
        error(
            &post!(
                app,
                &p("preGenerate"),
                json!({"type": "2", "target": 10086})
            ),
            400,
        );
        data(&post!(
            app,
            &p("preGenerate"),
            json!({"type": 2, "target": 10086})
        ));
        error(&post!(app, &p("preGenerate"), pre(1)), 1001);
        error(
            &post!(
                app,
                &p("getQrCode"),
                json!({"id": "ad518a4271fa43c8937612c5f60396f8"})
            ),
            1002,
        );
        error(
            &post!(
                app,
                &p("onLine"),
                json!({"id": "ad518a4271fa43c8937612c5f60396f8"})
            ),
            1002,
        );
    }

    #[actix_web::test]
    async fn quota_is_enforced_and_shown() {
        let sim = AccountsSim::new(AccountsConfig {
            cloud_port_quota: 2,
            ..fast_config()
        });
        let app = service!(sim);
        let cp = data(&get!(app, &p("selectCloudPort")));
        keys(&cp, &["currentPort", "maxPort"]);
        assert_eq!(cp, json!({"currentPort": 0, "maxPort": 2}));
        let a = data(&post!(app, &p("preGenerate"), pre(1)));
        data(&post!(app, &p("preGenerate"), pre(1)));
        error(&post!(app, &p("preGenerate"), pre(1)), 1001);
        // Scan tasks draw on the same quota.
        error(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/create",
                json!({"allocationRole": 1})
            ),
            1001,
        );
        assert_eq!(
            data(&get!(app, &p("selectCloudPort"))),
            json!({"currentPort": 2, "maxPort": 2})
        );
        // Logging out frees a port.
        data(&post!(app, &p("logOut"), json!({"id": a})));
        assert_eq!(
            data(&get!(app, &p("selectCloudPort")))["currentPort"],
            json!(1)
        );
        data(&post!(app, &p("preGenerate"), pre(1)));
    }

    #[actix_web::test]
    async fn unused_ports_are_released_after_the_configured_time() {
        let sim = AccountsSim::new(AccountsConfig {
            cloud_port_quota: 1,
            port_release_after: Duration::from_millis(300),
            ..fast_config()
        });
        let app = service!(sim);
        let id = data(&post!(app, &p("preGenerate"), pre(1)));
        data(&post!(app, &p("getQrCode"), json!({"id": id})));
        error(&post!(app, &p("preGenerate"), pre(1)), 1001);
        actix_web::rt::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(
            data(&get!(app, &p("selectCloudPort")))["currentPort"],
            json!(0)
        );
        error(&post!(app, &p("getQrCode"), json!({"id": id})), 1002);
        // A port that was logged in on is kept however long it stays.
        let id = data(&post!(app, &p("preGenerate"), pre(1)));
        data(&post!(app, &p("getQrCode"), json!({"id": id})));
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/sessions/{}/scan", id.as_str().unwrap()),
            json!({})
        );
        assert_eq!(s, 200);
        sim.advance_clock(Duration::from_secs(3600));
        assert_eq!(
            data(&get!(app, &p("selectCloudPort")))["currentPort"],
            json!(1)
        );
    }

    #[actix_web::test]
    async fn ten_minutes_by_default_on_the_simulated_clock() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = data(&post!(app, &p("preGenerate"), pre(1)));
        sim.advance_clock(Duration::from_secs(599));
        data(&post!(app, &p("getQrCode"), json!({"id": id})));
        sim.advance_clock(Duration::from_secs(2));
        error(&post!(app, &p("getQrCode"), json!({"id": id})), 1002);
    }

    #[actix_web::test]
    async fn qr_codes_pair_codes_and_session_info() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = data(&post!(app, &p("preGenerate"), pre(1)));
        let id = id.as_str().unwrap().to_owned();
        // The request example, with its placeholder proxy.
        let qr = data(&post!(
            app,
            &p("getQrCode"),
            json!({"id": id, "ipConfig": "ip:port:user:pass"})
        ));
        let qr = qr.as_str().unwrap();
        assert!(
            qr.starts_with("2@") && qr.ends_with(",1") && qr.split(',').count() == 5,
            "{qr}"
        );
        error(
            &post!(
                app,
                &p("getQrCode"),
                json!({"id": id, "ipConfig": "http://1.2.3.4:80"})
            ),
            400,
        );
        // No id: the latest waiting session.
        let again = data(&post!(app, &p("getQrCode"), json!({})));
        assert!(again.as_str().unwrap().starts_with("2@"));

        let v2 = data(&post!(
            app,
            &p("getQrCodeV2"),
            json!({
                "id": id, "phone": "8618733334444", "ipConfig": "ip:port:user:pass"
            })
        ));
        keys(&v2, &["qrcode", "pairCode"]);
        assert_eq!(v2["pairCode"], json!("88888888"));
        let easy = data(&post!(
            app,
            &p("getQrCodeV2"),
            json!({"id": id, "phone": "8618733334444", "isEasy": "y"})
        ));
        let code = easy["pairCode"].as_str().unwrap();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        let native = data(&post!(
            app,
            &p("getQrCodeV2"),
            json!({"id": id, "phone": "8618733334444", "isEasy": "n"})
        ));
        assert_eq!(native["pairCode"].as_str().unwrap().len(), 9);
        assert_eq!(
            data(&post!(
                app,
                &p("getQrCodeV2"),
                json!({"id": id, "phone": "8618733334444", "isEasy": "b"})
            ))["pairCode"],
            json!("88888888")
        );
        error(
            &post!(
                app,
                &p("getQrCodeV2"),
                json!({"id": id, "phone": "8618733334444", "isEasy": "z"})
            ),
            400,
        );
        error(&post!(app, &p("getQrCodeV2"), json!({"id": id})), 400);

        let info = data(&post!(app, &p("getQrCodeInfo"), json!({"id": id})));
        keys(&info[0], &["status", "userName", "whatsApp"]);
        assert_eq!(info[0]["status"], json!(0));
        // The pair code's phone logs in.
        let (s, body) = admin!(
            app,
            &format!("/_sim/accounts/sessions/{id}/scan"),
            json!({})
        );
        assert_eq!(s, 200, "{body}");
        let info = data(&post!(app, &p("getQrCodeInfo"), json!({"id": id})));
        assert_eq!(info[0]["status"], json!(1));
        assert_eq!(info[0]["whatsApp"], json!("8618733334444"));
        let by_number = data(&post!(
            app,
            &p("getQrCodeInfo"),
            json!({"whatsapp": "8618733334444"})
        ));
        assert_eq!(by_number.as_array().unwrap().len(), 1);
        error(&post!(app, &p("getQrCode"), json!({"id": id})), 409);
        error(
            &post!(
                app,
                &p("getQrCodeInfo"),
                json!({"id": "ad518a4271fa43c8937612c5f60396f8"})
            ),
            1002,
        );
    }

    #[actix_web::test]
    async fn online_offline_logout_and_port_details() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let waiting = data(&post!(app, &p("preGenerate"), pre(1)));
        let id = login!(app, "8618730334344");
        // Not logged in yet: the vendor refuses to bring it online.
        error(&post!(app, &p("onLine"), json!({"id": waiting})), 409);
        error(&post!(app, &p("offline"), json!({"id": waiting})), 409);

        let rows = data(&get!(app, &p("selectCloudPortDetail")));
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        for r in rows {
            keys(r, &["phone", "createTime", "id", "status"]);
            let pid = r["id"].as_str().expect("id as a string, as the table says");
            assert!(pid.parse::<u64>().unwrap() > 8_600_000_000_000_000_000);
        }
        let mine = rows
            .iter()
            .find(|r| r["phone"] == json!("8618730334344"))
            .unwrap();
        assert_eq!(mine["status"], json!(10));
        let idle = rows.iter().find(|r| r["phone"].is_null()).unwrap();
        assert_eq!(idle["status"], Value::Null);

        let res = post!(app, &p("offline"), json!({"id": id}));
        assert_eq!(data(&res), json!([]));
        let rows = data(&get!(app, &p("selectCloudPortDetail")));
        let mine = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["phone"] == json!("8618730334344"))
            .unwrap();
        assert_eq!(mine["status"], json!(20));
        let status = data(&get!(
            app,
            "/group-dispatch-api/whatsapp/queryWhatsAppStatus"
        ));
        assert_eq!(status[0]["onlineStatus"], json!(4));

        assert_eq!(
            data(&post!(
                app,
                &p("onLine"),
                json!({"id": id, "ipConfig": "ip:port:user:pass"})
            )),
            json!([])
        );
        let status = data(&get!(
            app,
            "/group-dispatch-api/whatsapp/queryWhatsAppStatus"
        ));
        assert_eq!(status[0]["onlineStatus"], json!(2));

        assert_eq!(
            data(&post!(app, &p("logOut"), json!({"id": id}))),
            json!([])
        );
        error(&post!(app, &p("onLine"), json!({"id": id})), 1002);
        error(&post!(app, &p("logOut"), json!({"id": id})), 1002);
        assert_eq!(
            data(&get!(app, &p("selectCloudPort")))["currentPort"],
            json!(1)
        );
        error(&post!(app, &p("offline"), json!({})), 400);
    }

    #[actix_web::test]
    async fn banned_accounts_cannot_come_back_online_and_failed_scans_free_the_port() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = login!(app, "8618730334345");
        data(&post!(app, &p("offline"), json!({"id": id})));
        let (s, _) = admin!(
            app,
            "/_sim/accounts/accounts/8618730334345/ban",
            json!({"banned": true})
        );
        assert_eq!(s, 200);
        error(&post!(app, &p("onLine"), json!({"id": id})), 409);
        let (s, _) = admin!(
            app,
            "/_sim/accounts/accounts/8618730334345/online-status",
            json!({"onlineStatus": 2})
        );
        assert_eq!(s, 409);

        let other = data(&post!(app, &p("preGenerate"), pre(1)));
        let other = other.as_str().unwrap();
        let before = data(&get!(app, &p("selectCloudPort")))["currentPort"]
            .as_i64()
            .unwrap();
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/sessions/{other}/scan"),
            json!({"success": false, "code": 1002})
        );
        assert_eq!(s, 200);
        assert_eq!(
            data(&get!(app, &p("selectCloudPort")))["currentPort"]
                .as_i64()
                .unwrap(),
            before - 1
        );
        let info = data(&post!(app, &p("getQrCodeInfo"), json!({"id": other})));
        assert_eq!(info[0]["status"], json!(0));
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/sessions/{other}/scan"),
            json!({"success": false, "code": 999})
        );
        assert_eq!(s, 404, "the port is gone");
    }

    #[actix_web::test]
    async fn example_types_print_port_ids_as_numbers_and_lower_quota_takes_late_ports_offline() {
        let sim = AccountsSim::new(AccountsConfig {
            example_types: true,
            ..fast_config()
        });
        let app = service!(sim);
        login!(app, "8618730334301");
        sim.advance_clock(Duration::from_secs(1));
        login!(app, "8618730334302");
        let rows = data(&get!(app, &p("selectCloudPortDetail")));
        assert!(rows[0]["id"].is_u64(), "{rows}");
        let (s, body) = admin!(app, "/_sim/accounts/ports/quota", json!({"maxPort": 1}));
        assert_eq!(s, 200);
        assert_eq!(body["takenOffline"], json!(["8618730334302"]));
        assert_eq!(
            data(&get!(app, &p("selectCloudPort"))),
            json!({"currentPort": 2, "maxPort": 1})
        );
    }
}
