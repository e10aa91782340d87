//! The factory: configuration in, configured adapters out.

use std::collections::BTreeMap;
use std::sync::Arc;

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
                    .map(|_| ProviderId::WscrmAccounts),
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

/// Builds every vendor adapter that has a configuration section (number checkers, business
/// phones, account operations when `wscrm.dispatch_api_base_url` is set). `http` is the shared client for API calls (see [`crate::recommended_client`]);
/// result downloads use their own no-redirect client built from `config.download`.
pub fn build_number_checkers(
    config: &ProvidersConfig,
    http: reqwest::Client,
) -> Result<Registry, ConfigError> {
    const ALL: [ProviderId; 5] = [
        ProviderId::WscrmScreening,
        ProviderId::Ekycpro,
        ProviderId::Accuauth,
        ProviderId::Nxcloud,
        ProviderId::WscrmAccounts,
    ];
    let mut reg = Registry::default();
    for id in ALL {
        // One arm per vendor; the match is exhaustive so a new ProviderId needs an arm here.
        match id {
            ProviderId::WscrmScreening => {
                if let Some(c) = &config.wscrm {
                    reg.insert_bulk(Arc::new(WscrmScreening::new(
                        c,
                        http.clone(),
                        config.download,
                    )?));
                }
            }
            ProviderId::Ekycpro => {
                if let Some(c) = &config.ekycpro {
                    reg.insert_bulk(Arc::new(Ekycpro::new(c, http.clone(), config.download)?));
                }
            }
            ProviderId::Accuauth => {
                if let Some(c) = &config.accuauth {
                    reg.insert_single(Arc::new(Accuauth::new(c, http.clone())?));
                }
            }
            ProviderId::Nxcloud => {
                if let Some(c) = &config.nxcloud {
                    reg.set_business_phones(Arc::new(Nxcloud::new(c, http.clone())?));
                }
            }
            ProviderId::WscrmAccounts => {
                if let Some(c) = &config.wscrm
                    && c.dispatch_api_base_url.is_some()
                {
                    reg.set_account_operations(Arc::new(WscrmAccounts::new(c, http.clone())?));
                }
            }
        }
    }
    tracing::info!(providers = ?reg.providers(), "vendor adapters configured");
    Ok(reg)
}
