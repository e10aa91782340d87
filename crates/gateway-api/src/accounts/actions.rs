//! Chat actions ("open friend conversation", optionally with a first message).
//!
//! A batch is accepted at once, one id per item. The vendor wants actions of one agent account and
//! WhatsApp account 10 s apart; an action without a WhatsApp account may land on any of the
//! agent's accounts, so it is spaced against every action of the agent, and actions with an
//! account against the agent's actions without one (`domain::AgentSpacing`). Each item gets a send
//! time from the agent's reservation (`accounts:agent:{agent}:schedule`, compare-and-set), so
//! conflicting vendor calls are at least `action_spacing + action_spacing_margin` apart while
//! other agents and other accounts are not delayed. Items wait in the sorted set
//! `accounts:actions:due`; any replica's worker claims due items with `zclaim_due` and, just
//! before the vendor call, records the send in the agent's send state
//! (`accounts:agent:{agent}:sent`, compare-and-set with the same rule), so late or retried items
//! cannot close the gap either: one that would is put back until it may go. The record is marked
//! `sending` before the call and `sent` after, so an item is never sent twice: one found `sending`
//! after a crash is failed as "outcome unknown" rather than repeated.

use std::time::Duration;

use tracing::Instrument as _;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, TimeZone, Utc};
use domain::{ActionStatus, AgentSpacing, ChatActionRequest, ChatPlatform, ProviderErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::AccountsCtx;
use super::docs::{ReadErrors, WriteErrors};
use super::{claim_owner, now_ms, number_digits, save, vendor, wscrm};
use crate::auth::scope;
use crate::breaker::Refused;
use crate::error::{ApiError, FieldError};
use crate::http::owned::Owned;
use crate::keys;
use crate::ownership::OwnedKind;
use crate::routes::Routes;
use crate::state::AppState;
use crate::workers::Workers;

const MAX_ITEMS: usize = 100;
const CLAIM_BATCH: usize = 16;
/// How long a claimed item stays invisible to other workers.
const CLAIM_HOLD: Duration = Duration::from_secs(60);
const MAX_ATTEMPTS: u32 = 5;

pub fn configure(cfg: &mut Routes) {
    cfg.service(submit_actions).service(get_action);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// The agent's account at the vendor.
    pub agent_account: String,
    /// The WhatsApp account to act from; absent: the vendor picks an online one of the agent.
    pub whatsapp: Option<String>,
    /// The friend whose conversation is opened.
    pub friend: String,
    #[serde(default = "pc")]
    pub platform: ChatPlatform,
    /// Optional first message.
    pub message: Option<String>,
}

fn pc() -> ChatPlatform {
    ChatPlatform::Pc
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"actions": [{"agent_account": "agent01", "whatsapp": "+8613800138000", "friend": "+8613900139000", "platform": "pc", "message": "Hello!"}]}))]
pub struct SubmitActions {
    /// 1 to 100 actions.
    #[schema(min_items = 1, max_items = 100)]
    pub actions: Vec<ActionInput>,
}

/// Where an action is in the gateway's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Scheduled,
    Sending,
    Sent,
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
/// A chat action as the gateway keeps it.
pub struct ActionRecord {
    id: String,
    vendor_tenant_id: i64,
    agent_account: String,
    whatsapp: Option<String>,
    friend: String,
    platform: ChatPlatform,
    message: Option<String>,
    phase: Phase,
    status: ActionStatus,
    attempts: u32,
    created_at: DateTime<Utc>,
    scheduled_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    executed_at: Option<DateTime<Utc>>,
    vendor_action_id: Option<String>,
    error: Option<String>,
}

super::accounts_record!(ActionRecord, OwnedKind::ChatAction, "chat action");

