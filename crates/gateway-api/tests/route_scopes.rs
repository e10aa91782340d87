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
