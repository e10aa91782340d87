//! JWKS keys for RS256 / ES256, fetched only from the configured URL.
//!
//! A token's `kid`, `jku` or `x5u` never makes the gateway fetch anything of its own choosing: an
//! unknown `kid` at most triggers a refresh of the configured document, once per `min_refresh`.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    rsa: bool,
    key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("rsa", &self.rsa)
            .finish()
    }
}

#[derive(Debug)]
pub struct JwksCache {
    url: String,
    http: reqwest::Client,
    min_refresh: Duration,
    max_age: Duration,
    keys: RwLock<(Vec<Key>, Option<Instant>)>,
    last_attempt: Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn new(
        url: String,
        http: reqwest::Client,
        min_refresh: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            url,
            http,
            min_refresh,
            max_age,
            keys: RwLock::new((Vec::new(), None)),
            last_attempt: Mutex::new(None),
        }
    }

    pub async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
        let stale = {
            let guard = self.keys.read().await;
            guard.1.is_none_or(|at| at.elapsed() > self.max_age)
        };
        let mut found = self.matching(kid, alg).await;
        if found.is_empty() || stale {
            self.refresh().await;
            found = self.matching(kid, alg).await;
        }
        found
    }

    async fn matching(&self, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
        let wants_rsa = matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512);
        let guard = self.keys.read().await;
        guard
            .0
            .iter()
            .filter(|key| key.rsa == wants_rsa)
            .filter(|key| match kid {
                Some(kid) => key.kid.as_deref() == Some(kid),
                None => true,
            })
            .map(|key| key.key.clone())
            .collect()
    }

    /// Fetches the document unless a fetch was attempted less than `min_refresh` ago.
    async fn refresh(&self) {
        let mut last = self.last_attempt.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS refreshed");
                *self.keys.write().await = (keys, Some(Instant::now()));
            }
            Err(error) => tracing::warn!(%error, "JWKS refresh failed; keeping the keys we had"),
        }
    }

    async fn fetch(&self) -> anyhow::Result<Vec<Key>> {
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let rsa = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => true,
                AlgorithmParameters::EllipticCurve(_) => false,
                _ => continue,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => keys.push(Key {
                    kid: jwk.common.key_id.clone(),
                    rsa,
                    key,
                }),
                Err(error) => {
                    tracing::warn!(%error, kid = ?jwk.common.key_id, "skipping an unusable JWKS key")
                }
            }
        }
        Ok(keys)
    }
}
