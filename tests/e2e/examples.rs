//! Every request example of the OpenAPI document, sent to the demo (`make run`: the gateway with
//! `config/demo.toml` in front of the simulator with `config/demo-sim.toml`, embedded store),
//! answers the status the document lists for it; the number-check example ends `completed`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use vendor_sim::SimConfig;

use crate::support::process::GatewayProcess;

/// Every scope the demo's printed token has.
const DEMO_SCOPES: &str = "numbers:read numbers:check accounts:read accounts:write sessions:write actions:write business:read events:read events:write admin";

/// The operations with a request example, in the order a newcomer would try them (an account
/// is imported before it is used and recycled last), with the status their example answers.
const EXAMPLES: &[(&str, &str, u16)] = &[
    ("post", "/v1/number-checks", 202),
    ("post", "/v1/subscriptions", 201),
    ("post", "/v1/accounts", 201),
    ("post", "/v1/accounts/online", 202),
    ("post", "/v1/accounts/profile", 200),
    ("post", "/v1/registrations", 201),
    ("post", "/v1/registrations/{id}/verification-code", 200),
    ("post", "/v1/sessions", 201),
    ("post", "/v1/sessions/{id}/pair-code", 200),
    ("post", "/v1/scan-tasks", 201),
    ("post", "/v1/chat-actions", 202),
    ("post", "/v1/accounts/recycle", 200),
    ("post", "/api/callback/whatsapp/onlineStatus", 200),
    ("post", "/callback/gsTask/syncWhatsAppStatus", 200),
    ("post", "/group-dispatch-api/register/syncStatus", 200),
    ("post", "/wscrm-bus-api/open/qrCode/syncLoginStatus", 200),
    ("post", "/wscrm-bus-api/open/qrCodeTask/syncStatus", 200),
];

