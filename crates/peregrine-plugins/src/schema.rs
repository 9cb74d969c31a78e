//! Validation of `init_config` against the JSON schema a plugin provides, before the plugin
//! sees it (Falco validates with a full JSON Schema library). This covers the keywords plugin
//! schemas use — `type` (one or a list), `properties`, `required`, `additionalProperties`,
//! `enum`, `items`, `minimum`/`maximum`, local `$ref`s to `definitions`/`$defs` — and accepts
//! what it does not know, so a valid configuration is never refused; the plugin's own parse
//! remains the last word, as in Falco.

use serde_json::Value;

/// How deep `$ref`s and nesting are followed (a schema is plugin data: no cycles trusted).
const MAX_DEPTH: usize = 32;

/// Checks `config` (JSON text) against `schema` (JSON text); the error says where and why.
pub fn validate(schema: &str, config: &str) -> Result<(), String> {
    let schema: Value = serde_json::from_str(schema)
        .map_err(|e| format!("the plugin's init schema is not JSON: {e}"))?;
    let config: Value =
        serde_json::from_str(config).map_err(|e| format!("init_config is not valid JSON: {e}"))?;
    check(&schema, &schema, &config, "init_config", 0)
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => true,
    }
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Value::Object(s) = schema else {
        return Ok(());
    };
    if let Some(Value::String(r)) = s.get("$ref") {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').try_fold(root, |node, key| node.get(key)));
        if let Some(Some(target)) = target {
            check(root, target, v, at, depth + 1)?;
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            return Err(format!("{at}: expected {t}, found {}", kind(v)));
        }
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            if !names.is_empty() && !names.iter().any(|t| type_matches(t, v)) {
                return Err(format!(
                    "{at}: expected {}, found {}",
                    names.join(" or "),
                    kind(v)
                ));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(allowed)) = s.get("enum") {
        if !allowed.contains(v) {
            return Err(format!("{at}: {v} is not one of the allowed values"));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{at}: {v} is less than the minimum {min}"));
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{at}: {v} is more than the maximum {max}"));
            }
        }
    }
    if let Value::Object(obj) = v {
        if let Some(Value::Array(req)) = s.get("required") {
            for k in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(k) {
                    return Err(format!("{at}: the required property '{k}' is missing"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            let here = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(root, sub, val, &here, depth + 1)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{here}: unknown property"));
                    }
                    Some(sub @ Value::Object(_)) => check(root, sub, val, &here, depth + 1)?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(sub)) = (v, s.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(root, sub, item, &format!("{at}[{i}]"), depth + 1)?;
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    const SCHEMA: &str = r##"{"type":"object","properties":{
        "batch":{"type":["integer","null"],"minimum":0},
        "mode":{"$ref":"#/$defs/mode"}},
        "required":["batch"],"additionalProperties":false,
        "$defs":{"mode":{"enum":["a","b"]}}}"##;

    #[test]
    fn accepts_what_the_schema_allows() {
        validate(SCHEMA, r#"{"batch":3}"#).unwrap();
        validate(SCHEMA, r#"{"batch":null,"mode":"b"}"#).unwrap();
    }

    #[test]
    fn refuses_with_the_key_path() {
        let e = |c| validate(SCHEMA, c).unwrap_err();
        assert_eq!(
            e(r#"{"batch":"x"}"#),
            "init_config.batch: expected integer or null, found a string"
        );
        assert_eq!(
            e(r#"{"batch":-1}"#),
            "init_config.batch: -1 is less than the minimum 0"
        );
        assert_eq!(e(r#"{"batch":1,"x":1}"#), "init_config.x: unknown property");
        assert_eq!(
            e(r#"{}"#),
            "init_config: the required property 'batch' is missing"
        );
        assert_eq!(
            e(r#"{"batch":1,"mode":"c"}"#),
            "init_config.mode: \"c\" is not one of the allowed values"
        );
        assert!(e("{").starts_with("init_config is not valid JSON"));
    }
}
