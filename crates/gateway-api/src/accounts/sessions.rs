//! Login sessions on cloud ports (`/v1/sessions`), pairing targets, ports, contacts and profile
//! of a session, and PC scan tasks (`/v1/scan-tasks`).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use domain::{
    Contact, LoginCodes, PairCodeMode, PairTarget, PortDetail, PortType, Profile, ProviderError,
    ScanAllocation, SessionMove, SessionState,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AccountsCtx;
use super::docs::{ListErrors, ReadErrors, WriteErrors};
use super::qr::{self, Format};
use super::{claim_owner, illegal, number_digits, save, vendor, wscrm};
use crate::auth::{Auth, Principal, scope};
use crate::error::{ApiError, ErrorCode};
use crate::http::owned::Owned;
use crate::http::page::{Order, Page, PageRequest, page_by_key};
use crate::keys;
use crate::ownership::OwnedKind;
use crate::routes::Routes;
use crate::state::AppState;

pub fn configure(cfg: &mut Routes) {
    cfg.service(pairing_targets)
        .service(create_session)
        .service(get_session)
        .service(session_qr_png)
        .service(session_qr_svg)
        .service(session_qr)
        .service(pair_code)
        .service(session_online)
        .service(session_offline)
        .service(log_out)
        .service(contacts)
        .service(contact)
        .service(profile)
        .service(ports)
        .service(create_scan_task)
        .service(get_scan_task)
        .service(scan_task_qr_png)
        .service(scan_task_qr_svg)
        .service(scan_task_qr);
}

/// A login session: one cloud port reserved for one WhatsApp login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "5f1c8a0e9b7d4c3aa2e6f0b1c2d3e4f5", "port_type": "pc", "target": null, "state": "online",
    "number": "+8613800138000", "agent": "agent01", "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:06:00Z"}))]
pub struct Session {
    /// The vendor's session id.
    pub id: String,
    pub port_type: PortType,
    /// Pairing target of a cloud PC session.
    pub target: Option<String>,
    pub state: SessionState,
    /// The number logged in, once known.
    pub number: Option<String>,
    /// The agent the account is bound to, once known.
    pub agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// SOCKS5 proxy for the port (`host:port[:user:pass]`); never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub proxy: Option<String>,
}

impl Session {
    fn public(mut self) -> Self {
        self.proxy = None;
        self
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"port_type": "pc"}))]
pub struct NewSession {
    pub port_type: PortType,
    /// Pairing target id (from `GET /v1/pairing-targets`); required for `cloud_pc`.
    pub target: Option<String>,
    /// SOCKS5 proxy for the port: `host:port` or `host:port:user:pass` (a `socks5://` prefix is
    /// accepted and dropped).
    pub proxy: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"number": "+8613800138000", "mode": "easy"}))]
pub struct PairCodeRequest {
    /// The number that will type the code.
    pub number: String,
    /// `native` (WhatsApp's own), `easy` (`PPPP-1111`) or `eights` (`88888888`, default).
    #[serde(default)]
    pub mode: PairCodeMode,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"qr_code": "2@AbCdEf...,1", "pair_code": "PPPP-1111"}))]
pub struct Codes {
    /// The QR payload (render it as a QR code, or use the `.png`/`.svg` routes).
    pub qr_code: String,
    pub pair_code: Option<String>,
}

impl From<LoginCodes> for Codes {
    fn from(c: LoginCodes) -> Self {
        Self {
            qr_code: c.qr_code,
            pair_code: c.pair_code,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"used": 3, "max": 20, "ports": [{"id": "8639164839053938688", "number": "+8613800138000", "status": "online", "created_at": "2025-01-02T03:04:05Z"}]}))]
pub struct Ports {
    /// Ports held by the vendor account (all tenants sharing the credentials).
    pub used: u64,
    pub max: u64,
    /// Ports in use by this tenant's numbers.
    pub ports: Vec<PortDetail>,
}

super::accounts_record!(Session, OwnedKind::Session, "session");
super::accounts_record!(ScanTask, OwnedKind::ScanTask, "scan task");

async fn load_session(state: &AppState, p: &Principal, id: &str) -> Result<Session, ApiError> {
    crate::ownership::load(state, &p.tenant, id).await
}

