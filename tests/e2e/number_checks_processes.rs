//! Number-check jobs across real gateway processes sharing one Redis: a replica that gets
//! SIGTERM hands its job back at once; a replica killed outright loses the job only until its
//! lease expires. Either way each vendor order is placed once and no result is lost.

use std::time::Duration;

use crate::support::number_checks::{config, indian, start_sim, wait_done};
use crate::support::process::GatewayProcess;
use crate::support::sim::RunningSim;
use crate::support::{random_prefix, redis_url, spawn_app_with, token};
use serde_json::{Value, json};
use vendor_sim::dev;

const SCOPES: &str = "numbers:check numbers:read";

/// The configuration file of a gateway process in front of `sim`.
fn config_file(sim: &RunningSim, lease_ttl: &str) -> tempfile_path::TempToml {
    let base = sim.base_url();
    let toml = format!(
        r#"
[vendors.wscrm]
bus_api_base_url = "{base}/wscrm-bus-api"
result_hosts = ["{base}"]
auth_headers = {{ "{header}" = "{key}" }}

[vendors.ekycpro]
base_url = "{base}"
user_id = "{user}"
api_key = "{api_key}"
result_hosts = ["{base}"]

[number_checks]
worker_interval = "20ms"
poll_initial = "20ms"
poll_max = "200ms"
lease_ttl = "{lease_ttl}"
"#,
        header = dev::WSCRM_HEADER,
        key = dev::WSCRM_KEY,
        user = dev::EKYCPRO_USER_ID,
        api_key = dev::EKYCPRO_API_KEY,
    );
    tempfile_path::TempToml::new(&toml)
}

mod tempfile_path {
    /// A config file removed when dropped.
    #[derive(Debug)]
    pub struct TempToml(pub std::path::PathBuf);

    impl TempToml {
        pub fn new(text: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("gateway-{}.toml", uuid::Uuid::new_v4().simple()));
            std::fs::write(&path, text).expect("config file written");
            TempToml(path)
        }
    }

    impl Drop for TempToml {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Starts a gateway process on `prefix`, submits 1,000 numbers, and waits until the vendor
/// order is running (its id recorded), so the process is stopped in the middle of the job.
async fn process_with_running_job(
    file: &tempfile_path::TempToml,
    prefix: &str,
) -> (GatewayProcess, String) {
    process_with_job_in(file, prefix, "running").await
}

/// Like [`process_with_running_job`], waiting until every sub-order is in `state`.
async fn process_with_job_in(
    file: &tempfile_path::TempToml,
    prefix: &str,
    state: &str,
) -> (GatewayProcess, String) {
    let env = [
        ("GATEWAY_CONFIG", file.0.display().to_string()),
        ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
        ("GATEWAY_STORE__REDIS_URL", redis_url()),
        ("GATEWAY_STORE__KEY_PREFIX", prefix.to_owned()),
    ];
    let gateway = GatewayProcess::start(None, &env).await;
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
    let prefix = random_prefix();
    // A lease far longer than the test: only a handed-back job can finish in time.
    let file = config_file(&sim, "60s");
    let (gateway, id) = process_with_running_job(&file, &prefix).await;
    let mut overrides = config(&sim, json!({"lease_ttl": "60s"}));
    overrides["store"] = json!({"key_prefix": prefix});
    let second = spawn_app_with(overrides).await;

    gateway.sigterm();
    let code = gateway.wait_exit(Duration::from_secs(20)).await;
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
    let prefix = random_prefix();
    let file = config_file(&sim, "3s");
    let (gateway, id) = process_with_running_job(&file, &prefix).await;
    let mut overrides = config(&sim, json!({"lease_ttl": "3s"}));
    overrides["store"] = json!({"key_prefix": prefix});
    let second = spawn_app_with(overrides).await;

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
    let prefix = random_prefix();
    let file = config_file(&sim, "3s");
    let (gateway, id) = process_with_job_in(&file, &prefix, "submitting").await;
    gateway.process.kill();
    let mut overrides = config(&sim, json!({"lease_ttl": "3s"}));
    overrides["store"] = json!({"key_prefix": prefix});
    let second = spawn_app_with(overrides).await;

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
