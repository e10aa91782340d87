//! The factory: configuration in, configured adapters out.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use domain::ProviderId;

use crate::accuauth::Accuauth;
use crate::config::ProvidersConfig;
use crate::ekycpro::Ekycpro;
use crate::nxcloud::Nxcloud;
use crate::traits::{AccountOperations, BulkNumberChecker, BusinessPhones, SingleNumberChecker};
use crate::wscrm_accounts::WscrmAccounts;
use crate::wscrm_screening::WscrmScreening;

/// A vendor section that cannot be used as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration of {provider}: {message}")]
pub struct ConfigError {
    pub provider: ProviderId,
    pub message: String,
}

impl ConfigError {
    pub fn new(provider: ProviderId, message: impl Into<String>) -> Self {
        Self {
            provider,
            message: message.into(),
        }
    }
}

/// The adapters that are configured, by capability.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    bulk: BTreeMap<ProviderId, Arc<dyn BulkNumberChecker>>,
    single: BTreeMap<ProviderId, Arc<dyn SingleNumberChecker>>,
    business_phones: Option<Arc<dyn BusinessPhones>>,
    account_operations: Option<Arc<dyn AccountOperations>>,
}

impl Registry {
    pub fn bulk(&self, id: ProviderId) -> Option<Arc<dyn BulkNumberChecker>> {
        self.bulk.get(&id).cloned()
    }

    pub fn single(&self, id: ProviderId) -> Option<Arc<dyn SingleNumberChecker>> {
        self.single.get(&id).cloned()
    }

    pub fn bulk_checkers(&self) -> impl Iterator<Item = &Arc<dyn BulkNumberChecker>> {
        self.bulk.values()
    }

    pub fn single_checkers(&self) -> impl Iterator<Item = &Arc<dyn SingleNumberChecker>> {
        self.single.values()
    }

    pub fn business_phones(&self) -> Option<Arc<dyn BusinessPhones>> {
        self.business_phones.clone()
    }

    /// The account-management vendor (wscrm document 001), when configured.
    pub fn account_operations(&self) -> Option<Arc<dyn AccountOperations>> {
        self.account_operations.clone()
    }

    pub fn set_account_operations(&mut self, ops: Arc<dyn AccountOperations>) {
        self.account_operations = Some(ops);
    }

    /// Every configured provider.
    pub fn providers(&self) -> Vec<ProviderId> {
        let mut ids: Vec<ProviderId> = self
            .bulk
            .keys()
            .chain(self.single.keys())
            .copied()
            .chain(self.business_phones.as_ref().map(|b| b.provider()))
            .chain(
                self.account_operations
                    .as_ref()
                    .map(|_| crate::wscrm_accounts::ID),
            )
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn is_empty(&self) -> bool {
        self.bulk.is_empty()
            && self.single.is_empty()
            && self.business_phones.is_none()
            && self.account_operations.is_none()
    }

    pub fn insert_bulk(&mut self, checker: Arc<dyn BulkNumberChecker>) {
        self.bulk.insert(checker.provider(), checker);
    }

    pub fn insert_single(&mut self, checker: Arc<dyn SingleNumberChecker>) {
        self.single.insert(checker.provider(), checker);
    }

    pub fn set_business_phones(&mut self, phones: Arc<dyn BusinessPhones>) {
        self.business_phones = Some(phones);
    }
}

/// What a vendor adapter does for the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Checks many numbers per asynchronous order ([`BulkNumberChecker`]); a job's `provider`.
    BulkNumberChecks,
    /// Checks one number per call ([`SingleNumberChecker`]).
    SingleNumberChecks,
    /// Lists the tenant's business numbers ([`BusinessPhones`]).
    BusinessPhones,
    /// Manages accounts ([`AccountOperations`]).
    AccountOperations,
}

impl Capability {
    /// Whether vendors of this capability answer number checks.
    pub fn checks_numbers(self) -> bool {
        matches!(self, Self::BulkNumberChecks | Self::SingleNumberChecks)
    }
}

/// Adds the vendor's adapter to the registry when its configuration section asks for it.
pub type Build = dyn Fn(&ProvidersConfig, &reqwest::Client, &mut Registry) -> Result<(), ConfigError>
    + Send
    + Sync;

/// One registered vendor: its id, what it does, its configuration section and how it is built.
#[derive(Clone, Copy)]
pub struct Vendor {
    pub id: ProviderId,
    pub capability: Capability,
    /// The section under `vendors.` that configures it.
    pub config_section: &'static str,
    pub build: &'static Build,
}

impl fmt::Debug for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vendor")
            .field("id", &self.id)
            .field("capability", &self.capability)
            .field("config_section", &self.config_section)
            .finish_non_exhaustive()
    }
}

