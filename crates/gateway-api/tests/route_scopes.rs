//! The scope each operation documents is the scope its extractor enforces: for every operation
//! of the OpenAPI document with a bearer scope, a token with every other scope is refused with
//! 403 `insufficient_scope` naming that scope, and a token with just that scope is not.

mod support;

use gateway_api::auth::Scope;
use serde_json::{Value, json};
use support::{spawn_app_with, token};

fn operations() -> Vec<(String, String, String)> {
    let document = serde_json::to_value(gateway_api::openapi::document()).expect("openapi");
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let Some(security) = operation["security"].as_array() else {
                continue;
            };
            for requirement in security {
                // `bearer` with no scope: any valid token (whoami).
                if let Some(scopes) = requirement["bearer"].as_array().filter(|s| !s.is_empty()) {
                    assert_eq!(scopes.len(), 1, "{method} {path} names one scope");
                    out.push((
                        method.to_uppercase(),
                        path.replace("{id}", "x")
                            .replace("{number}", "%2B14155550123")
                            .replace("{delivery_id}", "x"),
                        scopes[0].as_str().expect("scope").to_owned(),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn every_documented_scope_is_the_enforced_one() {
    let app = spawn_app_with(json!({
        "accounts": {"tenants": {"acme": {"wscrm_tenant_id": 1}}},
        "limits": {"rate_limits": {"default": {"requests": 100000, "per": "1m"}}}
    }))
    .await;
    let operations = operations();
    assert!(operations.len() > 20, "{operations:?}");
    for (method, path, scope) in operations {
        let others: Vec<&str> = Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .filter(|s| *s != scope)
            .collect();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let call = |scopes: String| {
            app.client
                .request(method.clone(), app.url(&path))
                .bearer_auth(token("acme", &scopes))
                .header("content-type", "application/json")
                .body("{}")
                .send()
        };
        let refused = call(others.join(" ")).await.expect("call");
        let status = refused.status().as_u16();
        let body: Value = refused.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (
                status,
                body["code"].as_str(),
                body["required_scope"].as_str()
            ),
            (403, Some("insufficient_scope"), Some(scope.as_str())),
            "{method} {path} documents `{scope}`: {body}"
        );
        let allowed = call(scope.clone()).await.expect("call");
        let status = allowed.status().as_u16();
        if status == 200 && path.ends_with("/stream") {
            continue; // an open event stream: allowed, and it never ends
        }
        let body: Value = allowed.json().await.unwrap_or(Value::Null);
        assert!(
            body["code"] != "insufficient_scope",
            "{method} {path} refuses its documented scope `{scope}` ({status}): {body}"
        );
    }
}

/// Every (method, path) of the document the gateway serves, with its parameters filled in.
async fn served_operations(app: &support::TestApp) -> Vec<(reqwest::Method, String, String)> {
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("item").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                .expect("an HTTP method");
            out.push((method, path.clone(), concrete.clone()));
        }
    }
    out
}

/// The code of a problem answer; None for any other answer (an event stream is never read).
async fn problem_code(response: reqwest::Response) -> Option<String> {
    let is_problem = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("problem+json"));
    if !is_problem {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["code"].as_str().map(str::to_owned)
}

/// Routes are registered twice: once into the document, once into each serving worker. Any
/// documented operation a worker did not register would fall through to the fallback, which
/// answers `method_not_allowed` (the path is documented) or `route_not_found`.
async fn assert_every_operation_is_served(app: &support::TestApp, url_of: impl Fn(&str) -> String) {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let bearer = token("acme", &scopes.join(" "));
    let operations = served_operations(app).await;
    assert!(operations.len() > 40, "{operations:?}");
    for (method, documented, path) in operations {
        let response = app
            .client
            .request(method.clone(), url_of(&path))
            .bearer_auth(&bearer)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("call");
        let code = problem_code(response).await;
        assert!(
            !matches!(
                code.as_deref(),
                Some("route_not_found" | "method_not_allowed")
            ),
            "{method} {documented} is documented but not served: {code:?}"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_on_one_listener() {
    let app = spawn_app_with(json!({
        "accounts": {"tenants": {"acme": {"wscrm_tenant_id": 1}}},
        "limits": {"rate_limits": {"default": {"requests": 100000, "per": "1m"}}}
    }))
    .await;
    assert_every_operation_is_served(&app, |path| app.url(path)).await;
}

#[tokio::test]
async fn every_documented_operation_is_served_with_a_status_listener() {
    let app = spawn_app_with(json!({
        "server": {"admin_listen": "127.0.0.1:0"},
        "accounts": {"tenants": {"acme": {"wscrm_tenant_id": 1}}},
        "limits": {"rate_limits": {"default": {"requests": 100000, "per": "1m"}}}
    }))
    .await;
    assert_every_operation_is_served(&app, |path| {
        if gateway_api::routes::is_status_path(path) {
            app.status_url(path).expect("a status listener")
        } else {
            app.url(path)
        }
    })
    .await;
}
