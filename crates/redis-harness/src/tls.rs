//! A throw-away certificate authority and a server certificate for `127.0.0.1`, made with
//! `openssl` in a temporary directory when a test asks for TLS (no key is ever committed).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::TempDir;

/// The CA certificate and the servers' certificate and key (one for every server: all listen
/// on `127.0.0.1`, which is the certificate's subject alternative name).
#[derive(Debug)]
pub struct Tls {
    dir: TempDir,
}

/// The server certificate's extensions: valid for `127.0.0.1`, as a server and, for the links
/// between nodes (replication, cluster bus), as a client too.
const SERVER_EXTENSIONS: &str = "subjectAltName=IP:127.0.0.1\n\
basicConstraints=CA:FALSE\n\
keyUsage=digitalSignature,keyEncipherment\n\
extendedKeyUsage=serverAuth,clientAuth\n";

impl Tls {
    /// Makes a CA (`ca.crt`) and a server certificate it signs. Panics if `openssl` is missing
    /// or fails.
    #[must_use]
    pub fn generate() -> Tls {
        require_binary_version("openssl");
        let dir = TempDir::new("tls");
        let path = dir.path();
        std::fs::write(path.join("server.ext"), SERVER_EXTENSIONS)
            .unwrap_or_else(|e| panic!("cannot write server.ext: {e}"));
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            path,
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=redis-harness test CA",
                ],
            ],
        );
        openssl(
            path,
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ],
        );
        openssl(
            path,
            &[&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ]],
        );
        Tls { dir }
    }

    /// The CA certificate (PEM) that clients must trust.
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// `redis-server` arguments serving TLS on `tls_port` with this certificate; clients need
    /// no certificate of their own.
    pub(crate) fn server_args(&self, tls_port: u16) -> Vec<String> {
        let file = |name: &str| self.dir.path().join(name).display().to_string();
        vec![
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            file("server.crt"),
            "--tls-key-file".to_owned(),
            file("server.key"),
            "--tls-ca-cert-file".to_owned(),
            file("ca.crt"),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ]
    }
}

fn require_binary_version(binary: &str) {
    let found = Command::new(binary)
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{binary}` is not on PATH: the TLS tests need it (Debian: apt-get install openssl)"
    );
}

fn openssl(dir: &Path, parts: &[&[&str]]) {
    let args: Vec<&str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let output = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
