//! Job-end callbacks, signed per Standard Webhooks and delivered with retries.
//!
//! Headers: `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature: v1,<base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))>`. The secret is
//! the tenant's `number_checks.callback_secrets` entry; a `whsec_` prefix means the rest is base64
//! (as Standard Webhooks libraries generate), otherwise its bytes are used as they are.
//!
//! A delivery is persisted (`nc:callback:{id}`) and scheduled in `nc:callbacks:due`; failures are
//! retried with doubling delays up to `callback_max_attempts`, so a restart loses nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use egress::EgressClient;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::NumberChecksConfig;
use crate::store::{Store, StoreError};

pub(crate) const DUE: &str = "nc:callbacks:due";

fn key(id: &str) -> String {
    format!("nc:callback:{id}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub tenant: String,
    pub url: String,
    pub body: String,
    pub attempts: u32,
}

pub fn secret_bytes(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .unwrap_or_else(|_| secret.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    }
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Persists and schedules a delivery; enqueuing the same id again changes nothing.
pub async fn enqueue(store: &Store, delivery: &Delivery) -> Result<(), StoreError> {
    let bytes =
        serde_json::to_vec(delivery).map_err(|e| StoreError::invalid(format!("callback: {e}")))?;
    if store.set_nx(&key(&delivery.id), &bytes, None).await? {
        store.zadd(DUE, &delivery.id, now_secs()).await?;
    }
    Ok(())
}

fn now_secs() -> f64 {
    Utc::now().timestamp_millis() as f64 / 1000.0
}

/// Delivers the callbacks that are due; returns how many were attempted.
pub async fn deliver_due(
    store: &Store,
    http: &EgressClient,
    config: &NumberChecksConfig,
) -> Result<usize, StoreError> {
    let ids = store.zclaim_due(DUE, now_secs(), 60.0, 16).await?;
    for id in &ids {
        let Some(mut delivery) = store.get_json::<Delivery>(&key(id)).await? else {
            store.zrem(DUE, id).await?;
            continue;
        };
        let ok = attempt(http, config, &delivery).await;
        delivery.attempts += 1;
        if ok {
            metrics::counter!("number_checks_callbacks_total", "outcome" => "delivered")
                .increment(1);
            store.zrem(DUE, id).await?;
            store.delete(&key(id)).await?;
        } else if delivery.attempts >= config.callback_max_attempts {
            metrics::counter!("number_checks_callbacks_total", "outcome" => "given_up")
                .increment(1);
            tracing::warn!(callback = %id, attempts = delivery.attempts, "callback given up");
            store.zrem(DUE, id).await?;
            store
                .set_json(&key(id), &delivery, Some(config.job_ttl))
                .await?;
        } else {
            metrics::counter!("number_checks_callbacks_total", "outcome" => "retry").increment(1);
            let delay = config.callback_retry_base.as_secs_f64()
                * 2f64.powi(delivery.attempts.saturating_sub(1).min(16) as i32);
            store.set_json(&key(id), &delivery, None).await?;
            store.zadd(DUE, id, now_secs() + delay).await?;
        }
    }
    Ok(ids.len())
}

async fn attempt(http: &EgressClient, config: &NumberChecksConfig, delivery: &Delivery) -> bool {
    // The policy is applied again at delivery: the allow-list may have changed since the job was
    // accepted, and a name is resolved (and its addresses checked) only now.
    let request = match http.request(reqwest::Method::POST, &delivery.url) {
        Ok(request) => request,
        Err(refusal) => {
            tracing::warn!(callback = %delivery.id, rule = %refusal.rule, "callback URL refused by the outbound URL policy; not sent");
            return false;
        }
    };
    let Some(secret) = config.callback_secrets.get(&delivery.tenant) else {
        tracing::warn!(callback = %delivery.id, "no callback secret for the tenant; not sent");
        return false;
    };
    let timestamp = Utc::now().timestamp();
    let signature = sign(
        &secret_bytes(secret.expose_secret()),
        &delivery.id,
        timestamp,
        &delivery.body,
    );
    let sent = request
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => true,
        Ok(resp) => {
            tracing::info!(callback = %delivery.id, status = resp.status().as_u16(), "callback refused");
            false
        }
        Err(e) => match egress::refusal_of(&e) {
            Some(refusal) => {
                tracing::warn!(callback = %delivery.id, rule = %refusal.rule, "callback host refused by the outbound URL policy; not sent");
                false
            }
            None => {
                tracing::info!(callback = %delivery.id, error = %e, "callback failed");
                false
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_standard_webhooks() {
        // Test vector of the Standard Webhooks reference libraries.
        let secret = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
