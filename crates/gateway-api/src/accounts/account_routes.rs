//! `/v1/accounts` (import, list, bring online, recycle, avatar/nickname) and `/v1/registrations`.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use domain::{
    AccountCredentials, AccountKeys, AccountMove, AccountState, AccountStatus, AccountType,
    OnlineStatus, ProfileChannel, RegistrationRequest, VerificationType, check_account_move,
    check_cloud_port_online,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::docs::{ListErrors, ReadErrors, WriteErrors};
use super::{AccountsCtx, claim_owner, illegal, number_digits, owns, save, wscrm};
use crate::auth::scope;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::http::owned::Owned;
use crate::http::page::{Order, Page, PageRequest, page_by_key};
use crate::keys;
use crate::ownership::OwnedKind;
use crate::routes::Routes;
use crate::state::AppState;

const MAX_BATCH: usize = 100;
const MAX_NICKNAME_CHARS: usize = 25;

pub fn configure(cfg: &mut Routes) {
    cfg.service(import_accounts)
        .service(list_accounts)
        .service(bring_online)
        .service(recycle)
        .service(update_profile)
        .service(create_registration)
        .service(submit_code)
        .service(get_registration);
}

/// Key material of one account. Write-only: never logged, echoed or stored by the gateway.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysInput {
    #[schema(value_type = String, example = "BQ3l...")]
    pub public_key: SecretString,
    #[schema(value_type = String, example = "aK9x...")]
    pub private_key: SecretString,
    #[schema(value_type = String, example = "BXk2...")]
    pub msg_public_key: SecretString,
    #[schema(value_type = String, example = "cQ7m...")]
    pub msg_private_key: SecretString,
    pub next_key_id: Option<String>,
    pub registration_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub device_params: Option<SecretString>,
}

/// One account with its keys.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// International number, e.g. `+8613800138000`.
    pub number: String,
    #[serde(default = "personal")]
    pub account_type: AccountType,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    /// The vendor-side account id (required by the vendor for imports).
    pub account_id: Option<String>,
    pub keys: KeysInput,
}

fn personal() -> AccountType {
    AccountType::Personal
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"accounts": [{"number": "+8613800138000", "account_type": "personal", "name": "Support 1",
    "account_id": "acc-001", "keys": {"public_key": "BQ3l...", "private_key": "aK9x...", "msg_public_key": "BXk2...", "msg_private_key": "cQ7m..."}}]}))]
pub struct ImportAccounts {
    /// 1 to 100 accounts.
    #[schema(min_items = 1, max_items = 100)]
    pub accounts: Vec<AccountInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"override": false, "accounts": [{"number": "+8613800138000",
    "keys": {"public_key": "BQ3l...", "private_key": "aK9x...", "msg_public_key": "BXk2...", "msg_private_key": "cQ7m..."}}]}))]
pub struct BringOnline {
    /// Replace a login the vendor already holds for these numbers.
    #[serde(rename = "override", default)]
    pub override_existing: bool,
    #[schema(min_items = 1, max_items = 100)]
    pub accounts: Vec<AccountInput>,
}

/// Numbers accepted by the vendor.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"numbers": ["+8613800138000"]}))]
pub struct NumbersAccepted {
    pub numbers: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"numbers": ["+8613800138000"]}))]
pub struct NumberBatch {
    #[schema(min_items = 1, max_items = 100)]
    pub numbers: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"numbers": ["+8613800138000"], "channel": "device", "avatar_url": "https://cdn.example.com/a.png", "nickname": "Support"}))]
pub struct ProfileUpdate {
    #[schema(min_items = 1, max_items = 100)]
    pub numbers: Vec<String>,
    /// `cloud_port` needs each number logged in on a cloud port that is online.
    pub channel: ProfileChannel,
    /// An `https://` (or `http://`) URL of the image.
    pub avatar_url: Option<String>,
    /// At most 25 characters.
    pub nickname: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Only accounts with this status.
    pub status: Option<AccountStatus>,
    /// Only accounts with this connection state.
    pub online_status: Option<OnlineStatus>,
}

