//! Test helpers for the Redis-backed store.
//!
//! - [`shared_url`]: the shared Redis server (`REDIS_URL`, default
//!   `redis://127.0.0.1:6379`). Tests that need it FAIL when it is unreachable.
//! - [`PrivateRedis`]: a throw-away `redis-server` child process on a free port,
//!   for tests that stop, pause or break "their" Redis.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_harness::free_port;

/// URL of the shared test Redis.
pub fn shared_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh key prefix under which one test keeps all its keys.
pub fn test_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4())
}

/// True if a Redis server answers `PING` on `port` (raw RESP, no client library).
fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// How many fresh ports a start tries: a port found free can be taken by another test's
/// connection before the server binds it, and the server then exits at start-up.
const PORT_TRIES: usize = 8;

/// A private `redis-server` (no persistence), killed when dropped.
///
/// ```ignore
/// let mut redis = PrivateRedis::start();
/// let store = Store::connect(&settings_with(redis.url())).await?;
/// redis.stop();   // the server is gone: connection refused from now on
/// // or: redis.pause() / redis.resume()  (SIGSTOP/SIGCONT: the server accepts
/// // connections but never answers, like a hung or overloaded Redis)
/// ```
#[derive(Debug)]
pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
    cluster: bool,
}

impl PrivateRedis {
    /// Starts `redis-server` on a free port and waits (up to 5 s) until it answers.
    /// Panics with a clear message if `redis-server` is not installed or does not come up.
    pub fn start() -> PrivateRedis {
        Self::start_fresh(false)
    }

    /// A one-node Redis Cluster holding every slot: it runs any command, but like every
    /// cluster refuses a multi-key command, transaction or script whose keys span slots
    /// (`CROSSSLOT`), and a script touching keys it did not declare.
    pub fn start_cluster_node() -> PrivateRedis {
        let redis = Self::start_fresh(true);
        let port = redis.port.to_string();
        let added = Command::new("redis-cli")
            .args(["-p", &port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli (is it installed?): {e}"));
        assert!(
            String::from_utf8_lossy(&added.stdout).contains("OK"),
            "CLUSTER ADDSLOTSRANGE failed: {added:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", &port, "CLUSTER", "INFO"])
                .output()
                .expect("redis-cli CLUSTER INFO");
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                return redis;
            }
            assert!(
                Instant::now() < deadline,
                "one-node cluster on port {port} did not reach cluster_state:ok within 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and starts a new, empty one on the same port (a restart that
    /// loses every key and cached script).
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        let cluster = self.cluster;
        *self = Self::start_on(port, cluster).unwrap_or_else(|e| panic!("{e}"));
    }

    fn start_fresh(cluster: bool) -> PrivateRedis {
        let mut last = String::new();
        for _ in 0..PORT_TRIES {
            match Self::start_on(free_port(cluster), cluster) {
                Ok(redis) => return redis,
                Err(e) => last = e,
            }
        }
        panic!("no private redis-server started after {PORT_TRIES} ports; the last: {last}");
    }

    /// Starts the server on `port`; `Err` when it exits at start-up (the port was taken).
    fn start_on(port: u16, cluster: bool) -> Result<PrivateRedis, String> {
        let mut command = Command::new("redis-server");
        if cluster {
            let nodes = std::env::temp_dir().join(format!("store-test-nodes-{port}.conf"));
            let _ = std::fs::remove_file(&nodes);
            command
                .args(["--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(nodes);
        }
        let child = command
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (is it installed and on PATH?): {e}")
            });
        let mut redis = PrivateRedis {
            child: Some(child),
            port,
            cluster,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !answers_ping(port) {
            if let Some(status) = redis
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "private redis-server on port {port} exited at start-up: {status}"
                ));
            }
            assert!(
                Instant::now() < deadline,
                "private redis-server on port {port} did not answer PING within 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let ok = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill {sig} {} failed", child.id());
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel but
    /// no command is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Undoes [`PrivateRedis::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server and waits for it to exit; idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A paused process still dies on SIGKILL.
            let _ = child.kill();
            let _ = child.wait();
            if self.cluster {
                let nodes =
                    std::env::temp_dir().join(format!("store-test-nodes-{}.conf", self.port));
                let _ = std::fs::remove_file(nodes);
            }
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Plain commands, a Lua script (the lease) and a multi-key batch through a store made from
/// `settings` (an ACL user, TLS, a mode): each failure names `what`.
pub async fn exercise(settings: &store::StoreSettings, what: &str) {
    let store = store::Store::connect(settings)
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot set up the store: {e}"));
    store
        .ping()
        .await
        .unwrap_or_else(|e| panic!("{what}: the store does not answer (login, TLS): {e}"));

    store
        .set("plain", b"v1", None)
        .await
        .unwrap_or_else(|e| panic!("{what}: set: {e}"));
    assert_eq!(
        store.get("plain").await.unwrap(),
        Some(b"v1".to_vec()),
        "{what}: get"
    );

    assert!(
        store
            .lease_acquire("lease:{job:1}", "owner-a", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{what}: lease script: {e}")),
        "{what}: a free lease is taken"
    );
    assert!(
        !store
            .lease_acquire("lease:{job:1}", "owner-b", Duration::from_secs(30))
            .await
            .unwrap(),
        "{what}: a held lease is refused to another owner"
    );
    assert_eq!(
        store.lease_owner("lease:{job:1}").await.unwrap().as_deref(),
        Some("owner-a"),
        "{what}: lease owner"
    );

    // Keys in different slots on a cluster: the batch is split by slot.
    let entries: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| (format!("batch:{i}"), format!("value-{i}").into_bytes()))
        .collect();
    store
        .mset(&entries, Some(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("{what}: mset: {e}"));
    let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
    let values = store
        .mget(&keys)
        .await
        .unwrap_or_else(|e| panic!("{what}: mget: {e}"));
    let expected: Vec<Option<Vec<u8>>> = entries.into_iter().map(|(_, v)| Some(v)).collect();
    assert_eq!(values, expected, "{what}: mget after mset");
}
