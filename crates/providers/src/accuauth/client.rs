//! The single HTTP call to `/check/whatsapp_advanced`.

use std::time::Duration;

use domain::{ProviderError, ProviderErrorKind};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

use super::wire::{Answer, CheckRequest};
use crate::http::{MAX_JSON_BYTES, Op, endpoint, read_capped};

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub http: reqwest::Client,
    pub base: Url,
    /// Marked sensitive so they never show in `Debug` or logs.
    pub api_id: HeaderValue,
    pub api_secret: HeaderValue,
    pub timeout: Duration,
}

/// What the vendor answered, before mapping to domain types.
pub(super) enum Outcome {
    Ok(Answer),
    Pending,
}

impl Client {
    pub async fn check(&self, op: &Op, national: &str) -> Result<Outcome, ProviderError> {
        let url = endpoint(op, &self.base, &["check", "whatsapp_advanced"])?;
        let resp = op
            .send(
                self.http
                    .post(url)
                    .header("X-DF-API-ID", self.api_id.clone())
                    .header("X-DF-API-SECRET", self.api_secret.clone())
                    .timeout(self.timeout)
                    .json(&CheckRequest { number: national }),
            )
            .await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_capped(op, resp, MAX_JSON_BYTES).await?;
        let answer: Option<Answer> = serde_json::from_slice(&body).ok();
        let vendor_status = answer
            .as_ref()
            .and_then(|a| a.status.as_deref())
            .map(|s| s.trim().to_ascii_uppercase());

        match vendor_status.as_deref() {
            Some("OK") if status.is_success() => match answer {
                Some(a) => Ok(Outcome::Ok(a)),
                None => Err(op.err(ProviderErrorKind::MalformedAnswer, "empty answer")),
            },
            Some("PENDING") => Ok(Outcome::Pending),
            Some(code) => {
                let reason = answer
                    .as_ref()
                    .and_then(|a| a.reason.as_deref())
                    .map(crate::http::excerpt)
                    .unwrap_or_default();
                let request_id = answer
                    .as_ref()
                    .and_then(|a| a.request_id.as_deref())
                    .unwrap_or("-");
                let kind = error_kind(code, status, &headers);
                Err(op.err_code(
                    kind,
                    code,
                    format!("HTTP {status}, request {request_id}: {reason}"),
                ))
            }
            None if status.is_success() => Err(op.err(
                ProviderErrorKind::MalformedAnswer,
                format!("unreadable answer ({} bytes)", body.len()),
            )),
            None => Err(op.status(status, &headers)),
        }
    }
}

fn error_kind(code: &str, status: StatusCode, headers: &HeaderMap) -> ProviderErrorKind {
    match code {
        "INVALID_ARGUMENT" => ProviderErrorKind::BadRequest,
        "UNAUTHORIZED" | "KEY_EXPIRED" | "NO_PERMISSION" => ProviderErrorKind::Auth,
        "OUT_OF_QUOTA" => ProviderErrorKind::QuotaExhausted,
        "RATE_LIMIT_EXCEEDED" => ProviderErrorKind::RateLimited {
            retry_after: crate::http::retry_after(headers),
        },
        "NOT_FOUND" => ProviderErrorKind::NotFound,
        "INTERNAL_ERROR" => ProviderErrorKind::Unavailable,
        // An undocumented status: fall back on what the HTTP status means; a 200 with an
        // unknown status is not an answer we understand.
        _ if status.is_success() => ProviderErrorKind::MalformedAnswer,
        _ => crate::http::status_kind(status, headers),
    }
}
