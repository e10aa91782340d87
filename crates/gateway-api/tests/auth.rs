//! Bearer-token authentication: every way a token can be wrong is a 401 problem, a missing
//! scope is a 403, and RS256 / ES256 keys come only from the configured JWKS URL.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use gateway_api::config::DEV_JWT_SECRET;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::{expect_problem, spawn_app, spawn_app_with, token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RSA_PRIVATE: &str = include_str!("fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("fixtures/rsa_public.pem");
const EC_PRIVATE: &str = include_str!("fixtures/ec_private.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn claims(extra: Value) -> Value {
    let now = Utc::now().timestamp();
    let mut claims = json!({"sub": "svc", "tenant": "acme", "scope": "numbers:read", "exp": now + 600, "iat": now});
    if let (Value::Object(base), Value::Object(extra)) = (&mut claims, extra) {
        for (key, value) in extra {
            if value.is_null() {
                base.remove(&key);
            } else {
                base.insert(key, value);
            }
        }
    }
    claims
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes()),
    )
    .expect("hs256")
}

fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key"),
    )
    .expect("rs256")
}

fn es256(claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec key"),
    )
    .expect("es256")
}

/// A token with any header, signed with HMAC-SHA256 over `key` by hand (for attacks the
/// library refuses to produce).
fn forge(header: Value, claims: &Value, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let head = URL_SAFE_NO_PAD.encode(header.to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac");
    mac.update(format!("{head}.{body}").as_bytes());
    format!(
        "{head}.{body}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

async fn jwks_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_valid_token_reaches_whoami() {
    let app = spawn_app().await;
    let response = app
        .get("/v1/whoami", &token("acme", "numbers:read admin"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["subject"], "test");
    assert_eq!(body["scopes"], json!(["numbers:read", "admin"]));
    assert!(
        body["expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{body}"
    );
}

#[tokio::test]
async fn bad_hs256_tokens_are_401_problems() {
    let app = spawn_app_with(
        json!({"auth": {"issuer": "https://issuer.test", "audience": "wa-gateway"}}),
    )
    .await;
    let good = json!({"iss": "https://issuer.test", "aud": "wa-gateway"});
    let now = Utc::now().timestamp();
    let cases: Vec<(&str, String)> = vec![
        ("alg none", {
            let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
            let body = URL_SAFE_NO_PAD.encode(claims(good.clone()).to_string());
            format!("{head}.{body}.")
        }),
        (
            "expired",
            hs256(&claims(
                json!({"iss": "https://issuer.test", "aud": "wa-gateway", "exp": now - 120}),
            )),
        ),
        (
            "nbf in the future",
            hs256(&claims(
                json!({"iss": "https://issuer.test", "aud": "wa-gateway", "nbf": now + 600}),
            )),
        ),
        (
            "wrong aud",
            hs256(&claims(
                json!({"iss": "https://issuer.test", "aud": "someone-else"}),
            )),
        ),
        (
            "wrong iss",
            hs256(&claims(
                json!({"iss": "https://evil.test", "aud": "wa-gateway"}),
            )),
        ),
        (
            "no exp",
            hs256(&claims(
                json!({"iss": "https://issuer.test", "aud": "wa-gateway", "exp": null}),
            )),
        ),
        (
            "no tenant",
            hs256(&claims(
                json!({"iss": "https://issuer.test", "aud": "wa-gateway", "tenant": null}),
            )),
        ),
        (
            "wrong secret",
            forge(
                json!({"alg": "HS256", "typ": "JWT"}),
                &claims(good.clone()),
                b"another-secret-another-secret-123",
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("not even dots", "garbage".to_owned()),
    ];
    for (name, bad) in cases {
        let response = app.get("/v1/whoami", &bad).await;
        let www = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let body = expect_problem(response, 401, "invalid_token").await;
        assert!(
            www.as_deref()
                .is_some_and(|w| w.starts_with("Bearer") && w.contains("invalid_token")),
            "{name}: {www:?}"
        );
        assert!(body["detail"].is_string(), "{name}");
    }
    // The same claims, correctly signed, pass: the cases above fail for the reason they name.
    let response = app.get("/v1/whoami", &hs256(&claims(good))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_crit_and_malformed_tenants_are_refused() {
    let app = spawn_app().await;
    let head = json!({"alg": "HS256", "typ": "JWT"});
    let cases: Vec<(&str, String)> = vec![
        (
            "unknown crit",
            forge(
                json!({"alg": "HS256", "typ": "JWT", "crit": ["exp-ext"], "exp-ext": 1}),
                &claims(json!({})),
                DEV_JWT_SECRET.as_bytes(),
            ),
        ),
        ("empty tenant", hs256(&claims(json!({"tenant": ""})))),
        (
            "tenant with a key pattern",
            hs256(&claims(json!({"tenant": "a:*"}))),
        ),
        (
            "tenant with braces",
            hs256(&claims(json!({"tenant": "{acme}"}))),
        ),
        (
            "upper-case tenant",
            hs256(&claims(json!({"tenant": "Acme"}))),
        ),
        (
            "tenant too long",
            hs256(&claims(json!({"tenant": "a".repeat(64)}))),
        ),
        ("tenant not a string", hs256(&claims(json!({"tenant": 7})))),
    ];
    for (name, bad) in cases {
        let response = app.get("/v1/whoami", &bad).await;
        assert_eq!(response.status(), 401, "{name}");
        expect_problem(response, 401, "invalid_token").await;
    }
    // The same header without `crit` and a tenant of the documented shape pass.
    let fine = forge(
        head,
        &claims(json!({"tenant": "team-a_1"})),
        DEV_JWT_SECRET.as_bytes(),
    );
    let response = app.get("/v1/whoami", &fine).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["tenant"], "team-a_1");
}

#[tokio::test]
async fn an_audience_array_containing_ours_is_accepted() {
    let app = spawn_app_with(json!({"auth": {"audience": "wa-gateway"}})).await;
    let listed = hs256(&claims(json!({"aud": ["billing", "wa-gateway"]})));
    assert_eq!(app.get("/v1/whoami", &listed).await.status(), 200);
    let single = hs256(&claims(json!({"aud": "wa-gateway"})));
    assert_eq!(app.get("/v1/whoami", &single).await.status(), 200);
    let others = hs256(&claims(json!({"aud": ["billing", "crm"]})));
    expect_problem(app.get("/v1/whoami", &others).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/whoami"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer realm=\"wa-gateway\""[..])
    );
    expect_problem(response, 401, "missing_token").await;
    let response = app
        .client
        .get(app.url("/v1/whoami"))
        .header("authorization", format!("Basic {}", token("acme", "admin")))
        .send()
        .await
        .expect("request");
    expect_problem(response, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_missing_scope_is_403_and_the_right_one_passes() {
    let app = spawn_app().await;
    let response = app
        .get(
            "/v1/admin/config",
            &token("acme", "numbers:read numbers:check"),
        )
        .await;
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let body = expect_problem(response, 403, "insufficient_scope").await;
    assert_eq!(body["required_scope"], "admin");
    assert!(www.is_some_and(|w| w.contains("insufficient_scope") && w.contains("scope=\"admin\"")));
    // Unknown scopes are dropped, never granted.
    let response = app
        .get("/v1/admin/config", &token("acme", "admin:all superuser"))
        .await;
    expect_problem(response, 403, "insufficient_scope").await;
    let response = app.get("/v1/admin/config", &token("acme", "admin")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["store_backend"], "redis");
    assert!(
        !body.to_string().contains(DEV_JWT_SECRET),
        "a secret leaked: {body}"
    );
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_through_jwks() {
    let jwks = jwks_server().await;
    let app = spawn_app_with(json!({"auth": {
        "algorithms": ["RS256", "ES256"],
        "jwks_url": format!("{}/.well-known/jwks.json", jwks.uri()),
        "allow_dev_secret": false,
        "hs256_secrets": []
    }}))
    .await;
    for good in [
        rs256(&claims(json!({})), Some("rsa-1")),
        es256(&claims(json!({})), Some("ec-1")),
        rs256(&claims(json!({})), None),
    ] {
        let response = app.get("/v1/whoami", &good).await;
        assert_eq!(response.status(), 200);
    }
    // HS256 signed with the RSA public key as the secret (algorithm confusion) while only
    // RS256/ES256 are allowed.
    let confused = forge(
        json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}),
        &claims(json!({})),
        RSA_PUBLIC.as_bytes(),
    );
    expect_problem(app.get("/v1/whoami", &confused).await, 401, "invalid_token").await;
    // A development HS256 token is refused when HS256 is not allowed.
    expect_problem(
        app.get("/v1/whoami", &token("acme", "admin")).await,
        401,
        "invalid_token",
    )
    .await;
    // Unknown kid.
    expect_problem(
        app.get("/v1/whoami", &rs256(&claims(json!({})), Some("nope")))
            .await,
        401,
        "invalid_token",
    )
    .await;
    // An RS256 header naming a jku / x5u elsewhere fetches nothing from there.
    let elsewhere = MockServer::start().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("other".into());
    header.jku = Some(format!("{}/jwks.json", elsewhere.uri()));
    header.x5u = Some(format!("{}/cert.pem", elsewhere.uri()));
    let token = encode(
        &header,
        &claims(json!({})),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("key"),
    )
    .expect("token");
    expect_problem(app.get("/v1/whoami", &token).await, 401, "invalid_token").await;
    assert!(
        elsewhere
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "jku/x5u were fetched"
    );
}

#[tokio::test]
async fn unknown_kids_refresh_the_jwks_at_most_once_a_minute() {
    let jwks = jwks_server().await;
    let app = spawn_app_with(json!({"auth": {
        "algorithms": ["RS256"],
        "jwks_url": format!("{}/.well-known/jwks.json", jwks.uri()),
        "jwks_min_refresh": "60s"
    }}))
    .await;
    assert_eq!(
        app.get("/v1/whoami", &rs256(&claims(json!({})), Some("rsa-1")))
            .await
            .status(),
        200
    );
    for i in 0..5 {
        let token = rs256(&claims(json!({})), Some(&format!("unknown-{i}")));
        expect_problem(app.get("/v1/whoami", &token).await, 401, "invalid_token").await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fetches = jwks.received_requests().await.unwrap_or_default().len();
    assert_eq!(fetches, 1, "the JWKS was fetched {fetches} times");
}
