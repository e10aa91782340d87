//! Registration of a new customer-service account: submit the phone, then the verification code;
//! the result comes later by the registration-status webhook (the document has no status query).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AccountsSim;
use super::state::{Registration, RegistrationState};
use super::tables;
use super::wire::{self, ApiError, ApiResult, Fields, MSG_LOWER};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/group-dispatch-api/register/submitPhone",
        web::post().to(submit_phone),
    )
    .route(
        "/group-dispatch-api/register/submitVerifyCode",
        web::post().to(submit_code),
    );
}

/// `+86` → `86`: one to four digits.
fn area_digits(f: &Fields<'_>) -> Result<String, ApiError> {
    let raw = f.text_req(&["areaCode"])?;
    let d = raw.trim_start_matches('+');
    if (1..=4).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) {
        Ok(d.to_owned())
    } else {
        Err(ApiError::bad("areaCode must be a calling code such as +86"))
    }
}

/// The number as the webhook reports it: calling code followed by the local number.
fn full_phone(f: &Fields<'_>) -> Result<(String, String, String), ApiError> {
    let area = area_digits(f)?;
    let local = wire::phone(&f.text_req(&["phone"])?, "phone")?;
    Ok((format!("{area}{local}"), local, area))
}

async fn submit_phone(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(submit_phone_inner(&sim, &body), MSG_LOWER)
}

/// A number the vendor already holds, or one whose code is being checked, is refused (409).
/// Submitting again while waiting for the code re-sends it under a new task id.
fn submit_phone_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::SUBMIT_PHONE)?;
    let f = Fields::new(&map);
    let (phone, local, area) = full_phone(&f)?;
    let verify_type = f.int_req(&["verifyType"])?;
    if !(0..=3).contains(&verify_type) {
        return Err(ApiError::bad(
            "verifyType must be 0 (SMS), 1 (voice), 2 (missed call) or 3 (internal code)",
        ));
    }
    let account_type = f.int_req(&["accountType"])?;
    if !matches!(account_type, 1 | 2) {
        return Err(ApiError::bad(
            "accountType must be 1 (personal) or 2 (business)",
        ));
    }
    let country = f.text_req(&["countryCode"])?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::bad(
            "countryCode must be a two-letter country code such as CN",
        ));
    }
    sim.tx(|tx| {
        if tx.st.accounts.contains_key(&phone) {
            return Err(ApiError::conflict(format!(
                "{phone} is already a customer-service account"
            )));
        }
        if tx
            .st
            .registrations
            .get(&phone)
            .is_some_and(|r| r.state == RegistrationState::Verifying)
        {
            return Err(ApiError::conflict(format!(
                "the code of {phone} is being verified"
            )));
        }
        let task_id = tx.st.next_registration_id;
        tx.st.next_registration_id += 1;
        tx.st.registrations.insert(
            phone.clone(),
            Registration {
                task_id,
                phone: phone.clone(),
                local_phone: local,
                area_code: format!("+{area}"),
                country_code: country.to_ascii_uppercase(),
                verify_type,
                account_type,
                state: RegistrationState::CodeSent,
                submitted_at: tx.now,
                verify_code: None,
            },
        );
        Ok(json!(task_id))
    })
}

async fn submit_code(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    let sim = sim.into_inner();
    wire::reply(submit_code_inner(&sim, &body), MSG_LOWER)
}

/// The code must be 4 to 8 digits; the result follows after `registration_after` (success unless
/// the code is `failing_verify_code`), or when the admin call decides it.
fn submit_code_inner(sim: &Arc<AccountsSim>, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::SUBMIT_CODE)?;
    let f = Fields::new(&map);
    let (phone, _, _) = full_phone(&f)?;
    let code = f.text_req(&["verifyCode"])?;
    if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad("verifyCode must be 4 to 8 digits"));
    }
    let task_id = sim.tx(|tx| {
        let reg = tx.st.registrations.get_mut(&phone).ok_or_else(|| {
            ApiError::not_found(format!(
                "no registration started for {phone}: submit the phone first"
            ))
        })?;
        if reg.state != RegistrationState::CodeSent {
            return Err(ApiError::conflict(format!(
                "registration of {phone} is not waiting for a code"
            )));
        }
        reg.state = RegistrationState::Verifying;
        reg.verify_code = Some(code.clone());
        Ok(reg.task_id)
    })?;
    if let Some(delay) = sim.config.registration_after {
        let success = code != sim.config.failing_verify_code;
        sim.after(delay, move |sim| {
            // Only this attempt: a newer registration of the number is left alone.
            let current = sim.tx(|tx| {
                tx.st
                    .registrations
                    .get(&phone)
                    .map(|r| (r.task_id, r.state))
            });
            if current == Some((task_id, RegistrationState::Verifying))
                && let Err(e) = sim.finish_registration(&phone, success)
            {
                tracing::debug!(error = %e.message, "registration result skipped");
            }
        });
    }
    Ok(json!(""))
}