/// Records a session the vendor no longer knows, then maps the error.
async fn session_failed(state: &AppState, mut s: Session, e: ProviderError) -> ApiError {
    if e.kind == domain::ProviderErrorKind::PortReleased {
        s.state = SessionState::Released;
        s.updated_at = Utc::now();
        let _ = save(state, OwnedKind::Session, &s.id.clone(), &s).await;
    }
    ApiError::from(e)
}

async fn set_state(
    state: &AppState,
    mut s: Session,
    next: SessionState,
) -> Result<Session, ApiError> {
    s.state = next;
    s.updated_at = Utc::now();
    save(state, OwnedKind::Session, &s.id.clone(), &s).await?;
    Ok(s)
}

/// The proxy as document 001's `ipConfig` takes it: `host:port` or `host:port:user:pass`. A
/// `socks5://` prefix is accepted from callers (the only kind the vendor supports) and dropped.
fn check_proxy(proxy: &str) -> Result<String, ApiError> {
    let proxy = proxy.trim();
    let rest = match proxy.get(..9) {
        Some(scheme) if scheme.eq_ignore_ascii_case("socks5://") => &proxy[9..],
        _ => proxy,
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let port_ok = parts.get(1).is_some_and(|p| p.parse::<u16>().is_ok());
    let filled = parts.iter().all(|p| !p.is_empty());
    if (parts.len() == 2 || parts.len() == 4) && filled && port_ok {
        Ok(rest.to_owned())
    } else {
        Err(ApiError::field(
            "proxy",
            "invalid_proxy",
            "a SOCKS5 proxy as host:port or host:port:user:pass",
        ))
    }
}

/// A pairing target id as `GET /v1/pairing-targets` lists it; the vendor takes it as an int.
fn pairing_target(target: &str) -> Result<i64, ApiError> {
    target
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|t| *t > 0)
        .ok_or_else(|| {
            ApiError::field(
                "target",
                "invalid_pairing_target",
                "a pairing target id from GET /v1/pairing-targets, e.g. \"10085\"",
            )
        })
}

/// Pairing targets a cloud PC session can be created for, by id. The vendor lists them whole;
/// the gateway pages them.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["accounts:read"])),
    params(PageRequest),
    responses((status = 200, description = "A page of pairing targets", body = Page<PairTarget>,
        example = json!({"items": [{"id": "1001", "name": "Shenzhen team", "created_at": "2025-01-02T03:04:05Z"}], "next_cursor": null})),
        ListErrors)
)]
#[get("/v1/pairing-targets")]
pub async fn pairing_targets(
    ctx: AccountsCtx<scope::AccountsRead>,
    state: web::Data<AppState>,
    page: PageRequest,
) -> Result<web::Json<Page<PairTarget>>, ApiError> {
    let targets = wscrm(&state, ctx.vendor.pair_targets())
        .await?
        .map_err(ApiError::from)?;
    Ok(web::Json(page_by_key(
        targets,
        |t: &PairTarget| t.id.clone(),
        Order::Ascending,
        &page,
        "pairing-targets",
    )?))
}

/// Reserves a cloud port (PC, or cloud PC with a pairing target) for a new login. The port
/// counts against the paid quota until the session is logged out or the vendor releases it
/// (unused ports after 10 minutes).
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    request_body = NewSession,
    responses((status = 201, description = "Port reserved", body = Session), WriteErrors)
)]
#[post("/v1/sessions")]
pub async fn create_session(
    ctx: AccountsCtx<scope::SessionsWrite>,
    state: web::Data<AppState>,
    body: web::Json<NewSession>,
) -> Result<HttpResponse, ApiError> {
    let vendor = ctx.vendor.clone();
    let body = body.into_inner();
    let target = body.target.filter(|t| !t.trim().is_empty());
    if body.port_type == PortType::CloudPc && target.is_none() {
        return Err(ApiError::new(
            ErrorCode::PairingTargetRequired,
            "a cloud_pc session needs a target from GET /v1/pairing-targets",
        ));
    }
    let target_id = target.as_deref().map(pairing_target).transpose()?;
    let proxy = body.proxy.as_deref().map(check_proxy).transpose()?;
    let id = wscrm(&state, vendor.reserve_port(body.port_type, target_id))
        .await?
        .map_err(ApiError::from)?;
    claim_owner(&state, OwnedKind::Session, &id, &ctx.auth.principal.tenant).await?;
    let now = Utc::now();
    let session = Session {
        id: id.clone(),
        port_type: body.port_type,
        target,
        state: SessionState::Reserved,
        number: None,
        agent: None,
        created_at: now,
        updated_at: now,
        proxy,
    };
    save(&state, OwnedKind::Session, &id, &session).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/sessions/{id}")))
        .json(session.public()))
}

