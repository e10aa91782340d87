//! What the documents of the other vendors forbid is refused in each vendor's own error shape:
//! undocumented fields, parts or query parameters, and values of another JSON type than the table's.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use vendor_sim::{SimConfig, dev};

use crate::common::{self, SEED, get_phone, now_ms, nx_headers};

#[tokio::test]
async fn screening_refuses_other_types_and_fields_with_its_envelope() {
    let mut config = SimConfig::for_tests(SEED);
    config.wscrm.min_numbers = 1;
    let sim = common::start(config).await;
    let c = common::client();
    let submit = |body: Value| {
        common::wscrm(&c, &sim, "/wscrm-bus-api/open/scan/screenWhatsApp").json(&body)
    };
    let ok = json!({"data": ["91182716322323"], "type": 1, "activeType": 0, "country": "IN"});
    for (key, value) in [
        ("type", json!("1")),
        ("activeType", json!("0")),
        ("data", json!([91182716322323_u64])),
        ("country", json!(356)),
        ("callback", json!("https://example.com")),
    ] {
        let mut body = ok.clone();
        body[key] = value;
        let v: Value = submit(body)
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("JSON");
        assert_eq!(v["code"], 400, "{key}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains(key)),
            "{v}"
        );
        assert!(v["data"].is_null());
    }
    assert_eq!(sim.ledger().numbers_billed("wscrm"), 0, "refusals are free");
    let v: Value = submit(ok)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(v["code"], 200, "{v}");
    let order = v["data"].as_str().expect("order");
    let v: Value = common::wscrm(
        &c,
        &sim,
        &format!("/wscrm-bus-api/open/scan/queryTaskStatus/{order}"),
    )
    .json(&json!({"orderId": order}))
    .send()
    .await
    .expect("answer")
    .json()
    .await
    .expect("JSON");
    assert_eq!(v["code"], 400, "the order id goes in the path only: {v}");
}

#[tokio::test]
async fn nxcloud_refuses_other_types_and_fields_with_code_9000() {
    let sim = common::sim().await;
    let c = common::client();
    for body in [
        json!({"appkey": dev::NXCLOUD_APPKEY, "messaging_product": "whatsapp", "page": 1}),
        json!({"appkey": dev::NXCLOUD_APPKEY, "messaging_product": "whatsapp", "business_phones": ["8613800138024"]}),
    ] {
        let body = body.to_string();
        let headers = nx_headers(
            dev::NXCLOUD_ACCESS_KEY,
            dev::NXCLOUD_ACCESS_SECRET,
            now_ms(),
            &body,
        );
        let v = get_phone(&c, &sim, &headers, &body).await;
        assert_eq!(v["code"], 9000, "{body}: {v}");
    }
}

#[tokio::test]
async fn accuauth_refuses_other_types_and_fields_as_invalid_argument() {
    let sim = common::sim().await;
    let c = common::client();
    for body in [
        json!({"number": 912345678}),
        json!({"number": "912345678", "country": "PE"}),
    ] {
        let res = c
            .post(format!("{}/check/whatsapp_advanced", sim.base_url()))
            .header("X-DF-API-ID", dev::ACCUAUTH_API_ID)
            .header("X-DF-API-SECRET", dev::ACCUAUTH_API_SECRET)
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status(), 400);
        let v: Value = res.json().await.expect("JSON");
        assert_eq!(v["status"], "INVALID_ARGUMENT", "{body}: {v}");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 0);
}

#[tokio::test]
async fn ekycpro_refuses_undocumented_parts_and_query_parameters() {
    let sim = common::sim().await;
    let c = common::client();
    let form = Form::new()
        .text("user_id", dev::EKYCPRO_USER_ID)
        .text("country", "CH")
        .part(
            "file",
            Part::bytes(b"+41790000001\n".to_vec()).file_name("input.txt"),
        );
    let res = c
        .post(format!("{}/wa/api/detail/tasks", sim.base_url()))
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .multipart(form)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.expect("JSON");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("country")),
        "{v}"
    );
    assert_eq!(sim.ledger().numbers_billed("ekycpro"), 0);
    let res = c
        .get(format!(
            "{}/wa/api/detail/tasks/cs9viu7i61pkfs4oavvg",
            sim.base_url()
        ))
        .query(&[("user_id", dev::EKYCPRO_USER_ID), ("page", "2")])
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 400);
}
