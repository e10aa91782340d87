//! Number checks end to end: the gateway against the vendor simulator and a real Redis.

use std::time::Duration;

use crate::support::number_checks::{
    all_results, config, indian, post_job, start_sim, us, wait_done,
};
use crate::support::{expect_problem, spawn_app_with, spawn_sibling, token};
use base64::Engine;
use gateway_api::keys;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SCOPES: &str = "numbers:check numbers:read";

fn registered(numbers: Vec<String>) -> Value {
    json!({"numbers": numbers, "default_country": "IN", "checks": ["registered"]})
}

#[tokio::test]
async fn large_batch_is_split_into_screening_orders_then_served_from_cache() {
    let sim = start_sim(1, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let body = registered(indian(45_000, 0));

    let resp = post_job(&app, &t, &body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let location = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let job: Value = resp.json().await.expect("json");
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/v1/number-checks/{id}"));

    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let subs = job["sub_orders"].as_array().expect("sub_orders");
    assert_eq!(subs.len(), 3);
    for sub in subs {
        assert_eq!(sub["provider"], "wscrm_screening");
        let n = sub["numbers"].as_u64().expect("numbers");
        assert!((500..=20_000).contains(&n), "{sub}");
        assert!(sub["vendor_order_id"].is_string(), "{sub}");
        assert_eq!(sub["state"], "completed");
    }
    assert_eq!(job["cost"]["numbers_billed"], 45_000);
    assert_eq!(job["progress"]["answered"], 45_000);

    let ledger = sim.ledger();
    let wscrm = ledger.vendor("wscrm").expect("wscrm ledger");
    assert_eq!(wscrm.numbers_billed, 45_000);
    assert_eq!(wscrm.orders.len(), 3);
    assert!(
        wscrm
            .orders
            .iter()
            .all(|o| (500..=20_000).contains(&o.numbers))
    );
    assert!(ledger.duplicate_orders("wscrm").is_empty());

    let results = all_results(&app, &t, &id).await;
    assert_eq!(results.len(), 45_000);
    let sample = &results[0];
    let truth = vendor_sim::truth::profile(1, sample["number"].as_str().expect("number"));
    assert_eq!(sample["registered"], json!(truth.registered), "{sample}");

    // The same numbers again within max_age: answered from cache, nothing billed.
    let again = post_job(&app, &t, &body).await;
    let status = again.status().as_u16();
    let again: Value = again.json().await.expect("json");
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "completed");
    assert_eq!(again["cost"]["numbers_from_cache"], 45_000);
    assert_eq!(again["cost"]["numbers_billed"], 0);
    assert_eq!(sim.ledger().numbers_billed("wscrm"), 45_000);
    let cached = all_results(&app, &t, again["id"].as_str().expect("id")).await;
    assert_eq!(cached.len(), 45_000);
}

#[tokio::test]
async fn small_batch_goes_to_a_provider_without_minimum_and_pages() {
    let sim = start_sim(2, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&app, &t, &registered(indian(120, 500))).await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["sub_orders"][0]["provider"], "ekycpro");

    let ledger = sim.ledger();
    assert!(
        ledger
            .vendor("wscrm")
            .is_none_or(|w| w.orders.iter().all(|o| o.numbers >= 500)),
        "no screening order under 500"
    );
    assert_eq!(ledger.numbers_billed("wscrm"), 0);
    assert_eq!(ledger.numbers_billed("ekycpro"), 120);

    // The end of the job is also an event in the tenant's feed.
    let feed = completions_in_feed(&app, "acme").await;
    assert_eq!(feed["items"][0]["subject"]["id"], id.as_str(), "{feed}");
    assert_eq!(feed["items"][0]["data"]["status"], "completed", "{feed}");

    // Pages of 50: 50, 50, 20.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/number-checks/{id}/results?limit=50&cursor={c}"),
            None => format!("/v1/number-checks/{id}/results?limit=50"),
        };
        let page: Value = app.get(&path, &t).await.json().await.expect("page");
        seen += page["items"].as_array().expect("items").len();
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert_eq!(page["next_cursor"], Value::Null, "the last page says so");
                break;
            }
        }
    }
    assert_eq!((seen, pages), (120, 3));

    let csv = app
        .get(&format!("/v1/number-checks/{id}/results?format=csv"), &t)
        .await;
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/csv")
    );
    let csv = csv.text().await.expect("csv");
    assert_eq!(csv.lines().count(), 121);
    assert!(csv.starts_with("number,registered,"));

    let bad = app
        .get(&format!("/v1/number-checks/{id}/results?cursor=zzz"), &t)
        .await;
    expect_problem(bad, 422, "invalid_cursor").await;
    // A well-formed cursor of another job's results is no position in this one's.
    let another_job = "cmVzdWx0cy9uY19hbm90aGVyX2pvYgowLjUw";
    let bad = app
        .get(
            &format!("/v1/number-checks/{id}/results?cursor={another_job}"),
            &t,
        )
        .await;
    expect_problem(bad, 422, "invalid_cursor").await;
    let bad = app
        .get(&format!("/v1/number-checks/{id}/results?limit=10001"), &t)
        .await;
    expect_problem(bad, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_failing_screening_vendor_is_bypassed() {
    let sim = start_sim(3, 0).await;
    sim.set_fault(
        vendor_sim::FaultSpec::new(vendor_sim::FaultKind::ServerError)
            .vendor("wscrm")
            .operation("screening.submit"),
    )
    .expect("fault");
    let app = spawn_app_with(config(&sim, json!({"circuit_failures": 1}))).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&app, &t, &registered(indian(1_000, 0))).await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["sub_orders"][0]["provider"], "ekycpro");
    assert_eq!(job["sub_orders"][0]["rerouted_from"], "wscrm_screening");
    let ledger = sim.ledger();
    assert_eq!(ledger.numbers_billed("wscrm"), 0);
    assert_eq!(ledger.numbers_billed("ekycpro"), 1_000);

    // The circuit is now open: the next job is planned for ekycpro without trying wscrm.
    let before = ledger.requests("wscrm", "screening.submit");
    let resp = post_job(&app, &t, &registered(indian(800, 10_000))).await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["sub_orders"][0]["provider"], "ekycpro");
    assert_eq!(sim.ledger().requests("wscrm", "screening.submit"), before);
}

