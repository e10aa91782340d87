//! The seam for a new number-check vendor: a sixth vendor, registered the way every vendor is
//! (one entry of the providers' registry) and reached over HTTP (wiremock), is a `provider`
//! choice of the API, a routing candidate, and answers a job, with no edit to the domain, the
//! planner or the API types.

mod support;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::Utc;
use domain::{Check, CheckSet, E164, NumberResult, ProviderError, ProviderErrorKind, ProviderId};
use gateway_api::number_checks::model::ProviderChoice;
use providers::{
    BatchLimits, BulkNumberChecker, Capability, OrderProgress, ResultLocation, Vendor,
    VendorOrderId,
};
use serde_json::{Value, json};
use support::{TestApp, expect_problem, spawn_app_with, token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SIXTH: ProviderId = ProviderId::new("sixth_vendor");
const SCOPES: &str = "numbers:check numbers:read";

/// Where the sixth vendor's API is, once a test has started it.
static BASE_URL: OnceLock<String> = OnceLock::new();

/// A minimal bulk vendor: `POST /orders` takes numbers, `GET /orders/{id}` says where the
/// results are, the result is a JSON list of `{number, registered}`.
#[derive(Debug)]
struct SixthVendor {
    base: String,
    http: reqwest::Client,
}

impl SixthVendor {
    fn failed(operation: &'static str, e: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(
            ProviderErrorKind::Unavailable,
            SIXTH,
            operation,
            e.to_string(),
        )
    }

    async fn get_json(&self, url: &str, operation: &'static str) -> Result<Value, ProviderError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Self::failed(operation, e))?;
        response
            .json()
            .await
            .map_err(|e| Self::failed(operation, e))
    }
}

#[async_trait]
impl BulkNumberChecker for SixthVendor {
    fn provider(&self) -> ProviderId {
        SIXTH
    }

    fn checks(&self) -> CheckSet {
        CheckSet::of(&[Check::Registered])
    }

    fn limits(&self) -> BatchLimits {
        BatchLimits { min: 1, max: 1_000 }
    }

    async fn submit(
        &self,
        numbers: &[E164],
        _checks: &CheckSet,
    ) -> Result<VendorOrderId, ProviderError> {
        let numbers: Vec<String> = numbers.iter().map(ToString::to_string).collect();
        let answer: Value = self
            .http
            .post(format!("{}/orders", self.base))
            .json(&json!({ "numbers": numbers }))
            .send()
            .await
            .map_err(|e| Self::failed("submit", e))?
            .json()
            .await
            .map_err(|e| Self::failed("submit", e))?;
        let order = answer["order"].as_str().unwrap_or_default();
        Ok(VendorOrderId::new(order))
    }

    async fn poll(&self, order: &VendorOrderId) -> Result<OrderProgress, ProviderError> {
        let url = format!("{}/orders/{order}", self.base);
        let answer = self.get_json(&url, "poll").await?;
        let result = answer["result"].as_str().unwrap_or_default();
        Ok(OrderProgress::Ready {
            result: ResultLocation::new(result),
        })
    }

    async fn fetch_results(
        &self,
        _order: &VendorOrderId,
        location: &ResultLocation,
    ) -> Result<Vec<NumberResult>, ProviderError> {
        let rows = self.get_json(location.as_str(), "fetch_results").await?;
        let now = Utc::now();
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| {
                let number: E164 = row["number"].as_str()?.parse().ok()?;
                let mut record = NumberResult::empty(number, SIXTH, now);
                record.registered = row["registered"].as_bool();
                Some(record)
            })
            .collect())
    }
}

/// Registers the sixth vendor once per test process: one entry, like every vendor's.
fn register_sixth_vendor() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        providers::register(Vendor {
            id: SIXTH,
            capability: Capability::BulkNumberChecks,
            config_section: "sixth_vendor",
            build: &|_config, http, registry| {
                if let Some(base) = BASE_URL.get() {
                    registry.insert_bulk(Arc::new(SixthVendor {
                        base: base.clone(),
                        http: http.clone(),
                    }));
                }
                Ok(())
            },
        });
    });
}

