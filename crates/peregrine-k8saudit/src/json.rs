//! A JSON value that keeps object keys in input order and numbers as the parser read them.
//!
//! The k8saudit plugin renders objects as compact JSON with keys in input order
//! (`ka.req.configmap.obj`, `ka.req.binding.subjects`, `jevt.value[...]`); serde_json's own
//! `Value` sorts keys unless the workspace-wide `preserve_order` feature is on, which would
//! change every other crate's JSON. Objects are short vectors: audit objects have a handful
//! of keys, where a linear scan beats hashing.

use peregrine_filter::format::write_json_string;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write};

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows object keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Json> {
        keys.iter().try_fold(self, |v, k| v.get(k))
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The plugin's rendering of a value: a string raw, anything else as compact JSON.
    pub fn render(&self, out: &mut String) {
        match self {
            Json::Str(s) => out.push_str(s),
            other => other.write_compact(out),
        }
    }

    pub fn rendered(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }

    /// Compact JSON (no spaces), keys in input order.
    pub fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => write_json_string(s, out),
            Json::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_compact(out);
                }
                out.push(']');
            }
            Json::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// Indented with two spaces, as Go's `json.Indent` lays out the json plugin's `json.obj`.
    pub fn write_pretty(&self, out: &mut String, depth: usize) {
        let indent = |out: &mut String, d: usize| {
            out.push('\n');
            out.extend(std::iter::repeat_n("  ", d));
        };
        match self {
            Json::Arr(a) if !a.is_empty() => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    v.write_pretty(out, depth + 1);
                }
                indent(out, depth);
                out.push(']');
            }
            Json::Obj(m) if !m.is_empty() => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    write_json_string(k, out);
                    out.push_str(": ");
                    v.write_pretty(out, depth + 1);
                }
                indent(out, depth);
                out.push('}');
            }
            other => other.write_compact(out),
        }
    }

    /// RFC 6901 pointer lookup as the json plugin does it: the leading `/` is optional,
    /// `~1` is `/` and `~0` is `~`, array elements by decimal index; `""` is the document.
    pub fn pointer(&self, ptr: &str) -> Option<&Json> {
        let ptr = ptr.strip_prefix('/').unwrap_or(ptr);
        if ptr.is_empty() {
            return Some(self);
        }
        let mut cur = self;
        for seg in ptr.split('/') {
            let seg = seg.replace("~1", "/").replace("~0", "~");
            cur = match cur {
                Json::Obj(_) => cur.get(&seg)?,
                Json::Arr(a) => {
                    let ok = !seg.is_empty()
                        && seg.bytes().all(|b| b.is_ascii_digit())
                        && !(seg.len() > 1 && seg.starts_with('0'));
                    if !ok {
                        return None;
                    }
                    a.get(seg.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Num))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        // Every member is kept, a repeated key included, as fastjson keeps them: lookups find
        // the first (fastjson's Get) and rendering writes them all (its MarshalTo).
        let mut m: Vec<(String, Json)> = Vec::with_capacity(8);
        while let Some(entry) = map.next_entry::<String, Json>()? {
            m.push(entry);
        }
        Ok(Json::Obj(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Json {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn compact_keeps_key_order_and_numbers() {
        let j = parse(r#"{ "b": 1, "a": [true, null, 2.5, "x\"y"], "c": {} }"#);
        let mut s = String::new();
        j.write_compact(&mut s);
        assert_eq!(s, r#"{"b":1,"a":[true,null,2.5,"x\"y"],"c":{}}"#);
    }

    #[test]
    fn pretty_is_go_indent() {
        let j = parse(r#"{"a":[1,2],"b":{},"c":"d"}"#);
        let mut s = String::new();
        j.write_pretty(&mut s, 0);
        assert_eq!(
            s,
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": \"d\"\n}"
        );
    }

    #[test]
    fn pointers() {
        let j = parse(r#"{"a/b":{"~c":[10,{"d":"e"}]}}"#);
        assert_eq!(j.pointer("/a~1b/~0c/1/d"), Some(&Json::Str("e".into())));
        assert_eq!(
            j.pointer("a~1b/~0c/0").map(Json::rendered).as_deref(),
            Some("10")
        );
        assert_eq!(j.pointer("/a~1b/~0c/01"), None);
        assert_eq!(j.pointer("/a~1b/~0c/2"), None);
        assert_eq!(
            j.pointer("").map(Json::rendered).as_deref(),
            Some(r#"{"a/b":{"~c":[10,{"d":"e"}]}}"#)
        );
    }
}
