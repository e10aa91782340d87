//! The request tables of the vendor documents, enforced as a strict vendor would: a field the table
//! does not list is refused, and so is a value of another JSON type than the table's (a string
//! where it says int, a number where it says String). Null reads as absent. Each vendor answers a
//! refusal in its own error shape; this module only says what is wrong.
//!
//! Where a document's own request example sends another type than its table, the example's type is
//! accepted too ([`Ty::IntOrNumericString`]): the document allows both.

use serde_json::{Map, Value};

/// A table's `Type` column.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// `int`, `Integer`, `Long`: a JSON integer.
    Int,
    /// An int the table declares that the document's example writes as a string (`"type": "1"`).
    IntOrNumericString,
    /// `String`: a JSON string.
    Str,
    /// `boolean`: `true` / `false`.
    Bool,
    /// `List` / `array` of strings.
    StrList,
    /// `List` of objects with these fields.
    ObjList(&'static [Field]),
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Int => "an int",
            Ty::IntOrNumericString => "an int",
            Ty::Str => "a string",
            Ty::Bool => "a boolean",
            Ty::StrList => "a list of strings",
            Ty::ObjList(_) => "a list of objects",
        }
    }

    fn admits(self, v: &Value) -> bool {
        let int = |v: &Value| v.is_i64() || v.is_u64();
        match self {
            Ty::Int => int(v),
            Ty::IntOrNumericString => {
                int(v) || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok())
            }
            Ty::Str => v.is_string(),
            Ty::Bool => v.is_boolean(),
            Ty::StrList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Ty::ObjList(_) => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        }
    }
}

/// One row of a request table.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
}

pub const fn field(name: &'static str, ty: Ty) -> Field {
    Field { name, ty }
}

/// `Ok` when `obj` uses only the fields of `table`, each with its type; else what is wrong.
pub fn check(obj: &Map<String, Value>, table: &[Field]) -> Result<(), String> {
    check_in(obj, table, "")
}

fn check_in(obj: &Map<String, Value>, table: &[Field], ctx: &str) -> Result<(), String> {
    for (key, value) in obj {
        let Some(f) = table.iter().find(|f| f.name == key) else {
            return Err(format!("{ctx}{key} is not a parameter of this API"));
        };
        if value.is_null() {
            continue;
        }
        if !f.ty.admits(value) {
            return Err(format!(
                "{ctx}{key} must be {}, got {}",
                f.ty.name(),
                kind(value)
            ));
        }
        if let (Ty::ObjList(inner), Value::Array(items)) = (f.ty, value) {
            for (i, item) in items.iter().enumerate() {
                if let Some(o) = item.as_object() {
                    check_in(o, inner, &format!("{ctx}{key}[{i}]."))?;
                }
            }
        }
    }
    Ok(())
}

/// Query parameters: each must be one of `names` (their values are strings by nature).
pub fn check_query(query: &str, names: &[&str]) -> Result<(), String> {
    for (key, _) in url_pairs(query) {
        if !names.contains(&key.as_str()) {
            return Err(format!("{key} is not a parameter of this API"));
        }
    }
    Ok(())
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ITEM: &[Field] = &[field("id", Ty::Str), field("type", Ty::IntOrNumericString)];
    const TABLE: &[Field] = &[
        field("n", Ty::Int),
        field("s", Ty::Str),
        field("b", Ty::Bool),
        field("l", Ty::StrList),
        field("items", Ty::ObjList(ITEM)),
    ];

    fn run(v: Value) -> Result<(), String> {
        check(v.as_object().expect("object"), TABLE)
    }

    #[test]
    fn the_table_types_pass_and_others_are_refused() {
        assert_eq!(
            run(
                json!({"n": 1, "s": "x", "b": false, "l": ["a"], "items": [{"id": "a", "type": 1}]})
            ),
            Ok(())
        );
        assert_eq!(run(json!({"n": null, "items": [{"type": "1"}]})), Ok(()));
        assert!(run(json!({"n": "1"})).is_err_and(|e| e.contains("n must be an int")));
        assert!(run(json!({"n": 1.5})).is_err());
        assert!(run(json!({"s": 861})).is_err_and(|e| e.contains("s must be a string")));
        assert!(run(json!({"b": "true"})).is_err());
        assert!(run(json!({"l": [861]})).is_err());
        assert!(run(json!({"items": [{"id": 1}]})).is_err_and(|e| e.starts_with("items[0].id")));
        assert!(run(json!({"items": [{"type": "x"}]})).is_err());
        assert!(run(json!({"extra": 1})).is_err_and(|e| e.contains("extra is not a parameter")));
        assert!(run(json!({"items": [{"extra": 1}]})).is_err());
    }

    #[test]
    fn query_parameters() {
        assert_eq!(check_query("id=1", &["id"]), Ok(()));
        assert_eq!(check_query("", &[]), Ok(()));
        assert!(check_query("id=1&x=2", &["id"]).is_err());
    }
}
