use serde_json::{Value, json};
use vendor_sim::{SimConfig, truth, xlsx};

use crate::common::{self, SEED, numbers, wscrm};

const SUBMIT: &str = "/wscrm-bus-api/open/scan/screenWhatsApp";

async fn submit(c: &reqwest::Client, sim: &vendor_sim::RunningSim, body: &Value) -> Value {
    wscrm(c, sim, SUBMIT)
        .json(body)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON envelope")
}

#[tokio::test]
async fn fewer_than_500_or_more_than_20000_numbers_are_refused_and_not_billed() {
    let sim = common::sim().await;
    let c = common::client();
    for n in [499, 20_001] {
        let v = submit(
            &c,
            &sim,
            &json!({"data": numbers(n, "1415"), "type": 0, "country": "US"}),
        )
        .await;
        assert_eq!(v["code"], 400, "{n} numbers: {v}");
        assert!(v["data"].is_null());
    }
    let ledger = sim.ledger();
    assert_eq!(ledger.requests("wscrm", "screening.submit"), 2);
    assert_eq!(ledger.numbers_billed("wscrm"), 0);
}

#[tokio::test]
async fn invalid_fields_are_refused() {
    let sim = common::sim().await;
    let c = common::client();
    let base = json!({"data": numbers(500, "1415"), "type": 1, "country": "US"});
    let cases = [
        ("country", Value::Null),
        ("type", json!(3)),
        ("type", json!("x")),
        ("activeType", json!(7)),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        if value.is_null() {
            body.as_object_mut().expect("object").remove(field);
        } else {
            body[field] = value;
        }
        let v = submit(&c, &sim, &body).await;
        assert_eq!(v["code"], 400, "{field}: {v}");
    }
    let mut bad_number = base.clone();
    bad_number["data"][3] = json!("12ab");
    assert_eq!(submit(&c, &sim, &bad_number).await["code"], 400);
    let broken = wscrm(&c, &sim, SUBMIT)
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(broken.json::<Value>().await.expect("envelope")["code"], 400);
}

#[tokio::test]
async fn missing_credentials_get_the_wscrm_401_envelope() {
    let sim = common::sim().await;
    let c = common::client();
    let res = c
        .post(format!("{}{SUBMIT}", sim.base_url()))
        .json(&json!({"data": numbers(500, "1415"), "type": 0, "country": "US"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("envelope");
    assert_eq!(v["code"], 401);
    assert_eq!(sim.ledger().numbers_billed("wscrm"), 0);
    assert_eq!(sim.ledger().requests("wscrm", "screening.submit"), 1);
}

#[tokio::test]
async fn an_order_of_500_completes_and_its_xlsx_follows_the_truth() {
    let mut config = SimConfig::for_tests(SEED);
    config.speed.screening_base_ms = 300;
    let sim = common::start(config).await;
    let c = common::client();
    let nums = numbers(500, "5511");
    let v = submit(
        &c,
        &sim,
        &json!({"data": nums, "type": 1, "activeType": 0, "country": "BR"}),
    )
    .await;
    assert_eq!(v["code"], 200, "{v}");
    let order = v["data"].as_str().expect("order id").to_owned();
    assert_eq!(order.len(), 32);
    assert!(order.bytes().all(|b| b.is_ascii_hexdigit()));

    let status_path = format!("/wscrm-bus-api/open/scan/queryTaskStatus/{order}");
    let details_path = format!("/wscrm-bus-api/open/scan/queryTaskDetails/{order}");
    let first: Value = wscrm(&c, &sim, &status_path)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(first["data"], 0);
    let early: Value = wscrm(&c, &sim, &details_path)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_ne!(early["code"], 200, "details before completion: {early}");
    assert!(early["data"].is_null());

    let done = common::poll_until(
        || async {
            wscrm(&c, &sim, &status_path)
                .send()
                .await
                .expect("answer")
                .json::<Value>()
                .await
                .expect("JSON")
        },
        |v| v["data"] == 1,
    )
    .await;
    assert_eq!(done["data"], 1);
    let details: Value = wscrm(&c, &sim, &details_path)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(details["code"], 200);
    let url = details["data"].as_str().expect("URL");
    assert!(
        url.starts_with(sim.base_url()) && url.ends_with(".xlsx"),
        "{url}"
    );

    let res = c.get(url).send().await.expect("download");
    assert_eq!(res.status(), 200);
    let rows = common::sheet_rows(&res.bytes().await.expect("bytes"));
    assert_eq!(rows[0], xlsx::SCREENING_COLUMNS.map(String::from).to_vec());
    assert_eq!(rows.len(), 501);
    for (row, n) in rows.iter().skip(1).zip(&nums).take(40) {
        let p = truth::profile(SEED, n);
        assert_eq!(&row[0], n);
        assert_eq!(row[1], if p.registered { "1" } else { "0" });
        let last_active = p
            .last_active
            .map(|t| truth::vendor_time(t, 480))
            .unwrap_or_default();
        assert_eq!(row[3], last_active);
        assert_eq!(row[2], p.about.clone().unwrap_or_default());
    }

    let ledger = sim.ledger();
    let wscrm = ledger.vendor("wscrm").expect("wscrm ledger");
    assert_eq!(wscrm.numbers_billed, 500);
    assert_eq!(wscrm.orders_created, 1);
    assert_eq!(wscrm.orders[0].id, order);
    assert_eq!(wscrm.orders[0].numbers, 500);
    assert!(ledger.requests("wscrm", "screening.status") >= 2);
    assert_eq!(ledger.requests("files", "files.download"), 1);
}

#[tokio::test]
async fn unknown_orders_are_404_envelopes() {
    let sim = common::sim().await;
    let c = common::client();
    let v: Value = wscrm(
        &c,
        &sim,
        "/wscrm-bus-api/open/scan/queryTaskStatus/0123456789abcdef0123456789abcdef",
    )
    .send()
    .await
    .expect("answer")
    .json()
    .await
    .expect("JSON");
    assert_eq!(v["code"], 404);
}

#[tokio::test]
async fn the_same_numbers_twice_show_up_as_duplicates() {
    let sim = common::sim().await;
    let c = common::client();
    let body = json!({"data": numbers(500, "4477"), "type": 0, "country": "GB"});
    submit(&c, &sim, &body).await;
    assert!(sim.ledger().duplicate_orders("wscrm").is_empty());
    submit(&c, &sim, &body).await;
    assert_eq!(sim.ledger().duplicate_orders("wscrm").len(), 1);
    assert_eq!(sim.ledger().numbers_billed("wscrm"), 1000);
}

#[tokio::test]
async fn avatar_gender_orders_fill_those_columns_only() {
    let sim = common::sim().await;
    let c = common::client();
    let nums = numbers(500, "3460");
    let v = submit(&c, &sim, &json!({"data": nums, "type": 2, "country": "ES"})).await;
    let order = v["data"].as_str().expect("order");
    let details: Value = wscrm(
        &c,
        &sim,
        &format!("/wscrm-bus-api/open/scan/queryTaskDetails/{order}"),
    )
    .send()
    .await
    .expect("answer")
    .json()
    .await
    .expect("JSON");
    let bytes = c
        .get(details["data"].as_str().expect("url"))
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    let rows = common::sheet_rows(&bytes);
    let registered = rows
        .iter()
        .skip(1)
        .zip(&nums)
        .find(|(_, n)| truth::profile(SEED, n).registered)
        .expect("some registered number");
    let p = truth::profile(SEED, registered.1);
    assert_eq!(registered.0[7], p.gender.as_str());
    assert_eq!(registered.0[3], "", "no activity for type 2");
}
