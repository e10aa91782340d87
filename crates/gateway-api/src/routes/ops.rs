//! Health, readiness and metrics. With `server.admin_listen` set they are served on that status
//! listener only, not on the public one.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};
use crate::routes::Routes;
use crate::state::AppState;

pub fn configure(cfg: &mut Routes) {
    cfg.service(healthz).service(readyz).service(metrics);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `redis` or `embedded`.
    #[schema(example = "redis")]
    pub store: &'static str,
}

/// Liveness: the process answers. Never depends on Redis or a vendor, so a dependency outage
/// does not make Kubernetes restart healthy pods. On the status listener when
/// `server.admin_listen` is set.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the store answers, so this replica can take traffic. On the status listener when
/// `server.admin_listen` is set.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "The store does not answer", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Readiness>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(web::Json(Readiness {
            status: "ready",
            store: state.store.backend_name(),
        })),
        Err(error) => Err(
            ApiError::new(ErrorCode::StoreUnavailable, "the store does not answer")
                .with_retry_after(1)
                .with_source(error),
        ),
    }
}

/// Prometheus metrics in the text exposition format, each with its `# HELP`. On the status
/// listener when `server.admin_listen` is set.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Metrics", content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics() -> HttpResponse {
    let body = crate::http::metrics::handle()
        .map(|handle| handle.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
