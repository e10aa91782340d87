//! Routes, one module per capability; each exposes `configure`.

use actix_web::dev::HttpServiceFactory;
use utoipa_actix_web::OpenApiFactory;

pub mod admin;
pub mod ops;
pub mod whoami;

/// Every route, on one listener.
pub fn configure(cfg: &mut Routes) {
    configure_status(cfg);
    configure_api(cfg);
}

/// What the status listener serves: probes, metrics and the admin routes.
pub fn configure_status(cfg: &mut Routes) {
    ops::configure(cfg);
    admin::configure(cfg);
}

/// Whether a route (an OpenAPI path) belongs to the status listener when there is one.
pub fn is_status_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/v1/admin/")
}

/// What the public listener serves: the API and the vendors' webhooks.
pub fn configure_api(cfg: &mut Routes) {
    crate::number_checks::routes::configure(cfg);
    crate::accounts::configure(cfg);
    crate::events::configure(cfg);
    whoami::configure(cfg);
}

/// Where `configure` registers routes: into the OpenAPI document (once per process, see
/// [`crate::openapi::shared_document`]) or into a serving worker's application. A worker only
/// needs the handlers; describing every operation and schema again in each worker cost start-up
/// time and memory that the worker's allocator arena kept afterwards.
pub enum Routes<'c, 's> {
    Documented(&'c mut utoipa_actix_web::service_config::ServiceConfig<'s>),
    Served(&'c mut actix_web::web::ServiceConfig),
}

impl std::fmt::Debug for Routes<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Documented(_) => "Routes::Documented",
            Self::Served(_) => "Routes::Served",
        })
    }
}

impl Routes<'_, '_> {
    /// Registers a handler; every handler must be documented (`#[utoipa::path]`), so none can be
    /// served without appearing in the document.
    pub fn service<F>(&mut self, handler: F) -> &mut Self
    where
        F: HttpServiceFactory + OpenApiFactory + 'static,
    {
        match self {
            Self::Documented(cfg) => {
                cfg.service(handler);
            }
            Self::Served(cfg) => {
                cfg.service(handler);
            }
        }
        self
    }
}
