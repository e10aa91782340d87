//! wscrm bulk number screening (document `000_fe3853ebb177c98b.txt`).
//!
//! Check → vendor `type` mapping (one `type` per order):
//! - `activity` → `1` (screen active); `registered`/`business` ride along.
//! - `demographics` → `2` (avatar, gender, age); `registered`/`business` ride along when no
//!   activity order is made.
//! - only `registered` and/or `business` → `0` (is WhatsApp).
//!
//! `activity` together with `demographics` needs two orders; [`BulkNumberChecker::order_groups`]
//! says so. The result file's columns are read whatever the type: an empty cell stays `None`.
//!
//! Numbers are sent as digits with country code and no `+`, as in the vendor example; `country`
//! is the ISO region, so every order holds numbers of one region.

mod client;
mod wire;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use domain::{
    Check, CheckSet, E164, Gender, NumberResult, ProviderError, ProviderErrorKind, ProviderId,
    UtcOffset, is_unset_vendor_time, normalize_with, parse_vendor_bool, parse_vendor_datetime,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;

use crate::config::{DownloadConfig, ScreeningConfig, WscrmConfig};
use crate::download::SafeDownloader;
use crate::http::Op;
use crate::registry::ConfigError;
use crate::traits::{BatchLimits, BulkNumberChecker, OrderProgress, ResultLocation, VendorOrderId};
use crate::xlsx::{Sheet, get};

/// The id this vendor answers under (API, store, metrics).
pub const ID: ProviderId = ProviderId::new("wscrm_screening");
const PROVIDER: ProviderId = ID;

/// The checks this vendor answers.
pub fn checks() -> CheckSet {
    CheckSet::of(&[
        Check::Registered,
        Check::Activity,
        Check::Demographics,
        Check::Business,
    ])
}

/// The screening adapter.
#[derive(Debug, Clone)]
pub struct WscrmScreening {
    client: client::Client,
    downloader: SafeDownloader,
    offset: UtcOffset,
    options: ScreeningConfig,
}

impl WscrmScreening {
    pub fn new(
        config: &WscrmConfig,
        http: reqwest::Client,
        download: DownloadConfig,
    ) -> Result<Self, ConfigError> {
        let mut auth = HeaderMap::new();
        for (name, value) in &config.auth_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::new(PROVIDER, format!("invalid header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                ConfigError::new(PROVIDER, format!("invalid value for header {name}"))
            })?;
            value.set_sensitive(true);
            auth.insert(name, value);
        }
        let downloader = SafeDownloader::new(PROVIDER, &config.result_hosts, download)
            .map_err(|e| ConfigError::new(PROVIDER, format!("download client: {e}")))?;
        Ok(Self {
            client: client::Client {
                http,
                base: config.bus_api_base_url.clone(),
                auth,
                timeout: Duration::from_millis(config.timeout_ms),
            },
            downloader,
            offset: config.vendor_utc_offset,
            options: config.screening,
        })
    }
}

/// The vendor `type` for a group of checks, or `None` when one order cannot answer them.
fn screening_type(checks: &CheckSet) -> Option<u8> {
    match (
        checks.contains(Check::Activity),
        checks.contains(Check::Demographics),
    ) {
        (true, true) => None,
        (true, false) => Some(1),
        (false, true) => Some(2),
        (false, false) => Some(0),
    }
}

#[async_trait]
impl BulkNumberChecker for WscrmScreening {
    fn provider(&self) -> ProviderId {
        PROVIDER
    }

    fn checks(&self) -> CheckSet {
        checks()
    }

    fn limits(&self) -> BatchLimits {
        BatchLimits {
            min: self.options.min_batch,
            max: self.options.max_batch,
        }
    }

    fn order_groups(&self, checks: &CheckSet) -> Vec<CheckSet> {
        let asked = checks.intersection(&self.checks());
        let base = asked.intersection(&CheckSet::of(&[Check::Registered, Check::Business]));
        let mut groups = Vec::new();
        if asked.contains(Check::Activity) {
            groups.push(base.with(Check::Activity));
        }
        if asked.contains(Check::Demographics) {
            let extra = if groups.is_empty() {
                base
            } else {
                CheckSet::empty()
            };
            groups.push(extra.with(Check::Demographics));
        }
        if groups.is_empty() && !base.is_empty() {
            groups.push(base);
        }
        groups
    }

    fn one_region_per_order(&self) -> bool {
        true
    }

