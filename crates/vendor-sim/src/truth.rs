//! The one truth behind every vendor answer: a number's profile derived from a hash of
//! (seed, digits of the number). The xlsx files and the JSON answers all read it, so a test can
//! predict what any vendor says about any number.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Times are counted back from this fixed instant so that profiles do not depend on the clock.
pub const REFERENCE_TIME_UNIX: i64 = 1_757_001_600; // 2025-09-04T16:00:00Z = 2025-09-05 00:00:00 UTC+8

/// Share of numbers that have WhatsApp, in percent.
pub const REGISTERED_PERCENT: u64 = 70;

const ABOUTS: [&str; 8] = [
    "Hey there! I am using WhatsApp.",
    "happy",
    "Available",
    "Busy",
    "At work",
    "Sleeping",
    "Urgent calls only",
    "Living my best life",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
    Unknown,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Unknown => "unknown",
        }
    }
}

/// What the simulated world knows about one number. Unregistered numbers carry no details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// `+` and the digits of the number.
    pub number: String,
    pub registered: bool,
    pub business: bool,
    pub last_active: Option<DateTime<Utc>>,
    /// Hour of the day (vendor zone) at which the account is most active.
    pub active_hour: Option<u8>,
    pub avatar_url: Option<String>,
    /// The about text, which vendors call status or signature.
    pub about: Option<String>,
    pub status_update: Option<NaiveDate>,
    pub gender: Gender,
    pub age: Option<u8>,
}

/// Keeps the digits only, so `+1 415-555-0123` and `14155550123` are the same number.
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Eight independent 32-bit draws for one (seed, number).
fn draws(seed: u64, salt: &str, digits: &str) -> [u64; 8] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(digits.as_bytes());
    let out = h.finalize();
    let mut d = [0u64; 8];
    for (i, chunk) in out.chunks_exact(4).enumerate() {
        d[i] = u64::from(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    d
}

/// A 64-bit hash of (seed, salt, text), for ids and other derived data.
pub fn hash64(seed: u64, salt: &str, text: &str) -> u64 {
    let d = draws(seed, salt, text);
    (d[0] << 32) | d[1]
}

/// The profile of `number` (any notation; only its digits count) in the world of `seed`.
pub fn profile(seed: u64, number: &str) -> Profile {
    let digits = digits(number);
    let d = draws(seed, "profile", &digits);
    let registered = d[0] % 100 < REGISTERED_PERCENT;
    if !registered {
        return Profile {
            number: format!("+{digits}"),
            registered,
            business: false,
            last_active: None,
            active_hour: None,
            avatar_url: None,
            about: None,
            status_update: None,
            gender: Gender::Unknown,
            age: None,
        };
    }
    let reference = Utc.timestamp_opt(REFERENCE_TIME_UNIX, 0).single();
    let last_active = reference.map(|r| r - Duration::seconds((d[1] % (60 * 86_400)) as i64));
    let status_update = reference.map(|r| (r - Duration::days((d[2] % 400) as i64)).date_naive());
    let gender = match d[3] % 100 {
        0..45 => Gender::Male,
        45..90 => Gender::Female,
        _ => Gender::Unknown,
    };
    let age = (gender != Gender::Unknown).then(|| 18 + (d[4] % 53) as u8);
    let avatar_url = (d[5] % 100 < 60).then(|| {
        format!(
            "https://avatar.example.com/wa/{:016x}.jpg",
            hash64(seed, "avatar", &digits)
        )
    });
    let about =
        (d[6] % 100 < 75).then(|| ABOUTS[(d[6] / 100 % ABOUTS.len() as u64) as usize].to_owned());
    Profile {
        number: format!("+{digits}"),
        registered,
        business: d[7] % 100 < 20,
        last_active,
        active_hour: Some((d[7] / 100 % 24) as u8),
        avatar_url,
        about,
        status_update,
        gender,
        age,
    }
}

/// The vendors' zone, from an offset in minutes east of UTC (falls back to UTC if out of range).
pub fn vendor_zone(offset_minutes: i32) -> FixedOffset {
    FixedOffset::east_opt(offset_minutes.saturating_mul(60)).unwrap_or(Utc.fix())
}

/// `yyyy-MM-dd HH:mm:ss` in the vendor's zone, the way the wscrm documents write times.
pub fn vendor_time(at: DateTime<Utc>, offset_minutes: i32) -> String {
    at.with_timezone(&vendor_zone(offset_minutes))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_digits_give_the_same_profile() {
        assert_eq!(profile(1, "+1 415-555-0123"), profile(1, "14155550123"));
    }

    #[test]
    fn seeds_change_the_world() {
        let differs = (0..50).any(|i| {
            let n = format!("+1415555{i:04}");
            profile(1, &n) != profile(2, &n)
        });
        assert!(differs);
    }

    #[test]
    fn about_seventy_percent_are_registered() {
        let registered = (0..2000)
            .filter(|i| profile(7, &format!("+5491100{i:05}")).registered)
            .count();
        assert!((1250..1550).contains(&registered), "{registered}");
    }

    #[test]
    fn unregistered_numbers_have_no_details() {
        let p = (0..100)
            .map(|i| profile(3, &format!("+4477009{i:05}")))
            .find(|p| !p.registered)
            .expect("some unregistered number");
        assert!(p.last_active.is_none() && p.about.is_none() && p.age.is_none());
        assert_eq!(p.gender, Gender::Unknown);
    }

    #[test]
    fn vendor_time_is_utc_plus_eight() {
        let at = Utc
            .timestamp_opt(REFERENCE_TIME_UNIX, 0)
            .single()
            .expect("valid");
        assert_eq!(vendor_time(at, 480), "2025-09-05 00:00:00");
    }
}
