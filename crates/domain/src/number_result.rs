//! One normalised record per number, whichever vendor answered.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckSet};
use crate::phone::E164;
pub use crate::provider_id::ProviderId;

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

/// How one asked check of one number ended:
/// - `answered`: a provider answered; its fields are in the record (a field left out: the vendor
///   had no value for it);
/// - `not_registered`: the number has no WhatsApp account (`registered: false`), so the check
///   has nothing to report;
/// - `unavailable`: no configured provider takes this check for this number (`reason`:
///   `no_provider`, `checks_unanswered`); nothing was billed for it;
/// - `failed`: a provider was asked but gave no answer (`reason`: the vendor error code,
///   `numbers_missing_from_result`, ...);
/// - `pending`: the job is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// A provider answered; its fields are in the record (absent fields: the vendor had no value).
    Answered,
    /// The number has no WhatsApp account, so this check has nothing to report.
    NotRegistered,
    /// No configured provider could take this check for this number (see `reason`); nothing billed.
    Unavailable,
    /// A provider was asked but gave no answer (see `reason`).
    Failed,
    /// The job is still running; the check is not answered yet.
    Pending,
}

impl CheckStatus {
    /// Whether the check has its final answer (nothing left to ask a vendor).
    pub fn is_answer(self) -> bool {
        matches!(self, Self::Answered | Self::NotRegistered)
    }
}

/// One check of one number: its status, and who answered it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderId>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timestamp::option"
    )]
    pub checked_at: Option<DateTime<Utc>>,
    /// Why there is no answer: an error code of the job (`no_provider`, `checks_unanswered`,
    /// `numbers_missing_from_result`, a vendor error code, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "no_provider")]
    pub reason: Option<String>,
}

impl CheckOutcome {
    pub fn answered(status: CheckStatus, provider: ProviderId, at: DateTime<Utc>) -> Self {
        Self {
            status,
            provider: Some(provider),
            checked_at: Some(at),
            reason: None,
        }
    }

    pub fn unanswered(status: CheckStatus, reason: &str) -> Self {
        Self {
            status,
            provider: None,
            checked_at: None,
            reason: Some(reason.to_owned()),
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
    "checked_at": "2025-09-05T08:00:00Z",
    "checks": {
        "registered": {"status": "answered", "provider": "wscrm_screening", "checked_at": "2025-09-05T08:00:00Z"},
        "activity": {"status": "answered", "provider": "wscrm_screening", "checked_at": "2025-09-05T08:00:00Z"},
        "demographics": {"status": "answered", "provider": "wscrm_screening", "checked_at": "2025-09-05T08:00:00Z"},
        "profile": {"status": "unavailable", "reason": "checks_unanswered"}
    }
}))]
pub struct NumberResult {
    pub number: E164,
    /// Has a WhatsApp account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// Is a WhatsApp Business account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timestamp::option"
    )]
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
    /// Provenance: who gave the record's first answer (each check's own is in `checks`); absent
    /// when no check was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderId>,
    /// Provenance: when the oldest answer in the record was obtained; absent when no check was
    /// answered.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timestamp::option"
    )]
    pub checked_at: Option<DateTime<Utc>>,
    /// Every asked check with its status, provider and check time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, CheckOutcome>)]
    pub checks: BTreeMap<Check, CheckOutcome>,
}

impl NumberResult {
    /// A record with no answers yet.
    pub fn empty(number: E164, provider: ProviderId, checked_at: DateTime<Utc>) -> Self {
        Self {
            provider: Some(provider),
            checked_at: Some(checked_at),
            ..Self::unanswered(number)
        }
    }

