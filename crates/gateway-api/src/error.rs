//! One error type for every route, rendered as RFC 9457 `application/problem+json`.
//!
//! Every error has a stable snake_case `code`; the table below is the only place that maps a code
//! to its HTTP status and title, so a client can rely on `code` and the docs can list them all.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $title:literal),)+) => {
        /// Stable, machine-readable error codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)+ }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)+ }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::from_u16($status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),)+
                }
            }

            pub const fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)+ }
            }
        }
    };
}

error_codes! {
    InvalidJson => ("invalid_json", 400, "The request body is not valid JSON"),
    InvalidQuery => ("invalid_query", 400, "The query string is not valid"),
    InvalidPath => ("invalid_path", 400, "A path parameter is not valid"),
    InvalidHeader => ("invalid_header", 400, "A request header is not valid"),
    InvalidCursor => ("invalid_cursor", 422, "The cursor is not one this list issued"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "The request body has an unsupported content type"),
    ValidationFailed => ("validation_failed", 422, "The request is not valid"),
    UrlNotAllowed => ("url_not_allowed", 422, "The gateway may not send requests to this URL"),
    PayloadTooLarge => ("payload_too_large", 413, "The request body is too large"),
    MissingToken => ("missing_token", 401, "A bearer token is required"),
    InvalidToken => ("invalid_token", 401, "The bearer token is not valid"),
    InsufficientScope => ("insufficient_scope", 403, "The token lacks the scope this route requires"),
    InvalidWebhookSecret => ("invalid_webhook_secret", 401, "The webhook secret is missing or wrong"),
    WebhookSourceNotAllowed => ("webhook_source_not_allowed", 403, "This source address may not call the webhooks"),
    NotFound => ("not_found", 404, "The resource does not exist"),
    RouteNotFound => ("route_not_found", 404, "No route matches this path"),
    MethodNotAllowed => ("method_not_allowed", 405, "This route does not accept this method"),
    Conflict => ("conflict", 409, "The request conflicts with the current state"),
    IdempotencyKeyReused => ("idempotency_key_reused", 409, "This Idempotency-Key was used with a different request"),
    IdempotencyRequestInFlight => ("idempotency_request_in_flight", 409, "A request with this Idempotency-Key is still being processed"),
    RateLimited => ("rate_limited", 429, "Too many requests"),
    BudgetExceeded => ("budget_exceeded", 402, "The tenant's budget does not cover this request"),
    StoreUnavailable => ("store_unavailable", 503, "The gateway's store is unavailable"),
    VendorUnavailable => ("vendor_unavailable", 503, "The vendor is unavailable"),
    VendorTimeout => ("vendor_timeout", 504, "The vendor did not answer in time"),
    VendorRateLimited => ("vendor_rate_limited", 429, "The vendor's rate limit was reached"),
    VendorAuthFailed => ("vendor_auth_failed", 502, "The gateway's vendor credentials were refused"),
    VendorRejected => ("vendor_rejected", 422, "The vendor refused a value of the request"),
    VendorRejectedRequest => ("vendor_rejected_request", 500, "The vendor refused the gateway's request"),
    VendorInvalidAnswer => ("vendor_invalid_answer", 502, "The vendor's answer could not be used"),
    VendorQuotaExhausted => ("vendor_quota_exhausted", 429, "The vendor quota is exhausted"),
    IllegalState => ("illegal_state", 409, "The current state does not allow this; see `current_state`"),
    PortQuotaExhausted => ("port_quota_exhausted", 409, "The vendor's cloud-port quota is used up"),
    SessionReleased => ("session_released", 410, "The session's cloud port was released"),
    PairingTargetRequired => ("pairing_target_required", 422, "A cloud PC session needs a valid pairing target"),
    VendorConflict => ("vendor_conflict", 409, "The vendor refused the request in the current state"),
    NumberNotBound => ("number_not_bound", 422, "A number is not bound to the vendor application"),
    TenantNotConfigured => ("tenant_not_configured", 403, "The tenant has no vendor account configured"),
    ServiceUnavailable => ("service_unavailable", 503, "The service is temporarily unavailable"),
    Internal => ("internal_error", 500, "Internal error"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer-like path of the field, e.g. `numbers[3]` or `callback_url`.
    #[schema(example = "numbers[3]")]
    pub field: String,
    /// Stable code of the rule that failed.
    #[schema(example = "invalid_number")]
    pub code: String,
    #[schema(example = "not a phone number")]
    pub message: String,
}

/// RFC 9457 problem details, as every error of this API is rendered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:wa-gateway:problem:validation_failed",
    "title": "The request is not valid",
    "status": 422,
    "detail": "1 field is not valid",
    "code": "validation_failed",
    "request_id": "0192f0a4-6f7c-7a39-9b1e-2b7c8f1f4d21",
    "errors": [{"field": "numbers", "code": "length", "message": "between 1 and 1000000 numbers"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// The request id, also in the `X-Request-Id` header: quote it when asking for help.
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (e.g. `retry_after`, `provider`, `current_state`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

/// The request id of the request being served, set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    /// The request id of the request this task serves: extractors and handlers turn errors into
    /// responses inside the request-id middleware's scope, so every problem carries its id.
    pub static CURRENT_REQUEST_ID: String;
}

fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// What a problem response says for the request's log line: its code, its detail and the chain
/// of its cause (which never reaches the client).
#[derive(Debug, Clone)]
pub struct ProblemNote {
    pub code: &'static str,
    pub detail: String,
    pub cause: Option<String>,
}

/// The error every handler and extractor returns.
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    errors: Vec<FieldError>,
    extensions: Map<String, Value>,
    retry_after: Option<u64>,
    headers: Vec<(header::HeaderName, String)>,
    /// The cause, logged and never sent to the client. A plain `std` error on purpose: an
    /// `anyhow::Error` would capture a backtrace whenever `RUST_BACKTRACE` is set, for errors
    /// that are handled and expected (a failing vendor), costing memory and log volume.
    source: Option<ErrorSource>,
}

/// What caused an [`ApiError`]; logged as its chain of messages, never with a backtrace.
pub type ErrorSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `outer: inner: innermost`: the whole chain on one line.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        next = cause.source();
    }
    chain
}

