//! Number checks: one API over the screening, ekycpro and accuauth vendors.

use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::workers::Workers;

/// Settings of the number-check capability (`[number_checks]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberChecksConfig {}

pub fn configure(_cfg: &mut ServiceConfig) {}

/// Starts the background workers of this capability.
pub fn spawn_workers(_state: &AppState, _workers: &mut Workers) {}
