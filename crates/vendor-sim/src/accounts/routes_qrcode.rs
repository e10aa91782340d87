//! Login sessions on cloud ports: pairing targets, port pre-allocation, QR code / pair code,
//! session info, online / offline / logout, and the port quota and details.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::AccountsSim;
use super::clock::vendor_time;
use super::fake::{self, PairMode};
use super::lifecycle::{DETAIL_ACCOUNT_CLOSED, DETAIL_CLIENT_CLOSED, REASON_LOGGED_OUT, Tx};
use super::state::{
    ONLINE_OFFLINE, PORT_DISCONNECTED, PORT_ONLINE, STATUS_BANNED, Session, SessionState, State,
};
use super::tables;
use super::wire::{
    self, ApiError, ApiResult, CODE_NO_PAIR_TARGET, CODE_QUOTA, CODE_UNSUPPORTED_TYPE, Fields,
    MSG_UPPER,
};
use crate::contract::Field;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/group-dispatch-api/qrCode/selectPairTarget",
        web::get().to(select_pair_target),
    )
    .route(
        "/group-dispatch-api/qrCode/preGenerate",
        web::post().to(pre_generate),
    )
    .route(
        "/group-dispatch-api/qrCode/getQrCode",
        web::post().to(get_qr_code),
    )
    .route(
        "/group-dispatch-api/qrCode/getQrCodeV2",
        web::post().to(get_qr_code_v2),
    )
    .route(
        "/group-dispatch-api/qrCode/getQrCodeInfo",
        web::post().to(get_qr_code_info),
    )
    .route("/group-dispatch-api/qrCode/onLine", web::post().to(on_line))
    .route(
        "/group-dispatch-api/qrCode/offline",
        web::post().to(offline),
    )
    .route("/group-dispatch-api/qrCode/logOut", web::post().to(log_out))
    .route(
        "/group-dispatch-api/qrCode/selectCloudPort",
        web::get().to(select_cloud_port),
    )
    .route(
        "/group-dispatch-api/qrCode/selectCloudPortDetail",
        web::get().to(select_cloud_port_detail),
    );
}

/// A session that still holds its port, else QR error 1002.
pub fn live_session<'a>(st: &'a State, id: &str) -> Result<&'a Session, ApiError> {
    st.sessions
        .get(id)
        .filter(|s| s.holds_port())
        .ok_or_else(ApiError::port_gone)
}

/// A live session that is logged in (its account may be online or offline).
pub fn logged_in_session<'a>(st: &'a State, id: &str) -> Result<&'a Session, ApiError> {
    let s = live_session(st, id)?;
    if s.state != SessionState::LoggedIn {
        return Err(ApiError::conflict(
            "session is not logged in: scan the QR code first",
        ));
    }
    Ok(s)
}

async fn select_pair_target(sim: web::Data<AccountsSim>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = wire::checked_query(req.query_string(), &[]) {
        return wire::fail(&e);
    }
    wire::ok(json!(fake::pair_targets(sim.config.seed)), MSG_UPPER)
}

async fn pre_generate(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(pre_generate_inner(&sim, &body), MSG_UPPER)
}

/// `type` 1 (PC) or 2 (cloud PC), else 1003; cloud PC needs a pairing target, and a target must be
/// one of `selectPairTarget`'s, else 1004; no free port, 1001.
fn pre_generate_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::PRE_GENERATE)?;
    let f = Fields::new(&map);
    let kind = f.int_req(&["type"])?;
    if !matches!(kind, 1 | 2) {
        return Err(ApiError::new(CODE_UNSUPPORTED_TYPE, "Unsupported type"));
    }
    let target = f.int_opt(&["target"])?;
    let known = fake::pair_targets(sim.config.seed);
    match target {
        None if kind == 2 => {
            return Err(ApiError::new(CODE_NO_PAIR_TARGET, "Pairing target not set"));
        }
        Some(t) if !known.iter().any(|k| k.target_tenant_id == t) => {
            return Err(ApiError::new(CODE_NO_PAIR_TARGET, "Pairing target not set"));
        }
        _ => {}
    }
    sim.tx(|tx| {
        let seed = tx.seed();
        let port = tx.st.take_port(seed, tx.now).ok_or_else(|| {
            ApiError::new(CODE_QUOTA, "Current user cloud port quota is insufficient")
        })?;
        let id = tx.st.hex_id(seed, "session");
        if let Some(p) = tx.st.ports.get_mut(&port) {
            p.session_id = Some(id.clone());
        }
        tx.st.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                kind,
                target,
                port_id: Some(port),
                created_at: tx.now,
                state: SessionState::Reserved,
                whatsapp: None,
                expected_phone: None,
                user_name: fake::agent_name(seed, &id),
                ip_config: None,
                codes_issued: 0,
                last_qr: None,
                last_pair_code: None,
                fail_code: None,
            },
        );
        Ok(json!(id))
    })
}

