//! `Auth<S>`: the extractor every protected handler takes. It authenticates the bearer token,
//! checks the scope `S` requires, and counts the request against the tenant's rate limit.
//! `Uncounted<S>` does the first two and leaves the count to the handler.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::{DateTime, Utc};

use super::scopes::{RequiredScope, Scope};
use super::verifier::AuthError;
use crate::error::{ApiError, ErrorCode};
use crate::http::rate_limit::RateDecision;
use crate::http::rate_limit::StoreRead;
use crate::state::AppState;

/// Who is calling: the tenant owns every object the call creates or reads.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: String,
    pub subject: Option<String>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// An authenticated caller holding scope `S`.
#[derive(Debug)]
pub struct Auth<S: RequiredScope> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> std::ops::Deref for Auth<S> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<S: RequiredScope> FromRequest for Auth<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Uncounted::<S>::from_request(req, payload);
        Box::pin(async move { caller.await?.admit().await })
    }
}

/// An authenticated caller holding scope `S` whose request is not counted against its rate limit
/// yet: the handler counts it with [`Uncounted::admit`], or with [`Uncounted::admit_reading`] to
/// read the store in the same round trip as the count. Refusals for the token or the scope
/// happen here, so such requests are never counted; the count is taken before the handler does
/// anything else with the caller's request (a vendor call above all).
#[derive(Debug)]
pub struct Uncounted<S: RequiredScope> {
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> std::ops::Deref for Uncounted<S> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<S: RequiredScope> FromRequest for Uncounted<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            let principal = authenticate(&req, &state).await?;
            if let Some(scope) = S::SCOPE
                && !principal.has(scope)
            {
                return Err(ApiError::new(
                    ErrorCode::InsufficientScope,
                    format!("this route requires the `{}` scope", scope.as_str()),
                )
                .with_extension("required_scope", scope.as_str())
                .with_header(
                    header::WWW_AUTHENTICATE,
                    format!(
                        r#"Bearer realm="wa-gateway", error="insufficient_scope", scope="{}""#,
                        scope.as_str()
                    ),
                ));
            }
            Ok(Uncounted {
                principal,
                req,
                state,
                _scope: PhantomData,
            })
        })
    }
}

impl<S: RequiredScope> Uncounted<S> {
    /// Counts the request; over the limit it is refused (429).
    pub async fn admit(self) -> Result<Auth<S>, ApiError> {
        let decision = self
            .state
            .rate_limiter
            .check(&self.principal.tenant, S::CLASS)
            .await?;
        self.settle(decision)
    }

    /// [`Uncounted::admit`], and `read` in the same store round trip. The values are `None`
    /// for absent fields or keys.
    pub async fn admit_reading(
        self,
        read: StoreRead<'_>,
    ) -> Result<(Auth<S>, Vec<Option<Vec<u8>>>), ApiError> {
        let (decision, values) = self
            .state
            .rate_limiter
            .check_reading(&self.principal.tenant, S::CLASS, read)
            .await?;
        Ok((self.settle(decision)?, values))
    }

    /// Keeps the decision for the `RateLimit-*` headers; refuses a request over the limit.
    #[allow(clippy::result_large_err)] // the refusal is the handler's answer, built once
    fn settle(self, decision: RateDecision) -> Result<Auth<S>, ApiError> {
        self.req.extensions_mut().insert(decision.clone());
        if let Some(retry_after) = decision.retry_after {
            metrics::counter!("rate_limit_rejections_total", "class" => S::CLASS).increment(1);
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "the `{}` limit of {} requests is used up",
                    S::CLASS,
                    decision.limit
                ),
            )
            .with_retry_after(retry_after));
        }
        Ok(Auth {
            principal: self.principal,
            _scope: PhantomData,
        })
    }
}

/// Authenticates once per request; later calls reuse the result.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(principal.clone());
    }
    let token = bearer_token(req).map_err(unauthorized)?;
    let principal = state.verifier.verify(token).await.map_err(unauthorized)?;
    req.extensions_mut().insert(principal.clone());
    Ok(principal)
}

fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value
        .to_str()
        .map_err(|_| AuthError::Invalid("the Authorization header is not text".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| AuthError::Invalid("expected `Authorization: Bearer <token>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Invalid(
            "expected `Authorization: Bearer <token>`".into(),
        ));
    }
    Ok(token.trim())
}

fn unauthorized(error: AuthError) -> ApiError {
    match error {
        AuthError::Missing => ApiError::new(
            ErrorCode::MissingToken,
            "send `Authorization: Bearer <token>`",
        )
        .with_header(header::WWW_AUTHENTICATE, r#"Bearer realm="wa-gateway""#),
        AuthError::Invalid(reason) => {
            let quoted = reason.replace('"', "'");
            ApiError::new(ErrorCode::InvalidToken, reason).with_header(
                header::WWW_AUTHENTICATE,
                format!(r#"Bearer realm="wa-gateway", error="invalid_token", error_description="{quoted}""#),
            )
        }
    }
}
