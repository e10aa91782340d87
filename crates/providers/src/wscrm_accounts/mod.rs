//! wscrm account management (document `001_238e5dcc1f61e544.txt`): accounts, registrations, QR /
//! pair-code logins on cloud ports, ports, contacts and profile, PC scan tasks and "open friend
//! conversation" actions. The 24 outbound operations, behind the [`Accounts`],
//! [`Registrations`], [`LoginSessions`], [`Ports`], [`Contacts`], [`ScanTasks`] and
//! [`ChatActions`] traits.
//!
//! - The two path prefixes have their own base URLs (`bus_api_base_url`,
//!   `dispatch_api_base_url`); authentication is the configured header set.
//! - Errors are HTTP 200 envelopes; their `code` is kept as `vendor_code` (1001 quota used up,
//!   1002 session unknown or port released, 1003 unsupported type, 1004 no pairing target, and
//!   the HTTP-like 400/404/409).
//! - Answers are read tolerantly (see `wire`); vendor ids are strings; vendor times are read in
//!   the configured zone, and `1970-01-01 08:00:01` reads as "not executed".
//! - Key material is sent only in request bodies, which are never logged.

mod client;
mod wire;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use domain::{
    AccountCredentials, AccountState, AccountStatus, ActionReport, ActionStatus, ChatActionRequest,
    Contact, LoginCodes, OnlineStatus, PairCodeMode, PairTarget, PortDetail, PortQuota, PortStatus,
    PortType, Profile, ProfileChannel, ProviderError, ProviderErrorKind, ProviderId,
    RegistrationRequest, ScanAllocation, SessionReport, UtcOffset, is_unset_vendor_time,
    parse_vendor_datetime,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use self::client::{Client, Prefix};
use self::wire::{NUMBER, as_string, boolean, int, ip_config, number, objects, text};
use crate::config::WscrmConfig;
use crate::http::Op;
use crate::registry::ConfigError;
use crate::traits::{
    Accounts, ChatActions, Contacts, LoginSessions, Ports, Registrations, ScanTasks,
};

/// The id this vendor answers under (API, store, metrics).
pub const ID: ProviderId = ProviderId::new("wscrm_accounts");
const PROVIDER: ProviderId = ID;
const NO_BODY: Option<&()> = None;

/// The account-management adapter.
#[derive(Debug, Clone)]
pub struct WscrmAccounts {
    client: Client,
    offset: UtcOffset,
}

impl WscrmAccounts {
    /// Needs `dispatch_api_base_url` besides the bus base URL.
    pub fn new(config: &WscrmConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        let dispatch = config.dispatch_api_base_url.clone().ok_or_else(|| {
            ConfigError::new(PROVIDER, "dispatch_api_base_url is required for accounts")
        })?;
        let mut auth = HeaderMap::new();
        for (name, value) in &config.auth_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::new(PROVIDER, format!("invalid header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                ConfigError::new(PROVIDER, format!("invalid value for header {name}"))
            })?;
            value.set_sensitive(true);
            auth.insert(name, value);
        }
        Ok(Self {
            client: Client {
                http,
                bus: config.bus_api_base_url.clone(),
                dispatch,
                auth,
                timeout: Duration::from_millis(config.timeout_ms),
            },
            offset: config.vendor_utc_offset,
        })
    }

    async fn dispatch<B: serde::Serialize + ?Sized>(
        &self,
        op: &Op,
        path: &[&str],
        body: Option<&B>,
    ) -> Result<Value, ProviderError> {
        self.client
            .call(op, Prefix::Dispatch, path, &[], body)
            .await
    }

    async fn bus<B: serde::Serialize + ?Sized>(
        &self,
        op: &Op,
        path: &[&str],
        body: Option<&B>,
    ) -> Result<Value, ProviderError> {
        self.client.call(op, Prefix::Bus, path, &[], body).await
    }

    fn vendor_time(&self, v: Option<&Value>) -> Option<DateTime<Utc>> {
        let s = v.and_then(as_string)?;
        parse_vendor_datetime(&s, self.offset).ok()
    }
}

