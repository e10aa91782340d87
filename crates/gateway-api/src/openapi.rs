//! The OpenAPI document: generated from the routes themselves, so it cannot drift from them.

use actix_web::App;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
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
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    // Relative to the document's own URL, so calls go where the document was served from, also
    // behind an ingress that adds a path prefix.
    servers((url = ".", description = "The gateway serving this document")),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme),
    // The order a newcomer needs them in: who am I, the paid checks, the account resources, then
    // events and operations; the vendors' own webhooks last.
    tags(
        (name = "identity", description = "Who the token says you are"),
        (name = "number-checks", description = "Whether numbers use WhatsApp, and what their profiles say: batch jobs over several vendors, cached answers, usage"),
        (name = "business phones", description = "The tenant's WhatsApp Business numbers"),
        (name = "accounts", description = "Customer-service WhatsApp accounts: import with keys, status, bring online, recycle, avatar and nickname"),
        (name = "registrations", description = "Registering new numbers with a verification code"),
        (name = "sessions", description = "Logins on cloud ports by QR or pair code; ports; contacts and profile of a session (risk-controlled)"),
        (name = "scan tasks", description = "PC scan tasks"),
        (name = "chat actions", description = "\"Open friend conversation\" actions, spaced per agent and account"),
        (name = "events", description = "Normalised events: a cursor-paged feed, a live stream (SSE) and signed deliveries to subscribed URLs"),
        (name = "operations", description = "Health, readiness and metrics for the platform"),
        (name = "webhooks", description = "Internal: called by the vendors, not by teams. Inbound vendor webhooks, authenticated by the deployment's webhook secret (not a JWT)"),
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
        scheme.description = Some(format!(
            "A JWT with `tenant` (matching `{}`) and `scope` (space-separated) claims; `exp` is required, `aud` may be a string or an array, and a header with `crit` is refused. In development, mint one with `gateway-api token --tenant demo --scope \"numbers:read numbers:check\"`.",
            crate::auth::TENANT_PATTERN
        ));
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        components.add_security_scheme(
            "webhook_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Webhook-Secret",
                "The per-deployment secret the vendor sends with every webhook (`events.webhook_secret`; the header name is `events.webhook_secret_header`).",
            ))),
        );
    }
}

/// The whole document in utoipa's types, for `gateway-api openapi` and the tests; equal to the
/// JSON the server serves ([`served`]).
pub fn document() -> utoipa::openapi::OpenApi {
    with_shared_parts().unwrap_or_else(|error| {
        // Never reached while the round-trip test passes; the routes' own document beats none.
        tracing::error!(%error, "the shared parts of the OpenAPI document could not be added");
        routes_document()
    })
}

/// The document this process serves, built once and kept only as its JSON, from which every
/// listener's route table is read, and which [`document_json`] serves. The server never reads the
/// document back into utoipa's types: that held three copies at once at start-up (the routes'
/// document, its JSON value and the types read back from it). The document is built on a thread
/// of its own, whose malloc arena gives the pages back when the thread's allocations are freed;
/// built on the main thread, they stay in the process's heap for its whole life.
pub fn served() -> &'static Served {
    static SERVED: std::sync::OnceLock<Served> = std::sync::OnceLock::new();
    SERVED.get_or_init(|| {
        let built = std::thread::Builder::new()
            .name("openapi".into())
            .spawn(document_bytes)
            .map_err(|error| error.to_string())
            .and_then(|thread| {
                thread
                    .join()
                    .map_err(|_| "the thread building it panicked".to_owned())
            })
            .and_then(|built| built.map_err(|error| error.to_string()));
        let json = built.unwrap_or_else(|error| {
            // Never reached while the document tests pass; a route table without paths still
            // answers every unrouted request 404.
            tracing::error!(%error, "the OpenAPI document could not be built");
            Vec::new()
        });
        Served {
            routes: crate::http::fallback::RouteTable::from_document_json(&json),
            json: bytes::Bytes::from(json),
        }
    })
}

fn document_bytes() -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&document_value()?)
}

/// The served document's JSON and the route table read from it.
#[derive(Debug)]
pub struct Served {
    pub json: bytes::Bytes,
    pub routes: crate::http::fallback::RouteTable,
}

