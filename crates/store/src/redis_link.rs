//! Where the Redis backend's connections go: one server, a Redis Cluster, or the primary that
//! the Sentinels name.
//!
//! - **standalone**: a multiplexed connection to the server of `store.redis_url`.
//! - **cluster**: a cluster connection (one multiplexed connection per node, commands routed
//!   by hash slot, `MOVED`/`ASK` followed, the slot map refreshed after a failover), found
//!   through the seed URLs.
//! - **sentinel**: the sentinels are asked for the primary of `master_name` (and the primary
//!   is checked to say it is one) each time a connection is opened; a failover breaks the
//!   connections (the sentinels kill the old primary's clients, and its writes fail with
//!   `READONLY`), so the next connection goes to the new primary. While calls come in, the
//!   sentinels are also watched for a failover under way (`sentinel_watch`).
//!
//! URLs may hold passwords: no error here quotes a URL or redis-rs's rendering of one.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisFuture,
    RedisResult, TlsCertificates, Value,
};
use secrecy::ExposeSecret;

use super::sentinel_discovery::{PrimaryLogin, Sentinels};
use super::sentinel_watch::SentinelWatch;
use super::{StoreError, StoreMode, StoreSettings};

/// Retries of a cluster command inside redis-rs (after `MOVED`, `TRYAGAIN` or a lost node),
/// all within the store's command timeout.
const CLUSTER_RETRIES: u32 = 3;