/// A session, refreshed from the vendor: whether it is logged in, with which number and agent.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "The session", body = Session), ReadErrors)
)]
#[get("/v1/sessions/{id}")]
pub async fn get_session(
    owned: Owned<scope::AccountsRead, Session>,
    state: web::Data<AppState>,
) -> Result<web::Json<Session>, ApiError> {
    let mut s = owned.record;
    if !s.state.holds_port() {
        return Ok(web::Json(s.public()));
    }
    let vendor = vendor(&state)?;
    let reports = match wscrm(&state, vendor.session_report(&s.id)).await? {
        Ok(r) => r,
        Err(e) => return Err(session_failed(&state, s, e).await),
    };
    if let Some(r) = reports.into_iter().next() {
        if r.logged_in && matches!(s.state, SessionState::Reserved | SessionState::Waiting) {
            s.state = SessionState::Online;
        } else if !r.logged_in && matches!(s.state, SessionState::Online | SessionState::Offline) {
            s.state = SessionState::LoggedOut;
        }
        if let Some(n) = r.number.filter(|n| n.len() > 1) {
            claim_owner(
                &state,
                OwnedKind::Account,
                n.trim_start_matches('+'),
                &owned.auth.principal.tenant,
            )
            .await?;
            s.number = Some(n);
        }
        s.agent = r.agent.or(s.agent);
        s.updated_at = Utc::now();
        save(&state, OwnedKind::Session, &s.id.clone(), &s).await?;
    }
    Ok(web::Json(s.public()))
}

async fn fetch_qr(state: &AppState, p: &Principal, id: &str) -> Result<String, ApiError> {
    let s = load_session(state, p, id).await?;
    let next = s.state.apply(SessionMove::FetchCode).map_err(illegal)?;
    let vendor = vendor(state)?;
    match wscrm(state, vendor.session_qr_code(&s.id, s.proxy.as_deref())).await? {
        Ok(code) => {
            set_state(state, s, next).await?;
            Ok(code)
        }
        Err(e) => Err(session_failed(state, s, e).await),
    }
}

/// A fresh QR code for the session (each call rotates it). Refused with 409 while the session is
/// logged in.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "The QR payload", body = Codes), ReadErrors)
)]
#[get("/v1/sessions/{id}/qr-code")]
pub async fn session_qr(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<Codes>, ApiError> {
    let qr_code = fetch_qr(&state, &auth.principal, &id).await?;
    Ok(web::Json(Codes {
        qr_code,
        pair_code: None,
    }))
}

/// The session's QR code as a PNG image, to scan with WhatsApp ("Linked devices").
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "PNG image", content_type = "image/png", body = super::qr::PngImage), ReadErrors)
)]
#[get("/v1/sessions/{id}/qr-code.png")]
pub async fn session_qr_png(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    qr::respond(&fetch_qr(&state, &auth.principal, &id).await?, Format::Png)
}

/// The session's QR code as an SVG image.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), ReadErrors)
)]
#[get("/v1/sessions/{id}/qr-code.svg")]
pub async fn session_qr_svg(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    qr::respond(&fetch_qr(&state, &auth.principal, &id).await?, Format::Svg)
}

