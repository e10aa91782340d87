//! Configuration shown to operators (`GET /v1/admin/config`): every secret becomes
//! `"[redacted]"`, so its presence shows and its value never does.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::{Serialize, Serializer};

pub const REDACTED: &str = "[redacted]";

pub fn secret<S: Serializer>(_: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

pub fn optional_secret<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some(REDACTED),
        None => serializer.serialize_none(),
    }
}

pub fn secrets<S: Serializer>(values: &[SecretString], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(|_| REDACTED))
}

/// The keys stay (header names, tenants), the values are redacted.
pub fn secret_values<S: Serializer, K: Serialize>(
    values: &BTreeMap<K, SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(values.keys().map(|key| (key, REDACTED)))
}