#[tokio::test]
async fn a_job_survives_its_replica_stopping() {
    // Orders take 1.5 s at the vendor, so the first replica stops while they run.
    let sim = start_sim(4, 1_500).await;
    let first = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let mut numbers = indian(1_000, 0);
    numbers.extend(us(600));
    let resp = post_job(&first, &t, &registered(numbers)).await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let job: Value = first
            .get(&format!("/v1/number-checks/{id}"), &t)
            .await
            .json()
            .await
            .expect("json");
        let subs = job["sub_orders"]
            .as_array()
            .unwrap_or_else(|| panic!("no sub-orders: {job}"));
        if subs.iter().all(|s| s["state"] == "running") {
            assert_eq!(subs.len(), 2, "one screening order per region: {job}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = spawn_sibling(&first).await;
    first.stop().await;

    let job = wait_done(&second, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["answered"], 1_600);
    let ledger = sim.ledger();
    let wscrm = ledger.vendor("wscrm").expect("wscrm");
    assert_eq!(wscrm.orders.len(), 2, "each order submitted once");
    assert!(ledger.duplicate_orders("wscrm").is_empty());
    assert_eq!(all_results(&second, &t, &id).await.len(), 1_600);
}

#[tokio::test]
async fn a_result_file_on_an_unconfigured_host_is_not_downloaded() {
    let sim = start_sim(5, 0).await;
    let mut overrides = config(&sim, json!({}));
    overrides["vendors"] =
        crate::support::number_checks::vendors(sim.base_url(), "https://results.vendor.example");
    let app = spawn_app_with(overrides).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&app, &t, &registered(indian(120, 0))).await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let sub = &job["sub_orders"][0];
    assert_eq!(sub["state"], "failed");
    assert_eq!(sub["error"]["code"], "vendor_forbidden_host", "{sub}");
    assert!(
        sub["error"]["message"]
            .as_str()
            .expect("message")
            .contains("not on a configured host"),
        "{sub}"
    );
    assert_eq!(sim.ledger().requests("files", "files.download"), 0);
}

#[tokio::test]
async fn a_truncated_or_garbled_result_file_is_downloaded_again() {
    let sim = start_sim(15, 0).await;
    for (kind, id) in [
        (vendor_sim::FaultKind::TruncatedBody, "cut"),
        (vendor_sim::FaultKind::MalformedJson, "garble"),
    ] {
        let mut fault = vendor_sim::FaultSpec::new(kind)
            .vendor("files")
            .remaining(1);
        fault.id = Some(id.to_owned());
        sim.set_fault(fault).expect("fault");
    }
    let app = spawn_app_with(config(&sim, json!({"download_max_attempts": 4}))).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&app, &t, &registered(indian(120, 0))).await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"]["answered"], 120, "{job}");
    let ledger = sim.ledger();
    assert_eq!(
        ledger.requests("files", "files.download"),
        3,
        "two bad transfers, one good"
    );
    assert_eq!(
        ledger.requests("ekycpro", "ekycpro.create_task"),
        1,
        "the order was placed once"
    );
}

#[tokio::test]
async fn a_result_file_that_never_arrives_whole_fails_as_a_download_failure() {
    let sim = start_sim(16, 0).await;
    sim.set_fault(vendor_sim::FaultSpec::new(vendor_sim::FaultKind::TruncatedBody).vendor("files"))
        .expect("fault");
    let app = spawn_app_with(config(&sim, json!({"download_max_attempts": 3}))).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&app, &t, &registered(indian(120, 0))).await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(&app, &t, &id).await;
    let sub = &job["sub_orders"][0];
    assert_eq!(sub["state"], "failed", "{job}");
    assert_eq!(sub["error"]["code"], "result_download_failed", "{sub}");
    assert!(
        sub["error"]["message"]
            .as_str()
            .expect("message")
            .contains("truncated"),
        "{sub}"
    );
    assert_eq!(sim.ledger().requests("files", "files.download"), 3);
}