fn batch_len<T>(items: &[T], field: &str) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::field(
            field,
            "length",
            format!("between 1 and {MAX_BATCH} items"),
        ));
    }
    Ok(())
}

fn credentials(items: Vec<AccountInput>) -> Result<Vec<AccountCredentials>, ApiError> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, a) in items.into_iter().enumerate() {
        match number_digits("", &a.number) {
            Ok(digits) => out.push(AccountCredentials {
                number_digits: digits,
                account_type: a.account_type,
                name: a.name,
                avatar_url: a.avatar_url,
                account_id: a.account_id,
                keys: AccountKeys {
                    public_key: a.keys.public_key,
                    private_key: a.keys.private_key,
                    msg_public_key: a.keys.msg_public_key,
                    msg_private_key: a.keys.msg_private_key,
                    next_key_id: a.keys.next_key_id,
                    registration_id: a.keys.registration_id,
                    device_params: a.keys.device_params,
                },
            }),
            Err(_) => errors.push(FieldError {
                field: format!("accounts[{i}].number"),
                code: "invalid_number".into(),
                message: "an international number with country code".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::validation(errors))
    }
}

fn digits_of(numbers: &[String]) -> Result<Vec<String>, ApiError> {
    batch_len(numbers, "numbers")?;
    numbers
        .iter()
        .enumerate()
        .map(|(i, n)| number_digits(&format!("numbers[{i}]"), n))
        .collect()
}

/// 404 unless every number belongs to the tenant.
async fn require_owned(state: &AppState, tenant: &str, digits: &[String]) -> Result<(), ApiError> {
    for d in digits {
        if !owns(state, OwnedKind::Account, d, tenant).await? {
            return Err(ApiError::not_found(&format!("account +{d}")));
        }
    }
    Ok(())
}

async fn known_state(state: &AppState, digits: &str) -> Result<Option<AccountState>, ApiError> {
    Ok(state
        .store
        .get_json(&keys::AccountsRecord::of(OwnedKind::Account, digits))
        .await?)
}

/// Imports accounts with their key material. The keys are passed to the vendor and forgotten:
/// never logged, echoed or stored. Each number then belongs to the calling tenant.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    request_body = ImportAccounts,
    responses((status = 201, description = "Imported", body = NumbersAccepted), WriteErrors)
)]
#[post("/v1/accounts")]
pub async fn import_accounts(
    ctx: AccountsCtx<scope::AccountsWrite>,
    state: web::Data<AppState>,
    body: web::Json<ImportAccounts>,
) -> Result<HttpResponse, ApiError> {
    let vendor = ctx.vendor.clone();
    let body = body.into_inner();
    batch_len(&body.accounts, "accounts")?;
    let creds = credentials(body.accounts)?;
    for c in &creds {
        if !claim_owner(
            &state,
            OwnedKind::Account,
            &c.number_digits,
            &ctx.auth.principal.tenant,
        )
        .await?
        {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("+{} is held by another tenant", c.number_digits),
            ));
        }
    }
    wscrm(&state, vendor.import_accounts(&creds))
        .await?
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(NumbersAccepted {
        numbers: creds
            .iter()
            .map(|c| domain::plus_number(&c.number_digits))
            .collect(),
    }))
}

