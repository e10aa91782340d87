//! The wscrm vendor's inbound webhooks (document 001): their wire formats, read tolerantly
//! (bare array or `whatsAppList`, numbers as strings or ints, both spellings of `whatsApp`),
//! turned into domain events. Receiving, authenticating and storing them is the gateway's job.

use chrono::{DateTime, Utc};
use domain::events::{
    AccountOnlineStatusChanged, AccountStatus, AccountStatusChanged, FailureReason, LoginState,
    OnlineDetail, OnlineStatus, Platform, RegistrationResult, ScanTaskStatus, ScanTaskUpdated,
    SessionLogin,
};
use domain::{DomainEvent, UtcOffset};
use serde_json::{Map, Value};

/// The five webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    OnlineStatus,
    AccountStatus,
    RegistrationStatus,
    QrLogin,
    ScanTask,
}

impl WebhookKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OnlineStatus => "online_status",
            Self::AccountStatus => "account_status",
            Self::RegistrationStatus => "registration_status",
            Self::QrLogin => "qr_login",
            Self::ScanTask => "scan_task",
        }
    }
}

/// A field that could not be read: (path, why).
pub type FieldError = (String, String);

struct Fields<'a> {
    map: &'a Map<String, Value>,
    at: String,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, at: &str) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                at: at.to_owned(),
            }),
            _ => Err((
                if at.is_empty() { "body" } else { at }.to_owned(),
                "must be a JSON object".to_owned(),
            )),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.at.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.at)
        }
    }

    fn raw<'n>(&self, names: &[&'n str]) -> Option<(&'a Value, &'n str)> {
        names
            .iter()
            .find_map(|n| self.map.get(*n).filter(|v| !v.is_null()).map(|v| (v, *n)))
    }

    /// An integer sent as a number or a numeric string.
    fn int_opt(&self, names: &[&str]) -> Result<Option<i64>, FieldError> {
        let Some((value, name)) = self.raw(names) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        parsed
            .map(Some)
            .ok_or_else(|| (self.path(name), "must be an integer".to_owned()))
    }

    fn int(&self, names: &[&str]) -> Result<i64, FieldError> {
        self.int_opt(names)?
            .ok_or_else(|| (self.path(names[0]), "is required".to_owned()))
    }

    /// A string (numbers are accepted and written in decimal); empty = absent.
    fn text_opt(&self, names: &[&str]) -> Result<Option<String>, FieldError> {
        let Some((value, name)) = self.raw(names) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return Err((self.path(name), "must be a string".to_owned())),
        };
        Ok((!text.is_empty()).then_some(text))
    }

    fn text(&self, names: &[&str]) -> Result<String, FieldError> {
        self.text_opt(names)?
            .ok_or_else(|| (self.path(names[0]), "is required".to_owned()))
    }
}

