//! wscrm account management (document 001): accounts, registration, QR / pair-code login on cloud
//! ports, contacts, profile, avatar/nickname, friend-chat actions, PC scan tasks, outbound webhooks.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

/// Settings of the account-management simulation, filled by the simulator's top-level config.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Seed for deterministic data.
    pub seed: u64,
    /// Minimum spacing of friend-chat actions per (agent account, WhatsApp account); the document says 10 s.
    pub action_spacing: Duration,
    /// Pre-generated ports not used within this time are released; the document says 10 minutes.
    pub port_release_after: Duration,
    /// Number of cloud ports of the simulated tenant.
    pub cloud_port_quota: u32,
    /// Where outbound webhooks go (the gateway's base URL), if anywhere.
    pub webhook_target: Option<String>,
    /// Extra headers sent with each outbound webhook (the gateway's inbound secret, for example).
    pub webhook_headers: Vec<(String, String)>,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            action_spacing: Duration::from_secs(10),
            port_release_after: Duration::from_secs(600),
            cloud_port_quota: 20,
            webhook_target: None,
            webhook_headers: Vec::new(),
        }
    }
}

/// The simulated state of the account-management API.
#[derive(Debug)]
pub struct AccountsSim {
    pub config: AccountsConfig,
}

impl AccountsSim {
    pub fn new(config: AccountsConfig) -> Arc<Self> {
        Arc::new(Self { config })
    }
}

/// Registers every route of document 001 (and `/_sim/webhooks/...` admin triggers).
pub fn configure(_cfg: &mut web::ServiceConfig, _sim: Arc<AccountsSim>) {}
