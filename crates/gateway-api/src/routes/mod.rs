//! Routes, one module per capability; each exposes `configure`.

use utoipa_actix_web::service_config::ServiceConfig;

pub mod admin;
pub mod ops;
pub mod whoami;

pub fn configure(cfg: &mut ServiceConfig) {
    ops::configure(cfg);
    admin::configure(cfg);
    crate::number_checks::configure(cfg);
    crate::accounts::configure(cfg);
    crate::events::configure(cfg);
    whoami::configure(cfg);
}
