//! One `redis-server` child process under a watchdog, free ports and temporary directories.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{Connection, FromRedisValue};

use crate::{Acl, SETTLE_TIMEOUT, Tls, url};

/// Tries per server to find a port nobody else grabbed between our probe and the server's bind.
const PORT_TRIES: usize = 8;

/// Runs the server in the background and kills it once its standard input reaches end of file,
/// i.e. when the test process closes the pipe or exits. Prints the server's pid first.
const WATCHDOG: &str = r#"
"$0" "$@" &
server=$!
echo "$server"
cat >/dev/null
kill -9 "$server" 2>/dev/null
wait "$server" 2>/dev/null
exit 0
"#;

/// A directory of its own under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(kind: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "redis-harness-{kind}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A local port that is free now; with `bus`, `port + 10000` (a cluster node's bus port) too.
/// Panics when no such port is found in 100 tries.
#[must_use]
pub fn free_port(bus: bool) -> u16 {
    for _ in 0..100 {
        let probe = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
        let Ok(port) = probe.map(|a| a.port()) else {
            continue;
        };
        if !bus {
            return port;
        }
        if let Some(bus_port) = port.checked_add(10_000)
            && TcpListener::bind(("127.0.0.1", bus_port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free local port found");
}

/// Panics with an installation hint unless `binary` can be run from `PATH`.
pub(crate) fn require_binary(binary: &str, package: &str) {
    let found = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{binary}` is not on PATH: the Redis engine tests need it (Debian: apt-get install {package})"
    );
}

/// The ACL user of each server started with one, by port, so that the harness's own checks
/// (which only know a port) can log in. Ports are unique while their servers run.
static LOGINS: Mutex<Option<HashMap<u16, Acl>>> = Mutex::new(None);

fn logins() -> std::sync::MutexGuard<'static, Option<HashMap<u16, Acl>>> {
    LOGINS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn login_of(port: u16) -> Option<Acl> {
    logins().as_ref().and_then(|m| m.get(&port).cloned())
}

/// A sync connection with short timeouts, for the harness's own checks.
pub(crate) fn connect(port: u16) -> redis::RedisResult<Connection> {
    let target = match login_of(port) {
        Some(acl) => acl.url(port),
        None => url(port),
    };
    let client = redis::Client::open(target)?;
    let conn = client.get_connection_with_timeout(Duration::from_millis(500))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(conn)
}

/// Runs one command (given as words) on the server at `port`.
pub(crate) fn query<T: FromRedisValue>(port: u16, words: &[&str]) -> redis::RedisResult<T> {
    let mut conn = connect(port)?;
    let mut cmd = redis::cmd(words[0]);
    for word in &words[1..] {
        cmd.arg(*word);
    }
    cmd.query(&mut conn)
}

/// Polls `check` until it returns `Some`, panicking with `what` after [`SETTLE_TIMEOUT`].
pub(crate) fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {SETTLE_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `redis-server` process (a server, a cluster node or a sentinel), killed on drop.
#[derive(Debug)]
pub struct Server {
    watchdog: Child,
    /// Closing it makes the watchdog kill the server.
    lifeline: Option<ChildStdin>,
    pid: u32,
    port: u16,
    tls_port: Option<u16>,
}

impl Server {
    /// Starts `redis-server` with `args` (the port is added) on a free port, in `dir`, and
    /// waits until it answers `PING`. `config_file`, when given, is written first with the port
    /// filled in (`{port}`), and passed as the first argument (sentinels need one). With `acl`,
    /// that user is the only one (`default` off) and replicas log in to their master as it;
    /// with `tls`, the server also serves TLS on a port of its own ([`Server::tls_port`]).
    pub(crate) fn start_as(
        dir: &Path,
        name: &str,
        args: &[&str],
        config_file: Option<&str>,
        bus: bool,
        acl: Option<&Acl>,
        tls: Option<&Tls>,
    ) -> Server {
        require_binary("redis-server", "redis-server");
        let acl_args = acl.map(Acl::server_args).unwrap_or_default();
        let mut last_log = String::new();
        for _ in 0..PORT_TRIES {
            let port = free_port(bus);
            // The plain port stays open for the harness's own checks; tests use the TLS one.
            let tls_port = tls.map(|_| free_port(false));
            let tls_args = tls
                .zip(tls_port)
                .map(|(tls, p)| tls.server_args(p))
                .unwrap_or_default();
            let mut all_args: Vec<&str> = args.to_vec();
            all_args.extend(acl_args.iter().map(String::as_str));
            all_args.extend(tls_args.iter().map(String::as_str));
            if let Some(acl) = acl {
                logins()
                    .get_or_insert_with(HashMap::new)
                    .insert(port, acl.clone());
            }
            match Self::try_start(dir, name, port, &all_args, config_file) {
                Ok(mut server) => {
                    server.tls_port = tls_port;
                    return server;
                }
                Err(log) => {
                    if let Some(map) = logins().as_mut() {
                        map.remove(&port);
                    }
                    last_log = log;
                }
            }
        }
        panic!(
            "redis-server `{name}` did not start after {PORT_TRIES} tries; its log:\n{last_log}"
        );
    }

    fn try_start(
        dir: &Path,
        name: &str,
        port: u16,
        args: &[&str],
        config_file: Option<&str>,
    ) -> Result<Server, String> {
        let log = dir.join(format!("{name}-{port}.log"));
        let mut command = Command::new("sh");
        command.arg("-c").arg(WATCHDOG).arg("redis-server");
        if let Some(template) = config_file {
            let conf = dir.join(format!("{name}-{port}.conf"));
            std::fs::write(&conf, template.replace("{port}", &port.to_string()))
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
            command.arg(&conf);
        }
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut watchdog = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh for redis-server: {e}"));
        let lifeline = watchdog.stdin.take();
        let mut pid_line = String::new();
        if let Some(stdout) = watchdog.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut pid_line);
        }
        let mut server = Server {
            watchdog,
            lifeline,
            pid: pid_line.trim().parse().unwrap_or(0),
            port,
            tls_port: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if query::<String>(port, &["PING"]).is_ok_and(|p| p == "PONG") {
                return Ok(server);
            }
            if !server.is_running() || Instant::now() >= deadline {
                server.kill();
                return Err(std::fs::read_to_string(&log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server process exists and is not a zombie.
    fn is_running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|stat| {
            // The state follows the command name, which is in parentheses.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}`.
    #[must_use]
    pub fn url(&self) -> String {
        url(self.port)
    }

    /// The TLS-only port, when started with TLS.
    #[must_use]
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// Kills the server (SIGKILL) and waits for it; idempotent.
    pub fn kill(&mut self) {
        if self.lifeline.take().is_some() {
            let _ = self.watchdog.wait();
            if let Some(map) = logins().as_mut() {
                map.remove(&self.port);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One `redis-server` without persistence, on a free port.
#[derive(Debug)]
pub struct Standalone {
    server: Server,
    // Dropped after the server.
    _dir: TempDir,
}

impl Standalone {
    /// Starts the server and waits until it answers. Panics if `redis-server` is missing.
    #[must_use]
    pub fn start() -> Standalone {
        Self::start_with(None, None)
    }

    /// [`Standalone::start`]; with `acl`, that user is the only one (`default` is off).
    #[must_use]
    pub fn start_with_acl(acl: Option<&Acl>) -> Standalone {
        Self::start_with(acl, None)
    }

    /// [`Standalone::start`], with `acl` as the only user and, with `tls`, a TLS-only port
    /// ([`Standalone::tls_port`]) besides the plain one.
    #[must_use]
    pub fn start_with(acl: Option<&Acl>, tls: Option<&Tls>) -> Standalone {
        let dir = TempDir::new("standalone");
        let server = Server::start_as(dir.path(), "standalone", &[], None, false, acl, tls);
        Standalone { server, _dir: dir }
    }

    /// The TLS-only port, when started with TLS.
    #[must_use]
    pub fn tls_port(&self) -> Option<u16> {
        self.server.tls_port()
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis://127.0.0.1:{port}`.
    #[must_use]
    pub fn url(&self) -> String {
        self.server.url()
    }
}
