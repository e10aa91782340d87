//! Token verification per request: the gateway's `TokenVerifier::verify` against a bare
//! `jsonwebtoken::decode` of the same token with the same key and rules, measured in one run so
//! a report can show the ratio (the overhead of the allow-list, key lookup and claim mapping).
//!
//! - `hs256_gateway` / `hs256_reference`: a development HS256 token.
//! - `rs256_gateway` / `rs256_reference`: an RS256 token whose key the gateway takes from a JWKS
//!   URL served by an in-bench HTTP server; the cache is warmed first, so fetching is not measured.

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use gateway_api::auth::TokenVerifier;
use gateway_api::config::{Config, DEV_JWT_SECRET};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

// The test keys of the auth tests: the JWKS document holds the public half of `RSA_PRIVATE`
// as `rsa-1`.
const RSA_PRIVATE: &str = include_str!("../tests/fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../tests/fixtures/rsa_public.pem");
const JWKS: &str = include_str!("../tests/fixtures/jwks.json");
const JWKS_PATH: &str = "/.well-known/jwks.json";

const TENANT: &str = "acme";
const SCOPES: &str = "numbers:read numbers:check";

/// The configuration defaults with `auth` overridden, as the tests build it.
fn config(auth: Value) -> Config {
    Config::with_overrides(json!({
        "server": {"listen": "127.0.0.1:0", "workers": 1},
        "auth": auth,
        "log": {"level": "warn"}
    }))
    .expect("bench config is valid")
}

/// What `TokenVerifier` checks with the default configuration (no issuer or audience, 30 s
/// leeway, `exp` required, `nbf` checked when present).
fn reference_validation(alg: Algorithm, config: &Config) -> Validation {
    assert!(config.auth.issuer.is_none() && config.auth.audience.is_none());
    let mut validation = Validation::new(alg);
    validation.leeway = config.auth.leeway.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    validation
}

fn hs256_token() -> String {
    let scopes: Vec<String> = SCOPES.split_whitespace().map(str::to_owned).collect();
    gateway_api::auth::mint_dev_token(
        &SecretString::from(DEV_JWT_SECRET),
        TENANT,
        &scopes,
        Some("bench"),
        Duration::from_secs(3600),
        None,
        None,
    )
    .expect("HS256 token is minted")
}

/// The same claims a development token carries, signed RS256 with `kid` `rsa-1`.
fn rs256_token() -> String {
    let now = Utc::now().timestamp();
    let claims = json!({
        "sub": "bench", "tenant": TENANT, "scope": SCOPES, "exp": now + 3600, "iat": now
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("test RSA private key"),
    )
    .expect("RS256 token is signed")
}

async fn jwks_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(JWKS, "application/json"))
        .mount(&server)
        .await;
    server
}

fn jwt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // HS256: the development secret, as `auth.allow_dev_secret` configures it.
    let hs_config = config(json!({"allow_dev_secret": true}));
    let hs_verifier = TokenVerifier::from_config(&hs_config, reqwest::Client::new());
    let hs_token = hs256_token();
    let hs_key = DecodingKey::from_secret(DEV_JWT_SECRET.as_bytes());
    let hs_validation = reference_validation(Algorithm::HS256, &hs_config);
    let principal = rt
        .block_on(hs_verifier.verify(&hs_token))
        .expect("the gateway accepts the HS256 token");
    assert_eq!(principal.tenant, TENANT);
    jsonwebtoken::decode::<Value>(&hs_token, &hs_key, &hs_validation)
        .expect("the reference accepts the HS256 token");

    // RS256: keys only from the JWKS URL; the first verification fills the cache.
    let server = rt.block_on(jwks_server());
    let rs_config = config(json!({
        "algorithms": ["RS256"],
        "jwks_url": format!("{}{JWKS_PATH}", server.uri()),
        "allow_dev_secret": false,
        "hs256_secrets": []
    }));
    let rs_verifier = TokenVerifier::from_config(&rs_config, reqwest::Client::new());
    let rs_token = rs256_token();
    let rs_key = DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()).expect("test RSA public key");
    let rs_validation = reference_validation(Algorithm::RS256, &rs_config);
    let principal = rt
        .block_on(rs_verifier.verify(&rs_token))
        .expect("the gateway accepts the RS256 token (JWKS fetched)");
    assert_eq!(principal.tenant, TENANT);
    jsonwebtoken::decode::<Value>(&rs_token, &rs_key, &rs_validation)
        .expect("the reference accepts the RS256 token");

    let mut group = c.benchmark_group("jwt");
    group.bench_function("hs256_gateway", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(hs_verifier.verify(black_box(&hs_token)).await).is_ok() });
    });
    group.bench_function("hs256_reference", |b| {
        b.iter(|| {
            black_box(jsonwebtoken::decode::<Value>(
                black_box(&hs_token),
                &hs_key,
                &hs_validation,
            ))
            .is_ok()
        });
    });
    group.bench_function("rs256_gateway", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(rs_verifier.verify(black_box(&rs_token)).await).is_ok() });
    });
    group.bench_function("rs256_reference", |b| {
        b.iter(|| {
            black_box(jsonwebtoken::decode::<Value>(
                black_box(&rs_token),
                &rs_key,
                &rs_validation,
            ))
            .is_ok()
        });
    });
    group.finish();

    // The cache held: the JWKS was fetched once, by the warm-up, never while measuring.
    let fetches = rt
        .block_on(server.received_requests())
        .map_or(0, |requests| requests.len());
    assert_eq!(fetches, 1, "the JWKS was fetched {fetches} times");
}

criterion_group!(benches, jwt);
criterion_main!(benches);