/// A pair code for `number` (typed on the phone instead of scanning), with a QR code. Refused
/// with 409 `illegal_state` while the session is logged in, without a vendor call.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    request_body = PairCodeRequest,
    responses((status = 200, description = "The codes", body = Codes), WriteErrors)
)]
#[post("/v1/sessions/{id}/pair-code")]
pub async fn pair_code(
    owned: Owned<scope::SessionsWrite, Session>,
    state: web::Data<AppState>,
    body: web::Json<PairCodeRequest>,
) -> Result<web::Json<Codes>, ApiError> {
    let s = owned.record;
    let digits = number_digits("number", &body.number)?;
    let next = s.state.apply(SessionMove::FetchCode).map_err(illegal)?;
    let vendor = vendor(&state)?;
    match wscrm(
        &state,
        vendor.session_pair_code(&s.id, &digits, s.proxy.as_deref(), body.mode),
    )
    .await?
    {
        Ok(codes) => {
            set_state(&state, s, next).await?;
            Ok(web::Json(codes.into()))
        }
        Err(e) => Err(session_failed(&state, s, e).await),
    }
}

async fn session_move(
    state: &AppState,
    p: &Principal,
    id: &str,
    mv: SessionMove,
) -> Result<Session, ApiError> {
    let s = load_session(state, p, id).await?;
    let next = s.state.apply(mv).map_err(illegal)?;
    let vendor = vendor(state)?;
    let result = match mv {
        SessionMove::BringOnline => {
            wscrm(state, vendor.session_online(&s.id, s.proxy.as_deref())).await?
        }
        SessionMove::TakeOffline => wscrm(state, vendor.session_offline(&s.id)).await?,
        _ => wscrm(state, vendor.session_log_out(&s.id)).await?,
    };
    match result {
        Ok(()) => set_state(state, s, next).await,
        Err(e) => Err(session_failed(state, s, e).await),
    }
}

/// Brings a logged-in session that was taken offline back online.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "Online", body = Session), WriteErrors)
)]
#[post("/v1/sessions/{id}/online")]
pub async fn session_online(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<Session>, ApiError> {
    let s = session_move(&state, &auth.principal, &id, SessionMove::BringOnline).await?;
    Ok(web::Json(s.public()))
}

/// Takes a logged-in session offline, keeping the login and the port.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "Offline", body = Session), WriteErrors)
)]
#[post("/v1/sessions/{id}/offline")]
pub async fn session_offline(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<Session>, ApiError> {
    let s = session_move(&state, &auth.principal, &id, SessionMove::TakeOffline).await?;
    Ok(web::Json(s.public()))
}

/// Logs the session out and releases its cloud port.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "Logged out", body = Session), WriteErrors)
)]
#[delete("/v1/sessions/{id}")]
pub async fn log_out(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<Session>, ApiError> {
    let s = session_move(&state, &auth.principal, &id, SessionMove::LogOut).await?;
    Ok(web::Json(s.public()))
}

/// Risk control: at most `risk_reads_per_window` contact/profile reads per session per window.
async fn risk_guard(state: &AppState, s: &Session) -> Result<(), ApiError> {
    s.state
        .apply(SessionMove::ReadAddressBook)
        .map_err(illegal)?;
    let cfg = &state.config.accounts;
    let window_ms = i64::try_from(cfg.risk_window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let now = super::now_ms();
    let slot = now / window_ms;
    let count = state
        .store
        .incr(
            &keys::SessionRisk::new(&s.id, slot),
            1,
            Some(cfg.risk_window),
        )
        .await?;
    if count > i64::from(cfg.risk_reads_per_window) {
        let wait = u64::try_from((slot + 1) * window_ms - now).unwrap_or(1000) / 1000;
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "contact and profile reads may trigger the vendor's risk control; this session's limit is used up",
        )
        .with_retry_after(wait.max(1)));
    }
    Ok(())
}

/// The session's address book, by number. Risk-controlled at the vendor: rate-limited per
/// session (`accounts.risk_reads_per_window`), and only while the session is online. The vendor
/// lists it whole, so the gateway pages it, and every page is one read: ask for large pages.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Session id"), PageRequest),
    responses((status = 200, description = "A page of contacts", body = Page<Contact>,
        example = json!({"items": [{"number": "+8613900139000", "push_name": "Li", "is_friend": true, "first_name": "Lei", "full_name": "Li Lei"}], "next_cursor": null})),
        ReadErrors)
)]
#[get("/v1/sessions/{id}/contacts")]
pub async fn contacts(
    owned: Owned<scope::AccountsRead, Session>,
    state: web::Data<AppState>,
    page: PageRequest,
) -> Result<web::Json<Page<Contact>>, ApiError> {
    let s = owned.record;
    let list = format!("contacts/{}", s.id);
    // A bad cursor is refused before it costs a risk-controlled read.
    page.position(&list)?;
    risk_guard(&state, &s).await?;
    match wscrm(&state, vendor(&state)?.contacts(&s.id)).await? {
        Ok(contacts) => Ok(web::Json(page_by_key(
            contacts,
            |c: &Contact| c.number.clone(),
            Order::Ascending,
            &page,
            &list,
        )?)),
        Err(e) => Err(session_failed(&state, s, e).await),
    }
}

