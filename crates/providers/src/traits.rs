//! One trait per capability; every method takes and returns `domain` types only.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    AccountCredentials, AccountState, ActionReport, BusinessPhone, ChatActionRequest, CheckSet,
    Contact, E164, LoginCodes, NumberResult, PairCodeMode, PairTarget, PortDetail, PortQuota,
    PortType, Profile, ProfileChannel, ProviderError, ProviderId, RegistrationRequest,
    ScanAllocation, SessionReport,
};
use serde::{Deserialize, Serialize};

/// A vendor's order/task id, kept as a string (some are 64-bit integers that JSON clients
/// would round).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VendorOrderId(String);

impl VendorOrderId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VendorOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a finished order's results can be fetched (a time-limited vendor URL).
///
/// Persist it with serde; `Debug` hides the query string, which often carries a download token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResultLocation(String);

impl ResultLocation {
    pub fn new(location: impl Into<String>) -> Self {
        Self(location.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResultLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.split(['?', '#']).next().unwrap_or_default();
        write!(f, "ResultLocation({shown})")
    }
}

/// How many numbers one order may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLimits {
    pub min: usize,
    pub max: usize,
}

/// State of a submitted order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderProgress {
    /// Still working; counts when the vendor reports them.
    Running {
        done: Option<u64>,
        total: Option<u64>,
    },
    /// Finished; results can be fetched from `result`.
    Ready { result: ResultLocation },
}

/// A vendor that checks many numbers per asynchronous order.
///
/// The caller respects [`BatchLimits`], submits one order per group of
/// [`BulkNumberChecker::order_groups`], and for vendors with
/// [`BulkNumberChecker::one_region_per_order`] splits numbers with
/// [`domain::split_by_country`]. Adapters refuse (without any request) what they cannot send.
#[async_trait]
pub trait BulkNumberChecker: Send + Sync + fmt::Debug {
    fn provider(&self) -> ProviderId;

    /// Checks this adapter can answer.
    fn checks(&self) -> CheckSet;

    fn limits(&self) -> BatchLimits;

    /// Splits `checks` into groups that one order each can answer; checks the adapter cannot
    /// answer are dropped. Empty when nothing asked can be answered.
    fn order_groups(&self, checks: &CheckSet) -> Vec<CheckSet> {
        let supported = checks.intersection(&self.checks());
        if supported.is_empty() {
            Vec::new()
        } else {
            vec![supported]
        }
    }

    /// Whether all numbers of one order must share an ISO region.
    fn one_region_per_order(&self) -> bool {
        false
    }

    async fn submit(
        &self,
        numbers: &[E164],
        checks: &CheckSet,
    ) -> Result<VendorOrderId, ProviderError>;

    async fn poll(&self, order: &VendorOrderId) -> Result<OrderProgress, ProviderError>;

    /// Downloads and reads the result file: one record per number found in it.
    async fn fetch_results(
        &self,
        order: &VendorOrderId,
        location: &ResultLocation,
    ) -> Result<Vec<NumberResult>, ProviderError>;
}

/// Outcome of a single-number check.
#[derive(Debug, Clone, PartialEq)]
pub enum SingleCheck {
    Done(NumberResult),
    /// The vendor is still working; ask again after `retry_after`.
    Pending {
        retry_after: Duration,
    },
    /// This provider cannot check this number or these checks; nothing was sent.
    Unsupported(String),
}

/// A vendor that checks one number per synchronous call.
#[async_trait]
pub trait SingleNumberChecker: Send + Sync + fmt::Debug {
    fn provider(&self) -> ProviderId;

    fn checks(&self) -> CheckSet;

    /// ISO regions this vendor accepts numbers from; `None`: any region.
    fn regions(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Whether the number's region is one this vendor serves.
    fn accepts(&self, number: &E164) -> bool {
        match self.regions() {
            None => true,
            Some(list) => number.region().is_some_and(|r| list.contains(&r)),
        }
    }

    async fn check(&self, number: &E164, checks: &CheckSet) -> Result<SingleCheck, ProviderError>;
}

/// The tenant's WhatsApp Business numbers.
#[async_trait]
pub trait BusinessPhones: Send + Sync + fmt::Debug {
    fn provider(&self) -> ProviderId;

    /// All numbers when `filter` is empty, else only those listed.
    async fn list(&self, filter: &[E164]) -> Result<Vec<BusinessPhone>, ProviderError>;
}

/// How [`check_until_done`] waits between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Total time allowed, counted from the first attempt.
    pub deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }
}

/// Asks again while the vendor answers `Pending`, doubling the wait (at least the vendor's
/// `retry_after`, at most `max_delay`) until an answer or the deadline. At the deadline the last
/// `Pending` is returned so the caller can decide (queue it, or answer 202).
pub async fn check_until_done(
    checker: &dyn SingleNumberChecker,
    number: &E164,
    checks: &CheckSet,
    policy: PollPolicy,
) -> Result<SingleCheck, ProviderError> {
    let started = tokio::time::Instant::now();
    let mut delay = policy.initial_delay;
    loop {
        let answer = checker.check(number, checks).await?;
        let SingleCheck::Pending { retry_after } = answer else {
            return Ok(answer);
        };
        let wait = delay
            .max(retry_after)
            .min(policy.max_delay.max(retry_after));
        let elapsed = started.elapsed();
        if elapsed + wait > policy.deadline {
            return Ok(SingleCheck::Pending { retry_after });
        }
        tokio::time::sleep(wait).await;
        delay = (delay * 2).min(policy.max_delay);
    }
}

