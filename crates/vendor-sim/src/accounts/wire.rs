//! The vendor envelope, the error codes the simulator answers with, the document's request tables
//! enforced on every body ([`checked`]), and reading of the fields once they passed.

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use crate::contract::{self, Field};

/// Bad input: unreadable JSON, a missing field, a field of the wrong type or an invalid value.
pub const CODE_BAD_REQUEST: i64 = 400;
/// The named account, registration, scan task or session is unknown.
pub const CODE_NOT_FOUND: i64 = 404;
/// The move is not possible in the current state (banned account, session not logged in, ...).
pub const CODE_CONFLICT: i64 = 409;
/// QR error 1001 of the document: the tenant's cloud-port quota is used up.
pub const CODE_QUOTA: i64 = 1001;
/// QR error 1002: the port of this id does not exist or was released.
pub const CODE_PORT_GONE: i64 = 1002;
/// QR error 1003: unsupported `type`.
pub const CODE_UNSUPPORTED_TYPE: i64 = 1003;
/// QR error 1004: no (known) pairing target.
pub const CODE_NO_PAIR_TARGET: i64 = 1004;

/// Success message of the `/group-dispatch-api/whatsapp` and `/register` examples.
pub const MSG_LOWER: &str = "success";
/// Success message of every other example.
pub const MSG_UPPER: &str = "Success";

/// A vendor error: `{"code": code, "message": message, "data": null}` with HTTP 200, as the vendor
/// reports business errors in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i64,
    pub message: String,
}

impl ApiError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(CODE_BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(CODE_NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(CODE_CONFLICT, message)
    }
    pub fn port_gone() -> Self {
        Self::new(
            CODE_PORT_GONE,
            "Current port does not exist or has been released",
        )
    }
}

pub type ApiResult = Result<Value, ApiError>;

pub fn ok(data: Value, message: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({"code": 200, "message": message, "data": data}))
}

pub fn fail(e: &ApiError) -> HttpResponse {
    HttpResponse::Ok().json(json!({"code": e.code, "message": e.message, "data": null}))
}

pub fn reply(r: ApiResult, message: &str) -> HttpResponse {
    match r {
        Ok(data) => ok(data, message),
        Err(e) => fail(&e),
    }
}

/// The request body as a JSON object; an empty body reads as `{}` so that the field checks report
/// what is missing.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// The request body as a JSON object that uses only the fields of the document's `table`, each
/// with the table's JSON type (see [`crate::contract`]).
pub fn checked(body: &[u8], table: &[Field]) -> Result<Map<String, Value>, ApiError> {
    let map = object(body)?;
    contract::check(&map, table).map_err(ApiError::bad)?;
    Ok(map)
}

/// Query parameters other than `names` are refused, like undocumented body fields.
pub fn checked_query(query: &str, names: &[&str]) -> Result<(), ApiError> {
    contract::check_query(query, names).map_err(ApiError::bad)
}

/// Field access on one JSON object; `ctx` prefixes field names in messages (`data[2].`).
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    ctx: &'a str,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map, ctx: "" }
    }

    pub fn with_ctx(map: &'a Map<String, Value>, ctx: &'a str) -> Self {
        Self { map, ctx }
    }

    /// The first of `names` that is present and not null (blank-named fields have two spellings).
    pub fn raw(&self, names: &[&str]) -> Option<&'a Value> {
        names
            .iter()
            .find_map(|n| self.map.get(*n).filter(|v| !v.is_null()))
    }

    fn name(&self, names: &[&str]) -> String {
        format!("{}{}", self.ctx, names.first().copied().unwrap_or_default())
    }

    /// A string, also accepted as a JSON number (phone numbers sometimes arrive unquoted).
    pub fn text_opt(&self, names: &[&str]) -> Result<Option<String>, ApiError> {
        match self.raw(names) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::bad(format!(
                "{} must be a string",
                self.name(names)
            ))),
        }
    }

    /// A string that must be present and not blank.
    pub fn text_req(&self, names: &[&str]) -> Result<String, ApiError> {
        match self.text_opt(names)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::bad(format!("{} is required", self.name(names)))),
        }
    }

    /// An integer sent as a number or a numeric string (`1` or `"1"`); a blank string is absent.
    pub fn int_opt(&self, names: &[&str]) -> Result<Option<i64>, ApiError> {
        let bad = || ApiError::bad(format!("{} must be an integer", self.name(names)));
        match self.raw(names) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    pub fn int_req(&self, names: &[&str]) -> Result<i64, ApiError> {
        self.int_opt(names)?
            .ok_or_else(|| ApiError::bad(format!("{} is required", self.name(names))))
    }

    /// A boolean sent as `true`/`false`, `"true"`/`"false"` or `1`/`0`.
    pub fn bool_opt(&self, names: &[&str]) -> Result<Option<bool>, ApiError> {
        let bad = || ApiError::bad(format!("{} must be a boolean", self.name(names)));
        match self.raw(names) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(bad()),
            },
            Some(Value::Number(n)) => match n.as_i64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    pub fn list_opt(&self, names: &[&str]) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.raw(names) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::bad(format!(
                "{} must be a list",
                self.name(names)
            ))),
        }
    }

    pub fn list_req(&self, names: &[&str]) -> Result<&'a Vec<Value>, ApiError> {
        self.list_opt(names)?
            .ok_or_else(|| ApiError::bad(format!("{} is required", self.name(names))))
    }
}

