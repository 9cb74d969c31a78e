//! A parsed JSON document that keeps object keys in input order and numbers as the parser
//! read them, stored flat: one vector of nodes in document order and one string holding every
//! string's text.
//!
//! The k8saudit plugin renders objects as compact JSON with keys in input order
//! (`ka.req.configmap.obj`, `ka.req.binding.subjects`, `jevt.value[...]`); serde_json's own
//! `Value` sorts keys unless the workspace-wide `preserve_order` feature is on, which would
//! change every other crate's JSON. A tree of owned values cost an allocation per string and
//! per container (≈ 200 for a 1.75 KB audit event, half the source's CPU); the flat form costs
//! two per payload. A container node records where its subtree ends, so a lookup skips a
//! member's whole value in one step; objects are scanned linearly (audit objects have a
//! handful of keys, where a scan beats hashing).

use peregrine_filter::format::write_json_string;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write};

/// One JSON document (see the module doc); read it through [`Json::root`].
#[derive(Clone, Debug)]
pub struct Json {
    nodes: Vec<Node>,
    /// The text of every string node, unescaped, back to back.
    text: String,
}

/// A node; an object's members are key (a `Str`) and value, alternating.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str {
        at: u32,
        len: u32,
    },
    /// `end`: the index just past the container's last descendant.
    Arr {
        end: u32,
    },
    Obj {
        end: u32,
    },
}

impl Json {
    /// Parses one JSON text (serde_json's grammar and nesting limit).
    pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
        let mut doc = Json {
            // Roughly one node per 12 bytes and a third of the text in strings, for audit
            // events; a wrong guess only costs a reallocation.
            nodes: Vec::with_capacity(bytes.len() / 12 + 1),
            text: String::with_capacity(bytes.len() / 3),
        };
        let mut de = serde_json::Deserializer::from_slice(bytes);
        Seed { doc: &mut doc }.deserialize(&mut de)?;
        de.end()?;
        Ok(doc)
    }

    /// The document's value.
    pub fn root(&self) -> JsonRef<'_> {
        JsonRef { doc: self, at: 0 }
    }

    /// The value at a node index [`JsonRef::index`] gave (the root for a foreign index).
    pub(crate) fn at(&self, at: u32) -> JsonRef<'_> {
        let at = if (at as usize) < self.nodes.len() {
            at
        } else {
            0
        };
        JsonRef { doc: self, at }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        let mut doc = Json {
            nodes: Vec::new(),
            text: String::new(),
        };
        Seed { doc: &mut doc }.deserialize(d)?;
        Ok(doc)
    }
}

/// A value inside a [`Json`] document.
#[derive(Clone, Copy)]
pub struct JsonRef<'t> {
    doc: &'t Json,
    at: u32,
}

impl fmt::Debug for JsonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered())
    }
}

