use serde_json::{Value, json};
use vendor_sim::vendors::accuauth::result_for;
use vendor_sim::{FaultKind, FaultSpec, SimConfig, dev};

use crate::common::{self, SEED};

async fn check(
    c: &reqwest::Client,
    sim: &vendor_sim::RunningSim,
    body: &Value,
    id: &str,
    secret: &str,
) -> (u16, Value) {
    let res = c
        .post(format!("{}/check/whatsapp_advanced", sim.base_url()))
        .header("X-DF-API-ID", id)
        .header("X-DF-API-SECRET", secret)
        .json(body)
        .send()
        .await
        .expect("answer");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON"))
}

async fn dev_check(
    c: &reqwest::Client,
    sim: &vendor_sim::RunningSim,
    number: &str,
) -> (u16, Value) {
    check(
        c,
        sim,
        &json!({ "number": number }),
        dev::ACCUAUTH_API_ID,
        dev::ACCUAUTH_API_SECRET,
    )
    .await
}

#[tokio::test]
async fn pending_twice_then_ok_with_the_truth_and_one_billed_number() {
    let sim = common::sim().await;
    let c = common::client();
    for _ in 0..2 {
        let (status, v) = dev_check(&c, &sim, "912345678").await;
        assert_eq!(
            (status, v["status"].as_str()),
            (400, Some("PENDING")),
            "{v}"
        );
        assert!(
            v["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("TID"))
        );
    }
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 0);
    let (status, v) = dev_check(&c, &sim, "912345678").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "OK");
    let expected = serde_json::to_value(result_for(SEED, "912345678")).expect("serialisable");
    assert_eq!(v["result"], expected);
    assert_eq!(v["result"]["number"], "+51912345678");
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 1);
    // A new check of the same number starts over.
    assert_eq!(
        dev_check(&c, &sim, "912345678").await.1["status"],
        "PENDING"
    );
    assert_eq!(sim.ledger().requests("accuauth", "accuauth.check"), 4);
}

#[tokio::test]
async fn invalid_numbers_are_invalid_argument_with_a_reason() {
    let sim = common::sim().await;
    let c = common::client();
    for bad in [
        "51912345678",
        "812345678",
        "91234567",
        "9123456789",
        "+51912345678",
        "abc",
    ] {
        let (status, v) = dev_check(&c, &sim, bad).await;
        assert_eq!(
            (status, v["status"].as_str()),
            (400, Some("INVALID_ARGUMENT")),
            "{bad}"
        );
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let (status, v) = check(
        &c,
        &sim,
        &json!({}),
        dev::ACCUAUTH_API_ID,
        dev::ACCUAUTH_API_SECRET,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["reason"], "argument 'number': not found");
    assert_eq!(sim.ledger().numbers_billed("accuauth"), 0);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let sim = common::sim().await;
    let c = common::client();
    let (status, v) = check(
        &c,
        &sim,
        &json!({"number": "912345678"}),
        dev::ACCUAUTH_API_ID,
        "wrong",
    )
    .await;
    assert_eq!((status, v["status"].as_str()), (401, Some("UNAUTHORIZED")));
    let res = c
        .post(format!("{}/check/whatsapp_advanced", sim.base_url()))
        .json(&json!({"number": "912345678"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn expired_key_and_quota_come_from_the_config() {
    let mut config = SimConfig::for_tests(SEED);
    config.accuauth.key_expired = true;
    let sim = common::start(config).await;
    let c = common::client();
    let (status, v) = dev_check(&c, &sim, "912345678").await;
    assert_eq!((status, v["status"].as_str()), (401, Some("KEY_EXPIRED")));

    let mut config = SimConfig::for_tests(SEED);
    config.accuauth.quota = Some(1);
    config.accuauth.pending_polls = 0;
    let sim = common::start(config).await;
    assert_eq!(dev_check(&c, &sim, "912345678").await.0, 200);
    let (status, v) = dev_check(&c, &sim, "987654321").await;
    assert_eq!((status, v["status"].as_str()), (403, Some("OUT_OF_QUOTA")));
}

#[tokio::test]
async fn account_errors_can_be_injected_as_faults() {
    let sim = common::sim().await;
    let c = common::client();
    for (kind, http, status) in [
        (FaultKind::OutOfQuota, 403, "OUT_OF_QUOTA"),
        (FaultKind::KeyExpired, 401, "KEY_EXPIRED"),
        (FaultKind::NoPermission, 403, "NO_PERMISSION"),
        (FaultKind::RateLimit, 403, "RATE_LIMIT_EXCEEDED"),
    ] {
        sim.set_fault(FaultSpec::new(kind).vendor("accuauth"))
            .expect("valid fault");
        let (got, v) = dev_check(&c, &sim, "912345678").await;
        assert_eq!((got, v["status"].as_str()), (http, Some(status)));
        sim.clear_faults();
    }
    assert_eq!(
        dev_check(&c, &sim, "912345678").await.1["status"],
        "PENDING"
    );
}
