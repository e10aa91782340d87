//! Bearer-token authentication and per-route scopes.

mod extractor;
mod jwks;
mod scopes;
mod verifier;

pub use extractor::{Auth, Principal, Uncounted, authenticate as authenticate_request};
pub use scopes::{RequiredScope, Scope, scope};
pub use verifier::{
    Audience, AuthError, Claims, TENANT_PATTERN, TokenVerifier, is_valid_tenant, mint_dev_token,
};
