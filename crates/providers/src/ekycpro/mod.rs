//! ekycpro bulk detail check (document `003_aeff72829f5c7622.txt`): upload a file of E.164
//! numbers, poll the task, read the exported xlsx (`Number`, `signature`, `status_update`,
//! `whatsapp`). The vendor charges on HTTP 200 only, so failed uploads cost nothing.

mod client;
mod wire;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use domain::{
    Check, CheckSet, E164, NumberResult, ProviderError, ProviderErrorKind, ProviderId,
    normalize_with, parse_vendor_bool, parse_vendor_date,
};
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;

use crate::config::{DownloadConfig, EkycproConfig};
use crate::download::SafeDownloader;
use crate::http::Op;
use crate::registry::ConfigError;
use crate::traits::{BatchLimits, BulkNumberChecker, OrderProgress, ResultLocation, VendorOrderId};
use crate::xlsx::{Sheet, get};

/// The id this vendor answers under (API, store, metrics).
pub const ID: ProviderId = ProviderId::new("ekycpro");
const PROVIDER: ProviderId = ID;

/// The checks this vendor answers.
pub fn checks() -> CheckSet {
    CheckSet::of(&[Check::Registered, Check::Profile])
}

/// The ekycpro adapter.
#[derive(Debug, Clone)]
pub struct Ekycpro {
    client: client::Client,
    downloader: SafeDownloader,
    max_batch: usize,
}

impl Ekycpro {
    pub fn new(
        config: &EkycproConfig,
        http: reqwest::Client,
        download: DownloadConfig,
    ) -> Result<Self, ConfigError> {
        let mut api_key = HeaderValue::from_str(config.api_key.expose_secret())
            .map_err(|_| ConfigError::new(PROVIDER, "api_key is not a valid header value"))?;
        api_key.set_sensitive(true);
        let downloader = SafeDownloader::new(PROVIDER, &config.result_hosts, download)
            .map_err(|e| ConfigError::new(PROVIDER, format!("download client: {e}")))?;
        Ok(Self {
            client: client::Client {
                http,
                base: config.base_url.clone(),
                user_id: config.user_id.clone(),
                api_key,
                timeout: Duration::from_millis(config.timeout_ms),
            },
            downloader,
            max_batch: config.max_batch,
        })
    }
}

#[async_trait]
impl BulkNumberChecker for Ekycpro {
    fn provider(&self) -> ProviderId {
        PROVIDER
    }

    fn checks(&self) -> CheckSet {
        checks()
    }

    fn limits(&self) -> BatchLimits {
        BatchLimits {
            min: 1,
            max: self.max_batch,
        }
    }

    async fn submit(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<VendorOrderId, ProviderError> {
        let op = Op::new(PROVIDER, "submit");
        if numbers.is_empty() {
            return Err(op.err(ProviderErrorKind::BadRequest, "no numbers to submit"));
        }
        if checks.intersection(&self.checks()).is_empty() {
            return Err(op.err(
                ProviderErrorKind::Unsupported,
                "none of the asked checks is answered by ekycpro",
            ));
        }
        let mut file = String::with_capacity(numbers.len() * 17);
        for n in numbers {
            // Writing to a String cannot fail.
            let _ = writeln!(file, "{n}");
        }
        let task = self.client.create_task(&op, file.into_bytes()).await?;
        let id = task
            .task_id
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| op.err(ProviderErrorKind::MalformedAnswer, "answer has no task_id"))?;
        tracing::info!(provider = %PROVIDER, order = %id, count = numbers.len(), "ekycpro task created");
        Ok(VendorOrderId::new(id))
    }

    async fn poll(&self, order: &VendorOrderId) -> Result<OrderProgress, ProviderError> {
        let op = Op::new(PROVIDER, "poll");
        let task = self.client.get_task(&op, order.as_str()).await?;
        let done = match (task.success, task.failure) {
            (None, None) => None,
            (s, f) => Some(s.unwrap_or(0) + f.unwrap_or(0)),
        };
        let status = task.status.as_deref().map(str::trim).unwrap_or_default();
        match status.to_ascii_lowercase().as_str() {
            // "completed" is processing done but not yet exported for download.
            "pending" | "processing" | "completed" => Ok(OrderProgress::Running {
                done,
                total: task.total.filter(|t| *t > 0),
            }),
            "exported" => match task.result_url.filter(|u| !u.trim().is_empty()) {
                Some(url) => Ok(OrderProgress::Ready {
                    result: ResultLocation::new(url),
                }),
                None => Err(op.err(
                    ProviderErrorKind::MalformedAnswer,
                    "exported task has no result_url",
                )),
            },
            "failed" | "error" => Err(op.err_code(
                ProviderErrorKind::Unavailable,
                status,
                "the vendor reports the task failed",
            )),
            _ => Err(op.err_code(
                ProviderErrorKind::MalformedAnswer,
                crate::http::excerpt(status),
                "unknown task status",
            )),
        }
    }

    async fn fetch_results(
        &self,
        order: &VendorOrderId,
        location: &ResultLocation,
    ) -> Result<Vec<NumberResult>, ProviderError> {
        let op = Op::new(PROVIDER, "fetch_results");
        let file = self.downloader.fetch(location.as_str()).await?;
        let parsed = tokio::task::spawn_blocking(move || parse_results(file))
            .await
            .map_err(|e| {
                op.err(
                    ProviderErrorKind::MalformedAnswer,
                    format!("parser failed: {e}"),
                )
            })?;
        let (results, skipped) =
            parsed.map_err(|msg| op.err(ProviderErrorKind::MalformedAnswer, msg))?;
        if skipped > 0 {
            tracing::warn!(provider = %PROVIDER, order = %order, skipped, "result rows without a usable number");
        }
        Ok(results)
    }
}

fn parse_results(file: bytes::Bytes) -> Result<(Vec<NumberResult>, usize), String> {
    let sheet = Sheet::open(file)?;
    let [number, signature, status_update, whatsapp] = sheet.columns([
        &["Number", "phone", "phone number"],
        &["signature"],
        &["status_update", "status update"],
        &["whatsapp"],
    ]);
    if number.is_none() {
        return Err("result file has no Number column".to_owned());
    }
    let checked_at = Utc::now();
    let mut seen = HashSet::with_capacity(sheet.row_count());
    let mut out = Vec::with_capacity(sheet.row_count());
    let mut skipped = 0usize;
    for row in sheet.rows() {
        let Some(e164) = get(row, number).and_then(|raw| normalize_with(&raw, None).ok()) else {
            skipped += 1;
            continue;
        };
        if !seen.insert(e164) {
            continue;
        }
        let mut r = NumberResult::empty(e164, PROVIDER, checked_at);
        r.registered = get(row, whatsapp).and_then(|v| parse_vendor_bool(&v));
        r.about = get(row, signature).map(|v| v.into_owned());
        r.status_updated_on = get(row, status_update).and_then(|v| {
            // A date cell reads back as "yyyy-MM-dd 00:00:00".
            let date = v.split_whitespace().next().unwrap_or_default();
            parse_vendor_date(date).ok()
        });
        out.push(r);
    }
    Ok((out, skipped))
}