/// A connection of any mode; cheap to clone (a handle on a shared connection).
#[derive(Clone)]
pub(crate) enum Link {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

enum Target {
    Standalone(redis::Client),
    Cluster(ClusterClient),
    Sentinel {
        primary: PrimaryLogin,
        /// Holds the sentinels, which find the primary too.
        watch: SentinelWatch,
    },
}

/// Installs rustls's process-wide crypto provider unless one is: redis-rs enables none, so
/// without it the first `rediss://` connection panics (unless another crate happens to enable
/// exactly one provider).
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is then installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// The CA file of `store.tls_ca_file`, read and checked to hold a PEM certificate. Only with
/// `rediss://` URLs (in sentinel mode, the sentinels'; the primary is then reached over TLS
/// too): with a plain URL it would silently not apply.
fn tls_certificates(
    settings: &StoreSettings,
    urls: &[&str],
) -> Result<Option<TlsCertificates>, StoreError> {
    let Some(path) = &settings.tls_ca_file else {
        return Ok(None);
    };
    if !urls.iter().all(|url| url.starts_with("rediss://")) {
        return Err(StoreError::invalid(
            "store.tls_ca_file: only with rediss:// URLs",
        ));
    }
    let pem = std::fs::read(path).map_err(|e| {
        StoreError::invalid(format!(
            "store.tls_ca_file: cannot read {}: {}",
            path.display(),
            e.kind()
        ))
    })?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(StoreError::invalid(format!(
            "store.tls_ca_file: {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

/// Commands that may wait on one connection to be written. A call waiting for room counts against
/// its `command_timeout`, and each caller freed gets its turn only when its (busy) thread polls it
/// again: with the client's default of 50 and ~1,000 connections on one HTTP worker, calls timed
/// out while Redis was idle. The queue's memory grows only with what is queued.
const PIPELINE_BUFFER: usize = 8192;

/// Opens connections of the configured mode.
pub(crate) struct Connector {
    target: Target,
    config: AsyncConnectionConfig,
}

fn invalid_url(setting: &str, e: &redis::RedisError, url: &str) -> StoreError {
    let hint = if url.contains("://") {
        "expected redis://[user:password@]host[:port][/db] or rediss://"
    } else {
        "not a URL"
    };
    StoreError::invalid(format!("{setting}: invalid URL ({}): {hint}", e.category()))
}

impl Connector {
    /// Checks the URLs of `settings.mode`; connects to nothing.
    pub(crate) fn new(settings: &StoreSettings) -> Result<Connector, StoreError> {
        ensure_crypto_provider();
        let timeout = settings.command_timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_pipeline_buffer_size(PIPELINE_BUFFER);
        let target = match settings.mode {
            StoreMode::Standalone => {
                let url = settings
                    .redis_url
                    .as_ref()
                    .ok_or_else(|| StoreError::invalid("store.redis_url is required"))?
                    .expose_secret();
                let client = match tls_certificates(settings, &[url])? {
                    Some(certs) => redis::Client::build_with_tls(url, certs),
                    None => redis::Client::open(url),
                }
                .map_err(|e| invalid_url("store.redis_url", &e, url))?;
                Target::Standalone(client)
            }
            StoreMode::Cluster => {
                if settings.cluster_urls.is_empty() {
                    return Err(StoreError::invalid("store.cluster.urls: at least one seed"));
                }
                let mut seeds = Vec::with_capacity(settings.cluster_urls.len());
                for url in &settings.cluster_urls {
                    let url = url.expose_secret();
                    let info = url
                        .into_connection_info()
                        .map_err(|e| invalid_url("store.cluster.urls", &e, url))?;
                    seeds.push(info);
                }
                let urls: Vec<&str> = settings
                    .cluster_urls
                    .iter()
                    .map(ExposeSecret::expose_secret)
                    .collect();
                let mut builder = ClusterClient::builder(seeds)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(CLUSTER_RETRIES);
                if let Some(certs) = tls_certificates(settings, &urls)? {
                    builder = builder.certs(certs);
                }
                let client = builder
                    .build()
                    .map_err(|e| {
                        StoreError::invalid(format!(
                            "store.cluster.urls: {} (every seed must use the same scheme, user and password)",
                            e.category()
                        ))
                    })?;
                Target::Cluster(client)
            }
            StoreMode::Sentinel => {
                let sentinel = &settings.sentinel;
                if sentinel.urls.is_empty() {
                    return Err(StoreError::invalid(
                        "store.sentinel.urls: at least one sentinel",
                    ));
                }
                if sentinel.master_name.trim().is_empty() {
                    return Err(StoreError::invalid(
                        "store.sentinel.master_name is required",
                    ));
                }
                let urls: Vec<&str> = sentinel
                    .urls
                    .iter()
                    .map(ExposeSecret::expose_secret)
                    .collect();
                let certs = tls_certificates(settings, &urls)?;
                let mut sentinels = Vec::with_capacity(urls.len());
                for url in &urls {
                    let info = url
                        .into_connection_info()
                        .map_err(|e| invalid_url("store.sentinel.urls", &e, url))?;
                    sentinels.push(info);
                }
                let mut login = RedisConnectionInfo::default();
                if let Some(user) = &sentinel.primary_username {
                    login = login.set_username(user);
                }
                if let Some(password) = &sentinel.primary_password {
                    login = login.set_password(password.expose_secret());
                }
                let sentinels = Sentinels::new(
                    sentinels,
                    certs.as_ref(),
                    &sentinel.master_name,
                    config.clone(),
                )
                .map_err(|e| {
                    StoreError::invalid(format!("store.sentinel.urls: {}", e.category()))
                })?;
                Target::Sentinel {
                    primary: PrimaryLogin {
                        redis: login,
                        tls: urls.iter().any(|url| url.starts_with("rediss://")),
                        certs,
                    },
                    watch: SentinelWatch::new(sentinels),
                }
            }
        };
        Ok(Connector { target, config })
    }

    /// Opens a connection (the caller bounds the time it may take).
    pub(crate) async fn open(&self) -> RedisResult<Link> {
        match &self.target {
            Target::Standalone(client) => client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
                .map(Link::Single),
            Target::Cluster(client) => client.get_async_connection().await.map(Link::Cluster),
            Target::Sentinel { primary, watch } => {
                let (conn, address) = watch.sentinels().find_primary(primary).await?;
                watch.connected_to(address);
                Ok(Link::Single(conn))
            }
        }
    }

    /// Under Sentinel, the sentinels' watch (see `sentinel_watch`).
    pub(crate) fn sentinel_watch(&self) -> Option<&SentinelWatch> {
        match &self.target {
            Target::Sentinel { watch, .. } => Some(watch),
            _ => None,
        }
    }

    /// Commands of one pipeline or script must then stay within one hash slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    pub(crate) fn mode(&self) -> StoreMode {
        match self.target {
            Target::Standalone(_) => StoreMode::Standalone,
            Target::Cluster(_) => StoreMode::Cluster,
            Target::Sentinel { .. } => StoreMode::Sentinel,
        }
    }
}
