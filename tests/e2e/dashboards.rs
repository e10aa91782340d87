//! What operators build on: every vendor's calls, latency and errors, the gauges and counters
//! of a live `/metrics` (each with its `# HELP`), and the chart's alerts and Grafana dashboard
//! using only metrics the gateway exposes. The gateway runs as its own process, so its recorder
//! holds only the series this test's traffic creates.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::number_checks::{indian, post_job, wait_done};
use crate::support::{spawn_app_with, token};
use serde_json::{Value, json};
use vendor_sim::{FaultKind, FaultSpec, SimConfig, dev};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../helm/wa-gateway");
const SCOPES: &str = "numbers:check numbers:read accounts:read business:read admin";

/// Every vendor against the simulator; the status listener on its own port; a tiny `admin` limit
/// so one rejection is easy to make.
fn config(sim: &crate::support::sim::RunningSim) -> Value {
    let base = sim.base_url();
    let mut vendors = crate::support::number_checks::vendors(base, base);
    vendors["wscrm"]["dispatch_api_base_url"] = json!(format!("{base}/group-dispatch-api"));
    vendors["nxcloud"] = json!({
        "base_url": base,
        "access_key": dev::NXCLOUD_ACCESS_KEY,
        "access_secret": dev::NXCLOUD_ACCESS_SECRET,
        "appkey": dev::NXCLOUD_APPKEY
    });
    json!({
        "server": {"admin_listen": "127.0.0.1:0"},
        "vendors": vendors,
        "accounts": {"tenants": {"acme": {"wscrm_tenant_id": 7}}},
        "number_checks": {"worker_interval": "20ms", "poll_initial": "20ms", "poll_max": "200ms",
                          "circuit_failures": 1000},
        "limits": {"rate_limits": {
            "numbers:check": {"requests": 10000, "per": "1m"},
            "numbers:read": {"requests": 10000, "per": "1m"},
            "admin": {"requests": 1, "per": "1m"}
        }}
    })
}

async fn json_job(app: &crate::support::TestApp, token: &str, numbers: Vec<String>) {
    let body = json!({"numbers": numbers, "default_country": "IN", "checks": ["registered"]});
    let response = post_job(app, token, &body).await;
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = wait_done(app, token, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
}

/// The metric names a PromQL expression reads: identifiers that are neither functions,
/// aggregations, keywords, label names nor label values.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const GROUPING: [&str; 4] = ["by", "without", "on", "ignoring"];
    const KEYWORDS: [&str; 5] = ["and", "or", "unless", "bool", "offset"];
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let mut names = BTreeSet::new();
    let mut rest = expr;
    // Drop label matchers and string literals: `{...}` and `"..."`.
    let mut plain = String::new();
    let mut depth = 0;
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => depth -= 1,
            _ if quoted || depth > 0 => {}
            _ => plain.push(c),
        }
        if quoted || depth > 0 || c == '}' || c == '"' {
            plain.push(' ');
        }
    }
    rest = &plain;
    let bytes: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let mut grouping = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let next = bytes[i..].iter().find(|c| !c.is_whitespace());
            let preceded_by_digit = start > 0 && bytes[start - 1].is_ascii_digit();
            if GROUPING.contains(&word.as_str()) {
                grouping = true;
            } else if KEYWORDS.contains(&word.as_str()) || grouping {
                // Label names inside `by (...)` are not metrics.
            } else if next == Some(&'(')
                || preceded_by_digit
                || AGGREGATIONS.contains(&word.as_str())
            {
                // A function, or a duration unit (`5m`).
            } else {
                names.insert(word);
            }
        } else {
            if c == ')' {
                grouping = false;
            }
            i += 1;
        }
    }
    names
}

/// The version and revision the binary under test prints for `--version`
/// (`gateway-api 0.1.0 (revision 1a2b3c4d5e6f)`).
fn binary_version() -> (String, String) {
    let output = std::process::Command::new(crate::support::binaries::gateway())
        .arg("--version")
        .output()
        .expect("gateway-api --version runs");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let parsed = text
        .strip_prefix("gateway-api ")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|rest| rest.split_once(" (revision "));
    let (version, revision) = parsed.unwrap_or_else(|| panic!("unexpected --version: {text}"));
    (version.to_owned(), revision.to_owned())
}

fn dashboard_and_alert_expressions() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CHART}/files/dashboard.json")).expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|target| target["expr"].as_str().map(str::to_owned))
        .collect();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if let Some(query) = variable["query"]["query"].as_str() {
            exprs.push(
                query
                    .replace("label_values(", "(")
                    .replace(", namespace)", ")"),
            );
        }
    }
    // Alert expressions are folded YAML scalars: `expr: >-` then indented lines.
    let alerts = std::fs::read_to_string(format!("{CHART}/files/alerts.yaml")).expect("alerts");
    let mut lines = alerts.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let mut expr = rest.trim().trim_start_matches(">-").to_owned();
        while let Some(next) = lines.peek() {
            if next.len() - next.trim_start().len() <= indent || next.trim().is_empty() {
                break;
            }
            expr.push(' ');
            expr.push_str(next.trim());
            lines.next();
        }
        exprs.push(expr);
    }
    exprs
}