/// Reads a webhook body into (record, event) pairs; the record is what de-duplication hashes.
pub fn normalise(
    kind: WebhookKind,
    body: &Value,
    offset: UtcOffset,
) -> Result<Vec<(Value, DomainEvent)>, FieldError> {
    match kind {
        WebhookKind::OnlineStatus => {
            let (records, at) = match body {
                Value::Array(items) => (items, ""),
                Value::Object(map) => {
                    match map.get("whatsAppList").or_else(|| map.get("whatsapplist")) {
                        Some(Value::Array(items)) => (items, "whatsAppList"),
                        _ => {
                            return Err((
                                "whatsAppList".to_owned(),
                                "an array of records is required".to_owned(),
                            ));
                        }
                    }
                }
                _ => {
                    return Err((
                        "body".to_owned(),
                        "an array or {\"whatsAppList\": [...]} is required".to_owned(),
                    ));
                }
            };
            let mut out = Vec::with_capacity(records.len());
            for (i, record) in records.iter().enumerate() {
                let f = Fields::of(record, &format!("{at}[{i}]"))?;
                let status = f.int(&["status"])?;
                let detail = f.int_opt(&["detailStatus"])?;
                let observed_at = match f.text_opt(&["time"])? {
                    Some(t) => Some(
                        domain::parse_vendor_datetime(&t, offset)
                            .map_err(|e| (f.path("time"), e.to_string()))?,
                    ),
                    None => None,
                };
                let event = DomainEvent::AccountOnlineStatusChanged(AccountOnlineStatusChanged {
                    account: f.text(&["whatsId", "whatsApp", "whatsapp"])?,
                    status: OnlineStatus::from_codes(status, detail),
                    detail: detail.map_or(OnlineDetail::Unknown, OnlineDetail::from_code),
                    status_code: status,
                    detail_code: detail,
                    agent: f.text_opt(&["account"])?,
                    platform: f
                        .int_opt(&["platformType"])?
                        .map_or(Platform::Unknown, Platform::from_code),
                    observed_at,
                });
                out.push((record.clone(), event));
            }
            Ok(out)
        }
        WebhookKind::AccountStatus => {
            let f = Fields::of(body, "")?;
            let reason_code = f.text_opt(&["reason"])?;
            let event = DomainEvent::AccountStatusChanged(AccountStatusChanged {
                account: f.text(&["whatsApp", "whatsapp", "whatsId"])?,
                status: AccountStatus::from_code(f.int(&["status"])?),
                login_state: LoginState::from_code(f.int(&["onlineStatus"])?),
                reason: reason_code.as_deref().and_then(FailureReason::from_vendor),
                reason_code,
                session_id: f.text_opt(&["instanceCode"])?,
            });
            Ok(vec![(body.clone(), event)])
        }
        WebhookKind::RegistrationStatus => {
            let f = Fields::of(body, "")?;
            let result = RegistrationResult {
                phone: f.text(&["phone"])?,
            };
            let event = if f.int(&["status"])? == 1 {
                DomainEvent::RegistrationCompleted(result)
            } else {
                DomainEvent::RegistrationFailed(result)
            };
            Ok(vec![(body.clone(), event)])
        }
        WebhookKind::QrLogin => {
            let f = Fields::of(body, "")?;
            let login = SessionLogin {
                session_id: f.text(&["id"])?,
                account: f.text_opt(&["whatsapp", "whatsApp"])?,
            };
            let event = if f.int(&["status"])? == 1 {
                DomainEvent::SessionLoginSucceeded(login)
            } else {
                DomainEvent::SessionLoginFailed(login)
            };
            Ok(vec![(body.clone(), event)])
        }
        WebhookKind::ScanTask => {
            let f = Fields::of(body, "")?;
            let code = f.int(&["taskStatus"])?;
            let status = ScanTaskStatus::from_code(code);
            let observed_at = f
                .int_opt(&["updateTime"])?
                .and_then(DateTime::<Utc>::from_timestamp_millis);
            let event = DomainEvent::ScanTaskUpdated(ScanTaskUpdated {
                task_id: f.text(&["taskId"])?,
                status,
                status_code: code,
                is_final: status.is_final(),
                account: f.text_opt(&["whatsapp", "whatsApp"])?,
                agent_id: f.text_opt(&["userId"])?,
                observed_at,
            });
            Ok(vec![(body.clone(), event)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn online_status_accepts_both_envelopes_and_string_numbers() {
        let record = json!({"whatsId": 8617633819542_i64, "status": "30", "detailStatus": "32", "account": "", "time": "2024-07-03 15:27:00", "platformType": "1"});
        let bare = normalise(
            WebhookKind::OnlineStatus,
            &json!([record.clone()]),
            UtcOffset::default(),
        )
        .expect("bare");
        let wrapped = normalise(
            WebhookKind::OnlineStatus,
            &json!({"whatsAppList": [record]}),
            UtcOffset::default(),
        )
        .expect("wrapped");
        assert_eq!(bare.len(), 1);
        assert_eq!(bare[0].1, wrapped[0].1);
        let DomainEvent::AccountOnlineStatusChanged(e) = &bare[0].1 else {
            panic!("wrong event {:?}", bare[0].1);
        };
        assert_eq!(e.account, "8617633819542");
        assert_eq!(e.status, OnlineStatus::Offline);
        assert_eq!(e.detail, OnlineDetail::PcClientClosed);
        assert_eq!(e.agent, None);
        assert_eq!(
            e.observed_at.map(|t| t.to_rfc3339()),
            Some("2024-07-03T07:27:00+00:00".to_owned())
        );
    }

    #[test]
    fn reasons_and_statuses_are_mapped() {
        let events = normalise(
            WebhookKind::AccountStatus,
            &json!({"whatsApp": "8218132718231", "status": 1, "onlineStatus": "4", "reason": "1002", "instanceCode": "abc"}),
            UtcOffset::default(),
        )
        .expect("account status");
        let DomainEvent::AccountStatusChanged(e) = &events[0].1 else {
            panic!("wrong event");
        };
        assert_eq!(e.reason, Some(FailureReason::NetworkError));
        assert_eq!(e.login_state, LoginState::Offline);
        assert_eq!(e.session_id.as_deref(), Some("abc"));
        let events = normalise(
            WebhookKind::ScanTask,
            &json!({"taskId": "t1", "userId": 10001, "taskStatus": "85", "updateTime": 1710236000000_i64}),
            UtcOffset::default(),
        )
        .expect("scan task");
        let DomainEvent::ScanTaskUpdated(e) = &events[0].1 else {
            panic!("wrong event");
        };
        assert_eq!(e.status, ScanTaskStatus::NoPortAvailable);
        assert_eq!(e.agent_id.as_deref(), Some("10001"));
        let err = normalise(
            WebhookKind::RegistrationStatus,
            &json!({"phone": "86", "status": "yes"}),
            UtcOffset::default(),
        )
        .expect_err("bad status");
        assert_eq!(err.0, "status");
    }
}
