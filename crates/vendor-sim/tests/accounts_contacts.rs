//! Address book, contact, profile, avatar/nickname, and PC scan tasks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts_support;

use accounts_support::{data, error, fast_config, keys};
use serde_json::json;
use vendor_sim::accounts::{AccountsConfig, AccountsSim};

// Inside `accounts` so that `cargo test -p vendor-sim accounts` selects them.
mod accounts {
    use super::*;

    const Q: &str = "/group-dispatch-api/qrCode";
    const UPDATE: &str = "/group-dispatch-api/channelInfo/updateAvatarOrNickname";
    const CONTACT_FIELDS: [&str; 5] = ["whatsapp", "pushName", "isFriend", "firstName", "fullName"];

    #[actix_web::test]
    async fn address_book_and_contact_info() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = login!(app, "8618733330000");
        let book = data(&get!(app, &format!("{Q}/selectContact?id={id}")));
        let book = book.as_array().unwrap();
        assert!((4..=12).contains(&book.len()));
        for c in book {
            keys(c, &CONTACT_FIELDS);
            assert!(c["isFriend"].is_boolean(), "sent as a boolean: {c}");
            assert!(c["whatsapp"].as_str().unwrap().starts_with("86"));
        }
        // Same seed, same book; without id the online session is used.
        assert_eq!(
            data(&get!(app, &format!("{Q}/selectContact?id={id}")))
                .as_array()
                .unwrap(),
            book
        );
        assert_eq!(
            data(&get!(app, &format!("{Q}/selectContact")))
                .as_array()
                .unwrap(),
            book
        );

        let known = book[0]["whatsapp"].as_str().unwrap();
        let c = data(&post!(
            app,
            &format!("{Q}/contact/info"),
            json!({"id": id, "phone": known})
        ));
        assert_eq!(&c, &book[0]);
        let c = data(&post!(
            app,
            &format!("{Q}/contact/info"),
            json!({"id": id, "phone": "8618733334444"})
        ));
        keys(&c, &CONTACT_FIELDS);
        assert_eq!(c["whatsapp"], json!("8618733334444"));
        error(
            &post!(app, &format!("{Q}/contact/info"), json!({"id": id})),
            400,
        );

        // Another seed, another book.
        let other = AccountsSim::new(AccountsConfig {
            seed: 8,
            ..fast_config()
        });
        let app2 = service!(other);
        let id2 = login!(app2, "8618733330000");
        assert_ne!(
            data(&get!(app2, &format!("{Q}/selectContact?id={id2}")))
                .as_array()
                .unwrap(),
            book
        );

