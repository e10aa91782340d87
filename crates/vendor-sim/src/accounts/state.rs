//! The simulated tenant: customer-service accounts, registrations, login sessions on cloud ports,
//! friend-chat actions and PC scan tasks, with the time-driven rules applied by [`State::settle`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AccountsConfig;
use super::fake::{Draw, snowflake};

/// Account `status`.
pub const STATUS_NORMAL: i64 = 1;
pub const STATUS_BANNED: i64 = 2;

/// Account `onlineStatus`.
pub const ONLINE_LOGGING_IN: i64 = 1;
pub const ONLINE_ONLINE: i64 = 2;
pub const ONLINE_LOGGING_OUT: i64 = 3;
pub const ONLINE_OFFLINE: i64 = 4;

/// Action `executeStatus`.
pub const EXEC_PENDING: i64 = 0;
pub const EXEC_SUCCESS: i64 = 1;
pub const EXEC_FAILED: i64 = 2;

/// Port detail `status`: the phone on the port is online / disconnected.
pub const PORT_ONLINE: i64 = 10;
pub const PORT_DISCONNECTED: i64 = 20;

/// A customer-service (WhatsApp) account known to the vendor.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub whats_app: String,
    /// 1 personal, 2 business.
    pub whatsapp_type: i64,
    pub name: String,
    pub avatar: String,
    pub account_id: String,
    /// Whether key material was supplied (the keys themselves are not kept).
    pub has_keys: bool,
    pub status: i64,
    pub online_status: i64,
    /// Agent the account is bound to; the online-status webhook's `account`.
    pub agent: String,
    /// 1 PC, 2 Android.
    pub platform_type: i64,
    /// Login session (QR window id) the account is logged in through, if any.
    pub session_id: Option<String>,
    pub online_since: Option<DateTime<Utc>>,
    pub logged_in_at: Option<DateTime<Utc>>,
    /// Set through `updateAvatarOrNickname`.
    pub nickname: Option<String>,
    pub profile_avatar: Option<String>,
    /// How the account came to the vendor: `import`, `online`, `register`, `qr`, `scanTask`.
    pub origin: String,
}

impl Account {
    pub fn new(whats_app: &str, origin: &str) -> Self {
        Self {
            whats_app: whats_app.to_owned(),
            whatsapp_type: 1,
            name: String::new(),
            avatar: String::new(),
            account_id: String::new(),
            has_keys: false,
            status: STATUS_NORMAL,
            online_status: ONLINE_OFFLINE,
            agent: String::new(),
            platform_type: 1,
            session_id: None,
            online_since: None,
            logged_in_at: None,
            nickname: None,
            profile_avatar: None,
            origin: origin.to_owned(),
        }
    }

    pub fn is_online(&self) -> bool {
        self.status == STATUS_NORMAL && self.online_status == ONLINE_ONLINE
    }
}

/// Where a login session (QR window) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    /// Port reserved by `preGenerate`, nothing fetched yet.
    Reserved,
    /// A QR code or pair code was handed out; waiting for the scan.
    Waiting,
    /// Scan succeeded; the account is on the port (online or offline, see the account).
    LoggedIn,
    /// Scan or pairing failed; the port was released.
    Failed,
    /// `logOut` was called; the port was released.
    LoggedOut,
    /// Unused past `port_release_after` (or recycled); the port was released.
    Released,
}

/// A login window on a cloud port, named by the 32-hex id `preGenerate` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    /// 1 PC, 2 cloud PC.
    #[serde(rename = "type")]
    pub kind: i64,
    pub target: Option<i64>,
    pub port_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub state: SessionState,
    /// The account logged in through this session.
    pub whatsapp: Option<String>,
    /// The phone given to `getQrCodeV2`, which a pair code logs in.
    pub expected_phone: Option<String>,
    /// Agent name reported by `getQrCodeInfo`.
    pub user_name: String,
    pub ip_config: Option<String>,
    /// How many QR / pair codes were handed out (each one differs).
    pub codes_issued: u64,
    pub last_qr: Option<String>,
    pub last_pair_code: Option<String>,
    /// Failure code (1001..1004) of the last failed scan.
    pub fail_code: Option<i64>,
}

