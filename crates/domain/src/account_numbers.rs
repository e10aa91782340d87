//! Numbers of WhatsApp accounts, contacts and friends as the account vendor reports them and as
//! callers give them back.
//!
//! The vendor's numbers do not always pass numbering-plan checks (`+8612248863574` is a real
//! account number that libphonenumber calls invalid), yet every number the gateway reports must be
//! accepted when a caller sends it back. So numbers of accounts are read by their shape only: an
//! optional `+`, then 6 to 15 digits (E.164's maximum) not starting with 0, spaces and dashes
//! ignored. The gateway writes them as `+` and the digits ([`vendor_number`]), which
//! [`account_digits`] always takes back unchanged.

use crate::phone::normalize;

/// E.164 numbers have at most 15 digits; the shortest in use (small island states) have 7, and one
/// less is kept for the vendor's own data.
const DIGITS: std::ops::RangeInclusive<usize> = 6..=15;

/// The digits of a number written in the shape the gateway reports (`+8613800138000`, also without
/// `+`, with spaces or dashes), or `None`.
fn shaped_digits(input: &str) -> Option<String> {
    let t = input.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let mut digits = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => return None,
        }
    }
    (DIGITS.contains(&digits.len()) && !digits.starts_with('0')).then_some(digits)
}

/// The digits (country code first, no `+`) of an account, contact or friend number a caller gave.
///
/// Every value [`vendor_number`] returns is taken back unchanged; other international notations
/// (`00` prefix, brackets, dots) are read when the number is valid for its numbering plan.
pub fn account_digits(input: &str) -> Option<String> {
    shaped_digits(input).or_else(|| normalize(input, None).ok().map(|n| n.digits()))
}

/// How the gateway reports a number the vendor sent (as a string, or a JSON number's digits):
/// `+` and the digits, or `None` when the value is not a number at all (a masked example such as
/// `447962xxxxx`, an empty field).
pub fn vendor_number(raw: &str) -> Option<String> {
    shaped_digits(raw).map(|d| format!("+{d}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so the property runs the same cases everywhere.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn digits(&mut self, len: usize) -> String {
            (0..len)
                .map(|i| {
                    let low = u64::from(i == 0);
                    char::from(b'0' + (low + self.below(10 - low)) as u8)
                })
                .collect()
        }
    }

    /// The notations the vendor's documents and answers use for a number of `digits`.
    fn vendor_renderings(digits: &str) -> Vec<String> {
        let json_number = serde_json::from_str::<serde_json::Value>(digits)
            .map(|v| v.to_string())
            .unwrap_or_default();
        vec![
            digits.to_owned(),
            format!("+{digits}"),
            format!(" {digits} "),
            json_number,
            format!("{}-{}", &digits[..2], &digits[2..]),
            format!("+{} {}", &digits[..2], &digits[2..]),
        ]
    }

    #[test]
    fn every_reported_number_is_accepted_back_unchanged() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let len = 6 + g.below(10) as usize;
            let digits = g.digits(len);
            for raw in vendor_renderings(&digits) {
                let emitted = vendor_number(&raw).unwrap_or_else(|| panic!("{raw:?} is a number"));
                assert_eq!(emitted, format!("+{digits}"), "{raw:?}");
                assert_eq!(
                    account_digits(&emitted).as_deref(),
                    Some(digits.as_str()),
                    "{emitted} must be accepted as input"
                );
            }
        }
    }

    #[test]
    fn whatever_is_reported_is_accepted_even_for_arbitrary_vendor_text() {
        const ALPHABET: &[u8] = b"0123456789+- x*.()";
        let mut g = Gen(0x2545_f491_4f6c_dd1d);
        for _ in 0..50_000 {
            let len = g.below(20) as usize;
            let raw: String = (0..len)
                .map(|_| char::from(ALPHABET[g.below(ALPHABET.len() as u64) as usize]))
                .collect();
            if let Some(emitted) = vendor_number(&raw) {
                let digits = account_digits(&emitted).unwrap_or_else(|| panic!("{emitted}"));
                assert_eq!(format!("+{digits}"), emitted);
            }
        }
    }

    #[test]
    fn numbers_that_fail_numbering_plans_are_still_account_numbers() {
        assert!(normalize("+8612248863574", None).is_err());
        assert_eq!(
            account_digits("+8612248863574").as_deref(),
            Some("8612248863574")
        );
        assert_eq!(
            vendor_number("8612248863574").as_deref(),
            Some("+8612248863574")
        );
    }

    #[test]
    fn other_notations_need_a_valid_number_and_garbage_is_refused() {
        assert_eq!(
            account_digits("0086 138 0013 8000").as_deref(),
            Some("8613800138000")
        );
        assert_eq!(
            account_digits("(+86) 138.0013.8000").as_deref(),
            Some("8613800138000")
        );
        for bad in [
            "",
            "+",
            "12345",
            "0123456789",
            "+1234567890123456",
            "86187303****",
            "abc",
        ] {
            assert_eq!(account_digits(bad), None, "{bad:?}");
            assert_eq!(vendor_number(bad), None, "{bad:?}");
        }
        assert_eq!(vendor_number("447962xxxxx"), None);
    }
}
