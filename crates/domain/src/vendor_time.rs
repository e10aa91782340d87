//! Vendor time formats. Vendors write local wall-clock times without a zone; the zone is
//! configured per vendor (UTC+8 unless told otherwise).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A fixed UTC offset, written `+08:00` / `-05:00` / `Z` in configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UtcOffset(FixedOffset);

impl UtcOffset {
    pub fn from_seconds(east: i32) -> Option<Self> {
        FixedOffset::east_opt(east).map(Self)
    }

    pub fn fixed(&self) -> FixedOffset {
        self.0
    }
}

impl Default for UtcOffset {
    /// The vendors documented so far run on China Standard Time.
    fn default() -> Self {
        // An in-range literal never falls back; the fallback only avoids an `unwrap`.
        Self(FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix()))
    }
}

impl fmt::Debug for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UtcOffset({})", self.0)
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for UtcOffset {
    type Err = TimeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
            return Ok(Self(Utc.fix()));
        }
        FixedOffset::from_str(s)
            .map(Self)
            .map_err(|_| TimeParseError::new(s, "a UTC offset like +08:00"))
    }
}

impl Serialize for UtcOffset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UtcOffset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {input:?} as {expected}")]
pub struct TimeParseError {
    pub input: String,
    pub expected: &'static str,
}

impl TimeParseError {
    fn new(input: &str, expected: &'static str) -> Self {
        Self {
            input: input.chars().take(64).collect(),
            expected,
        }
    }
}

/// `yyyy-MM-dd HH:mm:ss` in the vendor's zone, to UTC.
pub fn parse_vendor_datetime(s: &str, offset: UtcOffset) -> Result<DateTime<Utc>, TimeParseError> {
    let naive = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
        .map_err(|_| TimeParseError::new(s, "yyyy-MM-dd HH:mm:ss"))?;
    Ok(local_to_utc(naive, offset))
}

/// A wall-clock time in the vendor's zone, to UTC.
pub fn local_to_utc(naive: NaiveDateTime, offset: UtcOffset) -> DateTime<Utc> {
    // A fixed offset has exactly one mapping for every local time.
    (naive - offset.0).and_utc()
}

/// wscrm writes the epoch in its own zone (`1970-01-01 08:00:01`) for "not executed yet".
pub fn is_unset_vendor_time(t: &DateTime<Utc>) -> bool {
    t.timestamp() <= 86_400
}

/// `yyyyMMdd`, e.g. `20231212`.
pub fn parse_compact_date(s: &str) -> Result<NaiveDate, TimeParseError> {
    let s = s.trim();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimeParseError::new(s, "yyyyMMdd"));
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").map_err(|_| TimeParseError::new(s, "yyyyMMdd"))
}

/// `yyyy-MM-dd`, e.g. `2025-01-19`.
pub fn parse_iso_date(s: &str) -> Result<NaiveDate, TimeParseError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| TimeParseError::new(s, "yyyy-MM-dd"))
}

/// Either date notation.
pub fn parse_vendor_date(s: &str) -> Result<NaiveDate, TimeParseError> {
    parse_iso_date(s).or_else(|_| parse_compact_date(s))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vendor_zone_to_utc() {
        let t = parse_vendor_datetime("2025-09-05 00:10:47", UtcOffset::default()).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-09-04T16:10:47+00:00");
        let lima: UtcOffset = "-05:00".parse().unwrap();
        let t = parse_vendor_datetime("2025-09-05 00:10:47", lima).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-09-05T05:10:47+00:00");
        assert!(parse_vendor_datetime("2025-09-05T00:10:47", lima).is_err());
        assert!(parse_vendor_datetime("", lima).is_err());
        let unset = parse_vendor_datetime("1970-01-01 08:00:01", UtcOffset::default()).unwrap();
        assert!(is_unset_vendor_time(&unset));
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_compact_date("20231212").unwrap(),
            NaiveDate::from_ymd_opt(2023, 12, 12).unwrap()
        );
        assert!(parse_compact_date("2023121").is_err());
        assert!(parse_compact_date("20231312").is_err());
        assert_eq!(
            parse_iso_date("2025-01-19").unwrap(),
            NaiveDate::from_ymd_opt(2025, 1, 19).unwrap()
        );
        assert_eq!(
            parse_vendor_date("20250119").unwrap(),
            parse_vendor_date("2025-01-19").unwrap()
        );
    }

    #[test]
    fn offset_serde() {
        let o: UtcOffset = serde_json::from_str("\"+08:00\"").unwrap();
        assert_eq!(o, UtcOffset::default());
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"+08:00\"");
        assert!(serde_json::from_str::<UtcOffset>("\"eight\"").is_err());
    }
}
