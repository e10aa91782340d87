//! Extractor failures (JSON, query, path) rendered as problems like every other error.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, web};

use crate::error::{ApiError, ErrorCode};

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _req: &HttpRequest| {
            let api = match &error {
                JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the body has {length} bytes; at most {limit} are accepted"),
                )
                .with_extension("limit_bytes", *limit),
                JsonPayloadError::Overflow { limit } => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the body exceeds {limit} bytes"),
                )
                .with_extension("limit_bytes", *limit),
                JsonPayloadError::ContentType => ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as `Content-Type: application/json`",
                ),
                JsonPayloadError::Deserialize(inner) if inner.is_data() => {
                    // Syntax is fine, the shape is not: a field error the client can act on.
                    ApiError::field(
                        field_of(&inner.to_string()),
                        "invalid_type",
                        inner.to_string(),
                    )
                }
                JsonPayloadError::Deserialize(inner) => ApiError::new(
                    ErrorCode::InvalidJson,
                    format!("the body is not valid JSON: {inner}"),
                ),
                other => ApiError::new(
                    ErrorCode::InvalidJson,
                    format!("the body could not be read: {other}"),
                ),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| {
        let detail = match &error {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!("the query string is not valid: {detail}"),
        )
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _req| {
        let detail = match &error {
            PathError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::new(
            ErrorCode::InvalidPath,
            format!("a path parameter is not valid: {detail}"),
        )
        .into()
    })
}

/// serde_json names the field in messages like "missing field `numbers` at line 1 column 2".
fn field_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field"))
        .map(str::to_owned)
        .unwrap_or_else(|| "body".to_owned())
}
