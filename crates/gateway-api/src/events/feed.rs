//! The tenant's events: cursor pages (`GET /v1/events`) and a live stream (`GET /v1/events/stream`).

// `ApiError` is the one error type of every route; its helpers return it once per request.
#![allow(clippy::result_large_err)]

use std::str::FromStr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use domain::{Event, EventType};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Auth, scope};
use crate::error::{ApiError, ErrorCode};
use crate::http::page::{self, Page, PageRequest, invalid_cursor};
use crate::keys;
use crate::routes::Routes;
use crate::state::AppState;
use crate::store::{StoreError, StreamId};

pub fn configure(cfg: &mut Routes) {
    cfg.service(list_events).service(stream_events);
}

/// The list name in this feed's cursors.
const LIST: &str = "events";
/// Entries read per store call while filtering by type.
const SCAN_CHUNK: usize = 500;
/// Entries scanned at most for one page, so a rare type cannot make a request unbounded.
const SCAN_MAX: usize = 20_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Comma-separated event types (e.g. `registration.completed,registration.failed`); absent = all.
    pub types: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Start after this cursor (a feed page's `next_cursor` or an event's `cursor`; the
    /// `Last-Event-ID` header takes precedence); absent = only new events.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Comma-separated event types; absent = all.
    pub types: Option<String>,
}

/// An event with its position in the tenant's feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedEvent {
    /// Pass as `cursor` (or `Last-Event-ID`) to continue after this event (opaque).
    #[schema(example = "ZXZlbnRzCjE3MTcyMzA2MDAxMjMtMA")]
    pub cursor: String,
    #[serde(flatten)]
    pub event: Event,
}

/// The stream id a cursor of this feed names.
fn stream_position(position: &str) -> Result<String, ApiError> {
    StreamId::from_str(position)
        .map(|id| id.to_string())
        .map_err(|_| invalid_cursor())
}

/// A cursor given outside a page request (the stream's `cursor` or `Last-Event-ID`).
fn parse_cursor(value: &str) -> Result<String, ApiError> {
    page::position_of(value, LIST)
        .ok_or_else(invalid_cursor)
        .and_then(|position| stream_position(&position))
}

fn parse_types(value: Option<&str>) -> Result<Option<Vec<EventType>>, ApiError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    value
        .split(',')
        .map(|t| {
            EventType::parse(t.trim()).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("`types`: `{}` is not an event type", t.trim()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn decode(id: String, bytes: &[u8]) -> Option<FeedEvent> {
    serde_json::from_slice::<Event>(bytes)
        .ok()
        .map(|event| FeedEvent {
            cursor: page::cursor(LIST, &id),
            event,
        })
}

/// Reads up to `limit` matching events after `after`; returns them, the last stream id scanned
/// and whether the stream may hold more.
async fn read_page(
    state: &AppState,
    tenant: &str,
    after: Option<String>,
    types: Option<&[EventType]>,
    limit: usize,
) -> Result<(Vec<FeedEvent>, Option<String>, bool), StoreError> {
    let stream = keys::TenantEvents::new(tenant);
    let mut cursor = after;
    let mut out = Vec::new();
    let mut scanned = 0;
    loop {
        let want = if types.is_some() {
            SCAN_CHUNK
        } else {
            limit - out.len()
        };
        let entries = state
            .store
            .stream_read_after(&stream, cursor.as_deref(), want)
            .await?;
        let exhausted = entries.len() < want;
        for (id, bytes) in entries {
            scanned += 1;
            cursor = Some(id.clone());
            if let Some(event) = decode(id, &bytes)
                && types.is_none_or(|t| t.contains(&event.event.event_type))
            {
                out.push(event);
                if out.len() == limit {
                    return Ok((out, cursor, true));
                }
            }
        }
        if exhausted {
            return Ok((out, cursor, false));
        }
        if scanned >= SCAN_MAX {
            return Ok((out, cursor, true));
        }
    }
}

/// The tenant's events, oldest first, in cursor pages. Events are kept for the configured
/// retention (7 days by default).
///
/// The feed is a log and its cursor a position in it: `next_cursor` is never `null`, and
/// calling again with the last `next_cursor` answers only events appended since. A page with
/// fewer items than `limit` means there were no more at the time of the read (a page filtered by
/// `types` may also end short after scanning 20,000 events): wait before polling again from
/// its `next_cursor`.
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:read"])),
    params(PageRequest, FeedQuery),
    responses(
        (status = 200, description = "A page of events; `next_cursor` is never `null` (the position to poll from)", body = Page<FeedEvent>),
        (status = 400, description = "Bad type or limit", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::invalid_query())),
        (status = 422, description = "The cursor is not one of this feed (`invalid_cursor`)", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::invalid_cursor())),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_forbidden())),
        (status = 429, description = "Rate limited", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::rate_limited())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/events")]
