use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vendor_sim::{FaultKind, FaultSpec, RunningSim, SimConfig, dev};

use crate::common::{self, SEED};

/// A cheap, always-valid ekycpro request (an unknown task: 404 with a JSON body).
async fn ekycpro_probe(
    c: &reqwest::Client,
    sim: &RunningSim,
) -> reqwest::Result<reqwest::Response> {
    c.get(format!(
        "{}/wa/api/detail/tasks/none?user_id={}",
        sim.base_url(),
        dev::EKYCPRO_USER_ID
    ))
    .header("X-API-Key", dev::EKYCPRO_API_KEY)
    .send()
    .await
}

async fn assert_normal(c: &reqwest::Client, sim: &RunningSim) {
    let res = ekycpro_probe(c, sim).await.expect("answer");
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.expect("JSON")["error"],
        "task not found"
    );
}

#[tokio::test]
async fn server_error_uses_the_vendor_envelope_and_clearing_restores() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::new(FaultKind::ServerError).vendor("ekycpro")
    })
    .expect("valid");
    let res = ekycpro_probe(&c, &sim).await.expect("answer");
    assert_eq!(res.status(), 503);
    assert!(res.json::<Value>().await.expect("JSON")["error"].is_string());
    sim.clear_faults();
    assert_normal(&c, &sim).await;
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(FaultSpec::new(FaultKind::RateLimit).operation("ekycpro.get_task"))
        .expect("valid");
    let res = ekycpro_probe(&c, &sim).await.expect("answer");
    assert_eq!(res.status(), 429);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    sim.clear_faults();
    assert_normal(&c, &sim).await;
}

#[tokio::test]
async fn malformed_json_does_not_parse() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(FaultSpec::new(FaultKind::MalformedJson).vendor("ekycpro"))
        .expect("valid");
    let res = ekycpro_probe(&c, &sim).await.expect("answer");
    assert_eq!(res.status(), 200);
    assert!(res.json::<Value>().await.is_err());
    sim.clear_faults();
    assert_normal(&c, &sim).await;
}

#[tokio::test]
async fn truncated_body_fails_while_reading() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(FaultSpec::new(FaultKind::TruncatedBody).vendor("ekycpro"))
        .expect("valid");
    let outcome = match ekycpro_probe(&c, &sim).await {
        Ok(res) => res.bytes().await.map(|b| b.len()),
        Err(e) => Err(e),
    };
    assert!(
        outcome.is_err(),
        "a truncated body must not read as complete: {outcome:?}"
    );
    sim.clear_faults();
    assert_normal(&c, &sim).await;
}

#[tokio::test]
async fn connection_reset_gives_no_answer() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(FaultSpec::new(FaultKind::ConnectionReset).vendor("ekycpro"))
        .expect("valid");
    let err = ekycpro_probe(&c, &sim).await.expect_err("no response");
    assert!(!err.is_timeout(), "{err}");
    sim.clear_faults();
    assert_normal(&c, &sim).await;
}

#[tokio::test]
async fn hang_outlasts_the_client_timeout() {
    let sim = common::sim().await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    sim.set_fault(FaultSpec::new(FaultKind::Hang).vendor("ekycpro"))
        .expect("valid");
    let err = ekycpro_probe(&c, &sim)
        .await
        .expect_err("no answer in time");
    assert!(err.is_timeout(), "{err}");
    sim.clear_faults();
    assert_normal(&c, &sim).await;
    sim.stop().await;
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(FaultSpec::new(FaultKind::Latency).latency_ms(300))
        .expect("valid");
    let started = Instant::now();
    assert_normal(&c, &sim).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.clear_faults();
    let started = Instant::now();
    assert_normal(&c, &sim).await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn remaining_limits_a_fault_to_the_next_requests() {
    let sim = common::sim().await;
    let c = common::client();
    sim.set_fault(
        FaultSpec::new(FaultKind::ServerError)
            .vendor("ekycpro")
            .remaining(2),
    )
    .expect("valid");
    for _ in 0..2 {
        assert_eq!(ekycpro_probe(&c, &sim).await.expect("answer").status(), 500);
    }
    assert_normal(&c, &sim).await;
    assert_eq!(sim.ledger().requests("ekycpro", "ekycpro.get_task"), 3);
}

#[tokio::test]
async fn faults_from_the_config_and_per_vendor_shapes() {
    let mut config = SimConfig::for_tests(SEED);
    config.faults = vec![FaultSpec::new(FaultKind::ServerError).vendor("nxcloud")];
    let sim = common::start(config).await;
    let c = common::client();
    let res = c
        .post(format!("{}/api/wa/getPhone", sim.base_url()))
        .body("{}")
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 500);
    assert_eq!(res.json::<Value>().await.expect("JSON")["code"], -1);
    // Other vendors are untouched.
    assert_normal(&c, &sim).await;

    sim.clear_faults();
    sim.set_fault(FaultSpec::new(FaultKind::RateLimit).vendor("wscrm"))
        .expect("valid");
    let res = common::wscrm(&c, &sim, "/wscrm-bus-api/open/scan/queryTaskStatus/x")
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 429);
    assert_eq!(res.json::<Value>().await.expect("JSON")["code"], 429);
}

#[tokio::test]
async fn faults_can_break_result_downloads() {
    let sim = common::sim().await;
    let c = common::client();
    let body = json!({"data": common::numbers(500, "1212"), "type": 0, "country": "US"});
    let v: Value = common::wscrm(&c, &sim, "/wscrm-bus-api/open/scan/screenWhatsApp")
        .json(&body)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let order = v["data"].as_str().expect("order");
    let url: Value = common::wscrm(
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
    let url = url["data"].as_str().expect("url");
    sim.set_fault(FaultSpec::new(FaultKind::ServerError).operation("files.download"))
        .expect("valid");
    assert_eq!(c.get(url).send().await.expect("answer").status(), 500);
    sim.clear_faults();
    assert_eq!(c.get(url).send().await.expect("answer").status(), 200);
}
