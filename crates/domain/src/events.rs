//! Domain events: what the vendor's webhooks (and the gateway's own capabilities) tell tenants,
//! in the gateway's vocabulary. Vendor codes are mapped to readable enums here; reading the
//! vendor's JSON and storing events happen elsewhere.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every event type, as the `type` field and the `event:` line of the stream show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "account.status_changed")]
    AccountStatusChanged,
    #[serde(rename = "account.online_status_changed")]
    AccountOnlineStatusChanged,
    #[serde(rename = "registration.completed")]
    RegistrationCompleted,
    #[serde(rename = "registration.failed")]
    RegistrationFailed,
    #[serde(rename = "session.login_succeeded")]
    SessionLoginSucceeded,
    #[serde(rename = "session.login_failed")]
    SessionLoginFailed,
    #[serde(rename = "scan_task.updated")]
    ScanTaskUpdated,
    #[serde(rename = "number_check.completed")]
    NumberCheckCompleted,
    #[serde(rename = "chat_action.completed")]
    ChatActionCompleted,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::AccountStatusChanged,
        EventType::AccountOnlineStatusChanged,
        EventType::RegistrationCompleted,
        EventType::RegistrationFailed,
        EventType::SessionLoginSucceeded,
        EventType::SessionLoginFailed,
        EventType::ScanTaskUpdated,
        EventType::NumberCheckCompleted,
        EventType::ChatActionCompleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::AccountStatusChanged => "account.status_changed",
            EventType::AccountOnlineStatusChanged => "account.online_status_changed",
            EventType::RegistrationCompleted => "registration.completed",
            EventType::RegistrationFailed => "registration.failed",
            EventType::SessionLoginSucceeded => "session.login_succeeded",
            EventType::SessionLoginFailed => "session.login_failed",
            EventType::ScanTaskUpdated => "scan_task.updated",
            EventType::NumberCheckCompleted => "number_check.completed",
            EventType::ChatActionCompleted => "chat_action.completed",
        }
    }

    pub fn parse(value: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A WhatsApp customer-service account, by its number (digits).
    Account,
    /// A login session on a cloud port, by the vendor's session id.
    Session,
    /// A registration, by the phone number registered (digits).
    Registration,
    /// A PC scan task, by the vendor's task id.
    ScanTask,
    /// A number check job of the gateway.
    NumberCheck,
    /// A chat action, by its id.
    ChatAction,
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Subject {
    pub kind: SubjectKind,
    #[schema(example = "8617633819542")]
    pub id: String,
}

/// Account status (`status` of the account-status webhook: 1 normal, 2 banned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Normal,
    Banned,
    Unknown,
}

impl AccountStatus {
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Normal,
            2 => Self::Banned,
            _ => Self::Unknown,
        }
    }
}

/// Login state of an account (`onlineStatus`: 1 logging in, 2 online, 3 logging out, 4 offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginState {
    LoggingIn,
    Online,
    LoggingOut,
    Offline,
    Unknown,
}

impl LoginState {
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::LoggingIn,
            2 => Self::Online,
            3 => Self::LoggingOut,
            4 => Self::Offline,
            _ => Self::Unknown,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LoggingIn => "logging_in",
            Self::Online => "online",
            Self::LoggingOut => "logging_out",
            Self::Offline => "offline",
            Self::Unknown => "unknown",
        }
    }
}

/// Why a login failed or an account went offline (account-status `reason` 1001..1004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// 1001: pairing failed, the QR code must be scanned again.
    PairingFailed,
    /// 1002: network error, another IP is needed.
    NetworkError,
    /// 1003: pair codes were requested too often.
    PairCodeTooFrequent,
    /// 1004: logged out.
    LoggedOut,
    /// Any other code the vendor sends.
    Other,
}

impl FailureReason {
    /// `None` for an empty reason ("no failure").
    pub fn from_vendor(reason: &str) -> Option<Self> {
        match reason.trim() {
            "" | "0" => None,
            "1001" => Some(Self::PairingFailed),
            "1002" => Some(Self::NetworkError),
            "1003" => Some(Self::PairCodeTooFrequent),
            "1004" => Some(Self::LoggedOut),
            _ => Some(Self::Other),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PairingFailed => "pairing_failed",
            Self::NetworkError => "network_error",
            Self::PairCodeTooFrequent => "pair_code_too_frequent",
            Self::LoggedOut => "logged_out",
            Self::Other => "other",
        }
    }
}

