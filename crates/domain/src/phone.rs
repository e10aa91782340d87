//! Phone numbers: E.164 values, normalisation of user notations, batch dedupe, masking for logs.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id as CountryId;
use phonenumber::metadata::Descriptor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod fast;

/// E.164 allows at most 15 digits including the country code.
const MAX_E164_DIGITS: usize = 15;
/// The shortest numbering plans in use (e.g. +290 XXXX, +683 XXXX) give 7 digits in total.
const MIN_E164_DIGITS: usize = 7;
/// Inputs are copied to a stack buffer before parsing; anything longer is noise or far too long.
const MAX_INPUT_DIGITS: usize = 24;

/// A phone number in E.164 form, validated against libphonenumber metadata.
///
/// Stored as its digits in a `u64` (15 digits always fit) plus the ISO region, so the type is
/// `Copy`, cheap to hash and needs no heap allocation: a batch of a million numbers stays compact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    digits: u64,
    /// ISO 3166-1 alpha-2 region; `[0, 0]` for non-geographic numbers (+800, +882, ...).
    region: [u8; 2],
}

impl E164 {
    /// Digits without the leading `+` (the "with country code" notation some vendors want).
    pub fn digits(&self) -> String {
        self.digits.to_string()
    }

    /// The digits as an integer.
    pub fn as_u64(&self) -> u64 {
        self.digits
    }

    /// ISO 3166-1 alpha-2 region of the number, `None` for non-geographic numbers.
    pub fn region(&self) -> Option<&str> {
        if self.region == [0, 0] {
            None
        } else {
            std::str::from_utf8(&self.region).ok()
        }
    }

    /// The country calling code (1 to 3 digits).
    pub fn country_code(&self) -> u16 {
        // Country calling codes form a prefix-free set, so the first prefix that the metadata
        // knows is the code.
        let s = self.digits.to_string();
        for len in 1..=3 {
            if let Some(prefix) = s.get(..len)
                && let Ok(code) = prefix.parse::<u16>()
                && phonenumber::metadata::DATABASE.by_code(&code).is_some()
            {
                return code;
            }
        }
        0
    }

    /// Digits after the country calling code (the national significant number).
    pub fn national_digits(&self) -> String {
        let s = self.digits.to_string();
        let cc_len = self.country_code().to_string().len();
        s.get(cc_len..).unwrap_or_default().to_owned()
    }

    /// Masked form for logs, see [`mask`].
    pub fn masked(&self) -> String {
        mask(&self.to_string())
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

impl fmt::Debug for E164 {
    // Debug output lands in logs; keep it masked so numbers are not leaked by `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.masked())
    }
}

impl FromStr for E164 {
    type Err = InvalidNumber;

    /// Accepts only the canonical form `+<digits>`, then validates it like [`normalize`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canonical = s.len() > MIN_E164_DIGITS
            && s.len() <= MAX_E164_DIGITS + 1
            && s.starts_with('+')
            && s.bytes().skip(1).all(|b| b.is_ascii_digit())
            && !s[1..].starts_with('0');
        if !canonical {
            return Err(InvalidNumber::new(s, InvalidReason::NotE164));
        }
        normalize(s, None)
    }
}

impl Serialize for E164 {
    // Written from a stack buffer rather than through `Display`: results of large jobs serialize
    // hundreds of thousands of numbers, and the formatting machinery was a visible share of it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 21];
        let mut start = buf.len();
        let mut rest = self.digits;
        loop {
            start -= 1;
            buf[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        start -= 1;
        buf[start] = b'+';
        let text = std::str::from_utf8(&buf[start..]).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = E164;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a phone number in E.164 form, e.g. \"+919876543210\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<E164, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl utoipa::PartialSchema for E164 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Phone number in E.164 form: `+`, country code, national number.",
            ))
            .pattern(Some(r"^\+[1-9][0-9]{6,14}$"))
            .examples([serde_json::json!("+919876543210")])
            .into()
    }
}

impl utoipa::ToSchema for E164 {}

/// Why an input is not a usable phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    /// Blank input.
    Empty,
    /// Letters or symbols that no phone notation uses, or too few digits.
    NotANumber,
    /// The country calling code does not exist.
    UnknownCountry,
    /// No `+`/`00` prefix and no default country to read a national number with.
    MissingCountry,
    /// The default country given with the request is not an ISO 3166-1 alpha-2 code.
    UnknownDefaultCountry,
    TooShort,
    TooLong,
    /// Length is plausible but the number matches no numbering plan of its region.
    InvalidForRegion,
    /// Strict parsing: not of the form `+<7..15 digits>`.
    NotE164,
}

impl InvalidReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotANumber => "not_a_number",
            Self::UnknownCountry => "unknown_country",
            Self::MissingCountry => "missing_country",
            Self::UnknownDefaultCountry => "unknown_default_country",
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::InvalidForRegion => "invalid_for_region",
            Self::NotE164 => "not_e164",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input that could not be normalised, with the reason.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, thiserror::Error,
)]
#[error("invalid phone number ({reason})")]
pub struct InvalidNumber {
    /// The input as given (callers echo it back to the client that sent it).
    pub input: String,
    pub reason: InvalidReason,
}