fn repo_file(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn toml_file(relative: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_file(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Replaces `from` by `to` in every string of `value`.
fn rewrite(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| rewrite(v, from, to)),
        _ => {}
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Demo {
    gateway: String,
    config: Value,
    client: reqwest::Client,
    _gateway: GatewayProcess,
    _sim: crate::support::sim::RunningSim,
    _dir: tempfile::TempDir,
}

/// Ports tried for the demo's gateway before the test gives up.
const PORT_ATTEMPTS: usize = 8;

/// The demo as `scripts/demo.sh` starts it, on free ports instead of 8080 and 9090. The
/// simulator must know the gateway's address before the gateway starts, so the gateway's port
/// is chosen free and then bound by another process: when something took it meanwhile, the
/// demo starts again on another one.
async fn start_demo() -> Demo {
    for _ in 0..PORT_ATTEMPTS {
        if let Some(demo) = start_demo_on(free_port()).await {
            return demo;
        }
    }
    panic!("the demo's gateway found its port taken {PORT_ATTEMPTS} times");
}

/// The demo with its gateway on `gateway_port`; `None` when that port was taken.
async fn start_demo_on(gateway_port: u16) -> Option<Demo> {
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    let mut sim_config = toml_file("config/demo-sim.toml");
    rewrite(&mut sim_config, "http://127.0.0.1:8080", &gateway);
    let sim_config: SimConfig = serde_json::from_value(sim_config).expect("simulator config");
    let sim = crate::support::sim::start(sim_config, "127.0.0.1:0")
        .await
        .expect("simulator starts");

    let mut config = toml_file("config/demo.toml");
    rewrite(&mut config, "http://127.0.0.1:9090", sim.base_url());
    config["server"]["listen"] = json!(format!("127.0.0.1:{gateway_port}"));
    // Quiet, but with the start-up line that says the port is bound.
    config["log"] = json!({"level": "warn,gateway_api::startup=info", "format": "json"});
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("demo.toml");
    std::fs::write(&file, toml::to_string(&config).expect("TOML")).expect("demo config written");
    let process = match GatewayProcess::try_start(Some(&file), &[]).await {
        Ok(process) => process,
        Err(early) if early.output.contains("Address already in use") => return None,
        Err(early) => panic!(
            "the demo's gateway exited early ({}):\n{}",
            early.status, early.output
        ),
    };
    Some(Demo {
        gateway,
        config,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        _gateway: process,
        _sim: sim,
        _dir: dir,
    })
}

/// The operations of the document that carry a request example (body or parameter).
fn operations_with_examples(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if request_body_example(document, operation).is_some()
                || parameters(operation).any(|p| p.get("example").is_some())
            {
                found.insert((method.clone(), path.clone()));
            }
        }
    }
    found
}

fn parameters(operation: &Value) -> impl Iterator<Item = &Value> {
    operation["parameters"].as_array().into_iter().flatten()
}

fn request_body_example(document: &Value, operation: &Value) -> Option<Value> {
    let content = &operation["requestBody"]["content"]["application/json"];
    if let Some(example) = content.get("example") {
        return Some(example.clone());
    }
    let schema = content["schema"]["$ref"]
        .as_str()?
        .trim_start_matches("#/components/schemas/");
    document["components"]["schemas"][schema]
        .get("example")
        .cloned()
}

/// The request of one example. A path parameter without an example takes the id its parent
/// collection answered when its own example was sent (`/v1/sessions/{id}/…` → `POST /v1/sessions`).
fn build_request(
    demo: &Demo,
    document: &Value,
    method: &str,
    template: &str,
    created: &HashMap<String, String>,
) -> Result<reqwest::RequestBuilder, String> {
    let operation = &document["paths"][template][method];
    let mut path = template.to_owned();
    let mut query = Vec::new();
    for parameter in parameters(operation) {
        let name = parameter["name"].as_str().expect("name");
        let example = parameter.get("example").map(|e| match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        match parameter["in"].as_str() {
            Some("path") => {
                let placeholder = format!("{{{name}}}");
                let collection = &template[..template.find(&placeholder).unwrap_or(1) - 1];
                let value = example
                    .or_else(|| created.get(collection).cloned())
                    .ok_or_else(|| format!("nothing created at {collection} gives `{name}`"))?;
                path = path.replace(&placeholder, &value);
            }
            Some("query") => query.extend(example.map(|v| (name.to_owned(), v))),
            _ => {}
        }
    }
    let url = format!("{}{path}", demo.gateway);
    let mut request = demo
        .client
        .request(method.to_uppercase().parse().expect("method"), url)
        .query(&query);
    let security = operation["security"].as_array().into_iter().flatten();
    for requirement in security {
        if requirement.get("bearer").is_some() {
            request = request.bearer_auth(crate::support::token("demo", DEMO_SCOPES));
        }
        if requirement.get("webhook_secret").is_some() {
            let secret = demo.config["events"]["webhook_secret"]
                .as_str()
                .expect("the demo's webhook secret");
            request = request.header("X-Webhook-Secret", secret);
        }
    }
    if let Some(body) = request_body_example(document, operation) {
        request = request.json(&body);
    }
    Ok(request)
}

async fn wait_for_job(demo: &Demo, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = demo
            .client
            .get(format!("{}/v1/number-checks/{id}", demo.gateway))
            .bearer_auth(crate::support::token("demo", DEMO_SCOPES))
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("job json");
        if ["completed", "completed_with_errors", "failed"]
            .contains(&job["status"].as_str().unwrap_or_default())
        {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not finish: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_example_answers_its_documented_status_in_the_demo() {
    let demo = start_demo().await;
    let document: Value = demo
        .client
        .get(format!("{}/openapi.json", demo.gateway))
        .send()
        .await
        .expect("the API document")
        .json()
        .await
        .expect("the API document is JSON");
    let listed: BTreeSet<(String, String)> = EXAMPLES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        operations_with_examples(&document),
        listed,
        "every operation with a request example is tried here, and only those"
    );

    let mut created: HashMap<String, String> = HashMap::new();
    let mut failures = Vec::new();
    for &(method, template, expected) in EXAMPLES {
        let documented = &document["paths"][template][method]["responses"];
        assert!(
            documented.get(expected.to_string()).is_some() && (200..300).contains(&expected),
            "{method} {template}: {expected} is a documented success"
        );
        let request = match build_request(&demo, &document, method, template, &created) {
            Ok(request) => request,
            Err(why) => {
                failures.push(format!("{method} {template}: {why}"));
                continue;
            }
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != expected {
            failures.push(format!("{method} {template}: {status} {body}"));
            continue;
        }
        if let Some(id) = body["id"].as_str() {
            created.insert(template.to_owned(), id.to_owned());
        }
        if template == "/v1/number-checks" {
            let job = wait_for_job(&demo, body["id"].as_str().expect("job id")).await;
            if job["status"] != "completed" {
                failures.push(format!("the number-check example ended {job}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_whose_port_was_taken_meanwhile_is_started_again() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let port = taken.local_addr().expect("its address").port();
    assert!(
        start_demo_on(port).await.is_none(),
        "a gateway on a taken port is reported as such"
    );
    let demo = start_demo().await;
    let ready = demo
        .client
        .get(format!("{}/readyz", demo.gateway))
        .send()
        .await
        .expect("the demo answers");
    assert_eq!(ready.status(), 200);
}