/// Online status of the online-status webhook (10 online, 20 disconnected, 30 offline, 40 banned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnlineStatus {
    Online,
    Disconnected,
    Offline,
    Banned,
    Unknown,
}

impl OnlineStatus {
    /// Reads `status`, falling back to the tens of `detailStatus` when `status` is not one of
    /// the table's values (the document's example sends `status: 1` with `detailStatus: 11`).
    pub fn from_codes(status: i64, detail: Option<i64>) -> Self {
        let by_status = |code: i64| match code {
            10 => Some(Self::Online),
            20 => Some(Self::Disconnected),
            30 => Some(Self::Offline),
            40 => Some(Self::Banned),
            _ => None,
        };
        by_status(status)
            .or_else(|| detail.and_then(|d| by_status(d / 10 * 10)))
            .unwrap_or(Self::Unknown)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Disconnected => "disconnected",
            Self::Offline => "offline",
            Self::Banned => "banned",
            Self::Unknown => "unknown",
        }
    }
}

/// `detailStatus` of the online-status webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnlineDetail {
    /// 11.
    PcQrLogin,
    /// 12.
    PcOnline,
    /// 21.
    PcDisconnected,
    /// 31.
    PcAccountClosed,
    /// 32.
    PcClientClosed,
    /// 33.
    PcMonitorOffline,
    /// 41.
    Banned,
    Unknown,
}

impl OnlineDetail {
    pub fn from_code(code: i64) -> Self {
        match code {
            11 => Self::PcQrLogin,
            12 => Self::PcOnline,
            21 => Self::PcDisconnected,
            31 => Self::PcAccountClosed,
            32 => Self::PcClientClosed,
            33 => Self::PcMonitorOffline,
            41 => Self::Banned,
            _ => Self::Unknown,
        }
    }
}

/// `platformType`: 1 PC, 2 Android.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Pc,
    Android,
    Unknown,
}

impl Platform {
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::Pc,
            2 => Self::Android,
            _ => Self::Unknown,
        }
    }
}

/// Status of a PC scan task (`taskStatus` 70..90).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanTaskStatus {
    /// 70.
    ScanSucceeded,
    /// 71.
    ScanTimeout,
    /// 80.
    LoginSucceeded,
    /// 83.
    QrCodeTimeoutUnreported,
    /// 84.
    LoginTimeout,
    /// 85.
    NoPortAvailable,
    /// 90.
    AccountBanned,
    Unknown,
}

impl ScanTaskStatus {
    pub fn from_code(code: i64) -> Self {
        match code {
            70 => Self::ScanSucceeded,
            71 => Self::ScanTimeout,
            80 => Self::LoginSucceeded,
            83 => Self::QrCodeTimeoutUnreported,
            84 => Self::LoginTimeout,
            85 => Self::NoPortAvailable,
            90 => Self::AccountBanned,
            _ => Self::Unknown,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ScanSucceeded => "scan_succeeded",
            Self::ScanTimeout => "scan_timeout",
            Self::LoginSucceeded => "login_succeeded",
            Self::QrCodeTimeoutUnreported => "qr_code_timeout_unreported",
            Self::LoginTimeout => "login_timeout",
            Self::NoPortAvailable => "no_port_available",
            Self::AccountBanned => "account_banned",
            Self::Unknown => "unknown",
        }
    }

    /// No further update follows.
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::ScanSucceeded | Self::Unknown)
    }
}

/// `account.status_changed` (account-status webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountStatusChanged {
    #[schema(example = "8218132718231")]
    pub account: String,
    pub status: AccountStatus,
    pub login_state: LoginState,
    pub reason: Option<FailureReason>,
    /// The vendor's reason code as sent (`"1001"`), when there is one.
    pub reason_code: Option<String>,
    /// The login session (`instanceCode`), when the vendor names one.
    pub session_id: Option<String>,
}

