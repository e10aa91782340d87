//! NxCloud getPhone (document 002 and NxCloud's call convention): MD5-signed headers, a JSON body,
//! and the business numbers bound to an appkey.
//!
//! Every answer is HTTP 200 with `{code, message, data}`. Authentication codes the convention
//! leaves open are chosen as: 1000 a required header is missing, 1001 unknown `accessKey`,
//! 1002 `ts` not a number or outside the window, 1003 `bizType` or `action` wrong, 1004 `sign`
//! does not match. 9000 missing or invalid parameters, 9001 unknown appkey, 9006 a requested
//! number is not bound to the appkey.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::NxCloudConfig;
use crate::contract::{self, Field, Ty, field};
use crate::state::SimState;
use crate::truth::hash64;

/// The signed headers, in any order; `sign` and `algorithm` are never part of the string.
pub const SIGNED_HEADERS: [&str; 4] = ["accessKey", "ts", "bizType", "action"];

/// `key=value&...` sorted by key, then `&body=<raw body>` when there is a body, then `&accessSecret=`.
pub fn string_to_sign(headers: &[(&str, &str)], body: &[u8], secret: &str) -> Vec<u8> {
    let mut sorted: Vec<&(&str, &str)> = headers.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let joined = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut out = joined.into_bytes();
    if !body.is_empty() {
        out.extend_from_slice(b"&body=");
        out.extend_from_slice(body);
    }
    out.extend_from_slice(b"&accessSecret=");
    out.extend_from_slice(secret.as_bytes());
    out
}

/// Lowercase hex MD5 of [`string_to_sign`].
pub fn sign(headers: &[(&str, &str)], body: &[u8], secret: &str) -> String {
    hex::encode(Md5::digest(string_to_sign(headers, body, secret)))
}

/// The NxCloud response envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub code: i32,
    pub message: String,
    pub data: Value,
}

fn answer(code: i32, message: impl Into<String>, data: Value) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        code,
        message: message.into(),
        data,
    })
}

fn failure(code: i32, message: impl Into<String>) -> HttpResponse {
    answer(code, message, Value::Null)
}

/// One business number as document 002 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessPhone {
    pub display_phone_number: String,
    pub quality_rating: String,
    pub verified_name: String,
    pub name_status: String,
    pub status: String,
    pub current_limit: String,
    pub code_verification_status: String,
}

fn pick<'a>(h: u64, shift: u32, options: &[&'a str], weights: &[u64]) -> &'a str {
    let total: u64 = weights.iter().sum();
    let mut x = (h >> shift) % total.max(1);
    for (o, w) in options.iter().zip(weights) {
        if x < *w {
            return o;
        }
        x -= w;
    }
    options.first().copied().unwrap_or_default()
}

/// `+<country code> <rest>`, a rough version of the example's `+86 xxx 24`.
fn display(number: &str) -> String {
    let cc_len = if number.starts_with('1') || number.starts_with('7') {
        1
    } else {
        2
    };
    let split = cc_len.min(number.len());
    match (number.get(..split), number.get(split..)) {
        (Some(cc), Some(rest)) => format!("+{cc} {rest}"),
        _ => format!("+{number}"),
    }
}

/// The profile of a business number, derived from (seed, appkey, number).
pub fn business_phone(seed: u64, appkey: &str, number: &str) -> BusinessPhone {
    let h = hash64(seed, &format!("nxcloud/{appkey}"), number);
    const NAMES: [&str; 6] = [
        "GLORY JACK",
        "Glory HK",
        "Acme Support",
        "Blue Harbor",
        "Nimbus Store",
        "Orchid Care",
    ];
    BusinessPhone {
        display_phone_number: display(number),
        quality_rating: pick(h, 0, &["GREEN", "YELLOW", "RED"], &[70, 20, 10]).to_owned(),
        verified_name: NAMES[((h >> 8) % NAMES.len() as u64) as usize].to_owned(),
        name_status: pick(
            h,
            16,
            &["APPROVED", "PENDING_REVIEW", "DECLINED"],
            &[80, 15, 5],
        )
        .to_owned(),
        status: pick(h, 24, &["CONNECTED", "FLAGGED", "RESTRICTED"], &[85, 10, 5]).to_owned(),
        current_limit: pick(
            h,
            32,
            &["", "TIER_1K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"],
            &[30, 30, 20, 15, 5],
        )
        .to_owned(),
        code_verification_status: pick(
            h,
            40,
            &["VERIFIED", "NOT_VERIFIED", "EXPIRED"],
            &[60, 30, 10],
        )
        .to_owned(),
    }
}

/// The numbers bound to an appkey: the configured list, or three derived from the seed.
pub fn bound_numbers(config: &NxCloudConfig, seed: u64, appkey: &str) -> Option<Vec<String>> {
    let listed = config.appkeys.get(appkey)?;
    if !listed.is_empty() {
        return Some(listed.clone());
    }
    const PREFIXES: [&str; 4] = ["86138", "1415", "85261", "6591"];
    Some(
        (0..3u64)
            .map(|i| {
                let h = hash64(seed, &format!("nxcloud-number/{appkey}"), &i.to_string());
                let prefix = PREFIXES[(h % PREFIXES.len() as u64) as usize];
                let rest_len = 12usize.saturating_sub(prefix.len());
                let rest = format!(
                    "{:0width$}",
                    (h >> 8) % 10u64.pow(rest_len as u32),
                    width = rest_len
                );
                format!("{prefix}{rest}")
            })
            .collect(),
    )
}

