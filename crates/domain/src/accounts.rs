//! Customer-service WhatsApp accounts, registrations, login sessions on cloud ports, contacts,
//! scan tasks and chat actions, and the account lifecycle state machine. No I/O.
//!
//! Numbers are written as E.164 strings (`+8613800138000`); vendor ids are strings (some are
//! 64-bit integers a JavaScript client would round).

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether the vendor lets the account work at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Normal,
    Banned,
}

impl AccountStatus {
    /// Vendor `status`: 1 normal, 2 banned.
    pub fn from_vendor(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Normal),
            2 => Some(Self::Banned),
            _ => None,
        }
    }
}

/// Connection state of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnlineStatus {
    LoggingIn,
    Online,
    LoggingOut,
    Offline,
}

impl OnlineStatus {
    /// Vendor `onlineStatus`: 1 logging in, 2 online, 3 logging out, 4 offline.
    pub fn from_vendor(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::LoggingIn),
            2 => Some(Self::Online),
            3 => Some(Self::LoggingOut),
            4 => Some(Self::Offline),
            _ => None,
        }
    }
}

/// One account as the vendor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"number": "+8613800138000", "status": "normal", "online_status": "online"}))]
pub struct AccountState {
    pub number: String,
    pub status: AccountStatus,
    pub online_status: OnlineStatus,
}

/// Personal or business WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Personal,
    Business,
}

impl AccountType {
    pub fn vendor_code(self) -> i64 {
        match self {
            Self::Personal => 1,
            Self::Business => 2,
        }
    }
}

/// Key material of an account. Secret: never logged, echoed or cached (`Debug` hides it).
#[derive(Debug, Clone)]
pub struct AccountKeys {
    pub public_key: SecretString,
    pub private_key: SecretString,
    pub msg_public_key: SecretString,
    pub msg_private_key: SecretString,
    pub next_key_id: Option<String>,
    pub registration_id: Option<String>,
    pub device_params: Option<SecretString>,
}

/// An account to import or bring online, with its keys.
#[derive(Debug, Clone)]
pub struct AccountCredentials {
    /// Digits with country code, no `+`.
    pub number_digits: String,
    pub account_type: AccountType,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub account_id: Option<String>,
    pub keys: AccountKeys,
}

/// Where an avatar/nickname change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfileChannel {
    /// A physical device (vendor `type` 0).
    Device,
    /// A cloud port (vendor `type` 1); the account must be online.
    CloudPort,
}

/// How the vendor sends the registration code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationType {
    Sms,
    Voice,
    MissedCall,
    Internal,
}

impl VerificationType {
    pub fn vendor_code(self) -> i64 {
        match self {
            Self::Sms => 0,
            Self::Voice => 1,
            Self::MissedCall => 2,
            Self::Internal => 3,
        }
    }
}

/// A registration request as the vendor takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequest {
    /// National number, digits only.
    pub national_digits: String,
    /// Calling code with `+`, e.g. `+86`.
    pub area_code: String,
    /// ISO region, e.g. `CN`.
    pub country_code: String,
    pub verification: VerificationType,
    pub account_type: AccountType,
}

/// A cloud port type for a login session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortType {
    /// Vendor `type` 1.
    Pc,
    /// Vendor `type` 2; needs a pairing target.
    CloudPc,
}

impl PortType {
    pub fn vendor_code(self) -> i64 {
        match self {
            Self::Pc => 1,
            Self::CloudPc => 2,
        }
    }
}

/// A pairing target for cloud-PC sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "1001", "name": "Shenzhen team", "created_at": "2025-01-02T03:04:05Z"}))]
pub struct PairTarget {
    pub id: String,
    pub name: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// Which pair code the vendor generates (`isEasy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairCodeMode {
    /// WhatsApp's own eight characters (`n`).
    Native,
    /// Easy to type, `PPPP-1111` (`y`).
    Easy,
    /// Always `88888888` (`b`, the vendor default).
    #[default]
    Eights,
}

impl PairCodeMode {
    pub fn vendor_code(self) -> &'static str {
        match self {
            Self::Native => "n",
            Self::Easy => "y",
            Self::Eights => "b",
        }
    }
}

/// A QR payload and, for pair-code logins, the code to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginCodes {
    pub qr_code: String,
    pub pair_code: Option<String>,
}

/// What the vendor says about a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionReport {
    pub logged_in: bool,
    pub agent: Option<String>,
    pub number: Option<String>,
}

/// Cloud port quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PortQuota {
    pub used: u64,
    pub max: u64,
}

/// State of a cloud port: `online` / `disconnected` as the vendor reports a logged-in number,
/// `unused` when no number is on it yet, `unknown` for codes the vendor adds later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortStatus {
    Online,
    Disconnected,
    Unused,
    Unknown,
}

