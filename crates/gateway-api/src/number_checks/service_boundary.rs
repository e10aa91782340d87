//! The number-check service (everything here but `routes.rs`) knows nothing of HTTP: routes
//! translate requests and the service's own errors, so the service can be driven by a worker,
//! a CLI or a test as well.

use std::path::Path;

/// Text that only an HTTP layer has reason to name.
const HTTP_ONLY: [&str; 5] = [
    "actix",
    "crate::http",
    "crate::error",
    "ApiError",
    "HttpResponse",
];

/// The files exempt: the HTTP layer itself and this check.
const EXEMPT: [&str; 2] = ["routes.rs", "service_boundary.rs"];

#[test]
fn no_service_module_names_the_http_layer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/number_checks");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("the module's folder") {
        let path = entry.expect("a folder entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.extension().is_none_or(|e| e != "rs") || EXEMPT.contains(&name) {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("a source file");
        for needle in HTTP_ONLY {
            assert!(
                !source.contains(needle),
                "{name} names `{needle}`: the number-check service must not depend on the HTTP layer"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} service modules found in {}",
        dir.display()
    );
}