fn normalise(number: &str) -> String {
    number.trim().trim_start_matches('+').replace(' ', "")
}

/// Checks the signed headers; the error is (code, message).
fn authenticate(state: &SimState, req: &HttpRequest, body: &[u8]) -> Result<(), (i32, String)> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let mut values = Vec::with_capacity(SIGNED_HEADERS.len());
    for name in SIGNED_HEADERS {
        let v = header(name).ok_or_else(|| (1000, format!("missing header {name}")))?;
        values.push((name, v));
    }
    let given_sign = header("sign").ok_or_else(|| (1000, "missing header sign".to_owned()))?;
    let cfg = &state.config.nxcloud;
    let access_key = values[0].1;
    let secret = cfg
        .access_keys
        .get(access_key)
        .ok_or_else(|| (1001, "unknown accessKey".to_owned()))?;
    let ts: i64 = values[1]
        .1
        .parse()
        .map_err(|_| (1002, "ts must be milliseconds since the epoch".to_owned()))?;
    let skew = (Utc::now().timestamp_millis() - ts).unsigned_abs();
    if skew > cfg.ts_window_ms {
        return Err((1002, "ts is outside the allowed window".to_owned()));
    }
    if values[2].1 != "2" || values[3].1 != "getPhone" {
        return Err((1003, "bizType must be 2 and action getPhone".to_owned()));
    }
    if sign(&values, body, secret) != given_sign {
        return Err((1004, "sign does not match".to_owned()));
    }
    Ok(())
}

/// Body Parameters: three strings.
const BODY: &[Field] = &[
    field("appkey", Ty::Str),
    field("business_phones", Ty::Str),
    field("messaging_product", Ty::Str),
];

pub async fn get_phone(
    state: web::Data<SimState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Err((code, message)) = authenticate(&state, &req, &body) {
        return failure(code, message);
    }
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(&body) else {
        return failure(9000, "body must be a JSON object");
    };
    if let Err(message) = contract::check(&v, BODY) {
        return failure(9000, message);
    }
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let Some(appkey) = field("appkey") else {
        return failure(9000, "missing parameter appkey");
    };
    match field("messaging_product") {
        None => return failure(9000, "missing parameter messaging_product"),
        Some(p) if p != "whatsapp" => return failure(9000, "messaging_product must be whatsapp"),
        Some(_) => {}
    }
    let Some(bound) = bound_numbers(&state.config.nxcloud, state.config.seed, appkey) else {
        return failure(9001, "appkey not found");
    };
    let wanted: Vec<String> = match field("business_phones") {
        None => bound.clone(),
        Some(list) => list
            .split(',')
            .map(normalise)
            .filter(|n| !n.is_empty())
            .collect(),
    };
    let mut data = BTreeMap::new();
    for n in wanted {
        match bound.iter().find(|b| normalise(b) == n) {
            None => return failure(9006, format!("{n} is not bound to the application")),
            Some(b) => {
                data.insert(
                    b.clone(),
                    vec![business_phone(state.config.seed, appkey, b)],
                );
            }
        }
    }
    match serde_json::to_value(data) {
        Ok(data) => answer(0, "Request successful", data),
        Err(_) => failure(-1, "Request failed"),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/wa/getPhone", web::post().to(get_phone));
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: [(&str, &str); 4] = [
        ("ts", "1655710885431"),
        ("accessKey", "fme2na3kdi3ki"),
        ("action", "getPhone"),
        ("bizType", "2"),
    ];
    const BODY: &str = r#"{"appkey":"jh42xxxd434","business_phones":"185xxx99,861xxx24","messaging_product":"whatsapp"}"#;

    #[test]
    fn published_test_vector_with_body() {
        let s = string_to_sign(&HEADERS, BODY.as_bytes(), "s3cr3t");
        assert_eq!(
            String::from_utf8_lossy(&s),
            format!(
                "accessKey=fme2na3kdi3ki&action=getPhone&bizType=2&ts=1655710885431&body={BODY}&accessSecret=s3cr3t"
            )
        );
        assert_eq!(
            sign(&HEADERS, BODY.as_bytes(), "s3cr3t"),
            "e17ff20c181caf3d2060b4838975e9f7"
        );
    }

    #[test]
    fn published_test_vector_without_body() {
        assert_eq!(
            sign(&HEADERS, b"", "s3cr3t"),
            "017d605d011056ea80ad45b4bf96adc3"
        );
    }

    #[test]
    fn derived_numbers_are_stable_per_seed() {
        let cfg = NxCloudConfig::default();
        let a = bound_numbers(&cfg, 7, crate::config::dev::NXCLOUD_APPKEY).unwrap_or_default();
        assert_eq!(a.len(), 3);
        assert_eq!(
            Some(a),
            bound_numbers(&cfg, 7, crate::config::dev::NXCLOUD_APPKEY)
        );
        assert!(bound_numbers(&cfg, 7, "unknown").is_none());
    }

    #[test]
    fn display_splits_the_country_code() {
        assert_eq!(display("8613800000000"), "+86 13800000000");
        assert_eq!(display("14155550123"), "+1 4155550123");
    }
}
