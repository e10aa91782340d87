//! A job when the store fails part-way through a step: the write lands in Redis, the gateway
//! sees a timeout and does the step again. The counts come out as if nothing had failed, an
//! unspent budget reservation is never given back twice, billed usage is counted once, and the
//! completion is still announced (event and callback). A one-number lookup keeps the answer it
//! bought, and its cost, whatever the store does after the vendor call.

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
    gateway_with_budgets(sim, proxy, json!({})).await
}

async fn gateway_with_budgets(
    sim: &vendor_sim::RunningSim,
    proxy: &HoldingProxy,
    budgets: Value,
) -> TestApp {
    gateway_with(sim, proxy, json!({"budgets": budgets})).await
}

/// [`gateway`] with `number_checks` settings added.
async fn gateway_with(
    sim: &vendor_sim::RunningSim,
    proxy: &HoldingProxy,
    number_checks: Value,
) -> TestApp {
    let base = sim.base_url();
    let mut settings = json!({
        "worker_interval": "20ms",
        "poll_initial": "20ms",
        "poll_max": "200ms",
        "lease_ttl": "3s",
        "circuit_failures": 100
    });
    if let (Some(settings), Value::Object(extra)) = (settings.as_object_mut(), number_checks) {
        settings.extend(extra);
    }
    spawn_app_with(json!({
        "store": {"redis_url": proxy.redis_url(), "command_timeout": "300ms"},
        "vendors": {
            "wscrm": {
                "bus_api_base_url": format!("{base}/wscrm-bus-api"),
                "auth_headers": {dev::WSCRM_HEADER: dev::WSCRM_KEY},
                "result_hosts": [base]
            }
        },
        "number_checks": settings,
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
    // The first write of job records (`HSET ... {nc:job:<id>}:records:<bucket>`): the merge
    // of the vendor's answers. It reaches Redis; its reply comes after the command timeout.
    let proxy = HoldingProxy::start(
        target,
        &["\r\nHSET\r\n", "}:records:"],
        Duration::from_millis(1_500),
    )
    .await;
    let sim = start_sim().await;
    let app = gateway(&sim, &proxy).await;
    let bearer = token("acme", SCOPES);
    let job = run_job(&app, &bearer, 70_000, NUMBERS as u64).await;
    let id = job["id"].as_str().expect("id");
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

/// Posts `count` Indian numbers from `first` for `checks: registered` with screening chosen
/// (the only vendor configured), and waits for the job to finish.
async fn run_job(app: &TestApp, bearer: &str, first: u64, count: u64) -> Value {
    run_job_with(app, bearer, first, count, json!({})).await
}

/// [`run_job`] with more fields in the request.
async fn run_job_with(app: &TestApp, bearer: &str, first: u64, count: u64, more: Value) -> Value {
    let accepted: Value = post_job(app, bearer, first, count, more)
        .await
        .json()
        .await
        .expect("json");
    let id = accepted["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{accepted}"));
    wait_done(app, bearer, id).await
}

/// Posts the job of [`run_job_with`] without waiting for it.
async fn post_job(
    app: &TestApp,
    bearer: &str,
    first: u64,
    count: u64,
    more: Value,
) -> reqwest::Response {
    let numbers: Vec<String> = (first..first + count)
        .map(|i| format!("98{i:08}"))
        .collect();
    let mut body = json!({
        "numbers": numbers,
        "default_country": "IN",
        "checks": ["registered"],
        "provider": "wscrm_screening"
    });
    if let (Some(body), Value::Object(more)) = (body.as_object_mut(), more) {
        body.extend(more);
    }
    app.client
        .post(app.url("/v1/number-checks"))
        .timeout(Duration::from_secs(60))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .expect("submit")
}

fn submit_fault(kind: vendor_sim::FaultKind) -> vendor_sim::FaultSpec {
    vendor_sim::FaultSpec::new(kind)
        .vendor("wscrm")
        .operation("screening.submit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unspent_reservation_whose_give_back_timed_out_is_not_given_back_twice() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The first give-back of 1,000 reserved numbers: it reaches Redis; its reply comes after
    // the command timeout, so the finishing step fails once and runs again.
    let proxy = HoldingProxy::start(
        target,
        &["\r\nHINCRBY\r\n", "\r\ncommitted\r\n", "\r\n-1000\r\n"],
        Duration::from_millis(1_500),
    )
    .await;
    let sim = start_sim().await;
    let app = gateway_with_budgets(&sim, &proxy, json!({"acme": 10_000})).await;
    let bearer = token("acme", SCOPES);

    // A submit whose outcome is unknown: the vendor may have billed it, so its 1,000 numbers
    // stay reserved.
    sim.set_fault(submit_fault(vendor_sim::FaultKind::TruncatedBody))
        .expect("fault");
    let kept = run_job(&app, &bearer, 10_000, 1_000).await;
    assert_eq!(kept["sub_orders"][0]["state"], "unknown", "{kept}");
    // A refused submit: nothing billed, its 1,000 numbers go back to the budget, once.
    sim.clear_faults();
    sim.set_fault(submit_fault(vendor_sim::FaultKind::ServerError))
        .expect("fault");
    let refused = run_job(&app, &bearer, 20_000, 1_000).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["sub_orders"][0]["state"], "failed", "{refused}");

    assert_eq!(proxy.held(), 1, "the give-back was never held");
    // The step ran again after the held reply; give it time to have given back twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let usage: Value = app
        .get("/v1/usage", &bearer)
        .await
        .json()
        .await
        .expect("usage");
    assert_eq!(
        usage["budget"]["committed"], 1_000,
        "only the unknown order's numbers stay reserved: {usage}"
    );
    assert_eq!(usage["budget"]["remaining"], 9_000, "{usage}");
}

async fn usage_of(app: &TestApp, bearer: &str) -> Value {
    app.get("/v1/usage", bearer)
        .await
        .json()
        .await
        .expect("usage")
}

/// The first write of billed usage (the field `billed:wscrm_screening` of the usage hash),
/// made after the accepted order is saved.
const BILLED_USAGE_WRITE: &[&str] = &["\r\nbilled:wscrm_screening\r\n"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billed_usage_whose_write_was_lost_is_counted_by_the_next_step() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = HoldingProxy::cutting(target, BILLED_USAGE_WRITE).await;
    every_billed_number_is_counted_once(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billed_usage_whose_write_timed_out_after_it_landed_is_not_counted_twice() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = HoldingProxy::start(target, BILLED_USAGE_WRITE, Duration::from_millis(1_500)).await;
    every_billed_number_is_counted_once(&proxy).await;
}

/// Two jobs (1,000 and 600 numbers, each one screening order) while `proxy` breaks the first
/// billed usage write: the month's usage shows each billed number once.
async fn every_billed_number_is_counted_once(proxy: &HoldingProxy) {
    let sim = start_sim().await;
    let app = gateway(&sim, proxy).await;
    let bearer = token("acme", SCOPES);
    let first = run_job(&app, &bearer, 40_000, 1_000).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(proxy.held(), 1, "the usage write was never broken");
    let second = run_job(&app, &bearer, 50_000, 600).await;
    assert_eq!(second["status"], "completed", "{second}");

    let usage = usage_of(&app, &bearer).await;
    assert_eq!(
        usage["billed"]["wscrm_screening"], 1_600,
        "every billed number once: {usage}"
    );
    assert_eq!(usage["billed_total"], 1_600, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_whose_event_write_timed_out_is_still_announced_once_by_id() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/done"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The append of the job's `number_check.completed` event to the tenant's stream: it lands,
    // its reply comes after the command timeout, so the finishing step fails after the job
    // was saved as finished.
    let proxy = HoldingProxy::start(
        target,
        &[
            "\r\nXADD\r\n",
            "events:tenant:acme",
            "number_check.completed",
        ],
        Duration::from_millis(1_500),
    )
    .await;
    let sim = start_sim().await;
    let app = gateway_with(
        &sim,
        &proxy,
        json!({
            "callback_allow": [format!("{}/hooks/", receiver.uri())],
            "callback_secrets": {"acme": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        }),
    )
    .await;
    let bearer = token("acme", SCOPES);
    let job = run_job_with(
        &app,
        &bearer,
        60_000,
        1_000,
        json!({"callback_url": format!("{}/hooks/done", receiver.uri())}),
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    let id = job["id"].as_str().expect("id");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let callback = loop {
        let requests = receiver.received_requests().await.unwrap_or_default();
        if let Some(first) = requests.into_iter().next() {
            break first;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no callback for a job whose event write timed out (held: {})",
            proxy.held()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(proxy.held(), 1, "the event write was never held");
    let sent: Value = serde_json::from_slice(&callback.body).expect("json body");
    assert_eq!(sent["data"]["job_id"], id, "{sent}");
    // The tenant's feed may show the event twice (the first append landed), always under
    // the callback's id.
    let feed: Value = app
        .get(
            "/v1/events?types=number_check.completed",
            &token("acme", "events:read"),
        )
        .await
        .json()
        .await
        .expect("feed");
    let items = feed["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{feed}");
    for event in items {
        assert_eq!(event["id"], sent["id"], "one event id: {feed}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received_requests().await.unwrap_or_default().len(),
        1,
        "one callback per job"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_before_it_is_queued_gives_its_reservation_back() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The save of the new job as queued: its connection is cut, so the request fails after
    // the budget was reserved for the job.
    let proxy = HoldingProxy::cutting(
        target,
        &["\r\nSET\r\n", "{nc:job:", "\"status\":\"queued\""],
    )
    .await;
    let sim = start_sim().await;
    let app = gateway_with_budgets(&sim, &proxy, json!({"acme": 10_000})).await;
    let bearer = token("acme", SCOPES);
    let refused = post_job(&app, &bearer, 70_000, 1_000, json!({})).await;
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(proxy.held(), 1, "the job's save was never cut");
    let usage = usage_of(&app, &bearer).await;
    assert_eq!(
        usage["budget"]["committed"], 0,
        "the failed job holds nothing: {usage}"
    );
    assert_eq!(usage["requested"], 0, "nor is it counted as asked: {usage}");

    // The caller's retry is a new job; what it spends stays reserved, nothing more.
    let job = run_job(&app, &bearer, 70_000, 1_000).await;
    assert_eq!(job["status"], "completed", "{job}");
    let usage = usage_of(&app, &bearer).await;
    assert_eq!(usage["budget"]["committed"], 1_000, "{usage}");
    assert_eq!(usage["billed_total"], 1_000, "{usage}");
    assert_eq!(
        usage["requested"], 1_000,
        "the numbers were asked once: {usage}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_request_count_cannot_be_written_is_accepted_and_counted_later() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The month's `requested` count of the new job: its connection is cut, so it never lands.
    let proxy = HoldingProxy::cutting(target, &["\r\nHINCRBY\r\n", "\r\nrequested\r\n"]).await;
    let sim = start_sim().await;
    let app = gateway(&sim, &proxy).await;
    let bearer = token("acme", SCOPES);
    let job = run_job(&app, &bearer, 80_000, 600).await;
    assert_eq!(proxy.held(), 1, "the count's write was never cut");
    assert_eq!(job["status"], "completed", "{job}");
    // A usage read of this process first adds what waits in its tally.
    let usage = usage_of(&app, &bearer).await;
    assert_eq!(usage["requested"], 600, "{usage}");
}

/// Looks up a Peru number at the simulator's one-number vendor, through a store reached via
/// `proxy`; the answer and the month's usage.
async fn bought_lookup(proxy: &HoldingProxy) -> (Value, Value) {
    let sim = start_sim().await;
    let base = sim.base_url();
    let app = spawn_app_with(json!({
        "store": {"redis_url": proxy.redis_url(), "command_timeout": "300ms"},
        "vendors": {"accuauth": {
            "base_url": base,
            "api_id": dev::ACCUAUTH_API_ID,
            "api_secret": dev::ACCUAUTH_API_SECRET,
            "pending_retry_after_ms": 50
        }}
    }))
    .await;
    let bearer = token("acme", SCOPES);
    let response = app
        .get("/v1/numbers/%2B51987654321?checks=registered", &bearer)
        .await;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(proxy.held(), 1, "the store was never broken: {answer}");
    (answer, usage_of(&app, &bearer).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bought_lookup_answer_and_its_cost_survive_a_lost_usage_write() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = HoldingProxy::cutting(target, &["\r\nbilled:accuauth\r\n"]).await;
    let (answer, usage) = bought_lookup(&proxy).await;
    assert_eq!(answer["from_cache"], false, "{answer}");
    assert!(answer["result"]["registered"].is_boolean(), "{answer}");
    assert_eq!(usage["billed"]["accuauth"], 1, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bought_lookup_answer_is_returned_when_caching_it_fails() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The write of the number's cache entry (`nc:cache:<scope>:<digits>`).
    let proxy = HoldingProxy::cutting(target, &["\r\nHSET\r\n", "nc:cache:"]).await;
    let (answer, usage) = bought_lookup(&proxy).await;
    assert!(answer["result"]["registered"].is_boolean(), "{answer}");
    assert_eq!(usage["billed"]["accuauth"], 1, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_finished_at_once_whose_event_write_failed_is_announced_later() {
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://").trim_end_matches('/');
    // The completion event of the second job, answered from the cache at once: its append's
    // connection is cut after the job was saved as finished.
    let proxy = HoldingProxy::cutting(
        target,
        &[
            "\r\nXADD\r\n",
            "number_check.completed",
            "\"numbers_from_cache\":600",
        ],
    )
    .await;
    let sim = start_sim().await;
    let app = gateway(&sim, &proxy).await;
    let bearer = token("acme", SCOPES);
    let bought = run_job(&app, &bearer, 80_000, 600).await;
    assert_eq!(bought["status"], "completed", "{bought}");
    let refused = post_job(&app, &bearer, 80_000, 600, json!({})).await;
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(proxy.held(), 1, "the event write was never cut");

    let feed_token = token("acme", "events:read");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let feed: Value = app
            .get("/v1/events?types=number_check.completed", &feed_token)
            .await
            .json()
            .await
            .expect("feed");
        let from_cache: Vec<&Value> = feed["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["data"]["summary"]["cost"]["numbers_from_cache"] == 600)
            .collect();
        if !from_cache.is_empty() {
            assert_eq!(from_cache.len(), 1, "{feed}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finished job's completion was never published: {feed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_near_the_budget_at_the_same_time_do_not_refuse_each_other() {
    use gateway_api::number_checks::usage;
    use gateway_api::store::{Store, StoreSettings};

    let prefix = format!("test:reserve:{}:", uuid::Uuid::new_v4().simple());
    let store = Store::connect(&StoreSettings {
        redis_url: Some(redis_url().into()),
        key_prefix: prefix,
        pool_size: 4,
        ..StoreSettings::default()
    })
    .await
    .expect("store");
    // Per round, ten reservations of 100 fit a budget of 1,000 exactly, and ten of 2,000
    // never fit; they all arrive together. A refused one must not take room from the others.
    for round in 0..20 {
        let month = format!("round-{round}");
        let asks = (0..20).map(|i| if i % 2 == 0 { 2_000 } else { 100 });
        let decided = futures_util::future::join_all(asks.map(|numbers| {
            let (store, month) = (store.clone(), month.clone());
            tokio::spawn(async move {
                let reserved = usage::reserve(&store, "acme", &month, numbers, 1_000).await;
                (numbers, reserved.expect("store"))
            })
        }))
        .await;
        for outcome in decided {
            let (numbers, reserved) = outcome.expect("task");
            assert_eq!(
                reserved.is_ok(),
                numbers == 100,
                "round {round}: {numbers} numbers: {reserved:?}"
            );
        }
        let used = usage::read(&store, "acme", &month).await.expect("usage");
        assert_eq!(used.committed, 1_000, "round {round}");
        store
            .delete(&gateway_api::keys::Usage::new("acme", &month))
            .await
            .expect("clean");
    }
}
