//! Background workers and their shutdown: on SIGTERM the HTTP server drains, then every worker
//! is told to stop, hands back its leases, and is awaited within the drain time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A signal workers watch; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when shutdown is requested.
    pub async fn requested(&mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps for `duration` unless shutdown comes first; returns `true` if it came.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.is_requested(),
            _ = self.requested() => true,
        }
    }
}

/// Asks the workers to stop, from anywhere (a signal handler).
#[derive(Debug, Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    pub fn request(&self) {
        let _ = self.0.send(true);
    }
}

/// The running workers of one gateway process.
#[derive(Debug)]
pub struct Workers {
    trigger: Arc<watch::Sender<bool>>,
    handles: Vec<JoinHandle<()>>,
}

impl Default for Workers {
    fn default() -> Self {
        Self::new()
    }
}

impl Workers {
    pub fn new() -> Self {
        Self {
            trigger: Arc::new(watch::channel(false).0),
            handles: Vec::new(),
        }
    }

    pub fn shutdown_signal(&self) -> Shutdown {
        Shutdown(self.trigger.subscribe())
    }

    pub fn stopper(&self) -> Stopper {
        Stopper(self.trigger.clone())
    }

    pub fn push(&mut self, handle: JoinHandle<()>) {
        self.handles.push(handle);
    }

    /// Asks every worker to stop and waits for them, at most `within`.
    pub async fn stop(self, within: Duration) {
        let _ = self.trigger.send(true);
        let all = futures_util::future::join_all(self.handles);
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("workers did not stop within the drain time");
        }
    }
}
