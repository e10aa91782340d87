use serde_json::Value;
use vendor_sim::vendors::nxcloud::{BusinessPhone, bound_numbers, business_phone};
use vendor_sim::{SimConfig, dev};

use crate::common::{self, SEED, get_phone, now_ms, nx_headers};

fn body(appkey: &str, phones: Option<&str>) -> String {
    match phones {
        Some(p) => format!(
            r#"{{"appkey":"{appkey}","business_phones":"{p}","messaging_product":"whatsapp"}}"#
        ),
        None => format!(r#"{{"appkey":"{appkey}","messaging_product":"whatsapp"}}"#),
    }
}

fn dev_headers(body: &str) -> Vec<(String, String)> {
    nx_headers(
        dev::NXCLOUD_ACCESS_KEY,
        dev::NXCLOUD_ACCESS_SECRET,
        now_ms(),
        body,
    )
}

#[tokio::test]
async fn a_signed_call_lists_every_bound_number() {
    let sim = common::sim().await;
    let c = common::client();
    let b = body(dev::NXCLOUD_APPKEY, None);
    let v = get_phone(&c, &sim, &dev_headers(&b), &b).await;
    assert_eq!(v["code"], 0, "{v}");
    let bound = bound_numbers(
        &SimConfig::for_tests(SEED).nxcloud,
        SEED,
        dev::NXCLOUD_APPKEY,
    )
    .expect("dev appkey");
    let data = v["data"].as_object().expect("data object");
    assert_eq!(data.len(), bound.len());
    for n in &bound {
        let phones: Vec<BusinessPhone> =
            serde_json::from_value(data[n].clone()).expect("phone objects");
        assert_eq!(phones, vec![business_phone(SEED, dev::NXCLOUD_APPKEY, n)]);
    }
}

#[tokio::test]
async fn business_phones_filters_and_tolerates_spaces() {
    let sim = common::sim().await;
    let c = common::client();
    let bound = bound_numbers(
        &SimConfig::for_tests(SEED).nxcloud,
        SEED,
        dev::NXCLOUD_APPKEY,
    )
    .expect("dev appkey");
    let b = body(
        dev::NXCLOUD_APPKEY,
        Some(&format!("{}, +{}", bound[0], bound[2])),
    );
    let v = get_phone(&c, &sim, &dev_headers(&b), &b).await;
    assert_eq!(v["code"], 0, "{v}");
    let keys: Vec<&String> = v["data"].as_object().expect("data").keys().collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&&bound[0]) && keys.contains(&&bound[2]));
}

#[tokio::test]
async fn unbound_numbers_and_missing_parameters() {
    let sim = common::sim().await;
    let c = common::client();
    let b = body(dev::NXCLOUD_APPKEY, Some("8613800000000"));
    assert_eq!(
        get_phone(&c, &sim, &dev_headers(&b), &b).await["code"],
        9006
    );
    let b = r#"{"messaging_product":"whatsapp"}"#;
    assert_eq!(get_phone(&c, &sim, &dev_headers(b), b).await["code"], 9000);
    let b = r#"{"appkey":"x","messaging_product":"sms"}"#;
    assert_eq!(get_phone(&c, &sim, &dev_headers(b), b).await["code"], 9000);
    let b = body("no-such-appkey", None);
    assert_eq!(
        get_phone(&c, &sim, &dev_headers(&b), &b).await["code"],
        9001
    );
    // Signed without the body part, as the convention says for an empty body: auth passes.
    assert_eq!(
        get_phone(&c, &sim, &dev_headers(""), "").await["code"],
        9000
    );
}

#[tokio::test]
async fn authentication_failures_get_their_own_codes() {
    let sim = common::sim().await;
    let c = common::client();
    let b = body(dev::NXCLOUD_APPKEY, None);

    let mut wrong_sign = dev_headers(&b);
    wrong_sign[4].1 = "0".repeat(32);
    let v = get_phone(&c, &sim, &wrong_sign, &b).await;
    assert_eq!(v["code"], 1004, "{v}");
    assert!(v["data"].is_null());

    let old = nx_headers(
        dev::NXCLOUD_ACCESS_KEY,
        dev::NXCLOUD_ACCESS_SECRET,
        now_ms() - 120_000,
        &b,
    );
    assert_eq!(get_phone(&c, &sim, &old, &b).await["code"], 1002);

    let future = nx_headers(
        dev::NXCLOUD_ACCESS_KEY,
        dev::NXCLOUD_ACCESS_SECRET,
        now_ms() + 120_000,
        &b,
    );
    assert_eq!(get_phone(&c, &sim, &future, &b).await["code"], 1002);

    for missing in 0..5 {
        let mut h = dev_headers(&b);
        h.remove(missing);
        assert_eq!(
            get_phone(&c, &sim, &h, &b).await["code"],
            1000,
            "without header {missing}"
        );
    }

    let unknown = nx_headers("nobody", "x", now_ms(), &b);
    assert_eq!(get_phone(&c, &sim, &unknown, &b).await["code"], 1001);

    // Signed body and sent body differ by one byte.
    let h = dev_headers(&b);
    assert_eq!(
        get_phone(&c, &sim, &h, &format!("{b} ")).await["code"],
        1004
    );

    let mut wrong_action = dev_headers(&b);
    wrong_action[3].1 = "sendMessage".into();
    assert_eq!(get_phone(&c, &sim, &wrong_action, &b).await["code"], 1003);

    assert_eq!(sim.ledger().requests("nxcloud", "nxcloud.get_phone"), 11);
}

#[tokio::test]
async fn answers_are_json_envelopes_with_code_message_data() {
    let sim = common::sim().await;
    let c = common::client();
    let b = body(dev::NXCLOUD_APPKEY, None);
    let v: Value = get_phone(&c, &sim, &dev_headers(&b), &b).await;
    let mut keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["code", "data", "message"]);
}
