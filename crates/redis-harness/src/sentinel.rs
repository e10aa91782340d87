//! One primary, two replicas and three sentinels.

use crate::process::{Server, TempDir, query, wait_for};
use crate::{Acl, Tls, tls_url};

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "gw";

/// Sentinels agreeing that the primary is down before a failover starts.
const QUORUM: usize = 2;
const REPLICAS: usize = 2;
const SENTINELS: usize = 3;

/// One primary, two replicas (`--replicaof`) and three sentinels (`redis-server --sentinel`,
/// so the redis-sentinel package is not needed), killed on drop.
///
/// ```text
/// let set = Sentinel::start();
/// let (urls, name) = (set.sentinel_urls(), MASTER_NAME);
/// let new_primary = set.failover();   // SENTINEL FAILOVER, waits for the new primary
/// ```
#[derive(Debug)]
pub struct Sentinel {
    data: Vec<Server>,
    sentinels: Vec<Server>,
    // Dropped after the servers.
    _dir: TempDir,
}

impl Sentinel {
    /// Starts the primary and its replicas, waits until the replicas are in sync, then starts
    /// the sentinels and waits until each one knows both replicas and the two other sentinels.
    #[must_use]
    pub fn start() -> Sentinel {
        Self::start_with_acl(None)
    }

    /// [`Sentinel::start`]; with `acl`, that user is the only user of the primary and the
    /// replicas (`default` off), and the sentinels log in to them as it
    /// (`sentinel auth-user` / `auth-pass`). The sentinels themselves need no login.
    #[must_use]
    pub fn start_with_acl(acl: Option<&Acl>) -> Sentinel {
        Self::start_with(acl, None)
    }

    /// [`Sentinel::start_with_acl`]; with `tls`, every server and sentinel also serves TLS on
    /// a port of its own, and all their links use it (`tls-replication yes`: replication, the
    /// sentinels' monitoring and their talk to each other). The sentinels then name the
    /// primary by its TLS port, so a client that follows them must speak TLS to it; the plain
    /// ports serve the harness's own checks only.
    #[must_use]
    pub fn start_with(acl: Option<&Acl>, tls: Option<&Tls>) -> Sentinel {
        let dir = TempDir::new("sentinel");
        let tls_links: &[&str] = if tls.is_some() {
            &["--tls-replication", "yes"]
        } else {
            &[]
        };
        let primary = Server::start_as(dir.path(), "primary", tls_links, None, false, acl, tls);
        // The address the others reach the primary at: its TLS port when links use TLS.
        let primary_port = primary.tls_port().unwrap_or(primary.port()).to_string();
        let mut data = vec![primary];
        for i in 0..REPLICAS {
            let mut args = vec!["--replicaof", "127.0.0.1", &primary_port];
            args.extend(tls_links);
            data.push(Server::start_as(
                dir.path(),
                &format!("replica{i}"),
                &args,
                None,
                false,
                acl,
                tls,
            ));
        }
        for replica in &data[1..] {
            let port = replica.port();
            wait_for(&format!("replica on port {port} in sync"), || {
                query::<String>(port, &["INFO", "replication"])
                    .is_ok_and(|info| info.contains("master_link_status:up"))
                    .then_some(())
            });
        }
        // Sentinels rewrite their configuration file, so each gets one of its own.
        let mut config = format!(
            "sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} {QUORUM}\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 2\n"
        );
        if let Some(acl) = acl {
            config.push_str(&format!(
                "sentinel auth-user {MASTER_NAME} {}\nsentinel auth-pass {MASTER_NAME} {}\n",
                acl.user, acl.password
            ));
        }
        let mut args = vec!["--sentinel"];
        args.extend(tls_links);
        let sentinels = (0..SENTINELS)
            .map(|i| {
                Server::start_as(
                    dir.path(),
                    &format!("sentinel{i}"),
                    &args,
                    Some(&config),
                    false,
                    None,
                    tls,
                )
            })
            .collect();
        let set = Sentinel {
            data,
            sentinels,
            _dir: dir,
        };
        set.wait_until_discovered();
        set
    }

