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

/// Connection status of a business number. Values the vendor adds later read as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BusinessPhoneStatus {
    Connected,
    Disconnected,
    Pending,
    Flagged,
    Restricted,
    RateLimited,
    Banned,
    Migrated,
    Deleted,
    Unknown,
}

impl BusinessPhoneStatus {
    pub fn from_vendor(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "CONNECTED" => Self::Connected,
            "DISCONNECTED" => Self::Disconnected,
            "PENDING" => Self::Pending,
            "FLAGGED" => Self::Flagged,
            "RESTRICTED" => Self::Restricted,
            "RATE_LIMITED" => Self::RateLimited,
            "BANNED" => Self::Banned,
            "MIGRATED" => Self::Migrated,
            "DELETED" => Self::Deleted,
            _ => Self::Unknown,
        }
    }
}

/// Approval status of a business number's display name. Values the vendor adds later read as
/// `unknown`; `none` means no name was submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameStatus {
    Approved,
    AvailableWithoutReview,
    PendingReview,
    Declined,
    Expired,
    None,
    Unknown,
}

impl NameStatus {
    pub fn from_vendor(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "APPROVED" => Self::Approved,
            "AVAILABLE_WITHOUT_REVIEW" => Self::AvailableWithoutReview,
            "PENDING_REVIEW" => Self::PendingReview,
            "DECLINED" => Self::Declined,
            "EXPIRED" => Self::Expired,
            "NONE" => Self::None,
            _ => Self::Unknown,
        }
    }
}

/// How many conversations a business number may start in 24 hours. Values the vendor adds later
/// read as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessagingLimit {
    #[serde(rename = "tier_50")]
    Tier50,
    #[serde(rename = "tier_250")]
    Tier250,
    #[serde(rename = "tier_1k")]
    Tier1K,
    #[serde(rename = "tier_10k")]
    Tier10K,
    #[serde(rename = "tier_100k")]
    Tier100K,
    Unlimited,
    Unknown,
}

impl MessagingLimit {
    /// `None` when the vendor reports nothing (an empty string in its example).
    pub fn from_vendor(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_uppercase();
        Some(match s.as_str() {
            "" => return None,
            "TIER_50" => Self::Tier50,
            "TIER_250" => Self::Tier250,
            "TIER_1K" => Self::Tier1K,
            "TIER_10K" => Self::Tier10K,
            "TIER_100K" => Self::Tier100K,
            "TIER_UNLIMITED" | "UNLIMITED" => Self::Unlimited,
            _ => Self::Unknown,
        })
    }
}

/// One WhatsApp Business number of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "number": "+8613800138024",
    "verified_name": "GLORY JACK",
    "quality_rating": "green",
    "name_status": "approved",
    "messaging_limit": "tier_1k",
    "code_verification_status": "verified",
    "status": "connected"
}))]
pub struct BusinessPhone {
    /// E.164.
    pub number: E164,
    pub verified_name: String,
    pub quality_rating: QualityRating,
    pub name_status: NameStatus,
    /// Absent when the vendor does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_limit: Option<MessagingLimit>,
    pub code_verification_status: CodeVerificationStatus,
    pub status: BusinessPhoneStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_words_map_to_ours_and_new_ones_to_unknown() {
        assert_eq!(
            BusinessPhoneStatus::from_vendor("FLAGGED"),
            BusinessPhoneStatus::Flagged
        );
        assert_eq!(
            BusinessPhoneStatus::from_vendor(" connected "),
            BusinessPhoneStatus::Connected
        );
        assert_eq!(
            BusinessPhoneStatus::from_vendor("SUSPENDED_FOREVER"),
            BusinessPhoneStatus::Unknown
        );
        assert_eq!(NameStatus::from_vendor("APPROVED"), NameStatus::Approved);
        assert_eq!(
            NameStatus::from_vendor("PENDING_REVIEW"),
            NameStatus::PendingReview
        );
        assert_eq!(NameStatus::from_vendor("MAYBE"), NameStatus::Unknown);
        assert_eq!(
            MessagingLimit::from_vendor("TIER_10K"),
            Some(MessagingLimit::Tier10K)
        );
        assert_eq!(
            MessagingLimit::from_vendor("TIER_UNLIMITED"),
            Some(MessagingLimit::Unlimited)
        );
        assert_eq!(MessagingLimit::from_vendor(""), None);
        assert_eq!(
            MessagingLimit::from_vendor("TIER_2K"),
            Some(MessagingLimit::Unknown)
        );
        assert_eq!(
            serde_json::to_value(MessagingLimit::Tier1K).ok(),
            Some(serde_json::json!("tier_1k"))
        );
    }

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