/// The tenant's accounts with normalised status (`normal`/`banned`) and connection state
/// (`logging_in`/`online`/`logging_out`/`offline`), as the vendor reports them now, by number.
/// The vendor lists them whole; the gateway pages them.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = ["accounts:read"])),
    params(PageRequest, AccountFilter),
    responses((status = 200, description = "A page of the tenant's accounts", body = Page<AccountState>,
        example = json!({"items": [{"number": "+8613800138000", "status": "normal", "online_status": "online"}], "next_cursor": null})),
        ListErrors)
)]
#[get("/v1/accounts")]
pub async fn list_accounts(
    ctx: AccountsCtx<scope::AccountsRead>,
    state: web::Data<AppState>,
    filter: web::Query<AccountFilter>,
    page: PageRequest,
) -> Result<web::Json<Page<AccountState>>, ApiError> {
    page.position("accounts")?;
    let vendor = ctx.vendor.clone();
    let all = wscrm(&state, vendor.account_states())
        .await?
        .map_err(ApiError::from)?;
    let keys: Vec<String> = all
        .iter()
        .map(|a| keys::Owner::of(OwnedKind::Account, a.number.trim_start_matches('+')).into())
        .collect();
    let owners = state.store.mget(&keys).await?;
    let tenant = ctx.auth.principal.tenant.as_bytes();
    let mut accounts = Vec::new();
    for (account, owner) in all.into_iter().zip(owners) {
        if owner.as_deref() != Some(tenant) {
            continue;
        }
        save(
            &state,
            OwnedKind::Account,
            account.number.trim_start_matches('+'),
            &account,
        )
        .await?;
        if filter.status.is_some_and(|s| s != account.status)
            || filter
                .online_status
                .is_some_and(|s| s != account.online_status)
        {
            continue;
        }
        accounts.push(account);
    }
    Ok(web::Json(page_by_key(
        accounts,
        |a: &AccountState| a.number.clone(),
        Order::Ascending,
        &page,
        "accounts",
    )?))
}

/// Brings accounts online with their keys (given again: the gateway keeps none). A banned
/// account (as last listed) is refused with 409 `illegal_state` without a vendor call.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    request_body = BringOnline,
    responses((status = 202, description = "Logging in; watch the account list or events", body = NumbersAccepted), WriteErrors)
)]
#[post("/v1/accounts/online")]
pub async fn bring_online(
    ctx: AccountsCtx<scope::AccountsWrite>,
    state: web::Data<AppState>,
    body: web::Json<BringOnline>,
) -> Result<HttpResponse, ApiError> {
    let vendor = ctx.vendor.clone();
    let body = body.into_inner();
    batch_len(&body.accounts, "accounts")?;
    let creds = credentials(body.accounts)?;
    let digits: Vec<String> = creds.iter().map(|c| c.number_digits.clone()).collect();
    require_owned(&state, &ctx.auth.principal.tenant, &digits).await?;
    for d in &digits {
        check_account_move(
            known_state(&state, d).await?.as_ref(),
            AccountMove::BringOnline,
        )
        .map_err(illegal)?;
    }
    wscrm(
        &state,
        vendor.bring_accounts_online(&creds, body.override_existing),
    )
    .await?
    .map_err(ApiError::from)?;
    Ok(HttpResponse::Accepted().json(NumbersAccepted {
        numbers: digits.iter().map(|d| domain::plus_number(d)).collect(),
    }))
}

/// Recycles accounts: the vendor logs them out and forgets them, releasing their ports.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    request_body = NumberBatch,
    responses((status = 200, description = "Recycled", body = NumbersAccepted), WriteErrors)
)]
#[post("/v1/accounts/recycle")]
pub async fn recycle(
    ctx: AccountsCtx<scope::AccountsWrite>,
    state: web::Data<AppState>,
    body: web::Json<NumberBatch>,
) -> Result<web::Json<NumbersAccepted>, ApiError> {
    let vendor = ctx.vendor.clone();
    let digits = digits_of(&body.numbers)?;
    require_owned(&state, &ctx.auth.principal.tenant, &digits).await?;
    wscrm(&state, vendor.recycle_accounts(&digits))
        .await?
        .map_err(ApiError::from)?;
    for d in &digits {
        state
            .store
            .delete(&keys::AccountsRecord::of(OwnedKind::Account, d))
            .await?;
    }
    Ok(web::Json(NumbersAccepted {
        numbers: digits.iter().map(|d| domain::plus_number(d)).collect(),
    }))
}

