//! Token verification: algorithm allow-list first, then the key, then the claims.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::extractor::Principal;
use super::jwks::JwksCache;
use super::scopes::Scope;
use crate::config::Config;

/// Claims this gateway reads. `tenant` is required; `scope` is space-separated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// One audience or several (RFC 7519 §4.1.3 allows both); `jsonwebtoken` checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// The `aud` claim: a string or an array of strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A tenant names store keys and owner records, so only this shape is accepted:
/// lowercase letters, digits, `_` and `-`, starting with a letter or digit, at most 63 long.
pub fn is_valid_tenant(tenant: &str) -> bool {
    let bytes = tenant.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// The documented tenant pattern, for the OpenAPI document and error messages.
pub const TENANT_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

/// Why a token was refused. The text is safe to show to the caller.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    fn invalid(message: &str) -> Self {
        AuthError::Invalid(message.to_owned())
    }
}

/// Verifies bearer tokens against the configured keys and rules.
#[derive(Debug)]
pub struct TokenVerifier {
    algorithms: Vec<Algorithm>,
    hs_keys: Vec<DecodingKey>,
    jwks: Option<JwksCache>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

impl TokenVerifier {
    pub fn from_config(config: &Config, http: reqwest::Client) -> Self {
        let algorithms = config
            .auth
            .algorithms
            .iter()
            .filter_map(|name| match name.as_str() {
                "HS256" => Some(Algorithm::HS256),
                "RS256" => Some(Algorithm::RS256),
                "ES256" => Some(Algorithm::ES256),
                _ => None,
            })
            .collect();
        let hs_keys = config
            .hs256_secrets()
            .iter()
            .map(|secret| DecodingKey::from_secret(secret.expose_secret().as_bytes()))
            .collect();
        let jwks = config.auth.jwks_url.as_ref().map(|url| {
            JwksCache::new(
                url.clone(),
                http,
                config.auth.jwks_min_refresh,
                config.auth.jwks_max_age,
            )
        });
        Self {
            algorithms,
            hs_keys,
            jwks,
            issuer: config.auth.issuer.clone(),
            audience: config.auth.audience.clone(),
            leeway: config.auth.leeway.as_secs(),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            AuthError::invalid("the token is malformed or uses an unsupported algorithm")
        })?;
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: every listed extension must be understood; none is.
            return Err(AuthError::invalid(
                "the token names critical header extensions (`crit`) this gateway does not support",
            ));
        }
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not allowed",
                header.alg
            )));
        }
        let validation = self.validation(header.alg);
        let keys: Vec<DecodingKey> = match header.alg {
            Algorithm::HS256 => self.hs_keys.clone(),
            alg => match &self.jwks {
                Some(jwks) => jwks.keys_for(header.kid.as_deref(), alg).await,
                None => Vec::new(),
            },
        };
        if keys.is_empty() {
            return Err(AuthError::invalid("no key is known for this token"));
        }
        let mut last = AuthError::invalid("signature does not verify");
        for key in &keys {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return principal_from(data.claims),
                Err(error) => {
                    last = describe(error.kind());
                    if !matches!(error.kind(), ErrorKind::InvalidSignature) {
                        // The signature matched this key: the claims are what failed.
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

fn describe(kind: &ErrorKind) -> AuthError {
    AuthError::invalid(match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::InvalidSignature => "signature does not verify",
        ErrorKind::InvalidAlgorithm => "the key does not fit the token's algorithm",
        ErrorKind::Json(_) => "the token's claims are not valid (is `tenant` set?)",
        _ => "the token is not valid",
    })
}

fn principal_from(claims: Claims) -> Result<Principal, AuthError> {
    if !is_valid_tenant(&claims.tenant) {
        return Err(AuthError::Invalid(format!(
            "the token's `tenant` must match {TENANT_PATTERN}"
        )));
    }
    let scopes = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_ascii_whitespace()
        .filter_map(Scope::parse)
        .collect();
    Ok(Principal {
        tenant: claims.tenant,
        subject: claims.sub,
        scopes,
        expires_at: DateTime::<Utc>::from_timestamp(claims.exp, 0),
    })
}

/// Mints an HS256 development token.
pub fn mint_dev_token(
    secret: &SecretString,
    tenant: &str,
    scopes: &[String],
    subject: Option<&str>,
    ttl: Duration,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: Some(subject.unwrap_or("developer").to_owned()),
        tenant: tenant.to_owned(),
        scope: Some(scopes.join(" ")),
        exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        nbf: None,
        iat: Some(now),
        iss: issuer.map(str::to_owned),
        aud: audience.map(|a| Audience::One(a.to_owned())),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}
