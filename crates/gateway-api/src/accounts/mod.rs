//! Account operations: accounts, registrations, login sessions, ports, contacts, profiles, scan
//! tasks, chat actions and business phones.
//!
//! Every object the gateway creates (session, action, registration, scan task, imported or
//! logged-in account) belongs to one tenant: an owner record `owner:{kind}:{id}` → tenant is
//! written before anything else, and another tenant gets 404. The wscrm vendor credentials are
//! the `vendors.wscrm` section; each tenant maps to a wscrm `tenantId` in
//! `[accounts.tenants.<tenant>]`. Illegal lifecycle moves are refused with 409 from the state
//! last recorded, without a vendor call (see `docs/accounts.md`).

// `ApiError` is the crate's one error type, returned as is by every helper here.
#![allow(clippy::result_large_err)]

mod account_routes;
pub(crate) mod actions;
mod business;
mod docs;
mod qr;
mod sessions;

use std::collections::BTreeMap;
use std::time::Duration;

use domain::{IllegalMove, ProviderError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{Auth, Principal, RequiredScope};
use crate::error::{ApiError, ErrorCode};
use crate::keys;
use crate::ownership::{self, OwnedKind};
use crate::routes::Routes;
use crate::state::AppState;
use crate::workers::Workers;

/// Settings of the account-operation capability (`[accounts]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Tenant → its wscrm settings. A tenant not listed cannot use account operations.
    pub tenants: BTreeMap<String, TenantAccounts>,
    /// Minimum time between two chat actions of one (agent account, WhatsApp account) pair
    /// (the vendor's rule is 10 s); an action that leaves the account to the vendor keeps it to
    /// every action of its agent.
    #[serde(with = "humantime_serde")]
    pub action_spacing: Duration,
    /// Added to the spacing between two sends, for network jitter.
    #[serde(with = "humantime_serde")]
    pub action_spacing_margin: Duration,
    /// How often the action worker looks for due actions.
    #[serde(with = "humantime_serde")]
    pub action_poll_interval: Duration,
    /// How long business phones are cached per tenant and filter.
    #[serde(with = "humantime_serde")]
    pub business_phones_cache_ttl: Duration,
    /// Risk-controlled reads (contacts, one contact, profile) allowed per session per window.
    pub risk_reads_per_window: u32,
    #[serde(with = "humantime_serde")]
    pub risk_window: Duration,
    /// Consecutive failures (unavailable, timeout) of wscrm account management or NxCloud
    /// that open the vendor's circuit.
    pub circuit_failures: u32,
    /// How long an open circuit refuses calls to that vendor before one probe goes through.
    #[serde(with = "humantime_serde")]
    pub circuit_cooldown: Duration,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            tenants: BTreeMap::new(),
            action_spacing: Duration::from_secs(10),
            action_spacing_margin: Duration::from_millis(250),
            action_poll_interval: Duration::from_millis(200),
            business_phones_cache_ttl: Duration::from_secs(60),
            risk_reads_per_window: 10,
            risk_window: Duration::from_secs(60),
            circuit_failures: 5,
            circuit_cooldown: Duration::from_secs(60),
        }
    }
}

/// One tenant's vendor settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantAccounts {
    /// The wscrm `tenantId` (company id) of this tenant's chat actions.
    pub wscrm_tenant_id: i64,
}

pub fn configure(cfg: &mut Routes) {
    account_routes::configure(cfg);
    sessions::configure(cfg);
    actions::configure(cfg);
    business::configure(cfg);
}

/// Starts the background workers of this capability.
pub fn spawn_workers(state: &AppState, workers: &mut Workers) {
    actions::spawn_worker(state, workers);
}

// ---- shared helpers ------------------------------------------------------------------------

/// The tenant's settings, or 403 when the tenant is not configured for account operations.
fn tenant_settings<'a>(
    state: &'a AppState,
    principal: &Principal,
) -> Result<&'a TenantAccounts, ApiError> {
    settings_of(state, &principal.tenant)
}

fn settings_of<'a>(state: &'a AppState, tenant: &str) -> Result<&'a TenantAccounts, ApiError> {
    state.config.accounts.tenants.get(tenant).ok_or_else(|| {
        ApiError::new(
            ErrorCode::TenantNotConfigured,
            "this tenant has no account-management vendor configured",
        )
    })
}

