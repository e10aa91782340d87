//! A Redis Cluster of three masters and three replicas.

use std::process::{Command, Stdio};

use redis::Value;

use crate::process::{Server, TempDir, query, require_binary, wait_for};
use crate::{Acl, Tls, tls_url};

const MASTERS: usize = 3;
const NODES: usize = MASTERS * 2;

/// Three masters and three replicas on free ports (`--cluster-replicas 1`), killed on drop.
///
/// ```text
/// let cluster = Cluster::start();
/// let seeds = cluster.urls();             // every node, any of them is a valid seed
/// let port = cluster.master_of("job:1");  // the master serving that key's slot now
/// let new = cluster.failover_master_of("job:1");  // a replica of it takes over
/// ```
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Server>,
    // Dropped after the servers.
    _dir: TempDir,
}

impl Cluster {
    /// Starts six nodes, joins them into a cluster and waits until every node reports
    /// `cluster_state:ok` and every replica is in sync with its master.
    /// Panics if `redis-server` or `redis-cli` is missing or the cluster does not form.
    #[must_use]
    pub fn start() -> Cluster {
        Self::start_with(None, None)
    }

    /// [`Cluster::start`]; with `acl`, that user is every node's only user (`default` off;
    /// replicas and `redis-cli --cluster create` log in as it).
    #[must_use]
    pub fn start_with_acl(acl: Option<&Acl>) -> Cluster {
        Self::start_with(acl, None)
    }

    /// [`Cluster::start_with_acl`]; with `tls`, every node also serves TLS on a port of its own
    /// and the nodes talk TLS to each other (`--tls-cluster yes --tls-replication yes`): a
    /// client on a TLS port is routed to the others' TLS ports ([`Cluster::tls_urls`]).
    #[must_use]
    pub fn start_with(acl: Option<&Acl>, tls: Option<&Tls>) -> Cluster {
        require_binary("redis-cli", "redis-tools");
        let dir = TempDir::new("cluster");
        let nodes: Vec<Server> = (0..NODES)
            .map(|i| {
                let conf = format!("nodes-{i}.conf");
                let mut args = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "2000",
                ];
                if tls.is_some() {
                    args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
                }
                Server::start_as(dir.path(), &format!("node{i}"), &args, None, true, acl, tls)
            })
            .collect();
        let cluster = Cluster { nodes, _dir: dir };
        let addresses: Vec<String> = cluster
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let mut create = Command::new("redis-cli");
        if let Some(acl) = acl {
            create.args([
                "--user",
                &acl.user,
                "--pass",
                &acl.password,
                "--no-auth-warning",
            ]);
        }
        let output = create
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli --cluster create: {e}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_until_settled();
        cluster
    }

    /// Ports of every node, masters and replicas.
    #[must_use]
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(Server::port).collect()
    }

    /// Seed URLs: every node.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// `rediss://127.0.0.1:{tls_port}` of every node, when started with TLS (else empty).
    #[must_use]
    pub fn tls_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(Server::tls_port)
            .map(tls_url)
            .collect()
    }

    /// The hash slot of `key` (hash tags included).
    #[must_use]
    pub fn slot_of(&self, key: &str) -> u16 {
        let slot: i64 = query(self.nodes[0].port(), &["CLUSTER", "KEYSLOT", key])
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT: {e}"));
        u16::try_from(slot).unwrap_or_else(|_| panic!("CLUSTER KEYSLOT returned {slot}"))
    }

    /// Port of the master serving `key`'s slot, as the first node sees it.
    #[must_use]
    pub fn master_of(&self, key: &str) -> u16 {
        let slot = self.slot_of(key);
        slot_owners(self.nodes[0].port())
            .into_iter()
            .find(|(range, _)| range.contains(&slot))
            .map(|(_, port)| port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Makes a replica of the master of `key`'s slot take over (`CLUSTER FAILOVER` on the
    /// replica) and waits until every node routes the slot to it and the cluster is settled
    /// again (the old master a replica in sync). Returns the new master's port.
    #[must_use]
    pub fn failover_master_of(&self, key: &str) -> u16 {
        let slot = self.slot_of(key);
        let old = self.master_of(key);
        let old_id = node_id(old);
        let replica = self
            .ports()
            .into_iter()
            .find(|&port| port != old && master_id_of_replica(port).as_deref() == Some(&old_id))
            .unwrap_or_else(|| panic!("the master on port {old} has no replica"));
        let ok: String = query(replica, &["CLUSTER", "FAILOVER"])
            .unwrap_or_else(|e| panic!("CLUSTER FAILOVER on port {replica}: {e}"));
        assert_eq!(ok, "OK", "CLUSTER FAILOVER on port {replica}");
        wait_for(&format!("slot {slot} moved to port {replica}"), || {
            self.ports()
                .into_iter()
                .all(|node| {
                    slot_owners(node)
                        .into_iter()
                        .any(|(range, port)| range.contains(&slot) && port == replica)
                })
                .then_some(())
        });
        self.wait_until_settled();
        replica
    }

    /// Every node says `cluster_state:ok` and knows all slots served; there are three masters,
    /// each with a replica whose link to it is up.
    fn wait_until_settled(&self) {
        wait_for("cluster settled", || {
            let ports = self.ports();
            let all_ok = ports.iter().all(|&port| {
                query::<String>(port, &["CLUSTER", "INFO"]).is_ok_and(|info| {
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                })
            });
            let replicas_up = ports
                .iter()
                .filter(|&&port| {
                    query::<String>(port, &["INFO", "replication"]).is_ok_and(|info| {
                        info.contains("role:slave") && info.contains("master_link_status:up")
                    })
                })
                .count();
            (all_ok && replicas_up == MASTERS).then_some(())
        });
    }
}

/// This node's cluster id.
fn node_id(port: u16) -> String {
    query(port, &["CLUSTER", "MYID"]).unwrap_or_else(|e| panic!("CLUSTER MYID on {port}: {e}"))
}

/// The id of the master `port` replicates, if it is a replica (from its `CLUSTER NODES` line).
fn master_id_of_replica(port: u16) -> Option<String> {
    let nodes: String = query(port, &["CLUSTER", "NODES"]).ok()?;
    let me = nodes
        .lines()
        .find(|line| line.split(' ').nth(2).is_some_and(|f| f.contains("myself")))?;
    let mut fields = me.split(' ');
    let flags = fields.nth(2)?;
    let master = fields.next()?;
    (flags.contains("slave") && master != "-").then(|| master.to_owned())
}

/// Slot ranges and the port of the master serving each, as `port` sees them (`CLUSTER SLOTS`).
fn slot_owners(port: u16) -> Vec<(std::ops::RangeInclusive<u16>, u16)> {
    let Ok(Value::Array(ranges)) = query::<Value>(port, &["CLUSTER", "SLOTS"]) else {
        return Vec::new();
    };
    let int = |v: &Value| match v {
        Value::Int(i) => u16::try_from(*i).ok(),
        _ => None,
    };
    ranges
        .iter()
        .filter_map(|range| {
            let Value::Array(parts) = range else {
                return None;
            };
            let start = int(parts.first()?)?;
            let end = int(parts.get(1)?)?;
            let Value::Array(master) = parts.get(2)? else {
                return None;
            };
            Some((start..=end, int(master.get(1)?)?))
        })
        .collect()
}
