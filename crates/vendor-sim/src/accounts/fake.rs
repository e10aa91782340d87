//! Deterministic data: everything the simulated vendor invents (names, contacts, profiles, avatar
//! URLs, QR payloads, pair codes, ids) is derived from a SHA-256 of the seed and the input, so the
//! same seed and request always give the same answer.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A stream of pseudo-random words derived from (seed, parts).
#[derive(Debug, Clone)]
pub struct Draw {
    base: [u8; 32],
    counter: u64,
}

impl Draw {
    pub fn new(seed: u64, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        for p in parts {
            // Length-prefixed so that ("ab","c") and ("a","bc") differ.
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        Self {
            base: h.finalize().into(),
            counter: 0,
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut h = Sha256::new();
            h.update(self.base);
            h.update(self.counter.to_le_bytes());
            self.counter += 1;
            out.extend_from_slice(&h.finalize());
        }
        out.truncate(n);
        out
    }

    pub fn u64(&mut self) -> u64 {
        let b = self.bytes(8);
        b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.u64() % (hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.u64() % 100 < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let len = items.len() as u64;
        if len == 0 {
            return "";
        }
        let i = usize::try_from(self.u64() % len).unwrap_or(0);
        items.get(i).copied().unwrap_or_default()
    }

    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.u64() % 10) as u8))
            .collect()
    }

    /// 32 lowercase hex characters, the shape of the vendor's string ids.
    pub fn hex32(&mut self) -> String {
        hex::encode(self.bytes(16))
    }
}

const FIRST: &[&str] = &[
    "Ryan", "Lina", "Omar", "Chen", "Maria", "Ahmed", "Sofia", "Wei", "Priya", "Lucas", "Aisha",
    "Diego", "Mei", "Ivan", "Fatima", "Tom", "Yuki", "Amir", "Nora", "Hugo",
];
const LAST: &[&str] = &[
    "Yu", "Silva", "Khan", "Wang", "Garcia", "Hassan", "Rossi", "Li", "Sharma", "Martin", "Ali",
    "Lopez", "Zhang", "Petrov", "Diallo", "Brown", "Tanaka", "Haddad", "Berg", "Moreau",
];
const ABOUT: &[&str] = &[
    "Hey there! I am using WhatsApp.",
    "Available",
    "Busy",
    "At work",
    "Nihao",
    "Urgent calls only",
    "Sleeping",
    "",
];
const BUSINESS: &[&str] = &[
    "Trading",
    "Store",
    "Studio",
    "Logistics",
    "Travel",
    "Foods",
    "Tech",
    "Clinic",
];

/// A person's given and family name.
pub fn person(seed: u64, key: &str) -> (String, String) {
    let mut d = Draw::new(seed, &["person", key]);
    (d.pick(FIRST).to_owned(), d.pick(LAST).to_owned())
}

/// An agent's login name such as `ryan.yu12`.
pub fn agent_name(seed: u64, key: &str) -> String {
    let (f, l) = person(seed, key);
    let mut d = Draw::new(seed, &["agent", key]);
    format!(
        "{}.{}{}",
        f.to_ascii_lowercase(),
        l.to_ascii_lowercase(),
        d.range(1, 99)
    )
}

/// Standard base64 with padding (the QR payload's alphabet).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A WhatsApp-Web-style QR payload: `2@<ref>,<noise key>,<identity key>,<adv secret>,1`, with a
/// 74-byte reference and three 32-byte keys in base64, the shape of the document's example.
pub fn qr_payload(seed: u64, key: &str) -> String {
    let mut d = Draw::new(seed, &["qr", key]);
    let reference = base64(&d.bytes(74));
    let keys: Vec<String> = (0..3).map(|_| base64(&d.bytes(32))).collect();
    format!("2@{reference},{},1", keys.join(","))
}

/// How `getQrCodeV2` forms a pair code (`isEasy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairMode {
    /// `n`: WhatsApp's own 8-character code, written as the example shows (`IVEA_IPON`).
    Native,
    /// `y`: easy to type, `PPPP-1111`.
    Easy,
    /// `b` or absent: eight 8s.
    Fixed,
}