#[test]
fn the_provider_choice_lists_and_parses_the_registered_vendors() {
    register_sixth_vendor();
    assert_eq!(
        ProviderChoice::values(),
        ["auto", "wscrm_screening", "ekycpro", "sixth_vendor"]
    );
    assert_eq!(
        "sixth_vendor".parse::<ProviderChoice>(),
        Ok(ProviderChoice::Named(SIXTH))
    );
    assert!("seventh_vendor".parse::<ProviderChoice>().is_err());
    // Single-number and other vendors are no job `provider`.
    assert!("accuauth".parse::<ProviderChoice>().is_err());

    let document = serde_json::to_value(gateway_api::openapi::document()).expect("json");
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["ProviderChoice"]["enum"],
        json!(["auto", "wscrm_screening", "ekycpro", "sixth_vendor"])
    );
    let ids = schemas["ProviderId"]["enum"]
        .as_array()
        .expect("ProviderId enum");
    assert!(ids.contains(&json!("sixth_vendor")), "{ids:?}");
}

async fn sixth_vendor_api(numbers: &[&str]) -> MockServer {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"order": "o-1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/o-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": format!("{base}/results/o-1")})),
        )
        .mount(&server)
        .await;
    let rows: Vec<Value> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"number": n, "registered": i % 2 == 0}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/results/o-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_sixth_vendor_is_routed_to_and_answers_a_job() {
    let numbers = ["+919876543210", "+919876543211", "+919876543212"];
    let server = sixth_vendor_api(&numbers).await;
    BASE_URL.set(server.uri()).expect("one server per process");
    register_sixth_vendor();
    let app = spawn_app_with(json!({"number_checks": {
        "routing": ["sixth_vendor"],
        "worker_interval": "20ms",
        "poll_initial": "20ms",
        "poll_max": "200ms",
        "lease_ttl": "3s"
    }}))
    .await;
    let t = token("acme", SCOPES);

    for choice in ["auto", "sixth_vendor"] {
        let body = json!({"numbers": numbers, "checks": ["registered"], "provider": choice, "max_age": "0s"});
        let resp = post_job(&app, &t, &body).await;
        let status = resp.status().as_u16();
        let job: Value = resp.json().await.expect("json");
        assert_eq!(status, 202, "{choice}: {job}");
        assert_eq!(job["provider"], choice);
        assert_eq!(job["sub_orders"][0]["provider"], "sixth_vendor", "{job}");

        let id = job["id"].as_str().expect("id").to_owned();
        let job = wait_done(&app, &t, &id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(
            job["cost"]["billed_by_provider"],
            json!({"sixth_vendor": 3})
        );
        let results = all_results(&app, &t, &id).await;
        assert_eq!(results.len(), 3);
        for record in &results {
            assert_eq!(record["provider"], "sixth_vendor", "{record}");
            assert_eq!(record["checks"]["registered"]["status"], "answered");
        }
        let first = results
            .iter()
            .find(|r| r["number"] == numbers[0])
            .expect("first number");
        assert_eq!(first["registered"], true);
    }

    let unknown = post_job(
        &app,
        &t,
        &json!({"numbers": numbers, "checks": ["registered"], "provider": "seventh_vendor"}),
    )
    .await;
    expect_problem(unknown, 422, "validation_failed").await;
}

async fn post_job(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/number-checks"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Polls the job until it reaches a final status.
async fn wait_done(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let job: Value = app
            .get(&format!("/v1/number-checks/{id}"), token)
            .await
            .json()
            .await
            .expect("job json");
        if job["status"] != "queued" && job["status"] != "running" {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job did not finish: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every record of a job, through the NDJSON export.
async fn all_results(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let text = app
        .get(
            &format!("/v1/number-checks/{id}/results?format=ndjson"),
            token,
        )
        .await
        .text()
        .await
        .expect("export");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect()
}