/// `GET /openapi.json`: the document serialized once per process, so no worker keeps a copy of
/// its own and no request encodes the whole document again.
pub async fn document_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(served().json.clone())
}

/// The whole document as a JSON value: the routes' document with the shared parts added.
fn document_value() -> Result<serde_json::Value, serde_json::Error> {
    // Through its text, so the routes' document is dropped before the value is built: the two
    // are never in memory together.
    let text = serde_json::to_vec(&routes_document())?;
    let mut value: serde_json::Value = serde_json::from_slice(&text)?;
    shared::apply(&mut value);
    Ok(value)
}

fn routes_document() -> utoipa::openapi::OpenApi {
    // Provider ids are open strings in the domain; the document lists the registered vendors.
    domain::ProviderId::document_ids_from(|| providers::vendors().iter().map(|v| v.id).collect());
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(|cfg| crate::routes::configure(&mut crate::routes::Routes::Documented(cfg)))
        .split_for_parts();
    api
}

/// The routes' document with what the extractors and middleware add (see [`shared`]): edited as
/// JSON, then read back into utoipa's types, which refuse some valid schemas (a schema with
/// no keyword but `description`, for one).
fn with_shared_parts() -> Result<utoipa::openapi::OpenApi, serde_json::Error> {
    serde_json::from_value(document_value()?)
}