impl InvalidNumber {
    pub fn new(input: &str, reason: InvalidReason) -> Self {
        Self {
            input: input.to_owned(),
            reason,
        }
    }
}

/// A parsed default country; parse it once per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultCountry(CountryId);

impl DefaultCountry {
    /// Accepts an ISO 3166-1 alpha-2 code in any case, e.g. `in`, `PE`.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let upper = code.to_ascii_uppercase();
        let id = CountryId::from_str(&upper).ok()?;
        // Ids that exist in the enum but have no metadata cannot parse anything.
        phonenumber::metadata::DATABASE.by_id(id.as_ref())?;
        Some(Self(id))
    }
}

/// Normalises one number written in any common notation to E.164.
///
/// Accepted: spaces, dashes, parentheses, dots, slashes; a leading `+` or `00` international prefix;
/// a national number read with `default_country` (ISO alpha-2). Without a default country, a
/// number without `+`/`00` is read as digits that start with the country code, the notation the
/// screening vendor uses (`91182716322323`).
pub fn normalize(input: &str, default_country: Option<&str>) -> Result<E164, InvalidNumber> {
    let country = match default_country {
        Some(code) => match DefaultCountry::parse(code) {
            Some(c) => Some(c),
            None => {
                return Err(InvalidNumber::new(
                    input,
                    InvalidReason::UnknownDefaultCountry,
                ));
            }
        },
        None => None,
    };
    normalize_with(input, country).map_err(|reason| InvalidNumber::new(input, reason))
}

/// [`normalize`] with a pre-parsed default country; the error carries only the reason so batch
/// callers allocate nothing for valid inputs.
pub fn normalize_with(input: &str, country: Option<DefaultCountry>) -> Result<E164, InvalidReason> {
    normalize_impl(input, country, true)
}

/// [`normalize_with`]; `fast` allows answering `+<digits>` without the crate's full parse (the
/// answer is the same either way: the tests compare both).
fn normalize_impl(
    input: &str,
    country: Option<DefaultCountry>,
    fast: bool,
) -> Result<E164, InvalidReason> {
    match scan(input, country, fast) {
        Scan::Done(result) => result,
        Scan::Parse(pending) => pending.parse(country),
    }
}

/// The first, cheap stage of [`normalize_impl`].
enum Scan {
    /// Answered without the crate's parser.
    Done(Result<E164, InvalidReason>),
    /// Only the crate's full parse can tell.
    Parse(Pending),
}

/// An input reduced to `+` and its digits, waiting for the crate's parse.
struct Pending {
    buf: [u8; MAX_INPUT_DIGITS + 1],
    /// The digits are `buf[start..start + len]`.
    start: usize,
    len: usize,
    international: bool,
}

fn scan(input: &str, country: Option<DefaultCountry>, fast: bool) -> Scan {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Scan::Done(Err(InvalidReason::Empty));
    }

    // Stack buffer: "+" and the digits. Separators are dropped; anything else rejects the input,
    // which also keeps libphonenumber's vanity-letter and extension parsing out of the way.
    let mut buf = [0u8; MAX_INPUT_DIGITS + 1];
    let mut len = 0usize;
    let mut plus = false;
    let mut seen_digit = false;
    for c in trimmed.chars() {
        match c {
            '0'..='9' => {
                if len >= MAX_INPUT_DIGITS {
                    return Scan::Done(Err(InvalidReason::TooLong));
                }
                buf[1 + len] = c as u8;
                len += 1;
                seen_digit = true;
            }
            '+' | '\u{FF0B}' if !seen_digit && !plus => plus = true,
            ' ' | '-' | '(' | ')' | '.' | '/' | '\t' | '\u{00A0}' | '\u{2010}'..='\u{2015}' => {}
            _ => return Scan::Done(Err(InvalidReason::NotANumber)),
        }
    }
    if len < 3 {
        return Scan::Done(Err(InvalidReason::NotANumber));
    }

    let mut start = 1usize;
    let international = if plus {
        true
    } else if buf[1] == b'0' && buf[2] == b'0' {
        start = 3;
        len -= 2;
        true
    } else {
        country.is_none()
    };

    if international {
        if len > MAX_E164_DIGITS {
            return Scan::Done(Err(InvalidReason::TooLong));
        }
        if fast && let Some((digits, region)) = fast::international(&buf[start..start + len]) {
            return Scan::Done(Ok(E164 { digits, region }));
        }
    }
    Scan::Parse(Pending {
        buf,
        start,
        len,
        international,
    })
}

