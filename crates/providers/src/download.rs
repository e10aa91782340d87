//! Fetching vendor result files without becoming an open proxy.
//!
//! Result URLs come from vendor answers, so they are untrusted: a URL is fetched only when the
//! outbound URL policy allows it (the vendor's `result_hosts` allow-list, the address rules),
//! redirects are refused rather than followed, and the body is capped while it streams.

use bytes::Bytes;
use domain::{ProviderError, ProviderErrorKind, ProviderId};
use egress::{AllowList, EgressClient, Refusal, UrlPolicy, refusal_of};
use reqwest::Method;
use url::Url;

use crate::config::DownloadConfig;
use crate::http::{Op, read_capped};

/// Downloads result files for one vendor.
#[derive(Debug, Clone)]
pub struct SafeDownloader {
    provider: ProviderId,
    client: EgressClient,
    config: DownloadConfig,
}

impl SafeDownloader {
    /// Builds its own clients: the redirect policy and resolver of a shared client cannot be
    /// changed per request, and a followed redirect would already have reached the other host.
    pub fn new(
        provider: ProviderId,
        allowed_hosts: &AllowList,
        config: DownloadConfig,
    ) -> Result<Self, reqwest::Error> {
        let client = EgressClient::new(UrlPolicy::new(allowed_hosts.clone()), |builder| {
            builder
                .connect_timeout(config.connect_timeout())
                .timeout(config.timeout())
        })?;
        Ok(Self {
            provider,
            client,
            config,
        })
    }

    pub fn is_allowed(&self, url: &Url) -> bool {
        self.client.policy().permit_url(url).is_ok()
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
        let permit = self
            .client
            .policy()
            .permit_url(&url)
            .map_err(|refusal| forbidden(&op, &url, &refusal))?;
        let resp = op
            .send_traced(
                self.client
                    .request_permitted(Method::GET, permit)
                    .timeout(self.config.timeout()),
            )
            .await
            .map_err(|e| match refusal_of(&e) {
                Some(refusal) if !refusal.rule.is_transient() => forbidden(&op, &url, refusal),
                _ => op.transport(e),
            })?;
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

/// The policy refused the result URL: the vendor pointed at a host it may not.
fn forbidden(op: &Op, url: &Url, refusal: &Refusal) -> ProviderError {
    op.err(
        ProviderErrorKind::ForbiddenHost,
        format!(
            "result host {}://{}:{} is not allowed ({}): {}",
            url.scheme(),
            url.host_str().unwrap_or("?"),
            url.port_or_known_default().unwrap_or(0),
            refusal.rule,
            refusal.detail
        ),
    )
}