impl PortStatus {
    /// Document 001 (port details): `10` online, `20` disconnected, `null` for a port that holds
    /// no number.
    pub fn from_vendor(code: Option<i64>, has_number: bool) -> Self {
        match code {
            Some(10) => Self::Online,
            Some(20) => Self::Disconnected,
            None if !has_number => Self::Unused,
            _ => Self::Unknown,
        }
    }
}

/// One cloud port in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "8639164839053938688", "number": "+8613800138000", "status": "online", "created_at": "2025-01-02T03:04:05Z"}))]
pub struct PortDetail {
    /// Vendor port id (a 64-bit number, as a string).
    pub id: String,
    /// E.164; absent while the port holds no number.
    pub number: Option<String>,
    pub status: PortStatus,
    pub created_at: Option<DateTime<Utc>>,
}

/// A contact of a logged-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"number": "+8613900139000", "push_name": "Li", "is_friend": true, "first_name": "Lei", "full_name": "Li Lei"}))]
pub struct Contact {
    pub number: String,
    pub push_name: Option<String>,
    pub is_friend: Option<bool>,
    pub first_name: Option<String>,
    pub full_name: Option<String>,
}

/// The profile of a logged-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    pub number: String,
    pub is_business: Option<bool>,
    pub business_name: Option<String>,
    pub avatar_url: Option<String>,
    pub push_name: Option<String>,
    /// The "about" text.
    pub about: Option<String>,
    pub chat_count: Option<i64>,
    pub group_count: Option<i64>,
    pub last_chat_at: Option<DateTime<Utc>>,
}

/// One "open friend conversation" action as sent to the vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatActionRequest {
    pub vendor_tenant_id: i64,
    pub agent_account: String,
    /// Digits; `None` lets the vendor pick an online account of the agent.
    pub whatsapp_digits: Option<String>,
    pub friend_digits: String,
    pub platform: ChatPlatform,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatPlatform {
    Pc,
    Android,
}

impl ChatPlatform {
    pub fn vendor_code(self) -> i64 {
        match self {
            Self::Pc => 1,
            Self::Android => 2,
        }
    }
}

/// Result of a chat action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Pending,
    Succeeded,
    Failed,
}

/// What the vendor reports about one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    pub vendor_id: String,
    pub status: ActionStatus,
    /// `None` while the vendor reports its `1970-01-01 08:00:01` placeholder.
    pub executed_at: Option<DateTime<Utc>>,
}

/// Scan-task allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanAllocation {
    Random,
    Specified,
}

// ---- lifecycle --------------------------------------------------------------

/// State of a login session (a cloud port reserved for one WhatsApp login), as the gateway last
/// saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Port reserved, no code fetched yet.
    Reserved,
    /// A QR or pair code was handed out; waiting for the phone.
    Waiting,
    /// Logged in and online.
    Online,
    /// Logged in, taken offline (port kept).
    Offline,
    /// Logged out; the port is released.
    LoggedOut,
    /// The vendor released the port (or the session is unknown to it).
    Released,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// What a caller asks of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMove {
    FetchCode,
    ReadAddressBook,
    BringOnline,
    TakeOffline,
    LogOut,
}

/// A move the current state does not allow; the caller gets 409 with `current`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} is not allowed while the {subject} is {current}")]
pub struct IllegalMove {
    pub subject: &'static str,
    pub action: &'static str,
    pub current: String,
}

impl SessionState {
    /// Whether `mv` is allowed now; on success, the state to record after the vendor agrees.
    pub fn apply(self, mv: SessionMove) -> Result<SessionState, IllegalMove> {
        use SessionMove as M;
        use SessionState as S;
        let next = match (mv, self) {
            (M::FetchCode, S::Reserved | S::Waiting) => Some(S::Waiting),
            (M::ReadAddressBook, S::Online) => Some(S::Online),
            (M::BringOnline, S::Offline | S::Online) => Some(S::Online),
            (M::TakeOffline, S::Online | S::Offline) => Some(S::Offline),
            (M::LogOut, S::Reserved | S::Waiting | S::Online | S::Offline) => Some(S::LoggedOut),
            _ => None,
        };
        next.ok_or_else(|| IllegalMove {
            subject: "session",
            action: match mv {
                M::FetchCode => "fetching a QR or pair code",
                M::ReadAddressBook => "reading contacts or the profile",
                M::BringOnline => "bringing the session online",
                M::TakeOffline => "taking the session offline",
                M::LogOut => "logging out",
            },
            current: self.to_string(),
        })
    }

    /// Whether the vendor still holds a port for this session.
    pub fn holds_port(self) -> bool {
        !matches!(self, Self::LoggedOut | Self::Released)
    }
}

/// What a caller asks of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountMove {
    BringOnline,
    Recycle,
    /// Avatar/nickname on a cloud port: the account must not be banned; whether its cloud port is
    /// online is [`check_cloud_port_online`]'s question.
    UpdateProfileOnCloudPort,
    UpdateProfileOnDevice,
}