impl Pending {
    /// The crate's parse and validation of the digits.
    fn parse(mut self, country: Option<DefaultCountry>) -> Result<E164, InvalidReason> {
        let (buf, start, len, international) =
            (&mut self.buf, self.start, self.len, self.international);
        let parsed = if international {
            buf[start - 1] = b'+';
            let s = std::str::from_utf8(&buf[start - 1..start + len])
                .map_err(|_| InvalidReason::NotANumber)?;
            phonenumber::parse(None, s)
        } else {
            let s = std::str::from_utf8(&buf[1..1 + len]).map_err(|_| InvalidReason::NotANumber)?;
            phonenumber::parse(country.map(|c| c.0), s)
        };

        let number =
            parsed.map_err(|e| match e {
                phonenumber::ParseError::InvalidCountryCode => {
                    if international || country.is_some() {
                        InvalidReason::UnknownCountry
                    } else {
                        InvalidReason::MissingCountry
                    }
                }
                phonenumber::ParseError::TooShortAfterIdd
                | phonenumber::ParseError::TooShortNsn => InvalidReason::TooShort,
                phonenumber::ParseError::TooLong => InvalidReason::TooLong,
                phonenumber::ParseError::NoNumber
                | phonenumber::ParseError::MalformedInteger(_) => InvalidReason::NotANumber,
            })?;

        let code = number.code().value();
        let national = number.national();
        let value = national.value();
        let nat_len = usize::from(national.zeros()) + decimal_len(value);
        let total_len = decimal_len(u64::from(code)) + nat_len;

        if !number.is_valid() {
            return Err(length_reason(&number, nat_len));
        }
        if total_len > MAX_E164_DIGITS {
            return Err(InvalidReason::TooLong);
        }
        if total_len < MIN_E164_DIGITS {
            return Err(InvalidReason::TooShort);
        }
        let pow = 10u64
            .checked_pow(u32::try_from(nat_len).map_err(|_| InvalidReason::TooLong)?)
            .ok_or(InvalidReason::TooLong)?;
        let digits = u64::from(code)
            .checked_mul(pow)
            .and_then(|d| d.checked_add(value))
            .ok_or(InvalidReason::TooLong)?;

        let region = match number.country().id() {
            Some(id) => region_bytes(id.as_ref()),
            // The crate looks regions up without the national number's leading zeros, which
            // misses shared codes such as +39 (IT/VA) for numbers like 06...; retry with the
            // zeros kept.
            None => region_of(code, &national.to_string()),
        };

        Ok(E164 { digits, region })
    }
}

fn region_bytes(r: &str) -> [u8; 2] {
    match r.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => [*a, *b],
        _ => [0, 0],
    }
}

fn descriptors(meta: &phonenumber::Metadata) -> impl Iterator<Item = &Descriptor> {
    let d = meta.descriptors();
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
}

fn region_of(code: u16, national: &str) -> [u8; 2] {
    let db = &phonenumber::metadata::DATABASE;
    let Some(regions) = db.region(&code) else {
        return [0, 0];
    };
    if let [only] = regions.as_slice() {
        return region_bytes(only);
    }
    for r in regions {
        let Some(meta) = db.by_id(r) else { continue };
        let matches = match meta.leading_digits() {
            Some(p) => p.find(national).is_some_and(|m| m.start() == 0),
            None => {
                meta.descriptors().general().is_match(national)
                    && descriptors(meta).any(|d| d.is_match(national))
            }
        };
        if matches {
            return region_bytes(r);
        }
    }
    [0, 0]
}

/// Too short / too long against every length the region's numbering plan allows.
fn length_reason(number: &phonenumber::PhoneNumber, nat_len: usize) -> InvalidReason {
    let db = &phonenumber::metadata::DATABASE;
    let Some(metas) = db.by_code(&number.code().value()) else {
        return InvalidReason::UnknownCountry;
    };
    let lengths = metas.iter().flat_map(|m| {
        std::iter::once(m.descriptors().general())
            .chain(descriptors(m))
            .flat_map(|d| d.possible_length().iter().copied())
    });
    let (min, max) = lengths.fold((u16::MAX, 0u16), |(lo, hi), l| (lo.min(l), hi.max(l)));
    if min == u16::MAX {
        return InvalidReason::InvalidForRegion;
    }
    if nat_len < usize::from(min) {
        InvalidReason::TooShort
    } else if nat_len > usize::from(max) {
        InvalidReason::TooLong
    } else {
        InvalidReason::InvalidForRegion
    }
}

fn decimal_len(v: u64) -> usize {
    if v == 0 { 1 } else { v.ilog10() as usize + 1 }
}

/// The outcome of normalising many inputs at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedBatch {
    /// Valid numbers, deduplicated, in first-seen order.
    pub numbers: Vec<E164>,
    /// Inputs that are not numbers, with their index in the input list.
    pub invalid: Vec<(usize, InvalidNumber)>,
    /// How many valid inputs repeated a number already seen (in any notation).
    pub duplicates: usize,
}

