//! What the gateway pays when a 20,000-number screening order finishes, against the least any
//! xlsx consumer pays for the same file, measured in one run so a report can show the ratio.
//!
//! - `parse_and_store_20000`: the wscrm screening adapter's `fetch_results` (download of the
//!   vendor's xlsx, parse into `NumberResult`s), then what the worker's `record_results` does
//!   with them: statuses per check (`NumberResult::settle`), `jobs::merge_records` (one merged
//!   record per number) and `Cache::store` into the Redis store.
//! - `store_20000`: the storing part alone, for the parsed records (three checks each): what
//!   `record_results` writes, one merged record per number and one cache entry per number.
//! - `store_20000_key_per_check`: the same with the cache layout of earlier releases (one key
//!   per (number, check), each holding the whole record: 60,000 keys), for comparison.
//! - `calamine_read_20000`: `calamine` opening the same bytes and visiting every cell.
//!
//! The file is genuine: one 20,000-number order is submitted through the adapter to the vendor
//! simulator running in-process. The simulator builds a result workbook anew on every download
//! (a real vendor serves a stored file), so the measured downloads come from a static copy of
//! that file on a local HTTP server; a one-off split of download / parse / store is printed
//! before measuring.
//!
//! Keys go to Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`) under a fresh
//! `bench:<uuid>:` prefix and expire after ten minutes.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calamine::{Reader, Xlsx};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use domain::{Check, CheckSet, E164, NumberResult};
use gateway_api::config::Config;
use gateway_api::number_checks::cache::Cache;
use gateway_api::number_checks::jobs;
use gateway_api::state::AppState;
use gateway_api::store::Store;
use providers::{BulkNumberChecker, OrderProgress, ResultLocation, VendorOrderId};
use serde_json::json;
use vendor_sim::{SimConfig, dev};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NUMBERS: usize = 20_000;
/// Lifetime of everything written to Redis (job results and cache entries).
const KEY_TTL: &str = "10m";
const TENANT: &str = "bench";
const JOB_ID: &str = "bench-job";
const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One screen-active order answers these (vendor type 1; `registered` and `business` ride along).
fn checks() -> CheckSet {
    CheckSet::of(&[Check::Registered, Check::Business, Check::Activity])
}

/// `n` Indian mobile numbers, `+91 98xxxxxxxx`: valid E.164 of one region, as the screening
/// vendor needs.
fn numbers(n: usize) -> Vec<E164> {
    (0..n)
        .map(|i| {
            format!("+9198{i:08}")
                .parse()
                .expect("a valid Indian mobile number")
        })
        .collect()
}

/// Everything the measurements need, built once.
struct Fixture {
    state: AppState,
    checker: Arc<dyn BulkNumberChecker>,
    order: VendorOrderId,
    /// The static copy of the order's result file.
    location: ResultLocation,
    /// The order's result file as the vendor serves it.
    file: Bytes,
    // Kept alive while measuring.
    _sim: vendor_sim::RunningSim,
    _files: MockServer,
}

