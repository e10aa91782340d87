//! A TCP proxy in front of a server (Redis, a vendor) that counts the connections it accepts and
//! keeps what clients write, one entry per read. A client's command or pipeline is one small
//! write, read here in one piece, and a command sent only after an earlier reply came back is
//! never read together with it: the entries that name a key are the round trips that used it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct CountingProxy {
    pub port: u16,
    accepts: Arc<AtomicUsize>,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl CountingProxy {
    /// Listens on a free local port and forwards every connection to `target` (`host:port`).
    pub async fn start(target: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let proxy = CountingProxy {
            port,
            accepts: Arc::default(),
            writes: Arc::default(),
        };
        let (accepts, writes, target) = (
            proxy.accepts.clone(),
            proxy.writes.clone(),
            target.to_owned(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepts.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                tokio::spawn(forward(client, server, writes.clone()));
            }
        });
        proxy
    }

    /// A `redis://` URL through the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// An `http://` base URL through the proxy.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// The client writes so far that contain `needle`, as text.
    pub fn writes_naming(&self, needle: &str) -> Vec<String> {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|write| String::from_utf8_lossy(write).into_owned())
            .filter(|text| text.contains(needle))
            .collect()
    }
}

async fn forward(client: TcpStream, server: TcpStream, writes: Arc<Mutex<Vec<Vec<u8>>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            writes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(buf[..n].to_vec());
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