/// Every vendor the gateway knows, one registration arm each, in routing preference order
/// (the default `number_checks.routing` is the bulk checkers in this order).
pub const VENDORS: &[Vendor] = &[
    Vendor {
        id: crate::wscrm_screening::ID,
        capability: Capability::BulkNumberChecks,
        config_section: "wscrm",
        build: &|config, http, reg| {
            if let Some(c) = &config.wscrm {
                let adapter = WscrmScreening::new(c, http.clone(), config.download)?;
                reg.insert_bulk(Arc::new(adapter));
            }
            Ok(())
        },
    },
    Vendor {
        id: crate::ekycpro::ID,
        capability: Capability::BulkNumberChecks,
        config_section: "ekycpro",
        build: &|config, http, reg| {
            if let Some(c) = &config.ekycpro {
                reg.insert_bulk(Arc::new(Ekycpro::new(c, http.clone(), config.download)?));
            }
            Ok(())
        },
    },
    Vendor {
        id: crate::accuauth::ID,
        capability: Capability::SingleNumberChecks,
        config_section: "accuauth",
        build: &|config, http, reg| {
            if let Some(c) = &config.accuauth {
                reg.insert_single(Arc::new(Accuauth::new(c, http.clone())?));
            }
            Ok(())
        },
    },
    Vendor {
        id: crate::nxcloud::ID,
        capability: Capability::BusinessPhones,
        config_section: "nxcloud",
        build: &|config, http, reg| {
            if let Some(c) = &config.nxcloud {
                reg.set_business_phones(Arc::new(Nxcloud::new(c, http.clone())?));
            }
            Ok(())
        },
    },
    Vendor {
        id: crate::wscrm_accounts::ID,
        capability: Capability::AccountOperations,
        config_section: "wscrm",
        build: &|config, http, reg| {
            if let Some(c) = &config.wscrm
                && c.dispatch_api_base_url.is_some()
            {
                reg.set_account_operations(Arc::new(WscrmAccounts::new(c, http.clone())?));
            }
            Ok(())
        },
    },
];

fn added() -> &'static RwLock<Vec<Vendor>> {
    static ADDED: OnceLock<RwLock<Vec<Vendor>>> = OnceLock::new();
    ADDED.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers a vendor defined outside this crate (a test's stand-in vendor), after [`VENDORS`].
/// The API's `provider` choices and the registry built afterwards include it.
pub fn register(vendor: Vendor) {
    let mut added = added().write().unwrap_or_else(|e| e.into_inner());
    if !added.iter().any(|v| v.id == vendor.id) && !VENDORS.iter().any(|v| v.id == vendor.id) {
        added.push(vendor);
    }
}

/// Every registered vendor, in registration order.
pub fn vendors() -> Vec<Vendor> {
    let added = added().read().unwrap_or_else(|e| e.into_inner());
    VENDORS.iter().chain(added.iter()).copied().collect()
}

/// The registered vendor named `id`.
pub fn vendor(id: ProviderId) -> Option<Vendor> {
    vendors().into_iter().find(|v| v.id == id)
}

/// The registered vendors that answer number checks (bulk and single), in registration order.
pub fn number_check_vendors() -> Vec<ProviderId> {
    ids_with(|c| c.checks_numbers())
}

/// The registered bulk number checkers (a job's `provider` choices), in registration order.
pub fn bulk_vendors() -> Vec<ProviderId> {
    ids_with(|c| c == Capability::BulkNumberChecks)
}

fn ids_with(capable: impl Fn(Capability) -> bool) -> Vec<ProviderId> {
    vendors()
        .into_iter()
        .filter(|v| capable(v.capability))
        .map(|v| v.id)
        .collect()
}

/// Builds every vendor adapter that has a configuration section (number checkers, business
/// phones, account operations when `wscrm.dispatch_api_base_url` is set). `http` is the shared client for API calls (see [`crate::recommended_client`]);
/// result downloads use their own no-redirect client built from `config.download`.
pub fn build_number_checkers(
    config: &ProvidersConfig,
    http: reqwest::Client,
) -> Result<Registry, ConfigError> {
    let mut reg = Registry::default();
    for vendor in vendors() {
        (vendor.build)(config, &http, &mut reg)?;
    }
    tracing::info!(providers = ?reg.providers(), "vendor adapters configured");
    Ok(reg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Stored jobs, cache entries, metric labels and API answers carry these names.
    #[test]
    fn vendor_ids_keep_their_stored_names() {
        let names: Vec<String> = VENDORS
            .iter()
            .map(|v| serde_json::to_string(&v.id).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                r#""wscrm_screening""#,
                r#""ekycpro""#,
                r#""accuauth""#,
                r#""nxcloud""#,
                r#""wscrm_accounts""#
            ]
        );
        for vendor in VENDORS {
            let back: ProviderId = serde_json::from_str(&format!("\"{}\"", vendor.id)).unwrap();
            assert_eq!(back, vendor.id);
        }
        assert_eq!(
            number_check_vendors(),
            [
                crate::wscrm_screening::ID,
                crate::ekycpro::ID,
                crate::accuauth::ID
            ]
        );
        assert_eq!(
            bulk_vendors(),
            [crate::wscrm_screening::ID, crate::ekycpro::ID]
        );
    }

    #[test]
    fn each_vendor_declares_its_checks_and_regions_on_its_adapter() {
        use domain::Check;
        assert!(crate::ekycpro::checks().contains(Check::Profile));
        assert!(!crate::ekycpro::checks().contains(Check::Activity));
        assert!(crate::wscrm_screening::checks().contains(Check::Activity));
        assert!(crate::accuauth::checks().contains(Check::Business));
    }
}
