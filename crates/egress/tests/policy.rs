//! The policy over hostile URLs, with a fixed resolver: every refusal names its rule.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use egress::{AllowList, Rule, StaticResolver, UrlPolicy};

/// Port of a would-be victim that any host may be asked for, so the address rules decide.
const OPEN_PORT: u16 = 18089;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policy() -> UrlPolicy {
    let allow = AllowList::parse(&[
        "http://allowed.example.com/hooks".to_owned(),
        "http://127.0.0.1:18088/hooks".to_owned(),
        "https://*.tenants.example.net".to_owned(),
        format!("http://*:{OPEN_PORT}/"),
    ])
    .unwrap();
    let resolver = StaticResolver::new()
        .with("allowed.example.com", &[ip("93.184.216.34")])
        .with(
            "a.tenants.example.net",
            &[ip("93.184.216.35"), ip("2606:2800:220:1::1")],
        )
        .with("internal.tenants.example.net", &[ip("10.0.0.5")])
        .with("meta.tenants.example.net", &[ip("169.254.169.254")])
        .with("v6.tenants.example.net", &[ip("::ffff:127.0.0.1")])
        .with("ula.tenants.example.net", &[ip("fd00:ec2::254")])
        .with(
            "mixed.tenants.example.net",
            &[ip("93.184.216.34"), ip("127.0.0.1")],
        )
        .with("public.example.org", &[ip("93.184.216.36")])
        .with("private.example.org", &[ip("192.168.0.10")]);
    UrlPolicy::with_resolver(allow, Arc::new(resolver))
}

/// At least 30 hostile URLs, each with the rule that refuses it.
fn hostile() -> Vec<(String, Rule)> {
    use Rule::*;
    let p = OPEN_PORT;
    let fixed = [
        (
            "http://allowed.example.com@evil.example/hooks",
            UserinfoNotAllowed,
        ),
        ("http://a:b@allowed.example.com/hooks", UserinfoNotAllowed),
        (
            "http://127.0.0.1:18088@127.0.0.1:18089/bypass",
            UserinfoNotAllowed,
        ),
        ("http://user@127.0.0.1:18088/hooks", UserinfoNotAllowed),
        ("http://127.1/", PortNotAllowed),
        ("http://allowed.example.com:8080/hooks", PortNotAllowed),
        ("http://127.0.0.1:6379/", PortNotAllowed),
        ("http://\u{0430}llowed.example.com/hooks", HostNotAllowed),
        ("http://all\u{043e}wed.example.com/hooks", HostNotAllowed),
        ("http://allowed.example.com./hooks", HostNotAllowed),
        ("http://allowed.example.com.evil.io/hooks", HostNotAllowed),
        ("http://allowed.example.com%2eevil.io/hooks", HostNotAllowed),
        ("http://[0:0:0:0:0:0:0:1]:18088/hooks", PortNotAllowed),
        ("https://tenants.example.net/", HostNotAllowed),
        ("file:///etc/passwd", SchemeNotAllowed),
        ("gopher://allowed.example.com/hooks", SchemeNotAllowed),
        ("https://allowed.example.com/hooks", SchemeNotAllowed),
        ("ftp://allowed.example.com/hooks", SchemeNotAllowed),
        ("http://allowed.example.com/hooks/../admin", PathNotAllowed),
        (
            "http://allowed.example.com/hooks/%2e%2e/admin",
            PathNotAllowed,
        ),
        ("http://allowed.example.com/hooksevil", PathNotAllowed),
        ("http://127.0.0.1:18088/hooksevil", PathNotAllowed),
        ("not a url", InvalidUrl),
        ("https://internal.tenants.example.net/", AddressNotAllowed),
        ("https://meta.tenants.example.net/", AddressNotAllowed),
        ("https://v6.tenants.example.net/", AddressNotAllowed),
        ("https://ula.tenants.example.net/", AddressNotAllowed),
        ("https://mixed.tenants.example.net/", AddressNotAllowed),
        ("https://gone.tenants.example.net/", UnresolvableHost),
    ]
    .map(|(url, rule)| (url.to_owned(), rule));
    let on_open_port = [
        "127.1",
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "017700000001",
        "%31%32%37.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::1]",
        "[fd00:ec2::254]",
        "169.254.169.254",
        "100.64.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "172.16.5.4",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "[fe80::1]",
        "[64:ff9b::a00:1]",
        "localhost",
        "evil.localhost",
        "private.example.org",
        "nowhere.example.org",
    ]
    .map(|host| {
        let rule = if host == "nowhere.example.org" {
            UnresolvableHost
        } else {
            AddressNotAllowed
        };
        (format!("http://{host}:{p}/latest/meta-data"), rule)
    });
    fixed.into_iter().chain(on_open_port).collect()
}

#[tokio::test]
async fn every_hostile_url_is_refused_with_its_rule() {
    let policy = policy();
    let cases = hostile();
    assert!(cases.len() >= 30);
    for (url, rule) in cases {
        let refusal = policy.check(&url).await.expect_err(&url);
        assert_eq!(refusal.rule, rule, "{url}: {refusal}");
        assert!(!refusal.detail.is_empty());
        assert!(
            !refusal.detail.contains("10.0.0.5"),
            "no resolved address leaks"
        );
    }
}

#[tokio::test]
async fn allowed_urls_pass_and_say_whether_their_host_is_named() {
    let policy = policy();
    for (url, named) in [
        ("http://allowed.example.com/hooks", true),
        ("http://allowed.example.com/hooks/done?x=1", true),
        ("http://127.0.0.1:18088/hooks", true),
        ("http://127.1:18088/hooks/x", true),
        ("https://a.tenants.example.net/wa", false),
        ("http://public.example.org:18089/", false),
        ("http://93.184.216.34:18089/", false),
    ] {
        let permit = policy
            .check(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(permit.host_is_named(), named, "{url}");
    }
}

#[tokio::test]
async fn an_explicitly_named_internal_receiver_is_not_checked_against_the_address_rules() {
    let allow = AllowList::parse(&["http://10.1.2.3:8080/", "http://localhost:9000/"]).unwrap();
    let policy = UrlPolicy::with_resolver(allow, Arc::new(StaticResolver::new()));
    assert!(policy.check("http://10.1.2.3:8080/hooks").await.is_ok());
    assert!(policy.check("http://localhost:9000/hooks").await.is_ok());
    // The same address in another spelling is not the named host.
    let refusal = policy
        .check("http://[::ffff:10.1.2.3]:8080/")
        .await
        .unwrap_err();
    assert_eq!(refusal.rule, Rule::HostNotAllowed);
}

#[tokio::test]
async fn an_empty_allow_list_allows_nothing() {
    let policy = UrlPolicy::with_resolver(AllowList::default(), Arc::new(StaticResolver::new()));
    let refusal = policy
        .check("https://hooks.example.com/")
        .await
        .unwrap_err();
    assert_eq!(refusal.rule, Rule::HostNotAllowed);
}

#[test]
fn rule_codes_are_stable_snake_case() {
    let codes: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        codes,
        [
            "invalid_url",
            "scheme_not_allowed",
            "userinfo_not_allowed",
            "host_not_allowed",
            "port_not_allowed",
            "path_not_allowed",
            "address_not_allowed",
            "unresolvable_host"
        ]
    );
}
