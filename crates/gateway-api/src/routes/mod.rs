//! Routes, one module per capability; each exposes `configure`.

use utoipa_actix_web::service_config::ServiceConfig;

pub mod admin;
pub mod ops;
pub mod whoami;

/// Every route, on one listener.
pub fn configure(cfg: &mut ServiceConfig) {
    configure_status(cfg);
    configure_api(cfg);
}

/// What the status listener serves: probes, metrics and the admin routes.
pub fn configure_status(cfg: &mut ServiceConfig) {
    ops::configure(cfg);
    admin::configure(cfg);
}

/// Whether a route (an OpenAPI path) belongs to the status listener when there is one.
pub fn is_status_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/v1/admin/")
}

/// What the public listener serves: the API and the vendors' webhooks.
pub fn configure_api(cfg: &mut ServiceConfig) {
    crate::number_checks::routes::configure(cfg);
    crate::accounts::configure(cfg);
    crate::events::configure(cfg);
    whoami::configure(cfg);
}