/// A chat action and its result.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21", "status": "succeeded", "agent_account": "agent01",
    "whatsapp": "+8613800138000", "friend": "+8613900139000", "platform": "pc", "scheduled_at": "2026-01-02T03:04:05Z",
    "sent_at": "2026-01-02T03:04:05Z", "executed_at": "2026-01-02T03:04:06Z", "error": null}))]
pub struct ChatAction {
    pub id: String,
    /// `pending` until the vendor reports it ran (`succeeded`) or could not (`failed`).
    pub status: ActionStatus,
    pub agent_account: String,
    pub whatsapp: Option<String>,
    pub friend: String,
    pub platform: ChatPlatform,
    /// When the gateway will (or did) hand it to the vendor.
    pub scheduled_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the vendor ran it; null while not executed.
    pub executed_at: Option<DateTime<Utc>>,
    /// Why it failed, when the gateway knows (`vendor_*` codes, or `outcome_unknown`).
    pub error: Option<String>,
}

impl From<ActionRecord> for ChatAction {
    fn from(r: ActionRecord) -> Self {
        Self {
            id: r.id,
            status: r.status,
            agent_account: r.agent_account,
            whatsapp: r.whatsapp,
            friend: r.friend,
            platform: r.platform,
            scheduled_at: r.scheduled_at,
            sent_at: r.sent_at,
            executed_at: r.executed_at,
            error: r.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"actions": [{"id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21", "status": "pending", "scheduled_at": "2026-01-02T03:04:05Z"}]}))]
