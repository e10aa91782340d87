//! `GET /v1/whoami`: what the gateway reads from your token.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Auth, Scope, scope};
use crate::error::ApiError;
use crate::routes::Routes;

pub fn configure(cfg: &mut Routes) {
    cfg.service(whoami);
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "tenant": "acme",
    "subject": "billing-service",
    "scopes": ["numbers:read", "numbers:check"],
    "expires_at": "2026-11-22T03:10:44Z"
}))]
pub struct WhoAmI {
    /// The tenant every object you create belongs to.
    pub tenant: String,
    pub subject: Option<String>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Shows the tenant, subject, scopes and expiry of the calling token. Any valid token may call it.
#[utoipa::path(
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = WhoAmI),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 429, description = "Rate limited", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::rate_limited())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/whoami")]
pub async fn whoami(auth: Auth<scope::Any>) -> Result<web::Json<WhoAmI>, ApiError> {
    let principal = auth.principal;
    Ok(web::Json(WhoAmI {
        tenant: principal.tenant,
        subject: principal.subject,
        scopes: principal.scopes,
        expires_at: principal.expires_at,
    }))
}
