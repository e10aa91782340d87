//! Account operations: accounts, registrations, login sessions, ports, contacts, profiles, scan
//! tasks, chat actions and business phones.

use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::workers::Workers;

/// Settings of the account-operation capability (`[accounts]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {}

pub fn configure(_cfg: &mut ServiceConfig) {}

/// Starts the background workers of this capability.
pub fn spawn_workers(_state: &AppState, _workers: &mut Workers) {}
