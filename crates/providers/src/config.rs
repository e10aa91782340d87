//! Configuration of every vendor adapter. Secrets are `SecretString`: they deserialize from
//! env/files like any string but never show in `Debug` output.
//!
//! Base URLs include any documented path prefix (e.g. `https://bus.example.com/wscrm-bus-api`);
//! adapters append the endpoint path to them.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::UtcOffset;
use egress::AllowList;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

fn default_timeout_ms() -> u64 {
    30_000
}

/// All vendors; a missing section means that vendor is not used.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    #[serde(default)]
    pub download: DownloadConfig,
    #[serde(default)]
    pub wscrm: Option<WscrmConfig>,
    #[serde(default)]
    pub ekycpro: Option<EkycproConfig>,
    #[serde(default)]
    pub accuauth: Option<AccuauthConfig>,
    #[serde(default)]
    pub nxcloud: Option<NxcloudConfig>,
}

/// Limits for fetching vendor result files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadConfig {
    /// Largest result file accepted, in bytes (default 50 MiB).
    #[serde(default = "DownloadConfig::default_max_bytes")]
    pub max_bytes: u64,
    /// Whole-download timeout in milliseconds (default 120 s).
    #[serde(default = "DownloadConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout in milliseconds (default 10 s).
    #[serde(default = "DownloadConfig::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

impl DownloadConfig {
    fn default_max_bytes() -> u64 {
        50 * 1024 * 1024
    }
    fn default_timeout_ms() -> u64 {
        120_000
    }
    fn default_connect_timeout_ms() -> u64 {
        10_000
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Default for DownloadConfig {
    fn default() -> Self {
        Self {
            max_bytes: Self::default_max_bytes(),
            timeout_ms: Self::default_timeout_ms(),
            connect_timeout_ms: Self::default_connect_timeout_ms(),
        }
    }
}

/// wscrm ("WhatsApp Tools"). The two path prefixes may live on different hosts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WscrmConfig {
    /// Base including the `/wscrm-bus-api` prefix; screening uses this one.
    pub bus_api_base_url: Url,
    /// Base including the `/group-dispatch-api` prefix (account operations).
    #[serde(default)]
    pub dispatch_api_base_url: Option<Url>,
    /// Authentication headers sent on every call (name → value); the vendor documents only
    /// "encryption rules use HTTP headers", so the set is configuration.
    #[serde(default)]
    #[serde(serialize_with = "crate::redact::secret_values")]
    pub auth_headers: BTreeMap<String, SecretString>,
    /// Where result files may be fetched from, e.g. `https://oss.example.com` (allow-list entries
    /// of the outbound URL policy: scheme, host, port, optional path).
    #[serde(default)]
    pub result_hosts: AllowList,
    /// Zone of the vendor's `yyyy-MM-dd HH:mm:ss` times (default `+08:00`).
    #[serde(default)]
    pub vendor_utc_offset: UtcOffset,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub screening: ScreeningConfig,
}

/// Screening order options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScreeningConfig {
    /// Vendor `activeType` sent with activity screening (0 frequent, 1 recent, 2 recently);
    /// omitted when unset.
    #[serde(default)]
    pub active_type: Option<u8>,
    #[serde(default = "ScreeningConfig::default_min")]
    pub min_batch: usize,
    #[serde(default = "ScreeningConfig::default_max")]
    pub max_batch: usize,
}

impl ScreeningConfig {
    fn default_min() -> usize {
        500
    }
    fn default_max() -> usize {
        20_000
    }
}

impl Default for ScreeningConfig {
    fn default() -> Self {
        Self {
            active_type: None,
            min_batch: Self::default_min(),
            max_batch: Self::default_max(),
        }
    }
}

/// ekycpro bulk detail check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EkycproConfig {
    /// e.g. `https://api.ekycpro.com`
    pub base_url: Url,
    pub user_id: String,
    #[serde(serialize_with = "crate::redact::secret")]
    pub api_key: SecretString,
    /// Where result files may be fetched from (allow-list entries, as for wscrm).
    #[serde(default)]
    pub result_hosts: AllowList,
    /// Zone of result-file times (the documented file has dates only).
    #[serde(default)]
    pub vendor_utc_offset: UtcOffset,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Numbers per task; the vendor documents no limit, its examples show 20,000.
    #[serde(default = "EkycproConfig::default_max_batch")]
    pub max_batch: usize,
}

impl EkycproConfig {
    fn default_max_batch() -> usize {
        20_000
    }
}

/// accuauth single check (Peru).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccuauthConfig {
    /// e.g. `https://cloudapi.peru.accuauth.com`
    pub base_url: Url,
    #[serde(serialize_with = "crate::redact::secret")]
    pub api_id: SecretString,
    #[serde(serialize_with = "crate::redact::secret")]
    pub api_secret: SecretString,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Wait suggested to callers after `PENDING` (the vendor gives none); default 2 s.
    #[serde(default = "AccuauthConfig::default_pending_retry_ms")]
    pub pending_retry_after_ms: u64,
}

impl AccuauthConfig {
    fn default_pending_retry_ms() -> u64 {
        2_000
    }
}

/// NxCloud WhatsApp Business API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NxcloudConfig {
    /// e.g. `https://api2.nxcloud.com`
    pub base_url: Url,
    #[serde(serialize_with = "crate::redact::secret")]
    pub access_key: SecretString,
    #[serde(serialize_with = "crate::redact::secret")]
    pub access_secret: SecretString,
    /// Appkey of the WhatsApp application.
    pub appkey: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let cfg: ProvidersConfig = serde_json::from_value(serde_json::json!({
            "wscrm": {
                "bus_api_base_url": "https://bus.example.com/wscrm-bus-api",
                "auth_headers": {"X-Token": "top-secret-1"},
                "result_hosts": ["https://oss.example.com"]
            },
            "nxcloud": {
                "base_url": "https://api2.nxcloud.com",
                "access_key": "ak-secret-2",
                "access_secret": "top-secret-3",
                "appkey": "app"
            }
        }))
        .unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("top-secret"));
        assert!(!dbg.contains("ak-secret"));
        let wscrm = cfg.wscrm.unwrap();
        assert_eq!(wscrm.screening.min_batch, 500);
        assert_eq!(wscrm.vendor_utc_offset, UtcOffset::default());
        assert_eq!(cfg.download.max_bytes, 50 * 1024 * 1024);
    }

    #[test]
    fn typos_are_rejected() {
        let r: Result<ProvidersConfig, _> = serde_json::from_value(
            serde_json::json!({"ekycpro": {"base_url": "https://x", "user": "u", "api_key": "k"}}),
        );
        assert!(r.is_err());
    }
}
