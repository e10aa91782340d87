//! Helpers shared by the integration tests: a simulator on a free port and signed clients.
#![allow(dead_code)]

use std::io::Cursor;
use std::time::Duration;

use calamine::{Reader, Xlsx, open_workbook_from_rs};
use vendor_sim::{RunningSim, SimConfig, dev};

pub const SEED: u64 = 11;

pub async fn start(config: SimConfig) -> RunningSim {
    vendor_sim::start(config, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

pub async fn sim() -> RunningSim {
    start(SimConfig::for_tests(SEED)).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `n` distinct numbers with country code, digits only, as the screening document writes them.
pub fn numbers(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:06}")).collect()
}

/// A POST to a wscrm path with the development credentials.
pub fn wscrm(c: &reqwest::Client, sim: &RunningSim, path: &str) -> reqwest::RequestBuilder {
    c.post(format!("{}{path}", sim.base_url()))
        .header(dev::WSCRM_HEADER, dev::WSCRM_KEY)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The headers of a signed getPhone call, computed independently of the simulator's signer.
pub fn nx_headers(access_key: &str, secret: &str, ts: i64, body: &str) -> Vec<(String, String)> {
    use md5::{Digest, Md5};
    let ts = ts.to_string();
    let mut s = format!("accessKey={access_key}&action=getPhone&bizType=2&ts={ts}");
    if !body.is_empty() {
        s.push_str("&body=");
        s.push_str(body);
    }
    s.push_str("&accessSecret=");
    s.push_str(secret);
    let sign = hex::encode(Md5::digest(s.as_bytes()));
    vec![
        ("accessKey".into(), access_key.into()),
        ("ts".into(), ts),
        ("bizType".into(), "2".into()),
        ("action".into(), "getPhone".into()),
        ("sign".into(), sign),
    ]
}

pub async fn get_phone(
    c: &reqwest::Client,
    sim: &RunningSim,
    headers: &[(String, String)],
    body: &str,
) -> serde_json::Value {
    let mut rb = c
        .post(format!("{}/api/wa/getPhone", sim.base_url()))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    let res = rb.send().await.expect("getPhone answers");
    assert_eq!(res.status(), 200);
    res.json().await.expect("JSON")
}

/// The rows of the first sheet as text, header row first.
pub fn sheet_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("an xlsx file");
    let range = wb
        .worksheet_range_at(0)
        .expect("one sheet")
        .expect("readable sheet");
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// Polls until `done` holds for the answer or the deadline passes.
pub async fn poll_until<F, Fut, T>(mut step: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = step().await;
        if done(&v) || tokio::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
