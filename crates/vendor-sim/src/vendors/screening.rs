//! wscrm number screening (document 000): submit an order of 500..20,000 numbers, poll its status,
//! then fetch a time-limited xlsx URL.
//!
//! The document leaves the error envelope unsaid; the simulator answers HTTP 200 with the same
//! `{code, message, data}` envelope, `data: null` and a non-200 `code`: 400 invalid request,
//! 404 unknown order, 409 order not completed yet (authentication failures, 401, come from
//! the shared middleware).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{self, Field, Ty, field};
use crate::files::FileSource;
use crate::json_value;
use crate::ledger::numbers_digest;
use crate::operations::WSCRM;
use crate::state::SimState;

/// The wscrm response envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: i32,
    pub message: String,
    pub data: T,
}

pub fn success<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        code: 200,
        message: "Success".to_owned(),
        data,
    })
}

/// Errors travel in the envelope with HTTP 200, like the successes.
pub fn failure(code: i32, message: impl Into<String>) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        code,
        message: message.into(),
        data: Value::Null,
    })
}

/// One accepted order.
#[derive(Debug)]
pub struct Order {
    pub id: String,
    pub numbers: Arc<Vec<String>>,
    pub screen_type: u8,
    pub active_type: Option<u8>,
    pub country: String,
    created: Instant,
    duration: Duration,
}

impl Order {
    pub fn completed(&self) -> bool {
        self.created.elapsed() >= self.duration
    }
}

#[derive(Debug, Default)]
pub struct ScreeningStore {
    orders: Mutex<HashMap<String, Arc<Order>>>,
}

impl ScreeningStore {
    pub fn get(&self, id: &str) -> Option<Arc<Order>> {
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn insert(&self, order: Order) -> Arc<Order> {
        let order = Arc::new(order);
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(order.id.clone(), order.clone());
        order
    }
}

/// How long an order of `n` numbers takes.
fn order_duration(state: &SimState, n: usize) -> Duration {
    let s = &state.config.speed;
    let per = if s.screening_numbers_per_second > 0.0 {
        Duration::try_from_secs_f64(n as f64 / s.screening_numbers_per_second)
            .unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    };
    Duration::from_millis(s.screening_base_ms).saturating_add(per)
}

/// A number as the document writes them: digits with the country code; a leading `+` is tolerated.
fn valid_number(v: &Value) -> Option<String> {
    let s = json_value::text(v)?;
    let s = s.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    let ok = (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.to_owned())
}

struct Accepted {
    numbers: Vec<String>,
    screen_type: u8,
    active_type: Option<u8>,
    country: String,
}

/// The request table of the screening interface: `data` numbers as strings (the example's form),
/// `type` and `activeType` ints, `country` a string.
const SCREEN: &[Field] = &[
    field("data", Ty::StrList),
    field("type", Ty::Int),
    field("activeType", Ty::Int),
    field("country", Ty::Str),
];

fn validate(state: &SimState, body: &[u8]) -> Result<Accepted, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not valid JSON: {e}"))?;
    contract::check(
        v.as_object().ok_or("request body must be a JSON object")?,
        SCREEN,
    )?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("data is required and must be a list")?;
    let (min, max) = (
        state.config.wscrm.min_numbers,
        state.config.wscrm.max_numbers,
    );
    if data.len() < min || data.len() > max {
        return Err(format!(
            "data must hold between {min} and {max} numbers, got {}",
            data.len()
        ));
    }
    let numbers = data
        .iter()
        .enumerate()
        .map(|(i, n)| {
            valid_number(n)
                .ok_or_else(|| format!("data[{i}] is not a phone number with country code"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let screen_type = v
        .get("type")
        .and_then(json_value::int)
        .filter(|t| (0..=2).contains(t))
        .ok_or("type is required: 0 is WhatsApp, 1 screen active, 2 screen avatar gender")?;
    let active_type = match v.get("activeType") {
        None | Some(Value::Null) => None,
        Some(a) => Some(
            json_value::int(a)
                .filter(|t| (0..=2).contains(t))
                .ok_or("activeType must be 0, 1 or 2")?,
        ),
    };
    let country = v
        .get("country")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or("country is required")?;
    Ok(Accepted {
        numbers,
        screen_type: screen_type as u8,
        active_type: active_type.map(|a| a as u8),
        country: country.to_owned(),
    })
}

pub async fn submit(state: web::Data<SimState>, body: web::Bytes) -> HttpResponse {
    let accepted = match validate(&state, &body) {
        Ok(a) => a,
        Err(message) => return failure(400, message),
    };
    let id = state.next_hex_id("screening");
    let count = accepted.numbers.len();
    state.ledger.record_order(
        WSCRM,
        "screening.submit",
        &id,
        count as u64,
        numbers_digest(&accepted.numbers),
    );
    state.screening.insert(Order {
        id: id.clone(),
        numbers: Arc::new(accepted.numbers),
        screen_type: accepted.screen_type,
        active_type: accepted.active_type,
        country: accepted.country,
        created: Instant::now(),
        duration: order_duration(&state, count),
    });
    success(id)
}

/// The order queries document only the order id, in the path: a body with parameters is refused.
fn no_parameters(body: &[u8]) -> Result<(), String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => contract::check(&m, &[]),
        _ => Err("this API takes no request body".to_owned()),
    }
}

pub async fn status(
    state: web::Data<SimState>,
    order_id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(message) = no_parameters(&body) {
        return failure(400, message);
    }
    match state.screening.get(&order_id) {
        None => failure(404, "order not found"),
        Some(o) => success(u8::from(o.completed())),
    }
}

pub async fn details(
    state: web::Data<SimState>,
    order_id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(message) = no_parameters(&body) {
        return failure(400, message);
    }
    match state.screening.get(&order_id) {
        None => failure(404, "order not found"),
        Some(o) if !o.completed() => failure(409, "screening task is not completed"),
        Some(o) => success(
            state
                .files
                .issue(FileSource::Screening {
                    order_id: o.id.clone(),
                })
                .url,
        ),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let p = crate::operations::SCREENING_PREFIX;
    cfg.route(&format!("{p}screenWhatsApp"), web::post().to(submit))
        .route(
            &format!("{p}queryTaskStatus/{{orderId}}"),
            web::post().to(status),
        )
        .route(
            &format!("{p}queryTaskDetails/{{orderId}}"),
            web::post().to(details),
        );
}
