//! `GET /v1/admin/config`: the configuration in force, secrets redacted, for operators.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Auth, scope};
use crate::error::ApiError;
use crate::routes::Routes;
use crate::state::AppState;

pub fn configure(cfg: &mut Routes) {
    cfg.service(effective_config);
}

/// The configuration in force, every section with the keys of the configuration file.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "version": "0.1.0",
    "revision": "1a2b3c4d5e6f",
    "store_backend": "redis",
    "config": {
        "server": {"listen": "0.0.0.0:8080", "workers": 0, "drain_timeout": "20s", "public_url": null,
                   "admin_listen": "0.0.0.0:9090"},
        "store": {"mode": "standalone", "redis_url": "[redacted]", "key_prefix": "wagw:", "command_timeout": "500ms", "pool_size": 4},
        "auth": {"algorithms": ["RS256"], "hs256_secrets": [], "allow_dev_secret": false,
                 "jwks_url": "https://login.example.com/.well-known/jwks.json", "issuer": "https://login.example.com/",
                 "audience": "wa-gateway", "leeway": "30s"},
        "log": {"format": "json", "level": "info"},
        "limits": {"max_body_bytes": 33554432, "idempotency_ttl": "1day", "outbound_timeout": "15s",
                   "rate_limits": {"default": {"requests": 1200, "per": "1m"}}},
        "vendors": {"accuauth": {"base_url": "https://cloudapi.peru.accuauth.com/", "api_id": "[redacted]",
                                 "api_secret": "[redacted]", "timeout_ms": 30000, "pending_retry_after_ms": 2000}},
        "number_checks": {"max_age": "30days", "callback_secrets": {"acme": "[redacted]"}},
        "accounts": {"tenants": {}},
        "events": {"webhook_secret": "[redacted]", "webhook_base_path": ""}
    }
}))]
pub struct EffectiveConfig {
    /// The running build's version.
    pub version: &'static str,
    /// The source revision it was built from.
    pub revision: &'static str,
    /// `redis` or `embedded`.
    pub store_backend: &'static str,
    /// Every section (`server`, `store`, `auth`, `log`, `limits`, `vendors`, `number_checks`,
    /// `accounts`, `events`) with the keys of the configuration file, defaults included; every
    /// secret reads `[redacted]`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// The effective configuration (defaults, file and environment merged), every section, with
/// each secret redacted. On the status listener when `server.admin_listen` is set.
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
    let config = serde_json::to_value(&*state.config).map_err(ApiError::internal)?;
    Ok(web::Json(EffectiveConfig {
        version: crate::build_info::VERSION,
        revision: crate::build_info::REVISION,
        store_backend: state.store.backend_name(),
        config,
    }))
}