pub struct AcceptedActions {
    /// One per submitted item, in order.
    pub actions: Vec<AcceptedAction>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedAction {
    pub id: String,
    pub status: ActionStatus,
    pub scheduled_at: DateTime<Utc>,
}

fn gap_ms(state: &AppState) -> i64 {
    let c = &state.config.accounts;
    i64::try_from((c.action_spacing + c.action_spacing_margin).as_millis()).unwrap_or(i64::MAX)
}

/// The key of one agent's spacing state: the vendor tenant and the agent account.
fn agent_of(vendor_tenant: i64, agent: &str) -> String {
    let digest = Sha256::digest(format!("{vendor_tenant}\n{agent}"));
    hex::encode(&digest[..12])
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Applies `step` to the spacing state stored under `key` (compare-and-set, retried on a race);
/// `step` gets the state and the current time and says whether it changed the state.
async fn with_spacing<T>(
    state: &AppState,
    key: &str,
    mut step: impl FnMut(&mut AgentSpacing, i64) -> (T, bool),
) -> Result<T, ApiError> {
    loop {
        let current = state.store.get(key).await?;
        let mut spacing: AgentSpacing = current
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        let now = now_ms();
        let (answer, changed) = step(&mut spacing, now);
        if !changed {
            return Ok(answer);
        }
        let ttl = Duration::from_millis(u64::try_from(spacing.horizon() - now).unwrap_or(0))
            + Duration::from_secs(60);
        let bytes = serde_json::to_vec(&spacing).unwrap_or_default();
        if state
            .store
            .compare_and_set(key, current.as_deref(), &bytes, Some(ttl))
            .await?
        {
            return Ok(answer);
        }
    }
}

/// Reserves the send time of an action of `agent` from `account` (`None`: the vendor picks).
async fn reserve_slot(
    state: &AppState,
    agent: &str,
    account: Option<&str>,
) -> Result<i64, ApiError> {
    let gap = gap_ms(state);
    with_spacing(state, &keys::AgentSchedule::new(agent), |s, now| {
        (s.reserve(now, gap, account), true)
    })
    .await
}

/// Records that an action of `agent` from `account` goes out now, unless that would come closer
/// than the gap to one sent before: then the instant it may go.
async fn clear_to_send(
    state: &AppState,
    agent: &str,
    account: Option<&str>,
) -> Result<Result<(), i64>, ApiError> {
    let gap = gap_ms(state);
    with_spacing(state, &keys::AgentSent::new(agent), |s, now| {
        s.forget_before(now);
        match s.earliest(account) {
            at if at > now => (Err(at), false),
            _ => {
                s.take(now, gap, account);
                (Ok(()), true)
            }
        }
    })
    .await
}

/// Accepts a batch of "open friend conversation" actions and answers at once with one id per
/// item. The gateway spaces the vendor calls of one (agent account, WhatsApp account) pair
/// `accounts.action_spacing` apart (the vendor fails closer ones); an action without `whatsapp`
/// may run on any of the agent's accounts, so it is spaced against all of the agent's actions.
/// Other agents, and other accounts named explicitly, are not delayed. The schedule is durable
/// (it survives restarts and is shared by replicas).
#[utoipa::path(
    tag = "chat actions",
    security(("bearer" = ["actions:write"])),
    request_body = SubmitActions,
    responses((status = 202, description = "Accepted; poll each action", body = AcceptedActions), WriteErrors)
)]
#[post("/v1/chat-actions")]
pub async fn submit_actions(
    ctx: AccountsCtx<scope::ActionsWrite>,
    state: web::Data<AppState>,
    body: web::Json<SubmitActions>,
) -> Result<HttpResponse, ApiError> {
    let settings = &ctx.settings;
    let items = body.into_inner().actions;
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ApiError::field(
            "actions",
            "length",
            format!("between 1 and {MAX_ITEMS} actions"),
        ));
    }
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let agent = item.agent_account.trim().to_owned();
        if agent.is_empty() || agent.len() > 64 {
            errors.push(FieldError {
                field: format!("actions[{i}].agent_account"),
                code: "length".into(),
                message: "1 to 64 characters".into(),
            });
        }
        if item
            .message
            .as_ref()
            .is_some_and(|m| m.chars().count() > 4096)
        {
            errors.push(FieldError {
                field: format!("actions[{i}].message"),
                code: "length".into(),
                message: "at most 4096 characters".into(),
            });
        }
        let friend = number_digits("", &item.friend);
        let whatsapp = item
            .whatsapp
            .as_deref()
            .filter(|w| !w.trim().is_empty())
            .map(|w| number_digits("", w))
            .transpose();
        match (friend, whatsapp) {
            (Ok(f), Ok(w)) => parsed.push((
                agent,
                w,
                f,
                item.platform,
                item.message.filter(|m| !m.is_empty()),
            )),
            (f, w) => {
                if f.is_err() {
                    errors.push(FieldError {
                        field: format!("actions[{i}].friend"),
                        code: "invalid_number".into(),
                        message: "an international number".into(),
                    });
                }
                if w.is_err() {
                    errors.push(FieldError {
                        field: format!("actions[{i}].whatsapp"),
                        code: "invalid_number".into(),
                        message: "an international number".into(),
                    });
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut accepted = Vec::with_capacity(parsed.len());
    for (agent, whatsapp, friend, platform, message) in parsed {
        let agent_key = agent_of(settings.wscrm_tenant_id, &agent);
        let slot = reserve_slot(&state, &agent_key, whatsapp.as_deref()).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let record = ActionRecord {
            id: id.clone(),
            vendor_tenant_id: settings.wscrm_tenant_id,
            agent_account: agent,
            whatsapp: whatsapp.map(|w| domain::plus_number(&w)),
            friend: domain::plus_number(&friend),
            platform,
            message,
            phase: Phase::Scheduled,
            status: ActionStatus::Pending,
            attempts: 0,
            created_at: Utc::now(),
            scheduled_at: ms_to_time(slot),
            sent_at: None,
            executed_at: None,
            vendor_action_id: None,
            error: None,
        };
        claim_owner(
            &state,
            OwnedKind::ChatAction,
            &id,
            &ctx.auth.principal.tenant,
        )
        .await?;
        save(&state, OwnedKind::ChatAction, &id, &record).await?;
        state
            .store
            .zadd(&keys::DueActions::new(), &id, slot as f64)
            .await?;
        accepted.push(AcceptedAction {
            id,
            status: ActionStatus::Pending,
            scheduled_at: record.scheduled_at,
        });
    }
    Ok(HttpResponse::Accepted().json(AcceptedActions { actions: accepted }))
}

/// An action's result: `pending` while scheduled or running, then `succeeded` or `failed`, with
/// `executed_at` (null while the vendor reports it has not run).
#[utoipa::path(
    tag = "chat actions",
    security(("bearer" = ["accounts:read"])),
    params(("id" = String, Path, description = "Action id")),
    responses((status = 200, description = "The action", body = ChatAction), ReadErrors)
)]
#[get("/v1/chat-actions/{id}")]
pub async fn get_action(
    owned: Owned<scope::AccountsRead, ActionRecord>,
    state: web::Data<AppState>,
) -> Result<web::Json<ChatAction>, ApiError> {
    let mut r = owned.record;
    let id = r.id.clone();
    if r.phase == Phase::Sent
        && let Some(vendor_id) = r.vendor_action_id.clone()
    {
        let reports = wscrm(
            &state,
            vendor(&state)?
                .chat_action_results(r.vendor_tenant_id, std::slice::from_ref(&vendor_id)),
        )
        .await?
        .map_err(ApiError::from)?;
        if let Some(report) = reports.into_iter().find(|x| x.vendor_id == vendor_id) {
            r.status = report.status;
            r.executed_at = report.executed_at;
            if report.status != ActionStatus::Pending {
                r.phase = Phase::Done;
                save(&state, OwnedKind::ChatAction, &id, &r).await?;
                crate::events::publish(
                    &state,
                    &owned.auth.principal.tenant,
                    domain::DomainEvent::ChatActionCompleted(domain::events::ChatActionCompleted {
                        action_id: id.to_string(),
                        succeeded: report.status == ActionStatus::Succeeded,
                        executed_at: report.executed_at,
                        details: serde_json::Value::Null,
                    }),
                )
                .await?;
            }
        }
    }
    Ok(web::Json(r.into()))
}

