//! What a logged-in cloud port can read and change: address book, one contact, own profile,
//! avatar and nickname.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AccountsSim;
use super::fake::{self, Contact};
use super::lifecycle::Tx;
use super::routes_qrcode::logged_in_session;
use super::state::{Account, SessionState};
use super::tables;
use super::wire::{self, ApiError, ApiResult, Fields, MSG_UPPER};

/// WhatsApp's limit on a push name.
const MAX_NICKNAME_CHARS: usize = 25;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/group-dispatch-api/qrCode/selectContact",
        web::get().to(select_contact),
    )
    .route(
        "/group-dispatch-api/qrCode/contact/info",
        web::post().to(contact_info),
    )
    .route(
        "/group-dispatch-api/qrCode/info/profile",
        web::post().to(profile),
    )
    .route(
        "/group-dispatch-api/channelInfo/updateAvatarOrNickname",
        web::post().to(update_avatar_or_nickname),
    );
}

/// The number of a session that is logged in with its account online; reading the address book
/// or profile needs a live connection.
fn online_owner(tx: &Tx<'_>, id: &str) -> Result<String, ApiError> {
    let phone = logged_in_session(tx.st, id)?
        .whatsapp
        .clone()
        .unwrap_or_default();
    if !tx.st.accounts.get(&phone).is_some_and(Account::is_online) {
        return Err(ApiError::conflict(format!("account {phone} is not online")));
    }
    Ok(phone)
}

/// `isFriend` goes out as a JSON boolean: declared String, but that is what the vendor sends.
fn contact_json(c: &Contact) -> Value {
    json!(c)
}

#[derive(Debug, Deserialize)]
struct ContactQuery {
    id: Option<String>,
}

async fn select_contact(sim: web::Data<AccountsSim>, req: HttpRequest) -> HttpResponse {
    // Parsed by hand so that a malformed query string still gets the vendor envelope.
    if let Err(e) = wire::checked_query(req.query_string(), tables::SELECT_CONTACT_QUERY) {
        return wire::fail(&e);
    }
    match web::Query::<ContactQuery>::from_query(req.query_string()) {
        Ok(q) => wire::reply(select_contact_inner(&sim, q.into_inner().id), MSG_UPPER),
        Err(e) => wire::fail(&ApiError::bad(format!("bad query string: {e}"))),
    }
}

/// Without `id`, the oldest session whose account is online is used; none: 1002.
fn select_contact_inner(sim: &AccountsSim, id: Option<String>) -> ApiResult {
    sim.tx(|tx| {
        let id = match id.filter(|s| !s.is_empty()) {
            Some(id) => id,
            None => {
                let mut live: Vec<_> = tx
                    .st
                    .sessions
                    .values()
                    .filter(|s| s.holds_port() && s.state == SessionState::LoggedIn)
                    .filter(|s| {
                        s.whatsapp
                            .as_ref()
                            .and_then(|w| tx.st.accounts.get(w))
                            .is_some_and(Account::is_online)
                    })
                    .collect();
                live.sort_by_key(|s| s.created_at);
                live.first()
                    .map(|s| s.id.clone())
                    .ok_or_else(ApiError::port_gone)?
            }
        };
        let owner = online_owner(tx, &id)?;
        let book = fake::contacts(tx.seed(), &owner);
        Ok(Value::Array(book.iter().map(contact_json).collect()))
    })
}

async fn contact_info(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(contact_info_inner(&sim, &body), MSG_UPPER)
}

fn contact_info_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::CONTACT_INFO)?;
    let f = Fields::new(&map);
    let id = f.text_req(&["id"])?;
    let phone = wire::phone(&f.text_req(&["phone"])?, "phone")?;
    sim.tx(|tx| {
        let owner = online_owner(tx, &id)?;
        let seed = tx.seed();
        let c = fake::contacts(seed, &owner)
            .into_iter()
            .find(|c| c.whatsapp == phone)
            .unwrap_or_else(|| fake::contact(seed, &owner, &phone));
        Ok(contact_json(&c))
    })
}

async fn profile(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(profile_inner(&sim, &body), MSG_UPPER)
}

