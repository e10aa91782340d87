//! The tenant's WhatsApp Business numbers (NxCloud getPhone), normalised.

use serde::{Deserialize, Serialize};

use crate::phone::E164;

/// Quality rating of a business number. Values the vendor adds later read as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QualityRating {
    Green,
    Yellow,
    Red,
    Unknown,
}

impl QualityRating {
    pub fn from_vendor(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "GREEN" => Self::Green,
            "YELLOW" => Self::Yellow,
            "RED" => Self::Red,
            _ => Self::Unknown,
        }
    }
}

/// Verification status of a business number. Values the vendor adds later read as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeVerificationStatus {
    NotVerified,
    Verified,
    Expired,
    Unknown,
}

impl CodeVerificationStatus {
    pub fn from_vendor(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "NOT_VERIFIED" => Self::NotVerified,
            "VERIFIED" => Self::Verified,
            "EXPIRED" => Self::Expired,
            _ => Self::Unknown,
        }
    }
}

/// One WhatsApp Business number of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "number": "+8613800138024",
    "display_phone_number": "+86 138 0013 8024",
    "verified_name": "GLORY JACK",
    "quality_rating": "green",
    "name_status": "APPROVED",
    "messaging_limit": "TIER_1K",
    "code_verification_status": "verified",
    "status": "CONNECTED"
}))]
pub struct BusinessPhone {
    pub number: E164,
    /// The number as the vendor displays it.
    pub display_phone_number: String,
    pub verified_name: String,
    pub quality_rating: QualityRating,
    /// Name approval status as reported (e.g. `APPROVED`), passed through.
    pub name_status: String,
    /// Conversations the number may start in 24 hours, as reported; absent when not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_limit: Option<String>,
    pub code_verification_status: CodeVerificationStatus,
    /// Connection status as reported (e.g. `CONNECTED`), passed through.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_enums() {
        assert_eq!(QualityRating::from_vendor("green"), QualityRating::Green);
        assert_eq!(QualityRating::from_vendor("PURPLE"), QualityRating::Unknown);
        assert_eq!(
            QualityRating::from_vendor("UNKNOWN"),
            QualityRating::Unknown
        );
        assert_eq!(
            CodeVerificationStatus::from_vendor("NOT_VERIFIED"),
            CodeVerificationStatus::NotVerified
        );
        assert_eq!(
            CodeVerificationStatus::from_vendor("PENDING"),
            CodeVerificationStatus::Unknown
        );
    }
}
