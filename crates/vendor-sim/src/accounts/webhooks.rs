//! The five webhooks the vendor POSTs to the gateway: their paths, their payloads (quirks included)
//! and their delivery. Deliveries of state changes run in a spawned task, one batch in order, so a
//! request that caused them is not slowed down; failures are logged and recorded, never fatal.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::AccountsConfig;

pub const ONLINE_STATUS_PATH: &str = "/api/callback/whatsapp/onlineStatus";
pub const ACCOUNT_STATUS_PATH: &str = "/callback/gsTask/syncWhatsAppStatus";
pub const REGISTRATION_STATUS_PATH: &str = "/group-dispatch-api/register/syncStatus";
pub const QR_LOGIN_PATH: &str = "/wscrm-bus-api/open/qrCode/syncLoginStatus";
/// The document gives the scan-task webhook no path ("baseURL+uri"); this is the default choice,
/// next to the QR login webhook, and [`AccountsConfig::scan_task_webhook_path`] changes it.
pub const DEFAULT_SCAN_TASK_PATH: &str = "/wscrm-bus-api/open/qrCodeTask/syncStatus";

/// How many deliveries the log keeps.
const LOG_CAPACITY: usize = 500;

/// The five webhooks of document 001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookKind {
    /// `WA_SYNC_ON_OR_OFF_LINE_STATUS`.
    OnlineStatus,
    /// `CHANNEL_SYNC_STATUS`.
    AccountStatus,
    /// `CHANNEL_REGISTER_STATUS`.
    RegistrationStatus,
    /// `WA_SYNC_QR_LOGIN_STATUS`.
    QrLogin,
    /// `SCAN_TASK_STATUS_SYNC`.
    ScanTask,
}

impl WebhookKind {
    pub const ALL: [Self; 5] = [
        Self::OnlineStatus,
        Self::AccountStatus,
        Self::RegistrationStatus,
        Self::QrLogin,
        Self::ScanTask,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Self::OnlineStatus => "online-status",
            Self::AccountStatus => "account-status",
            Self::RegistrationStatus => "registration-status",
            Self::QrLogin => "qr-login",
            Self::ScanTask => "scan-task",
        }
    }

    pub fn from_slug(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == s)
    }

    /// The documented path; `None` for the scan-task webhook, whose path is configured.
    pub fn fixed_path(self) -> Option<&'static str> {
        match self {
            Self::OnlineStatus => Some(ONLINE_STATUS_PATH),
            Self::AccountStatus => Some(ACCOUNT_STATUS_PATH),
            Self::RegistrationStatus => Some(REGISTRATION_STATUS_PATH),
            Self::QrLogin => Some(QR_LOGIN_PATH),
            Self::ScanTask => None,
        }
    }

    pub fn path(self, config: &AccountsConfig) -> String {
        self.fixed_path()
            .map_or_else(|| config.scan_task_webhook_path.clone(), str::to_owned)
    }
}

/// The online-status webhook's table wraps records in `{"whatsAppList": [...]}`; its example sends
/// the bare array. The simulator sends either, or both in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnlineStatusEnvelope {
    /// Bare array first, then the wrapped form, and so on.
    #[default]
    Alternate,
    BareArray,
    Wrapped,
}

impl OnlineStatusEnvelope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "alternate" => Some(Self::Alternate),
            "array" | "bare" | "bare-array" => Some(Self::BareArray),
            "wrapped" | "whatsAppList" | "object" => Some(Self::Wrapped),
            _ => None,
        }
    }
}

/// One online-status record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OnlineRecord {
    pub whats_id: String,
    /// 10 online, 20 disconnected, 30 offline, 40 banned.
    pub status: i64,
    /// 11, 12, 21, 31, 32, 33, 41.
    pub detail_status: i64,
    pub account: String,
    pub platform_type: i64,
    pub time: String,
}

pub fn account_status_body(
    whatsapp: &str,
    status: i64,
    online_status: i64,
    reason: &str,
    instance_code: &str,
) -> Value {
    json!({
        "whatsApp": whatsapp,
        "status": status,
        "onlineStatus": online_status,
        "reason": reason,
        "instanceCode": instance_code,
    })
}

/// `status` goes out as the string `"1"` / `"0"`, as in the document's example (its table says int).
pub fn registration_body(phone: &str, success: bool) -> Value {
    json!({"phone": phone, "status": if success { "1" } else { "0" }})
}

pub fn qr_login_body(id: &str, whatsapp: &str, success: bool) -> Value {
    json!({"id": id, "whatsapp": whatsapp, "status": i64::from(success)})
}

pub fn scan_task_body(
    task_id: &str,
    user_id: i64,
    task_status: i64,
    whatsapp: &str,
    update_ms: i64,
) -> Value {
    json!({
        "taskId": task_id,
        "userId": user_id,
        "taskStatus": task_status,
        "whatsapp": whatsapp,
        "updateTime": update_ms,
    })
}

/// A webhook ready to go: the online-status body is still a record list, wrapped at send time.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Online(Vec<OnlineRecord>),
    Body(WebhookKind, Value),
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What the log keeps of a webhook.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRecord {
    pub seq: u64,
    pub kind: WebhookKind,
    pub path: String,
    pub body: Value,
    pub at: DateTime<Utc>,
    pub outcome: Delivery,
}

