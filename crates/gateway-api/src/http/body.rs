//! Reading a raw request body under `limits.max_body_bytes`, for the routes and middleware that
//! do not go through the JSON extractor (whose limit is set in `extractors::json_config`).

use actix_web::error::PayloadError;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, ErrorCode};

/// The whole body, or a `payload_too_large` problem as soon as it is known to exceed `limit`:
/// from `Content-Length` before reading anything, else while it streams.
pub async fn read_limited<S>(
    payload: &mut S,
    content_length: Option<usize>,
    limit: usize,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    if let Some(length) = content_length.filter(|length| *length > limit) {
        return Err(too_large(limit).with_extension("length_bytes", length));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `Content-Length` when present and well-formed.
pub fn content_length(headers: &actix_web::http::header::HeaderMap) -> Option<usize> {
    headers
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the body exceeds {limit} bytes"),
    )
    .with_extension("limit_bytes", limit)
}
