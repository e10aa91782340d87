//! Starting and stopping a simulator that serves all five vendors on one listener.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::accounts::{self, AccountsSim};
use crate::config::SimConfig;
use crate::faults::{FaultRegistry, FaultSpec};
use crate::ledger::Ledger;
use crate::state::SimState;
use crate::{admin, middleware, vendors};

/// Largest request body: an ekycpro file of a few hundred thousand numbers fits.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A simulator serving on its listener until [`RunningSim::stop`] or drop.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    base_url: String,
    state: web::Data<SimState>,
    accounts: Arc<AccountsSim>,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Starts the simulator on `listen` (such as `127.0.0.1:0` for any free port). Must be called
/// inside a Tokio runtime.
pub async fn start(config: SimConfig, listen: &str) -> anyhow::Result<RunningSim> {
    let listener =
        TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let base_url = base_url_of(addr);
    let workers = config.workers.max(1);
    let accounts_sim = AccountsSim::new(config.accounts_config());
    let state = web::Data::new(SimState::new(config, &base_url).map_err(anyhow::Error::msg)?);
    let app_state = state.clone();
    let accounts = Arc::clone(&accounts_sim);
    let server = HttpServer::new(move || {
        let accounts_sim = Arc::clone(&accounts_sim);
        App::new()
            .app_data(app_state.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .wrap(from_fn(middleware::vendor_layer))
            .configure(admin::configure)
            .configure(vendors::screening::configure)
            .configure(vendors::nxcloud::configure)
            .configure(vendors::ekycpro::configure)
            .configure(vendors::accuauth::configure)
            .configure(move |cfg| accounts::configure(cfg, accounts_sim))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(RunningSim {
        addr,
        base_url,
        state,
        accounts,
        handle,
        task: Some(task),
    })
}

/// `http://host:port`, with an unspecified listen address replaced by loopback so the URL works.
fn base_url_of(addr: SocketAddr) -> String {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{shown}")
}

impl RunningSim {
    /// Such as `http://127.0.0.1:9090`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The account-management simulation (document 001), for its own in-process controls.
    pub fn accounts(&self) -> &Arc<AccountsSim> {
        &self.accounts
    }

    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// What the vendors would bill so far.
    pub fn ledger(&self) -> Ledger {
        self.state.ledger.snapshot()
    }

    pub fn reset_ledger(&self) {
        self.state.ledger.reset();
    }

    /// The live faults, the same ones `/_sim/faults` shows.
    pub fn faults(&self) -> &FaultRegistry {
        &self.state.faults
    }

    /// Adds a fault (or replaces the one with its id); returns it with its id.
    pub fn set_fault(&self, fault: FaultSpec) -> Result<FaultSpec, String> {
        self.state.faults.set(fault)
    }

    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until the server stops by itself (used by the binary together with a signal).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        match self.task.take() {
            Some(task) => Ok(task.await??),
            None => Ok(()),
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; its future only waits for completion.
        drop(self.handle.stop(false));
    }
}