fn malformed(op: &Op, what: &str) -> ProviderError {
    op.err(
        ProviderErrorKind::MalformedAnswer,
        format!("answer lacks {what}"),
    )
}

fn list<'a>(op: &Op, data: &'a Value) -> Result<Vec<&'a Map<String, Value>>, ProviderError> {
    if data.is_null() {
        return Ok(Vec::new());
    }
    objects(data).ok_or_else(|| malformed(op, "a list"))
}

fn entries<'a>(
    accounts: &'a [AccountCredentials],
    override_existing: Option<bool>,
) -> wire::AccountList<'a> {
    wire::AccountList {
        whats_app_list: accounts
            .iter()
            .map(|a| wire::AccountEntry {
                whats_app: &a.number_digits,
                whatsapp_type: a.account_type.vendor_code(),
                name: a.name.as_deref(),
                avatar: a.avatar_url.as_deref(),
                public_key: a.keys.public_key.expose_secret(),
                private_key: a.keys.private_key.expose_secret(),
                msg_public_key: a.keys.msg_public_key.expose_secret(),
                msg_private_key: a.keys.msg_private_key.expose_secret(),
                account_id: a.account_id.as_deref().unwrap_or(""),
                next_key_id: a.keys.next_key_id.as_deref(),
                registration_id: a.keys.registration_id.as_deref(),
                device_params: a.keys.device_params.as_ref().map(|d| d.expose_secret()),
                override_existing,
            })
            .collect(),
    }
}

fn contact(obj: &Map<String, Value>) -> Option<Contact> {
    Some(Contact {
        number: number(obj, NUMBER)?,
        push_name: text(obj, &["pushName"]),
        is_friend: boolean(obj, &["isFriend"]),
        first_name: text(obj, &["firstName"]),
        full_name: text(obj, &["fullName"]),
    })
}

