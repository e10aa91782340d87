//! One shape for every list: `{"items": [...], "next_cursor": "<opaque>" | null}` out, `cursor`
//! and `limit` in.
//!
//! A cursor is opaque to callers: base64url of the list it belongs to and a position in that
//! list. The list is checked when the cursor comes back, so a cursor of one list (or one job)
//! given to another is refused with 422 `invalid_cursor` instead of being misread as a position.

// `ApiError` is the one error type of every route; its helpers return it once per request.
#![allow(clippy::result_large_err)]

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use serde::{Deserialize, Serialize};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorCode};

/// A page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The page's items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to read the next page; `null` on the last page. A live feed (the events
    /// feed) never answers `null`: its cursor is a position to poll from again later.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, next_cursor: Option<String>) -> Self {
        Self { items, next_cursor }
    }
}

/// Page sizes of a list: the default and the most a caller may ask for.
pub trait PageSize {
    const DEFAULT: usize;
    const MAX: usize;
}

/// The page sizes of every list unless a route has a reason for others.
#[derive(Debug)]
pub struct StandardPages;

impl PageSize for StandardPages {
    const DEFAULT: usize = 100;
    const MAX: usize = 1000;
}

/// The `cursor` and `limit` of a list request, validated. Other query parameters of the route
/// are read by its own extractor.
#[derive(Debug)]
pub struct PageRequest<S = StandardPages> {
    cursor: Option<String>,
    pub limit: usize,
    sizes: PhantomData<S>,
}

impl<S> PageRequest<S> {
    /// The position the caller's cursor names in `list`; `None` for the first page.
    pub fn position(&self, list: &str) -> Result<Option<String>, ApiError> {
        self.cursor
            .as_deref()
            .map(|cursor| position_of(cursor, list).ok_or_else(invalid_cursor))
            .transpose()
    }
}

/// The refusal of a cursor this list did not issue (or one that no longer names a position).
pub fn invalid_cursor() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCursor,
        "`cursor` is not a cursor of this list: pass the `next_cursor` of a previous page unchanged",
    )
}

/// The cursor naming `position` in `list`.
pub fn cursor(list: &str, position: &str) -> String {
    BASE64URL.encode(format!("{list}\n{position}"))
}

/// The position `cursor` names, if it is a cursor of `list`.
pub fn position_of(cursor: &str, list: &str) -> Option<String> {
    let bytes = BASE64URL.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (named, position) = text.split_once('\n')?;
    (named == list && !position.is_empty()).then(|| position.to_owned())
}

#[derive(Debug, Deserialize)]
struct RawPageQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

impl<S: PageSize> PageRequest<S> {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let raw = web::Query::<RawPageQuery>::from_query(query)
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    "the query string is not valid: `cursor` and `limit` may each be given once",
                )
            })?
            .into_inner();
        let limit = match raw.limit {
            None => S::DEFAULT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=S::MAX).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("`limit`: an integer from 1 to {}", S::MAX),
                    )
                })?,
        };
        if raw.cursor.as_deref() == Some("") {
            return Err(invalid_cursor());
        }
        Ok(Self {
            cursor: raw.cursor,
            limit,
            sizes: PhantomData,
        })
    }
}

impl<S: PageSize> FromRequest for PageRequest<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::parse(req.query_string()))
    }
}

impl<S: PageSize> IntoParams for PageRequest<S> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let cursor = ParameterBuilder::new()
            .name("cursor")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "`next_cursor` of the previous page, unchanged (opaque); absent = the first page. \
                 A cursor this list did not issue is refused with 422 `invalid_cursor`.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1)),
            ))
            .build();
        let limit = ParameterBuilder::new()
            .name("limit")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(format!(
                "Items per page, 1 to {} (default {}).",
                S::MAX,
                S::DEFAULT
            )))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(S::MAX as f64))
                    .default(Some(serde_json::Value::from(S::DEFAULT))),
            ))
            .build();
        vec![cursor, limit]
    }
}

/// Whether a list read whole is paged in ascending or descending key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// Pages a list the gateway holds whole (a vendor list that is not pageable upstream, or a short
/// stored list): in `order` of `key`, the `limit` items after the cursor's key. The cursor is a
/// key rather than an offset, so items added or removed between two reads shift nothing.
pub fn page_by_key<T, S>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    order: Order,
    request: &PageRequest<S>,
    list: &str,
) -> Result<Page<T>, ApiError> {
    let after = request.position(list)?;
    items.sort_by_cached_key(|item| key(item));
    if order == Order::Descending {
        items.reverse();
    }
    let beyond = |item: &T| match (&after, order) {
        (None, _) => true,
        (Some(after), Order::Ascending) => key(item).as_str() > after.as_str(),
        (Some(after), Order::Descending) => key(item).as_str() < after.as_str(),
    };
    let mut rest = items.into_iter().filter(|item| beyond(item)).peekable();
    let page: Vec<T> = rest.by_ref().take(request.limit).collect();
    let next_cursor = match (rest.peek(), page.last()) {
        (Some(_), Some(last)) => Some(cursor(list, &key(last))),
        _ => None,
    };
    Ok(Page::new(page, next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> PageRequest {
        PageRequest::parse(query).expect("valid")
    }

    #[test]
    fn a_cursor_names_its_list() {
        let c = cursor("accounts", "+8613800138000");
        assert_eq!(
            position_of(&c, "accounts").as_deref(),
            Some("+8613800138000")
        );
        assert_eq!(position_of(&c, "contacts"), None);
        assert_eq!(position_of("not-a-cursor", "accounts"), None);
    }

    #[test]
    fn limits_outside_the_bounds_are_refused() {
        assert_eq!(request("").limit, StandardPages::DEFAULT);
        assert_eq!(request("limit=1000").limit, 1000);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=abc",
            "limit=99999999999999999999999",
        ] {
            let error = PageRequest::<StandardPages>::parse(bad).expect_err(bad);
            assert!(error.to_string().starts_with("invalid_query"), "{error}");
            assert!(!error.to_string().contains("too large"), "{error}");
        }
    }

    #[test]
    fn pages_by_key_cover_the_list_once() {
        let items: Vec<u32> = (0..25).rev().collect();
        let mut seen = Vec::new();
        let mut query = "limit=10".to_owned();
        loop {
            let page = page_by_key(
                items.clone(),
                |n| format!("{n:03}"),
                Order::Ascending,
                &request(&query),
                "numbers",
            )
            .expect("page");
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => query = format!("limit=10&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn descending_pages_start_with_the_greatest_key() {
        let page = page_by_key(
            vec!["a", "c", "b"],
            |s| (*s).to_owned(),
            Order::Descending,
            &request("limit=2"),
            "letters",
        )
        .expect("page");
        assert_eq!(page.items, ["c", "b"]);
        let next = page.next_cursor.expect("more");
        let rest = page_by_key(
            vec!["a", "c", "b"],
            |s| (*s).to_owned(),
            Order::Descending,
            &request(&format!("limit=2&cursor={next}")),
            "letters",
        )
        .expect("page");
        assert_eq!(rest.items, ["a"]);
        assert_eq!(rest.next_cursor, None);
    }

    #[test]
    fn a_cursor_of_another_list_is_refused() {
        let other = cursor("subscriptions", "sub_1");
        let error = page_by_key(
            vec![1],
            |n| n.to_string(),
            Order::Ascending,
            &request(&format!("cursor={other}")),
            "accounts",
        )
        .expect_err("refused");
        assert!(error.to_string().starts_with("invalid_cursor"), "{error}");
    }
}
