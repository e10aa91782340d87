//! wscrm account management (document 001): accounts, registration, QR / pair-code login on cloud
//! ports, contacts, profile, avatar/nickname, friend-chat actions, PC scan tasks, outbound webhooks.
//!
//! The whole simulated tenant lives in one [`AccountsSim`]: a mutex-guarded [`state::State`], a clock
//! that tests can move forward, and a webhook sender. Time-driven rules (action execution, port
//! release) are evaluated lazily whenever the state is touched; transitions that the vendor announces
//! by webhook (registration result, delayed login) run on timers so the webhook actually goes out.
//! `docs/vendors/wscrm-accounts.md` describes the reading of the document and every choice made.

mod admin;
mod clock;
mod fake;
mod lifecycle;
mod routes_accounts;
mod routes_actions;
mod routes_contacts;
mod routes_qrcode;
mod routes_register;
mod routes_scan_task;
pub mod state;
mod tables;
pub mod webhooks;
pub mod wire;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::web;

pub use clock::{NOT_EXECUTED, SimClock};
pub use lifecycle::ScanOutcome;
pub use webhooks::{Delivery, OnlineStatusEnvelope, WebhookKind, WebhookRecord};

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
    /// Offset of the vendor's wall clock from UTC, in seconds; the vendor is in China (UTC+8).
    pub vendor_utc_offset_secs: i32,
    /// How long a friend-chat action waits in the vendor's queue before it is executed.
    pub execute_after: Duration,
    /// A queued action whose accounts are still not logged in this long after it was added fails;
    /// the document says 1 minute.
    pub login_wait: Duration,
    /// Time between "logging in" and "online" for `batchOnline` and `onLine`.
    pub login_after: Duration,
    /// Time from `submitVerifyCode` to the registration result (and its webhook); `None` leaves
    /// every registration pending until the admin call decides it.
    pub registration_after: Option<Duration>,
    /// Verification code that the simulated vendor rejects (the registration then fails).
    pub failing_verify_code: String,
    /// When set, a QR code or pair code that was fetched is "scanned" successfully after this time,
    /// so a demo needs no admin call; tests leave it off and scan through the admin API.
    pub auto_scan_after: Option<Duration>,
    /// How the online-status webhook wraps its records (the document shows both forms).
    pub online_status_envelope: OnlineStatusEnvelope,
    /// Write the types the document's examples show instead of its tables: `executeStatus` as a
    /// number and port ids as (64-bit) JSON numbers.
    pub example_types: bool,
    /// Path of the scan-task webhook; the document only says "baseURL+uri".
    pub scan_task_webhook_path: String,
    /// Timeout of one webhook delivery.
    pub webhook_timeout: Duration,
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
            vendor_utc_offset_secs: 8 * 3600,
            execute_after: Duration::from_millis(500),
            login_wait: Duration::from_secs(60),
            login_after: Duration::from_secs(1),
            registration_after: Some(Duration::from_secs(2)),
            failing_verify_code: "000000".to_owned(),
            auto_scan_after: None,
            online_status_envelope: OnlineStatusEnvelope::Alternate,
            example_types: false,
            scan_task_webhook_path: webhooks::DEFAULT_SCAN_TASK_PATH.to_owned(),
            webhook_timeout: Duration::from_secs(5),
        }
    }
}

/// The simulated state of the account-management API.
#[derive(Debug)]
pub struct AccountsSim {
    pub config: AccountsConfig,
    clock: SimClock,
    state: Mutex<state::State>,
    webhooks: Arc<webhooks::Webhooks>,
}

impl AccountsSim {
    pub fn new(config: AccountsConfig) -> Arc<Self> {
        let webhooks = Arc::new(webhooks::Webhooks::new(&config));
        let state = state::State::new(config.cloud_port_quota);
        Arc::new(Self {
            config,
            clock: SimClock::default(),
            state: Mutex::new(state),
            webhooks,
        })
    }

    /// The state, even if a panicking thread poisoned the lock: the data stays usable for a simulator.
    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulator's clock, which tests may move forward.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Moves the simulated clock forward (lazy rules such as port release see the new time).
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Every webhook sent or attempted so far (the most recent ones), oldest first.
    pub fn webhook_log(&self) -> Vec<WebhookRecord> {
        self.webhooks.log()
    }

    /// Forgets all simulated objects and the webhook log; the port quota returns to the configured one.
    pub fn reset(&self) {
        *self.lock() = state::State::new(self.config.cloud_port_quota);
        self.webhooks.clear_log();
    }

    /// The whole simulated state as JSON, after applying the time-driven rules.
    pub fn state_json(&self) -> serde_json::Value {
        let now = self.clock.now();
        let mut st = self.lock();
        st.settle(&self.config, now);
        let mut v = serde_json::to_value(&*st).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("now".to_owned(), serde_json::json!(now));
            obj.insert(
                "webhooks".to_owned(),
                serde_json::to_value(self.webhooks.log()).unwrap_or_default(),
            );
        }
        v
    }
}

/// Registers every route of document 001 and the `/_sim/accounts/...` admin calls.
pub fn configure(cfg: &mut web::ServiceConfig, sim: Arc<AccountsSim>) {
    cfg.app_data(web::Data::from(sim));
    routes_actions::configure(cfg);
    routes_accounts::configure(cfg);
    routes_register::configure(cfg);
    routes_qrcode::configure(cfg);
    routes_contacts::configure(cfg);
    routes_scan_task::configure(cfg);
    admin::configure(cfg);
}
