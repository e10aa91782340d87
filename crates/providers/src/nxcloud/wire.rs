//! NxCloud getPhone wire format (document 002). Private to this module.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Field order matches the documented signing example; the body is serialised once and those
/// exact bytes are signed and sent.
#[derive(Debug, Serialize)]
pub(super) struct GetPhoneRequest<'a> {
    pub appkey: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_phones: Option<String>,
    pub messaging_product: &'a str,
}

#[derive(Debug, Deserialize)]
pub(super) struct Answer {
    #[serde(default)]
    pub code: Value,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Phone {
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub quality_rating: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
    #[serde(default)]
    pub name_status: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub current_limit: Option<String>,
    #[serde(default)]
    pub code_verification_status: Option<String>,
}
