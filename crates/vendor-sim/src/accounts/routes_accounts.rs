//! Customer-service accounts: import, list with status, bring online with key material, recycle.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AccountsSim;
use super::lifecycle::DETAIL_ACCOUNT_CLOSED;
use super::state::{Account, ONLINE_OFFLINE, STATUS_BANNED, SessionState};
use super::tables;
use super::wire::{self, ApiError, ApiResult, Fields, MSG_LOWER};

/// Accounts per batch; the document sets no limit.
const MAX_BATCH: usize = 1000;
const KEY_FIELDS: [&str; 4] = ["publicKey", "privateKey", "msgPublicKey", "msgPrivateKey"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/group-dispatch-api/whatsapp/batchInsert",
        web::post().to(batch_insert),
    )
    .route(
        "/group-dispatch-api/whatsapp/queryWhatsAppStatus",
        web::get().to(query_status),
    )
    .route(
        "/group-dispatch-api/whatsapp/batchOnline",
        web::post().to(batch_online),
    )
    .route(
        "/group-dispatch-api/whatsapp/batchRecycle",
        web::post().to(batch_recycle),
    );
}

/// One account entry of `batchInsert` / `batchOnline`.
struct Entry {
    whatsapp: String,
    whatsapp_type: i64,
    name: String,
    avatar: String,
    account_id: String,
    has_keys: bool,
    override_: bool,
}

/// Reads `whatsAppList`; the blank-named number field is `whatsApp`, as the example spells it.
fn read_entries(body: &[u8], online: bool) -> Result<Vec<Entry>, ApiError> {
    let table = if online {
        tables::BATCH_ONLINE
    } else {
        tables::BATCH_INSERT
    };
    let map = wire::checked(body, table)?;
    let items = Fields::new(&map).list_req(&["whatsAppList"])?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::bad(format!(
            "whatsAppList must hold 1 to {MAX_BATCH} accounts"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, obj) in wire::objects(items, "whatsAppList")?
        .into_iter()
        .enumerate()
    {
        let ctx = format!("whatsAppList[{i}].");
        let e = read_entry(obj, &ctx, online)?;
        if !seen.insert(e.whatsapp.clone()) {
            return Err(ApiError::bad(format!(
                "{ctx}whatsApp {} appears twice",
                e.whatsapp
            )));
        }
        out.push(e);
    }
    Ok(out)
}

fn read_entry(obj: &Map<String, Value>, ctx: &str, online: bool) -> Result<Entry, ApiError> {
    let f = Fields::with_ctx(obj, ctx);
    let whatsapp = wire::phone(&f.text_req(&["whatsApp"])?, &format!("{ctx}whatsApp"))?;
    // Key fields are required by the tables but the examples send them blank: present is enough.
    let mut required: Vec<&str> = KEY_FIELDS.to_vec();
    if !online {
        required.push("accountId");
    }
    for k in required {
        if f.raw(&[k]).is_none() {
            return Err(ApiError::bad(format!("{ctx}{k} is required")));
        }
        f.text_opt(&[k])?;
    }
    let has_keys = KEY_FIELDS.iter().all(|k| {
        f.text_opt(&[k])
            .ok()
            .flatten()
            .is_some_and(|v| !v.is_empty())
    });
    let whatsapp_type = f.int_opt(&["whatsappType"])?.unwrap_or(1);
    if !matches!(whatsapp_type, 1 | 2) {
        return Err(ApiError::bad(format!(
            "{ctx}whatsappType must be 1 (personal) or 2 (business)"
        )));
    }
    let override_ = if online {
        f.bool_opt(&["override"])?
            .ok_or_else(|| ApiError::bad(format!("{ctx}override is required")))?
    } else {
        false
    };
    for k in ["nextKeyId", "registrationId", "deviceParams"] {
        f.text_opt(&[k])?;
    }
    Ok(Entry {
        whatsapp,
        whatsapp_type,
        name: f.text_opt(&["name"])?.unwrap_or_default(),
        avatar: f.text_opt(&["avatar"])?.unwrap_or_default(),
        account_id: f.text_opt(&["accountId"])?.unwrap_or_default(),
        has_keys,
        override_,
    })
}

fn apply(acc: &mut Account, e: &Entry) {
    acc.whatsapp_type = e.whatsapp_type;
    acc.name.clone_from(&e.name);
    acc.avatar.clone_from(&e.avatar);
    acc.account_id.clone_from(&e.account_id);
    acc.has_keys = e.has_keys;
}

async fn batch_insert(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(batch_insert_inner(&sim, &body), MSG_LOWER)
}

/// Importing a number the vendor already holds is refused (409) for the whole batch: only
/// `batchOnline` has an `override` switch.
fn batch_insert_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let entries = read_entries(body, false)?;
    sim.tx(|tx| {
        let existing: Vec<&str> = entries
            .iter()
            .filter(|e| tx.st.accounts.contains_key(&e.whatsapp))
            .map(|e| e.whatsapp.as_str())
            .collect();
        if !existing.is_empty() {
            return Err(ApiError::conflict(format!(
                "accounts already imported: {}",
                existing.join(",")
            )));
        }
        for e in &entries {
            let mut acc = Account::new(&e.whatsapp, "import");
            apply(&mut acc, e);
            tx.st.accounts.insert(e.whatsapp.clone(), acc);
        }
        Ok(json!(""))
    })
}

