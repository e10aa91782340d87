//! NxCloud WhatsApp Business numbers (document `002_4e13cdfe7b1388d9.txt`), with the MD5 header
//! signature of the vendor's invocation convention.
//!
//! The answer's `data` is an object keyed by number whose values are arrays of phone objects (the
//! example); the table instead describes one `business_phones` array. Both are read and flattened.

mod client;
mod signing;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use domain::{
    BusinessPhone, BusinessPhoneStatus, CodeVerificationStatus, E164, MessagingLimit, NameStatus,
    ProviderError, ProviderErrorKind, ProviderId, QualityRating, normalize_with,
};
use serde::Deserialize;
use serde_json::Value;

use crate::config::NxcloudConfig;
use crate::http::Op;
use crate::registry::ConfigError;
use crate::traits::BusinessPhones;

/// The id this vendor answers under (API, store, metrics).
pub const ID: ProviderId = ProviderId::new("nxcloud");
const PROVIDER: ProviderId = ID;

/// The NxCloud adapter.
#[derive(Debug, Clone)]
pub struct Nxcloud {
    client: client::Client,
}

impl Nxcloud {
    pub fn new(config: &NxcloudConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        if config.appkey.trim().is_empty() {
            return Err(ConfigError::new(PROVIDER, "appkey is empty"));
        }
        Ok(Self {
            client: client::Client {
                http,
                base: config.base_url.clone(),
                access_key: config.access_key.clone(),
                access_secret: config.access_secret.clone(),
                appkey: config.appkey.clone(),
                timeout: Duration::from_millis(config.timeout_ms),
            },
        })
    }
}

#[async_trait]
impl BusinessPhones for Nxcloud {
    fn provider(&self) -> ProviderId {
        PROVIDER
    }

    async fn list(&self, filter: &[E164]) -> Result<Vec<BusinessPhone>, ProviderError> {
        let op = Op::new(PROVIDER, "list_business_phones");
        let phones = if filter.is_empty() {
            None
        } else {
            Some(
                filter
                    .iter()
                    .map(E164::digits)
                    .collect::<Vec<_>>()
                    .join(","),
            )
        };
        let data = self.client.get_phone(&op, phones).await?;
        let (list, skipped) =
            flatten(&data).map_err(|m| op.err(ProviderErrorKind::MalformedAnswer, m))?;
        if skipped > 0 {
            tracing::warn!(provider = %PROVIDER, skipped, "business phones without a usable number");
        }
        Ok(list)
    }
}

fn flatten(data: &Value) -> Result<(Vec<BusinessPhone>, usize), String> {
    let mut out = Vec::new();
    let mut skipped = 0usize;
    let map = match data {
        Value::Null => return Ok((out, 0)),
        Value::Object(map) => map,
        _ => return Err("data is not an object".to_owned()),
    };
    for (key, value) in map {
        let items: &[Value] = match value {
            Value::Array(items) => items,
            Value::Object(_) => std::slice::from_ref(value),
            Value::Null => &[],
            _ => return Err("data values are not phone lists".to_owned()),
        };
        // With the table's layout the key is the field name, not a number.
        let key_number = (key != "business_phones").then_some(key.as_str());
        for item in items {
            // Read in place: the answer is already parsed, no copy of each item is needed.
            let Ok(phone) = wire::Phone::deserialize(item) else {
                skipped += 1;
                continue;
            };
            match to_domain(phone, key_number) {
                Some(p) => out.push(p),
                None => skipped += 1,
            }
        }
    }
    Ok((out, skipped))
}

fn to_domain(p: wire::Phone, key_number: Option<&str>) -> Option<BusinessPhone> {
    let display = p.display_phone_number.unwrap_or_default();
    let number = normalize_with(&display, None)
        .ok()
        .or_else(|| key_number.and_then(|k| normalize_with(k, None).ok()))?;
    let text = |s: Option<String>| s.map(|v| v.trim().to_owned()).unwrap_or_default();
    Some(BusinessPhone {
        number,
        verified_name: text(p.verified_name),
        quality_rating: QualityRating::from_vendor(p.quality_rating.as_deref().unwrap_or("")),
        name_status: NameStatus::from_vendor(p.name_status.as_deref().unwrap_or("")),
        messaging_limit: p
            .current_limit
            .as_deref()
            .and_then(MessagingLimit::from_vendor),
        code_verification_status: CodeVerificationStatus::from_vendor(
            p.code_verification_status.as_deref().unwrap_or(""),
        ),
        status: BusinessPhoneStatus::from_vendor(p.status.as_deref().unwrap_or("")),
    })
}