#[async_trait]
impl Accounts for WscrmAccounts {
    async fn import_accounts(&self, accounts: &[AccountCredentials]) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "import_accounts");
        let body = entries(accounts, None);
        self.dispatch(&op, &["whatsapp", "batchInsert"], Some(&body))
            .await?;
        tracing::info!(provider = %PROVIDER, count = accounts.len(), "accounts imported");
        Ok(())
    }

    async fn account_states(&self) -> Result<Vec<AccountState>, ProviderError> {
        let op = Op::new(PROVIDER, "account_states");
        let data = self
            .dispatch(&op, &["whatsapp", "queryWhatsAppStatus"], NO_BODY)
            .await?;
        let mut out = Vec::new();
        for obj in list(&op, &data)? {
            let (Some(number), Some(status), Some(online)) = (
                number(obj, NUMBER),
                int(obj, &["status"]).and_then(AccountStatus::from_vendor),
                int(obj, &["onlineStatus"]).and_then(OnlineStatus::from_vendor),
            ) else {
                tracing::warn!(provider = %PROVIDER, "account status row without number or known status skipped");
                continue;
            };
            out.push(AccountState {
                number,
                status,
                online_status: online,
            });
        }
        Ok(out)
    }

    async fn bring_accounts_online(
        &self,
        accounts: &[AccountCredentials],
        override_existing: bool,
    ) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "bring_accounts_online");
        let body = entries(accounts, Some(override_existing));
        self.dispatch(&op, &["whatsapp", "batchOnline"], Some(&body))
            .await?;
        Ok(())
    }

    async fn recycle_accounts(&self, numbers: &[String]) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "recycle_accounts");
        let body = wire::NumberList {
            whats_app_list: numbers,
        };
        self.dispatch(&op, &["whatsapp", "batchRecycle"], Some(&body))
            .await?;
        Ok(())
    }

    async fn update_avatar_or_nickname(
        &self,
        channel: ProfileChannel,
        numbers: &[String],
        avatar_url: Option<&str>,
        nickname: Option<&str>,
    ) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "update_avatar_or_nickname");
        let body = wire::UpdateProfile {
            kind: match channel {
                ProfileChannel::Device => 0,
                ProfileChannel::CloudPort => 1,
            },
            avatar: avatar_url,
            nickname,
            phone_list: numbers,
        };
        self.dispatch(&op, &["channelInfo", "updateAvatarOrNickname"], Some(&body))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Registrations for WscrmAccounts {
    async fn submit_phone(&self, request: &RegistrationRequest) -> Result<String, ProviderError> {
        let op = Op::new(PROVIDER, "submit_phone");
        let body = wire::SubmitPhone {
            phone: &request.national_digits,
            verify_type: request.verification.vendor_code(),
            account_type: request.account_type.vendor_code(),
            area_code: &request.area_code,
            country_code: &request.country_code,
        };
        let data = self
            .dispatch(&op, &["register", "submitPhone"], Some(&body))
            .await?;
        as_string(&data).ok_or_else(|| malformed(&op, "a task id"))
    }

    async fn submit_verification_code(
        &self,
        national_digits: &str,
        area_code: &str,
        code: &str,
    ) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "submit_verification_code");
        let body = wire::SubmitCode {
            phone: national_digits,
            area_code,
            verify_code: code,
        };
        self.dispatch(&op, &["register", "submitVerifyCode"], Some(&body))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl LoginSessions for WscrmAccounts {
    async fn pair_targets(&self) -> Result<Vec<PairTarget>, ProviderError> {
        let op = Op::new(PROVIDER, "pair_targets");
        let data = self
            .dispatch(&op, &["qrCode", "selectPairTarget"], NO_BODY)
            .await?;
        Ok(list(&op, &data)?
            .into_iter()
            .filter_map(|obj| {
                Some(PairTarget {
                    id: text(obj, &["targetTenantId"])?,
                    name: text(obj, &["targetTenantName"]).unwrap_or_default(),
                    created_at: self.vendor_time(obj.get("createTime")),
                })
            })
            .collect())
    }

    async fn reserve_port(
        &self,
        port_type: PortType,
        target: Option<i64>,
    ) -> Result<String, ProviderError> {
        let op = Op::new(PROVIDER, "reserve_port");
        let body = wire::PreGenerate {
            kind: port_type.vendor_code(),
            target,
        };
        let data = self
            .dispatch(&op, &["qrCode", "preGenerate"], Some(&body))
            .await?;
        as_string(&data)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed(&op, "a session id"))
    }

    async fn session_qr_code(
        &self,
        session: &str,
        proxy: Option<&str>,
    ) -> Result<String, ProviderError> {
        let op = Op::new(PROVIDER, "session_qr_code");
        let body = wire::SessionCall {
            id: session,
            ip_config: ip_config(proxy),
        };
        let data = self
            .dispatch(&op, &["qrCode", "getQrCode"], Some(&body))
            .await?;
        as_string(&data)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed(&op, "a QR payload"))
    }

    async fn session_pair_code(
        &self,
        session: &str,
        phone_digits: &str,
        proxy: Option<&str>,
        mode: PairCodeMode,
    ) -> Result<LoginCodes, ProviderError> {
        let op = Op::new(PROVIDER, "session_pair_code");
        let body = wire::PairCodeCall {
            id: session,
            phone: phone_digits,
            ip_config: ip_config(proxy),
            is_easy: mode.vendor_code(),
        };
        let data = self
            .dispatch(&op, &["qrCode", "getQrCodeV2"], Some(&body))
            .await?;
        let obj = data
            .as_object()
            .ok_or_else(|| malformed(&op, "an object"))?;
        Ok(LoginCodes {
            qr_code: text(obj, &["qrcode", "qrCode"]).ok_or_else(|| malformed(&op, "qrcode"))?,
            pair_code: text(obj, &["pairCode"]),
        })
    }

    async fn session_report(&self, session: &str) -> Result<Vec<SessionReport>, ProviderError> {
        let op = Op::new(PROVIDER, "session_report");
        let body = wire::SessionCall {
            id: session,
            ip_config: None,
        };
        let data = self
            .dispatch(&op, &["qrCode", "getQrCodeInfo"], Some(&body))
            .await?;
        Ok(list(&op, &data)?
            .into_iter()
            .map(|obj| SessionReport {
                logged_in: int(obj, &["status"]) == Some(1),
                agent: text(obj, &["userName"]),
                number: number(obj, NUMBER),
            })
            .collect())
    }

    async fn session_online(
        &self,
        session: &str,
        proxy: Option<&str>,
    ) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "session_online");
        let body = wire::SessionCall {
            id: session,
            ip_config: ip_config(proxy),
        };
        self.dispatch(&op, &["qrCode", "onLine"], Some(&body))
            .await?;
        Ok(())
    }

    async fn session_offline(&self, session: &str) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "session_offline");
        let body = wire::SessionCall {
            id: session,
            ip_config: None,
        };
        self.dispatch(&op, &["qrCode", "offline"], Some(&body))
            .await?;
        Ok(())
    }

    async fn session_log_out(&self, session: &str) -> Result<(), ProviderError> {
        let op = Op::new(PROVIDER, "session_log_out");
        let body = wire::SessionCall {
            id: session,
            ip_config: None,
        };
        self.dispatch(&op, &["qrCode", "logOut"], Some(&body))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Ports for WscrmAccounts {
    async fn port_quota(&self) -> Result<PortQuota, ProviderError> {
        let op = Op::new(PROVIDER, "port_quota");
        let data = self
            .dispatch(&op, &["qrCode", "selectCloudPort"], NO_BODY)
            .await?;
        let obj = data
            .as_object()
            .ok_or_else(|| malformed(&op, "an object"))?;
        let read = |k: &str| {
            int(obj, &[k])
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| malformed(&op, k))
        };
        Ok(PortQuota {
            used: read("currentPort")?,
            max: read("maxPort")?,
        })
    }

    async fn port_details(&self) -> Result<Vec<PortDetail>, ProviderError> {
        let op = Op::new(PROVIDER, "port_details");
        let data = self
            .dispatch(&op, &["qrCode", "selectCloudPortDetail"], NO_BODY)
            .await?;
        Ok(list(&op, &data)?
            .into_iter()
            .filter_map(|obj| {
                let phone = number(obj, &["phone"]);
                Some(PortDetail {
                    id: text(obj, &["id"])?,
                    status: PortStatus::from_vendor(int(obj, &["status"]), phone.is_some()),
                    number: phone,
                    created_at: self.vendor_time(obj.get("createTime")),
                })
            })
            .collect())
    }
}

