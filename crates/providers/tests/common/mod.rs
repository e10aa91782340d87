//! Shared test helpers: xlsx fixtures, clients, and the `BulkNumberChecker` conformance suite.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use domain::{CheckSet, E164, ProviderErrorKind};
use providers::{BulkNumberChecker, OrderProgress, ProvidersConfig, Registry};
use wiremock::MockServer;

pub mod contract;

pub enum Cell<'a> {
    S(&'a str),
    N(f64),
    Empty,
}

/// An xlsx file with one header row and the given rows.
pub fn xlsx(headers: &[&str], rows: &[Vec<Cell<'_>>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        let r = (r + 1) as u32;
        for (c, cell) in row.iter().enumerate() {
            match cell {
                Cell::S(s) => {
                    sheet.write_string(r, c as u16, *s).unwrap();
                }
                Cell::N(n) => {
                    sheet.write_number(r, c as u16, *n).unwrap();
                }
                Cell::Empty => {}
            }
        }
    }
    book.save_to_buffer().unwrap()
}

pub fn client() -> reqwest::Client {
    providers::recommended_client(Duration::from_secs(2), Duration::from_secs(10), 8).unwrap()
}

pub fn registry(config: serde_json::Value) -> Registry {
    let cfg: ProvidersConfig = serde_json::from_value(config).unwrap();
    providers::build_number_checkers(&cfg, client()).unwrap()
}

pub fn e164(s: &str) -> E164 {
    s.parse().unwrap()
}

pub async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// The contract every bulk adapter must keep, run against a vendor faked at the HTTP boundary.
/// `server` must answer a submit of `numbers`, report the order running at least once, then
/// ready, and serve a result file with one row per number (plus possibly a duplicate row).
pub async fn bulk_conformance(
    checker: &dyn BulkNumberChecker,
    server: &MockServer,
    numbers: &[E164],
    checks: CheckSet,
) {
    // Identity and limits.
    assert!(!checker.checks().is_empty());
    // The adapter answers under an id the registry lists as a bulk vendor.
    let registered = providers::vendor(checker.provider()).map(|v| v.capability);
    assert_eq!(registered, Some(providers::Capability::BulkNumberChecks));
    let limits = checker.limits();
    assert!(limits.min >= 1 && limits.min <= limits.max, "{limits:?}");

    // Order groups only contain what the adapter can answer.
    let groups = checker.order_groups(&checks);
    assert!(!groups.is_empty());
    for g in &groups {
        assert!(g.is_subset(&checker.checks()));
        assert!(!g.is_empty());
    }
    assert!(checker.order_groups(&CheckSet::empty()).is_empty());

    // An empty submit fails without reaching the vendor.
    let before = request_count(server).await;
    let err = checker.submit(&[], &groups[0]).await.unwrap_err();
    assert_eq!(err.provider, checker.provider());
    assert_eq!(err.kind, ProviderErrorKind::BadRequest);
    assert_eq!(request_count(server).await, before);

    // Submit, poll until ready, fetch.
    let order = checker.submit(numbers, &groups[0]).await.unwrap();
    assert!(!order.as_str().is_empty());
    let mut saw_running = false;
    let mut location = None;
    for _ in 0..10 {
        match checker.poll(&order).await.unwrap() {
            OrderProgress::Running { .. } => saw_running = true,
            OrderProgress::Ready { result } => {
                location = Some(result);
                break;
            }
        }
    }
    assert!(saw_running, "the fake reports running first");
    let location = location.expect("order became ready");
    let results = checker.fetch_results(&order, &location).await.unwrap();

    assert_eq!(results.len(), numbers.len(), "one result per number");
    let wanted: HashSet<E164> = numbers.iter().copied().collect();
    let got: HashSet<E164> = results.iter().map(|r| r.number).collect();
    assert_eq!(got, wanted);
    for r in &results {
        assert_eq!(r.provider, Some(checker.provider()));
        assert!(
            r.registered.is_some(),
            "every row of the fixture answers registered"
        );
    }
}
