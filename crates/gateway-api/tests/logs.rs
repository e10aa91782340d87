//! What the gateway writes to its logs: never a bearer token, never a full phone number.

mod support;

use std::time::Duration;

use support::process::GatewayProcess;
use support::{random_prefix, redis_url, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_token_and_no_unmasked_number() {
    let mut gateway = GatewayProcess::start(&[
        ("GATEWAY_LOG__LEVEL", "debug".to_owned()),
        ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
        ("GATEWAY_STORE__REDIS_URL", redis_url()),
        ("GATEWAY_STORE__KEY_PREFIX", random_prefix()),
    ]);
    let client = reqwest::Client::new();
    let bearer = token("acme", "numbers:read");
    let calls = [
        client.get(gateway.url("/v1/whoami")).bearer_auth(&bearer),
        client
            .get(gateway.url("/v1/numbers/+14155550123"))
            .bearer_auth(&bearer),
        client
            .get(gateway.url("/v1/numbers/%2B447700900123?also=919876542323"))
            .bearer_auth(&bearer),
        client
            .post(gateway.url("/v1/number-checks"))
            .bearer_auth(&bearer)
            .body(r#"{"numbers":["+5511987654321"]}"#),
        client
            .get(gateway.url("/v1/whoami"))
            .bearer_auth(format!("{bearer}x")),
    ];
    for call in calls {
        let _ = call.send().await.expect("request");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.sigterm();
    assert_eq!(gateway.wait_exit(Duration::from_secs(15)), Some(0));
    let logs = gateway.output();
    assert!(
        logs.contains("request completed"),
        "requests were logged: {logs}"
    );
    assert!(
        logs.contains("+14*****0123"),
        "the masked number is there: {logs}"
    );
    let signature = bearer.rsplit('.').next().expect("signature");
    for secret in [
        bearer.as_str(),
        signature,
        "14155550123",
        "447700900123",
        "919876542323",
        "5511987654321",
    ] {
        assert!(
            !logs.contains(secret),
            "`{secret}` leaked into the logs:\n{logs}"
        );
    }
}
