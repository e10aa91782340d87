//! `/_sim/accounts/...`: what a person with a phone, or the vendor itself, would do, so tests and
//! demos can drive the simulation; plus state inspection. Answers are plain JSON with HTTP statuses
//! (400 bad input, 404 unknown object, 409 refused move), not the vendor envelope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AccountsSim;
use super::clock::vendor_time;
use super::lifecycle::ScanOutcome;
use super::state::State;
use super::webhooks::{self, OnlineRecord, OnlineStatusEnvelope, WebhookKind};
use super::wire::{
    self, ApiError, ApiResult, CODE_BAD_REQUEST, CODE_NOT_FOUND, CODE_PORT_GONE, Fields,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim/accounts/state", web::get().to(state))
        .route("/_sim/accounts/reset", web::post().to(reset))
        .route(
            "/_sim/accounts/clock/advance",
            web::post().to(advance_clock),
        )
        .route("/_sim/accounts/sessions/{id}/scan", web::post().to(scan))
        .route(
            "/_sim/accounts/accounts/{whatsapp}/ban",
            web::post().to(ban),
        )
        .route(
            "/_sim/accounts/accounts/{whatsapp}/online-status",
            web::post().to(online_status),
        )
        .route(
            "/_sim/accounts/registrations/{phone}/complete",
            web::post().to(complete_registration),
        )
        .route(
            "/_sim/accounts/scan-tasks/{task_id}/progress",
            web::post().to(progress_task),
        )
        .route("/_sim/accounts/ports/quota", web::post().to(port_quota))
        .route(
            "/_sim/accounts/agents/{agent}/online",
            web::post().to(agent_online),
        )
        .route("/_sim/accounts/webhooks", web::get().to(webhook_log))
        .route(
            "/_sim/accounts/webhooks/{kind}",
            web::post().to(trigger_webhook),
        );
}

fn answer(r: ApiResult) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => {
            let status = match e.code {
                CODE_BAD_REQUEST => StatusCode::BAD_REQUEST,
                CODE_NOT_FOUND | CODE_PORT_GONE => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            HttpResponse::build(status).json(json!({"error": e.message, "code": e.code}))
        }
    }
}

fn body_map(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    wire::object(body)
}

async fn state(sim: web::Data<AccountsSim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.state_json())
}

/// Forgets everything (accounts, sessions, ports, actions, registrations, tasks, webhook log); the
/// port quota goes back to the configured one.
async fn reset(sim: web::Data<AccountsSim>) -> HttpResponse {
    sim.reset();
    HttpResponse::Ok().json(json!({"reset": true}))
}

/// `{"seconds": n}` or `{"millis": n}`: moves the simulated clock forward.
async fn advance_clock(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let f = Fields::new(&m);
        let ms = match (f.int_opt(&["millis"])?, f.int_opt(&["seconds"])?) {
            (Some(ms), _) => ms,
            (None, Some(s)) => s.saturating_mul(1000),
            (None, None) => return Err(ApiError::bad("seconds or millis is required")),
        };
        let ms = u64::try_from(ms).map_err(|_| ApiError::bad("the clock only moves forward"))?;
        sim.advance_clock(std::time::Duration::from_millis(ms));
        Ok(json!({"now": sim.clock().now()}))
    })())
}

/// `{"success": true, "whatsapp": "...", "userName": "..."}` or `{"success": false, "code": 1001}`.
async fn scan(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let f = Fields::new(&m);
        let outcome = if f.bool_opt(&["success"])?.unwrap_or(true) {
            ScanOutcome::Success {
                whatsapp: f
                    .text_opt(&["whatsapp", "whatsApp"])?
                    .map(|w| wire::phone(&w, "whatsapp"))
                    .transpose()?,
                user_name: f.text_opt(&["userName"])?,
            }
        } else {
            ScanOutcome::Failure {
                code: f.int_opt(&["code", "reason"])?.unwrap_or(1001),
            }
        };
        sim.scan_session(&path, outcome)
    })())
}

