//! The answers a fault produces, shaped like each vendor's own errors.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::json;

use crate::operations::{ACCUAUTH, EKYCPRO, NXCLOUD, WSCRM};

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn accuauth_body(status: &str, reason: &str) -> serde_json::Value {
    json!({
        "status": status,
        "reason": reason,
        "request_id": format!("TID{}", uuid::Uuid::new_v4().simple()),
    })
}

/// A server-side failure with the given HTTP status.
pub fn server_error(vendor: &str, code: u16) -> HttpResponse {
    let http = status(code);
    let reason = http.canonical_reason().unwrap_or("Server Error");
    let mut b = HttpResponseBuilder::new(http);
    match vendor {
        WSCRM => b.json(json!({ "code": code, "message": reason, "data": null })),
        NXCLOUD => b.json(json!({ "code": -1, "message": "Request failed", "data": null })),
        EKYCPRO => b.json(json!({ "error": reason })),
        ACCUAUTH => b.json(accuauth_body("INTERNAL_ERROR", reason)),
        _ => b.content_type("text/plain").body(reason),
    }
}

/// Too many requests: 429 with `Retry-After`, except accuauth, whose document says 403.
pub fn rate_limited(vendor: &str) -> HttpResponse {
    if vendor == ACCUAUTH {
        return HttpResponse::Forbidden().json(accuauth_body(
            "RATE_LIMIT_EXCEEDED",
            "API request frequency exceeds the limit",
        ));
    }
    let mut b = HttpResponse::TooManyRequests();
    b.insert_header((RETRY_AFTER, "1"));
    match vendor {
        WSCRM => b.json(json!({ "code": 429, "message": "Too Many Requests", "data": null })),
        NXCLOUD => b.json(json!({ "code": -1, "message": "Request failed", "data": null })),
        EKYCPRO => b.json(json!({ "error": "too many requests" })),
        _ => b.content_type("text/plain").body("Too Many Requests"),
    }
}

/// accuauth's own account errors.
pub fn accuauth_error(http: StatusCode, status: &str, reason: &str) -> HttpResponse {
    HttpResponse::build(http).json(accuauth_body(status, reason))
}

/// A 200 JSON answer that no JSON parser accepts.
pub fn malformed_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(r#"{"code": 200, "message": "Success", "data": {"#)
}

fn broken_pipe() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "simulated connection reset",
    )
}

/// A response whose body fails before its first byte: actix drops the connection with the head
/// still unsent, so the client sees the connection close without an answer.
pub fn connection_reset() -> HttpResponse {
    HttpResponse::Ok().streaming(stream::once(async { Err::<Bytes, _>(broken_pipe()) }))
}

/// The real answer's status and headers, half of its body, then a dropped connection.
pub async fn truncated(original: HttpResponse) -> HttpResponse {
    let status = original.status();
    let headers = original.headers().clone();
    let body = actix_web::body::to_bytes(original.into_body().boxed())
        .await
        .unwrap_or_default();
    let half = body.slice(..body.len() / 2);
    let mut b = HttpResponseBuilder::new(status);
    for (k, v) in headers.iter() {
        if k != actix_web::http::header::CONTENT_LENGTH {
            b.insert_header((k.clone(), v.clone()));
        }
    }
    let first = stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
    // The pause lets actix flush the first half before the failure closes the connection.
    let then_fail = stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<Bytes, _>(broken_pipe())
    });
    b.streaming(first.chain(then_fail))
}
