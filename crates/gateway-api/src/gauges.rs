//! Gauges of the shared state (work queues, vendor circuits), read from the store by a cheap
//! periodic task: a few `ZCOUNT`/`ZCARD`/`GET`s every [`REFRESH`], never per request.
//!
//! Every replica reports the same cluster-wide values: dashboards and alerts take `max`, not
//! `sum`, of these series.

use std::time::Duration;

use crate::keys;
use crate::state::AppState;
use crate::store::StoreError;
use crate::workers::Workers;

/// How often the gauges are read again.
pub const REFRESH: Duration = Duration::from_secs(15);

/// Whether a queue's scores are unix seconds or unix milliseconds.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
}

/// The gateway's work queues: sorted sets of items scored by when they are due.
fn queues() -> [(&'static str, String, Unit); 3] {
    [
        ("number_checks", keys::DueJobs::new().into(), Unit::Seconds),
        ("chat_actions", keys::DueActions::new().into(), Unit::Millis),
        (
            "event_deliveries",
            keys::DueDeliveries::new().into(),
            Unit::Millis,
        ),
    ]
}

pub fn spawn(state: &AppState, workers: &mut Workers) {
    let mut shutdown = workers.shutdown_signal();
    let state = state.clone();
    workers.push(tokio::spawn(async move {
        loop {
            if let Err(e) = refresh(&state).await {
                tracing::debug!(error = %e, "gauges not refreshed; trying again later");
            }
            if shutdown.sleep(REFRESH).await {
                return;
            }
        }
    }));
}

/// Reads every gauge once.
pub async fn refresh(state: &AppState) -> Result<(), StoreError> {
    let store = &state.store;
    let now_ms = chrono::Utc::now().timestamp_millis() as f64;
    for (queue, key, unit) in queues() {
        let now = match unit {
            Unit::Seconds => now_ms / 1000.0,
            Unit::Millis => now_ms,
        };
        let total = store.zcard(&key).await?;
        let due = store.zcount(&key, f64::NEG_INFINITY, now).await?;
        metrics::gauge!("due_queue_depth", "queue" => queue).set(due as f64);
        match queue {
            "number_checks" => {
                metrics::gauge!("number_check_jobs", "state" => "due").set(due as f64);
                metrics::gauge!("number_check_jobs", "state" => "waiting")
                    .set(total.saturating_sub(due) as f64);
            }
            "event_deliveries" => {
                metrics::gauge!("event_deliveries_pending").set(total as f64);
            }
            _ => {}
        }
    }
    for provider in state.providers.providers() {
        let value = state.breakers.state_gauge(provider).await?;
        metrics::gauge!("vendor_circuit_state", "provider" => provider.as_str()).set(value);
    }
    Ok(())
}