impl<'t> JsonRef<'t> {
    fn node(self) -> &'t Node {
        // `at` always indexes the document: it comes from `root` or from walking its nodes.
        &self.doc.nodes[self.at as usize]
    }

    /// The index just past this value's subtree.
    fn end(self) -> u32 {
        match self.node() {
            Node::Arr { end } | Node::Obj { end } => *end,
            _ => self.at + 1,
        }
    }

    fn at(self, at: u32) -> JsonRef<'t> {
        JsonRef { doc: self.doc, at }
    }

    /// This value's node index in its document (see [`Json::at`]).
    pub(crate) fn index(self) -> u32 {
        self.at
    }

    /// The member `key` of an object (the first, if the key repeats).
    pub fn get(self, key: &str) -> Option<JsonRef<'t>> {
        let Node::Obj { end } = self.node() else {
            return None;
        };
        // The hottest loop of rule evaluation: lengths are compared before bytes, and the
        // key's text is not made a `str` first.
        let (nodes, text) = (&self.doc.nodes, self.doc.text.as_bytes());
        let mut at = self.at + 1;
        while at + 1 < *end {
            let v = self.at(at + 1);
            if let Some(Node::Str { at: k, len }) = nodes.get(at as usize) {
                if *len as usize == key.len()
                    && text.get(*k as usize..(*k + *len) as usize) == Some(key.as_bytes())
                {
                    return Some(v);
                }
            }
            at = v.end();
        }
        None
    }

    /// Follows object keys.
    pub fn path(self, keys: &[&str]) -> Option<JsonRef<'t>> {
        keys.iter().try_fold(self, |v, k| v.get(k))
    }

    /// An array's elements.
    pub fn as_array(self) -> Option<Elements<'t>> {
        match self.node() {
            Node::Arr { end } => Some(Elements {
                doc: self.doc,
                at: self.at + 1,
                end: *end,
            }),
            _ => None,
        }
    }

    /// An object's members, keys in input order.
    pub fn members(self) -> Option<Members<'t>> {
        match self.node() {
            Node::Obj { end } => Some(Members {
                doc: self.doc,
                at: self.at + 1,
                end: *end,
            }),
            _ => None,
        }
    }

    pub fn as_str(self) -> Option<&'t str> {
        match self.node() {
            Node::Str { at, len } => Some(self.doc.str(*at, *len)),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The plugin's rendering of a value: a string raw, anything else as compact JSON.
    pub fn render(self, out: &mut String) {
        match self.as_str() {
            Some(s) => out.push_str(s),
            None => self.write_compact(out),
        }
    }

    pub fn rendered(self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }

    /// Compact JSON (no spaces), keys in input order.
    pub fn write_compact(self, out: &mut String) {
        match self.node() {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Node::Str { at, len } => write_json_string(self.doc.str(*at, *len), out),
            Node::Arr { .. } => {
                out.push('[');
                for (i, v) in self.as_array().into_iter().flatten().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_compact(out);
                }
                out.push(']');
            }
            Node::Obj { .. } => {
                out.push('{');
                for (i, (k, v)) in self.members().into_iter().flatten().enumerate() {
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
    pub fn write_pretty(self, out: &mut String, depth: usize) {
        let indent = |out: &mut String, d: usize| {
            out.push('\n');
            out.extend(std::iter::repeat_n("  ", d));
        };
        let empty = self.end() == self.at + 1;
        match self.node() {
            Node::Arr { .. } if !empty => {
                out.push('[');
                for (i, v) in self.as_array().into_iter().flatten().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    v.write_pretty(out, depth + 1);
                }
                indent(out, depth);
                out.push(']');
            }
            Node::Obj { .. } if !empty => {
                out.push('{');
                for (i, (k, v)) in self.members().into_iter().flatten().enumerate() {
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
            _ => self.write_compact(out),
        }
    }

    /// RFC 6901 pointer lookup as the json plugin does it: the leading `/` is optional,
    /// `~1` is `/` and `~0` is `~`, array elements by decimal index; `""` is the document.
    pub fn pointer(self, ptr: &str) -> Option<JsonRef<'t>> {
        let ptr = ptr.strip_prefix('/').unwrap_or(ptr);
        if ptr.is_empty() {
            return Some(self);
        }
        let mut cur = self;
        for seg in ptr.split('/') {
            let seg: std::borrow::Cow<'_, str> = if seg.contains('~') {
                seg.replace("~1", "/").replace("~0", "~").into()
            } else {
                seg.into()
            };
            cur = match cur.node() {
                Node::Obj { .. } => cur.get(&seg)?,
                Node::Arr { .. } => {
                    let ok = !seg.is_empty()
                        && seg.bytes().all(|b| b.is_ascii_digit())
                        && !(seg.len() > 1 && seg.starts_with('0'));
                    if !ok {
                        return None;
                    }
                    cur.as_array()?.nth(seg.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl Json {
    fn str(&self, at: u32, len: u32) -> &str {
        // Nodes are made with the bounds of text they pushed, always on char boundaries.
        self.text
            .get(at as usize..(at + len) as usize)
            .unwrap_or_default()
    }
}

/// An array's elements ([`JsonRef::as_array`]).
#[derive(Clone)]
pub struct Elements<'t> {
    doc: &'t Json,
    at: u32,
    end: u32,
}

impl<'t> Iterator for Elements<'t> {
    type Item = JsonRef<'t>;
    fn next(&mut self) -> Option<JsonRef<'t>> {
        if self.at >= self.end {
            return None;
        }
        let v = JsonRef {
            doc: self.doc,
            at: self.at,
        };
        self.at = v.end();
        Some(v)
    }
}

/// An object's members ([`JsonRef::members`]).
#[derive(Clone)]
pub struct Members<'t> {
    doc: &'t Json,
    at: u32,
    end: u32,
}

impl<'t> Iterator for Members<'t> {
    type Item = (&'t str, JsonRef<'t>);
    fn next(&mut self) -> Option<(&'t str, JsonRef<'t>)> {
        if self.at + 1 >= self.end {
            return None;
        }
        let key = JsonRef {
            doc: self.doc,
            at: self.at,
        };
        let v = key.at(self.at + 1);
        self.at = v.end();
        Some((key.as_str().unwrap_or_default(), v))
    }
}

/// Appends the value the deserializer reads to the document.
struct Seed<'b> {
    doc: &'b mut Json,
}

impl Seed<'_> {
    fn push(&mut self, n: Node) {
        self.doc.nodes.push(n);
    }

    /// The index the next node gets, or an error for a document past u32 offsets (4 GiB).
    fn next_index<E: serde::de::Error>(&self) -> Result<u32, E> {
        u32::try_from(self.doc.nodes.len()).map_err(|_| E::custom("JSON document too large"))
    }

    /// Sets the end of the container at `at` to the current length.
    fn close<E: serde::de::Error>(&mut self, at: u32) -> Result<(), E> {
        let end = self.next_index()?;
        match &mut self.doc.nodes[at as usize] {
            Node::Arr { end: e } | Node::Obj { end: e } => *e = end,
            _ => {}
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(mut self, v: bool) -> Result<(), E> {
        self.push(Node::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(mut self, v: i64) -> Result<(), E> {
        self.push(Node::Num(v.into()));
        Ok(())
    }
    fn visit_u64<E>(mut self, v: u64) -> Result<(), E> {
        self.push(Node::Num(v.into()));
        Ok(())
    }
    fn visit_f64<E>(mut self, v: f64) -> Result<(), E> {
        self.push(serde_json::Number::from_f64(v).map_or(Node::Null, Node::Num));
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<(), E> {
        let at =
            u32::try_from(self.doc.text.len()).map_err(|_| E::custom("JSON text too large"))?;
        let len = u32::try_from(v.len()).map_err(|_| E::custom("JSON string too large"))?;
        at.checked_add(len)
            .ok_or_else(|| E::custom("JSON text too large"))?;
        self.doc.text.push_str(v);
        self.push(Node::Str { at, len });
        Ok(())
    }
    fn visit_unit<E>(mut self) -> Result<(), E> {
        self.push(Node::Null);
        Ok(())
    }
    fn visit_none<E>(mut self) -> Result<(), E> {
        self.push(Node::Null);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let at = self.next_index()?;
        self.push(Node::Arr { end: 0 });
        while seq.next_element_seed(Seed { doc: self.doc })?.is_some() {}
        self.close(at)
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        // Every member is kept, a repeated key included, as fastjson keeps them: lookups find
        // the first (fastjson's Get) and rendering writes them all (its MarshalTo).
        let at = self.next_index()?;
        self.push(Node::Obj { end: 0 });
        while map.next_key_seed(Seed { doc: self.doc })?.is_some() {
            map.next_value_seed(Seed { doc: self.doc })?;
        }
        self.close(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Json {
        Json::parse(s.as_bytes()).unwrap()
    }

    fn compact(j: JsonRef<'_>) -> String {
        let mut s = String::new();
        j.write_compact(&mut s);
        s
    }

    #[test]
    fn compact_keeps_key_order_and_numbers() {
        let j = parse(r#"{ "b": 1, "a": [true, null, 2.5, "x\"y", -3, 1e2], "c": {}, "d": [] }"#);
        assert_eq!(
            compact(j.root()),
            r#"{"b":1,"a":[true,null,2.5,"x\"y",-3,100.0],"c":{},"d":[]}"#
        );
    }

    #[test]
    fn lookups_skip_whole_values() {
        let j = parse(r#"{"a":{"x":[1,{"y":2}],"k":"no"},"k":"yes","k":"again","e":[]}"#);
        let r = j.root();
        assert_eq!(r.get("k").and_then(JsonRef::as_str), Some("yes"));
        assert_eq!(r.path(&["a", "k"]).and_then(JsonRef::as_str), Some("no"));
        let keys: Vec<&str> = r.members().unwrap().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "k", "k", "e"]);
        let x: Vec<String> = r
            .path(&["a", "x"])
            .unwrap()
            .as_array()
            .unwrap()
            .map(JsonRef::rendered)
            .collect();
        assert_eq!(x, ["1", r#"{"y":2}"#]);
        assert_eq!(r.get("e").unwrap().as_array().unwrap().count(), 0);
        assert!(r.get("missing").is_none() && r.get("k").unwrap().get("k").is_none());
        assert_eq!(
            compact(r),
            r#"{"a":{"x":[1,{"y":2}],"k":"no"},"k":"yes","k":"again","e":[]}"#
        );
        assert!(Json::parse(b"{} x").is_err());
        assert_eq!(compact(parse(r#""\u00e9\n""#).root()), "\"\u{e9}\\n\"");
    }

    #[test]
    fn pretty_is_go_indent() {
        let j = parse(r#"{"a":[1,2],"b":{},"c":"d"}"#);
        let mut s = String::new();
        j.root().write_pretty(&mut s, 0);
        assert_eq!(
            s,
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": \"d\"\n}"
        );
    }

    #[test]
    fn pointers() {
        let j = parse(r#"{"a/b":{"~c":[10,{"d":"e"}]}}"#);
        let r = j.root();
        assert_eq!(
            r.pointer("/a~1b/~0c/1/d").and_then(JsonRef::as_str),
            Some("e")
        );
        assert_eq!(
            r.pointer("a~1b/~0c/0").map(JsonRef::rendered).as_deref(),
            Some("10")
        );
        assert!(r.pointer("/a~1b/~0c/01").is_none());
        assert!(r.pointer("/a~1b/~0c/2").is_none());
        assert_eq!(
            r.pointer("").map(JsonRef::rendered).as_deref(),
            Some(r#"{"a/b":{"~c":[10,{"d":"e"}]}}"#)
        );
    }
}
