//! Finding the primary through the sentinels, and the connections to the sentinels that this
//! and the watch (`sentinel_watch`) share.
//!
//! Our own instead of redis-rs's sentinel client so that one set of sentinel connections
//! serves both, and so that a private CA (`store.tls_ca_file`) applies to the sentinels and to
//! the primary alike.
//!
//! Every sentinel is asked at once for `SENTINEL GET-MASTER-ADDR-BY-NAME`, and each address
//! named is checked as the answers arrive: the primary is logged in to (TLS when the sentinel
//! URLs are `rediss://`) and must say `ROLE` master. Asking at once rather than one after the
//! other keeps a sentinel that hangs from using up the whole time allowed to connect.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, RedisResult, Role, TlsCertificates,
};

/// One sentinel and the connection to it, opened on first use and dropped after an error.
struct Node {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
}

/// The sentinels of `store.sentinel.urls`, watching the primary of `master_name`.
pub(crate) struct Sentinels {
    nodes: Vec<Node>,
    master_name: String,
    config: AsyncConnectionConfig,
}

impl Sentinels {
    /// Connects to nothing yet. `certs` (the private CA) apply to the `rediss://` sentinels.
    pub(crate) fn new(
        sentinels: Vec<ConnectionInfo>,
        certs: Option<&TlsCertificates>,
        master_name: &str,
        config: AsyncConnectionConfig,
    ) -> RedisResult<Sentinels> {
        let nodes = sentinels
            .into_iter()
            .map(|info| {
                let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
                let client = match certs {
                    Some(certs) if tls => redis::Client::build_with_tls(info, certs.clone()),
                    _ => redis::Client::open(info),
                }?;
                Ok(Node {
                    client,
                    conn: Mutex::new(None),
                })
            })
            .collect::<RedisResult<_>>()?;
        Ok(Sentinels {
            nodes,
            master_name: master_name.to_owned(),
            config,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn master_name(&self) -> &str {
        &self.master_name
    }

    /// Runs `cmd` on the sentinel at `index` (an index below [`Sentinels::len`]).
    pub(crate) async fn query<T: FromRedisValue>(&self, index: usize, cmd: &Cmd) -> RedisResult<T> {
        let node = &self.nodes[index];
        let cached = node
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut conn = match cached {
            Some(conn) => conn,
            None => {
                let conn = node
                    .client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?;
                *node.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
                conn
            }
        };
        let answer = cmd.query_async(&mut conn).await;
        if answer.is_err() {
            // A timeout or a broken link: the next call reconnects. A server error (an
            // unknown master name) also lands here; reconnecting then costs little.
            *node.conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        answer
    }

    /// A connection to the primary and its `host:port` as the sentinels name it.
    ///
    /// When none is found: the error met on a primary that a sentinel named (a refused login,
    /// a TLS failure), else the last error of a sentinel, else "not found".
    pub(crate) async fn find_primary(
        &self,
        primary: &PrimaryLogin,
    ) -> RedisResult<(MultiplexedConnection, String)> {
        let mut answers: FuturesUnordered<_> = (0..self.len())
            .map(|index| {
                let mut cmd = redis::cmd("SENTINEL");
                cmd.arg("GET-MASTER-ADDR-BY-NAME").arg(&self.master_name);
                async move { self.query::<Option<(String, u16)>>(index, &cmd).await }
            })
            .collect();
        let mut tried = HashSet::new();
        let mut primary_error = None;
        let mut sentinel_error = None;
        while let Some(answer) = answers.next().await {
            let (host, port) = match answer {
                Ok(Some(address)) => address,
                Ok(None) => continue,
                Err(e) => {
                    sentinel_error = Some(e);
                    continue;
                }
            };
            if !tried.insert((host.clone(), port)) {
                continue;
            }
            match self.check_primary(primary, &host, port).await {
                Ok(conn) => return Ok((conn, format!("{host}:{port}"))),
                Err(e) => primary_error = Some(e),
            }
        }
        Err(primary_error.or(sentinel_error).unwrap_or_else(|| {
            RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "no sentinel names a primary for store.sentinel.master_name",
            ))
        }))
    }

    async fn check_primary(
        &self,
        primary: &PrimaryLogin,
        host: &str,
        port: u16,
    ) -> RedisResult<MultiplexedConnection> {
        let mut conn = primary
            .client(host, port)?
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let role: Role = redis::cmd("ROLE").query_async(&mut conn).await?;
        if matches!(role, Role::Primary { .. }) {
            Ok(conn)
        } else {
            Err(RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "the server a sentinel names is not a primary",
            )))
        }
    }
}

/// How to log in to the primary: the credentials of `store.sentinel.primary_*`, TLS when the
/// sentinels are reached over TLS, with the private CA when one is configured.
pub(crate) struct PrimaryLogin {
    pub(crate) redis: RedisConnectionInfo,
    pub(crate) tls: bool,
    pub(crate) certs: Option<TlsCertificates>,
}

impl PrimaryLogin {
    fn client(&self, host: &str, port: u16) -> RedisResult<redis::Client> {
        let addr = if self.tls {
            ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.to_owned(), port)
        };
        let info = addr
            .into_connection_info()?
            .set_redis_settings(self.redis.clone());
        match &self.certs {
            Some(certs) if self.tls => redis::Client::build_with_tls(info, certs.clone()),
            _ => redis::Client::open(info),
        }
    }
}