impl PairMode {
    pub fn parse(v: Option<&str>) -> Option<Self> {
        match v.map(str::trim) {
            None | Some("" | "b" | "B" | "88888888") => Some(Self::Fixed),
            Some("n" | "N") => Some(Self::Native),
            Some("y" | "Y") => Some(Self::Easy),
            Some(_) => None,
        }
    }
}

/// A pair code of the requested mode; `key` makes repeated requests differ (the vendor issues a
/// fresh code each time).
pub fn pair_code(seed: u64, key: &str, mode: PairMode) -> String {
    // WhatsApp's pairing alphabet leaves out look-alike characters (0, O, I, U).
    const NATIVE: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
    let mut d = Draw::new(seed, &["pair", key]);
    match mode {
        PairMode::Fixed => "88888888".to_owned(),
        PairMode::Native => {
            let mut s: String = (0..8)
                .map(|_| char::from(NATIVE[(d.u64() % NATIVE.len() as u64) as usize]))
                .collect();
            s.insert(4, '_');
            s
        }
        PairMode::Easy => {
            let letter = char::from(b'A' + (d.u64() % 26) as u8);
            let digit = char::from(b'1' + (d.u64() % 9) as u8);
            format!("{0}{0}{0}{0}-{1}{1}{1}{1}", letter, digit)
        }
    }
}

/// A WhatsApp CDN avatar URL of the shape the document shows; `oe` (expiry) is hex epoch seconds.
pub fn avatar_url(seed: u64, whatsapp: &str) -> String {
    let mut d = Draw::new(seed, &["avatar", whatsapp]);
    let oh: String = base64(&d.bytes(30))
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .filter(|c| *c != '=')
        .collect();
    format!(
        "https://pps.whatsapp.net/v/t61.24694-24/{}_{}_{}_n.jpg?ccb=11-4&oh=01_{}&oe={:08X}&_nc_sid=5e03e0&_nc_cat={}",
        d.range(100_000_000, 999_999_999),
        d.range(1_000_000_000_000_000, 9_999_999_999_999_999),
        d.range(1_000_000_000_000_000_000, 9_999_999_999_999_999_999),
        oh,
        d.range(0x6900_0000, 0x6AFF_FFFF),
        d.range(100, 111),
    )
}

/// One entry of a cloud port's address book.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub whatsapp: String,
    pub push_name: String,
    pub is_friend: bool,
    pub first_name: String,
    pub full_name: String,
}

/// The country prefix a contact of `owner` most likely has: owner's first two digits.
fn country_of(owner: &str) -> &str {
    owner.get(..2).unwrap_or("86")
}

/// What the vendor knows of `phone` as seen from `owner`'s session.
pub fn contact(seed: u64, owner: &str, phone: &str) -> Contact {
    let mut d = Draw::new(seed, &["contact", owner, phone]);
    let (first, last) = person(seed, phone);
    let is_friend = d.chance(60);
    let has_push = d.chance(85);
    Contact {
        whatsapp: phone.to_owned(),
        push_name: if has_push {
            format!("{first} {last}")
        } else {
            String::new()
        },
        is_friend,
        first_name: if is_friend {
            first.clone()
        } else {
            String::new()
        },
        full_name: if is_friend {
            format!("{first} {last}")
        } else {
            String::new()
        },
    }
}

/// The address book of a logged-in account: 4 to 12 contacts in the owner's country.
pub fn contacts(seed: u64, owner: &str) -> Vec<Contact> {
    let mut d = Draw::new(seed, &["book", owner]);
    let n = d.range(4, 12);
    let cc = country_of(owner);
    let len = owner.len().clamp(10, 15).saturating_sub(cc.len());
    (0..n)
        .map(|_| {
            let phone = format!("{cc}{}", d.digits(len));
            contact(seed, owner, &phone)
        })
        .collect()
}

/// The parts of a profile that are invented (overrides and the account's own data come on top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileBase {
    pub push_name: String,
    pub is_business: bool,
    pub business_name: String,
    pub avatar: String,
    pub status: String,
    pub chat_num: u64,
    pub group_num: u64,
    /// Seconds before the login at which the last chat happened.
    pub last_chat_before_login: u64,
}

