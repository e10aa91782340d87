//! Injected failures, per vendor and per operation. Rates are deterministic: a fault with rate `r`
//! fires on the n-th matching request when `floor(n*r)` grows, so `1.0` always fires, `0.5` fires
//! on every second request and `0.0` never does.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::operations::{ACCUAUTH, Operation, VENDORS};

/// What a fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Adds `latency_ms` before the request is handled; combines with any other fault.
    Latency,
    /// Answers `status` (default 500) with the vendor's error envelope.
    ServerError,
    /// Answers 429 with `Retry-After: 1` (accuauth: 403 `RATE_LIMIT_EXCEEDED`).
    RateLimit,
    /// Answers 200 with a body that is not valid JSON.
    MalformedJson,
    /// Sends the real answer's headers and half of its body, then drops the connection.
    TruncatedBody,
    /// Drops the connection without sending a response.
    ConnectionReset,
    /// Waits `latency_ms` (default one hour) before answering 504, longer than any client timeout.
    Hang,
    /// accuauth only: 401 `KEY_EXPIRED`.
    KeyExpired,
    /// accuauth only: 403 `OUT_OF_QUOTA`.
    OutOfQuota,
    /// accuauth only: 403 `NO_PERMISSION`.
    NoPermission,
}

impl FaultKind {
    fn accuauth_only(self) -> bool {
        matches!(
            self,
            Self::KeyExpired | Self::OutOfQuota | Self::NoPermission
        )
    }
}

fn one() -> f64 {
    1.0
}

/// One fault as set in the config or through `/_sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Assigned by the simulator when absent; setting a fault with an existing id replaces it.
    #[serde(default)]
    pub id: Option<String>,
    /// Vendor id (`wscrm`, `nxcloud`, `ekycpro`, `accuauth`, `files`); absent matches every vendor.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Operation id such as `screening.submit`; absent matches every operation of the vendor.
    #[serde(default)]
    pub operation: Option<String>,
    pub kind: FaultKind,
    /// Share of matching requests that fail, 0..=1.
    #[serde(default = "one")]
    pub rate: f64,
    /// Delay for `latency`, waiting time for `hang`.
    #[serde(default)]
    pub latency_ms: u64,
    /// HTTP status for `server_error`.
    #[serde(default)]
    pub status: Option<u16>,
    /// Fire at most this many more times; absent means no limit.
    #[serde(default)]
    pub remaining: Option<u64>,
}

impl FaultSpec {
    pub fn new(kind: FaultKind) -> Self {
        Self {
            id: None,
            vendor: None,
            operation: None,
            kind,
            rate: 1.0,
            latency_ms: 0,
            status: None,
            remaining: None,
        }
    }

    pub fn vendor(mut self, vendor: &str) -> Self {
        self.vendor = Some(vendor.to_owned());
        self
    }

    pub fn operation(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_owned());
        self
    }

    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }

    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    pub fn remaining(mut self, n: u64) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Rejects specs that could never match or make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate must be within 0..=1, got {}", self.rate));
        }
        if let Some(v) = &self.vendor
            && !VENDORS.contains(&v.as_str())
        {
            return Err(format!("unknown vendor '{v}', expected one of {VENDORS:?}"));
        }
        if self.kind.accuauth_only() && self.vendor.as_deref() != Some(ACCUAUTH) {
            return Err(format!(
                "{:?} faults need \"vendor\": \"accuauth\"",
                self.kind
            ));
        }
        if let Some(s) = self.status
            && !(100..=599).contains(&s)
        {
            return Err(format!("status must be an HTTP status, got {s}"));
        }
        Ok(())
    }

    fn matches(&self, op: &Operation) -> bool {
        self.vendor.as_deref().is_none_or(|v| v == op.vendor)
            && self.operation.as_deref().is_none_or(|o| o == op.name)
    }
}

/// A fault that fired for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub kind: FaultKind,
    pub status: Option<u16>,
    pub latency_ms: u64,
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Sum of the latency faults that fired.
    pub latency_ms: u64,
    /// The first non-latency fault that fired.
    pub outcome: Option<Fired>,
}

#[derive(Debug)]
struct Active {
    spec: FaultSpec,
    seen: u64,
}

impl Active {
    fn fires(&mut self) -> bool {
        if self.spec.remaining == Some(0) {
            return false;
        }
        self.seen += 1;
        let before = ((self.seen - 1) as f64 * self.spec.rate).floor();
        let now = (self.seen as f64 * self.spec.rate).floor();
        let fires = now > before;
        if fires && let Some(r) = self.spec.remaining.as_mut() {
            *r -= 1;
        }
        fires
    }
}

#[derive(Debug, Default)]
pub struct FaultRegistry {
    inner: Mutex<(Vec<Active>, u64)>,
}

