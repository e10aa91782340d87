//! A real binary as a child process, its stdout and stderr captured line by line. When a test
//! fails, the output of every process it started is printed with the failure.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::binaries;

/// How long a binary may take to say it listens (a cold start on a busy 2-core machine).
const START_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct ChildProcess {
    name: &'static str,
    child: Mutex<Child>,
    output: Arc<Mutex<Vec<String>>>,
}

impl ChildProcess {
    /// Spawns `command` with its output captured; of the `GATEWAY_*` variables, only those set
    /// on `command` reach it, none of the test's own environment.
    pub fn spawn(name: &'static str, mut command: Command) -> ChildProcess {
        let chosen: Vec<std::ffi::OsString> =
            command.get_envs().map(|(key, _)| key.to_owned()).collect();
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GATEWAY_") && !chosen.contains(&key) {
                command.env_remove(key);
            }
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = output.lock() {
                        lines.push(line);
                    }
                }
            });
        }
        ChildProcess {
            name,
            child: Mutex::new(child),
            output,
        }
    }

    /// Waits until one output line yields `Some` from `find`, failing if the process exits first.
    pub async fn wait_for_line<T>(&self, find: impl Fn(&str) -> Option<T>) -> T {
        match self.wait_for_line_or_exit(find).await {
            Ok(found) => found,
            Err(status) => panic!("{} exited early ({status}):\n{}", self.name, self.output()),
        }
    }

    /// As [`ChildProcess::wait_for_line`], but a process that exits first is an `Err` with its
    /// exit status, for a caller that can start it again.
    pub async fn wait_for_line_or_exit<T>(
        &self,
        find: impl Fn(&str) -> Option<T>,
    ) -> Result<T, std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            let found = self
                .output
                .lock()
                .ok()
                .and_then(|lines| lines.iter().find_map(|line| find(line)));
            if let Some(found) = found {
                return Ok(found);
            }
            if let Some(status) = self.exit_status() {
                return Err(status);
            }
            assert!(
                started.elapsed() < START_WITHIN,
                "{} did not start:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn id(&self) -> u32 {
        self.child.lock().map(|c| c.id()).unwrap_or_default()
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {}", self.id());
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().ok()?.try_wait().ok().flatten()
    }

    /// Waits for the process to exit, returning its exit code (`None`: still running).
    pub async fn wait_exit(&self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.exit_status() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    pub fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- output of {} (pid {}) -----\n{}",
                self.name,
                self.id(),
                self.output()
            );
        }
    }
}

/// A process that exited before it was ready, with what it printed.
#[derive(Debug)]
pub struct ExitedEarly {
    pub status: std::process::ExitStatus,
    pub output: String,
}

/// The real `gateway-api` serving with `config` (a TOML file) and `env` on top.
#[derive(Debug)]
pub struct GatewayProcess {
    pub process: ChildProcess,
    pub port: u16,
    pub status_port: Option<u16>,
}

impl GatewayProcess {
    /// Starts the binary and waits until it logs the ports it listens on.
    pub async fn start(config: Option<&Path>, env: &[(&str, String)]) -> GatewayProcess {
        match Self::try_start(config, env).await {
            Ok(gateway) => gateway,
            Err(early) => panic!(
                "gateway-api exited early ({}):\n{}",
                early.status, early.output
            ),
        }
    }

    /// As [`GatewayProcess::start`], but a gateway that exits before it listens (a port taken
    /// meanwhile, say) is an `Err` with its output.
    pub async fn try_start(
        config: Option<&Path>,
        env: &[(&str, String)],
    ) -> Result<GatewayProcess, ExitedEarly> {
        let mut command = Command::new(binaries::gateway());
        match config {
            Some(config) => {
                command.arg("--config").arg(config);
            }
            // Configured by the environment alone: any free port, one worker.
            None => {
                command
                    .env("GATEWAY_SERVER__LISTEN", "127.0.0.1:0")
                    .env("GATEWAY_SERVER__WORKERS", "1");
            }
        }
        command
            .arg("serve")
            .env("GATEWAY_LOG__FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let process = ChildProcess::spawn("gateway-api", command);
        match process.wait_for_line_or_exit(listening_ports).await {
            Ok((port, status_port)) => Ok(GatewayProcess {
                process,
                port,
                status_port,
            }),
            Err(status) => Err(ExitedEarly {
                status,
                output: process.output(),
            }),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn sigterm(&self) {
        self.process.sigterm();
    }

    /// Kills the process without warning (SIGKILL), as a crash or an OOM kill would.
    pub fn kill(&self) {
        self.process.kill();
    }

    pub async fn wait_exit(&self, within: Duration) -> Option<i32> {
        self.process.wait_exit(within).await
    }

    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// The ports of the gateway's `gateway listening` log line.
fn listening_ports(line: &str) -> Option<(u16, Option<u16>)> {
    let value: Value = serde_json::from_str(line).ok()?;
    if value["message"] != "gateway listening" {
        return None;
    }
    let port = |v: &Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    Some((port(&value["port"])?, port(&value["status_port"])))
}