#[test]
fn the_expression_parser_finds_metric_names_only() {
    let names = metric_names(
        r#"sum by (le, namespace) (rate(http_requests_total{status=~"5.."}[5m])) / max(x_depth{q="a b"}) > 0.5 and deriv(y_total[15m]) > 0"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["http_requests_total", "x_depth", "y_total"]
    );
}

#[test]
fn the_webhook_ingress_routes_the_gateways_webhook_paths() {
    let helpers = std::fs::read_to_string(format!("{CHART}/templates/_helpers.tpl")).expect("tpl");
    for path in gateway_api::events::inbound::ALL_PATHS {
        assert!(
            helpers.contains(&format!("\"{path}\"")),
            "{path} is missing from wa-gateway.webhookPaths"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_is_measured_and_every_dashboard_metric_is_exposed_with_help() {
    let mut sim_config = SimConfig::for_tests(3);
    sim_config.result_ttl_ms = 60_000;
    sim_config.nxcloud.appkeys.insert(
        dev::NXCLOUD_APPKEY.to_owned(),
        vec!["8613800138024".into(), "14155550123".into()],
    );
    let sim = crate::support::sim::start(sim_config, "127.0.0.1:0")
        .await
        .expect("simulator starts");
    let app = spawn_app_with(config(&sim)).await;
    let status = app.status_url("").expect("the status listener runs");
    let t = token("acme", SCOPES);

    // Every vendor once: screening (>= 500 numbers), ekycpro, accuauth, NxCloud, wscrm accounts.
    json_job(&app, &t, indian(600, 0)).await;
    json_job(&app, &t, indian(120, 10_000)).await;
    let lookup = app
        .get("/v1/numbers/%2B51912340001?checks=registered", &t)
        .await;
    assert_eq!(
        lookup.status(),
        200,
        "{}",
        lookup.text().await.unwrap_or_default()
    );
    let again = app
        .get("/v1/numbers/%2B51912340001?checks=registered", &t)
        .await;
    assert_eq!(again.status(), 200, "a cache hit");
    assert_eq!(app.get("/v1/business-phones", &t).await.status(), 200);
    assert_eq!(app.get("/v1/pairing-targets", &t).await.status(), 200);
    // One vendor failure, and one rate-limit rejection.
    sim.set_fault(FaultSpec::new(FaultKind::ServerError).vendor("accuauth"))
        .expect("fault");
    let failed = app
        .get("/v1/numbers/%2B51912340002?checks=registered", &t)
        .await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let client = reqwest::Client::new();
    let admin = |path: &str| client.get(format!("{status}{path}")).bearer_auth(&t).send();
    assert_eq!(
        admin("/v1/admin/config").await.expect("admin").status(),
        200
    );
    assert_eq!(
        admin("/v1/admin/config").await.expect("admin").status(),
        429
    );

    // The gauges are read by a periodic task that starts with the application.
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = client
            .get(format!("{status}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if metrics.contains("vendor_circuit_state{") && metrics.contains("due_queue_depth{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let series: BTreeSet<&str> = metrics
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let helped: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    for name in &series {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| helped.contains(base))
            .unwrap_or(name);
        assert!(
            helped.contains(family),
            "`{name}` has no # HELP:\n{metrics}"
        );
    }
    for provider in [
        "wscrm_screening",
        "ekycpro",
        "accuauth",
        "nxcloud",
        "wscrm_accounts",
    ] {
        for metric in [
            "vendor_requests_total{",
            "vendor_request_duration_seconds_bucket{",
        ] {
            assert!(
                metrics
                    .lines()
                    .any(|l| l.starts_with(metric)
                        && l.contains(&format!("provider=\"{provider}\""))),
                "no {metric}..}} for {provider}:\n{metrics}"
            );
        }
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vendor_errors_total{")
                && l.contains("provider=\"accuauth\"")
                && l.contains("kind=\"vendor_unavailable\"")),
        "{metrics}"
    );
    let (version, revision) = binary_version();
    assert!(
        metrics.contains(&format!(
            "build_info{{version=\"{version}\",revision=\"{revision}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("rate_limit_rejections_total{class=\"admin\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("number_checks_cache_lookups_total{result=\"hit\"}"),
        "{metrics}"
    );

    let exprs = dashboard_and_alert_expressions();
    assert!(exprs.len() > 10, "{exprs:?}");
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in `{expr}`");
        for name in names {
            assert!(
                series.contains(name.as_str()),
                "`{name}` (in `{expr}`) is not exposed by /metrics:\n{metrics}"
            );
        }
    }
}
