//! The simulator's own endpoints under `/_sim`: faults, ledger, truth look-ups, result files.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::faults::FaultSpec;
use crate::files::{FileSource, Lookup};
use crate::state::SimState;
use crate::xlsx::{self, ScreeningFill};

const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

/// One fault or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<FaultSpec>),
    One(Box<FaultSpec>),
}

fn parse_faults(body: &[u8]) -> Result<Vec<FaultSpec>, Box<HttpResponse>> {
    match serde_json::from_slice::<OneOrMany>(body) {
        Ok(OneOrMany::Many(v)) => Ok(v),
        Ok(OneOrMany::One(f)) => Ok(vec![*f]),
        Err(e) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("expected a fault or a list of faults: {e}"),
        ))),
    }
}

async fn list_faults(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.faults.list())
}

/// POST adds (or replaces by id) the given faults.
async fn add_faults(state: web::Data<SimState>, body: web::Bytes) -> HttpResponse {
    let specs = match parse_faults(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if let Err(e) = specs.iter().try_for_each(FaultSpec::validate) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    let set: Result<Vec<_>, _> = specs.into_iter().map(|s| state.faults.set(s)).collect();
    match set {
        Ok(set) => HttpResponse::Ok().json(set),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// PUT replaces every fault with the given ones.
async fn replace_faults(state: web::Data<SimState>, body: web::Bytes) -> HttpResponse {
    let specs = match parse_faults(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match state.faults.replace_all(specs) {
        Ok(set) => HttpResponse::Ok().json(set),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn clear_faults(state: web::Data<SimState>) -> HttpResponse {
    state.faults.clear();
    HttpResponse::NoContent().finish()
}

async fn remove_fault(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    if state.faults.remove(&id) {
        HttpResponse::NoContent().finish()
    } else {
        error(StatusCode::NOT_FOUND, "no such fault")
    }
}

async fn ledger(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.ledger.snapshot())
}

async fn reset_ledger(state: web::Data<SimState>) -> HttpResponse {
    state.ledger.reset();
    HttpResponse::NoContent().finish()
}

async fn truth(state: web::Data<SimState>, number: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(crate::truth::profile(state.config.seed, &number))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn download(state: web::Data<SimState>, name: web::Path<String>) -> HttpResponse {
    let source = match state.files.lookup(&name) {
        Lookup::Found(s) => s,
        Lookup::Expired => return error(StatusCode::GONE, "download link has expired"),
        Lookup::Unknown => return error(StatusCode::NOT_FOUND, "no such file"),
    };
    let seed = state.config.seed;
    let offset = state.config.vendor_utc_offset_minutes;
    let work = match source {
        FileSource::Screening { order_id } => match state.screening.get(&order_id) {
            Some(o) => {
                let (numbers, fill) = (o.numbers.clone(), ScreeningFill::for_type(o.screen_type));
                web::block(move || xlsx::screening_workbook(seed, &numbers, fill, offset)).await
            }
            None => return error(StatusCode::NOT_FOUND, "no such file"),
        },
        FileSource::Ekycpro { task_id } => match state.ekycpro.get(&task_id) {
            Some(t) => {
                let numbers = t.numbers.clone();
                web::block(move || xlsx::ekycpro_workbook(seed, &numbers)).await
            }
            None => return error(StatusCode::NOT_FOUND, "no such file"),
        },
    };
    match work {
        Ok(Ok(bytes)) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, XLSX_MIME))
            .insert_header((
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ))
            .body(bytes),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not build the workbook: {e}"),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not build the workbook: {e}"),
        ),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim/health", web::get().to(health))
        .route("/_sim/faults", web::get().to(list_faults))
        .route("/_sim/faults", web::post().to(add_faults))
        .route("/_sim/faults", web::put().to(replace_faults))
        .route("/_sim/faults", web::delete().to(clear_faults))
        .route("/_sim/faults/{id}", web::delete().to(remove_fault))
        .route("/_sim/ledger", web::get().to(ledger))
        .route("/_sim/ledger/reset", web::post().to(reset_ledger))
        .route("/_sim/truth/{number}", web::get().to(truth))
        .route("/_sim/files/{name}", web::get().to(download));
}