/// One contact of the session. Risk-controlled like the address book.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Session id"), ("number" = String, Path, description = "The contact's international number")),
    responses((status = 200, description = "The contact", body = Contact), ReadErrors)
)]
#[get("/v1/sessions/{id}/contacts/{number}")]
pub async fn contact(
    auth: Auth<scope::AccountsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Contact>, ApiError> {
    let (id, number) = path.into_inner();
    let s = load_session(&state, &auth.principal, &id).await?;
    let digits = number_digits("number", &number)?;
    risk_guard(&state, &s).await?;
    match wscrm(&state, vendor(&state)?.contact(&s.id, &digits)).await? {
        Ok(c) => Ok(web::Json(c)),
        Err(e) => Err(session_failed(&state, s, e).await),
    }
}

/// The logged-in account's own profile. Risk-controlled like the address book.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "The profile", body = Profile), ReadErrors)
)]
#[get("/v1/sessions/{id}/profile")]
pub async fn profile(
    owned: Owned<scope::AccountsRead, Session>,
    state: web::Data<AppState>,
) -> Result<web::Json<Profile>, ApiError> {
    let s = owned.record;
    risk_guard(&state, &s).await?;
    match wscrm(&state, vendor(&state)?.profile(&s.id)).await? {
        Ok(p) => Ok(web::Json(p)),
        Err(e) => Err(session_failed(&state, s, e).await),
    }
}

/// Cloud-port quota (used/max, for the whole vendor account) and the ports this tenant's
/// numbers hold.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = ["accounts:read"])),
    responses((status = 200, description = "Quota and ports", body = Ports), ListErrors)
)]
#[get("/v1/ports")]
pub async fn ports(
    ctx: AccountsCtx<scope::AccountsRead>,
    state: web::Data<AppState>,
) -> Result<web::Json<Ports>, ApiError> {
    let vendor = ctx.vendor.clone();
    let (quota, details) = wscrm(&state, async {
        futures_util::try_join!(vendor.port_quota(), vendor.port_details())
    })
    .await?
    .map_err(ApiError::from)?;
    let keys: Vec<String> = details
        .iter()
        .map(|p| {
            keys::Owner::of(
                OwnedKind::Account,
                p.number.as_deref().unwrap_or("").trim_start_matches('+'),
            )
            .into()
        })
        .collect();
    let owners = state.store.mget(&keys).await?;
    let tenant = ctx.auth.principal.tenant.as_bytes();
    let ports = details
        .into_iter()
        .zip(owners)
        .filter(|(_, o)| o.as_deref() == Some(tenant))
        .map(|(p, _)| p)
        .collect();
    Ok(web::Json(Ports {
        used: quota.used,
        max: quota.max,
        ports,
    }))
}

// ---- scan tasks ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"allocation": "specified", "agent_id": 42}))]
pub struct NewScanTask {
    /// `random`: any online agent gets the account; `specified`: `agent_id` does.
    pub allocation: ScanAllocation,
    #[serde(default, deserialize_with = "integral")]
    pub agent_id: Option<i64>,
}

/// JSON Schema counts `42.0` as an integer, so the body is read the same way: a number with no
/// fractional part, within `i64`.
fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let from_float = || {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (i64::MIN as f64..i64::MAX as f64).contains(f))
            .map(|f| f as i64)
    };
    number
        .as_i64()
        .or_else(from_float)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("`agent_id`: {number} is not an integer")))
}

/// A PC scan task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "9a8b7c6d5e4f30211223344556677889", "allocation": "specified", "agent_id": 42,
    "state": "waiting", "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:09Z"}))]
