use serde_json::{Value, json};
use vendor_sim::{Ledger, SimConfig, dev};

use crate::common::{self, SEED};

#[tokio::test]
async fn faults_are_set_listed_and_cleared_over_http() {
    let sim = common::sim().await;
    let c = common::client();
    let url = format!("{}/_sim/faults", sim.base_url());
    let set: Value = c
        .post(&url)
        .json(&json!({"vendor": "accuauth", "operation": "accuauth.check", "kind": "server_error", "status": 502}))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let id = set[0]["id"].as_str().expect("assigned id").to_owned();
    assert_eq!(set[0]["rate"], 1.0);

    let check = || {
        c.post(format!("{}/check/whatsapp_advanced", sim.base_url()))
            .header("X-DF-API-ID", dev::ACCUAUTH_API_ID)
            .header("X-DF-API-SECRET", dev::ACCUAUTH_API_SECRET)
            .json(&json!({"number": "912345678"}))
            .send()
    };
    let res = check().await.expect("answer");
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.json::<Value>().await.expect("JSON")["status"],
        "INTERNAL_ERROR"
    );

    c.put(&url)
        .json(&json!([{"kind": "latency", "latency_ms": 1}, {"id": "x", "kind": "rate_limit", "vendor": "ekycpro"}]))
        .send()
        .await
        .expect("answer");
    let listed: Vec<Value> = c
        .get(&url)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed.len(), 2, "PUT replaces: {listed:?}");
    assert_eq!(
        check().await.expect("answer").status(),
        400,
        "PENDING again once the 502 fault is gone"
    );

    assert_eq!(
        c.delete(format!("{url}/x"))
            .send()
            .await
            .expect("answer")
            .status(),
        204
    );
    assert_eq!(
        c.delete(format!("{url}/x"))
            .send()
            .await
            .expect("answer")
            .status(),
        404
    );
    assert_eq!(c.delete(&url).send().await.expect("answer").status(), 204);
    let listed: Vec<Value> = c
        .get(&url)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert!(listed.is_empty());
    let _ = id;
}

#[tokio::test]
async fn invalid_faults_are_refused() {
    let sim = common::sim().await;
    let c = common::client();
    let url = format!("{}/_sim/faults", sim.base_url());
    for bad in [
        json!({"kind": "explode"}),
        json!({"kind": "server_error", "rate": 1.5}),
        json!({"kind": "key_expired", "vendor": "wscrm"}),
        json!({"kind": "latency", "vendr": "wscrm"}),
    ] {
        assert_eq!(
            c.post(&url)
                .json(&bad)
                .send()
                .await
                .expect("answer")
                .status(),
            400,
            "{bad}"
        );
    }
    assert!(sim.faults().list().is_empty());
}

#[tokio::test]
async fn ledger_over_http_matches_the_rust_api_and_resets() {
    let sim = common::sim().await;
    let c = common::client();
    let body = json!({"data": common::numbers(600, "3361"), "type": 0, "country": "FR"});
    common::wscrm(&c, &sim, "/wscrm-bus-api/open/scan/screenWhatsApp")
        .json(&body)
        .send()
        .await
        .expect("answer");
    let over_http: Ledger = c
        .get(format!("{}/_sim/ledger", sim.base_url()))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("ledger JSON");
    assert_eq!(over_http, sim.ledger());
    assert_eq!(over_http.numbers_billed("wscrm"), 600);
    let status = c
        .post(format!("{}/_sim/ledger/reset", sim.base_url()))
        .send()
        .await
        .expect("answer")
        .status();
    assert_eq!(status, 204);
    assert_eq!(sim.ledger(), Ledger::default());
}

#[tokio::test]
async fn every_wscrm_path_needs_the_configured_headers() {
    let sim = common::sim().await;
    let c = common::client();
    let path = "/group-dispatch-api/whatsapp/batchInsert";
    let v: Value = c
        .post(format!("{}{path}", sim.base_url()))
        .json(&json!({}))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(v["code"], 401);
    let wrong = c
        .post(format!("{}{path}", sim.base_url()))
        .header(dev::WSCRM_HEADER, "wrong")
        .json(&json!({}))
        .send()
        .await
        .expect("answer");
    let body: Value = wrong.json().await.unwrap_or(Value::Null);
    assert_eq!(body["code"], 401);
    assert_eq!(
        sim.ledger()
            .requests("wscrm", "wscrm.whatsapp.batch_insert"),
        2
    );
}

#[tokio::test]
async fn result_urls_can_point_at_another_host_name() {
    let mut config = SimConfig::for_tests(SEED);
    config.result_ttl_ms = 60_000;
    let probe = common::start(config.clone()).await;
    let port = probe.addr().port();
    probe.stop().await;
    config.result_url_base = Some(format!("http://localhost:{port}"));
    let sim = vendor_sim::start(config, &format!("127.0.0.1:{port}"))
        .await
        .expect("same port again");
    let c = common::client();
    let body = json!({"data": common::numbers(500, "8180"), "type": 0, "country": "JP"});
    let v: Value = common::wscrm(&c, &sim, "/wscrm-bus-api/open/scan/screenWhatsApp")
        .json(&body)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let order = v["data"].as_str().expect("order");
    let details: Value = common::wscrm(
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
    let url = details["data"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("http://localhost:{port}/_sim/files/")),
        "{url}"
    );
    let path = url.trim_start_matches(&format!("http://localhost:{port}"));
    let res = c
        .get(format!("{}{path}", sim.base_url()))
        .send()
        .await
        .expect("download");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn truth_is_served_for_black_box_tests() {
    let sim = common::sim().await;
    let c = common::client();
    let v: Value = c
        .get(format!("{}/_sim/truth/+14155550123", sim.base_url()))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let expected =
        serde_json::to_value(vendor_sim::truth::profile(SEED, "+14155550123")).expect("JSON");
    assert_eq!(v, expected);
}
