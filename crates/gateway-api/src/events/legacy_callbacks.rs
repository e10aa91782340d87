//! Job callbacks that an earlier version queued on a schedule of its own (`nc:callbacks:due`,
//! records `nc:callback:{id}`) are adopted into the one delivery schedule when a delivery worker
//! starts, so an upgrade loses none. This module can go once no deployment has such entries left.

use chrono::Utc;
use serde::Deserialize;

use super::delivery::{Delivery, DeliveryStatus, StoredDelivery, Target, schedule_once};
use crate::keys;
use crate::state::AppState;
use crate::store::StoreError;

const BATCH: usize = 100;

/// A callback as the earlier version stored it (id `msg_{job id}`).
#[derive(Debug, Deserialize)]
struct Queued {
    id: String,
    tenant: String,
    url: String,
    body: String,
}

/// Moves every queued callback to the delivery schedule; returns how many were moved.
pub(super) async fn adopt(state: &AppState) -> Result<usize, StoreError> {
    let mut adopted = 0;
    loop {
        let due = state
            .store
            .zrange_by_score(&keys::DueLegacyCallbacks::new(), 0.0, 1e12, 0, BATCH)
            .await?;
        if due.is_empty() {
            return Ok(adopted);
        }
        for (id, _) in due {
            if let Some(queued) = state
                .store
                .get_json::<Queued>(&keys::LegacyCallback::new(&id))
                .await?
            {
                schedule_once(state, &as_delivery(queued)).await?;
                adopted += 1;
            }
            state.store.delete(&keys::LegacyCallback::new(&id)).await?;
            state
                .store
                .zrem(&keys::DueLegacyCallbacks::new(), &id)
                .await?;
        }
    }
}

fn as_delivery(queued: Queued) -> StoredDelivery {
    let now = Utc::now();
    let job_id = queued
        .id
        .strip_prefix("msg_")
        .unwrap_or(&queued.id)
        .to_owned();
    StoredDelivery {
        delivery: Delivery {
            id: format!("dlv_cb_{job_id}"),
            subscription_id: String::new(),
            // The earlier `webhook-id`, so a receiver that saw an attempt recognises the retry.
            event_id: queued.id,
            event_type: domain::EventType::NumberCheckCompleted.as_str().to_owned(),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            created_at: now,
        },
        tenant: queued.tenant,
        event_time: now,
        body: queued.body,
        target: Target::JobCallback {
            job_id,
            url: queued.url,
        },
    }
}
