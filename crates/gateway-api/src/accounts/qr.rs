//! QR payloads as scannable images.

use std::io::Cursor;

use actix_web::HttpResponse;
use actix_web::http::header;
use qrcode::QrCode;

use crate::error::ApiError;

/// A PNG file, for the OpenAPI document: generators then hand callers bytes, not integers.
#[derive(Debug, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // only its schema is used
pub struct PngImage(Vec<u8>);

/// Image formats the QR routes offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

fn code(payload: &str) -> Result<QrCode, ApiError> {
    QrCode::new(payload.as_bytes()).map_err(ApiError::internal)
}

pub fn png(payload: &str) -> Result<Vec<u8>, ApiError> {
    let image = code(payload)?
        .render::<image::Luma<u8>>()
        .min_dimensions(320, 320)
        .build();
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(ApiError::internal)?;
    Ok(out.into_inner())
}

pub fn svg(payload: &str) -> Result<String, ApiError> {
    Ok(code(payload)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(320, 320)
        .build())
}

/// The payload as an image response; never cached (codes rotate and log a number in).
pub fn respond(payload: &str, format: Format) -> Result<HttpResponse, ApiError> {
    let mut builder = HttpResponse::Ok();
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(match format {
        Format::Png => builder.content_type("image/png").body(png(payload)?),
        Format::Svg => builder.content_type("image/svg+xml").body(svg(payload)?),
    })
}
