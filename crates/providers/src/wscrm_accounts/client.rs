//! HTTP calls to the two wscrm prefixes, with the configured authentication headers.

use domain::{ProviderError, ProviderErrorKind};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::wire::{Envelope, as_i64};
use crate::http::{MAX_JSON_BYTES, Op, endpoint, excerpt, read_capped};

/// Which base URL a path lives under.
#[derive(Debug, Clone, Copy)]
pub(super) enum Prefix {
    /// `/wscrm-bus-api`
    Bus,
    /// `/group-dispatch-api`
    Dispatch,
}

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub http: reqwest::Client,
    pub bus: Url,
    pub dispatch: Url,
    /// Marked sensitive so they never show in `Debug` or logs.
    pub auth: HeaderMap,
    pub timeout: std::time::Duration,
}

impl Client {
    /// Calls one endpoint and returns the envelope's `data`, or the envelope's error.
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        op: &Op,
        prefix: Prefix,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Value, ProviderError> {
        let base = match prefix {
            Prefix::Bus => &self.bus,
            Prefix::Dispatch => &self.dispatch,
        };
        let mut url = endpoint(op, base, path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let method = if body.is_some() {
            Method::POST
        } else {
            Method::GET
        };
        let mut req = self
            .http
            .request(method, url)
            .headers(self.auth.clone())
            .timeout(self.timeout);
        if let Some(body) = body {
            // Bodies may hold key material: they are never logged, and encoding errors say
            // nothing of the content.
            let bytes = serde_json::to_vec(body)
                .map_err(|_| op.err(ProviderErrorKind::Config, "cannot encode request"))?;
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let resp = op.send(req).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(op.status(status, resp.headers()));
        }
        let body = read_capped(op, resp, MAX_JSON_BYTES).await?;
        let env: Envelope = op.json(&body)?;
        let code = as_i64(&env.code);
        if code != Some(200) {
            let vendor_code = code.map_or_else(|| env.code.to_string(), |c| c.to_string());
            let message = mask_numbers(&excerpt(env.message.as_deref().unwrap_or("no message")));
            return Err(op.err_code(envelope_kind(code), vendor_code, message));
        }
        Ok(env.data)
    }
}

/// Envelope codes: HTTP-like values and document 001's "QR Code Error Information" table
/// (1001 quota used up, 1002 port unknown or released, 1003 unsupported type, 1004 no pairing
/// target), in our words. The raw code stays on the error for the logs.
fn envelope_kind(code: Option<i64>) -> ProviderErrorKind {
    match code {
        Some(401 | 403) => ProviderErrorKind::Auth,
        Some(404) => ProviderErrorKind::NotFound,
        Some(409) => ProviderErrorKind::Conflict,
        Some(429) => ProviderErrorKind::RateLimited { retry_after: None },
        Some(1001) => ProviderErrorKind::PortQuotaExhausted,
        Some(1002) => ProviderErrorKind::PortReleased,
        Some(1003) => ProviderErrorKind::InvalidInput {
            field: Some("port_type"),
        },
        Some(1004) => ProviderErrorKind::PairingTargetRequired,
        Some(c) if (500..600).contains(&c) => ProviderErrorKind::Unavailable,
        Some(_) => ProviderErrorKind::BadRequest,
        None => ProviderErrorKind::MalformedAnswer,
    }
}

/// Vendor messages name numbers ("accounts are banned: 8613800138000"): mask every run of 8 or
/// more digits before the message reaches an error or a log line.
fn mask_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 8 {
            out.push_str(&domain::mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in message.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_in_vendor_messages_are_masked() {
        assert_eq!(
            super::mask_numbers("accounts are banned: 8613800138000,1001"),
            "accounts are banned: 86******8000,1001"
        );
    }
}
