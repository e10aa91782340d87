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

use crate::store::{SentinelSettings, StoreMode, StoreSettings};

/// The development HS256 secret used when nothing else is configured. `serve` refuses to start
/// with it unless `auth.allow_dev_secret` is set, so it can never reach production by accident.
pub const DEV_JWT_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

#[derive(Debug, Clone, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// A second address serving only `/metrics`, `/healthz`, `/readyz` and `/v1/admin/*`; when
    /// set, those leave the public listener.
    pub admin_listen: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `standalone` (one server, `redis_url`), `cluster` (`cluster.urls`) or `sentinel`
    /// (`sentinel.urls` and `sentinel.master_name`).
    pub mode: StoreMode,
    /// Standalone: `redis://` or `rediss://` URL. Absent: the embedded single-replica store.
    #[serde(serialize_with = "providers::redact::optional_secret")]
    pub redis_url: Option<SecretString>,
    /// Cluster mode: seed nodes.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Sentinel mode: the sentinels and the primary's name and credentials.
    #[serde(default)]
    pub sentinel: SentinelConfig,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Upper bound of any single store command, so a slow Redis never hangs a request.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Redis connections per replica; each is multiplexed: the commands of every request are
    /// pipelined over it, so a few suffice.
    pub pool_size: usize,
    /// PEM file of the CA that signs the Redis servers' certificates, trusted instead of the
    /// system's roots for `rediss://` in every mode (under Sentinel: for the sentinels and the
    /// primary). Absent: the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Replicas that must hold the marks written just before a vendor order is sent (Redis
    /// `WAIT`), so a failover cannot lose a mark and let the order be sent twice. 0: no wait.
    pub replica_acks: u32,
    /// How long such a mark waits for its replicas before the order is put off; shorter than
    /// `command_timeout`.
    #[serde(with = "humantime_serde")]
    pub replica_ack_timeout: Duration,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://` or `rediss://` URLs of some nodes (one is enough; more survive one being
    /// down). Every URL has the same scheme, user and password, used for every node.
    #[serde(serialize_with = "providers::redact::secrets")]
    pub urls: Vec<SecretString>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// `redis://[user:password@]host:port` of the sentinels (the credentials are the
    /// sentinels' own); `rediss://` also puts the connections to the primary under TLS.
    #[serde(serialize_with = "providers::redact::secrets")]
    pub urls: Vec<SecretString>,
    /// The name the sentinels monitor the primary under.
    pub master_name: String,
    /// ACL user on the primary; absent: the default user.
    pub primary_username: Option<String>,
    /// Password on the primary; absent: no AUTH.
    #[serde(serialize_with = "providers::redact::optional_secret")]
    pub primary_password: Option<SecretString>,
}

impl StoreConfig {
    /// The store's settings for this configuration.
    #[must_use]
    pub fn settings(&self) -> StoreSettings {
        StoreSettings {
            mode: self.mode,
            redis_url: self.redis_url.clone(),
            cluster_urls: self.cluster.urls.clone(),
            sentinel: SentinelSettings {
                urls: self.sentinel.urls.clone(),
                master_name: self.sentinel.master_name.clone(),
                primary_username: self.sentinel.primary_username.clone(),
                primary_password: self.sentinel.primary_password.clone(),
            },
            key_prefix: self.key_prefix.clone(),
            command_timeout: self.command_timeout,
            pool_size: self.pool_size,
            tls_ca_file: self.tls_ca_file.clone(),
            replica_acks: self.replica_acks,
            replica_ack_timeout: self.replica_ack_timeout,
        }
    }

