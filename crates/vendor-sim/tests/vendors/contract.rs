//! The documents' own request examples are accepted and the answers have the documented fields.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use vendor_sim::{SimConfig, dev};

use crate::common::{self, SEED, get_phone, now_ms, nx_headers};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn screening_examples() {
    // The example has two numbers; the 500 minimum is lowered so that it is accepted verbatim.
    let mut config = SimConfig::for_tests(SEED);
    config.wscrm.min_numbers = 1;
    let sim = common::start(config).await;
    let c = common::client();
    let example = r#"{
"data": ["91182716322323", "91182716322321"],
"type": 1,
"activeType": 0,
"country": "IN"
}"#;
    let v: Value = common::wscrm(&c, &sim, "/wscrm-bus-api/open/scan/screenWhatsApp")
        .header("Content-Type", "application/json")
        .body(example)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(keys(&v), set(&["code", "message", "data"]));
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str()),
        (Some(200), Some("Success"))
    );
    let order = v["data"].as_str().expect("order id is a string");
    for (path, data_is) in [("queryTaskStatus", "int"), ("queryTaskDetails", "string")] {
        let v: Value = common::wscrm(
            &c,
            &sim,
            &format!("/wscrm-bus-api/open/scan/{path}/{order}"),
        )
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
        assert_eq!(keys(&v), set(&["code", "message", "data"]));
        match data_is {
            "int" => assert_eq!(v["data"], 1),
            _ => assert!(v["data"].as_str().is_some_and(|u| u.ends_with(".xlsx"))),
        }
    }
}

#[tokio::test]
async fn nxcloud_example() {
    let sim = common::sim().await;
    let c = common::client();
    let example = "{\n\"business_phones\": \"185xxx99,861xxx24\",\n\"appkey\": \"jh42xxxd434\",\n\"messaging_product\": \"whatsapp\"\n}";
    let headers = nx_headers(
        dev::NXCLOUD_EXAMPLE_ACCESS_KEY,
        dev::NXCLOUD_EXAMPLE_ACCESS_SECRET,
        now_ms(),
        example,
    );
    let v = get_phone(&c, &sim, &headers, example).await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["message"], "Request successful");
    let data = v["data"].as_object().expect("data");
    assert_eq!(
        data.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["185xxx99", "861xxx24"])
    );
    for phones in data.values() {
        let phone = &phones.as_array().expect("array of phone objects")[0];
        assert_eq!(
            keys(phone),
            set(&[
                "display_phone_number",
                "quality_rating",
                "name_status",
                "verified_name",
                "code_verification_status",
                "current_limit",
                "status",
            ])
        );
        assert!(
            ["NOT_VERIFIED", "VERIFIED", "EXPIRED"]
                .contains(&phone["code_verification_status"].as_str().unwrap_or(""))
        );
        assert!(
            phone["display_phone_number"]
                .as_str()
                .is_some_and(|d| d.starts_with('+'))
        );
    }
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'))
}

#[tokio::test]
async fn ekycpro_curl_examples() {
    let sim = common::sim().await;
    let c = common::client();
    let form = reqwest::multipart::Form::new()
        .text("user_id", dev::EKYCPRO_USER_ID)
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"+41798284651\n".to_vec()).file_name("input.txt"),
        );
    let created: Value = c
        .post(format!("{}/wa/api/detail/tasks", sim.base_url()))
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .multipart(form)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let base = [
        "created_at",
        "updated_at",
        "task_id",
        "user_id",
        "status",
        "total",
        "success",
        "failure",
    ];
    assert_eq!(keys(&created), set(&base));
    assert_eq!(
        (created["status"].as_str(), created["total"].as_u64()),
        (Some("pending"), Some(0))
    );
    assert!(is_rfc3339(&created["created_at"]) && is_rfc3339(&created["updated_at"]));
    let id = created["task_id"].as_str().expect("task id");
    assert_eq!(id.len(), 20);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
    );
    let exported: Value = c
        .get(format!(
            "{}/wa/api/detail/tasks/{id}?user_id={}",
            sim.base_url(),
            dev::EKYCPRO_USER_ID
        ))
        .header("X-API-Key", dev::EKYCPRO_API_KEY)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    let mut with_url = set(&base);
    with_url.insert("result_url".into());
    assert_eq!(keys(&exported), with_url);
    assert_eq!(exported["status"], "exported");
    assert_eq!(exported["user_id"], dev::EKYCPRO_USER_ID);
}

#[tokio::test]
async fn accuauth_response_syntax() {
    let mut config = SimConfig::for_tests(SEED);
    config.accuauth.pending_polls = 0;
    let sim = common::start(config).await;
    let c = common::client();
    let post = |body: Value| {
        c.post(format!("{}/check/whatsapp_advanced", sim.base_url()))
            .header("X-DF-API-ID", dev::ACCUAUTH_API_ID)
            .header("X-DF-API-SECRET", dev::ACCUAUTH_API_SECRET)
            .json(&body)
            .send()
    };
    let ok: Value = post(json!({"number": "987654321"}))
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(keys(&ok), set(&["status", "result", "request_id"]));
    assert_eq!(
        keys(&ok["result"]),
        set(&[
            "number",
            "whatsapp",
            "status_update",
            "signature",
            "business_user",
            "avatar"
        ])
    );
    for yes_no in ["whatsapp", "business_user", "avatar"] {
        assert!(["yes", "no"].contains(&ok["result"][yes_no].as_str().unwrap_or("")));
    }
    let status_update = ok["result"]["status_update"].as_str().expect("string");
    assert!(
        status_update.is_empty()
            || (status_update.len() == 8 && status_update.bytes().all(|b| b.is_ascii_digit()))
    );
    let err: Value = post(json!({}))
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(keys(&err), set(&["status", "reason", "request_id"]));
    assert_eq!(err["status"], "INVALID_ARGUMENT");
}