// ---- account operations (wscrm document 001) ---------------------------------------------------

/// Importing, listing, bringing online, recycling accounts, and their avatar/nickname.
#[async_trait]
pub trait Accounts: Send + Sync + fmt::Debug {
    async fn import_accounts(&self, accounts: &[AccountCredentials]) -> Result<(), ProviderError>;

    /// Every account the vendor holds for our credentials.
    async fn account_states(&self) -> Result<Vec<AccountState>, ProviderError>;

    async fn bring_accounts_online(
        &self,
        accounts: &[AccountCredentials],
        override_existing: bool,
    ) -> Result<(), ProviderError>;

    /// `numbers`: digits with country code.
    async fn recycle_accounts(&self, numbers: &[String]) -> Result<(), ProviderError>;

    async fn update_avatar_or_nickname(
        &self,
        channel: ProfileChannel,
        numbers: &[String],
        avatar_url: Option<&str>,
        nickname: Option<&str>,
    ) -> Result<(), ProviderError>;
}

/// Registering new numbers; the result only arrives by webhook.
#[async_trait]
pub trait Registrations: Send + Sync + fmt::Debug {
    /// The vendor's task id.
    async fn submit_phone(&self, request: &RegistrationRequest) -> Result<String, ProviderError>;

    async fn submit_verification_code(
        &self,
        national_digits: &str,
        area_code: &str,
        code: &str,
    ) -> Result<(), ProviderError>;
}

/// QR / pair-code logins on cloud ports. `session` is the vendor's session ("QR window") id.
#[async_trait]
pub trait LoginSessions: Send + Sync + fmt::Debug {
    async fn pair_targets(&self) -> Result<Vec<PairTarget>, ProviderError>;

    /// Reserves a port; the session id. `target` is a pairing target id of [`Self::pair_targets`].
    async fn reserve_port(
        &self,
        port_type: PortType,
        target: Option<i64>,
    ) -> Result<String, ProviderError>;

    async fn session_qr_code(
        &self,
        session: &str,
        proxy: Option<&str>,
    ) -> Result<String, ProviderError>;

    async fn session_pair_code(
        &self,
        session: &str,
        phone_digits: &str,
        proxy: Option<&str>,
        mode: PairCodeMode,
    ) -> Result<LoginCodes, ProviderError>;

    async fn session_report(&self, session: &str) -> Result<Vec<SessionReport>, ProviderError>;

    async fn session_online(&self, session: &str, proxy: Option<&str>)
    -> Result<(), ProviderError>;

    async fn session_offline(&self, session: &str) -> Result<(), ProviderError>;

    async fn session_log_out(&self, session: &str) -> Result<(), ProviderError>;
}

/// Cloud-port quota and ports in use.
#[async_trait]
pub trait Ports: Send + Sync + fmt::Debug {
    async fn port_quota(&self) -> Result<PortQuota, ProviderError>;
    async fn port_details(&self) -> Result<Vec<PortDetail>, ProviderError>;
}

/// What a logged-in session sees (risk-controlled at the vendor).
#[async_trait]
pub trait Contacts: Send + Sync + fmt::Debug {
    async fn contacts(&self, session: &str) -> Result<Vec<Contact>, ProviderError>;
    async fn contact(&self, session: &str, phone_digits: &str) -> Result<Contact, ProviderError>;
    async fn profile(&self, session: &str) -> Result<Profile, ProviderError>;
}

/// PC scan tasks.
#[async_trait]
pub trait ScanTasks: Send + Sync + fmt::Debug {
    /// The task id.
    async fn create_scan_task(
        &self,
        allocation: ScanAllocation,
        agent_id: Option<i64>,
    ) -> Result<String, ProviderError>;

    async fn scan_task_qr_code(&self, task: &str) -> Result<String, ProviderError>;
}

/// "Open friend conversation" actions.
#[async_trait]
pub trait ChatActions: Send + Sync + fmt::Debug {
    /// One vendor action id per request, in order. All requests share one vendor tenant.
    async fn submit_chat_actions(
        &self,
        actions: &[ChatActionRequest],
    ) -> Result<Vec<String>, ProviderError>;

    async fn chat_action_results(
        &self,
        vendor_tenant_id: i64,
        ids: &[String],
    ) -> Result<Vec<ActionReport>, ProviderError>;
}

/// Every account capability of one vendor.
pub trait AccountOperations:
    Accounts + Registrations + LoginSessions + Ports + Contacts + ScanTasks + ChatActions
{
}

impl<T> AccountOperations for T where
    T: Accounts + Registrations + LoginSessions + Ports + Contacts + ScanTasks + ChatActions
{
}
