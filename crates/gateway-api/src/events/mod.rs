//! Events: vendor webhooks in, normalised events out (feed, live stream, signed deliveries).

use serde::Deserialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;
use crate::workers::Workers;

/// Settings of the events capability (`[events]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {}

pub fn configure(_cfg: &mut ServiceConfig) {}

/// Starts the background workers of this capability.
pub fn spawn_workers(_state: &AppState, _workers: &mut Workers) {}
