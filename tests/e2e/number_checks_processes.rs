//! Number-check jobs across real gateway processes sharing one Redis: a replica that gets
//! SIGTERM hands its job back at once; a replica killed outright loses the job only until its
//! lease expires. Either way each vendor order is placed once and no result is lost.

use std::time::Duration;

use crate::support::number_checks::{config, indian, start_sim, wait_done};
use crate::support::sim::RunningSim;
use crate::support::{TestApp, spawn_app_with, spawn_sibling, token};
use serde_json::{Value, json};

const SCOPES: &str = "numbers:check numbers:read";

/// The configuration of the first replica: the suite's vendors in front of `sim` and the job
/// lease `lease_ttl`. The second replica reads the same file (same store, same key prefix).
fn replica_config(sim: &RunningSim, lease_ttl: &str) -> Value {
    config(sim, json!({"lease_ttl": lease_ttl}))
}

/// Starts a gateway process with `overrides`, submits 1,000 numbers, and waits until the vendor
/// order is running (its id recorded), so the process is stopped in the middle of the job.
async fn process_with_running_job(overrides: Value) -> (TestApp, String) {
    process_with_job_in(overrides, "running").await
}

/// Like [`process_with_running_job`], waiting until every sub-order is in `state`.
async fn process_with_job_in(overrides: Value, state: &str) -> (TestApp, String) {
    let gateway = spawn_app_with(overrides).await;
    let client = reqwest::Client::new();
    let bearer = token("acme", SCOPES);
    let body =
        json!({"numbers": indian(1_000, 0), "default_country": "IN", "checks": ["registered"]});
    let accepted: Value = client
        .post(gateway.url("/v1/number-checks"))
        .timeout(Duration::from_secs(120))
        .bearer_auth(&bearer)
        .json(&body)
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job: Value = client
            .get(gateway.url(&format!("/v1/number-checks/{id}")))
            .bearer_auth(&bearer)
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("json");
        if job["sub_orders"]
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["state"] == state))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the order never reached `{state}`: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (gateway, id)
}

fn assert_ordered_once(sim: &RunningSim) {
    let ledger = sim.ledger();
    let wscrm = ledger.vendor("wscrm").expect("a screening order");
    assert_eq!(
        wscrm.orders.len(),
        1,
        "one order for 1,000 numbers of one region"
    );
    assert!(ledger.duplicate_orders("wscrm").is_empty());
    assert_eq!(ledger.numbers_billed("wscrm"), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_job_to_another_replica_at_once() {
    let sim = start_sim(11, 1_500).await;
    // A lease far longer than the test: only a handed-back job can finish in time.
    let (gateway, id) = process_with_running_job(replica_config(&sim, "60s")).await;
    let second = spawn_sibling(&gateway).await;

    gateway.process.sigterm();
    let code = gateway.process.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0));
    let started = tokio::time::Instant::now();
    let job = wait_done(&second, &token("acme", SCOPES), &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["answered"], 1_000);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited {:?}: the lease was not handed back",
        started.elapsed()
    );
    assert_ordered_once(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_loses_its_job_only_until_the_lease_expires() {
    let sim = start_sim(12, 1_500).await;
    let (gateway, id) = process_with_running_job(replica_config(&sim, "3s")).await;
    let second = spawn_sibling(&gateway).await;

    gateway.process.kill();
    let job = wait_done(&second, &token("acme", SCOPES), &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["answered"], 1_000);
    assert_ordered_once(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_replica_was_killed_mid_submit_counts_as_unconfirmed_usage() {
    let sim = start_sim(13, 0).await;
    // The vendor takes its time to accept the order: the replica is killed while it waits.
    sim.set_fault(
        vendor_sim::FaultSpec::new(vendor_sim::FaultKind::Latency)
            .vendor("wscrm")
            .operation("screening.submit")
            .latency_ms(3_000),
    )
    .expect("fault");
    let (gateway, id) = process_with_job_in(replica_config(&sim, "3s"), "submitting").await;
    gateway.process.kill();
    let second = spawn_sibling(&gateway).await;

    let t = token("acme", SCOPES);
    let job = wait_done(&second, &t, &id).await;
    assert_eq!(job["sub_orders"][0]["state"], "unknown", "{job}");
    let usage: Value = second
        .get("/v1/usage", &t)
        .await
        .json()
        .await
        .expect("usage");
    assert_eq!(usage["unconfirmed"]["wscrm_screening"], 1_000, "{usage}");
    let ledger = sim.ledger();
    let reported = usage["billed_total"].as_u64().unwrap_or(0)
        + usage["unconfirmed_total"].as_u64().unwrap_or(0);
    assert!(
        reported >= ledger.numbers_billed("wscrm"),
        "usage {usage} under-reports the vendor's {}",
        ledger.numbers_billed("wscrm")
    );
    // The kill may land just before or just after the request left: at most the one order,
    // never a second.
    assert!(
        ledger.requests("wscrm", "screening.submit") <= 1,
        "not sent again"
    );
}