/// `account.online_status_changed` (online-status webhook, one per record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountOnlineStatusChanged {
    pub account: String,
    pub status: OnlineStatus,
    pub detail: OnlineDetail,
    pub status_code: i64,
    pub detail_code: Option<i64>,
    /// The agent the account is bound to, if any.
    pub agent: Option<String>,
    pub platform: Platform,
    /// When the vendor saw the change.
    pub observed_at: Option<DateTime<Utc>>,
}

/// `registration.completed` / `registration.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationResult {
    #[schema(example = "861821726232")]
    pub phone: String,
}

/// `session.login_succeeded` / `session.login_failed` (QR login webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionLogin {
    #[schema(example = "ad518a4271fa43c8937612c5f60396f8")]
    pub session_id: String,
    /// The number that logged in, when known.
    pub account: Option<String>,
}

/// `scan_task.updated` (scan-task webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScanTaskUpdated {
    pub task_id: String,
    pub status: ScanTaskStatus,
    pub status_code: i64,
    /// No further update follows.
    pub is_final: bool,
    pub account: Option<String>,
    /// The vendor's agent id (`userId`), as a string.
    pub agent_id: Option<String>,
    pub observed_at: Option<DateTime<Utc>>,
}

/// `number_check.completed`, published by the number-check capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NumberCheckCompleted {
    pub job_id: String,
    /// `completed`, `failed`, `cancelled`, ...
    pub status: String,
    /// Capability-defined summary (counts, result links).
    #[serde(default)]
    pub summary: serde_json::Value,
}

/// `chat_action.completed`, published by the chat-action capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatActionCompleted {
    pub action_id: String,
    pub succeeded: bool,
    pub executed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub details: serde_json::Value,
}

/// A domain event before it is stored: what happened, to which object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DomainEvent {
    #[serde(rename = "account.status_changed")]
    AccountStatusChanged(AccountStatusChanged),
    #[serde(rename = "account.online_status_changed")]
    AccountOnlineStatusChanged(AccountOnlineStatusChanged),
    #[serde(rename = "registration.completed")]
    RegistrationCompleted(RegistrationResult),
    #[serde(rename = "registration.failed")]
    RegistrationFailed(RegistrationResult),
    #[serde(rename = "session.login_succeeded")]
    SessionLoginSucceeded(SessionLogin),
    #[serde(rename = "session.login_failed")]
    SessionLoginFailed(SessionLogin),
    #[serde(rename = "scan_task.updated")]
    ScanTaskUpdated(ScanTaskUpdated),
    #[serde(rename = "number_check.completed")]
    NumberCheckCompleted(NumberCheckCompleted),
    #[serde(rename = "chat_action.completed")]
    ChatActionCompleted(ChatActionCompleted),
}

/// The latest known state of an object, as a projection keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateChange {
    /// `online`, `offline`, `banned`, `completed`, `failed`, `logged_in`, `login_failed`,
    /// a scan-task status, ...
    pub status: String,
    pub reason: Option<String>,
}