pub async fn list_events(
    auth: Auth<scope::EventsRead>,
    state: web::Data<AppState>,
    page: PageRequest,
    query: web::Query<FeedQuery>,
) -> Result<web::Json<Page<FeedEvent>>, ApiError> {
    let after = page
        .position(LIST)?
        .map(|position| stream_position(&position))
        .transpose()?;
    let types = parse_types(query.types.as_deref())?;
    let (items, last, _) = read_page(
        &state,
        &auth.principal.tenant,
        after.clone(),
        types.as_deref(),
        page.limit,
    )
    .await?;
    // A live feed always answers a position: past the last event scanned, else where the caller
    // was, else the start of the log.
    let position = last.or(after).unwrap_or_else(|| "0-0".to_owned());
    Ok(web::Json(Page::new(
        items,
        Some(page::cursor(LIST, &position)),
    )))
}

fn frame(event: &FeedEvent) -> Bytes {
    let data = serde_json::to_string(&event.event).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.cursor, event.event.event_type, data
    ))
}

/// The tenant's events live, as Server-Sent Events: `id:` is the cursor, `event:` the type,
/// `data:` the event JSON. Reconnect with `Last-Event-ID` (browsers do) to get exactly the events
/// missed. Idle streams carry a `: keep-alive` comment every heartbeat interval.
#[utoipa::path(
    tag = "events",
    security(("bearer" = ["events:read"])),
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this cursor"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String,
         example = json!("id: ZXZlbnRzCjE3MTcyMzA2MDAxMjMtMA\nevent: registration.completed\ndata: {\"id\":\"evt_01928f6b7c2d7e3a9b1c4d5e6f708192\",\"type\":\"registration.completed\",...}\n\n")),
        (status = 400, description = "Bad type", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::invalid_query())),
        (status = 422, description = "The cursor (or `Last-Event-ID`) is not one of this feed (`invalid_cursor`)", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::invalid_cursor())),
        (status = 401, description = "Missing or invalid token", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::unauthorized())),
        (status = 403, description = "The token lacks `events:read`", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::events_forbidden())),
        (status = 429, description = "Rate limited", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::rate_limited())),
        (status = 503, description = "Store unavailable", body = crate::error::Problem, content_type = "application/problem+json",
         example = json!(crate::openapi::examples::store_unavailable())),
    )
)]
#[get("/v1/events/stream")]
pub async fn stream_events(
    auth: Auth<scope::EventsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let types = parse_types(query.types.as_deref())?;
    let tenant = auth.principal.tenant;
    let start = match (last_event_id, query.cursor) {
        (Some(id), _) => Some(parse_cursor(&id)?),
        (None, Some(cursor)) => Some(parse_cursor(&cursor)?),
        // Only new events: start after the newest one there is now.
        (None, None) => newest_cursor(&state, &tenant).await?,
    };
    // Subscribe before the first read, so no append between them goes unnoticed.
    let appends = state.store.subscribe_appends();
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let state = state.get_ref().clone();
    tokio::spawn(pump(state, tenant, start, types, appends, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, actix_web::Error>(chunk), rx))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would buffer frames.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

async fn newest_cursor(state: &AppState, tenant: &str) -> Result<Option<String>, StoreError> {
    // Streams have no "last entry" call in the store API: page to the end once.
    let stream = keys::TenantEvents::new(tenant);
    let mut cursor: Option<String> = None;
    loop {
        let entries = state
            .store
            .stream_read_after(&stream, cursor.as_deref(), SCAN_CHUNK)
            .await?;
        let done = entries.len() < SCAN_CHUNK;
        if let Some((id, _)) = entries.last() {
            cursor = Some(id.clone());
        }
        if done {
            return Ok(cursor.or_else(|| Some("0-0".to_owned())));
        }
    }
}

/// Feeds one SSE connection until the client goes away.
async fn pump(
    state: AppState,
    tenant: String,
    mut cursor: Option<String>,
    types: Option<Vec<EventType>>,
    mut appends: broadcast::Receiver<String>,
    tx: mpsc::Sender<Bytes>,
) {
    let config = &state.config.events;
    let stream = keys::TenantEvents::new(&tenant);
    if tx
        .send(Bytes::from_static(b": connected\n\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut last_sent = tokio::time::Instant::now();
    loop {
        match read_page(&state, &tenant, cursor.clone(), types.as_deref(), 200).await {
            Ok((events, next, more)) => {
                cursor = next.or(cursor);
                for event in &events {
                    if tx.send(frame(event)).await.is_err() {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                }
                if more {
                    continue;
                }
            }
            Err(error) => tracing::warn!(%error, "event stream read failed; retrying"),
        }
        let heartbeat_at = last_sent + config.sse_heartbeat;
        let poll = tokio::time::sleep(config.sse_poll_interval);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                _ = &mut poll => break,
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(heartbeat_at) => {
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                    break;
                }
                received = appends.recv() => match received {
                    Ok(name) if *name == *stream => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        poll.as_mut().await;
                        break;
                    }
                },
            }
        }
    }
}
