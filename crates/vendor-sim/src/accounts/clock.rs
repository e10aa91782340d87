//! Simulated time: real time plus an offset that tests and demos can move forward, and the
//! vendor's wall-clock format.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Utc};

/// The vendor's "not executed yet" time: its zero timestamp (plus one second) printed in UTC+8.
/// It is a sentinel, so it stays the same whatever zone the simulator is configured with.
pub const NOT_EXECUTED: &str = "1970-01-01 08:00:01";

/// Real time shifted by an adjustable offset.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicI64,
}

impl SimClock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// `yyyy-MM-dd HH:mm:ss` in the vendor's zone.
pub fn vendor_time(t: DateTime<Utc>, offset_secs: i32) -> String {
    let zone = FixedOffset::east_opt(offset_secs).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prints_vendor_zone() {
        let t = Utc
            .with_ymd_and_hms(2024, 7, 3, 7, 27, 0)
            .single()
            .expect("valid time");
        assert_eq!(vendor_time(t, 8 * 3600), "2024-07-03 15:27:00");
        assert_eq!(vendor_time(t, 0), "2024-07-03 07:27:00");
    }

    #[test]
    fn advances() {
        let c = SimClock::default();
        let before = c.now();
        c.advance(Duration::from_secs(600));
        assert!(c.now() - before >= chrono::Duration::seconds(600));
    }
}