/// Raw number inputs (any notation) kept as one text plus where each item ends.
///
/// A million inputs cost their bytes and one `usize` each, instead of a `String` each (24 bytes
/// plus a heap block, allocated and freed one by one). Deserialises from a JSON array of
/// strings, with the same errors as `Vec<String>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NumberList {
    text: String,
    ends: Vec<usize>,
}

impl NumberList {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn push(&mut self, input: &str) {
        self.text.push_str(input);
        self.ends.push(self.text.len());
    }

    /// The input at `index`.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl fmt::Debug for NumberList {
    // Inputs are phone numbers: show how many, not which.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NumberList({} inputs)", self.len())
    }
}

impl<S: AsRef<str>> FromIterator<S> for NumberList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut list = Self::new();
        for input in iter {
            list.push(input.as_ref());
        }
        list
    }
}

impl<'de> Deserialize<'de> for NumberList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> serde::de::Visitor<'de> for ListVisitor {
            type Value = NumberList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<NumberList, A::Error> {
                let mut list = NumberList::new();
                while seq.next_element_seed(Item(&mut list))?.is_some() {}
                Ok(list)
            }
        }

        /// One string of the array, appended straight to the list's text.
        struct Item<'a>(&'a mut NumberList);
        impl<'de> serde::de::DeserializeSeed<'de> for Item<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.deserialize_string(self)
            }
        }
        impl serde::de::Visitor<'_> for Item<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `String`'s wording, so errors read as they did with `Vec<String>`.
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
                self.0.push(v);
                Ok(())
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<(), E> {
                match std::str::from_utf8(v) {
                    Ok(s) => self.visit_str(s),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
                }
            }
        }

        deserializer.deserialize_seq(ListVisitor)
    }
}

/// The inputs of a batch: anything that hands out its items as text by index.
pub trait BatchInputs: Sync {
    fn count(&self) -> usize;
    fn item(&self, index: usize) -> &str;
}

impl<S: AsRef<str> + Sync> BatchInputs for [S] {
    fn count(&self) -> usize {
        self.len()
    }
    fn item(&self, index: usize) -> &str {
        self[index].as_ref()
    }
}

impl<S: AsRef<str> + Sync, const N: usize> BatchInputs for [S; N] {
    fn count(&self) -> usize {
        N
    }
    fn item(&self, index: usize) -> &str {
        self[index].as_ref()
    }
}

impl<S: AsRef<str> + Sync> BatchInputs for Vec<S> {
    fn count(&self) -> usize {
        self.len()
    }
    fn item(&self, index: usize) -> &str {
        self[index].as_ref()
    }
}

impl BatchInputs for NumberList {
    fn count(&self) -> usize {
        self.len()
    }
    fn item(&self, index: usize) -> &str {
        self.get(index).unwrap_or_default()
    }
}

/// Below this many inputs a batch is normalised on the calling thread alone.
const PARALLEL_MIN_INPUTS: usize = 20_000;
/// At most this many threads normalise one batch.
const MAX_THREADS: usize = 8;

/// Normalises, validates and deduplicates a batch (up to millions of inputs).
///
/// An unknown `default_country` only affects inputs that need it; they are reported as
/// `unknown_default_country`. Large batches are normalised on all cores (scoped threads), then
/// deduplicated in input order, so the outcome does not depend on the number of threads.
pub fn normalize_batch<I: BatchInputs + ?Sized>(
    inputs: &I,
    default_country: Option<&str>,
) -> NormalizedBatch {
    let (country, bad_country) = match default_country {
        Some(code) => match DefaultCountry::parse(code) {
            Some(c) => (Some(c), false),
            None => (None, true),
        },
        None => (None, false),
    };

    let total = inputs.count();
    let threads = if total < 2 * PARALLEL_MIN_INPUTS {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_THREADS)
            .min(total / PARALLEL_MIN_INPUTS)
    };
    let mut results = vec![Err(InvalidReason::Empty); total];
    // Each part also returns its valid numbers as (digits, index), sorted.
    let runs: Vec<Vec<(u64, usize)>> = if threads <= 1 {
        vec![normalize_chunk(
            inputs,
            0,
            &mut results,
            country,
            bad_country,
        )]
    } else {
        let chunk = total.div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = results
                .chunks_mut(chunk)
                .enumerate()
                .map(|(i, results)| {
                    scope.spawn(move || {
                        normalize_chunk(inputs, i * chunk, results, country, bad_country)
                    })
                })
                .collect();
            parts
                .into_iter()
                .map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let duplicate = repeated_after_first(&runs, total);
    drop(runs);

    let mut out = NormalizedBatch {
        numbers: Vec::with_capacity(total),
        ..NormalizedBatch::default()
    };
    for (index, (result, duplicate)) in results.into_iter().zip(duplicate).enumerate() {
        match result {
            Ok(_) if duplicate => out.duplicates += 1,
            Ok(number) => out.numbers.push(number),
            Err(reason) => out
                .invalid
                .push((index, InvalidNumber::new(inputs.item(index), reason))),
        }
    }
    out
}

