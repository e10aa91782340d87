//! `GET /v1/admin/config`: the configuration in force, secrets left out, for operators.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{Auth, scope};
use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(effective_config);
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "listen": "0.0.0.0:8080",
    "store": {"backend": "redis", "key_prefix": "wagw:", "command_timeout_ms": 500},
    "auth": {"algorithms": ["RS256"], "issuer": "https://login.example.com/", "audience": "wa-gateway",
             "jwks_url": "https://login.example.com/.well-known/jwks.json", "hs256_secrets": 0, "dev_secret_allowed": false},
    "limits": {"max_body_bytes": 33554432, "idempotency_ttl_s": 86400, "outbound_timeout_ms": 15000,
               "rate_limits": {"default": {"requests": 1200, "per_s": 60}}}
}))]
pub struct EffectiveConfig {
    pub listen: String,
    pub store: StoreView,
    pub auth: AuthView,
    pub limits: LimitsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoreView {
    /// `redis` or `embedded`; the Redis URL itself is never shown (it may hold a password).
    pub backend: &'static str,
    pub key_prefix: String,
    pub command_timeout_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthView {
    pub algorithms: Vec<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks_url: Option<String>,
    /// How many HS256 secrets are configured (never the secrets).
    pub hs256_secrets: usize,
    pub dev_secret_allowed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsView {
    pub max_body_bytes: usize,
    pub idempotency_ttl_s: u64,
    pub outbound_timeout_ms: u64,
    #[schema(value_type = Object)]
    pub rate_limits: serde_json::Value,
}

/// The effective configuration (defaults, file and environment merged), without any secret.
/// Requires the `admin` scope.
#[utoipa::path(
    tag = "operations",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The configuration in force", body = EffectiveConfig),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `admin`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::forbidden())),
    )
)]
#[get("/v1/admin/config")]
pub async fn effective_config(
    _auth: Auth<scope::Admin>,
    state: web::Data<AppState>,
) -> Result<web::Json<EffectiveConfig>, ApiError> {
    let config = &state.config;
    let rate_limits = config
        .limits
        .rate_limits
        .iter()
        .map(|(class, limit)| {
            (
                class.clone(),
                serde_json::json!({"requests": limit.requests, "per_s": limit.per.as_secs()}),
            )
        })
        .collect::<serde_json::Map<_, _>>();
    Ok(web::Json(EffectiveConfig {
        listen: config.server.listen.clone(),
        store: StoreView {
            backend: state.store.backend_name(),
            key_prefix: config.store.key_prefix.clone(),
            command_timeout_ms: u64::try_from(config.store.command_timeout.as_millis())
                .unwrap_or(u64::MAX),
        },
        auth: AuthView {
            algorithms: config.auth.algorithms.clone(),
            issuer: config.auth.issuer.clone(),
            audience: config.auth.audience.clone(),
            jwks_url: config.auth.jwks_url.clone(),
            hs256_secrets: config.auth.hs256_secrets.len(),
            dev_secret_allowed: config.auth.allow_dev_secret,
        },
        limits: LimitsView {
            max_body_bytes: config.limits.max_body_bytes,
            idempotency_ttl_s: config.limits.idempotency_ttl.as_secs(),
            outbound_timeout_ms: u64::try_from(config.limits.outbound_timeout.as_millis())
                .unwrap_or(u64::MAX),
            rate_limits: serde_json::Value::Object(rate_limits),
        },
    }))
}
