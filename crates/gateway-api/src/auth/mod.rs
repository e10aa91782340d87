//! Bearer-token authentication and per-route scopes.

mod extractor;
mod jwks;
mod scopes;
mod verifier;

pub use extractor::{Auth, Principal, authenticate as authenticate_request};
pub use scopes::{Scope, scope};
pub use verifier::{AuthError, Claims, TokenVerifier, mint_dev_token};
