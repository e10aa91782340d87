//! `Owned<S, T>`: the extractor of every route that acts on one record by its path id. It does
//! what `Auth<S>` does (token, scope, rate limit) and then loads the tenant's record through
//! [`ownership::load`], so a handler cannot forget the ownership check and every route answers
//! another tenant's id with the same 404. Auth comes first, so a missing scope is a 403 whatever
//! the id.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{Auth, Principal, RequiredScope};
use crate::error::ApiError;
use crate::ownership::{self, TenantRecord};
use crate::state::AppState;

/// The caller (holding scope `S`) and their record `T` named by the path's `{id}`.
#[derive(Debug)]
pub struct Owned<S: RequiredScope, T> {
    pub auth: Auth<S>,
    pub record: T,
}

impl<S: RequiredScope, T> Owned<S, T> {
    pub fn principal(&self) -> &Principal {
        &self.auth.principal
    }
}

impl<S: RequiredScope, T: TenantRecord> FromRequest for Owned<S, T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = Auth::<S>::from_request(&req, &mut Payload::None).await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            let id = req.match_info().get("id").unwrap_or_default();
            let record = ownership::load::<T>(&state, &auth.principal.tenant, id).await?;
            Ok(Owned { auth, record })
        })
    }
}
