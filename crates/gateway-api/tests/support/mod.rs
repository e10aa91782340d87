//! Shared helpers of the crate's integration tests: start the gateway in-process on
//! `127.0.0.1:0` with its own Redis key prefix, mint tokens, read problems. The end-to-end
//! suites (real binaries, the simulator) have their own harness in the top-level `tests/e2e`.
#![allow(dead_code)]

pub mod counting_proxy;
pub mod fake_redis;
pub mod holding_proxy;
pub mod process;

use std::time::Duration;

use gateway_api::config::{Config, DEV_JWT_SECRET};
use gateway_api::startup::Application;
use secrecy::SecretString;
use serde_json::{Value, json};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn random_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// Test configuration: dev secret, one worker, a fresh Redis prefix, then `overrides` merged in.
pub fn test_config(overrides: Value) -> Config {
    let mut base = json!({
        "server": {"listen": "127.0.0.1:0", "workers": 1, "drain_timeout": "5s"},
        "store": {"redis_url": redis_url(), "key_prefix": random_prefix()},
        "auth": {"allow_dev_secret": true},
        "log": {"level": "warn"}
    });
    merge(&mut base, overrides);
    Config::with_overrides(base).expect("test config is valid")
}

fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                if value.is_null() {
                    base.remove(&key);
                } else {
                    merge(base.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (base, overrides) => *base = overrides,
    }
}

#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    /// The status listener (`server.admin_listen`), when configured.
    pub status_address: Option<String>,
    pub config: Config,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A URL on the status listener, when the app has one.
    pub fn status_url(&self, path: &str) -> Option<String> {
        self.status_address
            .as_ref()
            .map(|address| format!("{address}{path}"))
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(json!({})).await
}

pub async fn spawn_app_with(overrides: Value) -> TestApp {
    let config = test_config(overrides);
    let app = Application::build(config.clone())
        .await
        .expect("app builds");
    start(app, config)
}

/// A second instance sharing the first one's store configuration (same Redis, same prefix).
pub async fn spawn_sibling(of: &TestApp) -> TestApp {
    let config = of.config.clone();
    let app = Application::build(config.clone())
        .await
        .expect("app builds");
    start(app, config)
}

/// An instance with exactly `config` (e.g. a sibling's, pointed at another Redis URL).
pub async fn spawn_configured(config: Config) -> TestApp {
    let app = Application::build(config.clone())
        .await
        .expect("app builds");
    start(app, config)
}

fn start(app: Application, config: Config) -> TestApp {
    let address = format!("http://127.0.0.1:{}", app.port());
    let status_address = app
        .status_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        address,
        status_address,
        config,
        client,
    }
}

/// A development token for `tenant` with `scopes`, valid for an hour.
pub fn token(tenant: &str, scopes: &str) -> String {
    let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
    gateway_api::auth::mint_dev_token(
        &SecretString::from(DEV_JWT_SECRET),
        tenant,
        &scopes,
        Some("test"),
        Duration::from_secs(3600),
        None,
        None,
    )
    .expect("token")
}

/// Asserts an RFC 9457 problem with `status` and `code`, returning its body.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "content type");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].as_str().is_some_and(|t| t.ends_with(code)),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    body
}
