//! Never buy twice: answers in flight (another job of any tenant sharing the cache scope, or a
//! one-number lookup) are waited for and reused, not sent to a vendor again. The gateway against
//! the vendor simulator and a real Redis; vendor calls are counted in the simulator's ledger.

use std::collections::BTreeMap;
use std::time::Duration;

use gateway_api::keys;
use gateway_api::store::{Store, StoreSettings};

use crate::support::number_checks::{all_results, config, indian, post_job, start_sim, wait_done};
use crate::support::{spawn_app_with, token};
use serde_json::{Value, json};

const SCOPES: &str = "numbers:check numbers:read";

fn registered(numbers: Vec<String>) -> Value {
    json!({"numbers": numbers, "default_country": "IN", "checks": ["registered"]})
}

async fn accepted(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json().await.expect("json")
}

fn id(job: &Value) -> String {
    job["id"].as_str().expect("id").to_owned()
}

/// Each number's answer: `registered` and the check's status and provider.
async fn answers(app: &crate::support::TestApp, t: &str, id: &str) -> BTreeMap<String, Value> {
    all_results(app, t, id)
        .await
        .into_iter()
        .map(|r| {
            let check = &r["checks"]["registered"];
            let answer = json!([r["registered"], check["status"], check["provider"]]);
            (r["number"].as_str().expect("number").to_owned(), answer)
        })
        .collect()
}

/// A handle of its own on the app's store (same Redis, same prefix), for this test's thread.
async fn store_of(app: &crate::support::TestApp) -> Store {
    Store::connect(&StoreSettings {
        command_timeout: Duration::from_secs(5),
        pool_size: 1,
        ..app.config.store.settings()
    })
    .await
    .expect("store")
}

#[tokio::test]
async fn two_jobs_for_the_same_numbers_a_moment_apart_buy_them_once() {
    // Screening takes a while, so the second job arrives while the first one's order runs.
    let sim = start_sim(31, 1_500).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let (a, b) = (token("tenant-a", SCOPES), token("tenant-b", SCOPES));
    let body = registered(indian(600, 0));
    let first = accepted(post_job(&app, &a, &body).await).await;
    let second = post_job(&app, &b, &body).await;
    let second: Value = second.json().await.expect("json");

    let first = wait_done(&app, &a, &id(&first)).await;
    let second = wait_done(&app, &b, &id(&second)).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(second["status"], "completed", "{second}");
    let ledger = sim.ledger();
    let wscrm = ledger.vendor("wscrm").expect("a screening order");
    assert_eq!(wscrm.orders.len(), 1, "one vendor order");
    assert_eq!(ledger.numbers_billed("wscrm"), 600);
    assert_eq!(ledger.numbers_billed("ekycpro"), 0);
    assert_eq!(first["cost"]["numbers_billed"], 600, "{first}");
    assert_eq!(second["cost"]["numbers_billed"], 0, "{second}");
    assert_eq!(second["cost"]["numbers_from_cache"], 600, "{second}");
    assert_eq!(second["progress"]["from_cache"], 600, "{second}");

    let (first, second) = (
        answers(&app, &a, &id(&first)).await,
        answers(&app, &b, &id(&second)).await,
    );
    assert_eq!(first.len(), 600);
    assert_eq!(first, second, "both jobs hold the same answers");
}

#[tokio::test]
async fn concurrent_lookups_of_one_number_call_the_vendor_once() {
    let sim = start_sim(32, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let path = "/v1/numbers/%2B51912340001?checks=registered";
    let (one, two, three) = tokio::join!(app.get(path, &t), app.get(path, &t), app.get(path, &t));
    let mut bodies = Vec::new();
    for resp in [one, two, three] {
        assert_eq!(resp.status().as_u16(), 200);
        bodies.push(resp.json::<Value>().await.expect("json"));
    }
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 1, "{bodies:?}");
    let bought: Vec<&Value> = bodies.iter().filter(|b| b["from_cache"] == false).collect();
    assert_eq!(bought.len(), 1, "one lookup bought, two reused: {bodies:?}");
    for body in &bodies {
        assert_eq!(
            body["result"]["checks"], bought[0]["result"]["checks"],
            "{body}"
        );
    }
}

#[tokio::test]
async fn with_a_per_tenant_cache_tenants_do_not_wait_for_each_other() {
    let sim = start_sim(33, 1_500).await;
    let app = spawn_app_with(config(&sim, json!({"cache_scope": "per_tenant"}))).await;
    let (a, b) = (token("tenant-a", SCOPES), token("tenant-b", SCOPES));
    let body = registered(indian(600, 0));
    let first = accepted(post_job(&app, &a, &body).await).await;
    let second = accepted(post_job(&app, &b, &body).await).await;
    assert_eq!(
        second["sub_orders"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    wait_done(&app, &a, &id(&first)).await;
    let second = wait_done(&app, &b, &id(&second)).await;
    assert_eq!(second["cost"]["numbers_billed"], 600, "{second}");
    assert_eq!(sim.ledger().numbers_billed("wscrm"), 1_200);
}

#[tokio::test]
async fn numbers_claimed_by_a_request_that_died_are_bought_once_after_its_claims_lapse() {
    let sim = start_sim(34, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let numbers = indian(600, 7_000);
    let store = store_of(&app).await;
    // Another replica's lookup claimed these numbers, then the replica died: its holder key is
    // still there until it expires.
    let claims: Vec<_> = numbers
        .iter()
        .map(|n| {
            let digits: u64 = format!("91{n}").parse().expect("digits");
            let field = keys::ClaimBucket::field_for_digits(digits, "registered");
            (
                keys::ClaimBucket::for_digits("shared", digits).into(),
                vec![(field, b"lookup_dead".to_vec())],
            )
        })
        .collect();
    store.hset_many(&claims, None).await.expect("claims");
    store
        .set(&keys::ClaimHolder::new("lookup_dead"), b"", None)
        .await
        .expect("holder");

    let job = accepted(post_job(&app, &t, &registered(numbers)).await).await;
    assert_eq!(
        job["sub_orders"].as_array().map(Vec::len),
        Some(0),
        "nothing is sent while the holder is alive: {job}"
    );
    store
        .expire(
            &keys::ClaimHolder::new("lookup_dead"),
            Duration::from_millis(100),
        )
        .await
        .expect("expire");

    let job = wait_done(&app, &t, &id(&job)).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["cost"]["numbers_billed"], 600, "{job}");
    let ledger = sim.ledger();
    assert_eq!(ledger.vendor("wscrm").map(|w| w.orders.len()), Some(1));
    assert_eq!(ledger.numbers_billed("wscrm"), 600);
}
