//! Operations endpoints, Swagger UI served offline, and the committed OpenAPI document.

mod support;

use serde_json::Value;
use support::{spawn_app, spawn_app_with, token};

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"], "redis");
}

#[tokio::test]
async fn embedded_store_when_no_redis_url() {
    let app = spawn_app_with(serde_json::json!({"store": {"redis_url": null}})).await;
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["store"], "embedded");
}

#[tokio::test]
async fn metrics_count_requests_per_route_template() {
    let app = spawn_app().await;
    let _ = app.get("/v1/whoami", &token("acme", "numbers:read")).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/v1/whoami""#), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "a histogram, not a summary: {text}"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let redirect = app.client.get(app.url("/docs")).send().await.expect("docs");
    assert!(redirect.status().is_redirection());
    assert_eq!(
        redirect.headers().get("location").map(|v| v.as_bytes()),
        Some(&b"/docs/"[..])
    );
    let html = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("docs/");
    assert_eq!(html.status(), 200);
    let html = html.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = app
            .client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
        assert!(
            response.bytes().await.expect("bytes").len() > 100,
            "{asset}"
        );
    }
    // The page keeps the token over a reload and finds the document relative to itself, so a
    // path-prefix ingress (`/gw/docs/` → `/gw/openapi.json`) works.
    let initializer = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("initializer")
        .text()
        .await
        .expect("text");
    let compact: String = initializer.split_whitespace().collect();
    assert!(
        compact.contains(r#""persistAuthorization":true"#),
        "{initializer}"
    );
    assert!(
        compact.contains(r#""url":"../openapi.json""#),
        "{initializer}"
    );
    let served = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("spec");
    assert_eq!(
        served.headers()["content-type"],
        "application/json",
        "{served:?}"
    );
    let spec: Value = served.json().await.expect("json");
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The whole document, with the parts the extractors and middleware add.
    let built: Value =
        serde_json::to_value(gateway_api::openapi::document()).expect("the document encodes");
    assert!(spec == built, "the served document is not the built one");
}

#[test]
fn committed_openapi_matches_the_code() {
    let generated: Value = serde_json::from_str(
        &gateway_api::openapi::document()
            .to_pretty_json()
            .expect("json"),
    )
    .expect("parse");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json exists"))
            .expect("parse");
    assert!(
        generated == committed,
        "openapi/openapi.json is stale: run `make openapi` and commit it"
    );
}

#[test]
fn committed_error_table_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/errors.md");
    let committed = std::fs::read_to_string(path).expect("openapi/errors.md exists");
    assert!(
        committed == gateway_api::openapi::error_table_markdown(),
        "openapi/errors.md is stale: run `make openapi` and commit it"
    );
}

#[test]
fn every_operation_is_documented_with_examples_for_its_errors() {
    let spec: Value =
        serde_json::from_str(&gateway_api::openapi::document().to_json().expect("json"))
            .expect("parse");
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/v1/whoami") && paths.contains_key("/healthz"));
    for (path, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            assert!(
                op["summary"].is_string() || op["description"].is_string(),
                "{method} {path} has no text"
            );
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = &response["content"]["application/problem+json"];
                    // One `example`, or several named `examples`, each a problem.
                    let examples: Vec<&Value> = match content["examples"].as_object() {
                        Some(named) => named.values().map(|e| &e["value"]).collect(),
                        None => vec![&content["example"]],
                    };
                    assert!(
                        !examples.is_empty() && examples.iter().all(|e| e["code"].is_string()),
                        "{method} {path} {status} lacks a problem example"
                    );
                }
            }
        }
    }
}

#[test]
fn the_demo_configuration_loads_and_configures_every_vendor() {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/demo.toml"
    ));
    let config = gateway_api::config::Config::load(Some(path)).expect("config/demo.toml is valid");
    let state_providers = providers::build_number_checkers(&config.vendors, reqwest::Client::new())
        .expect("vendors build");
    let mut configured: Vec<String> = state_providers
        .providers()
        .iter()
        .map(|p| p.to_string())
        .collect();
    configured.sort();
    assert_eq!(
        configured,
        [
            "accuauth",
            "ekycpro",
            "nxcloud",
            "wscrm_accounts",
            "wscrm_screening"
        ]
    );
}

/// Descriptions come from doc comments; a Rust intra-doc link (`[`crate::X`]`) means nothing to
/// a reader of the API and must not leak into the document.
#[test]
fn the_document_holds_no_rust_doc_links() {
    let document = serde_json::to_string(&gateway_api::openapi::document()).expect("json");
    for marker in ["[`crate::", "[`super::", "[`Self", "[`domain::"] {
        assert!(
            !document.contains(marker),
            "a doc link `{marker}` is in the OpenAPI document"
        );
    }
}

