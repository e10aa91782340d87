//! State transitions that the vendor announces by webhook: logins, logouts, bans, online-status
//! changes, registration results and scan-task progress. Routes and admin calls both go through
//! here so that a change and its webhooks never drift apart.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::AccountsSim;
use super::clock::vendor_time;
use super::fake::{self, Draw};
use super::state::{
    Account, ONLINE_LOGGING_IN, ONLINE_LOGGING_OUT, ONLINE_OFFLINE, ONLINE_ONLINE,
    RegistrationState, STATUS_BANNED, STATUS_NORMAL, SessionState, State,
};
use super::webhooks::{self, OnlineRecord, Outgoing, WebhookKind};
use super::wire::{ApiError, ApiResult};

/// Online-status webhook `detailStatus` values.
pub const DETAIL_QR_LOGIN: i64 = 11;
pub const DETAIL_ONLINE: i64 = 12;
pub const DETAIL_DISCONNECTED: i64 = 21;
pub const DETAIL_ACCOUNT_CLOSED: i64 = 31;
pub const DETAIL_CLIENT_CLOSED: i64 = 32;
pub const DETAIL_MONITOR_OFFLINE: i64 = 33;
pub const DETAIL_BANNED: i64 = 41;

/// `reason` of the account-status webhook when a session is logged out.
pub const REASON_LOGGED_OUT: &str = "1004";

/// Scan-task statuses of the document.
pub const TASK_STATUSES: [i64; 7] = [70, 71, 80, 83, 84, 85, 90];

/// The result of a (simulated) QR scan or pair-code entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// The phone scanned; `whatsapp` defaults to the phone given to `getQrCodeV2`, else one is made up.
    Success {
        whatsapp: Option<String>,
        user_name: Option<String>,
    },
    /// Login failed with one of the document's reasons 1001..1004.
    Failure { code: i64 },
}

/// The webhook `status` / `detailStatus` of an `onlineStatus`.
pub fn online_record_status(online_status: i64) -> (i64, i64) {
    match online_status {
        ONLINE_LOGGING_IN => (10, DETAIL_QR_LOGIN),
        ONLINE_ONLINE => (10, DETAIL_ONLINE),
        ONLINE_LOGGING_OUT => (20, DETAIL_DISCONNECTED),
        _ => (30, DETAIL_CLIENT_CLOSED),
    }
}

/// Work done under the state lock: the time, the state and the webhooks to send afterwards.
pub struct Tx<'a> {
    pub sim: &'a AccountsSim,
    pub st: &'a mut State,
    pub now: DateTime<Utc>,
    pub out: Vec<Outgoing>,
}