        // Offline: no address book.
        data(&post!(app, &format!("{Q}/offline"), json!({"id": id})));
        error(&get!(app, &format!("{Q}/selectContact?id={id}")), 409);
        error(&get!(app, &format!("{Q}/selectContact")), 1002);
        error(
            &get!(
                app,
                &format!("{Q}/selectContact?id=ad518a4271fa43c8937612c5f60396f8")
            ),
            1002,
        );
    }

    #[actix_web::test]
    async fn profile_and_avatar_or_nickname() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let id = login!(app, "447962000001");
        let prof = data(&post!(app, &format!("{Q}/info/profile"), json!({"id": id})));
        keys(
            &prof,
            &[
                "whatsapp",
                "isBusiness",
                "businessName",
                "avatar",
                "pushName",
                "status",
                "chatNum",
                "groupNum",
                "lastChatTime",
            ],
        );
        assert_eq!(prof["whatsapp"], json!("447962000001"));
        assert!(prof["isBusiness"].is_boolean());
        assert!(prof["chatNum"].is_u64() && prof["groupNum"].is_u64());
        // Epoch seconds, not milliseconds.
        let t = prof["lastChatTime"].as_i64().unwrap();
        assert!(t > 1_600_000_000 && t < 10_000_000_000, "{t}");

        // The request example with its masked number made real.
        let res = post!(
            app,
            UPDATE,
            json!({
                "type": 1, "avatar": "https://oss/3021b973ced1b3300664bb3f7a47ee8b.jpeg",
                "nickname": "mimanchin", "phoneList": ["447962000001"]
            })
        );
        assert_eq!(res["message"], json!("Success"));
        assert_eq!(data(&res), json!(""));
        let prof = data(&post!(app, &format!("{Q}/info/profile"), json!({"id": id})));
        assert_eq!(prof["pushName"], json!("mimanchin"));
        assert_eq!(
            prof["avatar"],
            json!("https://oss/3021b973ced1b3300664bb3f7a47ee8b.jpeg")
        );

        error(
            &post!(
                app,
                UPDATE,
                json!({"type": 1, "phoneList": ["447962000001"]})
            ),
            400,
        );
        error(
            &post!(
                app,
                UPDATE,
                json!({"type": 2, "nickname": "x", "phoneList": ["447962000001"]})
            ),
            400,
        );
        error(
            &post!(
                app,
                UPDATE,
                json!({"type": 1, "avatar": "oss/1.jpeg", "phoneList": ["447962000001"]})
            ),
            400,
        );
        error(
            &post!(
                app,
                UPDATE,
                json!({"type": 1, "nickname": "x", "phoneList": []})
            ),
            400,
        );
        error(
            &post!(
                app,
                UPDATE,
                json!({"type": 1, "nickname": "x", "phoneList": ["447962000009"]})
            ),
            404,
        );
        data(&post!(app, &format!("{Q}/offline"), json!({"id": id})));
        // A cloud port must be online; a physical device need not.
        error(
            &post!(
                app,
                UPDATE,
                json!({"type": 1, "nickname": "x", "phoneList": ["447962000001"]})
            ),
            409,
        );
        data(&post!(
            app,
            UPDATE,
            json!({"type": 0, "nickname": "y", "phoneList": ["447962000001"]})
        ));
        error(
            &post!(app, &format!("{Q}/info/profile"), json!({"id": id})),
            409,
        );
    }

    #[actix_web::test]
    async fn imported_business_accounts_report_it_in_their_profile() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        data(&post!(
            app,
            "/group-dispatch-api/whatsapp/batchInsert",
            json!({"whatsAppList": [{
                "whatsApp": "447962000002", "whatsappType": 2, "name": "Acme", "publicKey": "", "privateKey": "",
                "msgPublicKey": "", "msgPrivateKey": "", "accountId": ""
            }]})
        ));
        let id = login!(app, "447962000002");
        let prof = data(&post!(app, &format!("{Q}/info/profile"), json!({"id": id})));
        assert_eq!(prof["isBusiness"], json!(true));
        assert_eq!(prof["businessName"], json!("Acme"));
        assert_eq!(prof["pushName"], json!("Acme"));
    }

    #[actix_web::test]
    async fn scan_tasks() {
        let sim = AccountsSim::new(fast_config());
        let app = service!(sim);
        let task = data(&post!(
            app,
            "/wscrm-bus-api/qrCodeTask/create",
            json!({"userId": 10001, "allocationRole": 3})
        ));
        let task = task.as_str().unwrap().to_owned();
        assert_eq!(task.len(), 32);
        let qr = data(&post!(
            app,
            "/wscrm-bus-api/qrCodeTask/getQrCode",
            json!({"taskId": task})
        ));
        assert!(qr.as_str().unwrap().starts_with("2@"));
        // Repeatable before the scan.
        data(&post!(
            app,
            "/wscrm-bus-api/qrCodeTask/getQrCode",
            json!({"taskId": task})
        ));
        assert_eq!(
            data(&get!(app, &format!("{Q}/selectCloudPort")))["currentPort"],
            json!(1)
        );

        let (s, body) = admin!(
            app,
            &format!("/_sim/accounts/scan-tasks/{task}/progress"),
            json!({"taskStatus": 70, "whatsapp": "86166666666"})
        );
        assert_eq!(s, 200, "{body}");
        error(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/getQrCode",
                json!({"taskId": task})
            ),
            409,
        );
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/scan-tasks/{task}/progress"),
            json!({"taskStatus": 80})
        );
        assert_eq!(s, 200);
        let status = data(&get!(
            app,
            "/group-dispatch-api/whatsapp/queryWhatsAppStatus"
        ));
        assert_eq!(
            status,
            json!([{"whatsApp": "86166666666", "status": 1, "onlineStatus": 2}])
        );
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/scan-tasks/{task}/progress"),
            json!({"taskStatus": 84})
        );
        assert_eq!(s, 409, "a finished task does not move");
        let ports = data(&get!(app, &format!("{Q}/selectCloudPortDetail")));
        assert_eq!(ports[0]["phone"], json!("86166666666"));

        // Random allocation; a timed-out task frees its port.
        error(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/create",
                json!({"allocationRole": "1"})
            ),
            400,
        );
        let t2 = data(&post!(
            app,
            "/wscrm-bus-api/qrCodeTask/create",
            json!({"allocationRole": 1})
        ));
        let t2 = t2.as_str().unwrap();
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/scan-tasks/{t2}/progress"),
            json!({"taskStatus": 71})
        );
        assert_eq!(s, 200);
        assert_eq!(
            data(&get!(app, &format!("{Q}/selectCloudPort")))["currentPort"],
            json!(1)
        );
        let (s, _) = admin!(
            app,
            &format!("/_sim/accounts/scan-tasks/{t2}/progress"),
            json!({"taskStatus": 99})
        );
        assert_eq!(s, 400);

        error(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/create",
                json!({"allocationRole": 3})
            ),
            400,
        );
        error(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/create",
                json!({"allocationRole": 2})
            ),
            400,
        );
        error(
            &post!(
                app,
                "/wscrm-bus-api/qrCodeTask/getQrCode",
                json!({"taskId": "nope"})
            ),
            404,
        );
        error(
            &post!(app, "/wscrm-bus-api/qrCodeTask/getQrCode", json!({})),
            400,
        );
    }
}
