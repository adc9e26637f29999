//! `SHOW CONFIG`: the configuration in force, one row per leaf key, secrets redacted.

use serde_json::Value;

use super::super::{Context, ResultSet};

/// Keys whose values are never shown.
const SECRETS: &[&str] = &["password", "scram_verifier", "backend_password"];

/// One row per leaf key (`pool.max_connections`, `users[0].name`), in the configuration's order.
pub fn show(ctx: &Context) -> ResultSet {
    let config = ctx.config();
    let mut r = ResultSet::new(&["key", "value"]);
    let value = serde_json::to_value(&*config).unwrap_or(Value::Null);
    flatten("", &value, &mut r);
    r
}

fn flatten(prefix: &str, value: &Value, out: &mut ResultSet) {
    let leaf = prefix.rsplit(['.', ']']).next().unwrap_or(prefix);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        _ if SECRETS.contains(&leaf) && !value.is_null() => out.push_text([prefix, "<redacted>"]),
        Value::String(s) if prefix == "store.url" => out.push_text([prefix.to_string(), crate::store::redact(s)]),
        Value::String(s) => out.push_text([prefix, s.as_str()]),
        Value::Null => out.push(vec![Some(prefix.to_string()), None]),
        v => out.push_text([prefix.to_string(), v.to_string()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_nesting_is_flattened() {
        let v = serde_json::json!({
            "admin": {"user": "admin", "password": "s3cret"},
            "users": [{"name": "app", "password": "pw", "backend_password": null}],
            "routing": {"analytics_tables": ["a", "b"]},
            "store": {"url": "postgres://u:pw@h/db"}
        });
        let mut r = ResultSet::new(&["key", "value"]);
        flatten("", &v, &mut r);
        let at = |key: &str| {
            let row = r.rows.iter().find(|row| row[0].as_deref() == Some(key)).unwrap_or_else(|| panic!("{key}"));
            row[1].clone()
        };
        assert_eq!(at("admin.user").as_deref(), Some("admin"));
        assert_eq!(at("admin.password").as_deref(), Some("<redacted>"));
        assert_eq!(at("routing.analytics_tables").as_deref(), Some("[\"a\",\"b\"]"));
        assert_eq!(at("store.url").as_deref(), Some("postgres://u:***@h/db"));
        assert_eq!(at("users[0].backend_password"), None);
        assert_eq!(at("users[0].password").as_deref(), Some("<redacted>"));
        assert_eq!(r.rows.len(), 7);
        assert!(!format!("{r:?}").contains("s3cret"));
    }
}