impl Tx<'_> {
    pub fn seed(&self) -> u64 {
        self.sim.config.seed
    }

    pub fn vtime(&self) -> String {
        vendor_time(self.now, self.sim.config.vendor_utc_offset_secs)
    }

    fn online_hook(&mut self, acc_key: &str, status: i64, detail: i64) {
        let Some(acc) = self.st.accounts.get(acc_key) else {
            return;
        };
        let rec = OnlineRecord {
            whats_id: acc.whats_app.clone(),
            status,
            detail_status: detail,
            account: acc.agent.clone(),
            platform_type: acc.platform_type,
            time: self.vtime(),
        };
        self.out.push(Outgoing::Online(vec![rec]));
    }

    fn account_hook(&mut self, acc_key: &str, reason: &str, instance: &str) {
        let Some(acc) = self.st.accounts.get(acc_key) else {
            return;
        };
        let body = webhooks::account_status_body(
            &acc.whats_app,
            acc.status,
            acc.online_status,
            reason,
            instance,
        );
        self.out
            .push(Outgoing::Body(WebhookKind::AccountStatus, body));
    }

    /// Moves an account to `online_status` and queues both status webhooks; `detail` overrides the
    /// online-status webhook's detail (`None`: from the status; banned accounts report 40/41).
    pub fn set_online(
        &mut self,
        whatsapp: &str,
        online_status: i64,
        detail: Option<i64>,
        reason: &str,
    ) {
        let now = self.now;
        let Some(acc) = self.st.accounts.get_mut(whatsapp) else {
            return;
        };
        if online_status == ONLINE_ONLINE {
            if !acc.is_online() {
                acc.online_since = Some(now);
            }
        } else {
            acc.online_since = None;
        }
        acc.online_status = online_status;
        let instance = acc.session_id.clone().unwrap_or_default();
        let (status, default_detail) = if acc.status == STATUS_BANNED {
            (40, DETAIL_BANNED)
        } else {
            online_record_status(online_status)
        };
        self.online_hook(whatsapp, status, detail.unwrap_or(default_detail));
        self.account_hook(whatsapp, reason, &instance);
    }

    /// Only the account-status webhook (a "logging in" step, which the online-status webhook's
    /// status list has no value for).
    pub fn set_logging_in(&mut self, whatsapp: &str) {
        let Some(acc) = self.st.accounts.get_mut(whatsapp) else {
            return;
        };
        acc.online_status = ONLINE_LOGGING_IN;
        acc.online_since = None;
        let instance = acc.session_id.clone().unwrap_or_default();
        self.account_hook(whatsapp, "", &instance);
    }

    pub fn ban(&mut self, whatsapp: &str, banned: bool) -> ApiResult {
        let acc = self
            .st
            .accounts
            .get_mut(whatsapp)
            .ok_or_else(|| ApiError::not_found(format!("account {whatsapp} not found")))?;
        acc.status = if banned { STATUS_BANNED } else { STATUS_NORMAL };
        self.set_online(whatsapp, ONLINE_OFFLINE, None, "");
        Ok(
            json!({"whatsApp": whatsapp, "status": if banned { STATUS_BANNED } else { STATUS_NORMAL }}),
        )
    }

    /// A phone scanned the session's QR code (or entered its pair code), or failed to.
    pub fn scan(&mut self, session_id: &str, outcome: ScanOutcome) -> ApiResult {
        let session = self
            .st
            .sessions
            .get(session_id)
            .ok_or_else(ApiError::port_gone)?;
        if !session.holds_port() {
            return Err(ApiError::port_gone());
        }
        if session.state == SessionState::LoggedIn {
            return Err(ApiError::conflict("session is already logged in"));
        }
        let expected = session.expected_phone.clone();
        let default_user = session.user_name.clone();
        match outcome {
            ScanOutcome::Failure { code } => {
                if !(1001..=1004).contains(&code) {
                    return Err(ApiError::bad("code must be 1001..1004"));
                }
                self.st.end_session(session_id, SessionState::Failed);
                if let Some(s) = self.st.sessions.get_mut(session_id) {
                    s.fail_code = Some(code);
                }
                let phone = expected.unwrap_or_default();
                self.out.push(Outgoing::Body(
                    WebhookKind::QrLogin,
                    webhooks::qr_login_body(session_id, &phone, false),
                ));
                let body = webhooks::account_status_body(
                    &phone,
                    STATUS_NORMAL,
                    ONLINE_OFFLINE,
                    &code.to_string(),
                    session_id,
                );
                self.out
                    .push(Outgoing::Body(WebhookKind::AccountStatus, body));
                Ok(json!({"id": session_id, "status": 0, "reason": code.to_string()}))
            }
            ScanOutcome::Success {
                whatsapp,
                user_name,
            } => {
                let phone = match whatsapp.or(expected) {
                    Some(p) => p,
                    None => {
                        let mut d = Draw::new(self.seed(), &["scanned-phone", session_id]);
                        format!("86{}{}", d.range(130, 199), d.digits(8))
                    }
                };
                if self
                    .st
                    .accounts
                    .get(&phone)
                    .is_some_and(|a| a.status == STATUS_BANNED)
                {
                    return Err(ApiError::conflict(format!("account {phone} is banned")));
                }
                // The same number logged in elsewhere loses that login (and port).
                let previous = self
                    .st
                    .accounts
                    .get(&phone)
                    .and_then(|a| a.session_id.clone());
                if let Some(prev) = previous.filter(|p| p != session_id) {
                    self.st.end_session(&prev, SessionState::LoggedOut);
                }
                let agent = user_name.unwrap_or(default_user);
                if let Some(s) = self.st.sessions.get_mut(session_id) {
                    s.state = SessionState::LoggedIn;
                    s.whatsapp = Some(phone.clone());
                    s.user_name = agent.clone();
                }
                let acc = self
                    .st
                    .accounts
                    .entry(phone.clone())
                    .or_insert_with(|| Account::new(&phone, "qr"));
                acc.session_id = Some(session_id.to_owned());
                acc.agent = agent;
                acc.platform_type = 1;
                acc.logged_in_at = Some(self.now);
                self.out.push(Outgoing::Body(
                    WebhookKind::QrLogin,
                    webhooks::qr_login_body(session_id, &phone, true),
                ));
                self.set_online(&phone, ONLINE_ONLINE, Some(DETAIL_QR_LOGIN), "");
                Ok(json!({"id": session_id, "status": 1, "whatsapp": phone}))
            }
        }
    }

    /// The registration's result; the account exists at the vendor from then on.
    pub fn finish_registration(&mut self, phone: &str, success: bool) -> ApiResult {
        let reg = self
            .st
            .registrations
            .get_mut(phone)
            .ok_or_else(|| ApiError::not_found(format!("no registration for {phone}")))?;
        if matches!(
            reg.state,
            RegistrationState::Succeeded | RegistrationState::Failed
        ) {
            return Err(ApiError::conflict(format!(
                "registration of {phone} is already finished"
            )));
        }
        reg.state = if success {
            RegistrationState::Succeeded
        } else {
            RegistrationState::Failed
        };
        let account_type = reg.account_type;
        let task_id = reg.task_id;
        if success {
            let acc = self
                .st
                .accounts
                .entry(phone.to_owned())
                .or_insert_with(|| Account::new(phone, "register"));
            acc.whatsapp_type = account_type;
        }
        self.out.push(Outgoing::Body(
            WebhookKind::RegistrationStatus,
            webhooks::registration_body(phone, success),
        ));
        Ok(json!({"phone": phone, "taskId": task_id, "status": i64::from(success)}))
    }

    /// Moves a PC scan task on to `status` (70..90).
    pub fn progress_task(
        &mut self,
        task_id: &str,
        status: i64,
        whatsapp: Option<String>,
    ) -> ApiResult {
        if !TASK_STATUSES.contains(&status) {
            return Err(ApiError::bad(
                "taskStatus must be one of 70, 71, 80, 83, 84, 85, 90",
            ));
        }
        let seed = self.seed();
        let task = self
            .st
            .scan_tasks
            .get_mut(task_id)
            .ok_or_else(|| ApiError::not_found(format!("scan task {task_id} not found")))?;
        if task.is_finished() {
            return Err(ApiError::conflict(format!(
                "scan task {task_id} is already finished"
            )));
        }
        if let Some(w) = whatsapp {
            task.whatsapp = Some(w);
        }
        if matches!(status, 80 | 90) && task.whatsapp.is_none() {
            let mut d = Draw::new(seed, &["task-phone", task_id]);
            task.whatsapp = Some(format!("86{}{}", d.range(130, 199), d.digits(8)));
        }
        task.task_status = Some(status);
        task.updated_at = self.now;
        let user_id = task.user_id;
        let phone = task.whatsapp.clone();
        let port = task.port_id;
        let release = !matches!(status, 70 | 80);
        if release {
            task.port_id = None;
        }
        self.out.push(Outgoing::Body(
            WebhookKind::ScanTask,
            webhooks::scan_task_body(
                task_id,
                user_id,
                status,
                phone.as_deref().unwrap_or_default(),
                self.now.timestamp_millis(),
            ),
        ));
        if release {
            self.st.release_port(port);
        }
        if let Some(phone) = phone.clone().filter(|_| matches!(status, 80 | 90)) {
            let acc = self
                .st
                .accounts
                .entry(phone.clone())
                .or_insert_with(|| Account::new(&phone, "scanTask"));
            acc.agent = fake::agent_name(seed, &user_id.to_string());
            acc.platform_type = 1;
            if status == 80 {
                acc.logged_in_at = Some(self.now);
                self.set_online(&phone, ONLINE_ONLINE, Some(DETAIL_QR_LOGIN), "");
            } else {
                acc.status = STATUS_BANNED;
                self.set_online(&phone, ONLINE_OFFLINE, None, "");
            }
        }
        Ok(json!({"taskId": task_id, "taskStatus": status, "whatsapp": phone}))
    }

    /// A new quota; when it drops below the ports in use, accounts on the most recently requested
    /// ports are taken offline (the document's note on `selectCloudPort`).
    pub fn set_quota(&mut self, max: u32) -> Value {
        self.st.max_ports = max;
        let excess = self.st.used_ports().saturating_sub(max as usize);
        let mut ports: Vec<_> = self.st.ports.values().cloned().collect();
        ports.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let mut offline = Vec::new();
        for p in ports.into_iter().take(excess) {
            let phone = p
                .session_id
                .as_ref()
                .and_then(|s| self.st.sessions.get(s))
                .and_then(|s| s.whatsapp.clone());
            if let Some(phone) =
                phone.filter(|w| self.st.accounts.get(w).is_some_and(Account::is_online))
            {
                self.set_online(&phone, ONLINE_OFFLINE, Some(DETAIL_MONITOR_OFFLINE), "");
                offline.push(phone);
            }
        }
        json!({"maxPort": max, "currentPort": self.st.used_ports(), "takenOffline": offline})
    }
}