/// Invented profile data with the account's own data and `updateAvatarOrNickname` on top.
fn profile_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::ID_ONLY)?;
    let id = Fields::new(&map).text_req(&["id"])?;
    sim.tx(|tx| {
        let owner = online_owner(tx, &id)?;
        let Some(acc) = tx.st.accounts.get(&owner) else {
            return Err(ApiError::conflict("the session's account was recycled"));
        };
        // Accounts the tenant declared (import, online, registration) carry their type; for a
        // QR login the vendor learns it from WhatsApp, here from the hash.
        let declared = !matches!(acc.origin.as_str(), "qr" | "scanTask");
        let base = fake::profile(
            tx.seed(),
            &owner,
            declared.then_some(acc.whatsapp_type == 2),
        );
        let mut push_name = if acc.name.is_empty() {
            base.push_name
        } else {
            acc.name.clone()
        };
        if let Some(n) = &acc.nickname {
            push_name.clone_from(n);
        }
        let business_name = if base.is_business {
            push_name.clone()
        } else {
            String::new()
        };
        let avatar = acc.profile_avatar.clone().unwrap_or(base.avatar);
        let login = acc.logged_in_at.unwrap_or(tx.now).timestamp();
        let last_chat =
            login.saturating_sub(i64::try_from(base.last_chat_before_login).unwrap_or(0));
        Ok(json!({
            "whatsapp": owner,
            "isBusiness": base.is_business,
            "businessName": business_name,
            "avatar": avatar,
            "pushName": push_name,
            "status": base.status,
            "chatNum": base.chat_num,
            "groupNum": base.group_num,
            "lastChatTime": last_chat,
        }))
    })
}

async fn update_avatar_or_nickname(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(update_inner(&sim, &body), MSG_UPPER)
}

/// `type` 0 (physical device) or 1 (cloud port: each number logged in on a cloud port that is
/// online, 409 otherwise); every number must be a known account (404); at least one of `avatar`
/// (an http(s) URL) and `nickname`.
fn update_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::UPDATE_PROFILE)?;
    let f = Fields::new(&map);
    let kind = f.int_req(&["type"])?;
    if !matches!(kind, 0 | 1) {
        return Err(ApiError::bad(
            "type must be 0 (physical device) or 1 (cloud port)",
        ));
    }
    let phones = wire::phone_list(f.list_req(&["phoneList"])?, "phoneList")?;
    if phones.is_empty() {
        return Err(ApiError::bad("phoneList must not be empty"));
    }
    let avatar = f.text_opt(&["avatar"])?.filter(|s| !s.is_empty());
    let nickname = f.text_opt(&["nickname"])?.filter(|s| !s.is_empty());
    if avatar.is_none() && nickname.is_none() {
        return Err(ApiError::bad("avatar or nickname is required"));
    }
    if let Some(a) = &avatar
        && !(a.starts_with("https://") || a.starts_with("http://"))
    {
        return Err(ApiError::bad("avatar must be a reachable http(s) URL"));
    }
    if nickname
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NICKNAME_CHARS)
    {
        return Err(ApiError::bad(format!(
            "nickname must be at most {MAX_NICKNAME_CHARS} characters"
        )));
    }
    sim.tx(|tx| {
        let unknown: Vec<&str> = phones
            .iter()
            .filter(|p| !tx.st.accounts.contains_key(*p))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::not_found(format!(
                "unknown accounts: {}",
                unknown.join(",")
            )));
        }
        // "Cloud port must be online to execute": an online account is not enough, it must be
        // logged in on one of the tenant's cloud ports (a QR login or a scan task).
        if kind == 1 {
            let offline: Vec<&str> = phones
                .iter()
                .filter(|p| !tx.st.on_online_cloud_port(p))
                .map(String::as_str)
                .collect();
            if !offline.is_empty() {
                return Err(ApiError::conflict(format!(
                    "not online on a cloud port: {}",
                    offline.join(",")
                )));
            }
        }
        for p in &phones {
            if let Some(acc) = tx.st.accounts.get_mut(p) {
                if let Some(a) = &avatar {
                    acc.profile_avatar = Some(a.clone());
                }
                if let Some(n) = &nickname {
                    acc.nickname = Some(n.clone());
                }
            }
        }
        Ok(json!(""))
    })
}