/// `{"banned": true}` (the default) bans, `false` lifts the ban.
async fn ban(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let banned = Fields::new(&m).bool_opt(&["banned"])?.unwrap_or(true);
        sim.ban_account(&path, banned)
    })())
}

/// `{"onlineStatus": 1..4, "detailStatus": 33}`.
async fn online_status(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let f = Fields::new(&m);
        let status = f.int_req(&["onlineStatus", "status"])?;
        let detail = f.int_opt(&["detailStatus"])?;
        sim.change_online_status(&path, status, detail)
    })())
}

/// `{"success": true}` (the default) or `false`; `phone` is calling code + number.
async fn complete_registration(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let success = Fields::new(&m).bool_opt(&["success"])?.unwrap_or(true);
        sim.finish_registration(&path, success)
    })())
}

/// `{"taskStatus": 70|71|80|83|84|85|90, "whatsapp": "..."}`.
async fn progress_task(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let f = Fields::new(&m);
        let status = f.int_req(&["taskStatus", "status"])?;
        let phone = f
            .text_opt(&["whatsapp", "whatsApp"])?
            .map(|w| wire::phone(&w, "whatsapp"))
            .transpose()?;
        sim.progress_scan_task(&path, status, phone)
    })())
}

/// `{"maxPort": n}`.
async fn port_quota(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let max = Fields::new(&m).int_req(&["maxPort", "quota"])?;
        let max = u32::try_from(max).map_err(|_| ApiError::bad("maxPort must be 0 or more"))?;
        Ok(sim.set_port_quota(max))
    })())
}

/// `{"online": false}` logs an agent's client out (its actions then fail), `true` back in.
async fn agent_online(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    answer((|| {
        let m = body_map(&body)?;
        let online = Fields::new(&m).bool_opt(&["online"])?.unwrap_or(true);
        let agent = path.into_inner();
        sim.tx(|tx| {
            if online {
                tx.st.agents_offline.remove(&agent);
            } else {
                tx.st.agents_offline.insert(agent.clone());
            }
        });
        Ok(json!({"agent": agent, "online": online}))
    })())
}

async fn webhook_log(sim: web::Data<AccountsSim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.webhook_log())
}

/// Sends one webhook now and answers with what was sent and how the receiver answered. The body
/// may give `payload` (sent as is; for online status an array is wrapped per `envelope`), or the
/// fields of a default payload built from the state. State is not changed.
async fn trigger_webhook(
    sim: web::Data<AccountsSim>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let built = (|| {
        let kind = WebhookKind::from_slug(&path).ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown webhook {}; one of online-status, account-status, registration-status, qr-login, scan-task",
                path.as_str()
            ))
        })?;
        let m = body_map(&body)?;
        let f = Fields::new(&m);
        let envelope = f
            .text_opt(&["envelope"])?
            .map(|e| {
                OnlineStatusEnvelope::parse(&e)
                    .ok_or_else(|| ApiError::bad("envelope must be array, wrapped or alternate"))
            })
            .transpose()?;
        let payload = match f.raw(&["payload"]) {
            Some(p) => p.clone(),
            None => sim.tx(|tx| {
                default_payload(kind, &f, tx.st, tx.now, sim.config.vendor_utc_offset_secs)
            })?,
        };
        let payload = match (kind, &payload) {
            (WebhookKind::OnlineStatus, Value::Array(_)) => {
                sim.webhooks.wrap_online(payload, envelope)
            }
            _ => payload,
        };
        Ok((kind, payload))
    })();
    match built {
        Err(e) => answer(Err(e)),
        Ok((kind, payload)) => {
            let rec = sim.webhooks.deliver(kind, payload).await;
            HttpResponse::Ok().json(rec)
        }
    }
}

