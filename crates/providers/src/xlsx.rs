//! Reading vendor result spreadsheets from memory. Columns are found by header name, so vendors
//! may reorder or add columns.

use std::borrow::Cow;
use std::io::Cursor;

use bytes::Bytes;
use calamine::{Data, Range, Reader, Xlsx};

/// The first worksheet of an xlsx file.
pub(crate) struct Sheet {
    range: Range<Data>,
}

impl Sheet {
    pub fn open(bytes: Bytes) -> Result<Self, String> {
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
            .map_err(|e| format!("not an xlsx file: {e}"))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| "xlsx file has no worksheet".to_owned())?
            .map_err(|e| format!("unreadable worksheet: {e}"))?;
        Ok(Self { range })
    }

    /// Index of each wanted header (matched case- and space-insensitively) in the first row.
    pub fn columns<const N: usize>(&self, wanted: [&[&str]; N]) -> [Option<usize>; N] {
        let mut out = [None; N];
        let Some(header) = self.range.rows().next() else {
            return out;
        };
        for (idx, cell) in header.iter().enumerate() {
            let name = squash(&cell_text(cell).unwrap_or_default());
            for (slot, aliases) in out.iter_mut().zip(wanted.iter()) {
                if slot.is_none() && aliases.iter().any(|a| squash(a) == name) {
                    *slot = Some(idx);
                }
            }
        }
        out
    }

    /// Data rows (after the header).
    pub fn rows(&self) -> impl Iterator<Item = &[Data]> {
        self.range.rows().skip(1)
    }

    pub fn row_count(&self) -> usize {
        self.range.height().saturating_sub(1)
    }
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A cell as trimmed text; `None` when empty. Numbers come back without a fractional part when
/// they are whole (phone numbers stored as numeric cells).
pub(crate) fn cell_text(cell: &Data) -> Option<Cow<'_, str>> {
    let text: Cow<'_, str> = match cell {
        Data::Empty | Data::Error(_) => return None,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cow::Borrowed(s.trim()),
        Data::Int(i) => Cow::Owned(i.to_string()),
        Data::Float(f) => Cow::Owned(float_text(*f)),
        Data::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Data::DateTime(dt) => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            Cow::Owned(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"))
        }
    };
    if text.is_empty() { None } else { Some(text) }
}

/// A numeric cell as text: whole numbers without a fractional part.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e17 {
        // Exact for every whole value below 1e17 (< 2^63), and far cheaper than formatting the
        // float with a precision, which bulk result files do for several cells of every row.
        // -0.0 keeps its sign as `{:.0}` writes it.
        if f.is_sign_negative() && f == 0.0 {
            return "-0".to_owned();
        }
        #[allow(clippy::cast_possible_truncation)]
        return (f as i64).to_string();
    }
    f.to_string()
}

/// The cell at `col` of `row` as text.
pub(crate) fn get(row: &[Data], col: Option<usize>) -> Option<Cow<'_, str>> {
    col.and_then(|c| row.get(c)).and_then(cell_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_read_as_the_precision_formatting_writes_them() {
        for f in [
            0.0,
            -0.0,
            1.0,
            -7.0,
            23.0,
            919_800_000_001.0,
            9_007_199_254_740_993.0,
            99_999_999_999_999_984.0,
        ] {
            assert_eq!(float_text(f), format!("{f:.0}"), "{f}");
        }
        assert_eq!(float_text(1.5), "1.5");
        assert_eq!(float_text(1e17), "100000000000000000");
        assert_eq!(float_text(f64::NAN), "NaN");
    }
}
