//! The simulator's settings. Every field has a default, so a partial JSON or TOML file works;
//! [`SimConfig::default`] is the development configuration with well-known credentials.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::accounts::AccountsConfig;
use crate::faults::FaultSpec;

/// Everything the simulator needs to know; `Default` gives [`default_dev_config`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every derived datum (profiles, ids, business phones).
    pub seed: u64,
    /// How fast asynchronous orders and tasks progress.
    pub speed: SpeedConfig,
    /// Validity of a result-file URL, in milliseconds (default 10 minutes).
    pub result_ttl_ms: u64,
    /// Base of result-file URLs instead of the listener's own base URL, e.g. `http://localhost:9090`.
    pub result_url_base: Option<String>,
    /// The vendors' time zone as an offset from UTC in minutes (default UTC+8).
    pub vendor_utc_offset_minutes: i32,
    /// Number of actix worker threads.
    pub workers: usize,
    pub wscrm: WscrmConfig,
    pub nxcloud: NxCloudConfig,
    pub ekycpro: EkycproConfig,
    pub accuauth: AccuauthConfig,
    /// Where document 001's outbound webhooks go (the gateway's base URL).
    pub webhook_target: Option<String>,
    /// Settings of the account-management simulation (document 001).
    pub accounts: AccountsSettings,
    /// Faults active from the start; more can be set at run time through `/_sim/faults`.
    pub faults: Vec<FaultSpec>,
}

/// Progress speed of the asynchronous vendors. A rate of `0` (or less) means "instant".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeedConfig {
    /// Fixed part of a screening order's duration.
    pub screening_base_ms: u64,
    /// Numbers screened per second after the fixed part.
    pub screening_numbers_per_second: f64,
    /// Time an ekycpro task stays `pending`.
    pub ekycpro_pending_ms: u64,
    /// Numbers an ekycpro task processes per second while `processing`.
    pub ekycpro_numbers_per_second: f64,
    /// Time an ekycpro task stays `completed` before it is `exported`.
    pub ekycpro_export_ms: u64,
}

/// wscrm (documents 000 and 001): the documents only say that authentication uses HTTP headers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WscrmConfig {
    /// Headers (name → exact value) every request under `/wscrm-bus-api` and `/group-dispatch-api`
    /// must carry. Empty means no authentication.
    pub headers: BTreeMap<String, String>,
    /// Smallest screening order (the document says 500).
    pub min_numbers: usize,
    /// Largest screening order (the document says 20,000).
    pub max_numbers: usize,
}

/// NxCloud (document 002).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NxCloudConfig {
    /// accessKey → accessSecret.
    pub access_keys: BTreeMap<String, String>,
    /// appkey → business numbers bound to it. An empty list means "derive a few from the seed".
    pub appkeys: BTreeMap<String, Vec<String>>,
    /// Allowed difference between `ts` and the simulator's clock (the convention says 60 s).
    pub ts_window_ms: u64,
}

/// ekycpro (document 003).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EkycproConfig {
    pub api_key: String,
    pub user_id: String,
    /// Largest file accepted, in numbers (the document sets no limit; its example has 20,000).
    pub max_numbers: usize,
}

/// accuauth (document 004).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccuauthConfig {
    pub api_id: String,
    pub api_secret: String,
    /// How many times a number answers `PENDING` before it answers `OK`.
    pub pending_polls: u32,
    /// Answer `KEY_EXPIRED` to every correctly authenticated request.
    pub key_expired: bool,
    /// Billed `OK` answers allowed before `OUT_OF_QUOTA`; none means unlimited.
    pub quota: Option<u64>,
}

/// Serde-friendly mirror of [`AccountsConfig`]; fields left out keep that module's defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsSettings {
    pub action_spacing_ms: Option<u64>,
    pub port_release_after_ms: Option<u64>,
    pub cloud_port_quota: Option<u32>,
    pub webhook_headers: Vec<(String, String)>,
}

/// Development credentials, fixed so that demos and tests of other crates can rely on them.
pub mod dev {
    pub const WSCRM_HEADER: &str = "X-Api-Key";
    pub const WSCRM_KEY: &str = "dev-wscrm-key";
    pub const NXCLOUD_ACCESS_KEY: &str = "dev-nx-access-key";
    pub const NXCLOUD_ACCESS_SECRET: &str = "dev-nx-access-secret";
    pub const NXCLOUD_APPKEY: &str = "dev-nx-appkey";
    /// The access key, secret and appkey of NxCloud's published test vector and request example.
    pub const NXCLOUD_EXAMPLE_ACCESS_KEY: &str = "fme2na3kdi3ki";
    pub const NXCLOUD_EXAMPLE_ACCESS_SECRET: &str = "s3cr3t";
    pub const NXCLOUD_EXAMPLE_APPKEY: &str = "jh42xxxd434";
    pub const EKYCPRO_API_KEY: &str = "dev-ekycpro-key";
    pub const EKYCPRO_USER_ID: &str = "dev-user";
    pub const ACCUAUTH_API_ID: &str = "dev-accuauth-id";
    pub const ACCUAUTH_API_SECRET: &str = "dev-accuauth-secret";
}

