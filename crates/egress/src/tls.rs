//! One TLS client configuration per process.
//!
//! A reqwest client left to configure TLS itself builds its own certificate verifier, which
//! reads and parses every root certificate of the system (`/etc/ssl/certs`): tens of
//! milliseconds and a few hundred kilobytes per client. The gateway builds about fifteen clients
//! while it starts (vendors, result downloads, deliveries, callbacks), so they share one
//! verifier instead: the same verifier reqwest would build (the platform's roots, honouring
//! `SSL_CERT_FILE` / `SSL_CERT_DIR`), with the same protocol versions and ALPN.

use std::sync::{Arc, OnceLock};

use reqwest::ClientBuilder;

/// `builder` with the process's shared TLS configuration. When the system's roots cannot be
/// loaded the builder is returned as it was, so reqwest reports the problem when it is built.
pub fn shared_roots(builder: ClientBuilder) -> ClientBuilder {
    static CONFIG: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    match CONFIG.get_or_init(client_config) {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        None => builder,
    }
}

fn client_config() -> Option<rustls::ClientConfig> {
    // As reqwest: an installed default provider first, else aws-lc-rs (the one it ships with).
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        // The platform verifier is not a webpki one, so rustls files it under "dangerous";
        // it verifies chains and host names as reqwest's default does.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest's choice without HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest accepts a preconfigured backend only of its own rustls version, and otherwise
    /// refuses to build any client: this fails when the two drift apart.
    #[test]
    fn reqwest_accepts_the_shared_configuration() {
        for _ in 0..2 {
            let client = shared_roots(reqwest::Client::builder()).build();
            assert!(client.is_ok(), "{client:?}");
        }
    }
}
