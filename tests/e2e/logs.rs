//! What the gateway writes to its logs: never a bearer token, never a full phone number.

use std::time::Duration;

use crate::support::process::GatewayProcess;
use crate::support::{random_prefix, redis_url, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_token_and_no_unmasked_number() {
    let gateway = GatewayProcess::start(
        None,
        &[
            ("GATEWAY_LOG__LEVEL", "debug".to_owned()),
            ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
            ("GATEWAY_STORE__REDIS_URL", redis_url()),
            ("GATEWAY_STORE__KEY_PREFIX", random_prefix()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let bearer = token("acme", "numbers:read");
    let calls = [
        client.get(gateway.url("/v1/whoami")).bearer_auth(&bearer),
        client
            .get(gateway.url("/v1/numbers/+14155550123"))
            .bearer_auth(&bearer),
        client
            .get(gateway.url("/v1/numbers/%2B447700900123?also=919876542323"))
            .bearer_auth(&bearer),
        client
            .post(gateway.url("/v1/number-checks"))
            .bearer_auth(&bearer)
            .body(r#"{"numbers":["+5511987654321"]}"#),
        client
            .get(gateway.url("/v1/whoami"))
            .bearer_auth(format!("{bearer}x")),
    ];
    for call in calls {
        let _ = call.send().await.expect("request");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.sigterm();
    assert_eq!(
        gateway.wait_exit(Duration::from_secs(15)).await,
        Some(0),
        "{}",
        gateway.output()
    );
    let logs = gateway.output();
    assert!(
        logs.contains("request completed"),
        "requests were logged: {logs}"
    );
    assert!(
        logs.contains("+14*****0123"),
        "the masked number is there: {logs}"
    );
    let signature = bearer.rsplit('.').next().expect("signature");
    for secret in [
        bearer.as_str(),
        signature,
        "14155550123",
        "447700900123",
        "919876542323",
        "5511987654321",
    ] {
        assert!(
            !logs.contains(secret),
            "`{secret}` leaked into the logs:\n{logs}"
        );
    }
}

/// Handled errors never capture a backtrace: with `RUST_BACKTRACE=1` in the environment, 100
/// failing vendor calls (each a 502) leave at most a few lines each, not a stack dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_failures_log_one_short_line_each_even_with_rust_backtrace() {
    // Generous against the ~1 KB a failed request logs today; a backtrace is ~10 KB.
    const MAX_LOG_BYTES_PER_FAILURE: usize = 2_048;
    const FAILURES: usize = 100;

    let mut sim_config = vendor_sim::SimConfig::for_tests(41);
    sim_config.result_ttl_ms = 60_000;
    let sim = crate::support::sim::start(sim_config, "127.0.0.1:0")
        .await
        .expect("simulator starts");
    sim.set_fault(
        vendor_sim::FaultSpec::new(vendor_sim::FaultKind::ServerError).vendor("accuauth"),
    )
    .expect("fault");
    let env = [
        ("RUST_BACKTRACE", "1".to_owned()),
        ("GATEWAY_LOG__LEVEL", "info".to_owned()),
        ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
        ("GATEWAY_STORE__REDIS_URL", redis_url()),
        ("GATEWAY_STORE__KEY_PREFIX", random_prefix()),
        (
            "GATEWAY_VENDORS__ACCUAUTH__BASE_URL",
            sim.base_url().to_owned(),
        ),
        (
            "GATEWAY_VENDORS__ACCUAUTH__API_ID",
            vendor_sim::dev::ACCUAUTH_API_ID.to_owned(),
        ),
        (
            "GATEWAY_VENDORS__ACCUAUTH__API_SECRET",
            vendor_sim::dev::ACCUAUTH_API_SECRET.to_owned(),
        ),
        // Every call must reach the failing vendor: no breaker in the way.
        (
            "GATEWAY_NUMBER_CHECKS__CIRCUIT_FAILURES",
            "100000".to_owned(),
        ),
    ];
    let gateway = GatewayProcess::start(None, &env).await;
    let client = reqwest::Client::new();
    let bearer = token("acme", "numbers:check");
    let before = gateway.output().len();
    for i in 0..FAILURES {
        let response = client
            .get(gateway.url(&format!("/v1/numbers/%2B5191234{i:04}?checks=registered")))
            .bearer_auth(&bearer)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_server_error(),
            "a failing vendor is a 5xx: {}",
            response.status()
        );
    }
    assert_eq!(
        sim.ledger().requests("accuauth", "accuauth.check"),
        FAILURES as u64,
        "every lookup reached the failing vendor"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = gateway.output();
    gateway.sigterm();
    let _ = gateway.wait_exit(Duration::from_secs(15)).await;
    let written = logs.len() - before;
    assert!(
        !logs.contains("stack backtrace") && !logs.contains("rust_begin_unwind"),
        "a backtrace was logged"
    );
    assert!(
        written <= FAILURES * MAX_LOG_BYTES_PER_FAILURE,
        "{written} bytes of logs for {FAILURES} failures:\n{}",
        &logs[before..before + 4_000.min(written)]
    );
    let failed_lines = logs
        .lines()
        .filter(|l| l.contains("\"request failed\""))
        .count();
    assert_eq!(failed_lines, FAILURES, "each failure is logged once");
}

/// One line per request, with what an operator filters on; a refused request is logged once,
/// with its problem code and no Rust `Debug` dump. A caller's `traceparent` names the trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_per_request_with_route_status_latency_tenant_and_request_id() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let gateway = GatewayProcess::start(
        None,
        &[
            ("GATEWAY_LOG__LEVEL", "info".to_owned()),
            ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
            ("GATEWAY_STORE__REDIS_URL", redis_url()),
            ("GATEWAY_STORE__KEY_PREFIX", random_prefix()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let bearer = token("acme", "numbers:read numbers:check");
    let calls = [
        (
            "log-ok",
            client
                .get(gateway.url("/v1/whoami"))
                .bearer_auth(&bearer)
                .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01")),
        ),
        (
            "log-unauthorized",
            client
                .get(gateway.url("/v1/whoami"))
                .bearer_auth("not-a-token"),
        ),
        (
            "log-invalid",
            client
                .post(gateway.url("/v1/number-checks"))
                .bearer_auth(&bearer)
                .header("content-type", "application/json")
                .body(r#"{"numbers": "not a list"}"#),
        ),
        ("log-unrouted", client.get(gateway.url("/nothing/here"))),
    ];
    for (id, call) in calls {
        let response = call
            .header("x-request-id", id)
            .send()
            .await
            .expect("request");
        assert_eq!(response.headers()["x-request-id"], id);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.sigterm();
    assert_eq!(gateway.wait_exit(Duration::from_secs(15)).await, Some(0));
    let logs = gateway.output();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let of = |id: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .filter(|line| line.to_string().contains(&format!("\"{id}\"")))
            .collect()
    };
    let expectations = [
        ("log-ok", "GET", "/v1/whoami", 200, Some("acme"), None),
        (
            "log-unauthorized",
            "GET",
            "/v1/whoami",
            401,
            None,
            Some("invalid_token"),
        ),
        (
            "log-invalid",
            "POST",
            "/v1/number-checks",
            422,
            Some("acme"),
            Some("validation_failed"),
        ),
        (
            "log-unrouted",
            "GET",
            "unmatched",
            404,
            None,
            Some("route_not_found"),
        ),
    ];
    for (id, method, route, status, tenant, code) in expectations {
        let found = of(id);
        assert_eq!(found.len(), 1, "{id}: one line, not {found:#?}\n{logs}");
        let line = found[0];
        assert_eq!(line["message"], "request completed", "{line}");
        assert_eq!(line["request_id"], id, "{line}");
        assert_eq!(line["method"], method, "{line}");
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert!(line["latency_ms"].as_f64().is_some(), "{line}");
        assert_eq!(line["tenant"].as_str(), tenant, "{line}");
        assert_eq!(line["code"].as_str(), code, "{line}");
        let trace_id = line["trace_id"].as_str().expect("a trace id");
        assert_eq!(trace_id.len(), 32, "{line}");
        assert_eq!(trace_id == TRACE_ID, id == "log-ok", "{line}");
        let text = line.to_string();
        assert!(
            !text.contains("ApiError {") && !text.contains("Error {"),
            "a Debug dump: {text}"
        );
    }
}
