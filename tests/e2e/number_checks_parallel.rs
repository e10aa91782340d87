//! A job's vendor orders run concurrently, up to the configured limit per vendor: the gateway
//! against the vendor simulator (whose ledger sees how many requests are in flight at once) and
//! a real Redis.

use std::collections::HashSet;

use crate::support::number_checks::{all_results, config, indian, run_job, start_sim};
use crate::support::{spawn_app_with, token};
use serde_json::{Value, json};
use vendor_sim::faults::{FaultKind, FaultSpec};

const SCOPES: &str = "numbers:check numbers:read";

#[tokio::test]
async fn a_vendors_orders_are_in_flight_up_to_its_limit_and_never_more() {
    let sim = start_sim(41, 0).await;
    // Every ekycpro call takes a while, so calls made concurrently overlap at the vendor.
    sim.set_fault(
        FaultSpec::new(FaultKind::Latency)
            .vendor("ekycpro")
            .latency_ms(300),
    )
    .expect("valid fault");
    let mut cfg = config(
        &sim,
        json!({"order_concurrency": {"default": 1, "ekycpro": 3}}),
    );
    // Ten orders of 100 numbers at one vendor, more than its limit.
    cfg["vendors"]["ekycpro"]["max_batch"] = json!(100);
    let app = spawn_app_with(cfg).await;
    let t = token("acme", SCOPES);
    let body = json!({
        "numbers": indian(1_000, 7_000),
        "default_country": "IN",
        "checks": ["registered"],
        "provider": "ekycpro"
    });

    let job = run_job(&app, &t, &body).await;

    assert_eq!(job["status"], "completed", "{job}");
    let subs = job["sub_orders"].as_array().expect("sub_orders");
    assert_eq!(subs.len(), 10, "{job}");
    assert!(subs.iter().all(|s| s["state"] == "completed"), "{job}");
    let ledger = sim.ledger();
    let ekycpro = ledger.vendor("ekycpro").expect("ekycpro ledger");
    assert_eq!(
        ekycpro.peak_in_flight, 3,
        "the vendor saw {} calls at once, the limit is 3",
        ekycpro.peak_in_flight
    );
    // Each order sent once and billed once.
    assert_eq!(ledger.requests("ekycpro", "ekycpro.create_task"), 10);
    assert_eq!(ekycpro.orders_created, 10);
    assert_eq!(ekycpro.numbers_billed, 1_000);
    assert!(ledger.duplicate_orders("ekycpro").is_empty());
    assert_eq!(job["cost"]["numbers_billed"], 1_000, "{job}");
    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    assert_eq!(usage["billed"]["ekycpro"], 1_000, "{usage}");

    // One record per number, each answered.
    let id = job["id"].as_str().expect("id");
    let results = all_results(&app, &t, id).await;
    assert_eq!(results.len(), 1_000);
    let numbers: HashSet<&str> = results
        .iter()
        .map(|r| r["number"].as_str().expect("number"))
        .collect();
    assert_eq!(numbers.len(), 1_000);
    assert!(
        results
            .iter()
            .all(|r| r["checks"]["registered"]["status"] != "failed"),
        "a number lost its answer"
    );
    assert_eq!(job["progress"]["answered"], 1_000, "{job}");
}

#[tokio::test]
async fn a_provider_refusing_the_first_order_gets_no_other_of_the_job() {
    let sim = start_sim(42, 0).await;
    sim.set_fault(
        FaultSpec::new(FaultKind::ServerError)
            .vendor("ekycpro")
            .operation("ekycpro.create_task"),
    )
    .expect("valid fault");
    let mut cfg = config(&sim, json!({"order_concurrency": {"default": 4}}));
    cfg["vendors"]["ekycpro"]["max_batch"] = json!(100);
    let app = spawn_app_with(cfg).await;
    let t = token("acme", SCOPES);
    let body = json!({
        "numbers": indian(600, 9_000),
        "default_country": "IN",
        "checks": ["registered"],
        "provider": "ekycpro"
    });

    let job = run_job(&app, &t, &body).await;

    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(sim.ledger().requests("ekycpro", "ekycpro.create_task"), 1);
    assert_eq!(job["cost"]["numbers_billed"], 0, "{job}");
    let id = job["id"].as_str().expect("id");
    let results = all_results(&app, &t, id).await;
    assert_eq!(results.len(), 600);
}

#[tokio::test]
async fn result_files_are_fetched_no_more_than_the_bound_at_once() {
    let sim = start_sim(43, 0).await;
    // Downloads take a while, so downloads started together overlap at the file host.
    sim.set_fault(
        FaultSpec::new(FaultKind::Latency)
            .vendor("files")
            .latency_ms(200),
    )
    .expect("valid fault");
    // Orders are polled four at a time; only one result file may be in hand at once.
    let mut cfg = config(
        &sim,
        json!({"order_concurrency": {"default": 4}, "result_files_in_flight": 1}),
    );
    cfg["vendors"]["ekycpro"]["max_batch"] = json!(100);
    let app = spawn_app_with(cfg).await;
    let t = token("acme", SCOPES);
    let body = json!({
        "numbers": indian(800, 11_000),
        "default_country": "IN",
        "checks": ["registered"],
        "provider": "ekycpro"
    });

    let job = run_job(&app, &t, &body).await;

    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["sub_orders"].as_array().map(Vec::len), Some(8), "{job}");
    let ledger = sim.ledger();
    assert_eq!(ledger.requests("files", "files.download"), 8);
    let files = ledger.vendor("files").expect("files ledger");
    assert_eq!(
        files.peak_in_flight, 1,
        "the file host saw {} downloads at once, the bound is 1",
        files.peak_in_flight
    );
    assert_eq!(job["progress"]["answered"], 800, "{job}");
}