#[async_trait]
impl Contacts for WscrmAccounts {
    async fn contacts(&self, session: &str) -> Result<Vec<Contact>, ProviderError> {
        let op = Op::new(PROVIDER, "contacts");
        let data = self
            .client
            .call(
                &op,
                Prefix::Dispatch,
                &["qrCode", "selectContact"],
                &[("id", session)],
                NO_BODY,
            )
            .await?;
        Ok(list(&op, &data)?.into_iter().filter_map(contact).collect())
    }

    async fn contact(&self, session: &str, phone_digits: &str) -> Result<Contact, ProviderError> {
        let op = Op::new(PROVIDER, "contact");
        let body = wire::ContactCall {
            id: session,
            phone: phone_digits,
        };
        let data = self
            .dispatch(&op, &["qrCode", "contact", "info"], Some(&body))
            .await?;
        data.as_object()
            .and_then(contact)
            .ok_or_else(|| malformed(&op, "a contact"))
    }

    async fn profile(&self, session: &str) -> Result<Profile, ProviderError> {
        let op = Op::new(PROVIDER, "profile");
        let body = wire::SessionCall {
            id: session,
            ip_config: None,
        };
        let data = self
            .dispatch(&op, &["qrCode", "info", "profile"], Some(&body))
            .await?;
        let obj = data
            .as_object()
            .ok_or_else(|| malformed(&op, "an object"))?;
        Ok(Profile {
            number: number(obj, NUMBER).ok_or_else(|| malformed(&op, "whatsapp"))?,
            is_business: boolean(obj, &["isBusiness"]),
            business_name: text(obj, &["businessName"]),
            avatar_url: text(obj, &["avatar"]),
            push_name: text(obj, &["pushName"]),
            about: text(obj, &["status"]),
            chat_count: int(obj, &["chatNum"]),
            group_count: int(obj, &["groupNum"]),
            last_chat_at: int(obj, &["lastChatTime"])
                .filter(|s| *s > 0)
                .and_then(|s| Utc.timestamp_opt(s, 0).single()),
        })
    }
}

