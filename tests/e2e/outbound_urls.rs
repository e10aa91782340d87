//! The outbound URL policy through the real API: hostile subscription and callback URLs are
//! refused with `422 url_not_allowed` naming the rule, and no connection reaches the loopback
//! listener they aim at; an explicitly named internal receiver gets its deliveries; redirects
//! are not followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::number_checks::{config, indian, post_job, start_sim, wait_done};
use crate::support::{TestApp, expect_problem, spawn_app_with, token};
use gateway_api::ownership::{self, OwnedKind};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TENANT: &str = "acme";
const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";
const CALLBACK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A loopback listener counting the connections it accepts, answering each with `reply`.
struct Listener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    async fn start(reply: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { port, accepted }
    }

    /// What a careless gateway would reach: answers 204 so a request there would "succeed".
    async fn trap() -> Self {
        Self::start("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()).await
    }

    async fn redirecting_to(target: &Listener) -> Self {
        Self::start(format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            target.port
        ))
        .await
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

struct Fixture {
    app: TestApp,
    _sim: crate::support::sim::RunningSim,
    trap: Listener,
    redirector: Listener,
    receiver: MockServer,
}

/// The gateway with one allow-list for subscriptions and callbacks: a public-looking host, two
/// loopback receivers named explicitly (one of them redirects to the trap), and any host on the
/// trap's port, so that there only the address rules stand between a caller and the trap.
async fn fixture() -> Fixture {
    let trap = Listener::trap().await;
    let redirector = Listener::redirecting_to(&trap).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let allow = json!([
        "http://allowed.example.com/hooks",
        format!("{}/hooks", receiver.uri()),
        format!("http://127.0.0.1:{}/hooks", redirector.port),
        format!("http://*:{}/", trap.port),
    ]);
    let sim = start_sim(21, 0).await;
    let mut overrides = config(
        &sim,
        json!({"callback_allow": allow, "callback_secrets": {TENANT: CALLBACK_SECRET}}),
    );
    overrides["events"] = json!({
        "webhook_secret": WEBHOOK_SECRET,
        "subscription_allow": allow,
        "retry_schedule": ["100ms", "100ms"],
        "delivery_poll_interval": "50ms",
        "delivery_timeout": "2s",
        "delivery_claim_hold": "5s"
    });
    let app = spawn_app_with(overrides).await;
    Fixture {
        app,
        _sim: sim,
        trap,
        redirector,
        receiver,
    }
}

/// Hostile URLs aimed at the trap (port `trap`) or around the named receiver (port `named`),
/// each with the rule that must refuse it.
fn hostile(trap: u16, named: u16) -> Vec<(String, &'static str)> {
    let on_trap = [
        ("127.1", "address_not_allowed"),
        ("127.0.0.1", "address_not_allowed"),
        ("2130706433", "address_not_allowed"),
        ("0x7f.1", "address_not_allowed"),
        ("017700000001", "address_not_allowed"),
        ("%31%32%37.0.0.1", "address_not_allowed"),
        ("[::ffff:127.0.0.1]", "address_not_allowed"),
        ("[::ffff:7f00:1]", "address_not_allowed"),
        ("[::1]", "address_not_allowed"),
        ("[fd00:ec2::254]", "address_not_allowed"),
        ("169.254.169.254", "address_not_allowed"),
        ("100.64.0.1", "address_not_allowed"),
        ("10.0.0.1", "address_not_allowed"),
        ("192.168.1.1", "address_not_allowed"),
        ("0.0.0.0", "address_not_allowed"),
        ("localhost", "address_not_allowed"),
        ("trap.localhost", "address_not_allowed"),
        ("allowed.example.com@127.0.0.1", "userinfo_not_allowed"),
        ("a:b@127.0.0.1", "userinfo_not_allowed"),
        (
            &format!("127.0.0.1:{named}@127.0.0.1"),
            "userinfo_not_allowed",
        ),
    ]
    .map(|(host, rule)| (format!("http://{host}:{trap}/latest/meta-data"), rule));
    let others = [
        (
            "http://\u{0430}llowed.example.com/hooks".to_owned(),
            "host_not_allowed",
        ),
        (
            "http://allowed.example.com./hooks".to_owned(),
            "host_not_allowed",
        ),
        (
            "http://allowed.example.com.evil.io/hooks".to_owned(),
            "host_not_allowed",
        ),
        (
            "http://allowed.example.com%2eevil.io/hooks".to_owned(),
            "host_not_allowed",
        ),
        ("file:///etc/passwd".to_owned(), "scheme_not_allowed"),
        (format!("gopher://127.0.0.1:{trap}/"), "scheme_not_allowed"),
        (
            format!("https://127.0.0.1:{named}/hooks"),
            "scheme_not_allowed",
        ),
        (
            "http://allowed.example.com/hooks/../admin".to_owned(),
            "path_not_allowed",
        ),
        (
            "http://allowed.example.com/hooksevil".to_owned(),
            "path_not_allowed",
        ),
        (
            format!("http://127.0.0.1:{named}/hooks/%2e%2e/admin"),
            "path_not_allowed",
        ),
        (
            format!("http://127.0.0.1:{named}/hooksevil"),
            "path_not_allowed",
        ),
        (
            "http://allowed.example.com:8080/hooks".to_owned(),
            "port_not_allowed",
        ),
        ("http://127.0.0.1:6379/".to_owned(), "port_not_allowed"),
        ("http://127.1/".to_owned(), "port_not_allowed"),
    ];
    on_trap.into_iter().chain(others).collect()
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn subscribe(app: &TestApp, url: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/subscriptions"))
        .bearer_auth(token(TENANT, "events:read events:write"))
        .json(&json!({"url": url}))
        .send()
        .await
        .expect("subscribe")
}

/// Has the vendor report a registration of the tenant, which every subscription receives.
async fn registration_event(app: &TestApp, phone: &str) {
    assert!(
        ownership::claim(&app.store, OwnedKind::Registration, phone, TENANT)
            .await
            .expect("claim")
    );
    let response = app
        .client
        .post(app.url("/group-dispatch-api/register/syncStatus"))
        .header("X-Webhook-Secret", WEBHOOK_SECRET)
        .json(&json!({"phone": phone, "status": "1"}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 200);
}

async fn assert_refused(response: reqwest::Response, field: &str, url: &str, rule: &str) {
    let problem = expect_problem(response, 422, "url_not_allowed").await;
    assert_eq!(problem["rule"], rule, "{url}: {problem}");
    assert_eq!(problem["errors"][0]["field"], field, "{url}: {problem}");
    assert_eq!(problem["errors"][0]["code"], rule, "{url}: {problem}");
}

fn job(callback_url: &str) -> Value {
    json!({"numbers": indian(120, 0), "default_country": "IN", "checks": ["registered"],
           "callback_url": callback_url})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_subscription_urls_are_refused_and_nothing_reaches_the_trap() {
    let f = fixture().await;
    let cases = hostile(f.trap.port, f.redirector.port);
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (url, rule) in &cases {
        assert_refused(subscribe(&f.app, url).await, "url", url, rule).await;
    }
    // An event now goes to every subscription there is: only the named receiver's.
    let named = format!("{}/hooks/events", f.receiver.uri());
    assert_eq!(subscribe(&f.app, &named).await.status(), 201);
    registration_event(&f.app, "861821726232").await;
    wait_for("the named receiver's delivery", || async {
        !f.receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.trap.accepted(), 0, "a connection reached the trap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_callback_urls_are_refused_and_nothing_reaches_the_trap() {
    let f = fixture().await;
    let t = token(TENANT, "numbers:check numbers:read");
    let cases = hostile(f.trap.port, f.redirector.port);
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (url, rule) in &cases {
        assert_refused(
            post_job(&f.app, &t, &job(url)).await,
            "callback_url",
            url,
            rule,
        )
        .await;
    }
    // A job with the named receiver as callback: its callback arrives, the trap sees nothing.
    let named = format!("{}/hooks/done", f.receiver.uri());
    let response = post_job(&f.app, &t, &job(&named)).await;
    assert_eq!(response.status().as_u16(), 202);
    let id = response.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&f.app, &t, &id).await;
    wait_for("the callback", || async {
        !f.receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.trap.accepted(), 0, "a connection reached the trap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_redirecting_to_a_forbidden_address_is_not_followed() {
    let f = fixture().await;
    let url = format!("http://127.0.0.1:{}/hooks/events", f.redirector.port);
    let response = subscribe(&f.app, &url).await;
    assert_eq!(response.status(), 201);
    let sub: Value = response.json().await.expect("subscription");
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    registration_event(&f.app, "861821726233").await;
    // First attempt and both retries reach the redirector and end there.
    wait_for("every attempt", || async {
        let log: Value = f
            .app
            .get(
                &format!("/v1/subscriptions/{sub_id}/deliveries"),
                &token(TENANT, "events:read events:write"),
            )
            .await
            .json()
            .await
            .expect("deliveries");
        log["items"][0]["status"] == "failed"
            && log["items"][0]["attempts"][0]["status_code"] == 302
    })
    .await;
    assert_eq!(f.redirector.accepted(), 3);
    assert_eq!(f.trap.accepted(), 0, "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_redirecting_to_a_forbidden_address_is_not_followed() {
    let f = fixture().await;
    let t = token(TENANT, "numbers:check numbers:read");
    let url = format!("http://127.0.0.1:{}/hooks/done", f.redirector.port);
    let response = post_job(&f.app, &t, &job(&url)).await;
    assert_eq!(response.status().as_u16(), 202);
    let id = response.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_done(&f.app, &t, &id).await;
    wait_for("a few callback attempts", || async {
        f.redirector.accepted() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.trap.accepted(), 0, "the redirect was followed");
}