/// Every `$ref` resolves (an unresolved one shows as a resolver error in Swagger UI and makes
/// generators drop the operation), and binary answers are `format: binary`, not integer arrays.
#[test]
fn every_reference_resolves_and_images_are_binary() {
    let document = serde_json::to_value(gateway_api::openapi::document()).expect("json");
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(
            document["components"]["schemas"].get(name).is_some(),
            "{reference} is not defined"
        );
    }
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses {
                let Some(png) = response["content"].get("image/png") else {
                    continue;
                };
                let schema = match png["schema"].get("$ref").and_then(Value::as_str) {
                    Some(r) => document["components"]["schemas"]
                        [r.trim_start_matches("#/components/schemas/")]
                    .clone(),
                    None => png["schema"].clone(),
                };
                assert_eq!(schema["type"], "string", "{method} {path} {status}");
                assert_eq!(schema["format"], "binary", "{method} {path} {status}");
            }
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.extend(v.as_str().map(str::to_owned));
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// What the extractors and middleware can answer is documented on every operation they guard:
/// a bearer route can be 401/403/429/503, a JSON body 400/413/415/422, a state-changing bearer
/// route takes `Idempotency-Key` and can be 409; `Problem.code` is the closed error table.
#[test]
fn shared_statuses_headers_and_codes_are_on_every_operation() {
    let document = serde_json::to_value(gateway_api::openapi::document()).expect("json");
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let responses = &operation["responses"];
            let has = |status: &str| responses.get(status).is_some();
            let bearer = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            let json_body = operation["requestBody"]["content"]
                .get("application/json")
                .is_some();
            if bearer {
                for status in ["401", "403", "429", "503"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
            if json_body {
                for status in ["400", "413", "415", "422"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
            if bearer && ["post", "put", "patch", "delete"].contains(&method.as_str()) {
                let takes_key = operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
                assert!(
                    takes_key,
                    "{method} {path} lacks the Idempotency-Key header"
                );
                assert!(has("409"), "{method} {path} lacks 409");
            }
            for (status, response) in responses.as_object().expect("responses") {
                assert!(
                    response["headers"].get("X-Request-Id").is_some(),
                    "{method} {path} {status} lacks X-Request-Id"
                );
            }
        }
    }
    let codes: Vec<String> = gateway_api::error::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let documented: Vec<String> = document["components"]["schemas"]["Problem"]["allOf"]
        .as_array()
        .expect("allOf")
        .iter()
        .find_map(|part| part["properties"]["code"]["enum"].as_array())
        .expect("Problem.code is an enum")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(documented, codes);
}

/// `gateway-api` with `args` and `env` on top of an environment without `GATEWAY_*` variables.
fn gateway_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gateway-api"));
    for (key, _) in std::env::vars() {
        if key.starts_with("GATEWAY_") {
            command.env_remove(key);
        }
    }
    command.args(args).envs(env.iter().copied());
    command.output().expect("the binary runs")
}

#[test]
fn check_config_reports_every_problem_with_its_variable_and_fails() {
    let dir = std::env::temp_dir().join(format!("check-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        "[auth]\nallow_dev_secret = true\nissuerr = \"typo\"\n",
    )
    .expect("file");
    let output = gateway_command(
        &["--config", file.to_str().expect("utf-8"), "check-config"],
        &[
            ("GATEWAY_SERVER__WORKERS", "many"),
            ("GATEWAY_STORE__POOL_SIZE", "0"),
            ("GATEWAY_LIMITS__OUTBOUND_TIMEOUT", "soon"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for expected in [
        "`server.workers` (GATEWAY_SERVER__WORKERS)",
        "`auth.issuerr` (GATEWAY_AUTH__ISSUERR): unknown key",
        "`limits.outbound_timeout` (GATEWAY_LIMITS__OUTBOUND_TIMEOUT)",
        "gateway.toml",
    ] {
        assert!(stderr.contains(expected), "`{expected}` in:\n{stderr}");
    }
    assert!(!stderr.contains("SERVER.WORKERS"), "{stderr}");

    // A section whose values parse is validated too, in the same run.
    let output = gateway_command(
        &["check-config"],
        &[
            ("GATEWAY_STORE__POOL_SIZE", "0"),
            ("GATEWAY_AUTH__LEEWAY", "5m"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for expected in [
        "`store.pool_size` (GATEWAY_STORE__POOL_SIZE): at least 1",
        "`auth.leeway` (GATEWAY_AUTH__LEEWAY): at most 60 s",
        "`auth.hs256_secrets` (GATEWAY_AUTH__HS256_SECRETS)",
    ] {
        assert!(stderr.contains(expected), "`{expected}` in:\n{stderr}");
    }

    let output = gateway_command(
        &["--config", file.to_str().expect("utf-8"), "check-config"],
        &[("GATEWAY_AUTH__ISSUER", "https://idp.example")],
    );
    assert_eq!(
        output.status.code(),
        Some(2),
        "the file's typo still counts"
    );
    std::fs::write(&file, "[auth]\nallow_dev_secret = true\n").expect("file");
    let output = gateway_command(
        &["--config", file.to_str().expect("utf-8"), "check-config"],
        &[("GATEWAY_SERVER__ADMIN_LISTEN", "127.0.0.1:9090")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_refuses_a_bad_configuration_with_the_same_words() {
    let checked = gateway_command(&["check-config"], &[("GATEWAY_STORE__POOL_SIZE", "0")]);
    let served = gateway_command(&["serve"], &[("GATEWAY_STORE__POOL_SIZE", "0")]);
    assert_eq!(served.status.code(), Some(2));
    let checked = String::from_utf8_lossy(&checked.stderr);
    let served = String::from_utf8_lossy(&served.stderr);
    assert!(
        checked.contains("GATEWAY_STORE__POOL_SIZE") && checked == served,
        "check-config:\n{checked}\nserve:\n{served}"
    );
}

#[test]
fn version_names_the_source_revision() {
    let output = gateway_command(&["--version"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout.starts_with(&format!(
            "gateway-api {} (revision ",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(gateway_api::build_info::REVISION),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_status_listener_takes_probes_metrics_and_admin_off_the_public_port() {
    let app = spawn_app_with(serde_json::json!({"server": {"admin_listen": "127.0.0.1:0"}})).await;
    let status = |path: &str| app.status_url(path).expect("a status listener");
    let admin = token("acme", "admin numbers:read");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = app.client.get(status(path)).send().await.expect("status");
        assert_eq!(response.status(), 200, "{path} on the status port");
        let response = app.client.get(app.url(path)).send().await.expect("public");
        support::expect_problem(response, 404, "route_not_found").await;
    }
    let config = app
        .client
        .get(status("/v1/admin/config"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("admin");
    assert_eq!(config.status(), 200);
    let public = app.get("/v1/admin/config", &admin).await;
    support::expect_problem(public, 404, "route_not_found").await;
    // The API stays on the public port only.
    assert_eq!(app.get("/v1/whoami", &admin).await.status(), 200);
    let on_status = app
        .client
        .get(status("/v1/whoami"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("whoami");
    support::expect_problem(on_status, 404, "route_not_found").await;
    assert_eq!(
        app.client
            .get(app.url("/docs/"))
            .send()
            .await
            .expect("docs")
            .status(),
        200
    );
}

#[tokio::test]
async fn admin_config_shows_every_section_with_every_secret_redacted() {
    const SECRETS: [&str; 6] = [
        "hs256-secret-that-must-not-show-0123456789",
        "accuauth-api-secret-value",
        "nxcloud-access-secret-value",
        "wscrm-header-secret-value",
        "whsec_Y2FsbGJhY2stc2lnbmluZy1zZWNyZXQtdmFsdWU=",
        "vendor-webhook-secret-value",
    ];
    let app = spawn_app_with(serde_json::json!({
        "auth": {"hs256_secrets": [SECRETS[0]]},
        "vendors": {
            "accuauth": {"base_url": "https://accuauth.example", "api_id": "id-1", "api_secret": SECRETS[1]},
            "nxcloud": {"base_url": "https://nxcloud.example", "access_key": "ak", "access_secret": SECRETS[2],
                        "appkey": "app-1"},
            "wscrm": {"bus_api_base_url": "https://wscrm.example/wscrm-bus-api",
                      "auth_headers": {"X-Token": SECRETS[3]}}
        },
        "number_checks": {"callback_secrets": {"acme": SECRETS[4]}},
        "events": {"webhook_secret": SECRETS[5]}
    }))
    .await;
    let response = app.get("/v1/admin/config", &token("acme", "admin")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let text = body.to_string();
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` leaked: {text}");
    }
    let config = &body["config"];
    for section in [
        "server",
        "store",
        "auth",
        "log",
        "limits",
        "vendors",
        "number_checks",
        "accounts",
        "events",
    ] {
        assert!(config[section].is_object(), "no `{section}`: {body}");
    }
    assert_eq!(
        config["auth"]["hs256_secrets"],
        serde_json::json!(["[redacted]"])
    );
    assert_eq!(config["store"]["redis_url"], "[redacted]");
    assert_eq!(config["vendors"]["accuauth"]["api_secret"], "[redacted]");
    assert_eq!(config["vendors"]["accuauth"]["api_id"], "[redacted]");
    assert_eq!(config["vendors"]["nxcloud"]["appkey"], "app-1");
    assert_eq!(
        config["vendors"]["wscrm"]["auth_headers"]["X-Token"],
        "[redacted]"
    );
    assert_eq!(
        config["number_checks"]["callback_secrets"]["acme"],
        "[redacted]"
    );
    assert_eq!(config["events"]["webhook_secret"], "[redacted]");
    assert_eq!(config["log"]["level"], "warn");
    assert_eq!(config["server"]["drain_timeout"], "5s");
    assert_eq!(body["store_backend"], "redis");
    assert_eq!(body["revision"], gateway_api::build_info::REVISION);
}
