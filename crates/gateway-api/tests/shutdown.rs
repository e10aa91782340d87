//! SIGTERM: the gateway stops taking connections, finishes what is in flight, and exits 0.

mod support;

use std::time::{Duration, Instant};

use support::fake_redis::FakeRedis;
use support::process::GatewayProcess;

// Multi-threaded: starting the process blocks one thread while the fake Redis must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_request_finish_then_exits_zero() {
    let redis = FakeRedis::start().await;
    let mut gateway = GatewayProcess::start(&[
        ("GATEWAY_AUTH__ALLOW_DEV_SECRET", "true".to_owned()),
        ("GATEWAY_STORE__REDIS_URL", redis.url()),
        ("GATEWAY_STORE__COMMAND_TIMEOUT", "10s".to_owned()),
        ("GATEWAY_SERVER__DRAIN_TIMEOUT", "15s".to_owned()),
    ]);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(gateway.url("/readyz"))
            .send()
            .await
            .expect("ready")
            .status(),
        200
    );

    redis.slow_pings(Duration::from_millis(1500));
    let started = Instant::now();
    let slow = tokio::spawn({
        let client = client.clone();
        let url = gateway.url("/readyz");
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    gateway.sigterm();

    let status = slow
        .await
        .expect("join")
        .expect("the in-flight request got an answer");
    assert_eq!(status, 200, "the in-flight request completed normally");
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the request really was slow"
    );
    let code = tokio::task::spawn_blocking(move || {
        let code = gateway.wait_exit(Duration::from_secs(20));
        (code, gateway.output())
    })
    .await
    .expect("join");
    assert_eq!(code.0, Some(0), "exit code; output:\n{}", code.1);
}
