//! accuauth single check (document 004): one Peru number (9 digits starting with 9, no country
//! code) per request; `PENDING` (HTTP 400) means "ask again".
//!
//! A number answers `PENDING` to its first `pending_polls` requests, then `OK`; the next request
//! for the same number starts a new check. Only `OK` answers are billed, one number each: the
//! document calls `PENDING` an operation in progress, not a result.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{self, Field, Ty, field};
use crate::json_value;
use crate::ledger::numbers_digest;
use crate::operations::ACCUAUTH;
use crate::state::SimState;
use crate::truth;

/// Peru's country calling code, added to the number before it is looked up.
pub const COUNTRY_CODE: &str = "51";

/// The `result` object of an `OK` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub number: String,
    pub whatsapp: String,
    pub status_update: String,
    pub signature: String,
    pub business_user: String,
    pub avatar: String,
}

/// Every answer: `result` on `OK`, `reason` on errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CheckResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub request_id: String,
}

#[derive(Debug, Default)]
pub struct AccuauthStore {
    /// PENDING answers given per number since its last OK.
    polls: Mutex<HashMap<String, u32>>,
    billed: Mutex<u64>,
}

pub fn request_id(state: &SimState) -> String {
    format!("TID{}", state.next_hex_id("accuauth"))
}

/// An error answer with the document's `status`/`reason` shape.
pub fn error(
    state: &SimState,
    http: StatusCode,
    status: &str,
    reason: impl Into<String>,
) -> HttpResponse {
    HttpResponse::build(http).json(Answer {
        status: status.to_owned(),
        result: None,
        reason: Some(reason.into()),
        request_id: request_id(state),
    })
}

/// The result the document describes, from the profile of `+51<number>`.
pub fn result_for(seed: u64, national: &str) -> CheckResult {
    let p = truth::profile(seed, &format!("{COUNTRY_CODE}{national}"));
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    CheckResult {
        number: p.number.clone(),
        whatsapp: yes_no(p.registered),
        status_update: p
            .status_update
            .map(|d| d.format("%Y%m%d").to_string())
            .unwrap_or_default(),
        signature: p.about.clone().unwrap_or_default(),
        business_user: yes_no(p.business),
        avatar: yes_no(p.avatar_url.is_some()),
    }
}

/// A Peru mobile number written nationally: 9 digits, the first a 9.
pub fn is_peru_mobile(n: &str) -> bool {
    n.len() == 9 && n.starts_with('9') && n.bytes().all(|b| b.is_ascii_digit())
}

fn authenticate(state: &SimState, req: &HttpRequest) -> Result<(), Box<HttpResponse>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let cfg = &state.config.accuauth;
    if header("X-DF-API-ID") != Some(cfg.api_id.as_str())
        || header("X-DF-API-SECRET") != Some(cfg.api_secret.as_str())
    {
        return Err(Box::new(error(
            state,
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "invalid X-DF-API-ID or X-DF-API-SECRET",
        )));
    }
    if cfg.key_expired {
        return Err(Box::new(error(
            state,
            StatusCode::UNAUTHORIZED,
            "KEY_EXPIRED",
            "the API ID has expired",
        )));
    }
    Ok(())
}

/// 2.2 Request Body: `number` (string) and `callback` (string, "not supported yet").
const BODY: &[Field] = &[field("number", Ty::Str), field("callback", Ty::Str)];

pub async fn check(state: web::Data<SimState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Err(r) = authenticate(&state, &req) {
        return *r;
    }
    let invalid = |reason: &str| error(&state, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", reason);
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("request body must be a JSON object");
    };
    if let Err(reason) = contract::check(&v, BODY) {
        return invalid(&format!("argument {reason}"));
    }
    let Some(number) = v.get("number").and_then(json_value::text) else {
        return invalid("argument 'number': not found");
    };
    let number = number.trim().to_owned();
    if !is_peru_mobile(&number) {
        return invalid(
            "argument 'number': must be a Peru mobile number of 9 digits starting with 9, without country code",
        );
    }
    let store = &state.accuauth;
    if let Some(quota) = state.config.accuauth.quota
        && *store.billed.lock().unwrap_or_else(|e| e.into_inner()) >= quota
    {
        return error(
            &state,
            StatusCode::FORBIDDEN,
            "OUT_OF_QUOTA",
            "API calls quota exceeded",
        );
    }
    let pending = {
        let mut polls = store.polls.lock().unwrap_or_else(|e| e.into_inner());
        let n = polls.entry(number.clone()).or_default();
        if *n < state.config.accuauth.pending_polls {
            *n += 1;
            true
        } else {
            polls.remove(&number);
            false
        }
    };
    if pending {
        return error(
            &state,
            StatusCode::BAD_REQUEST,
            "PENDING",
            "checking is in progress, ask again",
        );
    }
    let id = request_id(&state);
    *store.billed.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    state.ledger.record_order(
        ACCUAUTH,
        "accuauth.check",
        &id,
        1,
        numbers_digest(&[format!("{COUNTRY_CODE}{number}")]),
    );
    HttpResponse::Ok().json(Answer {
        status: "OK".to_owned(),
        result: Some(result_for(state.config.seed, &number)),
        reason: None,
        request_id: id,
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/check/whatsapp_advanced", web::post().to(check));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peru_mobiles_only() {
        assert!(is_peru_mobile("912345678"));
        assert!(!is_peru_mobile("812345678"));
        assert!(!is_peru_mobile("51912345678"));
        assert!(!is_peru_mobile("91234567a"));
    }

    #[test]
    fn result_follows_the_truth() {
        let p = truth::profile(9, "+51912345678");
        let r = result_for(9, "912345678");
        assert_eq!(r.number, "+51912345678");
        assert_eq!(r.whatsapp == "yes", p.registered);
        assert_eq!(r.avatar == "yes", p.avatar_url.is_some());
    }
}
