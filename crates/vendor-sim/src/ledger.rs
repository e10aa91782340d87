//! What the simulated vendors would bill: requests per operation, orders created, numbers billed,
//! and every accepted order with a digest of its numbers, so a test can prove that the same numbers
//! were never submitted (and paid for) twice.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A snapshot of the ledger, keyed by vendor id (`wscrm`, `nxcloud`, `ekycpro`, `accuauth`, `files`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub vendors: BTreeMap<String, VendorLedger>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorLedger {
    /// Requests that reached a route of the vendor, per operation, including rejected ones.
    pub requests: BTreeMap<String, u64>,
    /// Accepted orders, tasks or billed single checks.
    pub orders_created: u64,
    /// Numbers the vendor would charge for.
    pub numbers_billed: u64,
    /// Every accepted order, in order of creation.
    pub orders: Vec<OrderRecord>,
    /// Trace ids of the W3C `traceparent` headers received (a caller's trace carried into the
    /// vendor), oldest first, the last 100.
    #[serde(default)]
    pub trace_ids: Vec<String>,
    /// Requests of the vendor being handled right now (faults' delays included).
    #[serde(default)]
    pub in_flight: u64,
    /// The most requests of the vendor handled at the same time: what a caller's concurrency
    /// limit looks like from the vendor's side.
    #[serde(default)]
    pub peak_in_flight: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The operation that created it, e.g. `screening.submit`.
    pub operation: String,
    /// The vendor's id of the order, task or request.
    pub id: String,
    /// Numbers billed for it.
    pub numbers: u64,
    /// Hex SHA-256 of the order's numbers (digits only, sorted, newline-joined): equal digests
    /// mean the same set of numbers was paid for twice.
    pub numbers_digest: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl Ledger {
    pub fn vendor(&self, vendor: &str) -> Option<&VendorLedger> {
        self.vendors.get(vendor)
    }

    /// Requests of one operation at one vendor (0 when none).
    pub fn requests(&self, vendor: &str, operation: &str) -> u64 {
        self.vendor(vendor)
            .and_then(|v| v.requests.get(operation).copied())
            .unwrap_or(0)
    }

    pub fn numbers_billed(&self, vendor: &str) -> u64 {
        self.vendor(vendor).map_or(0, |v| v.numbers_billed)
    }

    /// Digests that occur in more than one order of the vendor.
    pub fn duplicate_orders(&self, vendor: &str) -> Vec<String> {
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        for o in self
            .vendor(vendor)
            .map(|v| v.orders.as_slice())
            .unwrap_or_default()
        {
            *seen.entry(o.numbers_digest.as_str()).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(d, _)| d.to_owned())
            .collect()
    }
}

/// The digest recorded for an order's numbers.
pub fn numbers_digest<S: AsRef<str>>(numbers: &[S]) -> String {
    let mut ds: Vec<String> = numbers
        .iter()
        .map(|n| crate::truth::digits(n.as_ref()))
        .collect();
    ds.sort_unstable();
    let mut h = Sha256::new();
    h.update(ds.join("\n").as_bytes());
    hex::encode(h.finalize())
}

/// The live ledger shared by all routes.
#[derive(Debug, Default)]
pub struct LedgerBook {
    inner: Mutex<Ledger>,
}

impl LedgerBook {
    fn with<R>(&self, f: impl FnOnce(&mut Ledger) -> R) -> R {
        // A poisoned lock only means another request panicked mid-update; the counters stay usable.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub fn count_request(&self, vendor: &str, operation: &str) {
        self.with(|l| {
            *l.vendors
                .entry(vendor.to_owned())
                .or_default()
                .requests
                .entry(operation.to_owned())
                .or_default() += 1;
        });
    }

    /// A request of `vendor` is being handled until [`Self::request_ended`].
    pub fn request_started(&self, vendor: &str) {
        self.with(|l| {
            let v = l.vendors.entry(vendor.to_owned()).or_default();
            v.in_flight += 1;
            v.peak_in_flight = v.peak_in_flight.max(v.in_flight);
        });
    }

    pub fn request_ended(&self, vendor: &str) {
        self.with(|l| {
            let v = l.vendors.entry(vendor.to_owned()).or_default();
            // A reset while requests were in flight already forgot them.
            v.in_flight = v.in_flight.saturating_sub(1);
        });
    }

    /// Remembers the trace id of a request's `traceparent` (`00-<trace id>-<span id>-<flags>`).
    pub fn record_traceparent(&self, vendor: &str, traceparent: &str) {
        let Some(trace_id) = traceparent.split('-').nth(1) else {
            return;
        };
        self.with(|l| {
            let seen = &mut l.vendors.entry(vendor.to_owned()).or_default().trace_ids;
            if seen.len() == 100 {
                seen.remove(0);
            }
            seen.push(trace_id.to_owned());
        });
    }

    pub fn record_order(
        &self,
        vendor: &str,
        operation: &str,
        id: &str,
        numbers: u64,
        digest: String,
    ) {
        self.with(|l| {
            let v = l.vendors.entry(vendor.to_owned()).or_default();
            v.orders_created += 1;
            v.numbers_billed += numbers;
            v.orders.push(OrderRecord {
                operation: operation.to_owned(),
                id: id.to_owned(),
                numbers,
                numbers_digest: digest,
                created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            });
        });
    }

    pub fn snapshot(&self) -> Ledger {
        self.with(|l| l.clone())
    }

    pub fn reset(&self) {
        self.with(|l| *l = Ledger::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_order_and_notation() {
        assert_eq!(
            numbers_digest(&["+1 415", "44"]),
            numbers_digest(&["44", "1415"])
        );
        assert_ne!(numbers_digest(&["1"]), numbers_digest(&["2"]));
    }

    #[test]
    fn duplicates_are_reported() {
        let book = LedgerBook::default();
        book.record_order(
            "wscrm",
            "screening.submit",
            "a",
            2,
            numbers_digest(&["1", "2"]),
        );
        book.record_order("wscrm", "screening.submit", "b", 1, numbers_digest(&["3"]));
        assert!(book.snapshot().duplicate_orders("wscrm").is_empty());
        book.record_order(
            "wscrm",
            "screening.submit",
            "c",
            2,
            numbers_digest(&["2", "1"]),
        );
        let l = book.snapshot();
        assert_eq!(l.duplicate_orders("wscrm").len(), 1);
        assert_eq!(l.numbers_billed("wscrm"), 5);
        book.reset();
        assert_eq!(book.snapshot(), Ledger::default());
    }

    #[test]
    fn requests_in_flight_and_their_peak() {
        let book = LedgerBook::default();
        book.request_started("ekycpro");
        book.request_started("ekycpro");
        book.request_ended("ekycpro");
        book.request_started("ekycpro");
        book.request_started("wscrm");
        let l = book.snapshot();
        let v = l.vendor("ekycpro").expect("seen");
        assert_eq!((v.in_flight, v.peak_in_flight), (2, 2));
        assert_eq!(l.vendor("wscrm").map(|v| v.peak_in_flight), Some(1));
        book.reset();
        book.request_ended("ekycpro");
        assert_eq!(
            book.snapshot().vendor("ekycpro").map(|v| v.in_flight),
            Some(0)
        );
    }
}
