//! The real `gateway-api` binary as a child process, its stdout captured line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct GatewayProcess {
    pub child: Child,
    pub port: u16,
    pub output: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Starts the binary with `env` (on top of a clean `GATEWAY_*` environment) and waits until
    /// it logs the port it listens on.
    pub fn start(env: &[(&str, String)]) -> GatewayProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gateway-api"));
        command
            .arg("serve")
            .env("GATEWAY_SERVER__LISTEN", "127.0.0.1:0")
            .env("GATEWAY_SERVER__WORKERS", "1")
            .env("GATEWAY_LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the gateway binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = output.lock() {
                        lines.push(line);
                    }
                }
            });
        }
        let started = Instant::now();
        loop {
            let port = output.lock().ok().and_then(|lines| {
                lines.iter().find_map(|line| {
                    let value: serde_json::Value = serde_json::from_str(line).ok()?;
                    (value["message"] == "gateway listening")
                        .then(|| value["port"].as_u64())
                        .flatten()
                })
            });
            if let Some(port) = port {
                return GatewayProcess {
                    child,
                    port: u16::try_from(port).expect("port"),
                    output,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the gateway exited early ({status}): {:?}",
                    output.lock().map(|l| l.join("\n"))
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the gateway did not start: {:?}",
                output.lock().map(|l| l.join("\n"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, returning its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }

    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
