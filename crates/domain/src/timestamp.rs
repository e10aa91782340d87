//! The RFC 3339 text of UTC times in stored and returned records, written and read without
//! chrono's formatting and parsing machinery.
//!
//! Records of large jobs carry three or four times each, and writing them through `Display` (one
//! `write_char` per character) and reading them with chrono's general parser was the largest single
//! share of storing a vendor's result file. The text is exactly chrono's serde form
//! (`to_rfc3339_opts(SecondsFormat::AutoSi, true)`: `2025-09-04T16:10:47Z`, with 3, 6 or 9
//! fraction digits when there is a fraction); anything outside the fast path's form (years
//! beyond 0–9999, leap seconds, offsets other than `Z`, other fraction lengths) goes to chrono,
//! so what is accepted and what is written does not change.
//!
//! Use with `#[serde(with = "crate::timestamp::option")]` on `Option<DateTime<Utc>>` fields.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserializer, Serialize, Serializer};

/// `9999-12-31T23:59:59.999999999Z`
const MAX_LEN: usize = 30;

/// Writes `digits` decimal digits of `value`, zero-padded, at `buf[pos..]`; the new position.
fn put_digits(buf: &mut [u8; MAX_LEN], pos: usize, mut value: u32, digits: usize) -> usize {
    for slot in buf[pos..pos + digits].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    pos + digits
}

/// `at` as chrono's serde form writes it, or `None` where the fast form does not apply.
fn write(at: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let (date, time) = (at.date_naive(), at.time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let nano = time.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    let mut pos = put_digits(buf, 0, year, 4);
    for (separator, value) in [
        (b'-', date.month()),
        (b'-', date.day()),
        (b'T', time.hour()),
        (b':', time.minute()),
        (b':', time.second()),
    ] {
        buf[pos] = separator;
        pos = put_digits(buf, pos + 1, value, 2);
    }
    let fraction = match nano {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, digits)) = fraction {
        buf[pos] = b'.';
        pos = put_digits(buf, pos + 1, value, digits);
    }
    buf[pos] = b'Z';
    Some(pos + 1)
}

/// Writes `at` in chrono's serde form.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(at, &mut buf) {
        Some(len) => {
            let text = std::str::from_utf8(&buf[..len]).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(text)
        }
        None => at.serialize(serializer),
    }
}

/// The digits of `text[range]` as a number, if they are all ASCII digits.
fn digits(text: &[u8], from: usize, to: usize) -> Option<u32> {
    text.get(from..to)?.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// The fast form `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, if `text` has it.
fn read_fast(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.last() != Some(&b'Z') || separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let nano = match b.len() {
        20 => 0,
        24 | 27 | 30 if b[19] == b'.' => {
            let fraction_digits = b.len() - 21;
            let scale = 10u32.pow(9 - u32::try_from(fraction_digits).ok()?);
            digits(b, 20, b.len() - 1)? * scale
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(b, 0, 4)?).ok()?,
        digits(b, 5, 7)?,
        digits(b, 8, 10)?,
    )?;
    let time = NaiveTime::from_hms_nano_opt(
        digits(b, 11, 13)?,
        digits(b, 14, 16)?,
        digits(b, 17, 19)?,
        nano,
    )?;
    Some(date.and_time(time).and_utc())
}

struct Visitor;

impl serde::de::Visitor<'_> for Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date and time, e.g. \"2025-09-04T16:10:47Z\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        if let Some(at) = read_fast(text) {
            return Ok(at);
        }
        text.parse::<DateTime<FixedOffset>>()
            .map(|at| at.with_timezone(&Utc))
            .map_err(E::custom)
    }
}

/// Reads a time in the forms chrono's serde form reads.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Visitor)
}

/// The same for `Option<DateTime<Utc>>` fields (`null` is `None`).
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    struct Fast<'a>(&'a DateTime<Utc>);

    impl Serialize for Fast<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, serializer)
        }
    }

    struct Read(DateTime<Utc>);

    impl<'de> Deserialize<'de> for Read {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            super::deserialize(deserializer).map(Read)
        }
    }

    #[allow(clippy::ref_option)] // serde's `with` passes the field by reference.
    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&Fast(at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Read>::deserialize(deserializer)?.map(|read| read.0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{SecondsFormat, TimeZone};

    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Fast {
        #[serde(with = "super::option")]
        at: Option<DateTime<Utc>>,
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Chrono {
        at: Option<DateTime<Utc>>,
    }

    /// Times across the fast form's range: every fraction length, both ends of the years, a
    /// leap day, and pseudo-random others.
    fn samples() -> Vec<DateTime<Utc>> {
        let mut out = vec![
            Utc.with_ymd_and_hms(2025, 9, 4, 16, 10, 47).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 0, 0, 0).unwrap(),
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..5_000u32 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let secs = i64::try_from(seed >> 31).unwrap() % 253_402_300_799;
            let nano = match i % 4 {
                0 => 0,
                1 => (u32::try_from(seed % 1000).unwrap()) * 1_000_000,
                2 => (u32::try_from(seed % 1_000_000).unwrap()) * 1_000,
                _ => u32::try_from(seed % 1_000_000_000).unwrap(),
            };
            out.push(Utc.timestamp_opt(secs, nano).unwrap());
        }
        out
    }

    #[test]
    fn writes_exactly_what_chrono_writes() {
        for at in samples() {
            let fast = serde_json::to_string(&Fast { at: Some(at) }).unwrap();
            let chrono = serde_json::to_string(&Chrono { at: Some(at) }).unwrap();
            assert_eq!(fast, chrono);
            assert_eq!(
                fast,
                format!(
                    "{{\"at\":\"{}\"}}",
                    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                )
            );
        }
        assert_eq!(
            serde_json::to_string(&Fast { at: None }).unwrap(),
            r#"{"at":null}"#
        );
    }

    #[test]
    fn reads_what_it_writes_and_what_chrono_reads() {
        for at in samples() {
            let text = serde_json::to_string(&Chrono { at: Some(at) }).unwrap();
            let fast: Fast = serde_json::from_str(&text).unwrap();
            assert_eq!(fast.at, Some(at), "{text}");
        }
        for text in [
            "2025-09-04T16:10:47+02:00",
            "2025-09-04T16:10:47.5Z",
            "2025-09-04t16:10:47z",
            "2025-09-04 16:10:47Z",
            "2016-12-31T23:59:60Z",
            "+10000-01-01T00:00:00Z",
            "2025-09-04T16:10:47.1234Z",
        ] {
            let fast: Fast = serde_json::from_str(&format!("{{\"at\":\"{text}\"}}")).unwrap();
            let chrono: Chrono = serde_json::from_str(&format!("{{\"at\":\"{text}\"}}")).unwrap();
            assert_eq!(fast.at, chrono.at, "{text}");
        }
    }

    #[test]
    fn refuses_what_chrono_refuses() {
        for text in [
            "2025-02-30T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:60:00Z",
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:0aZ",
            "x025-01-01T00:00:00Z",
            "",
        ] {
            let json = format!("{{\"at\":\"{text}\"}}");
            assert!(serde_json::from_str::<Chrono>(&json).is_err(), "{text}");
            assert!(serde_json::from_str::<Fast>(&json).is_err(), "{text}");
        }
        assert!(serde_json::from_str::<Fast>(r#"{"at":12}"#).is_err());
    }
}
