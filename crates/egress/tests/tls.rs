//! The shared TLS configuration still verifies certificates: a server whose certificate no
//! system root signed is refused during the handshake. The server is `openssl s_server` with a
//! throw-away self-signed certificate made at test time (no key is committed).

use std::error::Error as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `openssl s_server` answering every request with a page (`-www`) on `port`.
fn self_signed_server(port: u16) -> Server {
    let dir = std::env::temp_dir().join(format!("egress-tls-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let made = Command::new("openssl")
        .current_dir(&dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("this test needs the openssl command");
    assert!(made.success(), "openssl could not make a certificate");
    let child = Command::new("openssl")
        .current_dir(&dir)
        .args([
            "s_server", "-quiet", "-www", "-cert", "cert.pem", "-key", "key.pem",
        ])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let server = Server { child, dir };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "openssl s_server did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[tokio::test]
async fn a_certificate_no_system_root_signed_is_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let _server = self_signed_server(port);
    let client = egress::tls::shared_roots(reqwest::Client::builder())
        .build()
        .expect("client");
    let error = client
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .expect_err("an unverifiable certificate must be refused");
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = error.source();
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    let chain = chain.join(" / ");
    assert!(
        chain.to_lowercase().contains("certificate"),
        "refused for another reason: {chain}"
    );
}
