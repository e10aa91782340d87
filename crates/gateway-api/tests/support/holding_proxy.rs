//! A TCP proxy in front of Redis that lets a chosen write through but holds the replies on its
//! connection for a while, once: Redis applies the write, and the gateway, whose command timeout
//! is shorter than the hold, sees it fail and tries again. Or, [`HoldingProxy::cutting`], drops
//! the connection instead of forwarding the chosen write: the write never lands.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct HoldingProxy {
    pub port: u16,
    held: Arc<AtomicUsize>,
}

/// What to hold: the first client write containing every one of `needles`.
#[derive(Debug, Clone)]
struct Trigger {
    needles: Vec<String>,
    hold: Duration,
    /// Drop the connection instead of forwarding the write.
    cut: bool,
    armed: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
}

impl Trigger {
    /// Whether `write` is the one to hold (at most one write ever is).
    fn fires_on(&self, write: &[u8]) -> bool {
        let text = String::from_utf8_lossy(write);
        self.needles.iter().all(|n| text.contains(n.as_str()))
            && self.armed.swap(false, Ordering::SeqCst)
    }
}

impl HoldingProxy {
    /// Listens on a free local port and forwards every connection to `target` (`host:port`);
    /// the first client write containing all `needles` is forwarded, and the replies on its
    /// connection are then held for `hold`.
    pub async fn start(target: &str, needles: &[&str], hold: Duration) -> HoldingProxy {
        Self::listen(target, needles, hold, false).await
    }

    /// Like [`HoldingProxy::start`], but the first client write containing all `needles` is
    /// not forwarded: its connection is closed, as when the store goes away mid-command.
    pub async fn cutting(target: &str, needles: &[&str]) -> HoldingProxy {
        Self::listen(target, needles, Duration::ZERO, true).await
    }

    async fn listen(target: &str, needles: &[&str], hold: Duration, cut: bool) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let held = Arc::new(AtomicUsize::new(0));
        let trigger = Trigger {
            needles: needles.iter().map(|n| (*n).to_owned()).collect(),
            hold,
            cut,
            armed: Arc::new(AtomicBool::new(true)),
            held: held.clone(),
        };
        let target = target.to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                tokio::spawn(forward(client, server, trigger.clone()));
            }
        });
        HoldingProxy { port, held }
    }

    /// A `redis://` URL through the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Writes whose replies were held, or whose connections were cut, so far (0 or 1).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

async fn forward(client: TcpStream, server: TcpStream, trigger: Trigger) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let hold_until: Arc<Mutex<Option<Instant>>> = Arc::default();
    let upstream = {
        let hold_until = hold_until.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = client_read.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                // Set before the write goes on, so its reply cannot slip through first.
                if trigger.fires_on(&buf[..n]) {
                    trigger.held.fetch_add(1, Ordering::SeqCst);
                    if trigger.cut {
                        break;
                    }
                    *hold_until.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Instant::now() + trigger.hold);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = server_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let until = *hold_until.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(until) = until {
                tokio::time::sleep_until(until).await;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