    /// The URL rules of each mode; an issue names the setting, never the URL (it may hold a
    /// password).
    fn validate(&self, invalid: &mut impl FnMut(&str, String)) {
        let check_url = |key: &str, url: &SecretString, invalid: &mut dyn FnMut(&str, String)| {
            match url::Url::parse(url.expose_secret()) {
                Err(_) => invalid(key, "not a URL".into()),
                Ok(parsed) if !matches!(parsed.scheme(), "redis" | "rediss") => {
                    invalid(key, "scheme must be redis:// or rediss://".into());
                }
                Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
                    invalid(key, "a host is required".into());
                }
                Ok(_) => {}
            }
        };
        let unused = |key: &str, invalid: &mut dyn FnMut(&str, String)| {
            invalid(
                key,
                format!(
                    "not used with store.mode = {}; remove it",
                    self.mode.as_str()
                ),
            );
        };
        if let Some(ca) = &self.tls_ca_file {
            let pem = std::fs::read_to_string(ca);
            let urls: Vec<&SecretString> = match self.mode {
                StoreMode::Standalone => self.redis_url.iter().collect(),
                StoreMode::Cluster => self.cluster.urls.iter().collect(),
                StoreMode::Sentinel => self.sentinel.urls.iter().collect(),
            };
            if urls
                .iter()
                .any(|url| !url.expose_secret().starts_with("rediss://"))
            {
                // A CA for plain connections would silently not apply.
                invalid(
                    "store.tls_ca_file",
                    "only with rediss:// URLs (TLS); remove it or use rediss://".into(),
                );
            } else if let Err(e) = &pem {
                invalid(
                    "store.tls_ca_file",
                    format!("cannot read the file: {}", e.kind()),
                );
            } else if !pem.is_ok_and(|p| p.contains("-----BEGIN CERTIFICATE-----")) {
                invalid("store.tls_ca_file", "holds no PEM certificate".into());
            }
        }
        match self.mode {
            StoreMode::Standalone => {
                if let Some(url) = &self.redis_url {
                    match url::Url::parse(url.expose_secret()) {
                        Err(_) => invalid("store.redis_url", "not a URL".into()),
                        Ok(parsed)
                            if !matches!(
                                parsed.scheme(),
                                "redis" | "rediss" | "redis+unix" | "unix"
                            ) =>
                        {
                            invalid(
                                "store.redis_url",
                                "scheme must be redis:// or rediss://".into(),
                            );
                        }
                        Ok(_) => {}
                    }
                }
            }
            StoreMode::Cluster => {
                if self.cluster.urls.is_empty() {
                    invalid(
                        "store.cluster.urls",
                        "store.mode = cluster needs at least one seed URL".into(),
                    );
                }
                for url in &self.cluster.urls {
                    check_url("store.cluster.urls", url, invalid);
                }
                let schemes: std::collections::BTreeSet<_> = self
                    .cluster
                    .urls
                    .iter()
                    .filter_map(|u| url::Url::parse(u.expose_secret()).ok())
                    .map(|u| {
                        (
                            u.scheme().to_owned(),
                            u.username().to_owned(),
                            u.password().map(str::to_owned),
                        )
                    })
                    .collect();
                if schemes.len() > 1 {
                    invalid(
                        "store.cluster.urls",
                        "every seed needs the same scheme, user and password".into(),
                    );
                }
            }
            StoreMode::Sentinel => {
                if self.sentinel.urls.is_empty() {
                    invalid(
                        "store.sentinel.urls",
                        "store.mode = sentinel needs at least one sentinel URL".into(),
                    );
                }
                for url in &self.sentinel.urls {
                    check_url("store.sentinel.urls", url, invalid);
                }
                if self.sentinel.master_name.trim().is_empty() {
                    invalid(
                        "store.sentinel.master_name",
                        "store.mode = sentinel needs the name the sentinels monitor".into(),
                    );
                }
            }
        }
        if self.mode != StoreMode::Standalone && self.redis_url.is_some() {
            unused("store.redis_url", invalid);
        }
        if self.mode != StoreMode::Cluster && !self.cluster.urls.is_empty() {
            unused("store.cluster.urls", invalid);
        }
        if self.mode != StoreMode::Sentinel && !self.sentinel.urls.is_empty() {
            unused("store.sentinel.urls", invalid);
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Algorithms a token may use. Anything else is refused before any key is looked at.
    pub algorithms: Vec<String>,
    /// HS256 secrets (the first one signs development tokens; more allow rotation).
    #[serde(serialize_with = "providers::redact::secrets")]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// How rate limits are counted: in the store on every request, or in process and synchronised.
    pub mode: RateLimitMode,
    /// In `local` mode, how often each replica adds its counts to the store and reads the totals.
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
}

/// How rate limits are counted (`limits.mode`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitMode {
    /// Every request is counted in the store: exact across replicas, one store command per request.
    Exact,
    /// Requests are counted in process and synchronised with the store every `sync_interval`: no
    /// store command per request, but until a sync each replica sees only its own requests, so a
    /// tenant may exceed its limit by up to replicas × rate × interval.
    Local,
}