#[tokio::test]
async fn a_budget_refuses_jobs_before_any_vendor_call_and_usage_matches_the_ledger() {
    let sim = start_sim(6, 0).await;
    let app = spawn_app_with(config(&sim, json!({"budgets": {"frugal": 1000}}))).await;
    let t = token("frugal", SCOPES);
    let refused = post_job(&app, &t, &registered(indian(1_500, 0))).await;
    let problem = expect_problem(refused, 402, "budget_exceeded").await;
    assert_eq!(problem["remaining_budget"], 1000, "{problem}");
    let ledger = sim.ledger();
    assert_eq!(
        ledger.numbers_billed("wscrm") + ledger.numbers_billed("ekycpro"),
        0
    );

    let resp = post_job(&app, &t, &registered(indian(600, 0))).await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&app, &t, &id).await;

    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    let ledger = sim.ledger();
    assert_eq!(
        usage["billed"]["wscrm_screening"],
        ledger.numbers_billed("wscrm"),
        "{usage}"
    );
    assert_eq!(usage["billed_total"], 600, "{usage}");
    assert_eq!(usage["budget"]["remaining"], 400, "{usage}");
    let over = post_job(&app, &t, &registered(indian(500, 5_000))).await;
    let problem = expect_problem(over, 402, "budget_exceeded").await;
    assert_eq!(problem["remaining_budget"], 400);
}

#[tokio::test]
async fn invalid_numbers_are_reported_per_item_and_oversized_batches_refused() {
    let sim = start_sim(7, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let body = registered(vec![
        "98765 43210".into(),
        "12ab".into(),
        "".into(),
        "+91 98765 43211".into(),
        "+91-98765-43210".into(),
    ]);
    let resp = post_job(&app, &t, &body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let job: Value = resp.json().await.expect("json");
    assert_eq!(job["progress"]["total"], 2);
    assert_eq!(job["progress"]["duplicates"], 1);
    let invalid = job["invalid_numbers"].as_array().expect("invalid");
    assert_eq!(invalid.len(), 2);
    assert_eq!(invalid[0]["index"], 1);
    assert_eq!(invalid[0]["input"], "12ab");
    assert_eq!(invalid[0]["reason"], "not_a_number");
    assert_eq!(invalid[1]["index"], 2);
    assert_eq!(invalid[1]["reason"], "empty");

    let all_bad = post_job(&app, &t, &registered(vec!["nope".into()])).await;
    let problem = expect_problem(all_bad, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "numbers[0]");

    let huge = registered(vec!["1".to_owned(); 1_000_001]);
    let resp = post_job(&app, &t, &huge).await;
    let status = resp.status().as_u16();
    assert!(status == 422 || status == 413, "{status}");
    let code = if status == 422 {
        "validation_failed"
    } else {
        "payload_too_large"
    };
    let problem = expect_problem(resp, status, code).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("1000000"),
        "{problem}"
    );
    // Only the two valid numbers of the first job can ever be billed.
    assert!(sim.ledger().numbers_billed("ekycpro") <= 2);
}

/// The tenant's `number_check.completed` events.
async fn completions_in_feed(app: &crate::support::TestApp, tenant: &str) -> Value {
    app.client
        .get(app.url("/v1/events?types=number_check.completed"))
        .bearer_auth(token(tenant, "events:read"))
        .send()
        .await
        .expect("feed")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_callback_is_signed_and_retried() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/done"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/done"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sim = start_sim(8, 0).await;
    let app = spawn_app_with(config(
        &sim,
        json!({
            "callback_allow": [format!("{}/hooks/", receiver.uri())],
            "callback_secrets": {"acme": secret}
        }),
    ))
    .await;
    let t = token("acme", SCOPES);

    let mut refused = registered(indian(10, 0));
    refused["callback_url"] = json!("https://elsewhere.example/hook");
    let problem = expect_problem(post_job(&app, &t, &refused).await, 422, "url_not_allowed").await;
    assert_eq!(problem["rule"], "host_not_allowed");
    assert_eq!(problem["errors"][0]["field"], "callback_url");
    assert_eq!(problem["errors"][0]["code"], "host_not_allowed");

    let mut body = registered(indian(120, 0));
    body["callback_url"] = json!(format!("{}/hooks/done", receiver.uri()));
    let resp = post_job(&app, &t, &body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&app, &t, &id).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let requests = loop {
        let requests = receiver.received_requests().await.unwrap_or_default();
        if requests.len() >= 3 {
            break requests;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} deliveries",
            requests.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received_requests().await.unwrap_or_default().len(),
        3,
        "no delivery after success"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret");
    for request in &requests {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .expect(name)
                .to_owned()
        };
        let msg_id = header("webhook-id");
        let timestamp = header("webhook-timestamp");
        let body = String::from_utf8(request.body.clone()).expect("utf8");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("key");
        mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(header("webhook-signature"), expected);
        let payload: Value = serde_json::from_str(&body).expect("json body");
        assert_eq!(payload["type"], "number_check.completed");
        assert_eq!(msg_id, payload["id"].as_str().expect("event id"));
        assert_eq!(payload["data"]["job_id"], id.as_str());
        assert_eq!(payload["data"]["status"], "completed");
    }
    // The callback is the same event the tenant's feed shows.
    let feed = completions_in_feed(&app, "acme").await;
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json body");
    assert!(
        feed.to_string().contains(sent["id"].as_str().expect("id")),
        "{feed}"
    );
}

#[tokio::test]
async fn callbacks_queued_by_an_earlier_version_are_delivered_after_an_upgrade() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/done"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let sim = start_sim(31, 0).await;
    let first = spawn_app_with(config(
        &sim,
        json!({
            "callback_allow": [format!("{}/hooks/", receiver.uri())],
            "callback_secrets": {"acme": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        }),
    ))
    .await;
    // What the earlier version left: a record and its place on its own schedule.
    let queued = json!({
        "id": "msg_nc_legacy", "tenant": "acme", "attempts": 2,
        "url": format!("{}/hooks/done", receiver.uri()),
        "body": r#"{"type":"number_check.finished","data":{"id":"nc_legacy"}}"#
    });
    first
        .store
        .set_json(&keys::LegacyCallback::new("msg_nc_legacy"), &queued, None)
        .await
        .expect("record");
    first
        .store
        .zadd(&keys::DueLegacyCallbacks::new(), "msg_nc_legacy", 1.0)
        .await
        .expect("schedule");

    // The next start adopts it.
    let _upgraded = spawn_sibling(&first).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let requests = loop {
        let requests = receiver.received_requests().await.unwrap_or_default();
        if !requests.is_empty() {
            break requests;
        }
        assert!(tokio::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(requests[0].headers["webhook-id"], "msg_nc_legacy");
    assert_eq!(
        String::from_utf8_lossy(&requests[0].body),
        queued["body"].as_str().expect("body")
    );
    assert_eq!(
        first
            .store
            .zcard(&keys::DueLegacyCallbacks::new())
            .await
            .expect("zcard"),
        0
    );
}

#[tokio::test]
async fn tenants_are_isolated_and_the_cache_scope_decides_billing() {
    let sim = start_sim(9, 0).await;
    let shared = spawn_app_with(config(&sim, json!({}))).await;
    let a = token("tenant-a", SCOPES);
    let b = token("tenant-b", SCOPES);
    let body = registered(indian(120, 0));
    let resp = post_job(&shared, &a, &body).await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&shared, &a, &id).await;
    expect_problem(
        shared.get(&format!("/v1/number-checks/{id}"), &b).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        shared
            .get(&format!("/v1/number-checks/{id}/results"), &b)
            .await,
        404,
        "not_found",
    )
    .await;
    let from_cache = post_job(&shared, &b, &body).await;
    assert_eq!(
        from_cache.status().as_u16(),
        200,
        "shared cache answers tenant B"
    );
    assert_eq!(sim.ledger().numbers_billed("ekycpro"), 120);

    let per_tenant = spawn_app_with(config(&sim, json!({"cache_scope": "per_tenant"}))).await;
    let resp = post_job(&per_tenant, &a, &body).await;
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&per_tenant, &a, &id).await;
    let resp = post_job(&per_tenant, &b, &body).await;
    assert_eq!(
        resp.status().as_u16(),
        202,
        "per-tenant cache: B pays again"
    );
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&per_tenant, &b, &id).await;
    assert_eq!(sim.ledger().numbers_billed("ekycpro"), 360);
}