impl AccountsSim {
    /// Runs `f` on the settled state under the lock, then sends the webhooks it queued.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> T) -> T {
        let now = self.clock.now();
        let (result, out) = {
            let mut guard = self.lock();
            guard.settle(&self.config, now);
            let mut tx = Tx {
                sim: self,
                st: &mut guard,
                now,
                out: Vec::new(),
            };
            let r = f(&mut tx);
            (r, tx.out)
        };
        self.webhooks.dispatch(out);
        result
    }

    /// Runs `f` after `delay` on a timer; without an async runtime it runs at once.
    pub(crate) fn after(
        self: &Arc<Self>,
        delay: Duration,
        f: impl FnOnce(&Arc<Self>) + Send + 'static,
    ) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if !delay.is_zero() => {
                let me = Arc::clone(self);
                handle.spawn(async move {
                    tokio::time::sleep(delay).await;
                    f(&me);
                });
            }
            _ => f(self),
        }
    }

    /// Simulates the phone side of a login session (what a person scanning would do).
    pub fn scan_session(&self, session_id: &str, outcome: ScanOutcome) -> ApiResult {
        self.tx(|tx| tx.scan(session_id, outcome))
    }

    pub fn ban_account(&self, whatsapp: &str, banned: bool) -> ApiResult {
        self.tx(|tx| tx.ban(whatsapp, banned))
    }

    /// Sets an account's `onlineStatus` (1..4) as the vendor would after a change on the phone.
    pub fn change_online_status(
        &self,
        whatsapp: &str,
        online_status: i64,
        detail: Option<i64>,
    ) -> ApiResult {
        if !(1..=4).contains(&online_status) {
            return Err(ApiError::bad("onlineStatus must be 1..4"));
        }
        self.tx(|tx| {
            let acc = tx
                .st
                .accounts
                .get(whatsapp)
                .ok_or_else(|| ApiError::not_found(format!("account {whatsapp} not found")))?;
            if acc.status == STATUS_BANNED && online_status != ONLINE_OFFLINE {
                return Err(ApiError::conflict(format!("account {whatsapp} is banned")));
            }
            tx.set_online(whatsapp, online_status, detail, "");
            Ok(json!({"whatsApp": whatsapp, "onlineStatus": online_status}))
        })
    }

    pub fn finish_registration(&self, phone: &str, success: bool) -> ApiResult {
        self.tx(|tx| tx.finish_registration(phone, success))
    }

    pub fn progress_scan_task(
        &self,
        task_id: &str,
        status: i64,
        whatsapp: Option<String>,
    ) -> ApiResult {
        self.tx(|tx| tx.progress_task(task_id, status, whatsapp))
    }

    pub fn set_port_quota(&self, max: u32) -> Value {
        self.tx(|tx| tx.set_quota(max))
    }

    /// Finishes a "logging in" step started by `batchOnline` / `onLine`, unless something else
    /// changed the account meanwhile.
    pub(crate) fn finish_login(&self, whatsapp: &str) {
        self.tx(|tx| {
            let still =
                tx.st.accounts.get(whatsapp).is_some_and(|a| {
                    a.status == STATUS_NORMAL && a.online_status == ONLINE_LOGGING_IN
                });
            if still {
                tx.set_online(whatsapp, ONLINE_ONLINE, Some(DETAIL_ONLINE), "");
            }
        });
    }

    /// Starts a login that becomes "online" after `login_after`.
    pub(crate) fn schedule_login(self: &Arc<Self>, whatsapp: String) {
        let delay = self.config.login_after;
        self.after(delay, move |sim| sim.finish_login(&whatsapp));
    }

    /// With `auto_scan_after` set, the fetched code is "scanned" successfully after that time.
    pub(crate) fn schedule_auto_scan(self: &Arc<Self>, session_id: String) {
        if let Some(delay) = self.config.auto_scan_after {
            self.after(delay, move |sim| {
                if let Err(e) = sim.scan_session(
                    &session_id,
                    ScanOutcome::Success {
                        whatsapp: None,
                        user_name: None,
                    },
                ) {
                    tracing::debug!(session = %session_id, error = %e.message, "automatic scan skipped");
                }
            });
        }
    }
}
