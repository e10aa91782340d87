//! Filling the screening vendor's minimum across callers (`number_checks.batch_window`):
//! groups below 500 numbers wait to be pooled with other callers' numbers of the same region
//! into one screening order. The gateway against the vendor simulator (which enforces the
//! minimum) and a real Redis; vendor orders are counted in the simulator's ledger.

use crate::support::number_checks::{all_results, config, indian, post_job, start_sim, wait_done};
use crate::support::{TestApp, spawn_app_with, spawn_sibling, token};
use serde_json::{Value, json};

const SCOPES: &str = "numbers:check numbers:read";

fn activity(numbers: Vec<String>) -> Value {
    json!({"numbers": numbers, "default_country": "IN", "checks": ["activity"]})
}

async fn accepted(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status().as_u16(), 202, "{:?}", resp.url());
    resp.json().await.expect("json")
}

fn id(job: &Value) -> String {
    job["id"].as_str().expect("id").to_owned()
}

/// Posts `numbers` for `tenant` and checks the 202 says they wait in a pool.
async fn post_pooled(app: &TestApp, tenant: &str, body: &Value, numbers: u64) -> String {
    let job = accepted(post_job(app, &token(tenant, SCOPES), body).await).await;
    assert_eq!(job["progress"]["pooled"], numbers, "{job}");
    assert_eq!(job["pooled"][0]["numbers"], numbers, "{job}");
    assert_eq!(job["pooled"][0]["provider"], "wscrm_screening", "{job}");
    assert_eq!(job["pooled"][0]["region"], "IN", "{job}");
    assert!(job["pooled"][0]["wait_until"].is_string(), "{job}");
    id(&job)
}

/// The job's records all carry an answer to `check` from `provider`.
async fn assert_all_answered(app: &TestApp, tenant: &str, id: &str, check: &str, n: usize) {
    let records = all_results(app, &token(tenant, SCOPES), id).await;
    assert_eq!(records.len(), n);
    for record in &records {
        let outcome = &record["checks"][check];
        assert!(
            matches!(
                outcome["status"].as_str(),
                Some("answered" | "not_registered")
            ),
            "{record}"
        );
        assert_eq!(outcome["provider"], "wscrm_screening", "{record}");
    }
}

async fn usage(app: &TestApp, tenant: &str) -> Value {
    app.get("/v1/usage", &token(tenant, SCOPES))
        .await
        .json()
        .await
        .expect("usage")
}

fn screening_orders(sim: &crate::support::sim::RunningSim) -> Vec<u64> {
    sim.ledger()
        .vendor("wscrm")
        .map(|v| v.orders.iter().map(|o| o.numbers).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn five_tenants_of_120_numbers_fill_one_screening_order_of_600() {
    let sim = start_sim(51, 0).await;
    let app = spawn_app_with(config(&sim, json!({"batch_window": "60s"}))).await;
    let tenants = ["t1", "t2", "t3", "t4", "t5"];
    let mut jobs = Vec::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let body = activity(indian(120, i as u64 * 1_000));
        jobs.push(post_pooled(&app, tenant, &body, 120).await);
    }
    for (tenant, id) in tenants.iter().zip(&jobs) {
        let job = wait_done(&app, &token(tenant, SCOPES), id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["progress"]["answered"], 120, "{job}");
        assert_eq!(job["progress"]["pooled"], 0, "{job}");
        assert_eq!(job["cost"]["numbers_billed"], 120, "{job}");
        assert_eq!(job["sub_orders"][0]["pooled"], true, "{job}");
        assert_eq!(job["sub_orders"][0]["numbers"], 120, "{job}");
        assert_all_answered(&app, tenant, id, "activity", 120).await;
        let usage = usage(&app, tenant).await;
        assert_eq!(usage["billed"], json!({"wscrm_screening": 120}), "{usage}");
        assert_eq!(usage["billed_total"], 120, "{usage}");
    }
    assert_eq!(screening_orders(&sim), vec![600], "one order of 600");
    assert_eq!(sim.ledger().numbers_billed("ekycpro"), 0);
}

#[tokio::test]
async fn a_number_two_callers_pool_is_bought_once_and_charged_to_the_first() {
    let sim = start_sim(52, 0).await;
    let app = spawn_app_with(config(&sim, json!({"batch_window": "60s"}))).await;
    // t1 and t2 share 60 numbers: 540 distinct numbers in all.
    let bodies = [
        ("t1", indian(120, 0)),
        ("t2", indian(120, 60)),
        ("t3", indian(120, 1_000)),
        ("t4", indian(120, 2_000)),
        ("t5", indian(120, 3_000)),
    ];
    let mut jobs = Vec::new();
    for (tenant, numbers) in bodies {
        let job = accepted(post_job(&app, &token(tenant, SCOPES), &activity(numbers)).await).await;
        jobs.push((tenant, id(&job)));
    }
    let mut billed = Vec::new();
    for (tenant, id) in &jobs {
        let job = wait_done(&app, &token(tenant, SCOPES), id).await;
        assert_eq!(job["status"], "completed", "{job}");
        billed.push(job["cost"]["numbers_billed"].as_u64().expect("billed"));
        if *tenant == "t2" {
            assert_eq!(job["progress"]["from_cache"], 60, "{job}");
        }
        assert_eq!(
            usage(&app, tenant).await["billed_total"],
            billed[billed.len() - 1]
        );
    }
    assert_eq!(billed, vec![120, 60, 120, 120, 120]);
    assert_eq!(screening_orders(&sim), vec![540], "the shared numbers once");
}

#[tokio::test]
async fn a_window_closing_below_the_minimum_takes_the_path_without_pooling() {
    let sim = start_sim(53, 0).await;
    let app = spawn_app_with(config(&sim, json!({"batch_window": "1s"}))).await;
    let registered =
        json!({"numbers": indian(120, 0), "default_country": "IN", "checks": ["registered"]});
    let to_ekycpro = post_pooled(&app, "t1", &registered, 120).await;
    let only_screening = post_pooled(&app, "t2", &activity(indian(80, 5_000)), 80).await;

    let job = wait_done(&app, &token("t1", SCOPES), &to_ekycpro).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["cost"]["billed_by_provider"],
        json!({"ekycpro": 120}),
        "{job}"
    );
    assert_eq!(job["progress"]["pooled"], 0, "{job}");

    let job = wait_done(&app, &token("t2", SCOPES), &only_screening).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["warnings"][0]["code"], "no_provider", "{job}");
    assert_eq!(job["warnings"][0]["numbers"], 80, "{job}");
    assert_eq!(job["cost"]["numbers_billed"], 0, "{job}");
    for record in all_results(&app, &token("t2", SCOPES), &only_screening).await {
        let outcome = &record["checks"]["activity"];
        assert_eq!(outcome["status"], "unavailable", "{record}");
        assert_eq!(outcome["reason"], "no_provider", "{record}");
    }
    assert!(screening_orders(&sim).is_empty());
    assert_eq!(sim.ledger().numbers_billed("ekycpro"), 120);
    assert_eq!(usage(&app, "t2").await["billed_total"], 0);
}