/// Checks an account move against the last known state (`None`: unknown, allowed).
pub fn check_account_move(
    state: Option<&AccountState>,
    mv: AccountMove,
) -> Result<(), IllegalMove> {
    let Some(state) = state else { return Ok(()) };
    let refused = match mv {
        AccountMove::BringOnline => state.status == AccountStatus::Banned,
        AccountMove::UpdateProfileOnCloudPort => state.status == AccountStatus::Banned,
        AccountMove::Recycle | AccountMove::UpdateProfileOnDevice => false,
    };
    if refused {
        let current = match state.status {
            AccountStatus::Banned => "banned".to_owned(),
            AccountStatus::Normal => serde_json::to_value(state.online_status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        };
        return Err(IllegalMove {
            subject: "account",
            action: match mv {
                AccountMove::BringOnline => "bringing the account online",
                _ => "changing avatar or nickname on a cloud port",
            },
            current,
        });
    }
    Ok(())
}

/// Document 001 runs an avatar/nickname change on a cloud port only while that port is online.
/// The account's own online status does not tell: an account brought online with its keys
/// (`batchOnline`) holds no cloud port. So `number` (`+` and digits) must hold one of the
/// vendor's ports, with status online.
pub fn check_cloud_port_online(ports: &[PortDetail], number: &str) -> Result<(), IllegalMove> {
    let mut held = ports.iter().filter(|p| p.number.as_deref() == Some(number));
    let current = match held.clone().next() {
        None => "not_on_cloud_port",
        Some(_) if held.any(|p| p.status == PortStatus::Online) => return Ok(()),
        Some(_) => "cloud_port_disconnected",
    };
    Err(IllegalMove {
        subject: "account",
        action: "changing avatar or nickname on a cloud port",
        current: current.to_owned(),
    })
}

/// `+` and the digits.
pub fn plus_number(digits: &str) -> String {
    let d = digits.trim().trim_start_matches('+');
    format!("+{d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_codes_map_to_our_words() {
        assert_eq!(PortStatus::from_vendor(Some(10), true), PortStatus::Online);
        assert_eq!(
            PortStatus::from_vendor(Some(20), true),
            PortStatus::Disconnected
        );
        assert_eq!(PortStatus::from_vendor(None, false), PortStatus::Unused);
        assert_eq!(PortStatus::from_vendor(None, true), PortStatus::Unknown);
        assert_eq!(PortStatus::from_vendor(Some(30), true), PortStatus::Unknown);
    }

    #[test]
    fn session_moves() {
        assert_eq!(
            SessionState::Reserved.apply(SessionMove::FetchCode),
            Ok(SessionState::Waiting)
        );
        let e = SessionState::Online
            .apply(SessionMove::FetchCode)
            .expect_err("online");
        assert_eq!(e.current, "online");
        assert!(
            SessionState::Reserved
                .apply(SessionMove::BringOnline)
                .is_err()
        );
        assert!(SessionState::LoggedOut.apply(SessionMove::LogOut).is_err());
        assert_eq!(
            SessionState::Offline.apply(SessionMove::BringOnline),
            Ok(SessionState::Online)
        );
        assert!(
            SessionState::Waiting
                .apply(SessionMove::ReadAddressBook)
                .is_err()
        );
    }

    #[test]
    fn account_moves() {
        let banned = AccountState {
            number: "+1".into(),
            status: AccountStatus::Banned,
            online_status: OnlineStatus::Offline,
        };
        let e = check_account_move(Some(&banned), AccountMove::BringOnline).expect_err("banned");
        assert_eq!(e.current, "banned");
        assert!(check_account_move(Some(&banned), AccountMove::Recycle).is_ok());
        assert!(check_account_move(None, AccountMove::BringOnline).is_ok());
        let offline = AccountState {
            status: AccountStatus::Normal,
            ..banned.clone()
        };
        assert!(check_account_move(Some(&offline), AccountMove::UpdateProfileOnCloudPort).is_ok());
        assert!(check_account_move(Some(&banned), AccountMove::UpdateProfileOnCloudPort).is_err());
        assert_eq!(plus_number("86138"), "+86138");
    }

    #[test]
    fn avatar_changes_on_a_cloud_port_need_the_port_online() {
        let port = |number: &str, status| PortDetail {
            id: "1".into(),
            number: Some(number.into()),
            status,
            created_at: None,
        };
        let ports = [
            port("+8613800138000", PortStatus::Online),
            port("+8613800138001", PortStatus::Disconnected),
            port("+8613800138002", PortStatus::Unknown),
        ];
        assert!(check_cloud_port_online(&ports, "+8613800138000").is_ok());
        let e = check_cloud_port_online(&ports, "+8613800138001").expect_err("disconnected");
        assert_eq!(e.current, "cloud_port_disconnected");
        assert!(check_cloud_port_online(&ports, "+8613800138002").is_err());
        let e = check_cloud_port_online(&ports, "+8613900139000").expect_err("no port");
        assert_eq!(e.current, "not_on_cloud_port");
    }
}
