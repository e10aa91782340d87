//! HTTP calls to the screening endpoints.

use bytes::Bytes;
use domain::{ProviderError, ProviderErrorKind};
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use super::wire::{Envelope, ScreenRequest, as_i64};
use crate::http::{MAX_JSON_BYTES, Op, endpoint, excerpt, read_capped};

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub http: reqwest::Client,
    pub base: Url,
    /// Marked sensitive so they never show in `Debug` or logs.
    pub auth: HeaderMap,
    pub timeout: std::time::Duration,
}

impl Client {
    async fn post(
        &self,
        op: &Op,
        path: &[&str],
        body: Option<Bytes>,
    ) -> Result<Value, ProviderError> {
        let url = endpoint(op, &self.base, path)?;
        let mut req = self
            .http
            .post(url)
            .headers(self.auth.clone())
            .timeout(self.timeout);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
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
            let message = excerpt(env.message.as_deref().unwrap_or("no message"));
            return Err(op.err_code(envelope_kind(code), vendor_code, message));
        }
        Ok(env.data)
    }

    pub async fn screen(&self, op: &Op, req: &ScreenRequest<'_>) -> Result<Value, ProviderError> {
        let body = serde_json::to_vec(req).map_err(|e| {
            op.err(
                ProviderErrorKind::Config,
                format!("cannot encode request: {e}"),
            )
        })?;
        self.post(op, &["open", "scan", "screenWhatsApp"], Some(body.into()))
            .await
    }

    pub async fn task_status(&self, op: &Op, order: &str) -> Result<Value, ProviderError> {
        self.post(op, &["open", "scan", "queryTaskStatus", order], None)
            .await
    }

    pub async fn task_details(&self, op: &Op, order: &str) -> Result<Value, ProviderError> {
        self.post(op, &["open", "scan", "queryTaskDetails", order], None)
            .await
    }
}

/// The document lists no error codes besides 200; read the usual HTTP-like values.
fn envelope_kind(code: Option<i64>) -> ProviderErrorKind {
    match code {
        Some(401 | 403) => ProviderErrorKind::Auth,
        Some(404) => ProviderErrorKind::NotFound,
        Some(429) => ProviderErrorKind::RateLimited { retry_after: None },
        Some(c) if c >= 500 => ProviderErrorKind::Unavailable,
        Some(_) => ProviderErrorKind::BadRequest,
        None => ProviderErrorKind::MalformedAnswer,
    }
}
