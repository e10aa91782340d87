//! W3C Trace Context, the part every request needs: the caller's `traceparent` is accepted when
//! well formed, and its trace id names the request's span, so every log line of the request
//! carries it; without one (or with a malformed one) the request gets a trace id of its own.

use actix_web::http::header::{HeaderName, HeaderValue};

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// 32 lowercase hex digits, never all zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceId(pub String);

impl TraceId {
    /// The caller's trace id, or a new one.
    pub fn of(traceparent: Option<&HeaderValue>) -> Self {
        traceparent
            .and_then(|value| value.to_str().ok())
            .and_then(Self::from_traceparent)
            .unwrap_or_else(|| Self(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// `version-traceid-parentid-flags`: version `ff` and all-zero ids are invalid; a future
    /// version may append fields after the flags.
    fn from_traceparent(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        let valid = hex(version, 2)
            && version != "ff"
            && hex(trace, 32)
            && !zero(trace)
            && hex(parent, 16)
            && !zero(parent)
            && hex(flags, 2)
            && (version != "00" || parts.next().is_none());
        valid.then(|| Self(trace.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(value: &str) -> TraceId {
        TraceId::of(Some(&HeaderValue::from_str(value).expect("header")))
    }

    #[test]
    fn a_well_formed_traceparent_gives_its_trace_id() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(of(&format!("00-{id}-00f067aa0ba902b7-01")).0, id);
        assert_eq!(of(&format!("01-{id}-00f067aa0ba902b7-01-later")).0, id);
    }

    #[test]
    fn anything_else_gets_a_new_trace_id() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let id = of(bad).0;
            assert_eq!(id.len(), 32, "{bad}");
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
        }
        assert_eq!(TraceId::of(None).0.len(), 32);
    }
}