fn default_payload(
    kind: WebhookKind,
    f: &Fields<'_>,
    st: &State,
    now: chrono::DateTime<chrono::Utc>,
    offset: i32,
) -> ApiResult {
    let first_account = st.accounts.values().next();
    let account = |f: &Fields<'_>| -> Result<String, ApiError> {
        Ok(f.text_opt(&["whatsapp", "whatsApp", "whatsId"])?
            .or_else(|| first_account.map(|a| a.whats_app.clone()))
            .unwrap_or_else(|| "8617633819542".to_owned()))
    };
    Ok(match kind {
        WebhookKind::OnlineStatus => {
            let w = account(f)?;
            let acc = st.accounts.get(&w);
            let rec = OnlineRecord {
                whats_id: w,
                status: f.int_opt(&["status"])?.unwrap_or(10),
                detail_status: f.int_opt(&["detailStatus"])?.unwrap_or(11),
                account: f
                    .text_opt(&["account"])?
                    .unwrap_or_else(|| acc.map(|a| a.agent.clone()).unwrap_or_default()),
                platform_type: f.int_opt(&["platformType"])?.unwrap_or(1),
                time: vendor_time(now, offset),
            };
            serde_json::to_value(vec![rec]).unwrap_or_else(|_| json!([]))
        }
        WebhookKind::AccountStatus => {
            let w = account(f)?;
            let acc = st.accounts.get(&w);
            webhooks::account_status_body(
                &w,
                f.int_opt(&["status"])?
                    .or(acc.map(|a| a.status))
                    .unwrap_or(1),
                f.int_opt(&["onlineStatus"])?
                    .or(acc.map(|a| a.online_status))
                    .unwrap_or(2),
                &f.text_opt(&["reason"])?.unwrap_or_default(),
                &f.text_opt(&["instanceCode"])?
                    .or_else(|| acc.and_then(|a| a.session_id.clone()))
                    .unwrap_or_default(),
            )
        }
        WebhookKind::RegistrationStatus => {
            let phone = f
                .text_opt(&["phone"])?
                .or_else(|| {
                    st.registrations
                        .values()
                        .max_by_key(|r| r.task_id)
                        .map(|r| r.phone.clone())
                })
                .unwrap_or_else(|| "861821726232".to_owned());
            webhooks::registration_body(&phone, f.bool_opt(&["success"])?.unwrap_or(true))
        }
        WebhookKind::QrLogin => {
            let latest = st.sessions.values().max_by_key(|s| s.created_at);
            let id = f
                .text_opt(&["id"])?
                .or_else(|| latest.map(|s| s.id.clone()))
                .unwrap_or_else(|| "ad518a4271fa43c8937612c5f60396f8".to_owned());
            let w = f
                .text_opt(&["whatsapp", "whatsApp"])?
                .or_else(|| st.sessions.get(&id).and_then(|s| s.whatsapp.clone()))
                .unwrap_or_default();
            webhooks::qr_login_body(&id, &w, f.int_opt(&["status"])?.unwrap_or(1) == 1)
        }
        WebhookKind::ScanTask => {
            let latest = st.scan_tasks.values().max_by_key(|t| t.created_at);
            let task_id = f
                .text_opt(&["taskId"])?
                .or_else(|| latest.map(|t| t.task_id.clone()))
                .unwrap_or_else(|| "f0d485cb2e5e4c5ca21b74e970043e6c".to_owned());
            let task = st.scan_tasks.get(&task_id);
            webhooks::scan_task_body(
                &task_id,
                f.int_opt(&["userId"])?
                    .or(task.map(|t| t.user_id))
                    .unwrap_or(10001),
                f.int_opt(&["taskStatus"])?.unwrap_or(80),
                &f.text_opt(&["whatsapp", "whatsApp"])?
                    .or_else(|| task.and_then(|t| t.whatsapp.clone()))
                    .unwrap_or_default(),
                now.timestamp_millis(),
            )
        }
    })
}