/// Code and detail only: the source's chain is logged once, on the request's log line.
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.code)
            .field("detail", &self.detail)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: Map::new(),
            retry_after: None,
            headers: Vec::new(),
            source: None,
        }
    }

    /// An opaque 500; `source` goes to the logs only.
    pub fn internal(source: impl Into<ErrorSource>) -> Self {
        Self::new(
            ErrorCode::Internal,
            "An internal error occurred; quote the request id when reporting it.",
        )
        .with_source(source)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A field-level refusal under another code than `validation_failed`.
    pub fn validation_with(code: ErrorCode, errors: Vec<FieldError>) -> Self {
        Self {
            code,
            ..Self::validation(errors)
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => format!("`{}`: {}", errors[0].field, errors[0].message),
            n => format!("{n} fields are not valid"),
        };
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    pub fn field(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }])
    }

    /// A caller-supplied URL the outbound URL policy refused: `url_not_allowed`, with the rule
    /// in `rule` and as the code of the field error. Text that is no URL at all stays a plain
    /// validation error (`invalid_url`).
    pub fn url_refused(field: &str, refusal: &egress::Refusal) -> Self {
        let rule = refusal.rule.as_str();
        let error = FieldError {
            field: field.to_owned(),
            code: rule.to_owned(),
            message: refusal.detail.clone(),
        };
        if refusal.rule == egress::Rule::InvalidUrl {
            return Self::validation(vec![error]);
        }
        Self {
            errors: vec![error],
            ..Self::new(
                ErrorCode::UrlNotAllowed,
                format!("`{field}`: {}", refusal.detail),
            )
        }
        .with_extension("rule", rule)
    }

    pub fn with_source(mut self, source: impl Into<ErrorSource>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn with_extension(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `Retry-After` (seconds) and the `retry_after` extension.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn problem(&self, request_id: Option<String>) -> Problem {
        let mut extensions = self.extensions.clone();
        if let Some(seconds) = self.retry_after {
            extensions.insert("retry_after".into(), seconds.into());
        }
        Problem {
            type_uri: format!("urn:wa-gateway:problem:{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            request_id,
            errors: self.errors.clone(),
            extensions,
        }
    }

    /// Renders the problem; used where the request id is known (middleware, default routes).
    pub fn to_response(&self, request_id: Option<String>) -> HttpResponse {
        let status = self.code.status();
        let mut builder = HttpResponse::build(status);
        // Logged once, on the request's log line (see `http::request_id`), not here.
        builder.extensions_mut().insert(ProblemNote {
            code: self.code.as_str(),
            detail: self.detail.clone(),
            cause: self.source.as_deref().map(|s| error_chain(s)),
        });
        builder.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(seconds) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                builder.insert_header((name.clone(), value));
            }
        }
        builder.json(self.problem(request_id))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response(current_request_id())
    }
}

/// The request id stored in a request's extensions.
pub fn request_id_of(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError::new(
            ErrorCode::StoreUnavailable,
            "The gateway's store did not answer; retry shortly.",
        )
        .with_retry_after(1)
        .with_source(error)
    }
}

impl From<crate::breaker::Refused> for ApiError {
    fn from(refused: crate::breaker::Refused) -> Self {
        match refused {
            crate::breaker::Refused::Open {
                provider,
                retry_after,
            } => ApiError::new(
                ErrorCode::VendorUnavailable,
                format!(
                    "{provider} is failing; the gateway is not calling it for {} s",
                    retry_after.as_secs().max(1)
                ),
            )
            .with_extension("provider", provider.as_str())
            .with_retry_after(retry_after.as_secs()),
            crate::breaker::Refused::Store(e) => e.into(),
        }
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut fields = Vec::new();
        flatten_validation("", &errors, &mut fields);
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::validation(fields)
    }
}

fn flatten_validation(
    prefix: &str,
    errors: &validator::ValidationErrors,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    out.push(FieldError {
                        field: path.clone(),
                        code: error.code.to_string(),
                        message: error
                            .message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| format!("fails the `{}` rule", error.code)),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_validation(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_validation(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_statuses_valid() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "duplicate code {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{name}"
            );
        }
    }

    #[test]
    fn server_errors_hide_their_source() {
        let error = ApiError::internal("redis password hunter2 leaked");
        let body = serde_json::to_string(&error.problem(Some("r1".into()))).expect("json");
        assert!(!body.contains("hunter2"), "{body}");
        assert!(body.contains("\"code\":\"internal_error\""), "{body}");
    }

    #[test]
    fn retry_after_becomes_an_extension() {
        let problem = ApiError::new(ErrorCode::RateLimited, "slow down")
            .with_retry_after(7)
            .problem(None);
        assert_eq!(problem.extensions.get("retry_after"), Some(&Value::from(7)));
        assert_eq!(problem.status, 429);
    }
}