/// The development configuration: seed 7, realistic speeds, 10-minute result URLs, dev credentials.
pub fn default_dev_config() -> SimConfig {
    SimConfig::default()
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            speed: SpeedConfig::default(),
            result_ttl_ms: 10 * 60 * 1000,
            result_url_base: None,
            vendor_utc_offset_minutes: 8 * 60,
            workers: 2,
            wscrm: WscrmConfig::default(),
            nxcloud: NxCloudConfig::default(),
            ekycpro: EkycproConfig::default(),
            accuauth: AccuauthConfig::default(),
            webhook_target: None,
            accounts: AccountsSettings::default(),
            faults: Vec::new(),
        }
    }
}

impl Default for SpeedConfig {
    fn default() -> Self {
        Self {
            screening_base_ms: 3_000,
            screening_numbers_per_second: 2_000.0,
            ekycpro_pending_ms: 2_000,
            ekycpro_numbers_per_second: 1_000.0,
            ekycpro_export_ms: 1_000,
        }
    }
}

impl SpeedConfig {
    /// Everything completes at once: for tests.
    pub fn instant() -> Self {
        Self {
            screening_base_ms: 0,
            screening_numbers_per_second: 0.0,
            ekycpro_pending_ms: 0,
            ekycpro_numbers_per_second: 0.0,
            ekycpro_export_ms: 0,
        }
    }
}

impl Default for WscrmConfig {
    fn default() -> Self {
        Self {
            headers: BTreeMap::from([(dev::WSCRM_HEADER.to_owned(), dev::WSCRM_KEY.to_owned())]),
            min_numbers: 500,
            max_numbers: 20_000,
        }
    }
}

impl Default for NxCloudConfig {
    fn default() -> Self {
        Self {
            access_keys: BTreeMap::from([
                (
                    dev::NXCLOUD_ACCESS_KEY.to_owned(),
                    dev::NXCLOUD_ACCESS_SECRET.to_owned(),
                ),
                (
                    dev::NXCLOUD_EXAMPLE_ACCESS_KEY.to_owned(),
                    dev::NXCLOUD_EXAMPLE_ACCESS_SECRET.to_owned(),
                ),
            ]),
            appkeys: BTreeMap::from([
                (dev::NXCLOUD_APPKEY.to_owned(), Vec::new()),
                (
                    dev::NXCLOUD_EXAMPLE_APPKEY.to_owned(),
                    vec!["185xxx99".to_owned(), "861xxx24".to_owned()],
                ),
            ]),
            ts_window_ms: 60_000,
        }
    }
}

impl Default for EkycproConfig {
    fn default() -> Self {
        Self {
            api_key: dev::EKYCPRO_API_KEY.to_owned(),
            user_id: dev::EKYCPRO_USER_ID.to_owned(),
            max_numbers: 100_000,
        }
    }
}

impl Default for AccuauthConfig {
    fn default() -> Self {
        Self {
            api_id: dev::ACCUAUTH_API_ID.to_owned(),
            api_secret: dev::ACCUAUTH_API_SECRET.to_owned(),
            pending_polls: 2,
            key_expired: false,
            quota: None,
        }
    }
}

impl SimConfig {
    /// A configuration for tests: instant progress, short-lived result URLs, no faults.
    pub fn for_tests(seed: u64) -> Self {
        Self {
            seed,
            speed: SpeedConfig::instant(),
            result_ttl_ms: 1_000,
            ..Self::default()
        }
    }

    pub fn result_ttl(&self) -> Duration {
        Duration::from_millis(self.result_ttl_ms)
    }

    /// The settings handed to the account-management module.
    // The struct update keeps this compiling when that module adds fields.
    #[allow(clippy::needless_update)]
    pub fn accounts_config(&self) -> AccountsConfig {
        let defaults = AccountsConfig::default();
        let s = &self.accounts;
        AccountsConfig {
            seed: self.seed,
            action_spacing: s
                .action_spacing_ms
                .map_or(defaults.action_spacing, Duration::from_millis),
            port_release_after: s
                .port_release_after_ms
                .map_or(defaults.port_release_after, Duration::from_millis),
            cloud_port_quota: s.cloud_port_quota.unwrap_or(defaults.cloud_port_quota),
            webhook_target: self.webhook_target.clone(),
            webhook_headers: s.webhook_headers.clone(),
            ..defaults
        }
    }
}