impl DomainEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::AccountStatusChanged(_) => EventType::AccountStatusChanged,
            Self::AccountOnlineStatusChanged(_) => EventType::AccountOnlineStatusChanged,
            Self::RegistrationCompleted(_) => EventType::RegistrationCompleted,
            Self::RegistrationFailed(_) => EventType::RegistrationFailed,
            Self::SessionLoginSucceeded(_) => EventType::SessionLoginSucceeded,
            Self::SessionLoginFailed(_) => EventType::SessionLoginFailed,
            Self::ScanTaskUpdated(_) => EventType::ScanTaskUpdated,
            Self::NumberCheckCompleted(_) => EventType::NumberCheckCompleted,
            Self::ChatActionCompleted(_) => EventType::ChatActionCompleted,
        }
    }

    pub fn subject(&self) -> Subject {
        let (kind, id) = match self {
            Self::AccountStatusChanged(e) => (SubjectKind::Account, &e.account),
            Self::AccountOnlineStatusChanged(e) => (SubjectKind::Account, &e.account),
            Self::RegistrationCompleted(e) | Self::RegistrationFailed(e) => {
                (SubjectKind::Registration, &e.phone)
            }
            Self::SessionLoginSucceeded(e) | Self::SessionLoginFailed(e) => {
                (SubjectKind::Session, &e.session_id)
            }
            Self::ScanTaskUpdated(e) => (SubjectKind::ScanTask, &e.task_id),
            Self::NumberCheckCompleted(e) => (SubjectKind::NumberCheck, &e.job_id),
            Self::ChatActionCompleted(e) => (SubjectKind::ChatAction, &e.action_id),
        };
        Subject {
            kind,
            id: id.clone(),
        }
    }

    /// The event's `data` member.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// The state this event leaves its subject in, for the per-object projection.
    pub fn state_change(&self) -> StateChange {
        let (status, reason) = match self {
            Self::AccountStatusChanged(e) => (
                if e.status == AccountStatus::Banned {
                    "banned"
                } else {
                    e.login_state.as_str()
                },
                e.reason.map(FailureReason::as_str),
            ),
            Self::AccountOnlineStatusChanged(e) => (e.status.as_str(), None),
            Self::RegistrationCompleted(_) => ("completed", None),
            Self::RegistrationFailed(_) => ("failed", None),
            Self::SessionLoginSucceeded(_) => ("logged_in", None),
            Self::SessionLoginFailed(_) => ("login_failed", None),
            Self::ScanTaskUpdated(e) => (e.status.as_str(), None),
            Self::NumberCheckCompleted(e) => (e.status.as_str(), None),
            Self::ChatActionCompleted(e) => {
                (if e.succeeded { "succeeded" } else { "failed" }, None)
            }
        };
        StateChange {
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
        }
    }
}

/// A stored event, as the feed, the stream and deliveries show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "evt_01928f6b7c2d7e3a9b1c4d5e6f708192",
    "type": "registration.completed",
    "time": "2025-06-01T08:30:00.123Z",
    "tenant": "acme",
    "subject": {"kind": "registration", "id": "861821726232"},
    "data": {"phone": "861821726232"}
}))]
pub struct Event {
    /// Unique, time-ordered; also the `webhook-id` of its deliveries.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the gateway recorded the event (RFC 3339, UTC).
    pub time: DateTime<Utc>,
    pub tenant: String,
    pub subject: Subject,
    /// Type-specific payload (see the event types in the docs).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(id: String, time: DateTime<Utc>, tenant: String, event: &DomainEvent) -> Self {
        Self {
            id,
            event_type: event.event_type(),
            time,
            tenant,
            subject: event.subject(),
            data: event.data(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_readable_values() {
        assert_eq!(
            FailureReason::from_vendor("1001"),
            Some(FailureReason::PairingFailed)
        );
        assert_eq!(
            FailureReason::from_vendor("1004"),
            Some(FailureReason::LoggedOut)
        );
        assert_eq!(FailureReason::from_vendor(""), None);
        assert_eq!(
            ScanTaskStatus::from_code(85),
            ScanTaskStatus::NoPortAvailable
        );
        assert!(ScanTaskStatus::from_code(90).is_final());
        assert!(!ScanTaskStatus::from_code(70).is_final());
        assert_eq!(
            OnlineStatus::from_codes(30, Some(32)),
            OnlineStatus::Offline
        );
        // The document's example: status 1, detail 11.
        assert_eq!(OnlineStatus::from_codes(1, Some(11)), OnlineStatus::Online);
        assert_eq!(OnlineStatus::from_codes(1, None), OnlineStatus::Unknown);
    }

    #[test]
    fn events_carry_type_subject_and_data() {
        let event = DomainEvent::RegistrationCompleted(RegistrationResult {
            phone: "861821726232".into(),
        });
        assert_eq!(event.event_type().as_str(), "registration.completed");
        assert_eq!(
            event.subject(),
            Subject {
                kind: SubjectKind::Registration,
                id: "861821726232".into()
            }
        );
        assert_eq!(event.data(), serde_json::json!({"phone": "861821726232"}));
        assert_eq!(event.state_change().status, "completed");
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).expect("json"),
                serde_json::json!(t.as_str())
            );
        }
    }
}
