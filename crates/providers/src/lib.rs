//! Vendor adapters, one folder per vendor, behind one trait per capability.
//!
//! Callers see only `domain` types: [`BulkNumberChecker`], [`SingleNumberChecker`] and
//! [`BusinessPhones`]. Wire formats, credentials and signing stay inside each vendor module.
//! [`build_number_checkers`] turns a [`ProvidersConfig`] into a [`Registry`] of the configured
//! adapters.
#![forbid(unsafe_code)]

pub mod accuauth;
pub mod config;
pub mod download;
pub mod ekycpro;
mod http;
pub mod nxcloud;
pub mod redact;
mod registry;
mod traits;
pub mod wscrm_accounts;
pub mod wscrm_screening;
pub mod wscrm_webhooks;
mod xlsx;

pub use config::{
    AccuauthConfig, DownloadConfig, EkycproConfig, NxcloudConfig, ProvidersConfig, ScreeningConfig,
    WscrmConfig,
};
pub use download::SafeDownloader;
pub use http::{METRICS as VENDOR_METRICS, recommended_client, trace_headers};
pub use registry::{
    Build, Capability, ConfigError, Registry, VENDORS, Vendor, build_number_checkers, bulk_vendors,
    number_check_vendors, register, vendor, vendors,
};
pub use traits::{
    AccountOperations, Accounts, BatchLimits, BulkNumberChecker, BusinessPhones, ChatActions,
    Contacts, LoginSessions, OrderProgress, PollPolicy, Ports, Registrations, ResultLocation,
    ScanTasks, SingleCheck, SingleNumberChecker, VendorOrderId, check_until_done,
};

pub use domain::{ProviderError, ProviderErrorKind, ProviderId};