/// Built-in defaults as a TOML document: readable, and the same format as a config file.
const DEFAULTS: &str = r#"
[server]
listen = "127.0.0.1:8080"
workers = 0
drain_timeout = "20s"

[store]
mode = "standalone"
key_prefix = "wagw:"
command_timeout = "500ms"
pool_size = 4
replica_acks = 0
replica_ack_timeout = "250ms"

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
mode = "exact"
sync_interval = "100ms"

[limits.rate_limits.default]
requests = 1200
per = "1m"

[limits.rate_limits."numbers:check"]
requests = 120
per = "1m"
"#;

/// One thing wrong with the configuration, named both ways an operator may have set it: the key
/// of the TOML file (`server.workers`) and its environment variable (`GATEWAY_SERVER__WORKERS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub variable: String,
    pub message: String,
    /// Where the refused value came from (a file, the environment), when known.
    pub origin: Option<String>,
}

impl ConfigIssue {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        let key = key.into();
        Self {
            variable: variable_of(&key),
            key,
            message: message.into(),
            origin: None,
        }
    }

    fn config_file(message: String) -> Self {
        Self {
            key: "--config".to_owned(),
            variable: "GATEWAY_CONFIG".to_owned(),
            message,
            origin: None,
        }
    }

    fn from_figment(error: figment::Error, section: &str) -> Self {
        let mut path = error.path.clone();
        // `extract_inner` appends the section after the failing field's path; put it first.
        if !section.is_empty() && path.last().is_some_and(|last| last == section) {
            path.pop();
            path.insert(0, section.to_owned());
        }
        let message = match &error.kind {
            // figment puts an unknown field at the end of the path, but not a missing one.
            figment::error::Kind::UnknownField(_, expected) => {
                format!("unknown key (expected one of: {})", expected.join(", "))
            }
            figment::error::Kind::MissingField(field) => {
                path.push(field.to_string());
                "required but not set".to_owned()
            }
            kind => kind.to_string(),
        };
        // Only the operator's sources: a file or the environment (not the built-in defaults).
        let origin = error.metadata.as_ref().and_then(|m| match &m.source {
            Some(figment::Source::File(file)) => Some(format!("{} {}", m.name, file.display())),
            _ if m.name.contains("environment") => Some(m.name.to_string()),
            _ => None,
        });
        Self {
            origin,
            ..Self::at(path.join("."), message)
        }
    }
}

