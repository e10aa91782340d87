//! The one harness of the end-to-end suites: the real gateway binary on a free port with its own
//! Redis key prefix, configured by a file as an operator would; tokens; problem checks.

pub mod binaries;
pub mod engines;
pub mod number_checks;
pub mod process;
pub mod sim;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gateway_api::config::{Config, DEV_JWT_SECRET};
use gateway_api::store::{Store, StoreSettings};
use secrecy::SecretString;
use serde_json::{Value, json};

use process::GatewayProcess;

/// How long a stopping gateway may take to drain and exit.
const STOP_WITHIN: Duration = Duration::from_secs(30);

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn random_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// Test configuration: dev secret, one worker, a fresh Redis prefix, then `overrides` merged in
/// (a `null` removes a key).
pub fn test_settings(overrides: Value) -> Value {
    let mut base = json!({
        "server": {"listen": "127.0.0.1:0", "workers": 1, "drain_timeout": "5s"},
        // Room for a shared, busy CI machine: a store command that times out is a 503, not
        // what these suites are about (the crate's store tests cover timeouts).
        "store": {"redis_url": redis_url(), "key_prefix": random_prefix(), "command_timeout": "5s"},
        "auth": {"allow_dev_secret": true},
        // The start-up line says which ports were bound; everything else only when it matters.
        "log": {"level": "warn,gateway_api::startup=info", "format": "json"}
    });
    merge(&mut base, store_overrides());
    merge(&mut base, overrides);
    base
}

/// The store the suites' apps use: the standalone server at [`redis_url`], or with
/// `E2E_STORE=cluster` this binary's shared 3+3 Redis Cluster (`make test` runs the number-check
/// and events suites so; apps configured through environment variables instead of this file
/// stay on the standalone server, so those suites start every app through [`spawn_app_with`]).
fn store_overrides() -> Value {
    match std::env::var("E2E_STORE").as_deref() {
        Ok("cluster") => engines::cluster_store(engines::shared_cluster()),
        Ok("standalone" | "") | Err(_) => json!({}),
        Ok(other) => panic!("E2E_STORE={other}: expected standalone or cluster"),
    }
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

/// The configuration file every replica of one test app reads.
#[derive(Debug)]
struct ConfigFile {
    dir: tempfile::TempDir,
}

impl ConfigFile {
    fn write(settings: &Value) -> ConfigFile {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let toml = toml::to_string(settings).expect("the settings are TOML");
        std::fs::write(dir.path().join("gateway.toml"), toml).expect("the config file is written");
        ConfigFile { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }
}

/// One gateway replica, a real process.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    /// The status listener (`server.admin_listen`), when configured.
    pub status_address: Option<String>,
    /// The configuration the process was started with, as the gateway reads it.
    pub config: Config,
    /// A handle on the same Redis and key prefix, for assertions on what the gateway stored.
    pub store: Store,
    pub client: reqwest::Client,
    pub process: GatewayProcess,
    file: Arc<ConfigFile>,
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

    pub fn token(&self, tenant: &str, scopes: &str) -> String {
        token(tenant, scopes)
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Stops the replica the way an orchestrator does (SIGTERM) and waits until it has exited.
    pub async fn stop(&self) {
        self.process.sigterm();
        let code = self.process.wait_exit(STOP_WITHIN).await;
        assert!(
            code.is_some(),
            "the gateway did not exit within {STOP_WITHIN:?}:\n{}",
            self.process.output()
        );
    }
}

pub async fn spawn_app_with(overrides: Value) -> TestApp {
    let settings = test_settings(overrides);
    let config = Config::with_overrides(&settings).expect("test config is valid");
    start(Arc::new(ConfigFile::write(&settings)), config).await
}

/// A second replica reading the first one's configuration file (same Redis, same prefix).
pub async fn spawn_sibling(of: &TestApp) -> TestApp {
    start(of.file.clone(), of.config.clone()).await
}

async fn start(file: Arc<ConfigFile>, config: Config) -> TestApp {
    let process = GatewayProcess::start(Some(&file.path()), &[]).await;
    let address = format!("http://127.0.0.1:{}", process.port);
    let status_address = process
        .status_port
        .map(|port| format!("http://127.0.0.1:{port}"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        address,
        status_address,
        store: store_of(&config).await,
        config,
        client,
        process,
        file,
    }
}

async fn store_of(config: &Config) -> Store {
    Store::connect(&StoreSettings {
        command_timeout: Duration::from_secs(5),
        pool_size: 1,
        ..config.store.settings()
    })
    .await
    .expect("the test's store handle connects")
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
