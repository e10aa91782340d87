//! The number-check and events suites on a 3-master + 3-replica Redis Cluster: a representative
//! set of their tests, with the same configuration builders targeted at the cluster (one cluster
//! per test binary, each test with its own key prefix), so every multi-key operation is shown to
//! stay within one hash slot.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::events::{
    SECRET, TENANT, claim, deliveries, events_config, post_webhook, subscribe, wait_for,
};
use crate::support::engines::on_cluster;
use crate::support::number_checks::{all_results, config, indian, post_job, start_sim, wait_done};
use crate::support::{spawn_app_with, token};
use gateway_api::ownership::OwnedKind;

const SCOPES: &str = "numbers:check numbers:read";

fn registered(numbers: Vec<String>) -> Value {
    json!({"numbers": numbers, "default_country": "IN", "checks": ["registered"]})
}

async fn accepted_id(resp: reqwest::Response) -> String {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_accepted_ordered_and_completed_with_one_record_per_number() {
    let sim = start_sim(41, 0).await;
    let app = spawn_app_with(on_cluster(config(&sim, json!({})))).await;
    let t = token("acme", SCOPES);
    let numbers = indian(1_200, 0);
    let id = accepted_id(post_job(&app, &t, &registered(numbers.clone())).await).await;

    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["answered"], 1_200, "{job}");
    let ledger = sim.ledger();
    assert_eq!(ledger.numbers_billed("wscrm"), 1_200);
    assert!(ledger.duplicate_orders("wscrm").is_empty());

    let results = all_results(&app, &t, &id).await;
    let mut got: Vec<String> = results
        .iter()
        .map(|r| r["number"].as_str().expect("number").to_owned())
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 1_200, "one record per number");
    assert_eq!(results.len(), 1_200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_for_the_same_numbers_make_one_vendor_order() {
    // Screening takes a while, so the second job arrives while the first one's order runs.
    let sim = start_sim(42, 1_500).await;
    let app = spawn_app_with(on_cluster(config(&sim, json!({})))).await;
    let (a, b) = (token("tenant-a", SCOPES), token("tenant-b", SCOPES));
    let body = registered(indian(600, 0));
    let first = accepted_id(post_job(&app, &a, &body).await).await;
    let second: Value = post_job(&app, &b, &body).await.json().await.expect("json");
    let second = second["id"].as_str().expect("id").to_owned();

    let first = wait_done(&app, &a, &first).await;
    let second = wait_done(&app, &b, &second).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(second["status"], "completed", "{second}");
    let ledger = sim.ledger();
    let wscrm = ledger.vendor("wscrm").expect("a screening order");
    assert_eq!(wscrm.orders.len(), 1, "one vendor order");
    assert_eq!(ledger.numbers_billed("wscrm"), 600);
    assert_eq!(second["cost"]["numbers_billed"], 0, "{second}");
    assert_eq!(second["cost"]["numbers_from_cache"], 600, "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_lookup_is_answered_once_by_the_vendor_then_from_cache() {
    let sim = start_sim(43, 0).await;
    let app = spawn_app_with(on_cluster(config(&sim, json!({})))).await;
    let t = token("acme", SCOPES);
    let lookup = || async {
        let resp = app
            .get("/v1/numbers/%2B51912345678?checks=registered", &t)
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        resp.json::<Value>().await.expect("json")
    };
    let first = lookup().await;
    assert_eq!(first["from_cache"], false, "{first}");
    assert_eq!(
        first["result"]["checks"]["registered"]["status"], "answered",
        "{first}"
    );
    let second = lookup().await;
    assert_eq!(second["from_cache"], true, "{second}");
    assert_eq!(second["result"]["checks"], first["result"]["checks"]);
    // One check bought (the vendor may be polled while it is pending), none for the second.
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_event_is_delivered_once() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(on_cluster(events_config(
        json!({"subscription_allow": [format!("{}/", receiver.uri())]}),
    )))
    .await;
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    let sub = subscribe(
        &app,
        &format!("{}/hooks", receiver.uri()),
        json!(["registration.completed"]),
    )
    .await;
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    let response = post_webhook(
        &app,
        "/group-dispatch-api/register/syncStatus",
        json!({"phone": "861821726232", "status": 1}),
        SECRET,
    )
    .await;
    assert_eq!(response.status(), 200);

    wait_for("the delivery", || async {
        deliveries(&app, &sub_id).await["items"][0]["status"] == "delivered"
    })
    .await;
    // Room for a second, wrong delivery to show up.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let requests = receiver.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "delivered once");
    let body: Value = serde_json::from_slice(&requests[0].body).expect("json body");
    assert_eq!(body["type"], "registration.completed");
    assert_eq!(
        deliveries(&app, &sub_id).await["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