#[tokio::test]
async fn max_wait_zero_never_waits() {
    let sim = start_sim(54, 0).await;
    let app = spawn_app_with(config(&sim, json!({"batch_window": "60s"}))).await;
    let t = token("t1", SCOPES);
    for max_wait in [json!(0), json!("0s")] {
        let body = json!({
            "numbers": indian(120, 0), "default_country": "IN",
            "checks": ["registered"], "max_wait": max_wait, "max_age": "0s"
        });
        let job = accepted(post_job(&app, &t, &body).await).await;
        assert_eq!(job["progress"]["pooled"], 0, "{job}");
        assert!(job.get("pooled").is_none(), "{job}");
        assert_eq!(job["sub_orders"][0]["provider"], "ekycpro", "{job}");
        let job = wait_done(&app, &t, &id(&job)).await;
        assert_eq!(job["status"], "completed", "{job}");
    }
    let bad = json!({"numbers": indian(1, 0), "default_country": "IN", "checks": ["registered"], "max_wait": "soon"});
    let problem =
        crate::support::expect_problem(post_job(&app, &t, &bad).await, 422, "validation_failed")
            .await;
    assert_eq!(problem["errors"][0]["field"], "max_wait", "{problem}");
    assert!(screening_orders(&sim).is_empty());
}

#[tokio::test]
async fn with_a_per_tenant_cache_pools_never_mix_tenants() {
    let sim = start_sim(55, 0).await;
    let app = spawn_app_with(config(
        &sim,
        json!({"batch_window": "60s", "cache_scope": "per_tenant"}),
    ))
    .await;
    let mut a_jobs = Vec::new();
    for i in 0..4 {
        a_jobs.push(post_pooled(&app, "a", &activity(indian(120, i * 1_000)), 120).await);
    }
    // 600 numbers of the region are waiting now, but only 480 of them are tenant a's.
    let b_body = json!({"numbers": indian(120, 9_000), "default_country": "IN",
                        "checks": ["activity"], "max_wait": "1s"});
    let b_job = accepted(post_job(&app, &token("b", SCOPES), &b_body).await).await;
    assert_eq!(b_job["progress"]["pooled"], 120, "{b_job}");
    let b_job = wait_done(&app, &token("b", SCOPES), &id(&b_job)).await;
    assert_eq!(b_job["status"], "failed", "{b_job}");
    assert_eq!(b_job["warnings"][0]["code"], "no_provider", "{b_job}");
    assert!(
        screening_orders(&sim).is_empty(),
        "nothing ordered across tenants"
    );

    a_jobs.push(post_pooled(&app, "a", &activity(indian(120, 4_000)), 120).await);
    for id in &a_jobs {
        let job = wait_done(&app, &token("a", SCOPES), id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["cost"]["numbers_billed"], 120, "{job}");
    }
    assert_eq!(screening_orders(&sim), vec![600], "tenant a's numbers only");
    assert_eq!(usage(&app, "a").await["billed_total"], 600);
    assert_eq!(usage(&app, "b").await["billed_total"], 0);
}

#[tokio::test]
async fn numbers_waiting_in_a_pool_are_ordered_after_a_restart() {
    let sim = start_sim(56, 0).await;
    let first = spawn_app_with(config(&sim, json!({"batch_window": "120s"}))).await;
    let tenants = ["t1", "t2", "t3", "t4", "t5"];
    let mut jobs = Vec::new();
    for (i, tenant) in tenants.iter().take(4).enumerate() {
        let body = activity(indian(120, i as u64 * 1_000));
        jobs.push(post_pooled(&first, tenant, &body, 120).await);
    }
    first.stop().await;
    let second = spawn_sibling(&first).await;
    jobs.push(post_pooled(&second, "t5", &activity(indian(120, 4_000)), 120).await);
    for (tenant, id) in tenants.iter().zip(&jobs) {
        let job = wait_done(&second, &token(tenant, SCOPES), id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_all_answered(&second, tenant, id, "activity", 120).await;
    }
    assert_eq!(screening_orders(&sim), vec![600]);
}
