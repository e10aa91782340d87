//! A job's counts when the store fails part-way through writing a sub-order's results: the
//! write lands in Redis, the gateway sees a timeout and does the step again. The counts come
//! out as if nothing had failed.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::holding_proxy::HoldingProxy;
use support::{TestApp, redis_url, spawn_app_with, token};
use vendor_sim::{SimConfig, dev};

const SCOPES: &str = "numbers:check numbers:read";
const NUMBERS: usize = 1_000;

async fn start_sim() -> vendor_sim::RunningSim {
    let mut config = SimConfig::for_tests(41);
    config.result_ttl_ms = 60_000;
    config.speed.screening_base_ms = 0;
    vendor_sim::start(config, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

/// The gateway against the simulator, its store reached through `proxy`, with a command
/// timeout well below the proxy's hold.
async fn gateway(sim: &vendor_sim::RunningSim, proxy: &HoldingProxy) -> TestApp {
    let base = sim.base_url();
    spawn_app_with(json!({
        "store": {"redis_url": proxy.redis_url(), "command_timeout": "300ms"},
        "vendors": {
            "wscrm": {
                "bus_api_base_url": format!("{base}/wscrm-bus-api"),
                "auth_headers": {dev::WSCRM_HEADER: dev::WSCRM_KEY},
                "result_hosts": [base]
            }
        },
        "number_checks": {
            "worker_interval": "20ms",
            "poll_initial": "20ms",
            "poll_max": "200ms",
            "lease_ttl": "3s"
        },
        "limits": {"rate_limits": {
            "numbers:check": {"requests": 10000, "per": "1m"},
            "numbers:read": {"requests": 100000, "per": "1m"}
        }}
    }))
    .await
}

async fn wait_done(app: &TestApp, bearer: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let job: Value = app
            .get(&format!("/v1/number-checks/{id}"), bearer)
            .await
            .json()
            .await
            .expect("job json");
        if matches!(
            job["status"].as_str(),
            Some("completed" | "completed_with_errors" | "failed")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_write_timing_out_after_it_landed_still_counts_every_answer() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The first write of job records (`SET ... {nc:job:<id>}:record:<number>`): the merge of
    // the vendor's answers. It reaches Redis; its reply comes after the command timeout.
    let proxy = HoldingProxy::start(
        target,
        &["\r\nSET\r\n", "}:record:"],
        Duration::from_millis(1_500),
    )
    .await;
    let sim = start_sim().await;
    let app = gateway(&sim, &proxy).await;
    let bearer = token("acme", SCOPES);
    let numbers: Vec<String> = (0..NUMBERS as u64)
        .map(|i| format!("98{:08}", 70_000 + i))
        .collect();
    let accepted: Value = app
        .client
        .post(app.url("/v1/number-checks"))
        .timeout(Duration::from_secs(120))
        .bearer_auth(&bearer)
        .json(&json!({"numbers": numbers, "default_country": "IN", "checks": ["registered"]}))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let id = accepted["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{accepted}"))
        .to_owned();

    let job = wait_done(&app, &bearer, &id).await;
    assert_eq!(proxy.held(), 1, "the results write was never held: {job}");
    let progress = &job["progress"];
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(progress["total"], NUMBERS, "{job}");
    assert_eq!(progress["answered"], NUMBERS, "{job}");
    assert_eq!(progress["failed"], 0, "{job}");
    assert_eq!(progress["pending"], 0, "{job}");

    let export = app
        .get(
            &format!("/v1/number-checks/{id}/results?format=ndjson"),
            &bearer,
        )
        .await
        .text()
        .await
        .expect("export");
    let results: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    assert_eq!(results.len(), NUMBERS);
    for record in &results {
        let status = record["checks"]["registered"]["status"].as_str();
        assert!(
            matches!(status, Some("answered" | "not_registered")),
            "{record}"
        );
    }
}
