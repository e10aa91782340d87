//! "Wake up friend conversation" actions: `batchAdd` queues them, `callbackResult` reports them.
//!
//! Rules: an action for the same (agent, WhatsApp account) less than `action_spacing` after the
//! previous accepted one fails at once; otherwise it runs `execute_after` later if both the agent
//! and the WhatsApp account are logged in, waits for them up to `login_wait`, then fails.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::AccountsSim;
use super::clock::{NOT_EXECUTED, vendor_time};
use super::state::{Action, EXEC_FAILED, EXEC_PENDING};
use super::tables;
use super::wire::{self, ApiError, ApiResult, Fields, MSG_UPPER};

/// Items per `batchAdd`; the document sets no limit, this one keeps a single request bounded.
const MAX_ACTIONS: usize = 1000;
const MAX_QUERY_IDS: usize = 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/wscrm-bus-api/open/action/batchAdd",
        web::post().to(batch_add),
    )
    .route(
        "/wscrm-bus-api/open/action/callbackResult",
        web::post().to(callback_result),
    );
}

struct NewAction {
    agent: String,
    whats_id: Option<String>,
    friend: String,
    platform_type: i64,
    content: String,
    kind: i64,
}

fn read_tenant(f: &Fields<'_>) -> Result<i64, ApiError> {
    let t = f.int_req(&["tenantId"])?;
    if t <= 0 {
        return Err(ApiError::bad("tenantId must be a positive company id"));
    }
    Ok(t)
}

fn read_actions(body: &[u8]) -> Result<(i64, Vec<NewAction>), ApiError> {
    let map = wire::checked(body, tables::BATCH_ADD)?;
    let f = Fields::new(&map);
    let tenant = read_tenant(&f)?;
    let items = f.list_req(&["data"])?;
    if items.is_empty() || items.len() > MAX_ACTIONS {
        return Err(ApiError::bad(format!(
            "data must hold 1 to {MAX_ACTIONS} actions"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, obj) in wire::objects(items, "data")?.into_iter().enumerate() {
        let ctx = format!("data[{i}].");
        let f = Fields::with_ctx(obj, &ctx);
        let agent = f.text_req(&["agentAccount"])?;
        let whats_id = f
            .text_opt(&["whatsId"])?
            .filter(|s| !s.is_empty())
            .map(|w| wire::phone(&w, &format!("{ctx}whatsId")))
            .transpose()?;
        let friend = wire::phone(
            &f.text_req(&["friendWhatsId"])?,
            &format!("{ctx}friendWhatsId"),
        )?;
        let platform_type = f.int_req(&["platformType"])?;
        if !matches!(platform_type, 1 | 2) {
            return Err(ApiError::bad(format!(
                "{ctx}platformType must be 1 (PC) or 2 (Android)"
            )));
        }
        let kind = f.int_req(&["type"])?;
        if kind != 1 {
            return Err(ApiError::bad(format!(
                "{ctx}type must be 1 (open the friend conversation)"
            )));
        }
        let content = f.text_opt(&["content"])?.unwrap_or_default();
        out.push(NewAction {
            agent,
            whats_id,
            friend,
            platform_type,
            content,
            kind,
        });
    }
    Ok((tenant, out))
}

async fn batch_add(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(batch_add_inner(&sim, &body), MSG_UPPER)
}

fn batch_add_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let (tenant, items) = read_actions(body)?;
    let spacing =
        chrono::Duration::from_std(sim.config.action_spacing).unwrap_or(chrono::Duration::MAX);
    let delay =
        chrono::Duration::from_std(sim.config.execute_after).unwrap_or(chrono::Duration::zero());
    sim.tx(|tx| {
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            // Without whatsId the vendor picks one of the agent's logged-in accounts.
            let whats_id = item.whats_id.or_else(|| {
                let online: Vec<_> = tx.st.accounts.values().filter(|a| a.is_online()).collect();
                online
                    .iter()
                    .find(|a| a.agent == item.agent)
                    .or(online.first())
                    .map(|a| a.whats_app.clone())
            });
            let id = tx.st.hex_id(tx.seed(), "action");
            let mut action = Action {
                id: id.clone(),
                tenant_id: tenant,
                agent_account: item.agent.clone(),
                whats_id: whats_id.clone().unwrap_or_default(),
                friend_whats_id: item.friend,
                platform_type: item.platform_type,
                content: item.content,
                kind: item.kind,
                created_at: tx.now,
                due_at: tx.now + delay,
                execute_status: EXEC_PENDING,
                executed_at: None,
                fail_reason: None,
            };
            match whats_id {
                None => {
                    action.execute_status = EXEC_FAILED;
                    action.fail_reason =
                        Some("no logged-in WhatsApp account to act from".to_owned());
                }
                Some(w) => {
                    let key = (item.agent, w);
                    let too_soon = tx
                        .st
                        .last_action_at
                        .get(&key)
                        .is_some_and(|last| tx.now - *last < spacing);
                    if too_soon {
                        action.execute_status = EXEC_FAILED;
                        action.fail_reason = Some(
                            "closer than the action spacing to the previous action".to_owned(),
                        );
                    } else {
                        tx.st.last_action_at.insert(key, tx.now);
                    }
                }
            }
            tx.st.actions.insert(id.clone(), action);
            ids.push(Value::String(id));
        }
        Ok(Value::Array(ids))
    })
}

async fn callback_result(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(callback_result_inner(&sim, &body), MSG_UPPER)
}

fn callback_result_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::CALLBACK_RESULT)?;
    let f = Fields::new(&map);
    let tenant = read_tenant(&f)?;
    let ids = f.list_req(&["data"])?;
    if ids.len() > MAX_QUERY_IDS {
        return Err(ApiError::bad(format!(
            "data must hold at most {MAX_QUERY_IDS} ids"
        )));
    }
    let ids: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.trim().to_owned()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(ApiError::bad(format!("data[{i}] must be an id string"))),
        })
        .collect::<Result<_, _>>()?;
    let offset = sim.config.vendor_utc_offset_secs;
    let example_types = sim.config.example_types;
    sim.tx(|tx| {
        // Unknown ids and other tenants' ids are left out, as a query by id would.
        let rows: Vec<Value> = ids
            .iter()
            .filter_map(|id| tx.st.actions.get(id))
            .filter(|a| a.tenant_id == tenant)
            .map(|a| {
                let status = if example_types {
                    json!(a.execute_status)
                } else {
                    json!(a.execute_status.to_string())
                };
                json!({
                    "id": a.id,
                    "tenantId": a.tenant_id,
                    "agentAccount": a.agent_account,
                    "whatsId": a.whats_id,
                    "friendWhatsId": a.friend_whats_id,
                    "type": a.kind,
                    "executeStatus": status,
                    "executeTime": a.executed_at.map_or_else(|| NOT_EXECUTED.to_owned(), |t| vendor_time(t, offset)),
                })
            })
            .collect();
        Ok(Value::Array(rows))
    })
}
