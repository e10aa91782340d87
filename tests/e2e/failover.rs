//! Failover without loss: the Redis master holding a running job's keys (cluster), or the
//! primary behind the sentinels, is replaced while the gateway works. The job completes, the
//! simulator's ledger shows every order submitted once, requests during the switch succeed or
//! fail fast with 503 + `Retry-After`, and the gateway recovers by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gateway_api::ownership::OwnedKind;
use redis_harness::Sentinel;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::events::{
    SECRET, TENANT, claim, deliveries, events_config, post_webhook, subscribe, wait_for,
};
use crate::support::engines::{on_cluster, sentinel_store, shared_cluster, with_store};
use crate::support::number_checks::{all_results, config, indian, post_job, start_sim, wait_done};
use crate::support::sim::RunningSim;
use crate::support::{TestApp, spawn_app_with, token};

const SCOPES: &str = "numbers:check numbers:read";

/// The gateway serves again, without a restart, within this long after the engines settled on
/// the new primary (a deadline for polling, generous for a busy CI machine; docs/deploy.md
/// quotes it).
const RECOVERS_WITHIN: Duration = Duration::from_secs(15);

/// No request may take longer than this during a failover: it is answered, or it fails fast
/// with a 503. Above the store's command timeout in these suites (5 s), which bounds a call to
/// a server that stopped answering.
const ANSWERED_WITHIN: Duration = Duration::from_secs(10);

/// Numbers of the job that runs across the failover: screening orders of at least 500.
const JOB_NUMBERS: usize = 1_500;

fn registered(numbers: Vec<String>) -> Value {
    json!({"numbers": numbers, "default_country": "IN", "checks": ["registered"]})
}

async fn start_job(app: &TestApp, t: &str) -> String {
    let resp = post_job(app, t, &registered(indian(JOB_NUMBERS, 0))).await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Fails unless the job is still running: a failover after its end proves nothing.
async fn assert_running(app: &TestApp, t: &str, id: &str, when: &str) {
    let job: Value = app
        .get(&format!("/v1/number-checks/{id}"), t)
        .await
        .json()
        .await
        .expect("job json");
    assert!(
        !matches!(
            job["status"].as_str(),
            Some("completed" | "completed_with_errors" | "failed")
        ),
        "the job must still be running {when}: {job}"
    );
}

/// The job completed with one record per number, and the vendor got every number once.
async fn completed_without_duplicates(app: &TestApp, t: &str, id: &str, sim: &RunningSim) {
    let job = wait_done(app, t, id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["answered"], JOB_NUMBERS, "{job}");
    let ledger = sim.ledger();
    assert!(
        ledger.duplicate_orders("wscrm").is_empty(),
        "an order was submitted twice: {job}"
    );
    assert_eq!(
        ledger.numbers_billed("wscrm") as usize,
        JOB_NUMBERS,
        "{job}"
    );
    let mut numbers: Vec<String> = all_results(app, t, id)
        .await
        .iter()
        .map(|r| r["number"].as_str().expect("number").to_owned())
        .collect();
    assert_eq!(numbers.len(), JOB_NUMBERS);
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), JOB_NUMBERS, "one record per number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_a_cluster_failover_of_the_master_holding_its_keys() {
    // Screening runs for a while, so the job is still running when its master is replaced.
    let sim = start_sim(51, 2_000).await;
    let app = spawn_app_with(on_cluster(config(&sim, json!({})))).await;
    let t = token("acme", SCOPES);
    let id = start_job(&app, &t).await;

    let job_tag = format!("{{nc:job:{id}}}");
    let cluster = shared_cluster();
    let old = cluster.master_of(&job_tag);
    let new = tokio::task::spawn_blocking(move || cluster.failover_master_of(&job_tag))
        .await
        .expect("the failover");
    assert_ne!(old, new);
    assert_running(&app, &t, &id, "after the failover").await;

    completed_without_duplicates(&app, &t, &id, &sim).await;
}

/// What one lookup during the switch got.
#[derive(Debug)]
enum Outcome {
    Answered,
    /// 503 with a `Retry-After` header; the problem's code.
    Unavailable(String),
    /// Anything else: another status, a 503 without `Retry-After`, no answer in time.
    Wrong(String),
}

