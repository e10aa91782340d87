//! The guarded clients against real listeners on loopback: what they refuse never connects.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use egress::{AllowList, EgressClient, Rule, StaticResolver, UrlPolicy, refusal_of};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback listener that counts the connections it accepts and answers each with `reply`.
struct Listener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    async fn start(reply: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { port, accepted }
    }

    async fn ok() -> Self {
        Self::start("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()).await
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn client(entries: &[String], resolver: StaticResolver) -> EgressClient {
    let policy = UrlPolicy::with_resolver(AllowList::parse(entries).unwrap(), Arc::new(resolver));
    EgressClient::new(policy, |b| b.timeout(Duration::from_secs(5))).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_named_internal_receiver_is_reached() {
    let receiver = Listener::ok().await;
    let client = client(
        &[format!("http://127.0.0.1:{}/hooks", receiver.port)],
        StaticResolver::new(),
    );
    let url = format!("http://127.0.0.1:{}/hooks/done", receiver.port);
    let response = client
        .request(Method::POST, &url)
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(receiver.accepted(), 1);
}

#[tokio::test]
async fn an_address_literal_matched_by_a_pattern_is_refused_before_connecting() {
    let trap = Listener::ok().await;
    let client = client(&[format!("http://*:{}/", trap.port)], StaticResolver::new());
    for host in ["127.0.0.1", "127.1", "[::ffff:127.0.0.1]", "2130706433"] {
        let url = format!("http://{host}:{}/", trap.port);
        let refusal = client.request(Method::POST, &url).unwrap_err();
        assert_eq!(refusal.rule, Rule::AddressNotAllowed, "{url}");
    }
    assert_eq!(trap.accepted(), 0);
}

#[tokio::test]
async fn a_name_that_rebinds_to_loopback_after_the_check_is_not_connected() {
    let trap = Listener::ok().await;
    let resolver = StaticResolver::new()
        .with("hooks.rebind.test", &[ip("93.184.216.34")])
        .with("hooks.rebind.test", &[ip("127.0.0.1")]);
    let client = client(&[format!("http://*.rebind.test:{}/", trap.port)], resolver);
    let url = format!("http://hooks.rebind.test:{}/in", trap.port);
    // Checked when accepted: the name resolved to a public address then.
    let permit = client.policy().check(&url).await.unwrap();
    assert!(!permit.host_is_named());
    // At connection time it resolves to loopback: the resolver refuses, nothing connects.
    let error = client
        .request_permitted(Method::POST, permit)
        .send()
        .await
        .unwrap_err();
    let refusal = refusal_of(&error).expect("the policy refused it");
    assert_eq!(refusal.rule, Rule::AddressNotAllowed);
    assert_eq!(trap.accepted(), 0);
}

#[tokio::test]
async fn localhost_names_are_loopback_whatever_the_resolver_says() {
    let trap = Listener::ok().await;
    let resolver = StaticResolver::new().with("a.localhost", &[ip("93.184.216.34")]);
    let client = client(&[format!("http://*:{}/", trap.port)], resolver);
    for host in ["localhost", "a.localhost", "LOCALHOST."] {
        let url = format!("http://{host}:{}/", trap.port);
        let refusal = client.policy().check(&url).await.unwrap_err();
        assert_eq!(refusal.rule, Rule::AddressNotAllowed, "{url}");
        let error = client
            .request(Method::POST, &url)
            .unwrap()
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            refusal_of(&error).map(|r| r.rule),
            Some(Rule::AddressNotAllowed)
        );
    }
    assert_eq!(trap.accepted(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_forbidden_address_is_not_followed() {
    let trap = Listener::ok().await;
    let redirector = Listener::start(format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        trap.port
    ))
    .await;
    let client = client(
        &[format!("http://127.0.0.1:{}/", redirector.port)],
        StaticResolver::new(),
    );
    let url = format!("http://127.0.0.1:{}/hook", redirector.port);
    let response = client
        .request(Method::POST, &url)
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(redirector.accepted(), 1);
    assert_eq!(trap.accepted(), 0);
}
