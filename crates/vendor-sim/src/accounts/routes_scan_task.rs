//! PC QR scan tasks: create one (it takes a cloud port), fetch its QR code until it is scanned.
//! Progress (70..90) comes from the admin API and goes out by the scan-task webhook.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AccountsSim;
use super::fake::{self, Draw};
use super::state::ScanTask;
use super::tables;
use super::wire::{self, ApiError, ApiResult, CODE_QUOTA, Fields, MSG_UPPER};

/// Agent ids of the simulated tenant, for tasks that let the vendor pick one (`allocationRole` 1).
const AGENT_IDS: std::ops::RangeInclusive<u64> = 10001..=10005;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/wscrm-bus-api/qrCodeTask/create", web::post().to(create))
        .route(
            "/wscrm-bus-api/qrCodeTask/getQrCode",
            web::post().to(get_qr_code),
        );
}

async fn create(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(create_inner(&sim, &body), MSG_UPPER)
}

/// `allocationRole` 1 (random agent) or 3 (the given `userId`); no free port: 1001.
fn create_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::SCAN_TASK_CREATE)?;
    let f = Fields::new(&map);
    let role = f.int_req(&["allocationRole"])?;
    if !matches!(role, 1 | 3) {
        return Err(ApiError::bad(
            "allocationRole must be 1 (random) or 3 (specified)",
        ));
    }
    let user = f.int_opt(&["userId"])?;
    if user.is_some_and(|u| u <= 0) {
        return Err(ApiError::bad("userId must be a positive agent id"));
    }
    if role == 3 && user.is_none() {
        return Err(ApiError::bad("userId is required when allocationRole is 3"));
    }
    sim.tx(|tx| {
        let seed = tx.seed();
        let port = tx.st.take_port(seed, tx.now).ok_or_else(|| {
            ApiError::new(
                CODE_QUOTA,
                "Insufficient port quota, or insufficient ports for online agents",
            )
        })?;
        let task_id = tx.st.hex_id(seed, "scan-task");
        let user_id = match (role, user) {
            (3, Some(u)) => u,
            _ => {
                let mut d = Draw::new(seed, &["task-agent", &task_id]);
                i64::try_from(d.range(*AGENT_IDS.start(), *AGENT_IDS.end())).unwrap_or(10001)
            }
        };
        if let Some(p) = tx.st.ports.get_mut(&port) {
            p.scan_task_id = Some(task_id.clone());
        }
        tx.st.scan_tasks.insert(
            task_id.clone(),
            ScanTask {
                task_id: task_id.clone(),
                user_id,
                allocation_role: role,
                port_id: Some(port),
                created_at: tx.now,
                task_status: None,
                whatsapp: None,
                updated_at: tx.now,
                last_qr: None,
                codes_issued: 0,
            },
        );
        Ok(json!(task_id))
    })
}

async fn get_qr_code(sim: web::Data<AccountsSim>, body: web::Bytes) -> HttpResponse {
    wire::reply(get_qr_code_inner(&sim, &body), MSG_UPPER)
}

/// Served until the scan succeeds (status 70) or the task ends (409); a task whose port was
/// released for lack of use answers 1002.
fn get_qr_code_inner(sim: &AccountsSim, body: &[u8]) -> ApiResult {
    let map = wire::checked(body, tables::SCAN_TASK_QR)?;
    let task_id = Fields::new(&map).text_req(&["taskId"])?;
    sim.tx(|tx| {
        let seed = tx.seed();
        let task = tx
            .st
            .scan_tasks
            .get_mut(&task_id)
            .ok_or_else(|| ApiError::not_found(format!("scan task {task_id} not found")))?;
        if task.task_status.is_some() {
            return Err(ApiError::conflict(format!(
                "scan task {task_id} was already scanned or has ended"
            )));
        }
        if task.port_id.is_none() {
            return Err(ApiError::port_gone());
        }
        let qr = fake::qr_payload(seed, &format!("task#{task_id}#{}", task.codes_issued));
        task.codes_issued += 1;
        task.last_qr = Some(qr.clone());
        Ok(json!(qr))
    })
}
