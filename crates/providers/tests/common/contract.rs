//! Wire-contract checks: a request the adapter sent, captured by wiremock, against the parameter
//! table of the vendor's document as transcribed in each test (name, JSON type, required, format).
//! A field the table does not list is a failure, like a missing required field or a wrong type.

use serde_json::{Map, Value};
use wiremock::Request;

/// The JSON type a table's `Type` column asks for.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// `int`, `Integer`, `Long`: a JSON integer (never a numeric string).
    Int,
    /// `String`: a JSON string (never a number).
    Str,
    /// `boolean`: a JSON boolean.
    Bool,
    /// `List` / `array` of strings.
    StrList,
    /// `List` of objects, each with these fields.
    ObjList(&'static [Field]),
}

/// A format the document gives for a value, by example or remark.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    Any,
    /// Non-empty.
    NonEmpty,
    /// Digits only (phone numbers with country code, national numbers, codes).
    Digits,
    /// A number with country code as the examples write it: 6 to 15 digits, no `+`.
    IntlDigits,
    /// One of these integers.
    OneOf(&'static [i64]),
    /// One of these strings.
    OneOfStr(&'static [&'static str]),
    /// A positive integer.
    Positive,
    /// `+` and 1 to 4 digits (`+86`).
    CallingCode,
    /// Two upper-case letters (`CN`).
    Iso2,
    /// `ip:port` or `ip:port:user:pass`, no scheme (document 001's `ipConfig`).
    IpConfig,
    /// An absolute `http(s)` URL.
    Url,
    /// Only digits, separated by commas (NxCloud `business_phones`).
    DigitList,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub format: Format,
}

pub const fn req(name: &'static str, ty: Ty, format: Format) -> Field {
    Field {
        name,
        ty,
        required: true,
        format,
    }
}

pub const fn opt(name: &'static str, ty: Ty, format: Format) -> Field {
    Field {
        name,
        ty,
        required: false,
        format,
    }
}

fn format_ok(format: Format, v: &Value) -> bool {
    let s = v.as_str();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match format {
        Format::Any => true,
        Format::NonEmpty => s.is_none_or(|s| !s.is_empty()),
        Format::Digits => s.is_some_and(digits),
        Format::IntlDigits => {
            s.is_some_and(|s| digits(s) && (6..=15).contains(&s.len()) && !s.starts_with('0'))
        }
        Format::OneOf(allowed) => v.as_i64().is_some_and(|i| allowed.contains(&i)),
        Format::OneOfStr(allowed) => s.is_some_and(|s| allowed.contains(&s)),
        Format::Positive => v.as_i64().is_some_and(|i| i > 0),
        Format::CallingCode => s.is_some_and(|s| {
            s.strip_prefix('+')
                .is_some_and(|d| digits(d) && d.len() <= 4)
        }),
        Format::Iso2 => {
            s.is_some_and(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()))
        }
        Format::IpConfig => s.is_some_and(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            !s.contains("://")
                && matches!(parts.len(), 2 | 4)
                && parts.iter().all(|p| !p.is_empty())
                && parts[1].parse::<u16>().is_ok()
        }),
        Format::Url => s.is_some_and(|s| s.starts_with("https://") || s.starts_with("http://")),
        Format::DigitList => s.is_some_and(|s| s.split(',').all(digits)),
    }
}

fn type_ok(ty: Ty, v: &Value) -> bool {
    match ty {
        Ty::Int => v.is_i64() || v.is_u64(),
        Ty::Str => v.is_string(),
        Ty::Bool => v.is_boolean(),
        Ty::StrList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Ty::ObjList(_) => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
    }
}

/// Every difference between `obj` and the table `fields`, with `ctx` before field names.
pub fn problems(obj: &Map<String, Value>, fields: &[Field], ctx: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in obj.keys() {
        if !fields.iter().any(|f| f.name == key) {
            out.push(format!("{ctx}{key}: not in the document's table"));
        }
    }
    for f in fields {
        let name = format!("{ctx}{}", f.name);
        match obj.get(f.name) {
            None | Some(Value::Null) if f.required => {
                out.push(format!("{name}: required, missing"))
            }
            None | Some(Value::Null) => {}
            Some(v) if !type_ok(f.ty, v) => {
                out.push(format!("{name}: {v} is not of type {:?}", f.ty));
            }
            Some(v) => {
                let items: Vec<&Value> = match (f.ty, v) {
                    (Ty::StrList, Value::Array(a)) => a.iter().collect(),
                    _ => vec![v],
                };
                for item in items {
                    if !format_ok(f.format, item) {
                        out.push(format!(
                            "{name}: {item} does not have the format {:?}",
                            f.format
                        ));
                    }
                }
                if let (Ty::ObjList(inner), Value::Array(a)) = (f.ty, v) {
                    for (i, item) in a.iter().enumerate() {
                        if let Some(o) = item.as_object() {
                            out.extend(problems(o, inner, &format!("{name}[{i}].")));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Asserts that `value` is an object matching the table `fields` exactly.
pub fn assert_fields(value: &Value, fields: &[Field], what: &str) {
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {value} is not a JSON object"));
    let found = problems(obj, fields, "");
    assert!(
        found.is_empty(),
        "{what} sent {value}:\n  {}",
        found.join("\n  ")
    );
}

/// The requests received on `path`.
pub fn on_path<'a>(requests: &'a [Request], path: &str) -> Vec<&'a Request> {
    requests.iter().filter(|r| r.url.path() == path).collect()
}

/// The one request received on `path`.
pub fn only<'a>(requests: &'a [Request], path: &str) -> &'a Request {
    let hits = on_path(requests, path);
    assert_eq!(hits.len(), 1, "requests to {path}: {requests:?}");
    hits[0]
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Asserts a JSON POST whose body matches the table `fields` and that carries no query string.
pub fn assert_json_post(req: &Request, fields: &[Field], what: &str) {
    assert_eq!(req.method.as_str(), "POST", "{what}");
    assert_eq!(
        req.url.query(),
        None,
        "{what}: no query parameters are documented"
    );
    assert!(
        header(req, "content-type").is_some_and(|c| c.starts_with("application/json")),
        "{what}: Content-Type {:?}",
        header(req, "content-type")
    );
    let body: Value = serde_json::from_slice(&req.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e})"));
    assert_fields(&body, fields, what);
}

/// Asserts a request without a body whose query parameters match the table `fields` (all strings).
pub fn assert_bodyless(req: &Request, method: &str, query: &[Field], what: &str) {
    assert_eq!(req.method.as_str(), method, "{what}");
    assert!(
        req.body.is_empty(),
        "{what}: no body is documented, sent {:?}",
        req.body
    );
    let params: Map<String, Value> = req
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let found = problems(&params, query, "?");
    assert!(
        found.is_empty(),
        "{what} sent {}:\n  {}",
        req.url,
        found.join("\n  ")
    );
}