async fn query_status(sim: web::Data<AccountsSim>, req: HttpRequest) -> HttpResponse {
    if let Err(e) = wire::checked_query(req.query_string(), &[]) {
        return wire::fail(&e);
    }
    let rows = sim.tx(|tx| {
        tx.st
            .accounts
            .values()
            .map(|a| json!({"whatsApp": a.whats_app, "status": a.status, "onlineStatus": a.online_status}))
            .collect::<Vec<_>>()
    });
    wire::ok(Value::Array(rows), MSG_LOWER)
}

async fn batch_online(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    let sim = sim.into_inner();
    wire::reply(batch_online_inner(&sim, &body), MSG_LOWER)
}

/// New numbers are created; known ones keep their data unless `override` is true. Accounts already
/// online (or logging in) are left alone unless `override` is true. A banned number refuses the
/// whole batch (409). Each account goes "logging in" now and "online" after `login_after`.
fn batch_online_inner(sim: &Arc<AccountsSim>, body: &[u8]) -> ApiResult {
    let entries = read_entries(body, true)?;
    let started = sim.tx(|tx| {
        let banned: Vec<&str> = entries
            .iter()
            .filter(|e| {
                tx.st
                    .accounts
                    .get(&e.whatsapp)
                    .is_some_and(|a| a.status == STATUS_BANNED)
            })
            .map(|e| e.whatsapp.as_str())
            .collect();
        if !banned.is_empty() {
            return Err(ApiError::conflict(format!(
                "accounts are banned: {}",
                banned.join(",")
            )));
        }
        let mut started = Vec::new();
        for e in &entries {
            let is_new = !tx.st.accounts.contains_key(&e.whatsapp);
            let acc = tx
                .st
                .accounts
                .entry(e.whatsapp.clone())
                .or_insert_with(|| Account::new(&e.whatsapp, "online"));
            if is_new || e.override_ {
                apply(acc, e);
            }
            let busy = acc.online_status != ONLINE_OFFLINE;
            if busy && !e.override_ {
                continue;
            }
            tx.set_logging_in(&e.whatsapp);
            started.push(e.whatsapp.clone());
        }
        Ok(started)
    })?;
    for w in started {
        sim.schedule_login(w);
    }
    Ok(json!(""))
}

async fn batch_recycle(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(batch_recycle_inner(&sim, &body), MSG_LOWER)
}

/// Recycled accounts are logged out (their ports released) and forgotten; unknown numbers are
/// ignored, and a missing list recycles nothing.
fn batch_recycle_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::BATCH_RECYCLE)?;
    let list = Fields::new(&map).list_opt(&["whatsAppList"])?;
    let phones = wire::phone_list(list.map(Vec::as_slice).unwrap_or_default(), "whatsAppList")?;
    sim.tx(|tx| {
        for p in phones {
            let Some(acc) = tx.st.accounts.get(&p) else {
                continue;
            };
            let session = acc.session_id.clone();
            if acc.online_status != ONLINE_OFFLINE {
                tx.set_online(&p, ONLINE_OFFLINE, Some(DETAIL_ACCOUNT_CLOSED), "");
            }
            if let Some(s) = session {
                tx.st.end_session(&s, SessionState::LoggedOut);
            }
            tx.st.accounts.remove(&p);
        }
        Ok(json!(""))
    })
}
