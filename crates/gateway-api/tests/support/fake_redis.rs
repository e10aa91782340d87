//! A minimal RESP server that answers like Redis but can be told to answer `PING` slowly: a
//! request that waits on it is a genuinely slow in-flight request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct FakeRedis {
    pub port: u16,
    ping_delay_ms: Arc<AtomicU64>,
}

impl FakeRedis {
    pub async fn start() -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let ping_delay_ms = Arc::new(AtomicU64::new(0));
        let delay = ping_delay_ms.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read);
                    while let Some(command) = read_command(&mut lines).await {
                        let name = command
                            .first()
                            .map(|c| c.to_ascii_uppercase())
                            .unwrap_or_default();
                        let reply = if name == "PING" {
                            tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)))
                                .await;
                            match command.get(1) {
                                Some(arg) => format!("${}\r\n{}\r\n", arg.len(), arg),
                                None => "+PONG\r\n".to_owned(),
                            }
                        } else {
                            "+OK\r\n".to_owned()
                        };
                        if write.write_all(reply.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        FakeRedis {
            port,
            ping_delay_ms,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn slow_pings(&self, delay: Duration) {
        self.ping_delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
}

async fn read_command<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<Vec<String>> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let count: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).await.ok()?;
        line.clear();
        reader.read_line(&mut line).await.ok()?;
        parts.push(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    Some(parts)
}