/// `server.workers` → `GATEWAY_SERVER__WORKERS`: the inverse of the `__` split of the loader.
fn variable_of(key: &str) -> String {
    let path: Vec<String> = key.split('.').map(str::to_ascii_uppercase).collect();
    format!("GATEWAY_{}", path.join("__"))
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` ({}): {}", self.key, self.variable, self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " [from {origin}]")?;
        }
        Ok(())
    }
}

/// Every problem of a configuration at once, so one run shows everything to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.issues.as_slice() {
            [one] => write!(f, "configuration: {one}"),
            issues => {
                write!(f, "configuration: {} problems", issues.len())?;
                issues.iter().try_for_each(|issue| write!(f, "\n  {issue}"))
            }
        }
    }
}

impl From<ConfigIssue> for ConfigError {
    fn from(issue: ConfigIssue) -> Self {
        Self {
            issues: vec![issue],
        }
    }
}

/// The section of the configuration that sets up a vendor.
pub fn vendor_section(provider: domain::ProviderId) -> String {
    let section = providers::vendor(provider).map_or(provider.as_str(), |v| v.config_section);
    format!("vendors.{section}")
}

fn section<T: serde::de::DeserializeOwned>(
    figment: &Figment,
    name: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<T> {
    figment
        .extract_inner(name)
        .map_err(|error| {
            issues.extend(
                error
                    .into_iter()
                    .map(|e| ConfigIssue::from_figment(e, name)),
            )
        })
        .ok()
}

/// A section that may be left out entirely.
fn optional_section<T: serde::de::DeserializeOwned + Default>(
    figment: &Figment,
    name: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<T> {
    if figment.contains(name) {
        section(figment, name, issues)
    } else {
        Some(T::default())
    }
}

/// The top-level sections, each extracted on its own so one bad section hides no other's error.
const SECTIONS: [&str; 10] = [
    "server",
    "store",
    "auth",
    "log",
    "limits",
    "vendors",
    "number_checks",
    "accounts",
    "events",
    "traces",
];

impl Config {
    /// Defaults, then `file` if given, then `GATEWAY_*` variables; validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigIssue::config_file(format!(
                    "file {} does not exist",
                    file.display()
                ))
                .into());
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
        let mut issues = Vec::new();
        let config = Self::extract(&figment, &mut issues);
        if let Some(config) = &config {
            config.validate(&mut issues);
        }
        match config {
            Some(config) if issues.is_empty() => Ok(config),
            _ => Err(ConfigError { issues }),
        }
    }

    /// Extracts section by section, collecting every section's first error and unknown sections.
    fn extract(figment: &Figment, issues: &mut Vec<ConfigIssue>) -> Option<Self> {
        match figment.extract::<BTreeMap<String, figment::value::Value>>() {
            Ok(top) => issues.extend(
                top.keys()
                    .filter(|key| !SECTIONS.contains(&key.as_str()))
                    .map(|key| ConfigIssue::at(key.clone(), "unknown section")),
            ),
            Err(error) => {
                issues.extend(error.into_iter().map(|e| ConfigIssue::from_figment(e, "")));
                return None;
            }
        }
        let server = section(figment, "server", issues);
        let store = section(figment, "store", issues);
        let auth = section(figment, "auth", issues);
        let log = section(figment, "log", issues);
        let limits = section(figment, "limits", issues);
        let vendors = optional_section(figment, "vendors", issues);
        let number_checks = optional_section(figment, "number_checks", issues);
        let accounts = optional_section(figment, "accounts", issues);
        let events = optional_section(figment, "events", issues);
        let traces = optional_section(figment, "traces", issues);
        Some(Config {
            server: server?,
            store: store?,
            auth: auth?,
            log: log?,
            limits: limits?,
            vendors: vendors?,
            number_checks: number_checks?,
            accounts: accounts?,
            events: events?,
            traces: traces?,
        })
    }

    /// Every rule the types cannot express, each broken one an issue.
    fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        let mut invalid = |key: &str, message: String| issues.push(ConfigIssue::at(key, message));
        if let Err(e) = self.server.listen.parse::<SocketAddr>() {
            invalid("server.listen", format!("not a socket address: {e}"));
        }
        if let Some(admin) = &self.server.admin_listen {
            match admin.parse::<SocketAddr>() {
                Err(e) => invalid("server.admin_listen", format!("not a socket address: {e}")),
                Ok(addr) if addr.port() != 0 && admin == &self.server.listen => {
                    invalid(
                        "server.admin_listen",
                        "must differ from server.listen".into(),
                    );
                }
                Ok(_) => {}
            }
        }
        if self.server.drain_timeout > Duration::from_secs(600) {
            invalid("server.drain_timeout", "at most 10 minutes".into());
        }
        self.store.validate(&mut invalid);
        if self.store.command_timeout.is_zero()
            || self.store.command_timeout > Duration::from_secs(30)
        {
            invalid("store.command_timeout", "between 1 ms and 30 s".into());
        }
        if self.store.pool_size == 0 {
            invalid("store.pool_size", "at least 1".into());
        }
        if self.store.replica_acks > 0 {
            if self.store.redis_url.is_none() && self.store.mode == StoreMode::Standalone {
                invalid(
                    "store.replica_acks",
                    "the embedded store has no replicas; set store.redis_url or 0".into(),
                );
            }
            if self.store.replica_ack_timeout.is_zero()
                || self.store.replica_ack_timeout >= self.store.command_timeout
            {
                invalid(
                    "store.replica_ack_timeout",
                    "above 0 and shorter than store.command_timeout".into(),
                );
            }
        }
        self.validate_auth(&mut invalid);
        if self.limits.max_body_bytes < 1024 {
            invalid("limits.max_body_bytes", "at least 1024".into());
        }
        for (class, limit) in &self.limits.rate_limits {
            if limit.requests == 0 || limit.per.is_zero() {
                invalid(
                    "limits.rate_limits",
                    format!("`{class}`: requests and per must be positive"),
                );
            }
        }
        if !self.limits.rate_limits.contains_key("default") {
            invalid("limits.rate_limits", "a `default` entry is required".into());
        }
        if self.limits.outbound_timeout.is_zero() {
            invalid("limits.outbound_timeout", "must be positive".into());
        }
        if self.limits.sync_interval < Duration::from_millis(1)
            || self.limits.sync_interval > Duration::from_secs(60)
        {
            invalid("limits.sync_interval", "between 1 ms and 60 s".into());
        }
        for (key, message) in self.events.validate() {
            invalid(key, message);
        }
        for section in [self.number_checks.validate(), self.traces.validate()] {
            if let Err((key, message)) = section {
                invalid(key, message);
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            invalid("log.level", e.to_string());
        }
        // The shared TLS configuration: a client of its own would read the system's roots again.
        let client = egress::tls::shared_roots(reqwest::Client::builder())
            .build()
            .unwrap_or_default();
        if let Err(e) = self.build_vendors(client) {
            invalid(&vendor_section(e.provider), e.message);
        }
    }

    fn validate_auth(&self, invalid: &mut impl FnMut(&str, String)) {
        let auth = &self.auth;
        if auth.algorithms.is_empty() {
            invalid("auth.algorithms", "at least one algorithm".into());
        }
        for alg in &auth.algorithms {
            if !matches!(alg.as_str(), "HS256" | "RS256" | "ES256") {
                invalid(
                    "auth.algorithms",
                    format!("`{alg}` is not one of HS256, RS256, ES256"),
                );
            }
        }
        let wants_hs = auth.algorithms.iter().any(|a| a == "HS256");
        let wants_asym = auth.algorithms.iter().any(|a| a != "HS256");
        if wants_hs && auth.hs256_secrets.is_empty() && !auth.allow_dev_secret {
            invalid(
                "auth.hs256_secrets",
                "HS256 is allowed but no secret is configured (set it, or auth.allow_dev_secret for development)".into(),
            );
        }
        if auth
            .hs256_secrets
            .iter()
            .any(|secret| secret.expose_secret().len() < 32)
        {
            invalid(
                "auth.hs256_secrets",
                "each secret needs at least 32 bytes".into(),
            );
        }
        if wants_asym && auth.jwks_url.is_none() {
            invalid(
                "auth.jwks_url",
                "RS256/ES256 are allowed but no JWKS URL is configured".into(),
            );
        }
        if let Some(jwks) = &auth.jwks_url {
            match url::Url::parse(jwks) {
                Err(_) => invalid("auth.jwks_url", "not a URL".into()),
                Ok(parsed) if !matches!(parsed.scheme(), "https" | "http") => {
                    invalid("auth.jwks_url", "must be http(s)".into());
                }
                Ok(_) => {}
            }
        }
        if auth.leeway > Duration::from_secs(60) {
            invalid("auth.leeway", "at most 60 s".into());
        }
    }

    /// The configured vendor adapters (each registered vendor decides from its own section
    /// whether it is configured). Also run while validating.
    pub fn build_vendors(
        &self,
        http: reqwest::Client,
    ) -> Result<providers::Registry, providers::ConfigError> {
        providers::build_number_checkers(&self.vendors, http)
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
    fn rate_limit_modes_are_exact_or_local() {
        let config = Config::with_overrides(json!({"auth": {"allow_dev_secret": true}}))
            .expect("defaults are valid");
        assert_eq!(config.limits.mode, RateLimitMode::Exact);
        let local = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "limits": {"mode": "local", "sync_interval": "250ms"}
        }))
        .expect("local mode");
        assert_eq!(
            (local.limits.mode, local.limits.sync_interval),
            (RateLimitMode::Local, Duration::from_millis(250))
        );
        let err = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "limits": {"mode": "fast"}
        }))
        .expect_err("unknown mode");
        let text = err.to_string();
        for expected in ["`limits.mode` (GATEWAY_LIMITS__MODE)", "`exact`", "`local`"] {
            assert!(text.contains(expected), "`{expected}` in:\n{text}");
        }
        let err = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "limits": {"mode": "local", "sync_interval": "0s"}
        }))
        .expect_err("no interval");
        assert!(err.to_string().contains("limits.sync_interval"), "{err}");
    }

    #[test]
    fn replica_acks_need_replicas_and_a_wait_within_the_command_timeout() {
        let config = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "store": {"redis_url": "redis://127.0.0.1:6379", "replica_acks": 1}
        }))
        .expect("one replica, the default wait");
        let settings = config.store.settings();
        assert_eq!(
            (settings.replica_acks, settings.replica_ack_timeout),
            (1, Duration::from_millis(250))
        );
        let err = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "store": {"replica_acks": 1}
        }))
        .expect_err("the embedded store has no replicas");
        assert!(err.to_string().contains("store.replica_acks"), "{err}");
        let err = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "store": {
                "redis_url": "redis://127.0.0.1:6379",
                "replica_acks": 1,
                "replica_ack_timeout": "500ms"
            }
        }))
        .expect_err("as long as the command timeout");
        assert!(
            err.to_string().contains("store.replica_ack_timeout"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::with_overrides(json!({
            "server": {"listen": "nowhere", "workers": "many"},
            "store": {"pool_size": 0},
            "auth": {"leeway": "5m"},
            "events": {"webhook_base_path": "vendor/"},
            "typo_section": {}
        }))
        .expect_err("invalid");
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["typo_section", "server.workers"],
            "a section that does not parse hides only its own rules: {err}"
        );
        let err = Config::with_overrides(json!({
            "server": {"listen": "nowhere"},
            "store": {"pool_size": 0},
            "auth": {"leeway": "5m"},
            "events": {"webhook_base_path": "vendor/"}
        }))
        .expect_err("invalid");
        let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.listen",
                "store.pool_size",
                "auth.hs256_secrets",
                "auth.leeway",
                "events.webhook_base_path"
            ],
            "{err}"
        );
        let text = err.to_string();
        assert!(text.starts_with("configuration: 5 problems"), "{text}");
        assert!(
            text.contains("`store.pool_size` (GATEWAY_STORE__POOL_SIZE): at least 1"),
            "{text}"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn errors_name_the_variable_and_the_file_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gw.toml",
                "[auth]\nallow_dev_secret = true\nissuerr = \"x\"\n[limits]\nmax_body_bytes = \"big\"\n",
            )?;
            jail.set_env("GATEWAY_SERVER__WORKERS", "many");
            jail.set_env(
                "GATEWAY_VENDORS__NXCLOUD__BASE_URL",
                "https://api.nxcloud.example",
            );
            let err = Config::load(Some(Path::new("gw.toml"))).expect_err("invalid");
            let text = err.to_string();
            for expected in [
                "`server.workers` (GATEWAY_SERVER__WORKERS): invalid type",
                "`auth.issuerr` (GATEWAY_AUTH__ISSUERR): unknown key",
                "`limits.max_body_bytes` (GATEWAY_LIMITS__MAX_BODY_BYTES): invalid type",
                "`vendors.nxcloud.access_key` (GATEWAY_VENDORS__NXCLOUD__ACCESS_KEY): required but not set",
                "environment variable",
                "gw.toml",
            ] {
                assert!(text.contains(expected), "`{expected}` in:\n{text}");
            }
            assert!(!text.contains("SERVER.WORKERS"), "{text}");
            assert_eq!(err.issues.len(), 4, "{text}");
            Ok(())
        });
    }

    #[test]
    fn a_vendor_section_that_cannot_be_used_is_a_configuration_error() {
        let err = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "vendors": {"nxcloud": {"base_url": "https://api.nxcloud.example", "appkey": "",
                                    "access_key": "k", "access_secret": "s"}}
        }))
        .expect_err("empty appkey");
        assert_eq!(err.issues[0].key, "vendors.nxcloud", "{err}");
        assert_eq!(err.issues[0].variable, "GATEWAY_VENDORS__NXCLOUD", "{err}");
    }

    #[test]
    fn the_status_listener_must_be_another_address() {
        let err = Config::with_overrides(json!({
            "auth": {"allow_dev_secret": true},
            "server": {"listen": "127.0.0.1:8080", "admin_listen": "127.0.0.1:8080"}
        }))
        .expect_err("same address");
        assert_eq!(err.issues[0].key, "server.admin_listen", "{err}");
    }

    #[test]
    fn each_store_mode_needs_its_settings() {
        let dev = json!({"allow_dev_secret": true});
        let cases = [
            (json!({"mode": "replicated"}), "store.mode"),
            (json!({"mode": "cluster"}), "store.cluster.urls"),
            (
                json!({"mode": "cluster", "cluster": {"urls": ["http://a:1"]}}),
                "store.cluster.urls",
            ),
            (
                json!({"mode": "cluster", "cluster": {"urls": ["redis://a:1", "rediss://b:2"]}}),
                "store.cluster.urls",
            ),
            (
                json!({"mode": "sentinel", "sentinel": {"master_name": "gw"}}),
                "store.sentinel.urls",
            ),
            (
                json!({"mode": "sentinel", "sentinel": {"urls": ["redis://s:26379"]}}),
                "store.sentinel.master_name",
            ),
            (
                json!({"mode": "cluster", "cluster": {"urls": ["redis://a:1"]},
                       "redis_url": "redis://x:6379"}),
                "store.redis_url",
            ),
            (
                json!({"sentinel": {"urls": ["redis://s:26379"], "master_name": "gw"}}),
                "store.sentinel.urls",
            ),
        ];
        for (store, key) in cases {
            let err = Config::with_overrides(json!({"auth": dev, "store": store})).expect_err(key);
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        let config = Config::with_overrides(json!({"auth": dev, "store": {
            "mode": "sentinel",
            "sentinel": {"urls": ["rediss://:s-hunter2@s1:26379", "rediss://:s-hunter2@s2:26379"],
                         "master_name": "gw", "primary_username": "gateway",
                         "primary_password": "p-hunter2"}
        }}))
        .expect("valid sentinel settings");
        let settings = config.store.settings();
        assert_eq!(settings.mode, StoreMode::Sentinel);
        assert_eq!(settings.sentinel.urls.len(), 2);
        assert_eq!(settings.sentinel.master_name, "gw");
        for printed in [format!("{config:?}"), format!("{settings:?}")] {
            assert!(!printed.contains("hunter2"), "{printed}");
        }
        let err = Config::with_overrides(json!({"auth": dev, "store": {
            "mode": "cluster", "cluster": {"urls": ["redis://:c-hunter2@a:1", "http://:c-hunter2@b:2"]}
        }}))
        .expect_err("bad seed");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        for (ca, mode, sentinel, why) in [
            (
                "/nonexistent/ca.pem",
                "standalone",
                "rediss://s:26379",
                "cannot read",
            ),
            (not_pem, "cluster", "rediss://s:26379", "no PEM certificate"),
            (
                not_pem,
                "sentinel",
                "rediss://s:26379",
                "no PEM certificate",
            ),
            (
                not_pem,
                "sentinel",
                "redis://s:26379",
                "only with rediss://",
            ),
        ] {
            let err = Config::with_overrides(json!({"auth": dev, "store": {
                "mode": mode, "tls_ca_file": ca,
                "cluster": {"urls": ["rediss://c:6379"]},
                "sentinel": {"urls": [sentinel], "master_name": "gw"}
            }}))
            .expect_err(why);
            let text = err.to_string();
            assert!(
                text.contains("store.tls_ca_file") && text.contains(why),
                "{why}: {text}"
            );
        }
        // Every mode takes a CA with rediss:// URLs, Sentinel included.
        let pem = std::env::temp_dir().join(format!("config-ca-{}.pem", std::process::id()));
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
        )
        .expect("write a PEM");
        let config = Config::with_overrides(json!({"auth": dev, "store": {
            "mode": "sentinel", "tls_ca_file": pem,
            "sentinel": {"urls": ["rediss://s1:26379", "rediss://s2:26379"], "master_name": "gw"}
        }}));
        let _ = std::fs::remove_file(&pem);
        let config = config.expect("a CA in sentinel mode");
        assert_eq!(config.store.settings().tls_ca_file, Some(pem));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn cluster_seeds_come_from_one_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true");
            jail.set_env("GATEWAY_STORE__MODE", "cluster");
            jail.set_env(
                "GATEWAY_STORE__CLUSTER__URLS",
                "[redis://10.0.0.1:6379, redis://10.0.0.2:6379]",
            );
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.store.mode, StoreMode::Cluster);
            let seeds: Vec<&str> = config
                .store
                .cluster
                .urls
                .iter()
                .map(ExposeSecret::expose_secret)
                .collect();
            assert_eq!(seeds, ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
            Ok(())
        });
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