impl Session {
    pub fn holds_port(&self) -> bool {
        self.port_id.is_some()
    }
}

/// A cloud port taken from the quota, by a session or a scan task.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub id: u64,
    pub created_at: DateTime<Utc>,
    pub session_id: Option<String>,
    pub scan_task_id: Option<String>,
}

/// One "open friend conversation" action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub id: String,
    pub tenant_id: i64,
    pub agent_account: String,
    pub whats_id: String,
    pub friend_whats_id: String,
    pub platform_type: i64,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: i64,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub execute_status: i64,
    pub executed_at: Option<DateTime<Utc>>,
    /// Why it failed, for the state dump only (the vendor gives no reason).
    pub fail_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RegistrationState {
    /// Phone submitted, code not yet.
    CodeSent,
    /// Code submitted, result pending.
    Verifying,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub task_id: i64,
    /// Country calling code and number, the form the webhook reports.
    pub phone: String,
    pub local_phone: String,
    pub area_code: String,
    pub country_code: String,
    pub verify_type: i64,
    pub account_type: i64,
    pub state: RegistrationState,
    pub submitted_at: DateTime<Utc>,
    pub verify_code: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanTask {
    pub task_id: String,
    pub user_id: i64,
    pub allocation_role: i64,
    pub port_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    /// Last status sent (70..90), `None` while waiting for the scan.
    pub task_status: Option<i64>,
    pub whatsapp: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub last_qr: Option<String>,
    pub codes_issued: u64,
}

impl ScanTask {
    /// Statuses after which the task is over and its QR code is no longer served.
    pub fn is_finished(&self) -> bool {
        matches!(self.task_status, Some(71 | 80 | 83 | 84 | 85 | 90))
    }
}

/// Everything the simulated vendor holds for the tenant.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub accounts: BTreeMap<String, Account>,
    pub sessions: BTreeMap<String, Session>,
    pub ports: BTreeMap<u64, Port>,
    pub max_ports: u32,
    pub actions: BTreeMap<String, Action>,
    /// Accepted action time per (agent, WhatsApp account), for the spacing rule.
    #[serde(skip)]
    pub last_action_at: HashMap<(String, String), DateTime<Utc>>,
    pub registrations: BTreeMap<String, Registration>,
    pub next_registration_id: i64,
    pub scan_tasks: BTreeMap<String, ScanTask>,
    /// Agent accounts whose client is logged out (actions through them fail); all others are in.
    pub agents_offline: BTreeSet<String>,
    /// Counter feeding id generation, so ids are a deterministic sequence per seed.
    pub id_counter: u64,
}

impl State {
    pub fn new(max_ports: u32) -> Self {
        Self {
            accounts: BTreeMap::new(),
            sessions: BTreeMap::new(),
            ports: BTreeMap::new(),
            max_ports,
            actions: BTreeMap::new(),
            last_action_at: HashMap::new(),
            registrations: BTreeMap::new(),
            next_registration_id: 1,
            scan_tasks: BTreeMap::new(),
            agents_offline: BTreeSet::new(),
            id_counter: 0,
        }
    }

    /// A fresh 32-hex id, unique in this state.
    pub fn hex_id(&mut self, seed: u64, kind: &str) -> String {
        loop {
            self.id_counter += 1;
            let id = Draw::new(seed, &["id", kind, &self.id_counter.to_string()]).hex32();
            if !self.sessions.contains_key(&id)
                && !self.actions.contains_key(&id)
                && !self.scan_tasks.contains_key(&id)
            {
                return id;
            }
        }
    }