fn check_avatar(url: &str) -> Result<(), ApiError> {
    let ok = url::Url::parse(url)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some());
    if ok && url.len() <= 2048 {
        Ok(())
    } else {
        Err(ApiError::field(
            "avatar_url",
            "invalid_url",
            "an absolute http(s) URL of the image",
        ))
    }
}

/// 409 unless every number is on a cloud port that is online now, as the vendor lists its ports:
/// the only state in which document 001 runs a cloud-port avatar/nickname change.
async fn require_online_cloud_ports(
    state: &AppState,
    vendor: &dyn providers::AccountOperations,
    digits: &[String],
) -> Result<(), ApiError> {
    let ports = wscrm(state, vendor.port_details())
        .await?
        .map_err(ApiError::from)?;
    for d in digits {
        check_cloud_port_online(&ports, &domain::plus_number(d)).map_err(illegal)?;
    }
    Ok(())
}

/// Sets the avatar and/or nickname of accounts, on their device or on the cloud port. On a cloud
/// port each number must be logged in on a cloud port that is online now (the vendor's port list
/// says so); otherwise 409 `illegal_state` (`current_state` `not_on_cloud_port` or
/// `cloud_port_disconnected`, or `banned`) and the change is not sent.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    request_body = ProfileUpdate,
    responses((status = 200, description = "Updated", body = NumbersAccepted), WriteErrors)
)]
#[post("/v1/accounts/profile")]
pub async fn update_profile(
    ctx: AccountsCtx<scope::AccountsWrite>,
    state: web::Data<AppState>,
    body: web::Json<ProfileUpdate>,
) -> Result<web::Json<NumbersAccepted>, ApiError> {
    let vendor = ctx.vendor.clone();
    let body = body.into_inner();
    let avatar = body.avatar_url.filter(|s| !s.trim().is_empty());
    let nickname = body.nickname.filter(|s| !s.trim().is_empty());
    if avatar.is_none() && nickname.is_none() {
        return Err(ApiError::field(
            "avatar_url",
            "required",
            "give avatar_url, nickname or both",
        ));
    }
    if let Some(a) = &avatar {
        check_avatar(a)?;
    }
    if nickname
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NICKNAME_CHARS)
    {
        return Err(ApiError::field(
            "nickname",
            "length",
            format!("at most {MAX_NICKNAME_CHARS} characters"),
        ));
    }
    let digits = digits_of(&body.numbers)?;
    require_owned(&state, &ctx.auth.principal.tenant, &digits).await?;
    let mv = match body.channel {
        ProfileChannel::CloudPort => AccountMove::UpdateProfileOnCloudPort,
        ProfileChannel::Device => AccountMove::UpdateProfileOnDevice,
    };
    for d in &digits {
        check_account_move(known_state(&state, d).await?.as_ref(), mv).map_err(illegal)?;
    }
    if body.channel == ProfileChannel::CloudPort {
        require_online_cloud_ports(&state, vendor.as_ref(), &digits).await?;
    }
    wscrm(
        &state,
        vendor.update_avatar_or_nickname(
            body.channel,
            &digits,
            avatar.as_deref(),
            nickname.as_deref(),
        ),
    )
    .await?
    .map_err(ApiError::from)?;
    Ok(web::Json(NumbersAccepted {
        numbers: digits.iter().map(|d| domain::plus_number(d)).collect(),
    }))
}

