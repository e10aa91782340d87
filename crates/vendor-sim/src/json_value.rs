//! Tolerant reading of JSON values whose type drifts between a document's table and its example.

use serde_json::Value;

/// An integer sent as a JSON number or as a numeric string (`1` or `"1"`).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string sent as a JSON string or as a JSON number (`"912345678"` or `912345678`).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_ints_and_numeric_strings() {
        assert_eq!(int(&json!(1)), Some(1));
        assert_eq!(int(&json!(" 2")), Some(2));
        assert_eq!(int(&json!("x")), None);
        assert_eq!(int(&json!(1.5)), None);
        assert_eq!(text(&json!(912345678)).as_deref(), Some("912345678"));
        assert_eq!(text(&json!(null)), None);
    }
}
