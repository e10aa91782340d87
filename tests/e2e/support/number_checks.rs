//! Helpers of the number-check tests: a simulator, the gateway configured against it, numbers.

use std::time::Duration;

use serde_json::{Value, json};
use vendor_sim::{SimConfig, dev};

use super::sim::{self, RunningSim};

use super::TestApp;

/// A simulator whose orders finish at once (or after `screening_base_ms`), result URLs valid 60 s.
pub async fn start_sim(seed: u64, screening_base_ms: u64) -> RunningSim {
    let mut config = SimConfig::for_tests(seed);
    config.result_ttl_ms = 60_000;
    config.speed.screening_base_ms = screening_base_ms;
    sim::start(config, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

/// Vendor sections pointing at the simulator; result files allowed from `result_host`.
pub fn vendors(base: &str, result_host: &str) -> Value {
    json!({
        "wscrm": {
            "bus_api_base_url": format!("{base}/wscrm-bus-api"),
            "auth_headers": {dev::WSCRM_HEADER: dev::WSCRM_KEY},
            "result_hosts": [result_host]
        },
        "ekycpro": {
            "base_url": base,
            "user_id": dev::EKYCPRO_USER_ID,
            "api_key": dev::EKYCPRO_API_KEY,
            "result_hosts": [result_host]
        },
        "accuauth": {
            "base_url": base,
            "api_id": dev::ACCUAUTH_API_ID,
            "api_secret": dev::ACCUAUTH_API_SECRET,
            "pending_retry_after_ms": 50
        }
    })
}

/// Gateway overrides: the simulator's vendors and a fast worker; `extra` is merged into
/// `number_checks`.
pub fn config(sim: &RunningSim, extra: Value) -> Value {
    let mut number_checks = json!({
        "worker_interval": "20ms",
        "poll_initial": "20ms",
        "poll_max": "200ms",
        "lease_ttl": "3s"
    });
    if let (Some(target), Value::Object(extra)) = (number_checks.as_object_mut(), extra) {
        target.extend(extra);
    }
    json!({
        "vendors": vendors(sim.base_url(), sim.base_url()),
        "number_checks": number_checks,
        // Job callbacks are event deliveries: a fast schedule for them.
        "events": {"retry_schedule": ["50ms", "50ms", "50ms"], "delivery_poll_interval": "20ms"},
        "limits": {"rate_limits": {
            "numbers:check": {"requests": 10000, "per": "1m"},
            "numbers:read": {"requests": 100000, "per": "1m"}
        }}
    })
}

/// `n` Indian mobile numbers in national notation (`98xxxxxxxx`, default country `IN`).
pub fn indian(n: usize, from: u64) -> Vec<String> {
    (0..n as u64)
        .map(|i| format!("98{:08}", from + i))
        .collect()
}

/// `n` US numbers `+1 415 555 xxxx`.
pub fn us(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1 415 555 {:04}", i)).collect()
}

pub async fn post_job(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/number-checks"))
        // Normalising tens of thousands of numbers is slow in unoptimised test builds.
        .timeout(Duration::from_secs(120))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Posts a job that must be accepted (202) and waits until it reaches a final status.
pub async fn run_job(app: &TestApp, token: &str, body: &Value) -> Value {
    let resp = post_job(app, token, body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let accepted: Value = resp.json().await.expect("json");
    let id = accepted["id"].as_str().expect("id");
    wait_done(app, token, id).await
}

/// Polls the job until it reaches a final status.
pub async fn wait_done(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let job: Value = app
            .get(&format!("/v1/number-checks/{id}"), token)
            .await
            .json()
            .await
            .expect("job json");
        let status = job["status"].as_str().unwrap_or_default().to_owned();
        if matches!(
            status.as_str(),
            "completed" | "completed_with_errors" | "failed"
        ) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job did not finish: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every result of a job, via the NDJSON export.
pub async fn all_results(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let text = app
        .get(
            &format!("/v1/number-checks/{id}/results?format=ndjson"),
            token,
        )
        .await
        .text()
        .await
        .expect("export");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect()
}