// ---- registrations -----------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "13800138009", "area_code": "+86", "country_code": "CN", "verification": "sms", "account_type": "personal"}))]
pub struct NewRegistration {
    /// The national number, digits only.
    pub phone: String,
    /// The calling code with `+`, e.g. `+86`.
    pub area_code: String,
    /// ISO 3166 region of the number, e.g. `CN`.
    pub country_code: String,
    pub verification: VerificationType,
    #[serde(default = "personal")]
    pub account_type: AccountType,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct VerificationCode {
    /// 4 to 8 digits.
    #[schema(pattern = r"^[0-9]{4,8}$")]
    pub code: String,
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// The vendor is sending the code.
    CodeRequested,
    /// The code was handed to the vendor; the result arrives by the vendor's webhook.
    CodeSubmitted,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21", "number": "+8613800138000", "status": "code_submitted",
    "verification": "sms", "account_type": "personal", "vendor_task_id": "17", "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:05:00Z"}))]
pub struct Registration {
    pub id: String,
    pub number: String,
    pub status: RegistrationStatus,
    pub verification: VerificationType,
    pub account_type: AccountType,
    pub vendor_task_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// National digits and calling code, as the vendor wants them back.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    #[schema(ignore)]
    pub vendor: HashMap<String, String>,
}

super::accounts_record!(Registration, OwnedKind::Registration, "registration");

fn registration_request(body: &NewRegistration) -> Result<RegistrationRequest, ApiError> {
    let area = body.area_code.trim().trim_start_matches('+');
    if area.is_empty() || area.len() > 4 || !area.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field(
            "area_code",
            "invalid_area_code",
            "a calling code such as +86",
        ));
    }
    let country = body.country_code.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::field(
            "country_code",
            "invalid_country_code",
            "an ISO 3166 region such as CN",
        ));
    }
    let national = body.phone.trim();
    if national.is_empty() || national.len() > 15 || !national.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field(
            "phone",
            "invalid_number",
            "the national number, digits only",
        ));
    }
    let number = domain::normalize(&format!("+{area}{national}"), None).map_err(|_| {
        ApiError::field(
            "phone",
            "invalid_number",
            "not a valid number for this area code",
        )
    })?;
    if number.region() != Some(country.as_str()) {
        return Err(ApiError::field(
            "country_code",
            "region_mismatch",
            "the number does not belong to this country",
        ));
    }
    Ok(RegistrationRequest {
        national_digits: national.to_owned(),
        area_code: format!("+{area}"),
        country_code: country,
        verification: body.verification,
        account_type: body.account_type,
    })
}

/// Registers a new number: the vendor sends a verification code to it. The number belongs to
/// the calling tenant from now on.
#[utoipa::path(
    tag = "registrations",
    security(("bearer" = ["accounts:write"])),
    request_body = NewRegistration,
    responses((status = 201, description = "The code is on its way", body = Registration), WriteErrors)
)]
#[post("/v1/registrations")]
pub async fn create_registration(
    ctx: AccountsCtx<scope::AccountsWrite>,
    state: web::Data<AppState>,
    body: web::Json<NewRegistration>,
) -> Result<HttpResponse, ApiError> {
    let vendor = ctx.vendor.clone();
    let request = registration_request(&body)?;
    let digits = format!(
        "{}{}",
        request.area_code.trim_start_matches('+'),
        request.national_digits
    );
    if !claim_owner(
        &state,
        OwnedKind::Account,
        &digits,
        &ctx.auth.principal.tenant,
    )
    .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this number is held by another tenant",
        ));
    }
    let task = wscrm(&state, vendor.submit_phone(&request))
        .await?
        .map_err(ApiError::from)?;
    let now = Utc::now();
    let id = uuid::Uuid::now_v7().to_string();
    let registration = Registration {
        id: id.clone(),
        number: domain::plus_number(&digits),
        status: RegistrationStatus::CodeRequested,
        verification: request.verification,
        account_type: request.account_type,
        vendor_task_id: task,
        created_at: now,
        updated_at: now,
        vendor: HashMap::from([
            ("national".to_owned(), request.national_digits.clone()),
            ("area_code".to_owned(), request.area_code.clone()),
        ]),
    };
    claim_owner(
        &state,
        OwnedKind::Registration,
        &id,
        &ctx.auth.principal.tenant,
    )
    .await?;
    // The vendor's registration webhook names the number only: route its events to this tenant.
    crate::ownership::claim(
        &state.store,
        crate::ownership::OwnedKind::Registration,
        &digits,
        &ctx.auth.principal.tenant,
    )
    .await?;
    save(&state, OwnedKind::Registration, &id, &registration).await?;
    // The vendor's webhook names the number only: let the events capability find the id.
    state
        .store
        .set(
            &keys::RegistrationByNumber::new(&digits),
            id.as_bytes(),
            None,
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/registrations/{id}")))
        .json(public(registration)))
}

