//! Fetching vendor result files without becoming an open proxy.
//!
//! Result URLs come from vendor answers, so they are untrusted: a URL is fetched only when its
//! origin (scheme, host, port) is on the vendor's allow-list, redirects are refused rather than
//! followed, and the body is capped while it streams.

use bytes::Bytes;
use domain::{ProviderError, ProviderErrorKind, ProviderId};
use url::{Origin, Url};

use crate::config::DownloadConfig;
use crate::http::{Op, read_capped};

/// Downloads result files for one vendor.
#[derive(Debug, Clone)]
pub struct SafeDownloader {
    provider: ProviderId,
    allowed: Vec<Origin>,
    client: reqwest::Client,
    config: DownloadConfig,
}

impl SafeDownloader {
    /// Builds its own client: the redirect policy of a shared client cannot be changed per
    /// request, and a followed redirect would already have reached the other host.
    pub fn new(
        provider: ProviderId,
        allowed_hosts: &[Url],
        config: DownloadConfig,
    ) -> Result<Self, reqwest::Error> {
        let client = crate::http::recommended_client(config.connect_timeout(), config.timeout())?;
        Ok(Self {
            provider,
            allowed: allowed_hosts.iter().map(Url::origin).collect(),
            client,
            config,
        })
    }

    pub fn is_allowed(&self, url: &Url) -> bool {
        let origin = url.origin();
        origin.is_tuple() && self.allowed.contains(&origin)
    }

    /// The file at `location`, or `forbidden_host` without any request when not allowed.
    pub async fn fetch(&self, location: &str) -> Result<Bytes, ProviderError> {
        let op = Op::new(self.provider, "download");
        let url = Url::parse(location.trim()).map_err(|_| {
            op.err(
                ProviderErrorKind::MalformedAnswer,
                "result location is not a URL",
            )
        })?;
        if !self.is_allowed(&url) {
            return Err(op.err(
                ProviderErrorKind::ForbiddenHost,
                format!(
                    "result host {}://{}:{} is not on the allow-list",
                    url.scheme(),
                    url.host_str().unwrap_or("?"),
                    url.port_or_known_default().unwrap_or(0)
                ),
            ));
        }
        let resp = self
            .client
            .get(url.clone())
            .timeout(self.config.timeout())
            .send()
            .await
            .map_err(|e| op.transport(e))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(op.err_code(
                ProviderErrorKind::ForbiddenHost,
                status.as_u16().to_string(),
                "result download answered with a redirect; not followed",
            ));
        }
        if resp.url() != &url {
            return Err(op.err(
                ProviderErrorKind::ForbiddenHost,
                "result download ended on another URL",
            ));
        }
        if !status.is_success() {
            return Err(op.status(status, resp.headers()));
        }
        let body = read_capped(&op, resp, self.config.max_bytes).await?;
        tracing::debug!(
            provider = %self.provider,
            bytes = body.len(),
            host = url.host_str().unwrap_or("?"),
            "result file downloaded"
        );
        Ok(body)
    }
}
