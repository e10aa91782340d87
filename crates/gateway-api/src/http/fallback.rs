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
    /// The paths and methods of an OpenAPI document (as JSON) whose `paths` object lists them.
    /// Nothing but the paths is read into memory.
    pub fn from_document_json(json: &[u8]) -> Self {
        use serde::de::IgnoredAny;

        #[derive(serde::Deserialize)]
        struct Document {
            #[serde(default)]
            paths: std::collections::BTreeMap<String, Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            get: Option<IgnoredAny>,
            post: Option<IgnoredAny>,
            put: Option<IgnoredAny>,
            patch: Option<IgnoredAny>,
            delete: Option<IgnoredAny>,
        }

        let paths = serde_json::from_slice::<Document>(json)
            .map(|doc| doc.paths)
            .unwrap_or_default();
        let routes = paths
            .into_iter()
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
                let methods = [
                    ("GET", item.get),
                    ("POST", item.post),
                    ("PUT", item.put),
                    ("PATCH", item.patch),
                    ("DELETE", item.delete),
                ]
                .into_iter()
                .filter(|(_, operation)| operation.is_some())
                .map(|(method, _)| method.to_owned())
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

#[cfg(test)]
mod tests {
    use super::RouteTable;

    #[test]
    fn the_table_reads_each_paths_operations_and_nothing_else() {
        let document = br#"{
            "openapi": "3.1.0",
            "paths": {
                "/v1/things/{id}": {"get": {}, "delete": {}, "parameters": [], "summary": "x"},
                "/v1/things": {"post": {"requestBody": {}}}
            }
        }"#;
        let table = RouteTable::from_document_json(document);
        assert!(table.accepts("GET", "/v1/things/42"));
        assert!(table.accepts("DELETE", "/v1/things/42"));
        assert!(!table.accepts("POST", "/v1/things/42"));
        assert!(table.accepts("POST", "/v1/things"));
        assert_eq!(
            table.allowed("/v1/things/42"),
            Some(vec!["DELETE".to_owned(), "GET".to_owned()])
        );
        assert_eq!(table.allowed("/v1/other"), None);
    }

    #[test]
    fn a_document_that_is_not_json_gives_an_empty_table() {
        let table = RouteTable::from_document_json(b"not json");
        assert_eq!(table.allowed("/v1/things"), None);
    }
}