#[async_trait]
impl ScanTasks for WscrmAccounts {
    async fn create_scan_task(
        &self,
        allocation: ScanAllocation,
        agent_id: Option<i64>,
    ) -> Result<String, ProviderError> {
        let op = Op::new(PROVIDER, "create_scan_task");
        let body = wire::ScanTaskCreate {
            allocation_role: match allocation {
                ScanAllocation::Random => 1,
                ScanAllocation::Specified => 3,
            },
            user_id: agent_id,
        };
        let data = self
            .bus(&op, &["qrCodeTask", "create"], Some(&body))
            .await?;
        as_string(&data)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed(&op, "a task id"))
    }

    async fn scan_task_qr_code(&self, task: &str) -> Result<String, ProviderError> {
        let op = Op::new(PROVIDER, "scan_task_qr_code");
        let body = wire::ScanTaskId { task_id: task };
        let data = self
            .bus(&op, &["qrCodeTask", "getQrCode"], Some(&body))
            .await?;
        as_string(&data)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed(&op, "a QR payload"))
    }
}

#[async_trait]
impl ChatActions for WscrmAccounts {
    async fn submit_chat_actions(
        &self,
        actions: &[ChatActionRequest],
    ) -> Result<Vec<String>, ProviderError> {
        let op = Op::new(PROVIDER, "submit_chat_actions");
        let Some(first) = actions.first() else {
            return Ok(Vec::new());
        };
        if actions
            .iter()
            .any(|a| a.vendor_tenant_id != first.vendor_tenant_id)
        {
            return Err(op.err(
                ProviderErrorKind::Unsupported,
                "one batch must belong to one vendor tenant",
            ));
        }
        let body = wire::ActionBatch {
            tenant_id: first.vendor_tenant_id,
            data: actions
                .iter()
                .map(|a| wire::ActionItem {
                    agent_account: &a.agent_account,
                    whats_id: a.whatsapp_digits.as_deref(),
                    friend_whats_id: &a.friend_digits,
                    platform_type: a.platform.vendor_code(),
                    content: a.message.as_deref(),
                    kind: 1,
                })
                .collect(),
        };
        let data = self
            .bus(&op, &["open", "action", "batchAdd"], Some(&body))
            .await?;
        let ids: Vec<String> = data
            .as_array()
            .ok_or_else(|| malformed(&op, "a list of ids"))?
            .iter()
            .filter_map(as_string)
            .collect();
        if ids.len() != actions.len() {
            return Err(op.err(
                ProviderErrorKind::MalformedAnswer,
                format!("{} ids for {} actions", ids.len(), actions.len()),
            ));
        }
        Ok(ids)
    }

    async fn chat_action_results(
        &self,
        vendor_tenant_id: i64,
        ids: &[String],
    ) -> Result<Vec<ActionReport>, ProviderError> {
        let op = Op::new(PROVIDER, "chat_action_results");
        let body = wire::ActionIds {
            tenant_id: vendor_tenant_id,
            data: ids,
        };
        let data = self
            .bus(&op, &["open", "action", "callbackResult"], Some(&body))
            .await?;
        Ok(list(&op, &data)?
            .into_iter()
            .filter_map(|obj| {
                let status = match int(obj, &["executeStatus"]) {
                    Some(1) => ActionStatus::Succeeded,
                    Some(2) => ActionStatus::Failed,
                    _ => ActionStatus::Pending,
                };
                Some(ActionReport {
                    vendor_id: text(obj, &["id"])?,
                    status,
                    executed_at: self
                        .vendor_time(obj.get("executeTime"))
                        .filter(|t| !is_unset_vendor_time(t)),
                })
            })
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
