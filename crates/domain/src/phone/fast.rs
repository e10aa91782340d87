//! Fast validation of numbers written internationally (`+<digits>`), the common case of bulk
//! jobs, with exactly the answers of `phonenumber::parse(None, "+<digits>")` + `is_valid()`.
//!
//! The crate keeps its patterns in one process-wide LRU cache behind a mutex and looks each one
//! up by its (long) source text on every use, so its validation costs microseconds, mostly spent
//! hashing, and cannot run on two threads at once. Here the same metadata patterns are compiled
//! once per region (same syntax options; the crate's "leftmost match starts at 0" test as an
//! anchored match), and each thread searches them with scratch space of its own.
//!
//! Only the plain path is taken here: a country code the database knows, a national number
//! without leading zeros, a region found without ambiguity, no national prefix (or national
//! prefix-for-parsing pattern) at the start that the crate would strip, and a number valid for
//! that region. Anything else returns `None` and the caller runs the crate's full parse, so the
//! answers never differ; `tests::fast_path_agrees_with_the_crate` compares both.

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use phonenumber::Metadata;
use phonenumber::country::Id as CountryId;
use phonenumber::metadata::{DATABASE, Descriptor};
use regex_automata::meta::{self, Regex};
use regex_automata::{Input, util::syntax};

/// Country calling codes have 1 to 3 digits.
const CODES: usize = 1000;

/// One pattern of the metadata, compiled like the crate compiles it but anchored at the start.
///
/// The crate asks whether the leftmost match starts at 0, which is the same as asking whether
/// any match starts at 0: an anchored `is_match` answers that without searching the rest of the
/// text or running the reverse search that finds where a match starts.
#[derive(Debug)]
struct Pattern {
    regex: Regex,
    /// This pattern's place in each thread's [`CACHES`].
    slot: usize,
}

/// Patterns made so far: the next one's slot.
static SLOTS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Each pattern's search scratch space on this thread, by slot. A shared regex hands its
    /// scratch space out from a pool, which only the first thread that used it reaches without
    /// a lock; bulk jobs validate their numbers on several threads, and the pool's slow path
    /// showed as about 2% of the gateway's CPU in a large job's completion.
    /// Boxed: a thread's table is as long as the highest slot it used, most entries empty.
    static CACHES: RefCell<Vec<Option<Box<meta::Cache>>>> = const { RefCell::new(Vec::new()) };
}

impl Pattern {
    fn new(source: &str) -> Option<Self> {
        // In `ignore_whitespace` mode a `#` comments out the rest of the line, which would take
        // the closing parenthesis with it; no metadata pattern has one (such patterns would
        // simply stay on the slow path).
        if source.contains('#') {
            return None;
        }
        let build = |source: &str| {
            // The crate's regex cache builds every pattern with these options (its defaults plus
            // `ignore_whitespace`), see `regex_cache::Options` and `phonenumber::metadata`; the
            // limits are those of `regex::RegexBuilder`'s `size_limit` and `dfa_size_limit`.
            Regex::builder()
                .syntax(
                    syntax::Config::new()
                        .case_insensitive(false)
                        .multi_line(false)
                        .dot_matches_new_line(false)
                        .swap_greed(false)
                        .ignore_whitespace(true)
                        .unicode(true),
                )
                .configure(
                    Regex::config()
                        .nfa_size_limit(Some(10 * (1 << 20)))
                        .onepass_size_limit(Some(10 * (1 << 20)))
                        .hybrid_cache_capacity(2 * (1 << 20)),
                )
                .build(source)
                .ok()
        };
        // Only patterns that compile as they are (so the wrapping cannot change their meaning).
        build(source)?;
        let regex = build(&format!("^(?:{source})"))?;
        Some(Self {
            regex,
            slot: SLOTS.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The crate's test: the leftmost match starts at the beginning.
    fn matches_at_start(&self, value: &str) -> bool {
        let input = Input::new(value).earliest(true);
        CACHES.with(|caches| match caches.try_borrow_mut() {
            Ok(mut caches) => {
                if caches.len() <= self.slot {
                    caches.resize_with(self.slot + 1, || None);
                }
                let cache =
                    caches[self.slot].get_or_insert_with(|| Box::new(self.regex.create_cache()));
                self.regex.search_half_with(cache, &input).is_some()
            }
            // Not reached (a search does not search again), but a borrowed table must not panic.
            Err(_) => self.regex.is_match(input),
        })
    }
}

/// A number-type descriptor: possible lengths, then the pattern (`Descriptor::is_match`).
#[derive(Debug)]
struct Desc {
    lengths: Vec<u16>,
    pattern: Pattern,
}

impl Desc {
    fn new(d: &Descriptor) -> Option<Self> {
        Some(Self {
            lengths: d.possible_length().to_vec(),
            pattern: Pattern::new(d.national_number().as_str())?,
        })
    }

    fn is_match(&self, value: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(value.len() as u16)))
            && self.pattern.matches_at_start(value)
    }
}

/// What the fast path needs of one region's metadata.
#[derive(Debug)]
struct Region {
    /// ISO code as `E164` stores it.
    id: [u8; 2],
    leading_digits: Option<Pattern>,
    national_prefix: Option<String>,
    prefix_for_parsing: Option<Pattern>,
    general: Desc,
    /// Every typed descriptor `validator::number_type` tries; a match in any of them (after the
    /// general one) makes the type known.
    types: Vec<Desc>,
}

impl Region {
    fn new(meta: &Metadata) -> Option<Self> {
        let id = CountryId::from_str(meta.id()).ok()?;
        let id = match id.as_ref().as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => [*a, *b],
            _ => return None,
        };
        let d = meta.descriptors();
        // Most numbers are mobile or fixed-line: try those first (the order does not change
        // whether some type matches).
        let typed = [
            d.mobile(),
            d.fixed_line(),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ];
        let mut types = Vec::new();
        for desc in typed.into_iter().flatten() {
            types.push(Desc::new(desc)?);
        }
        let pattern = |source: Option<&str>| match source {
            None => Some(None),
            Some(source) => Pattern::new(source).map(Some),
        };
        Some(Self {
            id,
            leading_digits: pattern(meta.leading_digits().map(|p| p.as_str()))?,
            national_prefix: meta.national_prefix().map(str::to_owned),
            prefix_for_parsing: pattern(meta.national_prefix_for_parsing().map(|p| p.as_str()))?,
            general: Desc::new(d.general())?,
            types,
        })
    }

