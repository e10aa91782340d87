//! Configuration: built-in defaults, then an optional file, then `GATEWAY_` environment variables.
//!
//! Nested keys use `__` in the environment: `GATEWAY_STORE__REDIS_URL`, `GATEWAY_AUTH__ISSUER`.
//! The whole configuration is validated once at start; a bad value stops the process with a
//! message naming the key. Secrets are `SecretString`, so `Debug` never prints them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The development HS256 secret used when nothing else is configured. `serve` refuses to start
/// with it unless `auth.allow_dev_secret` is set, so it can never reach production by accident.
pub const DEV_JWT_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub limits: LimitsConfig,
    /// Vendor base URLs and credentials; a vendor without a section is not used.
    #[serde(default)]
    pub vendors: providers::ProvidersConfig,
    #[serde(default)]
    pub number_checks: crate::number_checks::NumberChecksConfig,
    #[serde(default)]
    pub accounts: crate::accounts::AccountsConfig,
    #[serde(default)]
    pub events: crate::events::EventsConfig,
    #[serde(default)]
    pub traces: crate::telemetry::TracesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:8080`.
    pub listen: String,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Public base URL shown in logs and the demo banner (defaults to `http://{listen}`).
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `redis://` or `rediss://` URL. Absent: the embedded single-replica store.
    pub redis_url: Option<SecretString>,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Upper bound of any single store command, so a slow Redis never hangs a request.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Redis connections per replica; each is multiplexed: the commands of every request are
    /// pipelined over it, so a few suffice.
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Algorithms a token may use. Anything else is refused before any key is looked at.
    pub algorithms: Vec<String>,
    /// HS256 secrets (the first one signs development tokens; more allow rotation).
    pub hs256_secrets: Vec<SecretString>,
    /// Allows the built-in development secret (demo and tests only).
    pub allow_dev_secret: bool,
    /// JWKS document for RS256 / ES256 keys.
    pub jwks_url: Option<String>,
    /// Unknown `kid`s trigger a JWKS refresh at most this often.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refresh: Duration,
    /// Cached JWKS is refreshed in the background after this long.
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` / `nbf` (at most 60 s).
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Issuer and audience put into tokens minted by `gateway-api token`.
    pub dev_token_issuer: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `info,gateway_api=debug`.
    pub level: String,
}

/// A number of requests allowed per window, per tenant.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u64,
    #[serde(with = "humantime_serde")]
    pub per: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted JSON body.
    pub max_body_bytes: usize,
    /// Per-tenant limits by route class (the scope a route requires); `default` applies otherwise.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// How long an `Idempotency-Key` is remembered.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// Timeout of every outbound HTTP call.
    #[serde(with = "humantime_serde")]
    pub outbound_timeout: Duration,
}

/// Built-in defaults as a TOML document: readable, and the same format as a config file.
const DEFAULTS: &str = r#"
[server]
listen = "127.0.0.1:8080"
workers = 0
drain_timeout = "20s"

[store]
key_prefix = "wagw:"
command_timeout = "500ms"
pool_size = 4

[auth]
algorithms = ["HS256"]
hs256_secrets = []
allow_dev_secret = false
jwks_min_refresh = "60s"
jwks_max_age = "15m"
leeway = "30s"

[log]
format = "pretty"
level = "info"

[limits]
max_body_bytes = 33554432
idempotency_ttl = "24h"
outbound_timeout = "15s"

[limits.rate_limits.default]
requests = 1200
per = "1m"

[limits.rate_limits."numbers:check"]
requests = 120
per = "1m"
"#;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Defaults, then `file` if given, then `GATEWAY_*` variables; validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid {
                    key: "--config",
                    message: format!("file {} does not exist", file.display()),
                });
            }
            figment = figment.merge(Toml::file(file));
        }
        // `GATEWAY_CONFIG` names the file itself (read by the CLI), so it is not a key.
        figment = figment.merge(Env::prefixed("GATEWAY_").ignore(&["config"]).split("__"));
        Self::from_figment(figment)
    }

    /// Defaults merged with the given overrides (tests and embedding).
    pub fn with_overrides<T: Serialize>(overrides: T) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::from(Toml::string(DEFAULTS)).merge(Serialized::defaults(overrides)),
        )
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
            ConfigError::Invalid {
                key,
                message: message.into(),
            }
        }
        self.server
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| invalid("server.listen", format!("not a socket address: {e}")))?;
        if self.server.drain_timeout > Duration::from_secs(600) {
            return Err(invalid("server.drain_timeout", "at most 10 minutes"));
        }
        if let Some(url) = &self.store.redis_url {
            let parsed = url::Url::parse(url.expose_secret())
                .map_err(|_| invalid("store.redis_url", "not a URL"))?;
            if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                return Err(invalid(
                    "store.redis_url",
                    "scheme must be redis:// or rediss://",
                ));
            }
        }
        if self.store.command_timeout.is_zero()
            || self.store.command_timeout > Duration::from_secs(30)
        {
            return Err(invalid("store.command_timeout", "between 1 ms and 30 s"));
        }
        if self.store.pool_size == 0 {
            return Err(invalid("store.pool_size", "at least 1"));
        }
        if self.auth.algorithms.is_empty() {
            return Err(invalid("auth.algorithms", "at least one algorithm"));
        }
        for alg in &self.auth.algorithms {
            if !matches!(alg.as_str(), "HS256" | "RS256" | "ES256") {
                return Err(invalid(
                    "auth.algorithms",
                    format!("`{alg}` is not one of HS256, RS256, ES256"),
                ));
            }
        }
        let wants_hs = self.auth.algorithms.iter().any(|a| a == "HS256");
        let wants_asym = self.auth.algorithms.iter().any(|a| a != "HS256");
        if wants_hs && self.auth.hs256_secrets.is_empty() && !self.auth.allow_dev_secret {
            return Err(invalid(
                "auth.hs256_secrets",
                "HS256 is allowed but no secret is configured (set GATEWAY_AUTH__HS256_SECRETS or allow_dev_secret for development)",
            ));
        }
        for secret in &self.auth.hs256_secrets {
            if secret.expose_secret().len() < 32 {
                return Err(invalid(
                    "auth.hs256_secrets",
                    "each secret needs at least 32 bytes",
                ));
            }
        }
        if wants_asym && self.auth.jwks_url.is_none() {
            return Err(invalid(
                "auth.jwks_url",
                "RS256/ES256 are allowed but no JWKS URL is configured",
            ));
        }
        if let Some(jwks) = &self.auth.jwks_url {
            let parsed =
                url::Url::parse(jwks).map_err(|_| invalid("auth.jwks_url", "not a URL"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(invalid("auth.jwks_url", "must be http(s)"));
            }
        }
        if self.auth.leeway > Duration::from_secs(60) {
            return Err(invalid("auth.leeway", "at most 60 s"));
        }
        if self.limits.max_body_bytes < 1024 {
            return Err(invalid("limits.max_body_bytes", "at least 1024"));
        }
        for (class, limit) in &self.limits.rate_limits {
            if limit.requests == 0 || limit.per.is_zero() {
                return Err(ConfigError::Invalid {
                    key: "limits.rate_limits",
                    message: format!("`{class}`: requests and per must be positive"),
                });
            }
        }
        if !self.limits.rate_limits.contains_key("default") {
            return Err(invalid(
                "limits.rate_limits",
                "a `default` entry is required",
            ));
        }
        if self.limits.outbound_timeout.is_zero() {
            return Err(invalid("limits.outbound_timeout", "must be positive"));
        }
        self.events
            .validate()
            .map_err(|(key, message)| invalid(key, message))?;
        self.number_checks
            .validate()
            .map_err(|(key, message)| invalid(key, message))?;
        self.traces
            .validate()
            .map_err(|(key, message)| invalid(key, message))?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", e.to_string()))?;
        Ok(())
    }

    /// The HS256 secrets in force, the development one included when allowed.
    pub fn hs256_secrets(&self) -> Vec<SecretString> {
        let mut secrets = self.auth.hs256_secrets.clone();
        if self.auth.allow_dev_secret {
            secrets.push(SecretString::from(DEV_JWT_SECRET));
        }
        secrets
    }

    pub fn rate_limit_for(&self, class: &str) -> RateLimit {
        self.limits
            .rate_limits
            .get(class)
            .or_else(|| self.limits.rate_limits.get("default"))
            .copied()
            .unwrap_or(RateLimit {
                requests: 1200,
                per: Duration::from_secs(60),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_need_a_secret() {
        let err = Config::with_overrides(json!({})).expect_err("no secret");
        assert!(err.to_string().contains("auth.hs256_secrets"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                json!({"auth": {"allow_dev_secret": true}, "server": {"listen": "nowhere"}}),
                "server.listen",
            ),
            (
                json!({"auth": {"allow_dev_secret": true, "algorithms": ["none"]}}),
                "auth.algorithms",
            ),
            (
                json!({"auth": {"allow_dev_secret": true, "algorithms": ["RS256"]}}),
                "auth.jwks_url",
            ),
            (
                json!({"auth": {"allow_dev_secret": true, "leeway": "5m"}}),
                "auth.leeway",
            ),
            (
                json!({"auth": {"hs256_secrets": ["short"]}}),
                "auth.hs256_secrets",
            ),
            (
                json!({"auth": {"allow_dev_secret": true}, "store": {"redis_url": "http://x"}}),
                "store.redis_url",
            ),
            (
                json!({"auth": {"allow_dev_secret": true}, "log": {"level": "=bad=["}}),
                "log.level",
            ),
            (
                json!({"auth": {"allow_dev_secret": true},
                       "events": {"subscription_allow": ["http://127.0.0.1:"]}}),
                "events.subscription_allow",
            ),
            (
                json!({"auth": {"allow_dev_secret": true},
                       "number_checks": {"callback_allow": ["hooks.example.com"]}}),
                "number_checks.callback_allow",
            ),
            (
                json!({"auth": {"allow_dev_secret": true},
                       "number_checks": {"callback_secrets": {"acme": "raw text secret"}}}),
                "number_checks.callback_secrets",
            ),
            (
                json!({"auth": {"allow_dev_secret": true},
                       "number_checks": {"callback_secrets": {"acme": "whsec_c2hvcnQ="}}}),
                "number_checks.callback_secrets",
            ),
            (
                json!({"auth": {"allow_dev_secret": true},
                       "number_checks": {"callback_max_attempts": 3}}),
                "callback_max_attempts",
            ),
            (
                json!({"auth": {"allow_dev_secret": true},
                       "vendors": {"ekycpro": {"base_url": "https://api.ekycpro.example", "user_id": "u",
                                               "api_key": "k", "result_hosts": ["https://u:p@files.example"]}}}),
                "vendors.ekycpro.result_hosts",
            ),
        ];
        for (overrides, key) in cases {
            let err = Config::with_overrides(overrides).expect_err(key);
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            Config::with_overrides(json!({"auth": {"allow_dev_secret": true, "issuerr": "x"}}))
                .expect_err("typo");
        assert!(err.to_string().contains("issuerr"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::with_overrides(json!({
            "auth": {"hs256_secrets": ["a-very-long-secret-that-must-not-print-0123"]},
            "store": {"redis_url": "redis://:hunter2-password@127.0.0.1:6379"}
        }))
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("a-very-long-secret"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gw.toml",
                "[server]\nlisten = \"127.0.0.1:9000\"\n[auth]\nallow_dev_secret = true\n",
            )?;
            jail.set_env("GATEWAY_SERVER__LISTEN", "127.0.0.1:9001");
            jail.set_env("GATEWAY_STORE__KEY_PREFIX", "env:");
            // The variable naming the file is not a configuration key.
            jail.set_env("GATEWAY_CONFIG", "gw.toml");
            let config = Config::load(Some(Path::new("gw.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.server.listen, "127.0.0.1:9001");
            assert_eq!(config.store.key_prefix, "env:");
            assert!(config.auth.allow_dev_secret);
            Ok(())
        });
    }
}