impl FaultRegistry {
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Active>, &mut u64) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (list, next) = &mut *guard;
        f(list, next)
    }

    /// Adds a fault, or replaces the one with the same id; returns it with its id.
    pub fn set(&self, mut spec: FaultSpec) -> Result<FaultSpec, String> {
        spec.validate()?;
        Ok(self.with(|list, next| {
            let id = spec.id.clone().unwrap_or_else(|| {
                *next += 1;
                format!("f{next}")
            });
            spec.id = Some(id.clone());
            let active = Active {
                spec: spec.clone(),
                seen: 0,
            };
            match list.iter_mut().find(|a| a.spec.id.as_deref() == Some(&id)) {
                Some(existing) => *existing = active,
                None => list.push(active),
            }
            spec
        }))
    }

    /// Replaces every fault at once; nothing changes when one of them is invalid.
    pub fn replace_all(&self, specs: Vec<FaultSpec>) -> Result<Vec<FaultSpec>, String> {
        for s in &specs {
            s.validate()?;
        }
        self.clear();
        specs.into_iter().map(|s| self.set(s)).collect()
    }

    pub fn list(&self) -> Vec<FaultSpec> {
        self.with(|list, _| list.iter().map(|a| a.spec.clone()).collect())
    }

    pub fn clear(&self) {
        self.with(|list, _| list.clear());
    }

    /// Removes one fault; false when there was none with that id.
    pub fn remove(&self, id: &str) -> bool {
        self.with(|list, _| {
            let before = list.len();
            list.retain(|a| a.spec.id.as_deref() != Some(id));
            list.len() != before
        })
    }

    pub fn decide(&self, op: &Operation) -> Decision {
        self.with(|list, _| {
            let mut d = Decision::default();
            for a in list.iter_mut().filter(|a| a.spec.matches(op)) {
                if a.spec.kind == FaultKind::Latency {
                    if a.fires() {
                        d.latency_ms += a.spec.latency_ms;
                    }
                } else if d.outcome.is_none() && a.fires() {
                    d.outcome = Some(Fired {
                        kind: a.spec.kind,
                        status: a.spec.status,
                        latency_ms: a.spec.latency_ms,
                    });
                }
            }
            d
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(vendor: &'static str, name: &str) -> Operation {
        Operation {
            vendor,
            name: name.to_owned(),
        }
    }

    #[test]
    fn half_rate_fires_every_second_request() {
        let r = FaultRegistry::default();
        r.set(FaultSpec::new(FaultKind::ServerError).rate(0.5))
            .expect("valid");
        let fired: Vec<bool> = (0..6)
            .map(|_| r.decide(&op("wscrm", "x")).outcome.is_some())
            .collect();
        assert_eq!(fired, [false, true, false, true, false, true]);
    }

    #[test]
    fn selectors_and_remaining_limit_faults() {
        let r = FaultRegistry::default();
        r.set(
            FaultSpec::new(FaultKind::Hang)
                .vendor("nxcloud")
                .operation("nxcloud.get_phone")
                .remaining(1),
        )
        .expect("valid");
        assert!(
            r.decide(&op("wscrm", "nxcloud.get_phone"))
                .outcome
                .is_none()
        );
        assert!(
            r.decide(&op("nxcloud", "nxcloud.get_phone"))
                .outcome
                .is_some()
        );
        assert!(
            r.decide(&op("nxcloud", "nxcloud.get_phone"))
                .outcome
                .is_none()
        );
    }

    #[test]
    fn latency_adds_up_and_ids_replace() {
        let r = FaultRegistry::default();
        let a = r
            .set(FaultSpec::new(FaultKind::Latency).latency_ms(10))
            .expect("valid");
        r.set(FaultSpec::new(FaultKind::Latency).latency_ms(5))
            .expect("valid");
        assert_eq!(r.decide(&op("files", "files.download")).latency_ms, 15);
        r.set(FaultSpec {
            latency_ms: 1,
            ..a.clone()
        })
        .expect("valid");
        assert_eq!(r.decide(&op("files", "files.download")).latency_ms, 6);
        assert!(r.remove(a.id.as_deref().unwrap_or_default()));
        assert_eq!(r.list().len(), 1);
    }

    #[test]
    fn invalid_specs_are_refused() {
        let r = FaultRegistry::default();
        assert!(
            r.set(FaultSpec::new(FaultKind::OutOfQuota).vendor("wscrm"))
                .is_err()
        );
        assert!(
            r.set(FaultSpec::new(FaultKind::ServerError).rate(2.0))
                .is_err()
        );
        assert!(
            r.set(FaultSpec::new(FaultKind::ServerError).vendor("nope"))
                .is_err()
        );
        assert!(r.list().is_empty());
    }
}
