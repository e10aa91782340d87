//! One normalised record per number, whichever vendor answered.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckSet};
use crate::phone::E164;

/// A vendor (or vendor API) the gateway talks to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProviderId {
    /// wscrm bulk screening (500..20,000 numbers per order, xlsx result).
    WscrmScreening,
    /// ekycpro bulk detail check (file upload, xlsx result).
    Ekycpro,
    /// accuauth single-number check, Peru numbers only.
    Accuauth,
    /// NxCloud WhatsApp Business API; answers no number checks.
    Nxcloud,
    /// wscrm account management (document 001); answers no number checks.
    WscrmAccounts,
}

impl ProviderId {
    /// The providers that answer number checks.
    pub const NUMBER_CHECKERS: [ProviderId; 3] = [
        ProviderId::WscrmScreening,
        ProviderId::Ekycpro,
        ProviderId::Accuauth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::WscrmScreening => "wscrm_screening",
            ProviderId::Ekycpro => "ekycpro",
            ProviderId::Accuauth => "accuauth",
            ProviderId::Nxcloud => "nxcloud",
            ProviderId::WscrmAccounts => "wscrm_accounts",
        }
    }

    /// Which checks this provider can answer at all.
    pub fn checks(self) -> CheckSet {
        match self {
            ProviderId::WscrmScreening => CheckSet::of(&[
                Check::Registered,
                Check::Activity,
                Check::Demographics,
                Check::Business,
            ]),
            ProviderId::Ekycpro => CheckSet::of(&[Check::Registered, Check::Profile]),
            ProviderId::Accuauth => {
                CheckSet::of(&[Check::Registered, Check::Profile, Check::Business])
            }
            ProviderId::Nxcloud | ProviderId::WscrmAccounts => CheckSet::empty(),
        }
    }

    /// ISO regions this provider accepts numbers from; `None` = any region.
    pub fn regions(self) -> Option<&'static [&'static str]> {
        match self {
            ProviderId::Accuauth => Some(&["PE"]),
            _ => None,
        }
    }

    /// Whether this provider accepts numbers of `number`'s region.
    pub fn accepts(self, number: &E164) -> bool {
        match self.regions() {
            None => true,
            Some(list) => number.region().is_some_and(|r| list.contains(&r)),
        }
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    /// Vendor spellings (`male`, `female`, `male(男)`, `女`, ...); anything else, including the vendor's own
    /// `unknown`, yields `None` rather than a guess.
    pub fn from_vendor(s: &str) -> Option<Gender> {
        // The vendor table writes "male(男)"; accept the bare word, the annotated form and the
        // Chinese character alike.
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("female") || s == "f" || s.starts_with('女') {
            Some(Gender::Female)
        } else if s.starts_with("male") || s == "m" || s.starts_with('男') {
            Some(Gender::Male)
        } else {
            None
        }
    }
}

/// What is known about one number. Fields the answering vendor cannot provide are absent,
/// never guessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "number": "+919876543210",
    "registered": true,
    "business": false,
    "last_active_at": "2025-09-04T16:10:47Z",
    "active_hour": 2,
    "avatar_url": "https://cdn.example.com/a/1.png",
    "has_avatar": true,
    "gender": "male",
    "age": 22,
    "provider": "wscrm_screening",
    "checked_at": "2025-09-05T08:00:00Z"
}))]
pub struct NumberResult {
    pub number: E164,
    /// Has a WhatsApp account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// Is a WhatsApp Business account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<DateTime<Utc>>,
    /// The vendor's "active hour" figure, passed through unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_hour: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_avatar: Option<bool>,
    /// Profile "about" text (also called signature or status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_updated_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u16>,
    /// Provenance: who answered.
    pub provider: ProviderId,
    /// Provenance: when the answer was obtained.
    pub checked_at: DateTime<Utc>,
}

impl NumberResult {
    /// A record with no answers yet.
    pub fn empty(number: E164, provider: ProviderId, checked_at: DateTime<Utc>) -> Self {
        Self {
            number,
            registered: None,
            business: None,
            last_active_at: None,
            active_hour: None,
            avatar_url: None,
            has_avatar: None,
            about: None,
            status_updated_on: None,
            gender: None,
            age: None,
            provider,
            checked_at,
        }
    }

    /// Which checks this record answers (has at least one field for).
    pub fn answered(&self) -> CheckSet {
        let mut s = CheckSet::empty();
        if self.registered.is_some() {
            s.insert(Check::Registered);
        }
        if self.business.is_some() {
            s.insert(Check::Business);
        }
        if self.last_active_at.is_some() || self.active_hour.is_some() {
            s.insert(Check::Activity);
        }
        if self.about.is_some() || self.status_updated_on.is_some() {
            s.insert(Check::Profile);
        }
        if self.avatar_url.is_some() || self.gender.is_some() || self.age.is_some() {
            s.insert(Check::Demographics);
        }
        s
    }
}

/// Parses the yes/no spellings vendors use (`yes`, `no`, `1`, `0`, `true`, `false`).
pub fn parse_vendor_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("yes") || s == "1" || s.eq_ignore_ascii_case("true") || s == "是" {
        Some(true)
    } else if s.eq_ignore_ascii_case("no")
        || s == "0"
        || s.eq_ignore_ascii_case("false")
        || s == "否"
    {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_not_serialised() {
        let n: E164 = "+51987654321".parse().unwrap();
        let at = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut r = NumberResult::empty(n, ProviderId::Accuauth, at);
        r.registered = Some(true);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "number": "+51987654321",
                "registered": true,
                "provider": "accuauth",
                "checked_at": "2025-01-01T00:00:00Z"
            })
        );
        let back: NumberResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.answered(), CheckSet::of(&[Check::Registered]));
    }

    #[test]
    fn capabilities() {
        assert!(ProviderId::Ekycpro.checks().contains(Check::Profile));
        assert!(!ProviderId::Ekycpro.checks().contains(Check::Activity));
        let pe: E164 = "+51987654321".parse().unwrap();
        let ind: E164 = "+919876543210".parse().unwrap();
        assert!(ProviderId::Accuauth.accepts(&pe));
        assert!(!ProviderId::Accuauth.accepts(&ind));
        assert!(ProviderId::WscrmScreening.accepts(&ind));
    }

    #[test]
    fn vendor_spellings() {
        assert_eq!(Gender::from_vendor("male(男)"), Some(Gender::Male));
        assert_eq!(Gender::from_vendor("女"), Some(Gender::Female));
        assert_eq!(Gender::from_vendor(" Female "), Some(Gender::Female));
        assert_eq!(Gender::from_vendor("unknown"), None);
        assert_eq!(parse_vendor_bool("YES"), Some(true));
        assert_eq!(parse_vendor_bool("0"), Some(false));
        assert_eq!(parse_vendor_bool(""), None);
    }
}