async fn lookup(app: &TestApp, t: &str) -> Outcome {
    let sent = app
        .client
        .get(app.url("/v1/numbers/%2B51912345678?checks=registered"))
        .bearer_auth(t)
        .timeout(ANSWERED_WITHIN)
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status() == 200 => Outcome::Answered,
        Ok(resp) if resp.status() == 503 && resp.headers().contains_key("retry-after") => {
            let problem: Value = resp.json().await.unwrap_or_default();
            Outcome::Unavailable(problem["code"].as_str().unwrap_or_default().to_owned())
        }
        Ok(resp) => Outcome::Wrong(format!(
            "{}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        )),
        Err(e) => Outcome::Wrong(format!("no answer within {ANSWERED_WITHIN:?}: {e}")),
    }
}

/// Looks up one (cached) number over and over until `stop`; each outcome with when it was sent.
async fn lookup_loop(
    app: Arc<TestApp>,
    t: String,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, Outcome)> {
    let mut outcomes = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        outcomes.push((sent, lookup(&app, &t).await));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outcomes
}

/// With `store.replica_acks`, an order is sent only once its `submitting` mark is held by that
/// many replicas: on a server without replicas nothing is sent, and the sub-order stays
/// pending (not `unknown`: it is known not to have been sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_order_is_sent_on_a_mark_no_replica_holds() {
    let sim = start_sim(53, 0).await;
    let mut settings = config(&sim, json!({}));
    settings["store"] = json!({"replica_acks": 1, "replica_ack_timeout": "100ms"});
    let app = spawn_app_with(settings).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&app, &t, &registered(indian(600, 0))).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.expect("json");
    let id = body["id"].as_str().expect("id");

    // Many worker rounds (every 20 ms), each refused for want of a replica. A read may land
    // inside a round, while the mark waits for its replica (`submitting`); between rounds it
    // must be back to `pending`, and never `unknown`: the order is known not to have gone out.
    let mut seen = std::collections::BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let job: Value = app
            .get(&format!("/v1/number-checks/{id}"), &t)
            .await
            .json()
            .await
            .expect("job json");
        let state = job["sub_orders"][0]["state"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            matches!(state.as_str(), "pending" | "submitting"),
            "the sub-order must wait for its replica: {job}"
        );
        seen.insert(state);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        seen.contains("pending"),
        "the mark was never taken back: {seen:?}"
    );
    assert_eq!(
        sim.ledger().requests("wscrm", "screening.submit"),
        0,
        "an order went out on a mark no replica held"
    );
    assert_running(&app, &t, id, "while no replica holds its marks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_and_a_job_go_through_a_sentinel_failover() {
    let set = tokio::task::spawn_blocking(Sentinel::start)
        .await
        .expect("the sentinel set");
    let set = Arc::new(set);
    let sim = start_sim(52, 2_000).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let mut settings = config(&sim, json!({}));
    let events = events_config(json!({"subscription_allow": [format!("{}/", receiver.uri())]}));
    if let (Some(target), Some(events)) = (
        settings["events"].as_object_mut(),
        events["events"].as_object(),
    ) {
        target.extend(events.clone());
    }
    // The marks orders are sent on are held by a replica first, as docs/deploy.md advises.
    settings["store"] = json!({"replica_acks": 1, "replica_ack_timeout": "1s"});
    let app = Arc::new(spawn_app_with(with_store(settings, sentinel_store(&set))).await);
    claim(&app, OwnedKind::Registration, "861821726232", TENANT).await;
    let sub = subscribe(
        &app,
        &format!("{}/hooks", receiver.uri()),
        json!(["registration.completed"]),
    )
    .await;
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    let t = token("acme", SCOPES);
    assert!(matches!(lookup(&app, &t).await, Outcome::Answered));
    let id = start_job(&app, &t).await;

    let stop = Arc::new(AtomicBool::new(false));
    let lookups = tokio::spawn(lookup_loop(Arc::clone(&app), t.clone(), Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_running(&app, &t, &id, "when the failover begins").await;
    // A vendor webhook arrives during the switch; the vendor retries it until it is accepted.
    let webhook = tokio::spawn(webhook_until_accepted(Arc::clone(&app)));
    let switch_began = Instant::now();
    let switching = Arc::clone(&set);
    tokio::task::spawn_blocking(move || switching.failover())
        .await
        .expect("the failover");

    // Recovery: lookups are answered again, by the same gateway process.
    let settled = Instant::now();
    loop {
        if matches!(lookup(&app, &t).await, Outcome::Answered) {
            break;
        }
        assert!(
            settled.elapsed() < RECOVERS_WITHIN,
            "the gateway did not recover within {RECOVERS_WITHIN:?} of the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let outcomes = lookups.await.expect("the lookup loop");
    let wrong: Vec<&String> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Wrong(what) => Some(what),
            _ => None,
        })
        .collect();
    assert!(wrong.is_empty(), "lookups during the failover: {wrong:?}");
    assert!(
        outcomes.iter().any(|(_, o)| matches!(o, Outcome::Answered)),
        "no lookup at all was answered: {outcomes:?}"
    );
    // How long lookups were refused, for the docs; printed, not asserted.
    let refused: Vec<(Instant, &str)> = outcomes
        .iter()
        .filter_map(|(sent, o)| match o {
            Outcome::Unavailable(code) => Some((*sent, code.as_str())),
            _ => None,
        })
        .collect();
    let codes: std::collections::BTreeSet<&str> = refused.iter().map(|(_, c)| *c).collect();
    eprintln!(
        "sentinel failover: {} lookups, {} answered 503 ({codes:?}), from {:?} to {:?} after \
         the switch began",
        outcomes.len(),
        refused.len(),
        refused
            .first()
            .map(|(t, _)| t.saturating_duration_since(switch_began)),
        refused
            .last()
            .map(|(t, _)| t.saturating_duration_since(switch_began)),
    );

    completed_without_duplicates(&app, &t, &id, &sim).await;

    let refused_webhooks = webhook.await.expect("the webhook");
    wait_for("the delivery", || async {
        deliveries(&app, &sub_id).await["items"][0]["status"] == "delivered"
    })
    .await;
    // Room for a second, wrong delivery to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received_requests().await.expect("recorded");
    assert_eq!(
        received.len(),
        1,
        "the event is delivered once (the webhook was refused {refused_webhooks} times first)"
    );
    eprintln!("sentinel failover: the webhook was refused {refused_webhooks} times, then accepted");
}

/// Posts a registration webhook, as the vendor does, until the gateway accepts it (200); a
/// refusal must be a 503. Returns how many times it was refused.
async fn webhook_until_accepted(app: Arc<TestApp>) -> usize {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = 0;
    loop {
        let response = post_webhook(
            &app,
            "/group-dispatch-api/register/syncStatus",
            json!({"phone": "861821726232", "status": 1}),
            SECRET,
        )
        .await;
        match response.status().as_u16() {
            200 => return refused,
            503 => refused += 1,
            other => panic!("a webhook during the failover got {other}"),
        }
        assert!(refused < 10_000, "the webhook was never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