    async fn submit(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<VendorOrderId, ProviderError> {
        let op = Op::new(PROVIDER, "submit");
        let Some(first) = numbers.first() else {
            return Err(op.err(ProviderErrorKind::BadRequest, "no numbers to submit"));
        };
        let asked = checks.intersection(&self.checks());
        if asked.is_empty() {
            return Err(op.err(
                ProviderErrorKind::Unsupported,
                "none of the asked checks is answered by screening",
            ));
        }
        let Some(kind) = screening_type(&asked) else {
            return Err(op.err(
                ProviderErrorKind::Unsupported,
                "activity and demographics need separate orders (see order_groups)",
            ));
        };
        let Some(country) = first.region() else {
            return Err(op.err(
                ProviderErrorKind::Unsupported,
                "non-geographic numbers have no country for screening",
            ));
        };
        if numbers.iter().any(|n| n.region() != Some(country)) {
            return Err(op.err(
                ProviderErrorKind::Unsupported,
                "numbers of one order must share a country (split_by_country)",
            ));
        }
        let req = wire::ScreenRequest {
            data: numbers.iter().map(E164::digits).collect(),
            kind,
            active_type: if kind == 1 {
                self.options.active_type
            } else {
                None
            },
            country,
        };
        let data = self.client.screen(&op, &req).await?;
        let id = wire::as_string(&data)
            .ok_or_else(|| op.err(ProviderErrorKind::MalformedAnswer, "answer has no order id"))?;
        tracing::info!(
            provider = %PROVIDER,
            order = %id,
            count = numbers.len(),
            screening_type = kind,
            country,
            "screening order submitted"
        );
        Ok(VendorOrderId::new(id))
    }

    async fn poll(&self, order: &VendorOrderId) -> Result<OrderProgress, ProviderError> {
        let op = Op::new(PROVIDER, "poll");
        let status = self.client.task_status(&op, order.as_str()).await?;
        match wire::as_i64(&status) {
            Some(0) => Ok(OrderProgress::Running {
                done: None,
                total: None,
            }),
            Some(1) => {
                let details = self.client.task_details(&op, order.as_str()).await?;
                let url = wire::as_string(&details).ok_or_else(|| {
                    op.err(
                        ProviderErrorKind::MalformedAnswer,
                        "completed order has no result URL",
                    )
                })?;
                Ok(OrderProgress::Ready {
                    result: ResultLocation::new(url),
                })
            }
            _ => Err(op.err(
                ProviderErrorKind::MalformedAnswer,
                "order status is neither 0 nor 1",
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
        let offset = self.offset;
        let parsed = tokio::task::spawn_blocking(move || parse_results(file, offset))
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

/// One record per distinct number in the file; also the count of rows skipped.
fn parse_results(
    file: bytes::Bytes,
    offset: UtcOffset,
) -> Result<(Vec<NumberResult>, usize), String> {
    let sheet = Sheet::open(file)?;
    let [
        number,
        registered,
        status,
        last_active,
        active_hour,
        avatar,
        business,
        gender,
        age,
    ] = sheet.columns([
        &["Phone Number", "phone", "number"],
        &["Is WhatsApp Number", "whatsapp"],
        &["Status"],
        &["Last Active Time"],
        &["Active Hour"],
        &["Avatar"],
        &["Is Business Number", "business"],
        &["Gender"],
        &["Age"],
    ]);
    if number.is_none() {
        return Err("result file has no phone number column".to_owned());
    }
    let checked_at = Utc::now();
    let mut seen = HashSet::with_capacity(sheet.row_count());
    let mut out = Vec::with_capacity(sheet.row_count());
    let mut skipped = 0usize;
    for row in sheet.rows() {
        let Some(raw) = get(row, number) else {
            skipped += 1;
            continue;
        };
        let Ok(e164) = normalize_with(&raw, None) else {
            skipped += 1;
            continue;
        };
        if !seen.insert(e164) {
            continue;
        }
        let mut r = NumberResult::empty(e164, PROVIDER, checked_at);
        r.registered = get(row, registered).and_then(|v| parse_vendor_bool(&v));
        r.business = get(row, business).and_then(|v| parse_vendor_bool(&v));
        r.about = get(row, status).map(|v| v.into_owned());
        r.last_active_at = get(row, last_active)
            .and_then(|v| parse_vendor_datetime(&v, offset).ok())
            .filter(|t| !is_unset_vendor_time(t));
        r.active_hour = get(row, active_hour).and_then(|v| v.parse().ok());
        if let Some(url) = get(row, avatar) {
            r.avatar_url = Some(url.into_owned());
            r.has_avatar = Some(true);
        }
        r.gender = get(row, gender).and_then(|v| Gender::from_vendor(&v));
        r.age = get(row, age).and_then(|v| v.parse().ok());
        out.push(r);
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_mapping() {
        assert_eq!(screening_type(&CheckSet::of(&[Check::Registered])), Some(0));
        assert_eq!(screening_type(&CheckSet::of(&[Check::Business])), Some(0));
        assert_eq!(
            screening_type(&CheckSet::of(&[Check::Registered, Check::Activity])),
            Some(1)
        );
        assert_eq!(
            screening_type(&CheckSet::of(&[Check::Demographics])),
            Some(2)
        );
        assert_eq!(
            screening_type(&CheckSet::of(&[Check::Activity, Check::Demographics])),
            None
        );
    }
}