/// Marks every index whose digits already appeared at a smaller index, from runs of
/// (digits, index) each sorted: merging them meets equal digits together, smallest index first.
///
/// Sorting (in parallel, per part) and merging touches memory in order; a hash set of a million
/// numbers costs a cache miss per insert and was the slowest step of large batches.
fn repeated_after_first(runs: &[Vec<(u64, usize)>], total: usize) -> Vec<bool> {
    use std::cmp::Reverse;
    let mut duplicate = vec![false; total];
    let mut last = None;
    let mut mark = |digits: u64, index: usize| {
        if last == Some(digits) {
            duplicate[index] = true;
        }
        last = Some(digits);
    };
    if let [run] = runs {
        for &(digits, index) in run {
            mark(digits, index);
        }
    } else {
        let mut heads: std::collections::BinaryHeap<_> = runs
            .iter()
            .enumerate()
            .filter_map(|(r, run)| run.first().map(|&(d, i)| Reverse((d, i, r, 0usize))))
            .collect();
        while let Some(Reverse((digits, index, r, pos))) = heads.pop() {
            mark(digits, index);
            if let Some(&(d, i)) = runs[r].get(pos + 1) {
                heads.push(Reverse((d, i, r, pos + 1)));
            }
        }
    }
    duplicate
}

/// Normalises the inputs from `first` on into `results` (one per input); returns the valid ones
/// as (digits, index), sorted.
fn normalize_chunk<I: BatchInputs + ?Sized>(
    inputs: &I,
    first: usize,
    results: &mut [Result<E164, InvalidReason>],
    country: Option<DefaultCountry>,
    bad_country: bool,
) -> Vec<(u64, usize)> {
    // Exact repeats of the same text are common in uploaded lists: the crate's parse (slow) runs
    // once per distinct text. Inputs answered by the fast path are not worth remembering.
    let mut memo: HashMap<&str, Result<E164, InvalidReason>> = HashMap::new();
    let mut valid = Vec::with_capacity(results.len());
    for (i, slot) in results.iter_mut().enumerate() {
        let key = inputs.item(first + i).trim();
        let result = match scan(key, country, true) {
            Scan::Done(result) => result,
            Scan::Parse(pending) => *memo.entry(key).or_insert_with(|| pending.parse(country)),
        };
        if let Ok(number) = result {
            valid.push((number.digits, first + i));
        }
        *slot = result.map_err(|reason| {
            if bad_country && reason == InvalidReason::MissingCountry {
                InvalidReason::UnknownDefaultCountry
            } else {
                reason
            }
        });
    }
    valid.sort_unstable();
    valid
}

/// Groups numbers by ISO region (first-seen order inside each group), for vendors that take one
/// country per order. Non-geographic numbers are grouped under `None`.
pub fn split_by_country(numbers: &[E164]) -> BTreeMap<Option<String>, Vec<E164>> {
    let mut groups: BTreeMap<Option<[u8; 2]>, Vec<E164>> = BTreeMap::new();
    for n in numbers {
        let key = (n.region != [0, 0]).then_some(n.region);
        groups.entry(key).or_default().push(*n);
    }
    groups
        .into_iter()
        .map(|(k, v)| {
            let key = k.map(|r| String::from_utf8_lossy(&r).into_owned());
            (key, v)
        })
        .collect()
}