/// Every error code with its status, for the docs.
pub fn error_table_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\nEvery error is an RFC 9457 problem whose `code` is one of these (generated by `make openapi`).\n\n| code | status | meaning |\n|---|---|---|\n",
    );
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
    pub fn invalid_json() -> Value {
        problem(
            "invalid_json",
            400,
            "The request body is not valid JSON",
            "the body is not valid JSON: expected value at line 1 column 1",
        )
    }
    pub fn payload_too_large() -> Value {
        problem(
            "payload_too_large",
            413,
            "The request body is too large",
            "the body exceeds 33554432 bytes",
        )
    }

    pub fn invalid_query() -> Value {
        problem(
            "invalid_query",
            400,
            "The query string is not valid",
            "`types`: `registration.done` is not an event type",
        )
    }
    pub fn invalid_cursor() -> Value {
        problem(
            "invalid_cursor",
            422,
            "The cursor is not one this list issued",
            "`cursor` is not a cursor of this list: pass the `next_cursor` of a previous page unchanged",
        )
    }
    pub fn not_found() -> Value {
        problem(
            "not_found",
            404,
            "The resource does not exist",
            "subscription not found",
        )
    }
    pub fn events_forbidden() -> Value {
        problem(
            "insufficient_scope",
            403,
            "The token lacks the scope this route requires",
            "this route requires the `events:read` scope",
        )
    }
    pub fn events_write_forbidden() -> Value {
        problem(
            "insufficient_scope",
            403,
            "The token lacks the scope this route requires",
            "this route requires the `events:write` scope",
        )
    }
    /// A callback or subscription URL refused by the outbound URL policy.
    pub fn url_not_allowed(field: &str) -> Value {
        let mut value = problem(
            "url_not_allowed",
            422,
            "The gateway may not send requests to this URL",
            &format!(
                "`{field}`: the host resolves to a private address and no allow-list entry names it"
            ),
        );
        value["rule"] = json!("address_not_allowed");
        value["errors"] = json!([{"field": field, "code": "address_not_allowed",
            "message": "the host resolves to a private address and no allow-list entry names it"}]);
        value
    }
    pub fn invalid_webhook_secret() -> Value {
        problem(
            "invalid_webhook_secret",
            401,
            "The webhook secret is missing or wrong",
            "the `X-Webhook-Secret` header is missing or wrong",
        )
    }
    pub fn webhook_source_not_allowed() -> Value {
        problem(
            "webhook_source_not_allowed",
            403,
            "This source address may not call the webhooks",
            "this source address may not call the vendor webhooks",
        )
    }
    pub fn invalid_webhook_payload() -> Value {
        let mut value = problem(
            "validation_failed",
            422,
            "The request is not valid",
            "`phone`: is required",
        );
        value["errors"] = json!([{"field": "phone", "code": "invalid_webhook_payload", "message": "is required"}]);
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

/// What the extractors and middleware add to every operation, derived here in one place rather
/// than listed by hand per route: the statuses they can answer (only where a route does not
/// document its own), the `Idempotency-Key` header of state-changing operations, the response
/// headers, and `Problem.code` as the closed list of the error table.
mod shared {
    use serde_json::{Map, Value, json};

    use crate::error::ErrorCode;

    const MUTATING: [&str; 4] = ["post", "put", "patch", "delete"];

    pub fn apply(document: &mut Value) {
        close_problem_codes(document);
        refer_page_items(document);
        let Some(paths) = document["paths"].as_object_mut() else {
            return;
        };
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    complete(method, operation);
                }
            }
        }
    }

    fn close_problem_codes(document: &mut Value) {
        let codes: Vec<Value> = ErrorCode::ALL
            .iter()
            .map(|c| Value::from(c.as_str()))
            .collect();
        let problem = &mut document["components"]["schemas"]["Problem"];
        let Some(parts) = problem["allOf"].as_array_mut() else {
            return;
        };
        for part in parts {
            if part["properties"]["code"].is_object() {
                part["properties"]["code"]["enum"] = Value::Array(codes.clone());
                part["properties"]["code"]["description"] = Value::from(
                    "Stable machine-readable code: one of the error table (openapi/errors.md).",
                );
            }
        }
    }

    /// utoipa inlines a generic's argument: `Page_Contact` would carry its own copy of `Contact`,
    /// and a generated client a second contact class. Each page refers to the item's component.
    fn refer_page_items(document: &mut Value) {
        let Some(schemas) = document["components"]["schemas"].as_object_mut() else {
            return;
        };
        let pages: Vec<(String, String)> = schemas
            .keys()
            .filter_map(|name| {
                let item = name.strip_prefix("Page_")?;
                schemas
                    .contains_key(item)
                    .then(|| (name.clone(), item.to_owned()))
            })
            .collect();
        for (page, item) in pages {
            let items = &mut schemas[&page]["properties"]["items"]["items"];
            *items = json!({"$ref": format!("#/components/schemas/{item}")});
        }
    }

    fn complete(method: &str, operation: &mut Map<String, Value>) {
        let bearer = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let json_body = operation
            .get("requestBody")
            .is_some_and(|b| b["content"].get("application/json").is_some());
        let has_query = operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        let paged = operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["in"] == "query" && p["name"] == "cursor")
            });
        let mutating = MUTATING.contains(&method);

        if bearer && mutating {
            add_parameter(operation, idempotency_key());
        }
        // Open routes (health, readiness, metrics) say so, rather than leaving it unsaid.
        operation.entry("security").or_insert_with(|| json!([]));
        let responses = operation
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(responses) = responses else {
            return;
        };
        let mut bad_request = Vec::new();
        if json_body {
            bad_request.push(ErrorCode::InvalidJson);
            add(
                responses,
                "413",
                ErrorCode::PayloadTooLarge,
                "The body is larger than `limits.max_body_bytes`",
            );
            add(
                responses,
                "415",
                ErrorCode::UnsupportedMediaType,
                "The body is not `application/json`",
            );
            add(
                responses,
                "422",
                ErrorCode::ValidationFailed,
                "A field is not valid; `errors` names each",
            );
        }
        if has_query {
            bad_request.push(ErrorCode::InvalidQuery);
        }
        if paged {
            add_or_mention(
                responses,
                "422",
                ErrorCode::InvalidCursor,
                "`cursor` is not one this list issued",
            );
        }
        if bearer && mutating {
            bad_request.push(ErrorCode::InvalidHeader);
            add(
                responses,
                "409",
                ErrorCode::IdempotencyKeyReused,
                "The `Idempotency-Key` was used with another request, or its first request is still running",
            );
        }
        if !bad_request.is_empty() {
            let described: Vec<String> = bad_request
                .iter()
                .map(|c| format!("`{}`", c.as_str()))
                .collect();
            add(
                responses,
                "400",
                bad_request[0],
                &format!("The request cannot be read ({})", described.join(", ")),
            );
        }
        if bearer {
            add(
                responses,
                "401",
                ErrorCode::InvalidToken,
                "Missing or invalid token",
            );
            add(
                responses,
                "403",
                ErrorCode::InsufficientScope,
                "The token lacks the scope this operation names",
            );
            add(
                responses,
                "429",
                ErrorCode::RateLimited,
                "The tenant's rate limit for this route class is used up",
            );
            retry_after_header(responses, "429");
        }
        add(
            responses,
            "503",
            ErrorCode::StoreUnavailable,
            "The gateway's store is unavailable; retry after `Retry-After`",
        );
        for (status, response) in responses.iter_mut() {
            add_header(
                response,
                "X-Request-Id",
                "The request id (the caller's, when sane, or a new one): quote it when asking for help",
                json!({"type": "string"}),
            );
            if bearer && status.starts_with('2') {
                for (name, description) in [
                    (
                        "RateLimit-Limit",
                        "Requests allowed in the current window of this route class",
                    ),
                    ("RateLimit-Remaining", "Requests left in the current window"),
                    ("RateLimit-Reset", "Seconds until the window resets"),
                ] {
                    add_header(
                        response,
                        name,
                        description,
                        json!({"type": "integer", "minimum": 0}),
                    );
                }
            }
            if status == "503" {
                add_header(
                    response,
                    "Retry-After",
                    "Seconds to wait before retrying",
                    json!({"type": "integer", "minimum": 1}),
                );
            }
        }
    }

    fn idempotency_key() -> Value {
        json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Makes a retry safe: the same key with the same request replays the first answer (with `Idempotent-Replayed: true`); with another request it is 409 `idempotency_key_reused`; while the first still runs, 409 `idempotency_request_in_flight` with `Retry-After`. Kept per tenant for `limits.idempotency_ttl`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7E]{1,255}$"}
        })
    }

    fn add_parameter(operation: &mut Map<String, Value>, parameter: Value) {
        let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
        if let Some(list) = parameters.as_array_mut()
            && !list
                .iter()
                .any(|p| p["name"] == parameter["name"] && p["in"] == parameter["in"])
        {
            list.push(parameter);
        }
    }

    fn add(responses: &mut Map<String, Value>, status: &str, code: ErrorCode, description: &str) {
        if responses.contains_key(status) {
            return;
        }
        responses.insert(
            status.to_owned(),
            json!({
                "description": description,
                "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {
                        "type": format!("urn:wa-gateway:problem:{}", code.as_str()),
                        "title": code.title(),
                        "status": code.status().as_u16(),
                        "detail": description,
                        "code": code.as_str(),
                        "request_id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21"
                    }
                }}
            }),
        );
    }

    /// [`add`], or, when the operation documents the status for other reasons, the code named
    /// in its description.
    fn add_or_mention(
        responses: &mut Map<String, Value>,
        status: &str,
        code: ErrorCode,
        description: &str,
    ) {
        let Some(existing) = responses.get_mut(status) else {
            add(responses, status, code, description);
            return;
        };
        let text = existing["description"].as_str().unwrap_or_default();
        if existing.get("$ref").is_none() && !text.contains(code.as_str()) {
            existing["description"] = Value::from(format!(
                "{}; or `{}`: {description}",
                text.trim_end_matches('.'),
                code.as_str()
            ));
        }
    }

    fn retry_after_header(responses: &mut Map<String, Value>, status: &str) {
        if let Some(response) = responses.get_mut(status) {
            add_header(
                response,
                "Retry-After",
                "Seconds to wait before retrying",
                json!({"type": "integer", "minimum": 1}),
            );
        }
    }

    fn add_header(response: &mut Value, name: &str, description: &str, schema: Value) {
        let Some(response) = response.as_object_mut() else {
            return;
        };
        if response.contains_key("$ref") {
            return;
        }
        let headers = response.entry("headers").or_insert_with(|| json!({}));
        if let Some(headers) = headers.as_object_mut()
            && !headers.contains_key(name)
        {
            headers.insert(
                name.to_owned(),
                json!({"description": description, "schema": schema}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_shared_parts_survive_the_round_trip_through_utoipa_types() {
        let document =
            super::with_shared_parts().expect("utoipa reads back the completed document");
        let value = serde_json::to_value(document).expect("the document serializes");
        assert_eq!(value["paths"]["/healthz"]["get"]["security"], json!([]));
        let parameters = value["paths"]["/v1/number-checks"]["post"]["parameters"]
            .as_array()
            .expect("the create operation has parameters");
        assert!(parameters.iter().any(|p| p["name"] == "Idempotency-Key"));
    }
}
