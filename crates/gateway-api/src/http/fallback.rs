//! Requests no route takes: 405 with `Allow` when the path exists with other methods, else 404.
//!
//! The table of paths comes from the OpenAPI document, which lists every route (they are
//! registered through utoipa-actix-web, so none can exist undocumented).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{ApiError, ErrorCode, request_id_of};

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<String>)>,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param,
}

impl RouteTable {
    /// The paths and methods of an OpenAPI document's `paths` object.
    pub fn from_document(doc: &serde_json::Value) -> Self {
        const METHODS: [(&str, &str); 5] = [
            ("get", "GET"),
            ("post", "POST"),
            ("put", "PUT"),
            ("patch", "PATCH"),
            ("delete", "DELETE"),
        ];
        let paths = doc.get("paths").and_then(serde_json::Value::as_object);
        let routes = paths
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            Segment::Param
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                let methods = METHODS
                    .into_iter()
                    .filter(|(key, _)| item.get(key).is_some())
                    .map(|(_, method)| method.to_owned())
                    .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// Keeps the paths `keep` accepts: a listener that does not serve a path answers 404 for it.
    pub fn retain(mut self, keep: impl Fn(&str) -> bool) -> Self {
        self.routes.retain(|(segments, _)| {
            let path: Vec<&str> = segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(literal) => literal.as_str(),
                    Segment::Param => "{}",
                })
                .collect();
            keep(&format!("/{}", path.join("/")))
        });
        self
    }

    /// Whether some documented operation takes this method on this path.
    pub fn accepts(&self, method: &str, path: &str) -> bool {
        self.allowed(path)
            .is_some_and(|methods| methods.iter().any(|m| m == method))
    }

    fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut methods: Vec<String> = self
            .routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(segment, part)| match segment {
                            Segment::Literal(literal) => literal == part,
                            Segment::Param => !part.is_empty(),
                        })
            })
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
        methods.sort();
        methods.dedup();
        (!methods.is_empty()).then_some(methods)
    }
}

pub async fn not_routed(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let request_id = request_id_of(&req);
    match table.allowed(req.path()) {
        Some(methods) => {
            let allow = methods.join(", ");
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} is not accepted here; use {allow}", req.method()),
            )
            .with_header(header::ALLOW, allow)
            .to_response(request_id)
        }
        None => ApiError::new(
            ErrorCode::RouteNotFound,
            format!("no route matches {}", req.path()),
        )
        .to_response(request_id),
    }
}