// ---- worker --------------------------------------------------------------------------------

pub fn spawn_worker(state: &AppState, workers: &mut Workers) {
    if state.providers.account_operations().is_none() {
        return;
    }
    let state = state.clone();
    let mut shutdown = workers.shutdown_signal();
    workers.push(tokio::spawn(async move {
        let poll = state.config.accounts.action_poll_interval;
        loop {
            if shutdown.is_requested() {
                break;
            }
            match state
                .store
                .zclaim_due(&keys::DueActions::new(), now_ms() as f64, CLAIM_HOLD.as_millis() as f64, CLAIM_BATCH)
                .await
            {
                Ok(ids) => {
                    for (i, id) in ids.iter().enumerate() {
                        if shutdown.is_requested() {
                            // Hand the rest back at once for the next replica.
                            for rest in &ids[i..] {
                                let _ = state.store.zadd(&keys::DueActions::new(), rest, now_ms() as f64).await;
                            }
                            break;
                        }
                        let span = crate::telemetry::traced_work(tracing::info_span!(
                            "chat_action",
                            action = %id,
                            trace_id = tracing::field::Empty,
                        ));
                        if let Err(e) = process(&state, id).instrument(span).await {
                            tracing::warn!(action = %id, error = %e, "chat action step failed; retried later");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim due chat actions"),
            }
            if shutdown.sleep(poll).await {
                break;
            }
        }
    }));
}

async fn process(state: &AppState, id: &str) -> Result<(), ApiError> {
    let key = keys::AccountsRecord::of(OwnedKind::ChatAction, id);
    let Some(mut r) = state.store.get_json::<ActionRecord>(&key).await? else {
        state.store.zrem(&keys::DueActions::new(), id).await?;
        return Ok(());
    };
    match r.phase {
        Phase::Sent | Phase::Done => {
            state.store.zrem(&keys::DueActions::new(), id).await?;
            return Ok(());
        }
        Phase::Sending => {
            // A worker died between marking and recording the call: never send twice.
            r.phase = Phase::Done;
            r.status = ActionStatus::Failed;
            r.error = Some("outcome_unknown".into());
            save(state, OwnedKind::ChatAction, id, &r).await?;
            state.store.zrem(&keys::DueActions::new(), id).await?;
            return Ok(());
        }
        Phase::Scheduled => {}
    }
    let Some(vendor) = state.providers.account_operations() else {
        return Ok(());
    };
    // An open circuit: nothing is sent and no spacing slot is taken; the action waits for the
    // cool-down, its attempts untouched.
    let permit = match state.breakers.admit(providers::wscrm_accounts::ID).await {
        Ok(permit) => permit,
        Err(Refused::Open { retry_after, .. }) => {
            let at = now_ms() + i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX / 2);
            state
                .store
                .zadd(&keys::DueActions::new(), id, at as f64)
                .await?;
            return Ok(());
        }
        Err(Refused::Store(e)) => return Err(e.into()),
    };
    let agent = agent_of(r.vendor_tenant_id, &r.agent_account);
    let account = r.whatsapp.as_deref().map(|w| w.trim_start_matches('+'));
    let cleared = match clear_to_send(state, &agent, account).await {
        Ok(cleared) => cleared,
        Err(e) => {
            state.breakers.abandon(permit).await;
            return Err(e);
        }
    };
    if let Err(at) = cleared {
        state.breakers.abandon(permit).await;
        state
            .store
            .zadd(&keys::DueActions::new(), id, at as f64)
            .await?;
        return Ok(());
    }
    r.phase = Phase::Sending;
    r.attempts += 1;
    if let Err(e) = save(state, OwnedKind::ChatAction, id, &r).await {
        state.breakers.abandon(permit).await;
        return Err(e);
    }
    let request = ChatActionRequest {
        vendor_tenant_id: r.vendor_tenant_id,
        agent_account: r.agent_account.clone(),
        whatsapp_digits: r
            .whatsapp
            .as_deref()
            .map(|w| w.trim_start_matches('+').to_owned()),
        friend_digits: r.friend.trim_start_matches('+').to_owned(),
        platform: r.platform,
        message: r.message.clone(),
    };
    let sent = vendor
        .submit_chat_actions(std::slice::from_ref(&request))
        .await;
    state.breakers.settle(permit, sent.as_ref().err()).await;
    match sent {
        Ok(ids) => {
            r.phase = Phase::Sent;
            r.sent_at = Some(Utc::now());
            r.vendor_action_id = ids.into_iter().next();
            save(state, OwnedKind::ChatAction, id, &r).await?;
            state.store.zrem(&keys::DueActions::new(), id).await?;
            tracing::info!(action = %id, "chat action sent");
        }
        // Refused before the vendor saw it: safe to try again. The send stays recorded, so the
        // retry keeps the gap too (the vendor may have seen a call that answered 5xx).
        Err(e)
            if matches!(
                e.kind,
                ProviderErrorKind::Unavailable | ProviderErrorKind::RateLimited { .. }
            ) && r.attempts < MAX_ATTEMPTS =>
        {
            r.phase = Phase::Scheduled;
            save(state, OwnedKind::ChatAction, id, &r).await?;
            let backoff = 1000_i64 << r.attempts.min(6);
            state
                .store
                .zadd(&keys::DueActions::new(), id, (now_ms() + backoff) as f64)
                .await?;
        }
        Err(e) => {
            r.phase = Phase::Done;
            r.status = ActionStatus::Failed;
            r.error = Some(e.kind.code().to_owned());
            save(state, OwnedKind::ChatAction, id, &r).await?;
            state.store.zrem(&keys::DueActions::new(), id).await?;
        }
    }
    Ok(())
}