/// The account-management adapter, or 503 when the vendor is not configured.
fn vendor(state: &AppState) -> Result<std::sync::Arc<dyn providers::AccountOperations>, ApiError> {
    state.providers.account_operations().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "account operations are not configured (vendors.wscrm.dispatch_api_base_url)",
        )
    })
}

/// What every account route that calls the vendor needs: the caller (scope `S`), their tenant's
/// settings (403 `tenant_not_configured` otherwise) and the vendor client (503 when account
/// operations are not configured), in that order.
pub struct AccountsCtx<S: RequiredScope> {
    pub auth: Auth<S>,
    pub settings: TenantAccounts,
    pub vendor: std::sync::Arc<dyn providers::AccountOperations>,
}

impl<S: RequiredScope> std::fmt::Debug for AccountsCtx<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountsCtx")
            .field("tenant", &self.auth.principal.tenant)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S: RequiredScope> FromRequest for AccountsCtx<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = Auth::<S>::from_request(&req, &mut Payload::None).await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            let settings = tenant_settings(&state, &auth.principal)?.clone();
            let vendor = vendor(&state)?;
            Ok(AccountsCtx {
                auth,
                settings,
                vendor,
            })
        })
    }
}

/// A wscrm account-management call behind the vendor's circuit breaker: while the circuit is
/// open it is not made at all and the route answers 503 `vendor_unavailable` with `Retry-After`.
/// The inner result is the vendor's answer.
async fn wscrm<T>(
    state: &AppState,
    call: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<Result<T, ProviderError>, ApiError> {
    Ok(state
        .breakers
        .call(providers::wscrm_accounts::ID, call)
        .await?)
}

/// Records that `id` belongs to `tenant`; false if another tenant already owns it.
async fn claim_owner(
    state: &AppState,
    kind: OwnedKind,
    id: &str,
    tenant: &str,
) -> Result<bool, ApiError> {
    Ok(ownership::claim(&state.store, kind, id, tenant).await?)
}

/// Whether `tenant` owns `id`.
async fn owns(state: &AppState, kind: OwnedKind, id: &str, tenant: &str) -> Result<bool, ApiError> {
    Ok(ownership::owns(&state.store, kind, id, tenant).await?)
}

/// An accounts record of `tenant` (for [`ownership::TenantRecord`]): 403 when the tenant is not
/// configured for account operations, `None` for unknown ids and other tenants' records alike.
async fn load_for_tenant<T: DeserializeOwned>(
    state: &AppState,
    kind: OwnedKind,
    tenant: &str,
    id: &str,
) -> Result<Option<T>, ApiError> {
    settings_of(state, tenant)?;
    if !owns(state, kind, id, tenant).await? {
        return Ok(None);
    }
    Ok(state
        .store
        .get_json(&keys::AccountsRecord::of(kind, id))
        .await?)
}

/// Implements [`ownership::TenantRecord`] for an accounts record kept under [`keys::AccountsRecord`].
macro_rules! accounts_record {
    ($ty:ty, $kind:expr, $what:literal) => {
        impl crate::ownership::TenantRecord for $ty {
            const WHAT: &'static str = $what;

            async fn load_for(
                state: &crate::state::AppState,
                tenant: &str,
                id: &str,
            ) -> Result<Option<Self>, crate::error::ApiError> {
                super::load_for_tenant(state, $kind, tenant, id).await
            }
        }
    };
}
use accounts_record;

async fn save<T: Serialize>(
    state: &AppState,
    kind: OwnedKind,
    id: &str,
    value: &T,
) -> Result<(), ApiError> {
    state
        .store
        .set_json(&keys::AccountsRecord::of(kind, id), value, None)
        .await?;
    Ok(())
}

/// 409 with the current state, for a move the lifecycle does not allow.
fn illegal(e: IllegalMove) -> ApiError {
    ApiError::new(ErrorCode::IllegalState, e.to_string()).with_extension("current_state", e.current)
}

/// An account, contact or friend number given by a caller, as vendor digits (country code, no
/// `+`). Read by its shape, not against numbering plans: every number the gateway reports (the
/// vendor's own data does not always pass them) must be accepted back (see
/// `domain::account_numbers`).
fn number_digits(field: &str, input: &str) -> Result<String, ApiError> {
    domain::account_digits(input).ok_or_else(|| {
        ApiError::field(
            field,
            "invalid_number",
            "an international number with country code, e.g. +8613800138000",
        )
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
