//! Logging setup: pretty or JSON, with phone numbers masked on their way out.
//!
//! Masking happens in the writer, below every formatter, so no log line can carry a full number
//! whichever code wrote it (a vendor error message, a request path, a debug dump).

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Safe to call more than once (later calls are ignored), so
/// tests that build several applications in one process do not fail.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskingStdout);
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// `MakeWriter` for stdout that masks phone numbers.
#[derive(Debug, Clone, Copy)]
pub struct MaskingStdout;

impl<'a> MakeWriter<'a> for MaskingStdout {
    type Writer = MaskingWriter<io::Stdout>;
    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter {
            inner: io::stdout(),
        }
    }
}

#[derive(Debug)]
pub struct MaskingWriter<W: Write> {
    inner: W,
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Formatters hand over one whole line per write, so a number is never split across calls.
        self.inner.write_all(&mask_numbers(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Masks anything that looks like a phone number: `+` (or `%2B`) and 8..=15 digits, or a bare run
/// of 10..=15 digits. The first 3 and last 4 digits stay, so `+919876542323` → `+91******2323`.
pub fn mask_numbers(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let (prefix_len, min_digits) = if input[i] == b'+' {
            (1, 8)
        } else if input[i..].len() >= 3 && input[i..i + 3].eq_ignore_ascii_case(b"%2B") {
            (3, 8)
        } else if input[i].is_ascii_digit() && (i == 0 || !is_word_byte(input[i - 1])) {
            (0, 10)
        } else {
            out.push(input[i]);
            i += 1;
            continue;
        };
        let start = i + prefix_len;
        let mut end = start;
        while end < input.len() && input[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - start;
        let bounded = end == input.len() || !is_word_byte(input[end]);
        if (min_digits..=15).contains(&digits) && bounded {
            out.extend_from_slice(&input[i..start]);
            let keep_head = 2.min(digits);
            out.extend_from_slice(&input[start..start + keep_head]);
            out.extend(std::iter::repeat_n(b'*', digits - keep_head - 4));
            out.extend_from_slice(&input[end - 4..end]);
            i = end;
        } else if prefix_len == 0 {
            // A digit run that is not a number (too short, too long, part of a word): copy it whole
            // so its tail is not mistaken for a number.
            out.extend_from_slice(&input[i..end.max(i + 1)]);
            i = end.max(i + 1);
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

#[cfg(test)]
mod tests {
    use super::mask_numbers;

    fn mask(s: &str) -> String {
        String::from_utf8(mask_numbers(s.as_bytes())).expect("utf8")
    }

    #[test]
    fn masks_international_numbers() {
        assert_eq!(
            mask("number +919876542323 checked"),
            "number +91******2323 checked"
        );
        assert_eq!(
            mask("/v1/numbers/%2B14155550123"),
            "/v1/numbers/%2B14*****0123"
        );
        assert_eq!(
            mask(r#"{"n":"91182716322323"}"#),
            r#"{"n":"91********2323"}"#
        );
    }

    #[test]
    fn leaves_other_digits_alone() {
        for s in [
            "latency 1234 ms",
            "id 8639164839053938688 stays",
            "2026-11-22T02:10:44.123456Z",
            "order 330e6b1c1dd62662d0474de6f0003288",
            "v1.2.3",
            "uuid 0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21",
        ] {
            assert_eq!(mask(s), s);
        }
    }
}