    /// A record of a number no provider has answered (yet).
    pub fn unanswered(number: E164) -> Self {
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
            provider: None,
            checked_at: None,
            checks: BTreeMap::new(),
        }
    }

    /// The status of `check`, if the record has one.
    pub fn status(&self, check: Check) -> Option<CheckStatus> {
        self.checks.get(&check).map(|o| o.status)
    }

    /// Whether at least one check has its answer.
    pub fn has_answer(&self) -> bool {
        self.checks.values().any(|o| o.status.is_answer())
    }

    /// Takes every check `source` has a status for (see [`NumberResult::absorb_check`]).
    pub fn absorb(&mut self, source: &NumberResult) {
        for check in source.checks.keys() {
            self.absorb_check(source, *check);
        }
    }

    /// Takes `check`'s fields and status from `source`. An answer here is never replaced by a
    /// non-answer (a failed duplicate order does not erase what another one answered).
    pub fn absorb_check(&mut self, source: &NumberResult, check: Check) {
        let Some(incoming) = source.checks.get(&check) else {
            return;
        };
        if !incoming.status.is_answer() {
            if !self.status(check).is_some_and(CheckStatus::is_answer) {
                self.checks.insert(check, incoming.clone());
            }
            return;
        }
        self.copy_fields(source, check);
        // Every answer says whether the number has WhatsApp.
        self.registered = self.registered.or(source.registered);
        if self.provider.is_none() {
            self.provider = source.provider;
        }
        self.checked_at = match (self.checked_at, source.checked_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.checks.insert(check, incoming.clone());
    }

    /// Copies the fields `check` fills from `source`.
    fn copy_fields(&mut self, source: &NumberResult, check: Check) {
        match check {
            Check::Registered => self.registered = source.registered,
            Check::Business => self.business = source.business,
            Check::Activity => {
                self.last_active_at = source.last_active_at;
                self.active_hour = source.active_hour;
            }
            Check::Profile => {
                self.about.clone_from(&source.about);
                self.status_updated_on = source.status_updated_on;
                self.has_avatar = self.has_avatar.or(source.has_avatar);
            }
            Check::Demographics => {
                self.avatar_url.clone_from(&source.avatar_url);
                self.has_avatar = source.has_avatar.or(self.has_avatar);
                self.gender = source.gender;
                self.age = source.age;
            }
        }
    }

    /// Gives each of `asked` that this vendor record does not describe yet a status: the vendor
    /// answered it (`not_registered` for a number without WhatsApp), except `registered` when the
    /// vendor left it blank, which is `failed`.
    pub fn settle(&mut self, asked: &CheckSet) {
        let (Some(provider), Some(at)) = (self.provider, self.checked_at) else {
            return;
        };
        for check in asked.iter() {
            let outcome = match (check, self.registered) {
                (Check::Registered, None) => CheckOutcome {
                    provider: Some(provider),
                    checked_at: Some(at),
                    ..CheckOutcome::unanswered(
                        CheckStatus::Failed,
                        "registered_missing_from_result",
                    )
                },
                (Check::Registered, Some(_)) => {
                    CheckOutcome::answered(CheckStatus::Answered, provider, at)
                }
                (_, Some(false)) => {
                    CheckOutcome::answered(CheckStatus::NotRegistered, provider, at)
                }
                _ => CheckOutcome::answered(CheckStatus::Answered, provider, at),
            };
            self.checks.entry(check).or_insert(outcome);
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
        let mut r = NumberResult::empty(n, ProviderId::new("vendor_a"), at);
        r.registered = Some(true);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "number": "+51987654321",
                "registered": true,
                "provider": "vendor_a",
                "checked_at": "2025-01-01T00:00:00Z"
            })
        );
        let back: NumberResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.answered(), CheckSet::of(&[Check::Registered]));
    }

    #[test]
    fn answers_of_two_orders_merge_and_a_failure_never_erases_an_answer() {
        let n: E164 = "+919876543210".parse().unwrap();
        let at = Utc::now();
        let mut activity = NumberResult::empty(n, ProviderId::new("vendor_b"), at);
        activity.registered = Some(false);
        activity.settle(&CheckSet::of(&[Check::Activity]));
        let mut profile = NumberResult::empty(n, ProviderId::new("vendor_c"), at);
        profile.about = Some("hi".into());
        profile.settle(&CheckSet::of(&[Check::Profile]));
        let mut failed = NumberResult::unanswered(n);
        failed.checks.insert(
            Check::Activity,
            CheckOutcome::unanswered(CheckStatus::Failed, "vendor_unavailable"),
        );

        let mut merged = NumberResult::unanswered(n);
        merged.absorb(&activity);
        merged.absorb(&profile);
        merged.absorb(&failed);
        assert_eq!(merged.registered, Some(false));
        assert_eq!(merged.about.as_deref(), Some("hi"));
        assert_eq!(
            merged.status(Check::Activity),
            Some(CheckStatus::NotRegistered)
        );
        assert_eq!(merged.status(Check::Profile), Some(CheckStatus::Answered));
        assert_eq!(
            merged.checks[&Check::Profile].provider,
            Some(ProviderId::new("vendor_c"))
        );
        let v = serde_json::to_value(&merged).unwrap();
        assert_eq!(v["checks"]["activity"]["status"], "not_registered");
        let back: NumberResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, merged);
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
