//! The name of a vendor (or vendor API). The domain names no vendor: each adapter declares its
//! own id, and the providers' registry lists them.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A vendor (or vendor API) the gateway talks to, as its snake_case name (`wscrm_screening`).
///
/// Serialised as that name, in API answers, stored jobs, cache entries and metric labels alike.
/// Ordered by name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(&'static str);

/// At most this many distinct names are read from stored or configured text: the names are kept
/// for the life of the process, so an unbounded stream of strange names must not grow them.
const MAX_NAMES: usize = 256;

fn names() -> &'static Mutex<Vec<&'static str>> {
    static NAMES: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(Vec::new()))
}

/// Why a text is not a provider id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProviderId {
    #[error("a provider id is lower-case letters, digits and `_` (got `{0}`)")]
    Spelling(String),
    #[error("too many distinct provider ids")]
    TooMany,
}

impl ProviderId {
    /// The id an adapter declares for itself.
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The id named by `text`, e.g. read back from the store or the configuration.
    pub fn parse(text: &str) -> Result<Self, InvalidProviderId> {
        let well_formed = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed {
            return Err(InvalidProviderId::Spelling(text.chars().take(64).collect()));
        }
        let mut names = names().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = names.iter().find(|n| **n == text) {
            return Ok(Self(known));
        }
        if names.len() >= MAX_NAMES {
            return Err(InvalidProviderId::TooMany);
        }
        let name: &'static str = Box::leak(text.to_owned().into_boxed_str());
        names.push(name);
        Ok(Self(name))
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::str::FromStr for ProviderId {
    type Err = InvalidProviderId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ProviderId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for ProviderId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Lists the ids an API document names (the providers' registry; the domain knows none).
static DOCUMENTED: OnceLock<fn() -> Vec<ProviderId>> = OnceLock::new();

impl ProviderId {
    /// Sets where the API schema of a provider id takes its list of values from; the first
    /// call wins. Without it the schema is any string.
    pub fn document_ids_from(ids: fn() -> Vec<ProviderId>) {
        let _ = DOCUMENTED.set(ids);
    }
}

impl utoipa::PartialSchema for ProviderId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let values = DOCUMENTED
            .get()
            .map(|ids| ids().into_iter().map(|id| id.as_str()).collect::<Vec<_>>());
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A vendor (or vendor API) the gateway talks to."))
            .enum_values(values)
            .into()
    }
}

impl utoipa::ToSchema for ProviderId {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_as_the_same_name_and_refuses_other_spellings() {
        let id = ProviderId::new("some_vendor");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"some_vendor\"");
        let back: ProviderId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.as_str(), "some_vendor");
        assert!(serde_json::from_str::<ProviderId>("\"Some Vendor\"").is_err());
        assert!(serde_json::from_str::<ProviderId>("\"\"").is_err());
        assert_eq!(format!("{id:?}"), "some_vendor");
    }
}