fn public(mut r: Registration) -> Registration {
    r.vendor.clear();
    r
}

/// Hands the verification code to the vendor. Allowed once per code request; otherwise 409
/// `illegal_state` without a vendor call.
#[utoipa::path(
    tag = "registrations",
    security(("bearer" = ["accounts:write"])),
    params(("id" = String, Path, description = "Registration id")),
    request_body = VerificationCode,
    responses((status = 200, description = "Submitted; the result arrives by the vendor's webhook", body = Registration), WriteErrors)
)]
#[post("/v1/registrations/{id}/verification-code")]
pub async fn submit_code(
    ctx: AccountsCtx<scope::AccountsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<VerificationCode>,
) -> Result<web::Json<Registration>, ApiError> {
    let vendor = ctx.vendor.clone();
    let code = body.code.as_str();
    if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field("code", "invalid_code", "4 to 8 digits"));
    }
    let mut r: Registration =
        crate::ownership::load(&state, &ctx.auth.principal.tenant, &id).await?;
    if r.status != RegistrationStatus::CodeRequested {
        let current = serde_json::to_value(r.status).unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::IllegalState,
            "a code can only be submitted while one is awaited",
        )
        .with_extension("current_state", current));
    }
    let national = r.vendor.get("national").cloned().unwrap_or_default();
    let area = r.vendor.get("area_code").cloned().unwrap_or_default();
    wscrm(
        &state,
        vendor.submit_verification_code(&national, &area, code),
    )
    .await?
    .map_err(ApiError::from)?;
    r.status = RegistrationStatus::CodeSubmitted;
    r.updated_at = Utc::now();
    save(&state, OwnedKind::Registration, &id, &r).await?;
    Ok(web::Json(public(r)))
}

/// A registration's status. The vendor has no status query: the result arrives by its webhook
/// (the events capability records it); until then the status is the last step taken here.
#[utoipa::path(
    tag = "registrations",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Registration id")),
    responses((status = 200, description = "The registration", body = Registration), ReadErrors)
)]
#[get("/v1/registrations/{id}")]
pub async fn get_registration(
    owned: Owned<scope::AccountsRead, Registration>,
    state: web::Data<AppState>,
) -> Result<web::Json<Registration>, ApiError> {
    Ok(web::Json(public(
        with_vendor_result(&state, owned.record).await?,
    )))
}

/// The vendor reports a registration's outcome only by webhook; the events capability keeps the
/// latest state per number, and it wins over what the gateway last recorded.
async fn with_vendor_result(
    state: &AppState,
    mut r: Registration,
) -> Result<Registration, ApiError> {
    if !matches!(
        r.status,
        RegistrationStatus::CodeRequested | RegistrationStatus::CodeSubmitted
    ) {
        return Ok(r);
    }
    let digits = r.number.trim_start_matches('+').to_owned();
    let latest = crate::events::latest_state(
        &state.store,
        crate::ownership::OwnedKind::Registration,
        &digits,
    )
    .await?;
    if let Some(latest) = latest {
        r.status = match latest.status.as_str() {
            "completed" => RegistrationStatus::Succeeded,
            "failed" => RegistrationStatus::Failed,
            _ => r.status,
        };
        r.updated_at = latest.updated_at;
    }
    Ok(r)
}