/// A session that can hand out a code: live and not logged in yet.
fn waiting_session(tx: &Tx<'_>, id: &str) -> Result<(), ApiError> {
    let s = live_session(tx.st, id)?;
    if s.state == SessionState::LoggedIn {
        return Err(ApiError::conflict("session is already logged in"));
    }
    Ok(())
}

/// The next QR payload of a session (each fetch gives a fresh one, as WhatsApp rotates them).
fn issue_qr(tx: &mut Tx<'_>, id: &str, ip: Option<String>) -> String {
    let seed = tx.seed();
    let Some(s) = tx.st.sessions.get_mut(id) else {
        return String::new();
    };
    let qr = fake::qr_payload(seed, &format!("{id}#{}", s.codes_issued));
    s.codes_issued += 1;
    s.state = SessionState::Waiting;
    s.last_qr = Some(qr.clone());
    if ip.is_some() {
        s.ip_config = ip;
    }
    qr
}

async fn get_qr_code(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    let sim = sim.into_inner();
    wire::reply(get_qr_code_inner(&sim, &body), MSG_UPPER)
}

/// Without `id`, the most recently pre-generated session that is still waiting is used.
fn get_qr_code_inner(sim: &Arc<AccountsSim>, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::GET_QR_CODE)?;
    let f = Fields::new(&map);
    let id = f.text_opt(&["id"])?.filter(|s| !s.is_empty());
    let ip = wire::ip_config(f.text_opt(&["ipConfig"])?)?;
    let (id, qr) = sim.tx(|tx| {
        let id = match id {
            Some(id) => id,
            None => tx
                .st
                .sessions
                .values()
                .filter(|s| {
                    s.holds_port()
                        && matches!(s.state, SessionState::Reserved | SessionState::Waiting)
                })
                .max_by_key(|s| s.created_at)
                .map(|s| s.id.clone())
                .ok_or_else(ApiError::port_gone)?,
        };
        waiting_session(tx, &id)?;
        let qr = issue_qr(tx, &id, ip);
        Ok::<_, ApiError>((id, qr))
    })?;
    sim.schedule_auto_scan(id);
    Ok(json!(qr))
}

async fn get_qr_code_v2(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    let sim = sim.into_inner();
    wire::reply(get_qr_code_v2_inner(&sim, &body), MSG_UPPER)
}

/// QR code and pair code for `phone`; `isEasy` absent or `b` gives `88888888`, `y` gives
/// `PPPP-1111`, `n` WhatsApp's own code (`ABCD_EFGH`, as the example prints it).
fn get_qr_code_v2_inner(sim: &Arc<AccountsSim>, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::GET_QR_CODE_V2)?;
    let f = Fields::new(&map);
    let id = f.text_req(&["id"])?;
    let phone = wire::phone(&f.text_req(&["phone"])?, "phone")?;
    let ip = wire::ip_config(f.text_opt(&["ipConfig"])?)?;
    let mode = f.text_opt(&["isEasy"])?;
    let mode = PairMode::parse(mode.as_deref())
        .ok_or_else(|| ApiError::bad("isEasy must be n (native), y (easy) or b (eight 8s)"))?;
    let data = sim.tx(|tx| {
        waiting_session(tx, &id)?;
        if tx
            .st
            .accounts
            .get(&phone)
            .is_some_and(|a| a.status == STATUS_BANNED)
        {
            return Err(ApiError::conflict(format!("account {phone} is banned")));
        }
        let qr = issue_qr(tx, &id, ip);
        let seed = tx.seed();
        let Some(s) = tx.st.sessions.get_mut(&id) else {
            return Err(ApiError::port_gone());
        };
        let code = fake::pair_code(seed, &format!("{id}#{phone}#{}", s.codes_issued), mode);
        s.expected_phone = Some(phone.clone());
        s.last_pair_code = Some(code.clone());
        Ok(json!({"qrcode": qr, "pairCode": code}))
    })?;
    sim.schedule_auto_scan(id);
    Ok(data)
}

async fn get_qr_code_info(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(get_qr_code_info_inner(&sim, &body), MSG_UPPER)
}

/// Sessions by `id`, by number (`whatsapp`), or all. The answer's number field is
/// `whatsApp`, as in the document's example.
fn get_qr_code_info_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::GET_QR_CODE_INFO)?;
    let f = Fields::new(&map);
    let id = f.text_opt(&["id"])?.filter(|s| !s.is_empty());
    let phone = f
        .text_opt(&["whatsapp"])?
        .filter(|s| !s.is_empty())
        .map(|p| wire::phone(&p, "whatsapp"))
        .transpose()?;
    sim.tx(|tx| {
        if let Some(id) = &id
            && !tx.st.sessions.contains_key(id)
        {
            return Err(ApiError::port_gone());
        }
        let mut sessions: Vec<&Session> = tx
            .st
            .sessions
            .values()
            .filter(|s| id.as_ref().is_none_or(|i| &s.id == i))
            .filter(|s| phone.is_none() || s.whatsapp == phone)
            .collect();
        sessions.sort_by_key(|s| s.created_at);
        let rows: Vec<Value> = sessions
            .iter()
            .map(|s| {
                json!({
                    "status": i64::from(s.state == SessionState::LoggedIn),
                    "userName": s.user_name,
                    "whatsApp": s.whatsapp.clone().unwrap_or_default(),
                })
            })
            .collect();
        Ok(Value::Array(rows))
    })
}