/// Masks a phone number for logs: keeps a `+` and the first two digits (country-code-ish) and the
/// last four, e.g. `+919182716322323` → `+91******2323`. Short inputs are masked entirely.
pub fn mask(number: &str) -> String {
    let plus = number.trim_start().starts_with('+');
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 1);
    if plus {
        out.push('+');
    }
    if digits.len() < 8 {
        out.extend(std::iter::repeat_n('*', digits.len().max(4)));
        return out;
    }
    let head = 2;
    let tail = 4;
    out.extend(&digits[..head]);
    out.extend(std::iter::repeat_n('*', 6));
    out.extend(&digits[digits.len() - tail..]);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn n(s: &str, c: Option<&str>) -> String {
        normalize(s, c).unwrap().to_string()
    }

    fn reason(s: &str, c: Option<&str>) -> InvalidReason {
        normalize(s, c).unwrap_err().reason
    }

    #[test]
    fn notations() {
        let expected = "+919876543210";
        for s in [
            "+91 98765 43210",
            "+91-98765-43210",
            "+91 (98765) 43210",
            "+91.98765.43210",
            "0091 98765 43210",
            "00919876543210",
            "919876543210",
            "  +919876543210  ",
        ] {
            assert_eq!(n(s, None), expected, "{s}");
        }
        for s in [
            "098765 43210",
            "98765-43210",
            "(98765) 43210",
            "+919876543210",
        ] {
            assert_eq!(n(s, Some("IN")), expected, "{s}");
        }
        assert_eq!(n("(202) 555-0143", Some("us")), "+12025550143");
        assert_eq!(n("202.555.0143", Some("US")), "+12025550143");
        assert_eq!(n("030 1234567", Some("DE")), "+49301234567");
        assert_eq!(n("06 1234 5678", Some("IT")), "+390612345678");
        assert_eq!(n("987 654 321", Some("PE")), "+51987654321");
    }

    #[test]
    fn italian_leading_zero_survives() {
        let e = normalize("+39 06 1234 5678", None).unwrap();
        assert_eq!(e.to_string(), "+390612345678");
        assert_eq!(e.country_code(), 39);
        assert_eq!(e.national_digits(), "0612345678");
        assert_eq!(e.region(), Some("IT"));
    }

    #[test]
    fn regions_and_codes() {
        let pe = normalize("+51 987 654 321", None).unwrap();
        assert_eq!(pe.region(), Some("PE"));
        assert_eq!(pe.country_code(), 51);
        assert_eq!(pe.national_digits(), "987654321");
        assert_eq!(pe.digits(), "51987654321");
        let ca = normalize("+1 416 555 0123", None);
        // 555-01xx are fictional in NANP; validity depends on metadata, so only check the code.
        if let Ok(ca) = ca {
            assert_eq!(ca.country_code(), 1);
        }
        let us = normalize("+1 202 555 0143", None).unwrap();
        assert_eq!(us.country_code(), 1);
    }

    #[test]
    fn invalid_reasons() {
        assert_eq!(reason("", None), InvalidReason::Empty);
        assert_eq!(reason("   ", None), InvalidReason::Empty);
        assert_eq!(reason("hello", None), InvalidReason::NotANumber);
        assert_eq!(reason("+91 98765 4321a", None), InvalidReason::NotANumber);
        assert_eq!(reason("12", None), InvalidReason::NotANumber);
        assert_eq!(
            reason("+999 1234 5678", None),
            InvalidReason::UnknownCountry
        );
        assert_eq!(reason("+91 98", None), InvalidReason::TooShort);
        assert_eq!(
            reason("+91 98765 43210 12345", None),
            InvalidReason::TooLong
        );
        assert_eq!(reason("+51 987 654 3210 12", None), InvalidReason::TooLong);
        assert_eq!(
            reason("+91 98765 432101", None),
            InvalidReason::InvalidForRegion
        );
        assert_eq!(
            reason("+1 011 555 0143", None),
            InvalidReason::InvalidForRegion
        );
        assert_eq!(
            reason("98765 43210", Some("XX")),
            InvalidReason::UnknownDefaultCountry
        );
        assert_eq!(
            reason("1234567890123456789012345678", None),
            InvalidReason::TooLong
        );
    }

    #[test]
    fn strict_parse_and_serde() {
        let e: E164 = "+919876543210".parse().unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"+919876543210\"");
        let back: E164 = serde_json::from_str("\"+919876543210\"").unwrap();
        assert_eq!(back, e);
        assert!(serde_json::from_str::<E164>("\"919876543210\"").is_err());
        assert!(serde_json::from_str::<E164>("\"+91 98765 43210\"").is_err());
        assert!("+0919876543210".parse::<E164>().is_err());
        assert!("+91987654321".parse::<E164>().is_err());
        assert!(!format!("{e:?}").contains("9876543210"));
    }

    #[test]
    fn serialized_form_is_the_display_form() {
        for s in [
            "+919876543210",
            "+12025550123",
            "+51987654321",
            "+4915123456789",
            "+8613800138000",
        ] {
            let e: E164 = s.parse().unwrap();
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
            assert_eq!(format!("{e}"), s);
        }
    }

    #[test]
    fn batch_dedupes_in_first_seen_order() {
        let inputs = [
            "+91 98765 43210",
            "bad",
            "+51 987 654 321",
            "0091-98765-43210",
            "",
            "919876543210",
            "+51987654321",
            "+91 98765 43210",
        ];
        let b = normalize_batch(&inputs, None);
        let got: Vec<String> = b.numbers.iter().map(ToString::to_string).collect();
        assert_eq!(got, ["+919876543210", "+51987654321"]);
        assert_eq!(b.duplicates, 4);
        assert_eq!(b.invalid.len(), 2);
        assert_eq!(b.invalid[0].0, 1);
        assert_eq!(b.invalid[0].1.reason, InvalidReason::NotANumber);
        assert_eq!(b.invalid[0].1.input, "bad");
        assert_eq!(b.invalid[1].0, 4);
        assert_eq!(b.invalid[1].1.reason, InvalidReason::Empty);
    }

    #[test]
    fn batch_with_default_country() {
        let b = normalize_batch(
            &["987 654 321", "+91 98765 43210", "0051 987654321"],
            Some("pe"),
        );
        assert_eq!(b.numbers.len(), 2);
        assert_eq!(b.duplicates, 1);
        let b = normalize_batch(&["987 654 321", "+51 987 654 321"], Some("ZZ"));
        // Only the input that needed the default country fails.
        assert_eq!(b.numbers.len(), 1);
        assert_eq!(b.invalid.len(), 1);
    }

    #[test]
    fn split() {
        let nums: Vec<E164> = ["+919876543210", "+51987654321", "+919876543211"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let groups = split_by_country(&nums);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[&Some("IN".to_owned())].len(), 2);
        assert_eq!(groups[&Some("PE".to_owned())].len(), 1);
    }

    #[test]
    fn masking() {
        assert_eq!(mask("+919182716322323"), "+91******2323");
        assert_eq!(mask("+51987654321"), "+51******4321");
        assert_eq!(mask("51987654321"), "51******4321");
        assert_eq!(mask("+1234"), "+****");
        assert_eq!(mask(""), "****");
        assert!(!mask("+919876543210").contains("987654"));
    }

    /// xorshift64*: a reproducible stream of inputs.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }

        fn digits(&mut self, n: usize) -> String {
            (0..n)
                .map(|_| char::from(b'0' + self.below(10) as u8))
                .collect()
        }
    }

    /// Inputs around every region's example numbers and random digit strings of every length.
    fn comparison_inputs() -> Vec<String> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut inputs = Vec::new();
        for meta in phonenumber::metadata::DATABASE.iter() {
            let cc = meta.country_code();
            let d = meta.descriptors();
            let examples = std::iter::once(d.general())
                .chain(descriptors(meta))
                .filter_map(|desc| desc.example());
            for ex in examples {
                inputs.push(format!("+{cc}{ex}"));
                inputs.push(format!("+{cc}0{ex}"));
                inputs.push(format!("+{cc}{}", &ex[..ex.len() - 1]));
                inputs.push(format!("+{cc}{ex}{}", rng.below(10)));
                if let Some(prefix) = meta.national_prefix() {
                    inputs.push(format!("+{cc}{prefix}{ex}"));
                }
                for _ in 0..24 {
                    // Keep a prefix of the example and randomise the rest, so most variants stay
                    // in the region's numbering plan and some leave it.
                    let keep = rng.below(ex.len() as u64 + 1) as usize;
                    let extra = rng.below(3) as usize;
                    let tail = rng.digits(ex.len() - keep + extra).to_string();
                    let cut = if rng.below(4) == 0 { 1 } else { 0 };
                    let national = format!("{}{}", &ex[..keep], tail);
                    let national = &national[..national.len() - cut.min(national.len())];
                    inputs.push(format!("+{cc}{national}"));
                }
            }
        }
        for len in 3..=16 {
            for _ in 0..1_000 {
                inputs.push(format!("+{}", rng.digits(len)));
            }
        }
        for _ in 0..2_000 {
            // Other notations that are read internationally.
            let n = rng.digits(11);
            inputs.push(format!("00{n}"));
            inputs.push(n.clone());
            inputs.push(format!("+{} {} {}", &n[..2], &n[2..6], &n[6..]));
        }
        inputs
    }

    #[test]
    fn fast_path_agrees_with_the_crate() {
        let inputs = comparison_inputs();
        let in_ = DefaultCountry::parse("IN");
        let mut fast_answers = 0;
        let mut valid = 0;
        for (i, input) in inputs.iter().enumerate() {
            // A default country only matters to national notations; try it on a sample.
            let countries = if i % 8 == 0 {
                &[None, in_][..]
            } else {
                &[None][..]
            };
            for &country in countries {
                let slow = normalize_impl(input, country, false);
                let fast = normalize_impl(input, country, true);
                assert_eq!(fast, slow, "{input} {country:?}");
                if let Ok(number) = slow {
                    valid += 1;
                    // Regions survive too (they are part of `E164`'s equality, checked above).
                    let _ = number.region();
                }
            }
            if let Some(digits) = input.strip_prefix('+')
                && digits.bytes().all(|b| b.is_ascii_digit())
                && fast::international(digits.as_bytes()).is_some()
            {
                fast_answers += 1;
            }
        }
        // The comparison is only worth something if both paths really ran on many inputs.
        assert!(inputs.len() > 40_000, "{}", inputs.len());
        assert!(valid > 5_000, "{valid}");
        assert!(fast_answers > 5_000, "{fast_answers}");
    }

    #[test]
    fn fast_path_answers_alike_on_every_thread() {
        // Each thread searches with scratch space of its own, kept per pattern: threads that
        // meet the patterns in different orders must still answer as one thread does.
        let inputs: Vec<String> = comparison_inputs()
            .into_iter()
            .filter_map(|input| input.strip_prefix('+').map(str::to_owned))
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        let answer = |digits: &String| fast::international(digits.as_bytes());
        let expected: Vec<_> = inputs.iter().map(answer).collect();
        assert!(expected.iter().flatten().count() > 5_000);
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..4)
                .map(|t| {
                    let (inputs, expected) = (&inputs, &expected);
                    scope.spawn(move || {
                        // Each thread walks the inputs from another starting point.
                        let start = t * inputs.len() / 4;
                        for i in (start..inputs.len()).chain(0..start) {
                            assert_eq!(answer(&inputs[i]), expected[i], "{}", inputs[i]);
                        }
                    })
                })
                .collect();
            for run in runs {
                run.join().expect("no thread failed");
            }
        });
    }

    #[test]
    fn fast_path_takes_canonical_numbers_of_many_regions() {
        for s in [
            "+919876543210",
            "+51987654321",
            "+12025550143",
            "+390612345678",
            "+8613800138024",
        ] {
            let fast = s
                .strip_prefix('+')
                .and_then(|d| fast::international(d.as_bytes()));
            let slow = normalize_impl(s, None, false).ok();
            match fast {
                Some((digits, region)) => {
                    assert_eq!(Some(E164 { digits, region }), slow, "{s}");
                }
                // Numbers with a leading national zero (Italy) go the full way.
                None => assert!(s.starts_with("+39"), "{s} should take the fast path"),
            }
        }
    }

    #[test]
    fn a_large_batch_on_many_threads_equals_one_pass_in_order() {
        // Valid numbers in several notations, repeats (exact and in other notations), invalid
        // inputs, and national numbers that need the default country: enough to be split.
        let mut rng = Rng(7);
        let inputs: Vec<String> = (0..3 * PARALLEL_MIN_INPUTS as u64)
            .map(|i| {
                let n = rng.below(30_000);
                match i % 7 {
                    0 => format!("+9198{n:08}"),
                    1 => format!("98{n:08}"),
                    2 => format!("+91 98{:03} {:05}", n / 100_000, n % 100_000),
                    3 => "bad".to_owned(),
                    4 => format!("+1 202 555 {:04}", n % 10_000),
                    5 => format!("+9100{n:08}"),
                    _ => format!("+9198{:08}", n % 50),
                }
            })
            .collect();
        let country = DefaultCountry::parse("IN");
        let mut seen = std::collections::HashSet::new();
        let mut expected = NormalizedBatch::default();
        for (index, raw) in inputs.iter().enumerate() {
            match normalize_with(raw, country) {
                Ok(number) if seen.insert(number) => expected.numbers.push(number),
                Ok(_) => expected.duplicates += 1,
                Err(reason) => expected
                    .invalid
                    .push((index, InvalidNumber::new(raw, reason))),
            }
        }
        let got = normalize_batch(&inputs, Some("IN"));
        assert!(got.numbers.len() > 1_000 && got.duplicates > 1_000 && got.invalid.len() > 1_000);
        assert_eq!(got, expected);
    }

    #[test]
    fn number_list_reads_like_a_vec_of_strings() {
        let json = r#"["+91 98765 43210", "", "x\u00e9\"y", "098765 43210"]"#;
        let list: NumberList = serde_json::from_str(json).unwrap();
        let strings: Vec<String> = serde_json::from_str(json).unwrap();
        assert_eq!(list.len(), strings.len());
        assert!(list.iter().eq(strings.iter().map(String::as_str)));
        assert_eq!(list.get(4), None);
        assert_eq!(
            normalize_batch(&list, Some("IN")),
            normalize_batch(&strings, Some("IN"))
        );
        assert!(!format!("{list:?}").contains("98765"));
        for bad in [
            r#"["+1", 5]"#,
            r#"[null]"#,
            r#""+1""#,
            r#"["+1""#,
            r#"{"a": 1}"#,
        ] {
            let ours = serde_json::from_str::<NumberList>(bad).unwrap_err();
            let theirs = serde_json::from_str::<Vec<String>>(bad).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string(), "{bad}");
        }
        let empty: NumberList = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn repeats_are_found_across_any_number_of_parts() {
        // Digits by index: 5 7 5 9 7 7 1 5 (parts: 0-2, 3-5, 6-7).
        let digits = [5u64, 7, 5, 9, 7, 7, 1, 5];
        let runs: Vec<Vec<(u64, usize)>> = [0..3, 3..6, 6..8]
            .into_iter()
            .map(|range| {
                let mut run: Vec<_> = range.map(|i| (digits[i], i)).collect();
                run.sort_unstable();
                run
            })
            .collect();
        let expected = [false, false, true, false, true, true, false, true];
        assert_eq!(repeated_after_first(&runs, 8), expected);
        let all: Vec<_> = runs.concat();
        let mut one = all.clone();
        one.sort_unstable();
        assert_eq!(repeated_after_first(&[one], 8), expected);
    }

    #[test]
    fn batch_of_many_is_linear() {
        let inputs: Vec<String> = (0..2_000u64).map(|i| format!("+91 98{:08}", i)).collect();
        let b = normalize_batch(&inputs, None);
        assert_eq!(b.numbers.len() + b.invalid.len(), inputs.len());
    }
}