pub struct ScanTask {
    pub id: String,
    pub allocation: ScanAllocation,
    pub agent_id: Option<i64>,
    /// `created`, then `waiting` once a QR code was fetched; later states arrive by the vendor's
    /// webhook (events capability).
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Creates a PC scan task (takes a cloud port from the quota).
#[utoipa::path(
    tag = "scan tasks",
    security(("bearer" = ["sessions:write"])),
    request_body = NewScanTask,
    responses((status = 201, description = "Created", body = ScanTask), WriteErrors)
)]
#[post("/v1/scan-tasks")]
pub async fn create_scan_task(
    ctx: AccountsCtx<scope::SessionsWrite>,
    state: web::Data<AppState>,
    body: web::Json<NewScanTask>,
) -> Result<HttpResponse, ApiError> {
    let vendor = ctx.vendor.clone();
    match (body.allocation, body.agent_id) {
        (ScanAllocation::Specified, None) => {
            return Err(ApiError::field(
                "agent_id",
                "required",
                "required for `specified`",
            ));
        }
        (_, Some(a)) if a <= 0 => {
            return Err(ApiError::field("agent_id", "range", "a positive agent id"));
        }
        _ => {}
    }
    let id = wscrm(
        &state,
        vendor.create_scan_task(body.allocation, body.agent_id),
    )
    .await?
    .map_err(ApiError::from)?;
    claim_owner(&state, OwnedKind::ScanTask, &id, &ctx.auth.principal.tenant).await?;
    let now = Utc::now();
    let task = ScanTask {
        id: id.clone(),
        allocation: body.allocation,
        agent_id: body.agent_id,
        state: "created".into(),
        created_at: now,
        updated_at: now,
    };
    save(&state, OwnedKind::ScanTask, &id, &task).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/scan-tasks/{id}")))
        .json(task))
}

/// A scan task as last recorded (progress beyond `waiting` arrives by the vendor's webhook).
#[utoipa::path(
    tag = "scan tasks",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Scan task id")),
    responses((status = 200, description = "The task", body = ScanTask), ReadErrors)
)]
#[get("/v1/scan-tasks/{id}")]
pub async fn get_scan_task(
    owned: Owned<scope::AccountsRead, ScanTask>,
) -> Result<web::Json<ScanTask>, ApiError> {
    Ok(web::Json(owned.record))
}

async fn fetch_task_qr(state: &AppState, p: &Principal, id: &str) -> Result<String, ApiError> {
    let mut task: ScanTask = crate::ownership::load(state, &p.tenant, id).await?;
    let code = wscrm(state, vendor(state)?.scan_task_qr_code(&task.id))
        .await?
        .map_err(ApiError::from)?;
    if task.state == "created" {
        task.state = "waiting".into();
        task.updated_at = Utc::now();
        save(state, OwnedKind::ScanTask, id, &task).await?;
    }
    Ok(code)
}

/// The scan task's QR code payload.
#[utoipa::path(
    tag = "scan tasks",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Scan task id")),
    responses((status = 200, description = "The QR payload", body = Codes), ReadErrors)
)]
#[get("/v1/scan-tasks/{id}/qr-code")]
pub async fn scan_task_qr(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<Codes>, ApiError> {
    Ok(web::Json(Codes {
        qr_code: fetch_task_qr(&state, &auth.principal, &id).await?,
        pair_code: None,
    }))
}

/// The scan task's QR code as a PNG image.
#[utoipa::path(
    tag = "scan tasks",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Scan task id")),
    responses((status = 200, description = "PNG image", content_type = "image/png", body = super::qr::PngImage), ReadErrors)
)]
#[get("/v1/scan-tasks/{id}/qr-code.png")]
pub async fn scan_task_qr_png(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    qr::respond(
        &fetch_task_qr(&state, &auth.principal, &id).await?,
        Format::Png,
    )
}

/// The scan task's QR code as an SVG image.
#[utoipa::path(
    tag = "scan tasks",
    security(("bearer" = ["sessions:write"])),
    params(("id" = String, Path, description = "Scan task id")),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml", body = String), ReadErrors)
)]
#[get("/v1/scan-tasks/{id}/qr-code.svg")]
pub async fn scan_task_qr_svg(
    auth: Auth<scope::SessionsWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    qr::respond(
        &fetch_task_qr(&state, &auth.principal, &id).await?,
        Format::Svg,
    )
}
