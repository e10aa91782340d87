//! accuauth single-number check for Peru (document `004_99bd586dd4842bc2.txt`).
//!
//! The vendor wants national digits without `51`; `PENDING` means "ask again", surfaced as
//! [`SingleCheck::Pending`]. Numbers of other regions are refused before any request.

mod client;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use domain::{
    Check, CheckSet, E164, NumberResult, ProviderError, ProviderId, parse_vendor_bool,
    parse_vendor_date,
};
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;

use crate::config::AccuauthConfig;
use crate::http::Op;
use crate::registry::ConfigError;
use crate::traits::{SingleCheck, SingleNumberChecker};

/// The id this vendor answers under (API, store, metrics).
pub const ID: ProviderId = ProviderId::new("accuauth");
const PROVIDER: ProviderId = ID;

/// The checks this vendor answers.
pub fn checks() -> CheckSet {
    CheckSet::of(&[Check::Registered, Check::Profile, Check::Business])
}

/// accuauth serves Peru numbers only.
const REGIONS: &[&str] = &["PE"];

/// The accuauth adapter.
#[derive(Debug, Clone)]
pub struct Accuauth {
    client: client::Client,
    pending_retry_after: Duration,
}

fn sensitive(value: &str, field: &str) -> Result<HeaderValue, ConfigError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| ConfigError::new(PROVIDER, format!("{field} is not a valid header value")))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Accuauth {
    pub fn new(config: &AccuauthConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        Ok(Self {
            client: client::Client {
                http,
                base: config.base_url.clone(),
                api_id: sensitive(config.api_id.expose_secret(), "api_id")?,
                api_secret: sensitive(config.api_secret.expose_secret(), "api_secret")?,
                timeout: Duration::from_millis(config.timeout_ms),
            },
            pending_retry_after: Duration::from_millis(config.pending_retry_after_ms),
        })
    }
}

#[async_trait]
impl SingleNumberChecker for Accuauth {
    fn provider(&self) -> ProviderId {
        PROVIDER
    }

    fn checks(&self) -> CheckSet {
        checks()
    }

    fn regions(&self) -> Option<&'static [&'static str]> {
        Some(REGIONS)
    }

    async fn check(&self, number: &E164, checks: &CheckSet) -> Result<SingleCheck, ProviderError> {
        if !self.accepts(number) {
            return Ok(SingleCheck::Unsupported(
                "accuauth checks Peru (+51) numbers only".to_owned(),
            ));
        }
        if checks.intersection(&self.checks()).is_empty() {
            return Ok(SingleCheck::Unsupported(
                "none of the asked checks is answered by accuauth".to_owned(),
            ));
        }
        let op = Op::new(PROVIDER, "check");
        let national = number.national_digits();
        match self.client.check(&op, &national).await? {
            client::Outcome::Pending => {
                tracing::debug!(provider = %PROVIDER, number = %number.masked(), "check pending");
                Ok(SingleCheck::Pending {
                    retry_after: self.pending_retry_after,
                })
            }
            client::Outcome::Ok(answer) => {
                let res = answer.result.unwrap_or_default();
                let mut r = NumberResult::empty(*number, PROVIDER, Utc::now());
                r.registered = res.whatsapp.as_deref().and_then(parse_vendor_bool);
                r.business = res.business_user.as_deref().and_then(parse_vendor_bool);
                r.has_avatar = res.avatar.as_deref().and_then(parse_vendor_bool);
                r.about = res
                    .signature
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty());
                r.status_updated_on = res
                    .status_update
                    .as_deref()
                    .and_then(|d| parse_vendor_date(d).ok());
                Ok(SingleCheck::Done(r))
            }
        }
    }
}