async fn fixture() -> Fixture {
    let mut sim_config = SimConfig::for_tests(7);
    sim_config.result_ttl_ms = 10 * 60 * 1000;
    let sim = vendor_sim::start(sim_config, "127.0.0.1:0")
        .await
        .expect("the simulator starts");
    let files = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;

    let config = Config::with_overrides(json!({
        "server": {"listen": "127.0.0.1:0", "workers": 1},
        "store": {
            "redis_url": redis_url(),
            "key_prefix": format!("bench:{}:", uuid::Uuid::new_v4().simple())
        },
        "auth": {"allow_dev_secret": true},
        "log": {"level": "warn"},
        "vendors": {"wscrm": {
            "bus_api_base_url": format!("{}/wscrm-bus-api", sim.base_url()),
            "auth_headers": {dev::WSCRM_HEADER: dev::WSCRM_KEY},
            "result_hosts": [sim.base_url(), files.uri()]
        }},
        "number_checks": {"job_ttl": KEY_TTL, "cache_ttl": KEY_TTL}
    }))
    .expect("bench config is valid");
    let store = Store::connect(&config.store.settings())
        .await
        .expect("Redis is reachable");
    let state = AppState::new(config, store).expect("gateway state");
    let checker = state
        .providers
        .bulk(providers::wscrm_screening::ID)
        .expect("the screening adapter is configured");

    let order = checker
        .submit(&numbers(NUMBERS), &checks())
        .await
        .expect("the simulator accepts the order");
    let deadline = Instant::now() + Duration::from_secs(60);
    let sim_location = loop {
        match checker.poll(&order).await.expect("the order can be polled") {
            OrderProgress::Ready { result } => break result,
            OrderProgress::Running { .. } => {
                assert!(Instant::now() < deadline, "the order did not finish");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let file = reqwest::get(sim_location.as_str())
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("the result file downloads")
        .bytes()
        .await
        .expect("the result file is read");
    Mock::given(method("GET"))
        .and(path(format!("/results/{order}.xlsx")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(file.to_vec(), XLSX_MIME))
        .mount(&files)
        .await;
    let location = ResultLocation::new(format!("{}/results/{order}.xlsx", files.uri()));

    let fixture = Fixture {
        state,
        checker,
        order,
        location,
        file,
        _sim: sim,
        _files: files,
    };
    split(&fixture, &sim_location).await;
    fixture
}

/// `fetch_results` on the static copy, then what `record_results` stores.
async fn parse_and_store(f: &Fixture) -> usize {
    let records = f
        .checker
        .fetch_results(&f.order, &f.location)
        .await
        .expect("the result file is fetched and parsed");
    store(f, &records).await;
    records.len()
}

/// The records as the worker merges them: each with its checks' statuses.
fn settled(records: &[NumberResult]) -> Vec<NumberResult> {
    let mut out = records.to_vec();
    for record in &mut out {
        record.settle(&checks());
    }
    out
}

/// The records of a job of as many numbers as `records`.
fn job_records(records: &[NumberResult]) -> jobs::Records {
    jobs::Records::new(JOB_ID, records.len() as u64)
}

/// As the worker's `write_results`: the merge into the job's records and the cache write run
/// together.
async fn store(f: &Fixture, records: &[NumberResult]) {
    let config = &f.state.config.number_checks;
    // Shared by the merge and the cache write, as the worker does.
    let records: std::sync::Arc<[NumberResult]> = settled(records).into();
    let cache = Cache::new(
        f.state.store.clone(),
        config.cache_scope,
        TENANT,
        config.cache_ttl,
    );
    let checks = checks();
    let job = job_records(&records);
    let (merged, cached) = tokio::join!(
        jobs::merge_records(&f.state.store, &job, records.clone(), config.job_ttl),
        cache.store(records.clone(), &checks),
    );
    merged.expect("the sub-order results are stored");
    cached.expect("the answers are cached");
}

/// [`store`] with the cache written as earlier releases did: one plain key per (number, check).
async fn store_key_per_check(f: &Fixture, records: &[NumberResult]) {
    let config = &f.state.config.number_checks;
    let records = &settled(records);
    jobs::merge_records(
        &f.state.store,
        &job_records(records),
        records.as_slice(),
        config.job_ttl,
    )
    .await
    .expect("the sub-order results are stored");
    for chunk in records.chunks(5_000) {
        let mut entries = Vec::with_capacity(chunk.len() * checks().len());
        for record in chunk {
            let bytes = serde_json::to_vec(record).expect("a record encodes");
            for check in checks().iter() {
                let key = format!(
                    "nc:cache-per-check:{}:{}",
                    record.number.as_u64(),
                    check.as_str()
                );
                entries.push((key, bytes.clone()));
            }
        }
        f.state
            .store
            .mset(&entries, Some(config.cache_ttl))
            .await
            .expect("the answers are cached");
    }
}

/// Rows and cells visited.
fn calamine_read(file: &Bytes) -> (usize, usize) {
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(file.clone())).expect("an xlsx file");
    let range = book
        .worksheet_range_at(0)
        .expect("a first worksheet")
        .expect("a readable worksheet");
    let mut cells = 0;
    for row in range.rows() {
        for cell in row {
            black_box(cell);
            cells += 1;
        }
    }
    (range.height(), cells)
}

/// One pass with each step timed on its own, printed to stderr (best of three).
async fn split(f: &Fixture, sim_location: &ResultLocation) {
    let http = reqwest::Client::new();
    let mut best = [Duration::MAX; 6];
    let mut rows = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let from_sim = http
            .get(sim_location.as_str())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("download from the simulator")
            .bytes()
            .await
            .expect("body from the simulator");
        let sim_download = started.elapsed();
        // The simulator writes the workbook anew for each download (its timestamps differ).
        assert!(
            from_sim.len().abs_diff(f.file.len()) < 1024,
            "same workbook"
        );

        let started = Instant::now();
        let copy = http
            .get(f.location.as_str())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("download of the static copy")
            .bytes()
            .await
            .expect("body of the static copy");
        let download = started.elapsed();
        assert_eq!(copy, f.file);

        let started = Instant::now();
        let records = f
            .checker
            .fetch_results(&f.order, &f.location)
            .await
            .expect("the result file is fetched and parsed");
        let fetch = started.elapsed();
        rows = records.len();

        let config = &f.state.config.number_checks;
        let started = Instant::now();
        let records: std::sync::Arc<[NumberResult]> = settled(&records).into();
        jobs::merge_records(
            &f.state.store,
            &job_records(&records),
            records.clone(),
            config.job_ttl,
        )
        .await
        .expect("the sub-order results are stored");
        let put = started.elapsed();
        let started = Instant::now();
        Cache::new(
            f.state.store.clone(),
            config.cache_scope,
            TENANT,
            config.cache_ttl,
        )
        .store(records, &checks())
        .await
        .expect("the answers are cached");
        let cache = started.elapsed();

        let started = Instant::now();
        black_box(calamine_read(&f.file));
        let calamine = started.elapsed();

        for (slot, took) in
            best.iter_mut()
                .zip([sim_download, download, fetch, put, cache, calamine])
        {
            *slot = (*slot).min(took);
        }
    }
    let [sim_download, download, fetch, put, cache, calamine] = best.map(|d| d.as_secs_f64() * 1e3);
    eprintln!(
        "result_parsing split, best of 3 ({rows} records, {} bytes, {} checks each):",
        f.file.len(),
        checks().len()
    );
    for (step, ms) in [
        (
            "download from the simulator (builds the workbook)",
            sim_download,
        ),
        ("download of the static copy (plain reqwest)", download),
        ("fetch_results (download + parse)", fetch),
        (
            "  of which parse (fetch_results - download)",
            fetch - download,
        ),
        ("jobs::merge_records", put),
        ("Cache::store", cache),
        ("calamine open + read every cell", calamine),
    ] {
        eprintln!("  {step:<52} {ms:>7.1} ms");
    }
}

fn result_parsing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fixture = rt.block_on(fixture());
    assert_eq!(rt.block_on(parse_and_store(&fixture)), NUMBERS);
    let (rows, _) = calamine_read(&fixture.file);
    assert_eq!(rows, NUMBERS + 1, "a header row and one row per number");

    let mut group = c.benchmark_group("result_parsing");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("parse_and_store_20000", |b| {
        b.to_async(&rt).iter(|| parse_and_store(&fixture));
    });
    let records = rt
        .block_on(
            fixture
                .checker
                .fetch_results(&fixture.order, &fixture.location),
        )
        .expect("the result file is fetched and parsed");
    group.bench_function("store_20000", |b| {
        b.to_async(&rt).iter(|| store(&fixture, &records));
    });
    group.bench_function("store_20000_key_per_check", |b| {
        b.to_async(&rt)
            .iter(|| store_key_per_check(&fixture, &records));
    });
    group.bench_function("calamine_read_20000", |b| {
        b.iter(|| calamine_read(black_box(&fixture.file)));
    });
    group.finish();
}

criterion_group!(benches, result_parsing);
criterion_main!(benches);
