//! ekycpro bulk check (document 003): upload a file of E.164 numbers, poll the task until it is
//! `exported`, download the xlsx at `result_url`.
//!
//! The document says a 200 answer is charged: the simulator bills every number of a task when the
//! upload is accepted (200) and never bills polls. Errors, which the document does not shape, are
//! `{"error": "..."}` with 400 (bad request or file), 401 (missing or wrong `X-API-Key`),
//! 403 (`user_id` not the key's user) or 404 (unknown task).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::contract;
use crate::files::{FileSource, IssuedUrl};
use crate::ledger::numbers_digest;
use crate::multipart;
use crate::operations::EKYCPRO;
use crate::state::SimState;

/// A task as the document's responses show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub created_at: String,
    pub updated_at: String,
    pub task_id: String,
    pub user_id: String,
    pub status: String,
    pub total: u64,
    pub success: u64,
    pub failure: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
}

#[derive(Debug)]
pub struct Task {
    pub id: String,
    pub user_id: String,
    pub numbers: Arc<Vec<String>>,
    created: Instant,
    created_at: DateTime<Utc>,
    pending: Duration,
    processing: Duration,
    export: Duration,
    result: Mutex<Option<IssuedUrl>>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl Task {
    fn view(&self, state: &SimState) -> TaskView {
        let elapsed = self.created.elapsed();
        let total = self.numbers.len() as u64;
        let processed_at = self.pending.saturating_add(self.processing);
        let exported_at = processed_at.saturating_add(self.export);
        let at = |d: Duration| {
            let offset = chrono::Duration::from_std(d).unwrap_or_default();
            rfc3339(
                self.created_at
                    .checked_add_signed(offset)
                    .unwrap_or(self.created_at),
            )
        };
        // The document's pending example reports total 0: the file is counted when processing starts.
        let (status, total, success, updated_at) = if elapsed < self.pending {
            ("pending", 0, 0, at(Duration::ZERO))
        } else if elapsed < processed_at {
            let share = (elapsed - self.pending).as_secs_f64()
                / self.processing.as_secs_f64().max(f64::EPSILON);
            let done = ((total as f64) * share).floor() as u64;
            ("processing", total, done.min(total), at(elapsed))
        } else if elapsed < exported_at {
            ("completed", total, total, at(processed_at))
        } else {
            ("exported", total, total, at(exported_at))
        };
        let result_url = (status == "exported").then(|| self.result_url(state));
        TaskView {
            created_at: rfc3339(self.created_at),
            updated_at,
            task_id: self.id.clone(),
            user_id: self.user_id.clone(),
            status: status.to_owned(),
            total,
            success,
            failure: 0,
            result_url,
        }
    }

    /// The current URL, or a new one once the previous has expired.
    fn result_url(&self, state: &SimState) -> String {
        let mut guard = self.result.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(issued) if issued.expires > Instant::now() => issued.url.clone(),
            _ => {
                let issued = state.files.issue(FileSource::Ekycpro {
                    task_id: self.id.clone(),
                });
                let url = issued.url.clone();
                *guard = Some(issued);
                url
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct EkycproStore {
    tasks: Mutex<HashMap<String, Arc<Task>>>,
}

impl EkycproStore {
    pub fn get(&self, id: &str) -> Option<Arc<Task>> {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn insert(&self, task: Task) -> Arc<Task> {
        let task = Arc::new(task);
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task.id.clone(), task.clone());
        task
    }
}

fn error(status: actix_web::http::StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": message.into() }))
}

fn bad_request(message: impl Into<String>) -> HttpResponse {
    error(actix_web::http::StatusCode::BAD_REQUEST, message)
}

fn check_key(state: &SimState, req: &HttpRequest) -> Result<(), Box<HttpResponse>> {
    let given = req.headers().get("X-API-Key").and_then(|v| v.to_str().ok());
    if given == Some(state.config.ekycpro.api_key.as_str()) {
        Ok(())
    } else {
        Err(Box::new(error(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "missing or invalid X-API-Key",
        )))
    }
}

fn check_user(state: &SimState, user_id: Option<&str>) -> Result<String, Box<HttpResponse>> {
    match user_id.map(str::trim).filter(|u| !u.is_empty()) {
        None => Err(Box::new(bad_request("user_id is required"))),
        Some(u) if u != state.config.ekycpro.user_id => Err(Box::new(error(
            actix_web::http::StatusCode::FORBIDDEN,
            "user_id does not belong to this API key",
        ))),
        Some(u) => Ok(u.to_owned()),
    }
}

/// `+`, a non-zero digit, then 6..=14 digits.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// One number per line; blank lines are skipped, anything else that is not E.164 is refused.
pub fn read_numbers(file: &[u8], max: usize) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(file).map_err(|_| "file must be UTF-8 text".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !is_e164(line) {
            return Err(format!(
                "line {}: not a phone number in E.164 format",
                i + 1
            ));
        }
        if numbers.len() == max {
            return Err(format!("file holds more than {max} numbers"));
        }
        numbers.push(line.to_owned());
    }
    if numbers.is_empty() {
        return Err("file holds no phone numbers".to_owned());
    }
    Ok(numbers)
}

fn phase(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub async fn create_task(
    state: web::Data<SimState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(r) = check_key(&state, &req) {
        return *r;
    }
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts = match multipart::parse(content_type, &body) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    // Upload file request parameters: `user_id` and `file`, nothing else.
    if let Some(p) = parts
        .iter()
        .find(|p| !matches!(p.name.as_str(), "user_id" | "file"))
    {
        return bad_request(format!("{} is not a parameter of this API", p.name));
    }
    let user_field = parts
        .iter()
        .find(|p| p.name == "user_id")
        .map(|p| String::from_utf8_lossy(&p.data).into_owned());
    let user_id = match check_user(&state, user_field.as_deref()) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return bad_request("file is required");
    };
    let numbers = match read_numbers(&file.data, state.config.ekycpro.max_numbers) {
        Ok(n) => n,
        Err(e) => return bad_request(e),
    };
    let speed = &state.config.speed;
    let processing = if speed.ekycpro_numbers_per_second > 0.0 {
        Duration::try_from_secs_f64(numbers.len() as f64 / speed.ekycpro_numbers_per_second)
            .unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    };
    let id = task_id(&state);
    state.ledger.record_order(
        EKYCPRO,
        "ekycpro.create_task",
        &id,
        numbers.len() as u64,
        numbers_digest(&numbers),
    );
    let task = state.ekycpro.insert(Task {
        id,
        user_id,
        numbers: Arc::new(numbers),
        created: Instant::now(),
        created_at: Utc::now(),
        pending: phase(speed.ekycpro_pending_ms),
        processing,
        export: phase(speed.ekycpro_export_ms),
        result: Mutex::new(None),
    });
    // The upload always answers the task as it was created, as in the document's example.
    let mut view = task.view(&state);
    view.status = "pending".to_owned();
    view.total = 0;
    view.success = 0;
    view.updated_at = view.created_at.clone();
    view.result_url = None;
    HttpResponse::Ok().json(view)
}

#[derive(Debug, Deserialize)]
struct TaskQuery {
    user_id: Option<String>,
}

pub async fn get_task(
    state: web::Data<SimState>,
    req: HttpRequest,
    task_id: web::Path<String>,
) -> HttpResponse {
    if let Err(r) = check_key(&state, &req) {
        return *r;
    }
    // Parsed here rather than by an extractor so that a bad query gets this vendor's error shape.
    if let Err(e) = contract::check_query(req.query_string(), &["user_id"]) {
        return bad_request(e);
    }
    let Ok(query) = web::Query::<TaskQuery>::from_query(req.query_string()) else {
        return bad_request("invalid query string");
    };
    let user_id = match check_user(&state, query.user_id.as_deref()) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    match state.ekycpro.get(&task_id).filter(|t| t.user_id == user_id) {
        None => error(actix_web::http::StatusCode::NOT_FOUND, "task not found"),
        Some(t) => HttpResponse::Ok().json(t.view(&state)),
    }
}

/// 20 characters of `0-9a-v`, the shape of the document's `cs9viu7i61pkfs4oavvg`.
fn task_id(state: &SimState) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let (a, b) = state.next_id_bits("ekycpro");
    (0..20)
        .map(|i| {
            let bits = if i < 12 {
                a >> (i * 5)
            } else {
                b >> ((i - 12) * 5)
            };
            char::from(ALPHABET[(bits & 31) as usize])
        })
        .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/wa/api/detail/tasks", web::post().to(create_task))
        .route("/wa/api/detail/tasks/{task_id}", web::get().to(get_task));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_lines() {
        assert_eq!(
            read_numbers(b"+41798284651\r\n\r\n+14155550123\n", 10),
            Ok(vec!["+41798284651".to_owned(), "+14155550123".to_owned()])
        );
        assert!(
            read_numbers(b"+41798284651\n41798284651\n", 10)
                .expect_err("line 2 is invalid")
                .starts_with("line 2")
        );
        assert!(read_numbers(b"+0123456789\n", 10).is_err());
        assert!(read_numbers(b"\n\n", 10).is_err());
        assert!(read_numbers(b"+14155550123\n+14155550124\n", 1).is_err());
    }
}
