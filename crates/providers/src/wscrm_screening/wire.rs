//! wscrm screening wire format (document 000). Private to this module.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `/open/scan/screenWhatsApp`. `type` and `activeType` are written as the table's
/// ints, not as the example's strings.
#[derive(Debug, Serialize)]
pub(super) struct ScreenRequest<'a> {
    pub data: Vec<String>,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(rename = "activeType", skip_serializing_if = "Option::is_none")]
    pub active_type: Option<u8>,
    pub country: &'a str,
}

/// Common answer envelope. `data` varies per endpoint (string id, 0/1, URL), so it stays a
/// `Value` and is read tolerantly.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub code: Value,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// An int that may arrive as a JSON number or a numeric string.
pub(super) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A string that may arrive as a JSON string or number (64-bit ids).
pub(super) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
