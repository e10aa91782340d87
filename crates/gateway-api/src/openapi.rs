//! The OpenAPI document: generated from the routes themselves, so it cannot drift from them.

use actix_web::App;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{ErrorCode, FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "WhatsApp vendor gateway",
        description = "One API in front of several WhatsApp vendors: number checks, business phones, accounts, \
sessions, chat actions and events. Every call needs `Authorization: Bearer <JWT>` with the scope the route names; \
errors are RFC 9457 problems with a stable `code`; state-changing POSTs accept an `Idempotency-Key`.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme),
    tags(
        (name = "identity", description = "Who the token says you are"),
        (name = "operations", description = "Health, readiness and metrics for the platform"),
        (name = "number-checks", description = "Whether numbers use WhatsApp, and what their profiles say: batch jobs over several vendors, cached answers, usage"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some(
            "A JWT with `tenant` and `scope` claims. In development, mint one with `gateway-api token --tenant demo --scope \"numbers:read numbers:check\"`."
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole document, as the running server serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    api
}

/// Every error code with its status, for the docs.
pub fn error_table_markdown() -> String {
    let mut out = String::from("| code | status | meaning |\n|---|---|---|\n");
    for code in ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.status().as_u16(),
            code.title()
        ));
    }
    out
}

/// Shared example responses for `#[utoipa::path]` attributes.
pub mod examples {
    use serde_json::{Value, json};

    fn problem(code: &str, status: u16, title: &str, detail: &str) -> Value {
        json!({
            "type": format!("urn:wa-gateway:problem:{code}"),
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21"
        })
    }

    pub fn unauthorized() -> Value {
        problem(
            "invalid_token",
            401,
            "The bearer token is not valid",
            "the token has expired",
        )
    }
    pub fn forbidden() -> Value {
        problem(
            "insufficient_scope",
            403,
            "The token lacks the scope this route requires",
            "this route requires the `numbers:read` scope",
        )
    }
    pub fn rate_limited() -> Value {
        let mut value = problem(
            "rate_limited",
            429,
            "Too many requests",
            "the `default` limit of 1200 requests is used up",
        );
        value["retry_after"] = json!(17);
        value
    }
    pub fn store_unavailable() -> Value {
        let mut value = problem(
            "store_unavailable",
            503,
            "The gateway's store is unavailable",
            "The gateway's store did not answer; retry shortly.",
        );
        value["retry_after"] = json!(1);
        value
    }
}
