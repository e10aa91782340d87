//! The real `vendor-sim` binary, driven through its own `/_sim` endpoints: the same calls as the
//! in-process simulator's handle (`ledger()`, `set_fault()`, ...), so tests read the same.

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use vendor_sim::{FaultSpec, Ledger, SimConfig};

use super::binaries;
use super::process::ChildProcess;

#[derive(Debug)]
pub struct RunningSim {
    // Killed when the handle is dropped.
    _process: ChildProcess,
    base_url: String,
    // Holds the configuration file for as long as the simulator runs.
    _dir: tempfile::TempDir,
}

/// Starts the simulator binary with `config` on `listen` (`127.0.0.1:0`: any free port).
pub async fn start(config: SimConfig, listen: &str) -> Result<RunningSim, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("sim.json");
    let json = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
    std::fs::write(&file, json).map_err(|e| e.to_string())?;
    let mut command = Command::new(binaries::simulator());
    command
        .arg("--listen")
        .arg(listen)
        .arg("--config")
        .arg(&file)
        .env("RUST_LOG", "warn");
    let process = ChildProcess::spawn("vendor-sim", command);
    let base_url = process
        .wait_for_line(|line| {
            line.strip_prefix("vendor-sim listening on ")
                .map(str::to_owned)
        })
        .await;
    Ok(RunningSim {
        _process: process,
        base_url,
        _dir: dir,
    })
}

impl RunningSim {
    /// Such as `http://127.0.0.1:9090`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// What the simulated vendors were asked and billed, so far.
    pub fn ledger(&self) -> Ledger {
        self.call("GET", "/_sim/ledger", None)
    }

    /// Adds (or replaces by id) one fault, returning it as the simulator stored it.
    pub fn set_fault(&self, fault: FaultSpec) -> Result<FaultSpec, String> {
        let body = serde_json::to_value(&fault).map_err(|e| e.to_string())?;
        let set: Vec<FaultSpec> = self.try_call("POST", "/_sim/faults", Some(body))?;
        set.into_iter()
            .next()
            .ok_or_else(|| "the simulator set no fault".to_owned())
    }

    pub fn clear_faults(&self) {
        let _: Value = self.call("DELETE", "/_sim/faults", None);
    }

    /// The account-management simulation's controls.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts { sim: self }
    }

    fn call<T: DeserializeOwned + Send>(&self, method: &str, path: &str, body: Option<Value>) -> T {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on the simulator: {e}"))
    }

    /// One request to the simulator, answered before this returns: the tests call these
    /// controls from synchronous code, as they did on the in-process handle.
    fn try_call<T: DeserializeOwned + Send>(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, String> {
        let url = format!("{}{path}", self.base_url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        block_on(async move {
            let client = reqwest::Client::new();
            let mut request = client
                .request(method, &url)
                .timeout(Duration::from_secs(30));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
            }
            // `204 No Content` reads as JSON `null`.
            let bytes = if bytes.is_empty() {
                b"null".as_slice().into()
            } else {
                bytes
            };
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        })
    }
}

#[derive(Debug)]
pub struct Accounts<'a> {
    sim: &'a RunningSim,
}

impl Accounts<'_> {
    /// Accounts, sessions, ports, actions and the webhook log, as the simulator holds them now.
    pub fn state_json(&self) -> Value {
        self.sim.call("GET", "/_sim/accounts/state", None)
    }
}

/// Runs `future` to completion on a runtime of its own, on a thread of its own, so that it can
/// be awaited from synchronous code inside a test's runtime.
fn block_on<T: Send>(future: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for a simulator call")
                    .block_on(future)
            })
            .join()
            .expect("the simulator call does not panic")
    })
}
