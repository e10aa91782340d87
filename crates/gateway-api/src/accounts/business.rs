//! `GET /v1/business-phones`: the tenant's WhatsApp Business numbers (NxCloud getPhone),
//! normalised and cached for `accounts.business_phones_cache_ttl`.

use actix_web::{get, web};
use domain::{BusinessPhone, E164};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use super::docs::ListErrors;
use crate::auth::{Uncounted, scope};
use crate::breaker::Breakers;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::http::page::{Order, Page, PageRequest, page_by_key};
use crate::http::rate_limit::StoreRead;
use crate::keys;
use crate::routes::Routes;
use crate::state::AppState;
use crate::store::Store;

/// The list name in this route's cursors.
const LIST: &str = "business-phones";

pub fn configure(cfg: &mut Routes) {
    cfg.service(business_phones);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PhoneFilter {
    /// Comma-separated international numbers; only these are returned (the vendor answers 422
    /// `number_not_bound` if one is not bound to the application).
    pub numbers: Option<String>,
}

/// The tenant's WhatsApp Business numbers with quality rating, verification and limits,
/// optionally only those listed, by number. The vendor lists them whole; the gateway pages them.
#[utoipa::path(
    tag = "business phones",
    security(("bearer" = ["business:read"])),
    params(PageRequest, PhoneFilter),
    responses((status = 200, description = "A page of business numbers", body = Page<BusinessPhone>,
        example = json!({"items": [{"number": "+8613800138024", "verified_name": "GLORY JACK",
            "quality_rating": "green", "name_status": "approved", "messaging_limit": "tier_1k", "code_verification_status": "verified", "status": "connected"}],
            "next_cursor": null})),
        ListErrors)
)]
#[get("/v1/business-phones")]
pub async fn business_phones(
    caller: Uncounted<scope::BusinessRead>,
    state: web::Data<AppState>,
    filter: web::Query<PhoneFilter>,
    page: PageRequest,
) -> Result<web::Json<Page<BusinessPhone>>, ApiError> {
    let asked = page.position(LIST).and_then(|_| {
        let phones = state.providers.business_phones().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "business phones are not configured (vendors.nxcloud)",
            )
        })?;
        Ok((filter_numbers(&filter)?, phones))
    });
    let (numbers, phones) = match asked {
        Ok(asked) => asked,
        Err(e) => {
            // Refused input counts against the limit like any other request.
            caller.admit().await?;
            return Err(e);
        }
    };
    let filter_key = hex::encode(
        &Sha256::digest(
            numbers
                .iter()
                .map(|n| n.digits())
                .collect::<Vec<_>>()
                .join(","),
        )[..12],
    );
    let key = keys::BusinessPhones::new(&caller.tenant, &filter_key);
    let ttl = state.config.accounts.business_phones_cache_ttl;
    // One store round trip for the count, the vendor's circuit and (with caching on) the
    // cached list; the count decides first. With caching off the list is not read at all.
    let mut reads = Breakers::state_keys(phones.provider());
    if !ttl.is_zero() {
        reads.push(key.to_string());
    }
    let (_auth, mut values) = caller.admit_reading(StoreRead::Keys(&reads)).await?;
    let cached = match values.get_mut(2).and_then(Option::take) {
        Some(bytes) => Some(Store::decode(&key, &bytes)?),
        None => None,
    };
    let list = match cached {
        Some(list) => list,
        None => {
            let circuit = values.get(..2).unwrap_or_default();
            let list = state
                .breakers
                .call_read(phones.provider(), circuit, phones.list(&numbers))
                .await?
                .map_err(ApiError::from)?;
            if !ttl.is_zero() {
                state.store.save_for(&key, &list, Some(ttl)).await?;
            }
            list
        }
    };
    Ok(web::Json(page_by_key(
        list,
        |p: &BusinessPhone| p.number.to_string(),
        Order::Ascending,
        &page,
        LIST,
    )?))
}

/// The distinct numbers of the `numbers` filter, sorted; every invalid one is reported.
#[allow(clippy::result_large_err)] // the refusal is the handler's answer, built once
fn filter_numbers(filter: &PhoneFilter) -> Result<Vec<E164>, ApiError> {
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
    Ok(numbers)
}
