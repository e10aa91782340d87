//! The result workbooks, with the columns the documents list, filled from [`crate::truth`].

use rust_xlsxwriter::{Workbook, XlsxError};

use crate::truth::{self, Profile};

/// Screening columns in the document's order.
pub const SCREENING_COLUMNS: [&str; 9] = [
    "Phone Number",
    "Is WhatsApp Number",
    "Status",
    "Last Active Time",
    "Active Hour",
    "Avatar",
    "Is Business Number",
    "Gender",
    "Age",
];

/// ekycpro result fields in the document's order.
pub const EKYCPRO_COLUMNS: [&str; 4] = ["Number", "signature", "status_update", "whatsapp"];

/// Which columns a screening type fills (the document gives the types, not the columns they fill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreeningFill {
    pub activity: bool,
    pub avatar_gender: bool,
}

impl ScreeningFill {
    /// Type 0 "is WhatsApp", 1 "active", 2 "avatar gender".
    pub fn for_type(screen_type: u8) -> Self {
        Self {
            activity: screen_type == 1,
            avatar_gender: screen_type == 2,
        }
    }
}

/// One screening row as the workbook holds it; empty strings are blank cells.
pub fn screening_row(
    p: &Profile,
    submitted: &str,
    fill: ScreeningFill,
    utc_offset_minutes: i32,
) -> [String; 9] {
    let mut row: [String; 9] = Default::default();
    row[0] = submitted.to_owned();
    row[1] = if p.registered { "1" } else { "0" }.to_owned();
    if !p.registered {
        return row;
    }
    row[6] = if p.business { "1" } else { "0" }.to_owned();
    if fill.activity {
        row[2] = p.about.clone().unwrap_or_default();
        row[3] = p
            .last_active
            .map(|t| truth::vendor_time(t, utc_offset_minutes))
            .unwrap_or_default();
        row[4] = p.active_hour.map(|h| h.to_string()).unwrap_or_default();
    }
    if fill.avatar_gender {
        row[5] = p.avatar_url.clone().unwrap_or_default();
        row[7] = p.gender.as_str().to_owned();
        row[8] = p.age.map(|a| a.to_string()).unwrap_or_default();
    }
    row
}

/// A workbook that deflates at the fastest level: at the default level the compression took about
/// a quarter of the simulator's CPU when serving large results, which the gateway under test then
/// lacked on the same cores. The documents say nothing about how a vendor compresses its files.
fn fast_workbook() -> Workbook {
    let mut wb = Workbook::new();
    wb.set_zip_compression_level(1);
    wb
}

/// Integer columns of the screening sheet are written as numbers, the rest as text.
const SCREENING_INT_COLUMNS: [usize; 3] = [1, 4, 6];

pub fn screening_workbook(
    seed: u64,
    numbers: &[String],
    fill: ScreeningFill,
    utc_offset_minutes: i32,
) -> Result<Vec<u8>, XlsxError> {
    let mut wb = fast_workbook();
    let ws = wb.add_worksheet();
    for (c, h) in SCREENING_COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    for (r, n) in numbers.iter().enumerate() {
        let row = screening_row(&truth::profile(seed, n), n, fill, utc_offset_minutes);
        let r = (r + 1) as u32;
        for (c, v) in row.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            match v.parse::<f64>() {
                Ok(x) if SCREENING_INT_COLUMNS.contains(&c) => ws.write_number(r, c as u16, x)?,
                _ => ws.write_string(r, c as u16, v)?,
            };
        }
    }
    wb.save_to_buffer()
}

/// One ekycpro row: E.164 number, signature, `yyyy-MM-dd` status update, `yes`/`no`.
pub fn ekycpro_row(p: &Profile) -> [String; 4] {
    [
        p.number.clone(),
        p.about.clone().unwrap_or_default(),
        p.status_update
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        if p.registered { "yes" } else { "no" }.to_owned(),
    ]
}

pub fn ekycpro_workbook(seed: u64, numbers: &[String]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = fast_workbook();
    let ws = wb.add_worksheet();
    for (c, h) in EKYCPRO_COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    for (r, n) in numbers.iter().enumerate() {
        for (c, v) in ekycpro_row(&truth::profile(seed, n)).iter().enumerate() {
            if !v.is_empty() {
                ws.write_string((r + 1) as u32, c as u16, v)?;
            }
        }
    }
    wb.save_to_buffer()
}
