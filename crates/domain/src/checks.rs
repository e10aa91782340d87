//! What a caller can ask to know about a number.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One kind of information about a number.
///
/// Which fields of a number's result record each check fills:
/// - `registered`: `registered`
/// - `activity`: `last_active_at`, `active_hour`
/// - `profile`: `about`, `status_updated_on`, `has_avatar`
/// - `demographics`: `avatar_url`, `has_avatar`, `gender`, `age`
/// - `business`: `business`
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
pub enum Check {
    Registered,
    Activity,
    Profile,
    Demographics,
    Business,
}

impl Check {
    pub const ALL: [Check; 5] = [
        Check::Registered,
        Check::Activity,
        Check::Profile,
        Check::Demographics,
        Check::Business,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Registered => "registered",
            Check::Activity => "activity",
            Check::Profile => "profile",
            Check::Demographics => "demographics",
            Check::Business => "business",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of checks; serialised as a JSON array in a stable order, duplicates ignored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, utoipa::ToSchema)]
#[schema(value_type = Vec<Check>, example = json!(["registered", "activity"]))]
pub struct CheckSet(u8);

impl CheckSet {
    pub const fn empty() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        Check::ALL.into_iter().collect()
    }

    pub fn of(checks: &[Check]) -> Self {
        checks.iter().copied().collect()
    }

    pub fn with(mut self, check: Check) -> Self {
        self.insert(check);
        self
    }

    pub fn insert(&mut self, check: Check) {
        self.0 |= check.bit();
    }

    pub fn remove(&mut self, check: Check) {
        self.0 &= !check.bit();
    }

    pub fn contains(&self, check: Check) -> bool {
        self.0 & check.bit() != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn union(&self, other: &CheckSet) -> CheckSet {
        CheckSet(self.0 | other.0)
    }

    pub fn intersection(&self, other: &CheckSet) -> CheckSet {
        CheckSet(self.0 & other.0)
    }

    pub fn difference(&self, other: &CheckSet) -> CheckSet {
        CheckSet(self.0 & !other.0)
    }

    pub fn is_subset(&self, other: &CheckSet) -> bool {
        self.difference(other).is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Check> + '_ {
        Check::ALL.into_iter().filter(|c| self.contains(*c))
    }
}

impl FromIterator<Check> for CheckSet {
    fn from_iter<I: IntoIterator<Item = Check>>(iter: I) -> Self {
        let mut s = CheckSet::empty();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

impl fmt::Debug for CheckSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for CheckSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CheckSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v: Vec<Check> = Vec::deserialize(deserializer)?;
        Ok(v.into_iter().collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn set_ops_and_serde() {
        let s = CheckSet::of(&[Check::Business, Check::Registered, Check::Registered]);
        assert_eq!(s.len(), 2);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"["registered","business"]"#
        );
        let back: CheckSet = serde_json::from_str(r#"["business","registered"]"#).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<CheckSet>(r#"["nope"]"#).is_err());
        assert!(s.is_subset(&CheckSet::all()));
        assert!(!CheckSet::all().is_subset(&s));
        assert_eq!(s.difference(&CheckSet::of(&[Check::Business])).len(), 1);
    }
}