    /// `redis://127.0.0.1:{port}` of every sentinel.
    #[must_use]
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(Server::url).collect()
    }

    /// `rediss://127.0.0.1:{tls_port}` of every sentinel, when started with TLS (else empty).
    #[must_use]
    pub fn sentinel_tls_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .filter_map(Server::tls_port)
            .map(tls_url)
            .collect()
    }

    /// The name the sentinels know the primary by ([`MASTER_NAME`]).
    #[must_use]
    pub fn master_name(&self) -> &'static str {
        MASTER_NAME
    }

    /// Plain ports of the primary and the replicas, in start order (not by current role).
    #[must_use]
    pub fn data_ports(&self) -> Vec<u16> {
        self.data.iter().map(Server::port).collect()
    }

    /// The plain port of the server the sentinels name by `reported` (its TLS port in a TLS
    /// set).
    fn plain_port(&self, reported: u16) -> u16 {
        self.data
            .iter()
            .find(|s| s.port() == reported || s.tls_port() == Some(reported))
            .map_or(reported, Server::port)
    }

    /// The primary's port as the first sentinel reports it (in a TLS set, its TLS port).
    #[must_use]
    pub fn primary_port(&self) -> u16 {
        primary_reported_by(self.sentinels[0].port())
            .unwrap_or_else(|| panic!("the sentinels do not know the primary of {MASTER_NAME}"))
    }

    /// `SENTINEL FAILOVER` and waits until every sentinel reports the new primary, which says
    /// it is a master, and the two others replicate it in sync. Returns the new primary's port
    /// as the sentinels report it (in a TLS set, its TLS port).
    #[must_use]
    pub fn failover(&self) -> u16 {
        let old = self.primary_port();
        let ok: String = query(
            self.sentinels[0].port(),
            &["SENTINEL", "FAILOVER", MASTER_NAME],
        )
        .unwrap_or_else(|e| panic!("SENTINEL FAILOVER: {e}"));
        assert_eq!(ok, "OK", "SENTINEL FAILOVER");
        let new = wait_for("every sentinel reports a new primary", || {
            let reported: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|s| primary_reported_by(s.port()))
                .collect();
            let first = reported[0]?;
            (first != old && reported.iter().all(|&p| p == Some(first))).then_some(first)
        });
        let new_plain = self.plain_port(new);
        wait_for(&format!("port {new} is the primary and replicated"), || {
            let role_master = query::<String>(new_plain, &["INFO", "replication"])
                .is_ok_and(|info| info.contains("role:master"));
            let in_sync = self
                .data_ports()
                .into_iter()
                .filter(|&port| port != new_plain)
                .all(|port| {
                    query::<String>(port, &["INFO", "replication"]).is_ok_and(|info| {
                        info.contains(&format!("master_port:{new}"))
                            && info.contains("master_link_status:up")
                    })
                });
            (role_master && in_sync).then_some(())
        });
        new
    }

    fn wait_until_discovered(&self) {
        for sentinel in &self.sentinels {
            let port = sentinel.port();
            wait_for(&format!("sentinel on port {port} knows the set"), || {
                let replicas = entries(port, "REPLICAS")?;
                let others = entries(port, "SENTINELS")?;
                (replicas == REPLICAS && others == SENTINELS - 1).then_some(())
            });
        }
    }
}

/// Number of entries `SENTINEL {what} gw` lists on the sentinel at `port`.
fn entries(port: u16, what: &str) -> Option<usize> {
    query::<Vec<redis::Value>>(port, &["SENTINEL", what, MASTER_NAME])
        .ok()
        .map(|v| v.len())
}

fn primary_reported_by(sentinel_port: u16) -> Option<u16> {
    let (_host, port): (String, u16) = query(
        sentinel_port,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
    )
    .ok()?;
    Some(port)
}
