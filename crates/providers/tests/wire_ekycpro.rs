//! Wire contract of the two ekycpro calls (document `003_aeff72829f5c7622.txt`): the multipart
//! upload (`user_id`, `file` of one E.164 number per line) and the task query (`user_id` in the
//! query string), with the `X-API-Key` header of the document's curl examples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{Field, Format as F, Ty, assert_bodyless, header, only, req};
use common::{e164, registry};
use domain::{Check, CheckSet};
use providers::VendorOrderId;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TASKS: &str = "/wa/api/detail/tasks";
const TASK_ID: &str = "cs9viu7i61pkfs4oavvg";
/// Check task detail request parameters.
const QUERY: &[Field] = &[req("user_id", Ty::Str, F::NonEmpty)];

/// The parts of a `multipart/form-data` body: (name, filename, content).
fn parts(req: &Request) -> Vec<(String, Option<String>, String)> {
    let content_type = header(req, "content-type").expect("content type");
    assert!(
        content_type.starts_with("multipart/form-data"),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .trim_matches('"');
    let body = String::from_utf8(req.body.clone()).expect("text parts");
    body.split(&format!("--{boundary}"))
        .filter(|p| !p.trim().is_empty() && p.trim() != "--")
        .map(|p| {
            let (head, content) = p.split_once("\r\n\r\n").expect("part head");
            let disposition = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
                .expect("disposition");
            let attr = |key: &str| {
                disposition
                    .split(';')
                    .map(str::trim)
                    .find_map(|a| a.strip_prefix(&format!("{key}=")))
                    .map(|v| v.trim_matches('"').to_owned())
            };
            (
                attr("name").expect("name"),
                attr("filename"),
                content.trim_end_matches("\r\n").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn upload_and_task_query() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created_at": "2024-10-19T18:24:56.450567423Z", "updated_at": "2024-10-19T18:24:56.450567423Z",
            "task_id": TASK_ID, "user_id": "u-1", "status": "pending", "total": 0, "success": 0, "failure": 0
        })))
        .mount(&server)
        .await;
    let checker = registry(json!({"ekycpro": {
        "base_url": server.uri(), "user_id": "u-1", "api_key": "key-xyz", "timeout_ms": 2000
    }}))
    .bulk(providers::ekycpro::ID)
    .unwrap();
    let numbers = [e164("+919876543210"), e164("+41798284651")];
    checker
        .submit(&numbers, &CheckSet::of(&[Check::Registered]))
        .await
        .unwrap();
    checker
        .poll(&VendorOrderId::new(TASK_ID.to_owned()))
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();

    let upload = only(&reqs, TASKS);
    assert_eq!(upload.method.as_str(), "POST");
    assert_eq!(upload.url.query(), None);
    assert_eq!(header(upload, "X-API-Key"), Some("key-xyz"));
    let parts = parts(upload);
    let names: Vec<&str> = parts.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["user_id", "file"], "only the documented parameters");
    assert_eq!(parts[0].2, "u-1");
    assert!(parts[1].1.is_some(), "file is a file upload");
    let lines: Vec<&str> = parts[1].2.lines().collect();
    assert_eq!(
        lines,
        ["+919876543210", "+41798284651"],
        "one E.164 number per line"
    );

    let query = only(&reqs, &format!("{TASKS}/{TASK_ID}"));
    assert_bodyless(query, "GET", QUERY, "task detail");
    assert_eq!(header(query, "X-API-Key"), Some("key-xyz"));
}