    /// A fresh 64-bit port id.
    pub fn port_id(&mut self, seed: u64, now: DateTime<Utc>) -> u64 {
        loop {
            self.id_counter += 1;
            let low = Draw::new(seed, &["port", &self.id_counter.to_string()]).u64();
            let id = snowflake(now.timestamp_millis(), low);
            if !self.ports.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn used_ports(&self) -> usize {
        self.ports.len()
    }

    /// Takes a port from the quota, or `None` when it is used up.
    pub fn take_port(&mut self, seed: u64, now: DateTime<Utc>) -> Option<u64> {
        if self.used_ports() >= self.max_ports as usize {
            return None;
        }
        let id = self.port_id(seed, now);
        self.ports.insert(
            id,
            Port {
                id,
                created_at: now,
                session_id: None,
                scan_task_id: None,
            },
        );
        Some(id)
    }

    pub fn release_port(&mut self, port: Option<u64>) {
        if let Some(p) = port {
            self.ports.remove(&p);
        }
    }

    /// Releases a session's port and moves it to `to`.
    pub fn end_session(&mut self, id: &str, to: SessionState) {
        let port = match self.sessions.get_mut(id) {
            Some(s) => {
                s.state = to;
                s.port_id.take()
            }
            None => None,
        };
        self.release_port(port);
    }

    /// The number logged in on `port`: through its session, or through the scan task that logged
    /// it in.
    pub fn port_phone(&self, port: &Port) -> Option<String> {
        let from_session = port
            .session_id
            .as_ref()
            .and_then(|s| self.sessions.get(s))
            .filter(|s| s.state == SessionState::LoggedIn)
            .and_then(|s| s.whatsapp.clone());
        let from_task = || {
            port.scan_task_id
                .as_ref()
                .and_then(|t| self.scan_tasks.get(t))
                .filter(|t| t.task_status == Some(80))
                .and_then(|t| t.whatsapp.clone())
        };
        from_session.or_else(from_task)
    }

    /// Whether `phone` is logged in on a cloud port that is online (port detail status 10): what
    /// a cloud-port avatar/nickname change needs.
    pub fn on_online_cloud_port(&self, phone: &str) -> bool {
        let on_port = self
            .ports
            .values()
            .any(|p| self.port_phone(p).as_deref() == Some(phone));
        on_port && self.accounts.get(phone).is_some_and(Account::is_online)
    }

    pub fn agent_online(&self, agent: &str) -> bool {
        !self.agents_offline.contains(agent)
    }

    /// Applies the rules that depend only on time: unused ports are released, queued actions are
    /// executed or given up.
    pub fn settle(&mut self, config: &AccountsConfig, now: DateTime<Utc>) {
        let release =
            chrono::Duration::from_std(config.port_release_after).unwrap_or(chrono::Duration::MAX);
        let stale: Vec<String> = self
            .sessions
            .values()
            .filter(|s| {
                matches!(s.state, SessionState::Reserved | SessionState::Waiting) && s.holds_port()
            })
            .filter(|s| now - s.created_at >= release)
            .map(|s| s.id.clone())
            .collect();
        for id in stale {
            self.end_session(&id, SessionState::Released);
        }
        let stale_tasks: Vec<(String, Option<u64>)> = self
            .scan_tasks
            .values()
            .filter(|t| t.task_status.is_none_or(|s| s == 70) && t.port_id.is_some())
            .filter(|t| now - t.created_at >= release)
            .map(|t| (t.task_id.clone(), t.port_id))
            .collect();
        for (id, port) in stale_tasks {
            self.release_port(port);
            if let Some(t) = self.scan_tasks.get_mut(&id) {
                t.port_id = None;
            }
        }

        let wait = chrono::Duration::from_std(config.login_wait).unwrap_or(chrono::Duration::MAX);
        let due: Vec<String> = self
            .actions
            .values()
            .filter(|a| a.execute_status == EXEC_PENDING && a.due_at <= now)
            .map(|a| a.id.clone())
            .collect();
        for id in due {
            let Some(a) = self.actions.get(&id) else {
                continue;
            };
            let account_since = self
                .accounts
                .get(&a.whats_id)
                .filter(|acc| acc.is_online())
                .and_then(|acc| acc.online_since);
            let outcome = match account_since {
                Some(since) if self.agent_online(&a.agent_account) => {
                    Some((EXEC_SUCCESS, Some(since.max(a.due_at)), None))
                }
                _ if now - a.created_at >= wait => Some((
                    EXEC_FAILED,
                    None,
                    Some("not logged in within the login wait"),
                )),
                _ => None,
            };
            if let (Some((status, at, reason)), Some(a)) = (outcome, self.actions.get_mut(&id)) {
                a.execute_status = status;
                a.executed_at = at;
                a.fail_reason = reason.map(str::to_owned);
            }
        }
    }
}