pub fn profile(seed: u64, whatsapp: &str, business: Option<bool>) -> ProfileBase {
    let mut d = Draw::new(seed, &["profile", whatsapp]);
    let (first, last) = person(seed, whatsapp);
    let is_business = business.unwrap_or_else(|| d.chance(30));
    let business_name = if is_business {
        format!("{last} {}", d.pick(BUSINESS))
    } else {
        String::new()
    };
    ProfileBase {
        push_name: if is_business {
            business_name.clone()
        } else {
            format!("{first} {last}")
        },
        is_business,
        business_name,
        avatar: if d.chance(80) {
            avatar_url(seed, whatsapp)
        } else {
            String::new()
        },
        status: d.pick(ABOUT).to_owned(),
        chat_num: d.range(0, 240),
        group_num: d.range(0, 30),
        last_chat_before_login: d.range(60, 7 * 86_400),
    }
}

/// Pairing targets of the simulated tenant; ids and times as in the document's example.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairTarget {
    pub create_time: String,
    pub target_tenant_name: String,
    pub target_tenant_id: i64,
}

pub fn pair_targets(seed: u64) -> Vec<PairTarget> {
    [
        (10085, "2025-11-05 16:22:07"),
        (10086, "2025-11-21 10:50:37"),
    ]
    .iter()
    .map(|(id, at)| {
        let (first, last) = person(seed, &format!("tenant-{id}"));
        PairTarget {
            create_time: (*at).to_owned(),
            target_tenant_name: format!(
                "{}{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase()
            ),
            target_tenant_id: *id,
        }
    })
    .collect()
}

/// Milliseconds added to Unix time before shifting, chosen so that fresh ids look like the
/// document's (`8639164839053938688` was issued on 2025-07-31 15:40:19 UTC+8).
const ID_EPOCH_SHIFT_MS: i64 = 305_789_786_000;

/// A 64-bit snowflake-style id: time in the high bits, 22 low bits from the draw.
pub fn snowflake(unix_ms: i64, low: u64) -> u64 {
    let t = u64::try_from(unix_ms.saturating_add(ID_EPOCH_SHIFT_MS)).unwrap_or(0);
    (t << 22) | (low & 0x3F_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        assert_eq!(qr_payload(7, "a"), qr_payload(7, "a"));
        assert_ne!(qr_payload(7, "a"), qr_payload(8, "a"));
        assert_ne!(qr_payload(7, "a"), qr_payload(7, "b"));
        assert_eq!(contacts(7, "8613633800088"), contacts(7, "8613633800088"));
        assert_eq!(
            profile(7, "447962000001", None),
            profile(7, "447962000001", None)
        );
    }

    #[test]
    fn qr_has_the_example_shape() {
        let q = qr_payload(7, "x");
        assert!(q.starts_with("2@"));
        let parts: Vec<&str> = q.split(',').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0].len(), 2 + 100);
        assert!(
            parts[1..4]
                .iter()
                .all(|p| p.len() == 44 && p.ends_with('='))
        );
        assert_eq!(parts[4], "1");
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn pair_codes() {
        assert_eq!(pair_code(7, "k", PairMode::Fixed), "88888888");
        let n = pair_code(7, "k", PairMode::Native);
        assert_eq!(n.len(), 9);
        assert_eq!(&n[4..5], "_");
        let e = pair_code(7, "k", PairMode::Easy);
        let b = e.as_bytes();
        assert_eq!(b.len(), 9);
        assert!(b[..4].iter().all(|c| *c == b[0] && c.is_ascii_uppercase()));
        assert!(b[5..].iter().all(|c| *c == b[5] && c.is_ascii_digit()));
        assert_eq!(PairMode::parse(Some("x")), None);
        assert_eq!(PairMode::parse(None), Some(PairMode::Fixed));
    }

    #[test]
    fn snowflake_matches_the_document_example() {
        // 2025-07-31 15:40:19 UTC+8, the createTime printed beside 8639164839053938688.
        let id = snowflake(1_753_947_619_000, 0);
        let example: u64 = 8_639_164_839_053_938_688;
        let diff = id.abs_diff(example) >> 22;
        assert!(diff < 1000, "ids drift {diff} ms from the example");
    }

    #[test]
    fn avatar_is_a_whatsapp_cdn_url() {
        let u = avatar_url(7, "447962000001");
        assert!(u.starts_with("https://pps.whatsapp.net/v/t61.24694-24/"));
        assert!(u.contains("&_nc_sid=5e03e0&"));
    }
}