#[tokio::test]
async fn one_number_is_answered_by_a_single_number_provider_then_from_cache() {
    let sim = start_sim(10, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let first: Value = app
        .get("/v1/numbers/%2B51912345678?checks=registered", &t)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["from_cache"], false, "{first}");
    assert_eq!(first["result"]["provider"], "accuauth");
    let outcome = &first["result"]["checks"]["registered"];
    assert_eq!(outcome["status"], "answered", "{first}");
    assert_eq!(outcome["provider"], "accuauth", "{first}");
    assert!(outcome["checked_at"].is_string(), "{first}");
    let second: Value = app
        .get("/v1/numbers/%2B51912345678?checks=registered", &t)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(second["from_cache"], true, "{second}");
    assert_eq!(
        second["result"]["checks"], first["result"]["checks"],
        "{second}"
    );
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 1);
    // Lookups are counted in memory and reach the store within about a second, without
    // anyone reading the usage in between.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let counts = app
            .store
            .hgetall(&keys::Usage::new("acme", &month))
            .await
            .expect("store");
        let field = |name: &str| {
            counts
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        if field("requested").as_deref() == Some("2") {
            assert_eq!(field("from_cache").as_deref(), Some("1"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    assert_eq!(usage["requested"], 2, "{usage}");
    assert_eq!(usage["saved_by_cache"], 1, "{usage}");
    let bad = app.get("/v1/numbers/12ab?checks=registered", &t).await;
    expect_problem(bad, 422, "validation_failed").await;
    let unknown = app
        .get("/v1/numbers/%2B51912345678?checks=nonsense", &t)
        .await;
    expect_problem(unknown, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_stopping_replica_hands_its_job_lease_back_at_once() {
    // A lease far longer than the test: the second replica can only finish in time if the first
    // one released the job when it stopped.
    let sim = start_sim(6, 1_500).await;
    let first = spawn_app_with(config(&sim, json!({"lease_ttl": "60s"}))).await;
    let t = token("acme", SCOPES);
    let resp = post_job(&first, &t, &registered(indian(1_000, 0))).await;
    assert_eq!(resp.status().as_u16(), 202);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let lease = keys::JobLease::new(&id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let first_owner = loop {
        if let Some(owner) = first.store.lease_owner(&lease).await.expect("lease") {
            break owner;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first replica never took the job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let second = spawn_sibling(&first).await;
    first.stop().await;
    // Stopping returns once the server is down; the workers then stop and hand back.
    let handed_back = tokio::time::Instant::now() + Duration::from_secs(5);
    while first
        .store
        .lease_owner(&lease)
        .await
        .expect("lease")
        .as_ref()
        == Some(&first_owner)
    {
        assert!(
            tokio::time::Instant::now() < handed_back,
            "the stopped replica still holds the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = tokio::time::Instant::now();
    let job = wait_done(&second, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: waited for the lease",
        started.elapsed()
    );
    assert!(sim.ledger().duplicate_orders("wscrm").is_empty());
}

// ---- circuit breakers and exact budgets -------------------------------------------------------

fn server_error(vendor: &str, operation: &str) -> vendor_sim::FaultSpec {
    vendor_sim::FaultSpec::new(vendor_sim::FaultKind::ServerError)
        .vendor(vendor)
        .operation(operation)
}

/// `/v1/numbers/...` of the `i`-th Peru mobile number (the single-number vendor's region).
fn peru(i: u32) -> String {
    format!("/v1/numbers/%2B5191234{i:04}?checks=registered")
}

fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A problem saying the vendor failed (the status is checked where a test is about it).
async fn vendor_failed(resp: reqwest::Response) {
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let problem: Value = resp.json().await.expect("problem");
    assert_eq!(problem["code"], "vendor_unavailable", "{problem}");
}

async fn job_id(resp: reqwest::Response) -> String {
    assert_eq!(resp.status().as_u16(), 202);
    resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn an_open_circuit_refuses_single_lookups_without_calling_the_vendor() {
    let sim = start_sim(21, 0).await;
    sim.set_fault(server_error("accuauth", "accuauth.check"))
        .expect("fault");
    let app = spawn_app_with(config(&sim, json!({"circuit_failures": 3}))).await;
    let t = token("acme", SCOPES);
    for i in 0..3 {
        vendor_failed(app.get(&peru(i), &t).await).await;
    }
    assert_eq!(sim.ledger().requests("accuauth", "accuauth.check"), 3);
    for i in 3..40 {
        let resp = app.get(&peru(i), &t).await;
        let wait = retry_after(&resp).expect("Retry-After while the circuit is open");
        assert!((1..=60).contains(&wait), "{wait}");
        let problem = expect_problem(resp, 503, "vendor_unavailable").await;
        assert_eq!(problem["provider"], "accuauth", "{problem}");
        assert_eq!(problem["retry_after"], wait, "{problem}");
    }
    assert_eq!(
        sim.ledger().requests("accuauth", "accuauth.check"),
        3,
        "no vendor call while the circuit is open"
    );
}

#[tokio::test]
async fn after_the_cooldown_one_probe_across_replicas_decides() {
    let sim = start_sim(22, 0).await;
    sim.set_fault(server_error("accuauth", "accuauth.check"))
        .expect("fault");
    let app = spawn_app_with(config(
        &sim,
        json!({"circuit_failures": 1, "circuit_cooldown": "2s"}),
    ))
    .await;
    let sibling = spawn_sibling(&app).await;
    let t = token("acme", SCOPES);
    vendor_failed(app.get(&peru(0), &t).await).await;
    let refused = sibling.get(&peru(1), &t).await;
    assert!(
        retry_after(&refused).is_some(),
        "the sibling sees the open circuit"
    );
    assert_eq!(sim.ledger().requests("accuauth", "accuauth.check"), 1);

    // Cool-down over, vendor still failing: of many calls on both replicas, one reaches it.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let paths: Vec<String> = (0..20).map(|i| peru(100 + i)).collect();
    let calls = paths.iter().enumerate().map(|(i, path)| {
        let replica = if i % 2 == 0 { &app } else { &sibling };
        replica.get(path, &t)
    });
    for resp in futures_util::future::join_all(calls).await {
        expect_problem(resp, 503, "vendor_unavailable").await;
    }
    assert_eq!(
        sim.ledger().requests("accuauth", "accuauth.check"),
        2,
        "exactly one half-open probe"
    );
    let reopened = app.get(&peru(200), &t).await;
    assert!(
        retry_after(&reopened).is_some(),
        "the failed probe reopened it"
    );
    assert_eq!(sim.ledger().requests("accuauth", "accuauth.check"), 2);

    // Vendor healthy again: after the next cool-down the probe succeeds and closes the circuit.
    sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let probe = sibling.get(&peru(300), &t).await;
    assert_eq!(probe.status().as_u16(), 200, "{:?}", probe.text().await);
    let after = app.get(&peru(301), &t).await;
    assert_eq!(after.status().as_u16(), 200, "{:?}", after.text().await);
}

#[tokio::test]
async fn failed_lookups_give_their_budget_back_and_unknown_ones_are_unconfirmed() {
    let sim = start_sim(23, 0).await;
    sim.set_fault(server_error("accuauth", "accuauth.check"))
        .expect("fault");
    let app = spawn_app_with(config(
        &sim,
        json!({"budgets": {"frugal": 3}, "circuit_failures": 100}),
    ))
    .await;
    let t = token("frugal", SCOPES);
    for i in 0..3 {
        vendor_failed(app.get(&peru(i), &t).await).await;
    }
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 0);
    sim.clear_faults();
    let fourth = app.get(&peru(3), &t).await;
    assert_eq!(fourth.status().as_u16(), 200, "{:?}", fourth.text().await);
    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    assert_eq!(usage["billed_total"], 1, "{usage}");
    assert_eq!(usage["budget"]["committed"], 1, "{usage}");
    assert_eq!(usage["budget"]["remaining"], 2, "{usage}");

    // A lookup whose answer never arrives may have been billed: its reservation stays and it
    // is counted as unconfirmed.
    sim.set_fault(
        vendor_sim::FaultSpec::new(vendor_sim::FaultKind::Hang)
            .vendor("accuauth")
            .operation("accuauth.check")
            .latency_ms(5_000),
    )
    .expect("fault");
    let mut overrides = config(
        &sim,
        json!({"budgets": {"frugal": 3}, "circuit_failures": 100}),
    );
    overrides["store"] = json!({"key_prefix": app.config.store.key_prefix.clone()});
    overrides["vendors"]["accuauth"]["timeout_ms"] = json!(300);
    let impatient = spawn_app_with(overrides).await;
    expect_problem(impatient.get(&peru(4), &t).await, 504, "vendor_timeout").await;
    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    assert_eq!(usage["unconfirmed"]["accuauth"], 1, "{usage}");
    assert_eq!(usage["unconfirmed_total"], 1, "{usage}");
    assert_eq!(usage["budget"]["committed"], 2, "{usage}");
}

#[tokio::test]
async fn a_job_whose_every_provider_fails_submits_once_per_provider() {
    let sim = start_sim(24, 0).await;
    sim.set_fault(server_error("wscrm", "screening.submit"))
        .expect("fault");
    sim.set_fault(server_error("ekycpro", "ekycpro.create_task"))
        .expect("fault");
    // Default breaker settings: five failures per vendor before a circuit opens.
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    // Two screening orders (one per region), each of which ekycpro could also take.
    let mut numbers = indian(1_000, 0);
    numbers.extend(us(600));
    let id = job_id(post_job(&app, &t, &registered(numbers)).await).await;
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let ledger = sim.ledger();
    assert_eq!(ledger.requests("wscrm", "screening.submit"), 1, "{job}");
    assert_eq!(
        ledger.requests("ekycpro", "ekycpro.create_task"),
        1,
        "{job}"
    );
    for sub in job["sub_orders"].as_array().expect("sub_orders") {
        assert_eq!(sub["state"], "failed", "{sub}");
        assert_eq!(sub["error"]["code"], "vendor_unavailable", "{sub}");
    }
    assert_eq!(job["progress"]["failed"], 1_600, "{job}");
}

#[tokio::test]
async fn while_every_circuit_is_open_a_job_makes_no_vendor_call() {
    let sim = start_sim(25, 0).await;
    sim.set_fault(server_error("wscrm", "screening.submit"))
        .expect("fault");
    sim.set_fault(server_error("ekycpro", "ekycpro.create_task"))
        .expect("fault");
    let app = spawn_app_with(config(&sim, json!({"circuit_failures": 1}))).await;
    let t = token("acme", SCOPES);
    let mut numbers = indian(1_000, 0);
    numbers.extend(us(600));
    let id = job_id(post_job(&app, &t, &registered(numbers)).await).await;
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let submits = |ledger: &vendor_sim::Ledger| {
        (
            ledger.requests("wscrm", "screening.submit"),
            ledger.requests("ekycpro", "ekycpro.create_task"),
        )
    };
    assert_eq!(submits(&sim.ledger()), (1, 1), "{job}");

    // Both circuits are open now: the next job is accepted, sends nothing, and says why.
    let id = job_id(post_job(&app, &t, &registered(indian(1_000, 50_000))).await).await;
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(submits(&sim.ledger()), (1, 1), "no vendor call: {job}");
    assert_eq!(job["status"], "failed", "{job}");
    let sub = &job["sub_orders"][0];
    assert_eq!(sub["state"], "failed", "{sub}");
    assert_eq!(sub["error"]["code"], "vendor_unavailable", "{sub}");
    let message = sub["error"]["message"].as_str().expect("message");
    assert!(message.contains("circuit is open"), "{message}");
    assert_eq!(job["cost"]["numbers_billed"], 0, "{job}");
}

#[tokio::test]
async fn a_chosen_provider_with_an_open_circuit_is_refused_at_once() {
    let sim = start_sim(26, 0).await;
    sim.set_fault(server_error("wscrm", "screening.submit"))
        .expect("fault");
    let app = spawn_app_with(config(
        &sim,
        json!({"circuit_failures": 1, "budgets": {"acme": 10_000}}),
    ))
    .await;
    let t = token("acme", SCOPES);
    let mut body = registered(indian(1_000, 0));
    body["provider"] = json!("wscrm_screening");
    let id = job_id(post_job(&app, &t, &body).await).await;
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["sub_orders"][0]["state"], "failed", "{job}");

    let mut again = registered(indian(1_000, 20_000));
    again["provider"] = json!("wscrm_screening");
    let resp = post_job(&app, &t, &again).await;
    let wait = retry_after(&resp).expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    let problem = expect_problem(resp, 503, "vendor_unavailable").await;
    assert_eq!(problem["provider"], "wscrm_screening", "{problem}");
    assert_eq!(sim.ledger().requests("wscrm", "screening.submit"), 1);
    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    assert_eq!(usage["budget"]["committed"], 0, "nothing reserved: {usage}");
}

#[tokio::test]
async fn a_submit_with_an_unknown_outcome_counts_as_unconfirmed_usage() {
    let sim = start_sim(27, 0).await;
    // The vendor accepts (and bills) the order, but its answer is cut off.
    sim.set_fault(
        vendor_sim::FaultSpec::new(vendor_sim::FaultKind::TruncatedBody)
            .vendor("wscrm")
            .operation("screening.submit"),
    )
    .expect("fault");
    let app = spawn_app_with(config(&sim, json!({"budgets": {"acme": 5_000}}))).await;
    let t = token("acme", SCOPES);
    let id = job_id(post_job(&app, &t, &registered(indian(1_000, 0))).await).await;
    let job = wait_done(&app, &t, &id).await;
    let sub = &job["sub_orders"][0];
    assert_eq!(sub["state"], "unknown", "{job}");
    assert_eq!(job["cost"]["numbers_unconfirmed"], 1_000, "{job}");
    assert_eq!(
        sim.ledger().numbers_billed("wscrm"),
        1_000,
        "the vendor billed it"
    );
    let usage: Value = app.get("/v1/usage", &t).await.json().await.expect("usage");
    assert_eq!(usage["unconfirmed"]["wscrm_screening"], 1_000, "{usage}");
    assert_eq!(usage["unconfirmed_total"], 1_000, "{usage}");
    assert_eq!(
        usage["budget"]["committed"], 1_000,
        "kept reserved: {usage}"
    );
    assert_eq!(
        sim.ledger().requests("wscrm", "screening.submit"),
        1,
        "not sent again"
    );
}

fn checks_body(numbers: Vec<String>, checks: &[&str]) -> Value {
    json!({"numbers": numbers, "default_country": "IN", "checks": checks})
}

/// Every record of a job, read as JSON pages of `limit`.
async fn paged_results(
    app: &crate::support::TestApp,
    t: &str,
    id: &str,
    limit: usize,
) -> Vec<Value> {
    let mut cursor: Option<String> = None;
    let mut items = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/number-checks/{id}/results?limit={limit}&cursor={c}"),
            None => format!("/v1/number-checks/{id}/results?limit={limit}"),
        };
        let page: Value = app.get(&path, t).await.json().await.expect("page");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

/// One record per number, every asked check with a status of the expected provider; numbers
/// without WhatsApp say so.
fn assert_one_answered_record_per_number(
    seed: u64,
    records: &[Value],
    expected: usize,
    providers: &[(&str, &str)],
) {
    let distinct: std::collections::HashSet<&str> = records
        .iter()
        .map(|r| r["number"].as_str().expect("number"))
        .collect();
    assert_eq!((records.len(), distinct.len()), (expected, expected));
    for record in records {
        let truth = vendor_sim::truth::profile(seed, record["number"].as_str().expect("number"));
        assert_eq!(record["registered"], json!(truth.registered), "{record}");
        let answered = if truth.registered {
            "answered"
        } else {
            "not_registered"
        };
        for (check, provider) in providers {
            let outcome = &record["checks"][check];
            assert_eq!(outcome["status"], answered, "{check}: {record}");
            assert_eq!(outcome["provider"], *provider, "{check}: {record}");
            assert!(outcome["checked_at"].is_string(), "{check}: {record}");
        }
    }
}

#[tokio::test]
async fn two_screening_orders_for_one_number_give_one_merged_record() {
    let sim = start_sim(21, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let body = checks_body(indian(600, 0), &["activity", "demographics"]);
    let id = job_id(post_job(&app, &t, &body).await).await;
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["sub_orders"].as_array().expect("subs").len(),
        2,
        "{job}"
    );
    assert_eq!(job["progress"]["total"], 600, "{job}");
    assert_eq!(job["progress"]["answered"], 600, "{job}");
    assert_eq!(job["progress"]["pending"], 0, "{job}");
    let expected = [
        ("activity", "wscrm_screening"),
        ("demographics", "wscrm_screening"),
    ];

    let exported = all_results(&app, &t, &id).await;
    assert_one_answered_record_per_number(21, &exported, 600, &expected);
    let registered = exported
        .iter()
        .find(|r| r["registered"] == true)
        .expect("a registered number");
    let truth = vendor_sim::truth::profile(21, registered["number"].as_str().expect("number"));
    // Fields of both orders in the one record.
    assert_eq!(registered["age"], json!(truth.age), "{registered}");
    assert!(
        registered["last_active_at"].is_string() == truth.last_active.is_some(),
        "{registered}"
    );
    assert!(
        exported.iter().any(|r| r["registered"] == false),
        "some numbers are not on WhatsApp"
    );

    let paged = paged_results(&app, &t, &id, 250).await;
    assert_eq!(paged, exported);

    let csv = app
        .get(&format!("/v1/number-checks/{id}/results?format=csv"), &t)
        .await
        .text()
        .await
        .expect("csv");
    assert_eq!(csv.lines().count(), 601);
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let status_col = header
        .iter()
        .position(|h| *h == "activity_status")
        .expect("activity_status column");
    assert!(
        csv.lines().skip(1).all(|l| matches!(
            l.split(',').nth(status_col),
            Some("answered" | "not_registered")
        )),
        "{csv}"
    );
}

#[tokio::test]
async fn checks_of_two_providers_are_both_ordered_and_merged() {
    let sim = start_sim(22, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    let body = checks_body(indian(600, 0), &["activity", "profile"]);
    let resp = post_job(&app, &t, &body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let accepted: Value = resp.json().await.expect("json");
    assert_eq!(accepted["warnings"], json!([]), "{accepted}");
    let id = accepted["id"].as_str().expect("id").to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let orders: Vec<(Value, Value)> = job["sub_orders"]
        .as_array()
        .expect("subs")
        .iter()
        .map(|s| (s["provider"].clone(), s["checks"].clone()))
        .collect();
    assert_eq!(
        orders,
        vec![
            (json!("wscrm_screening"), json!(["activity"])),
            (json!("ekycpro"), json!(["profile"])),
        ]
    );
    assert_eq!(job["progress"]["answered"], 600, "{job}");
    let records = all_results(&app, &t, &id).await;
    assert_one_answered_record_per_number(
        22,
        &records,
        600,
        &[("activity", "wscrm_screening"), ("profile", "ekycpro")],
    );
}

#[tokio::test]
async fn numbers_no_provider_takes_have_a_record_with_the_reason() {
    let sim = start_sim(23, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    // Below screening's minimum, and only screening answers activity.
    let body = checks_body(indian(3, 0), &["activity"]);
    let resp = post_job(&app, &t, &body).await;
    assert_eq!(resp.status().as_u16(), 200);
    let job: Value = resp.json().await.expect("json");
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["warnings"][0]["code"], "no_provider", "{job}");
    assert_eq!(job["warnings"][0]["checks"], json!(["activity"]), "{job}");
    assert_eq!(job["warnings"][0]["numbers"], 3, "{job}");
    assert_eq!(job["progress"]["failed"], 3, "{job}");
    let id = job["id"].as_str().expect("id");
    let records = paged_results(&app, &t, id, 1000).await;
    assert_eq!(records.len(), 3, "{records:?}");
    for record in &records {
        let outcome = &record["checks"]["activity"];
        assert_eq!(outcome["status"], "unavailable", "{record}");
        assert_eq!(outcome["reason"], "no_provider", "{record}");
    }
}

#[tokio::test]
async fn a_partly_answerable_job_warns_at_once_and_ends_completed_with_errors() {
    let sim = start_sim(24, 0).await;
    let app = spawn_app_with(config(&sim, json!({}))).await;
    let t = token("acme", SCOPES);
    // 120 numbers: ekycpro answers `registered`; only screening (minimum 500) answers activity.
    let body = checks_body(indian(120, 0), &["registered", "activity"]);
    let resp = post_job(&app, &t, &body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let accepted: Value = resp.json().await.expect("json");
    assert_eq!(accepted["warnings"][0]["code"], "no_provider", "{accepted}");
    assert_eq!(
        accepted["warnings"][0]["checks"],
        json!(["activity"]),
        "{accepted}"
    );
    let id = accepted["id"].as_str().expect("id").to_owned();
    let job = wait_done(&app, &t, &id).await;
    assert_eq!(job["status"], "completed_with_errors", "{job}");
    assert_eq!(job["progress"]["answered"], 120, "{job}");
    let records = all_results(&app, &t, &id).await;
    assert_eq!(records.len(), 120);
    for record in &records {
        assert!(record["registered"].is_boolean(), "{record}");
        assert_eq!(
            record["checks"]["registered"]["status"], "answered",
            "{record}"
        );
        assert_eq!(
            record["checks"]["registered"]["provider"], "ekycpro",
            "{record}"
        );
        assert_eq!(
            record["checks"]["activity"]["status"], "unavailable",
            "{record}"
        );
        assert_eq!(
            record["checks"]["activity"]["reason"], "no_provider",
            "{record}"
        );
    }
}