fn read_id(body: &[u8], table: &[Field]) -> Result<(String, Option<String>), ApiError> {
    let map = wire::checked(body, table)?;
    let f = Fields::new(&map);
    let id = f.text_req(&["id"])?;
    let ip = wire::ip_config(f.text_opt(&["ipConfig"])?)?;
    Ok((id, ip))
}

async fn on_line(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    let sim = sim.into_inner();
    wire::reply(on_line_inner(&sim, &body), MSG_UPPER)
}

/// Brings a logged-in session's account back online (logging in, then online after
/// `login_after`). Never logged in: 409; banned: 409; already online: nothing to do.
fn on_line_inner(sim: &Arc<AccountsSim>, body: &[u8]) -> ApiResult {
    let (id, ip) = read_id(body, tables::ON_LINE)?;
    let start = sim.tx(|tx| {
        let phone = logged_in_session(tx.st, &id)?
            .whatsapp
            .clone()
            .unwrap_or_default();
        let acc = tx
            .st
            .accounts
            .get(&phone)
            .ok_or_else(|| ApiError::conflict("the session's account was recycled"))?;
        if acc.status == STATUS_BANNED {
            return Err(ApiError::conflict(format!("account {phone} is banned")));
        }
        if ip.is_some()
            && let Some(s) = tx.st.sessions.get_mut(&id)
        {
            s.ip_config = ip;
        }
        if acc.online_status != ONLINE_OFFLINE {
            return Ok(None);
        }
        tx.set_logging_in(&phone);
        Ok(Some(phone))
    })?;
    if let Some(phone) = start {
        sim.schedule_login(phone);
    }
    Ok(json!([]))
}

async fn offline(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(offline_inner(&sim, &body), MSG_UPPER)
}

/// Takes the account offline but keeps the port (and the login) for a later `onLine`.
fn offline_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let (id, _) = read_id(body, tables::ID_ONLY)?;
    sim.tx(|tx| {
        let phone = logged_in_session(tx.st, &id)?
            .whatsapp
            .clone()
            .unwrap_or_default();
        if tx
            .st
            .accounts
            .get(&phone)
            .is_some_and(|a| a.online_status != ONLINE_OFFLINE)
        {
            tx.set_online(&phone, ONLINE_OFFLINE, Some(DETAIL_CLIENT_CLOSED), "");
        }
        Ok(json!([]))
    })
}

async fn log_out(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(log_out_inner(&sim, &body), MSG_UPPER)
}

/// Ends the session and releases its port; a logged-in account goes offline with reason 1004.
fn log_out_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let (id, _) = read_id(body, tables::ID_ONLY)?;
    sim.tx(|tx| {
        let s = live_session(tx.st, &id)?;
        let phone = s
            .whatsapp
            .clone()
            .filter(|_| s.state == SessionState::LoggedIn);
        if let Some(phone) = phone {
            tx.set_online(
                &phone,
                ONLINE_OFFLINE,
                Some(DETAIL_ACCOUNT_CLOSED),
                REASON_LOGGED_OUT,
            );
            if let Some(acc) = tx.st.accounts.get_mut(&phone) {
                acc.session_id = None;
            }
        }
        tx.st.end_session(&id, SessionState::LoggedOut);
        Ok(json!([]))
    })
}

async fn select_cloud_port(sim: web::Data<AccountsSim>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = wire::checked_query(req.query_string(), &[]) {
        return wire::fail(&e);
    }
    let data = sim.tx(|tx| json!({"currentPort": tx.st.used_ports(), "maxPort": tx.st.max_ports}));
    wire::ok(data, MSG_UPPER)
}

async fn select_cloud_port_detail(sim: web::Data<AccountsSim>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = wire::checked_query(req.query_string(), &[]) {
        return wire::fail(&e);
    }
    let offset = sim.config.vendor_utc_offset_secs;
    let numeric = sim.config.example_types;
    let rows = sim.tx(|tx| {
        let mut ports: Vec<_> = tx.st.ports.values().collect();
        ports.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        ports
            .into_iter()
            .map(|p| {
                let phone = tx.st.port_phone(p);
                let status = phone.as_ref().map(|w| {
                    if tx.st.accounts.get(w).is_some_and(|a| a.is_online()) {
                        PORT_ONLINE
                    } else {
                        PORT_DISCONNECTED
                    }
                });
                // The table says String; the example prints the raw 64-bit number.
                let id = if numeric {
                    json!(p.id)
                } else {
                    json!(p.id.to_string())
                };
                json!({
                    "phone": phone,
                    "createTime": vendor_time(p.created_at, offset),
                    "id": id,
                    "status": status,
                })
            })
            .collect::<Vec<_>>()
    });
    wire::ok(Value::Array(rows), MSG_UPPER)
}