    /// `validator::number_type(meta, national) != Type::Unknown`.
    fn has_type(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }
}

/// The regions of one country calling code, in the database's order, compiled on first use.
#[derive(Debug)]
enum Code {
    /// The database has no such code.
    Unknown,
    /// Known, but not for the fast path (non-geographic `001`, or metadata it cannot mirror).
    Slow,
    Regions(Vec<Region>),
}

impl Code {
    fn load(code: u16) -> Self {
        let db = &*DATABASE;
        if db.by_code(&code).is_none() {
            return Self::Unknown;
        }
        let Some(ids) = db.region(&code) else {
            return Self::Slow;
        };
        let mut regions = Vec::with_capacity(ids.len());
        for id in ids {
            match db.by_id(id).and_then(Region::new) {
                Some(region) => regions.push(region),
                None => return Self::Slow,
            }
        }
        if regions.is_empty() {
            Self::Slow
        } else {
            Self::Regions(regions)
        }
    }
}

fn code(value: u16) -> &'static Code {
    static TABLE: [OnceLock<Code>; CODES] = [const { OnceLock::new() }; CODES];
    TABLE[usize::from(value)].get_or_init(|| Code::load(value))
}

/// `validator::source_for` for a code with these regions.
fn region_for<'a>(regions: &'a [Region], national: &str) -> Option<&'a Region> {
    if let [only] = regions {
        return Some(only);
    }
    regions.iter().find(|r| match &r.leading_digits {
        Some(p) => p.matches_at_start(national),
        None => r.has_type(national),
    })
}

/// The valid number `+<digits>` with its region, or `None` when the full parse must decide.
///
/// `digits` are ASCII digits, at most 15 of them.
pub(super) fn international(digits: &[u8]) -> Option<(u64, [u8; 2])> {
    if !(super::MIN_E164_DIGITS..=super::MAX_E164_DIGITS).contains(&digits.len())
        || digits[0] == b'0'
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    // `helper::country_code`: the first 1- to 3-digit prefix that the database knows.
    let mut found = None;
    let mut value = 0u16;
    for (len, d) in digits.iter().take(3).enumerate() {
        value = value * 10 + u16::from(d - b'0');
        match code(value) {
            Code::Unknown => continue,
            known => {
                found = Some((len + 1, known));
                break;
            }
        }
    }
    let (cc_len, Code::Regions(regions)) = found? else {
        return None;
    };
    let national = std::str::from_utf8(&digits[cc_len..]).ok()?;
    // Leading zeros change how the crate reads the number; at least 2 digits stay after the
    // code (`MIN_LENGTH_FOR_NSN`).
    if national.len() < 2 || national.starts_with('0') {
        return None;
    }
    let region = region_for(regions, national)?;
    // The crate would strip a national prefix (or what the prefix-for-parsing pattern matches)
    // at the start: leave such numbers to it.
    if region
        .national_prefix
        .as_deref()
        .is_some_and(|p| national.starts_with(p))
        || region
            .prefix_for_parsing
            .as_ref()
            .is_some_and(|p| p.matches_at_start(national))
    {
        return None;
    }
    if !region.has_type(national) {
        return None;
    }
    let number = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((number, region.id))
}
