//! Maps a request path to the vendor and operation it belongs to. Faults and the ledger are keyed
//! by these stable ids.

/// The vendor and operation of a request to a vendor route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub vendor: &'static str,
    pub name: String,
}

pub const WSCRM: &str = "wscrm";
pub const NXCLOUD: &str = "nxcloud";
pub const EKYCPRO: &str = "ekycpro";
pub const ACCUAUTH: &str = "accuauth";
pub const FILES: &str = "files";

/// Every vendor id the simulator knows.
pub const VENDORS: [&str; 5] = [WSCRM, NXCLOUD, EKYCPRO, ACCUAUTH, FILES];

pub const WSCRM_PREFIXES: [&str; 2] = ["/wscrm-bus-api/", "/group-dispatch-api/"];
pub const SCREENING_PREFIX: &str = "/wscrm-bus-api/open/scan/";
pub const FILES_PREFIX: &str = "/_sim/files/";

/// Whether the path is under one of the two wscrm prefixes, whose auth headers are checked.
pub fn is_wscrm_path(path: &str) -> bool {
    WSCRM_PREFIXES.iter().any(|p| path.starts_with(p))
}

fn op(vendor: &'static str, name: impl Into<String>) -> Option<Operation> {
    Some(Operation {
        vendor,
        name: name.into(),
    })
}

/// The operation of a path, or `None` for paths that are not vendor routes (such as `/_sim/...`).
pub fn classify(path: &str) -> Option<Operation> {
    let path = path.trim_end_matches('/');
    if let Some(rest) = path.strip_prefix(SCREENING_PREFIX) {
        let first = rest.split('/').next().unwrap_or_default();
        match first {
            "screenWhatsApp" => return op(WSCRM, "screening.submit"),
            "queryTaskStatus" => return op(WSCRM, "screening.status"),
            "queryTaskDetails" => return op(WSCRM, "screening.details"),
            _ => {}
        }
    }
    if is_wscrm_path(&format!("{path}/")) {
        return op(WSCRM, wscrm_operation(path));
    }
    if path == "/api/wa/getPhone" {
        return op(NXCLOUD, "nxcloud.get_phone");
    }
    if path == "/wa/api/detail/tasks" {
        return op(EKYCPRO, "ekycpro.create_task");
    }
    if path.starts_with("/wa/api/detail/tasks/") {
        return op(EKYCPRO, "ekycpro.get_task");
    }
    if path == "/check/whatsapp_advanced" {
        return op(ACCUAUTH, "accuauth.check");
    }
    if path.starts_with(FILES_PREFIX) {
        return op(FILES, "files.download");
    }
    None
}

/// `wscrm.` + the last two path segments in snake case: the last one alone is ambiguous
/// (`qrCode/getQrCode` and `qrCodeTask/getQrCode` both exist).
fn wscrm_operation(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(1).collect();
    let tail = &segments[segments.len().saturating_sub(2)..];
    let parts: Vec<String> = tail.iter().map(|s| snake_case(s)).collect();
    if parts.is_empty() {
        "wscrm.root".to_owned()
    } else {
        format!("wscrm.{}", parts.join("."))
    }
}

fn snake_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 4);
    let mut prev_lower = false;
    for c in segment.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            out.push('_');
            prev_lower = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(path: &str) -> Option<(String, String)> {
        classify(path).map(|o| (o.vendor.to_owned(), o.name))
    }

    #[test]
    fn screening_routes_have_fixed_names() {
        assert_eq!(
            name("/wscrm-bus-api/open/scan/queryTaskStatus/abc")
                .map(|n| n.1)
                .as_deref(),
            Some("screening.status")
        );
        assert_eq!(
            name("/wscrm-bus-api/open/scan/screenWhatsApp")
                .map(|n| n.1)
                .as_deref(),
            Some("screening.submit")
        );
    }

    #[test]
    fn account_routes_get_names_from_their_last_segments() {
        assert_eq!(
            name("/wscrm-bus-api/open/action/batchAdd"),
            Some(("wscrm".into(), "wscrm.action.batch_add".into()))
        );
        assert_eq!(
            name("/group-dispatch-api/qrCode/getQrCodeV2")
                .map(|n| n.1)
                .as_deref(),
            Some("wscrm.qr_code.get_qr_code_v2")
        );
        assert_ne!(
            name("/group-dispatch-api/qrCode/getQrCode"),
            name("/wscrm-bus-api/qrCodeTask/getQrCode")
        );
    }

    #[test]
    fn other_vendors_and_admin_paths() {
        assert_eq!(
            name("/wa/api/detail/tasks/cs9viu7i61pkfs4oavvg")
                .map(|n| n.1)
                .as_deref(),
            Some("ekycpro.get_task")
        );
        assert_eq!(
            name("/check/whatsapp_advanced").map(|n| n.0).as_deref(),
            Some("accuauth")
        );
        assert_eq!(name("/_sim/ledger"), None);
        assert_eq!(name("/wscrm-bus-apix/a"), None);
    }
}