/// A WhatsApp number: digits only (a leading `+` is dropped), 5 to 20 of them.
pub fn phone(value: &str, field: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let v = v.strip_prefix('+').unwrap_or(v);
    if (5..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.to_owned())
    } else {
        Err(ApiError::bad(format!(
            "{field} must be a phone number of 5 to 20 digits"
        )))
    }
}

/// A list of phone numbers given as strings or numbers.
pub fn phone_list(items: &[Value], field: &str) -> Result<Vec<String>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let name = format!("{field}[{i}]");
            match v {
                Value::String(s) => phone(s, &name),
                Value::Number(n) => phone(&n.to_string(), &name),
                _ => Err(ApiError::bad(format!("{name} must be a phone number"))),
            }
        })
        .collect()
}

/// `ipConfig` is a SOCKS5 proxy written `ip:port` or `ip:port:user:pass`, as the document's example
/// shows, without a scheme (the vendor only speaks SOCKS5; `socks5://...` is refused like any other
/// scheme). The parts are not checked further: the example itself is the placeholder
/// `ip:port:user:pass`, and the simulator never connects anywhere.
pub fn ip_config(value: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = value.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if raw.contains("://") {
        return Err(ApiError::bad(
            "ipConfig must be ip:port or ip:port:user:pass, without a scheme (only SOCKS5 is supported)",
        ));
    }
    let parts: Vec<&str> = raw.split(':').collect();
    if (parts.len() == 2 || parts.len() == 4) && parts.iter().all(|p| !p.is_empty()) {
        Ok(Some(raw))
    } else {
        Err(ApiError::bad(
            "ipConfig must be ip:port or ip:port:user:pass",
        ))
    }
}

/// The `data` list items of a request as objects.
pub fn objects<'a>(
    items: &'a [Value],
    field: &str,
) -> Result<Vec<&'a Map<String, Value>>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_object()
                .ok_or_else(|| ApiError::bad(format!("{field}[{i}] must be an object")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn reads_drifting_types() {
        let m = map(
            json!({"a": 1, "b": "2", "c": "x", "t": "true", "f": false, "n": 0, "s": "", "p": 8613}),
        );
        let f = Fields::new(&m);
        assert_eq!(f.int_req(&["a"]), Ok(1));
        assert_eq!(f.int_req(&["b"]), Ok(2));
        assert_eq!(f.int_req(&["c"]).map_err(|e| e.code), Err(CODE_BAD_REQUEST));
        assert_eq!(f.int_opt(&["s"]), Ok(None));
        assert_eq!(f.bool_opt(&["t"]), Ok(Some(true)));
        assert_eq!(f.bool_opt(&["f"]), Ok(Some(false)));
        assert_eq!(f.bool_opt(&["n"]), Ok(Some(false)));
        assert_eq!(f.text_req(&["p"]).as_deref(), Ok("8613"));
        assert!(f.text_req(&["s"]).is_err());
        assert_eq!(f.text_req(&["zz", "p"]).as_deref(), Ok("8613"));
    }

    #[test]
    fn bodies() {
        assert!(object(b"").is_ok_and(|m| m.is_empty()));
        assert_eq!(object(b"[1]").map_err(|e| e.code), Err(CODE_BAD_REQUEST));
        assert_eq!(object(b"{").map_err(|e| e.code), Err(CODE_BAD_REQUEST));
    }

    #[test]
    fn phones_and_proxies() {
        assert_eq!(phone("+8613633800088", "x").as_deref(), Ok("8613633800088"));
        assert!(phone("86-136", "x").is_err());
        assert!(ip_config(Some("ip:port:user:pass".into())).is_ok());
        assert!(ip_config(Some("1.2.3.4".into())).is_err());
        assert!(ip_config(Some("1.2.3.4::u:p".into())).is_err());
        assert!(ip_config(Some("1.2.3.4:1080:u:p".into())).is_ok_and(|v| v.is_some()));
        assert!(ip_config(Some("socks5://1.2.3.4:1080".into())).is_err());
        assert!(ip_config(Some("SOCKS5://1.2.3.4:1080:u:p".into())).is_err());
        assert!(ip_config(Some("http://1.2.3.4:1080".into())).is_err());
        assert_eq!(ip_config(None), Ok(None));
    }
}
