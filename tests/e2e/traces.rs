//! Traces through the real binary: a caller's W3C `traceparent` is continued by the gateway, a
//! single-number check exports one trace (server span, store spans, the vendor call) to an
//! OTLP/HTTP receiver, the vendor receives the same trace id, and the log lines of the request
//! carry it.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::number_checks::start_sim;
use crate::support::process::GatewayProcess;
use crate::support::{random_prefix, redis_url, token};
use serde_json::Value;
use vendor_sim::dev;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// One exported span, as OTLP/JSON writes it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    kind: i64,
    trace_id: String,
    span_id: String,
    parent: String,
}

fn spans_of(body: &[u8]) -> Vec<Span> {
    let export: Value = serde_json::from_slice(body).expect("OTLP/JSON body");
    let mut spans = Vec::new();
    for resource in export["resourceSpans"].as_array().into_iter().flatten() {
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_ascii_lowercase();
                spans.push(Span {
                    name: text("name"),
                    kind: span["kind"].as_i64().unwrap_or_default(),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent: text("parentSpanId"),
                });
            }
        }
    }
    spans
}

/// Every span the collector has received so far.
async fn exported(collector: &MockServer) -> Vec<Span> {
    collector
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .flat_map(|request| spans_of(&request.body))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_check_is_one_trace_from_the_caller_to_the_vendor() {
    let sim = start_sim(41, 0).await;
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let base = sim.base_url().to_owned();
    let env = [
        ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
        ("GATEWAY_STORE__REDIS_URL", redis_url()),
        ("GATEWAY_STORE__KEY_PREFIX", random_prefix()),
        ("GATEWAY_VENDORS__ACCUAUTH__BASE_URL", base.clone()),
        ("GATEWAY_VENDORS__EKYCPRO__BASE_URL", base.clone()),
        (
            "GATEWAY_VENDORS__EKYCPRO__USER_ID",
            dev::EKYCPRO_USER_ID.to_owned(),
        ),
        (
            "GATEWAY_VENDORS__EKYCPRO__API_KEY",
            dev::EKYCPRO_API_KEY.to_owned(),
        ),
        (
            "GATEWAY_VENDORS__EKYCPRO__RESULT_HOSTS",
            format!("[\"{base}\"]"),
        ),
        ("GATEWAY_NUMBER_CHECKS__WORKER_INTERVAL", "20ms".to_owned()),
        ("GATEWAY_NUMBER_CHECKS__POLL_INITIAL", "20ms".to_owned()),
        (
            "GATEWAY_VENDORS__ACCUAUTH__API_ID",
            dev::ACCUAUTH_API_ID.to_owned(),
        ),
        (
            "GATEWAY_VENDORS__ACCUAUTH__API_SECRET",
            dev::ACCUAUTH_API_SECRET.to_owned(),
        ),
        (
            "GATEWAY_TRACES__OTLP_ENDPOINT",
            format!("{}/v1/traces", collector.uri()),
        ),
        ("GATEWAY_TRACES__PROTOCOL", "http_json".to_owned()),
        // The exporter's batch delay (ms), so the test does not wait the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let gateway = GatewayProcess::start(None, &env).await;

    let response = reqwest::Client::new()
        .get(gateway.url("/v1/numbers/%2B51912345678?checks=registered"))
        .bearer_auth(token("acme", "numbers:check"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("lookup");
    assert_eq!(response.status().as_u16(), 200);

    // Export is batched: wait until the server span has arrived.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans = exported(&collector).await;
        if spans.iter().any(|s| s.parent == CALLER_SPAN) {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no server span exported: {spans:?}\n{}",
            gateway.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == TRACE_ID).collect();
    let by_id: HashMap<&str, &Span> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let under_server = |span: &Span| {
        let mut at = span;
        while let Some(parent) = by_id.get(at.parent.as_str()) {
            at = parent;
        }
        at.parent == CALLER_SPAN
    };

    // OTLP span kinds: 2 = server, 3 = client.
    let server = trace
        .iter()
        .find(|s| s.parent == CALLER_SPAN)
        .expect("the request span continues the caller's trace");
    assert_eq!(server.kind, 2, "{server:?}");
    assert_eq!(server.name, "get /v1/numbers/{number}");
    let vendor_call = trace
        .iter()
        .find(|s| s.name == "accuauth check")
        .unwrap_or_else(|| panic!("no vendor span: {trace:?}"));
    assert_eq!(vendor_call.kind, 3);
    assert!(under_server(vendor_call), "{trace:?}");
    let store: Vec<&&Span> = trace
        .iter()
        .filter(|s| s.name.starts_with("redis "))
        .collect();
    assert!(!store.is_empty(), "no store spans: {trace:?}");
    assert!(
        store.iter().all(|s| s.kind == 3 && under_server(s)),
        "{trace:?}"
    );

    // The vendor got the same trace.
    let ledger = sim.ledger();
    let seen = &ledger
        .vendor("accuauth")
        .expect("accuauth called")
        .trace_ids;
    assert!(
        !seen.is_empty() && seen.iter().all(|id| id == TRACE_ID),
        "{seen:?}"
    );

    // Background work is traced too: a job's steps are traces of their own, with the vendor
    // calls below them.
    let accepted: Value = reqwest::Client::new()
        .post(gateway.url("/v1/number-checks"))
        .bearer_auth(token("acme", "numbers:check"))
        .json(&serde_json::json!({
            "numbers": ["9800000001", "9800000002"], "default_country": "IN",
            "checks": ["registered"]
        }))
        .send()
        .await
        .expect("job")
        .json()
        .await
        .expect("json");
    assert!(accepted["id"].is_string(), "{accepted}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let spans = exported(&collector).await;
        let jobs: HashMap<&str, &Span> = spans
            .iter()
            .filter(|s| s.name == "number_check_job" && s.parent.is_empty())
            .map(|s| (s.span_id.as_str(), s))
            .collect();
        let traced_vendor_call = spans
            .iter()
            .any(|s| s.name.starts_with("ekycpro ") && jobs.contains_key(s.parent.as_str()));
        if traced_vendor_call {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job trace with its vendor call: {spans:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // And the request's log lines name it.
    let output = gateway.output();
    let request_lines: Vec<Value> = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["span"]["name"] == "http_request"
                && line["span"]["http.route"] == "/v1/numbers/{number}"
        })
        .collect();
    assert!(!request_lines.is_empty(), "{output}");
    assert!(
        request_lines
            .iter()
            .all(|line| line["span"]["trace_id"] == TRACE_ID),
        "{output}"
    );
}
