//! accuauth wire format (document 004). Private to this module.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub(super) struct CheckRequest<'a> {
    /// Peru national digits, without the country code.
    pub number: &'a str,
}

/// Both the success and the error answers share `status` and `request_id`.
#[derive(Debug, Deserialize)]
pub(super) struct Answer {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub result: Option<CheckResult>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CheckResult {
    #[serde(default)]
    pub whatsapp: Option<String>,
    #[serde(default)]
    pub status_update: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub business_user: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}
