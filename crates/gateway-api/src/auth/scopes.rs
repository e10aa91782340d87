//! The scopes a token can carry. A route names the scope it needs in its `Auth<...>` extractor,
//! so a handler cannot be written without one.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "numbers:read")]
    NumbersRead,
    #[serde(rename = "numbers:check")]
    NumbersCheck,
    #[serde(rename = "accounts:read")]
    AccountsRead,
    #[serde(rename = "accounts:write")]
    AccountsWrite,
    #[serde(rename = "sessions:write")]
    SessionsWrite,
    #[serde(rename = "actions:write")]
    ActionsWrite,
    #[serde(rename = "business:read")]
    BusinessRead,
    #[serde(rename = "events:read")]
    EventsRead,
    #[serde(rename = "events:write")]
    EventsWrite,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::NumbersRead,
        Scope::NumbersCheck,
        Scope::AccountsRead,
        Scope::AccountsWrite,
        Scope::SessionsWrite,
        Scope::ActionsWrite,
        Scope::BusinessRead,
        Scope::EventsRead,
        Scope::EventsWrite,
        Scope::Admin,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::NumbersRead => "numbers:read",
            Scope::NumbersCheck => "numbers:check",
            Scope::AccountsRead => "accounts:read",
            Scope::AccountsWrite => "accounts:write",
            Scope::SessionsWrite => "sessions:write",
            Scope::ActionsWrite => "actions:write",
            Scope::BusinessRead => "business:read",
            Scope::EventsRead => "events:read",
            Scope::EventsWrite => "events:write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == value)
    }
}

/// What a route requires: one scope, or just a valid token.
pub trait RequiredScope: 'static {
    const SCOPE: Option<Scope>;
    /// Rate-limit class of the route: its scope, or `default`.
    const CLASS: &'static str = match Self::SCOPE {
        Some(scope) => scope.as_str(),
        None => "default",
    };
}

/// Marker types for `Auth<...>`: `Auth<scope::NumbersRead>`.
pub mod scope {
    use super::{RequiredScope, Scope};

    macro_rules! markers {
        ($($name:ident),+) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Option<Scope> = Some(Scope::$name);
            }
        )+};
    }
    markers!(
        NumbersRead,
        NumbersCheck,
        AccountsRead,
        AccountsWrite,
        SessionsWrite,
        ActionsWrite,
        BusinessRead,
        EventsRead,
        EventsWrite,
        Admin
    );

    /// Any valid token.
    #[derive(Debug)]
    pub struct Any;
    impl RequiredScope for Any {
        const SCOPE: Option<Scope> = None;
    }
}