/// Webhook sender and log.
#[derive(Debug)]
pub struct Webhooks {
    client: Option<reqwest::Client>,
    target: Option<String>,
    headers: Vec<(String, String)>,
    envelope: OnlineStatusEnvelope,
    scan_task_path: String,
    online_count: AtomicU64,
    seq: AtomicU64,
    log: Mutex<VecDeque<WebhookRecord>>,
}

impl Webhooks {
    pub fn new(config: &AccountsConfig) -> Self {
        let client = match reqwest::Client::builder()
            .timeout(config.webhook_timeout)
            .build()
        {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks will not be sent");
                None
            }
        };
        Self {
            client,
            target: config
                .webhook_target
                .as_ref()
                .map(|t| t.trim_end_matches('/').to_owned()),
            headers: config.webhook_headers.clone(),
            envelope: config.online_status_envelope,
            scan_task_path: config.scan_task_webhook_path.clone(),
            online_count: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }

    fn path(&self, kind: WebhookKind) -> String {
        kind.fixed_path()
            .map_or_else(|| self.scan_task_path.clone(), str::to_owned)
    }

    /// The records in the envelope chosen by `explicit`, or by the configured policy.
    pub fn wrap_online(&self, records: Value, explicit: Option<OnlineStatusEnvelope>) -> Value {
        let policy = explicit.unwrap_or(self.envelope);
        let wrapped = match policy {
            OnlineStatusEnvelope::BareArray => false,
            OnlineStatusEnvelope::Wrapped => true,
            OnlineStatusEnvelope::Alternate => {
                self.online_count.fetch_add(1, Ordering::SeqCst) % 2 == 1
            }
        };
        if wrapped {
            json!({ "whatsAppList": records })
        } else {
            records
        }
    }

    fn finish(&self, outgoing: Outgoing) -> (WebhookKind, Value) {
        match outgoing {
            Outgoing::Online(records) => {
                let list = serde_json::to_value(records).unwrap_or_else(|_| json!([]));
                (WebhookKind::OnlineStatus, self.wrap_online(list, None))
            }
            Outgoing::Body(kind, body) => (kind, body),
        }
    }

    /// Sends a batch in order from a spawned task. Outside a Tokio runtime (a unit test driving the
    /// state directly) the batch is recorded as not sent.
    pub fn dispatch(self: &std::sync::Arc<Self>, batch: Vec<Outgoing>) {
        if batch.is_empty() {
            return;
        }
        let finished: Vec<(WebhookKind, Value)> =
            batch.into_iter().map(|o| self.finish(o)).collect();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let me = std::sync::Arc::clone(self);
                handle.spawn(async move {
                    for (kind, body) in finished {
                        me.deliver(kind, body).await;
                    }
                });
            }
            Err(_) => {
                for (kind, body) in finished {
                    self.record(kind, body, failed("no async runtime to send from"));
                }
            }
        }
    }

    /// Sends one webhook now and reports how it went.
    pub async fn deliver(&self, kind: WebhookKind, body: Value) -> WebhookRecord {
        let path = self.path(kind);
        let outcome = match (&self.target, &self.client) {
            (None, _) => failed("no webhook_target configured"),
            (Some(_), None) => failed("no HTTP client"),
            (Some(target), Some(client)) => {
                let mut req = client.post(format!("{target}{path}")).json(&body);
                for (k, v) in &self.headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                match req.send().await {
                    Ok(res) => {
                        let status = res.status();
                        let text = res.text().await.unwrap_or_default();
                        if !status.is_success() {
                            tracing::warn!(webhook = kind.slug(), %status, "webhook answered with an error status");
                        }
                        Delivery {
                            delivered: status.is_success(),
                            http_status: Some(status.as_u16()),
                            response_body: Some(text),
                            error: None,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(webhook = kind.slug(), error = %e, "webhook delivery failed");
                        failed(&e.to_string())
                    }
                }
            }
        };
        self.record(kind, body, outcome)
    }

    fn record(&self, kind: WebhookKind, body: Value, outcome: Delivery) -> WebhookRecord {
        let rec = WebhookRecord {
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            kind,
            path: self.path(kind),
            body,
            at: Utc::now(),
            outcome,
        };
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(rec.clone());
        rec
    }

    pub fn log(&self) -> Vec<WebhookRecord> {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.iter().cloned().collect()
    }

    pub fn clear_log(&self) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

fn failed(msg: &str) -> Delivery {
    Delivery {
        delivered: false,
        http_status: None,
        response_body: None,
        error: Some(msg.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternates_envelopes() {
        let w = Webhooks::new(&AccountsConfig::default());
        let a = w.wrap_online(json!([]), None);
        let b = w.wrap_online(json!([]), None);
        let c = w.wrap_online(json!([]), None);
        assert!(a.is_array());
        assert!(b.get("whatsAppList").is_some_and(Value::is_array));
        assert!(c.is_array());
        assert!(
            w.wrap_online(json!([]), Some(OnlineStatusEnvelope::Wrapped))
                .is_object()
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in WebhookKind::ALL {
            assert_eq!(WebhookKind::from_slug(k.slug()), Some(k));
        }
        assert_eq!(registration_body("1", true)["status"], json!("1"));
    }
}
