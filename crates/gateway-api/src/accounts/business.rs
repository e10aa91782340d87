//! `GET /v1/business-phones`: the tenant's WhatsApp Business numbers (NxCloud getPhone),
//! normalised and cached for `accounts.business_phones_cache_ttl`.

use actix_web::{get, web};
use domain::BusinessPhone;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::docs::ListErrors;
use crate::auth::{Auth, scope};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(business_phones);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhoneFilter {
    /// Comma-separated international numbers; only these are returned (the vendor answers 422
    /// `number_not_bound` if one is not bound to the application).
    pub numbers: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"phones": [{"number": "+8613800138024", "verified_name": "GLORY JACK",
    "quality_rating": "green", "name_status": "approved", "messaging_limit": "tier_1k", "code_verification_status": "verified", "status": "connected"}]}))]
pub struct BusinessPhoneList {
    pub phones: Vec<BusinessPhone>,
}

/// The tenant's WhatsApp Business numbers with quality rating, verification and limits,
/// optionally only those listed.
#[utoipa::path(
    tag = "business phones",
    security(("bearer" = ["business:read"])),
    params(PhoneFilter),
    responses((status = 200, description = "Business numbers", body = BusinessPhoneList), ListErrors)
)]
#[get("/v1/business-phones")]
pub async fn business_phones(
    auth: Auth<scope::BusinessRead>,
    state: web::Data<AppState>,
    filter: web::Query<PhoneFilter>,
) -> Result<web::Json<BusinessPhoneList>, ApiError> {
    let phones = state.providers.business_phones().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "business phones are not configured (vendors.nxcloud)",
        )
    })?;
    let mut numbers = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in filter
        .numbers
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        match domain::normalize(raw, None) {
            Ok(n) => numbers.push(n),
            Err(_) => errors.push(FieldError {
                field: format!("numbers[{i}]"),
                code: "invalid_number".into(),
                message: "an international number with country code".into(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    numbers.sort();
    numbers.dedup();
    let filter_key = hex::encode(
        &Sha256::digest(
            numbers
                .iter()
                .map(|n| n.digits())
                .collect::<Vec<_>>()
                .join(","),
        )[..12],
    );
    let key = format!(
        "accounts:business-phones:v2:{}:{filter_key}",
        auth.principal.tenant
    );
    // With caching off, every request goes to the vendor: no store round trip at all.
    let ttl = state.config.accounts.business_phones_cache_ttl;
    if !ttl.is_zero()
        && let Some(cached) = state.store.get_json::<BusinessPhoneList>(&key).await?
    {
        return Ok(web::Json(cached));
    }
    let list = BusinessPhoneList {
        phones: state
            .breakers
            .call(phones.provider(), phones.list(&numbers))
            .await?
            .map_err(ApiError::from)?,
    };
    if !ttl.is_zero() {
        state.store.set_json(&key, &list, Some(ttl)).await?;
    }
    Ok(web::Json(list))
}
