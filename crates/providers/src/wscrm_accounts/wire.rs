//! wscrm account-management wire format (document 001). Private to this module.
//!
//! Requests are serde structs written as the tables say (ints as ints). Answers are read from
//! `serde_json::Value` with tolerant readers: ints as numbers or numeric strings, booleans as
//! `true`/`false`, `"true"`/`"false"` or `1`/`0`, and the blank-named number field as either
//! `whatsApp` or `whatsapp`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Common answer envelope.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub code: Value,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// One entry of `batchInsert` / `batchOnline`. Holds key material: never logged.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountEntry<'a> {
    #[serde(rename = "whatsApp")]
    pub whats_app: &'a str,
    pub whatsapp_type: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<&'a str>,
    pub public_key: &'a str,
    pub private_key: &'a str,
    pub msg_public_key: &'a str,
    pub msg_private_key: &'a str,
    pub account_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_params: Option<&'a str>,
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_existing: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountList<'a> {
    pub whats_app_list: Vec<AccountEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NumberList<'a> {
    pub whats_app_list: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateProfile<'a> {
    #[serde(rename = "type")]
    pub kind: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<&'a str>,
    pub phone_list: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubmitPhone<'a> {
    pub phone: &'a str,
    pub verify_type: i64,
    pub account_type: i64,
    pub area_code: &'a str,
    pub country_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubmitCode<'a> {
    pub phone: &'a str,
    pub area_code: &'a str,
    pub verify_code: &'a str,
}

#[derive(Serialize)]
pub(super) struct PreGenerate {
    #[serde(rename = "type")]
    pub kind: i64,
    /// An int in the table and the example, like `selectPairTarget`'s `targetTenantId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionCall<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_config: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PairCodeCall<'a> {
    pub id: &'a str,
    pub phone: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_config: Option<&'a str>,
    pub is_easy: &'a str,
}

#[derive(Serialize)]
pub(super) struct ContactCall<'a> {
    pub id: &'a str,
    pub phone: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScanTaskCreate {
    pub allocation_role: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScanTaskId<'a> {
    pub task_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActionItem<'a> {
    pub agent_account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whats_id: Option<&'a str>,
    pub friend_whats_id: &'a str,
    pub platform_type: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActionBatch<'a> {
    pub tenant_id: i64,
    pub data: Vec<ActionItem<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActionIds<'a> {
    pub tenant_id: i64,
    pub data: &'a [String],
}

/// `ipConfig` as document 001 writes it: `ip:port` or `ip:port:user:pass`, no scheme (the vendor
/// only speaks SOCKS5, so the scheme says nothing and the vendor refuses it). A `socks5://` kept
/// with a session from before is dropped here.
pub(super) fn ip_config(proxy: Option<&str>) -> Option<&str> {
    let p = proxy?.trim();
    let bare = match p.get(..9) {
        Some(scheme) if scheme.eq_ignore_ascii_case("socks5://") => &p[9..],
        _ => p,
    };
    (!bare.is_empty()).then_some(bare)
}

// ---- tolerant readers ------------------------------------------------------------------------

/// An int as a JSON number or a numeric string (or a boolean).
pub(super) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A string, or a number written as its digits (64-bit ids keep every digit).
pub(super) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean as `true`/`false`, `"true"`/`"false"`, or `1`/`0` (number or string).
pub(super) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => domain::parse_vendor_bool(s),
        _ => None,
    }
}

/// The first of `names` present and not null.
pub(super) fn field<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| obj.get(*n).filter(|v| !v.is_null()))
}

pub(super) fn text(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    field(obj, names)
        .and_then(as_string)
        .filter(|s| !s.is_empty())
}

pub(super) fn int(obj: &Map<String, Value>, names: &[&str]) -> Option<i64> {
    field(obj, names).and_then(as_i64)
}

pub(super) fn boolean(obj: &Map<String, Value>, names: &[&str]) -> Option<bool> {
    field(obj, names).and_then(as_bool)
}

/// The number field, blank in the tables: `whatsApp` or `whatsapp`.
pub(super) const NUMBER: &[&str] = &["whatsApp", "whatsapp"];

/// A number the vendor reported, as the gateway reports it (`+` and digits); `None` when the field
/// is absent or holds no number. Every such value is accepted back as input
/// ([`domain::account_digits`]).
pub(super) fn number(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    text(obj, names).and_then(|n| domain::vendor_number(&n))
}

/// The objects of an array answer (non-objects skipped); `None` if `v` is not an array.
pub(super) fn objects(v: &Value) -> Option<Vec<&Map<String, Value>>> {
    v.as_array()
        .map(|items| items.iter().filter_map(Value::as_object).collect())
}
