//! A positioned YAML tree, read the way Falco's yaml-cpp reads rules files.
//!
//! Built from yaml-rust2's event parser because it is maintained, YAML 1.2 (so `comps: [=, in]`
//! is a plain `=`, not PyYAML's 1.1 "value" key) and gives a byte offset, line and column for every
//! event. Every node keeps yaml-cpp's *0-based* line and column, because Falco prints those
//! unchanged in its load results. All scalars stay strings: like yaml-cpp, types are decided by
//! whoever reads the value (`items: [22, ssh]` are both strings to a list).
//!
//! The builder is iterative and bounded (nesting depth, node count after alias expansion), so a
//! hostile file is refused with an error instead of exhausting the stack or memory.

mod fast;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Deepest nesting of sequences/maps accepted.
pub const MAX_DEPTH: usize = 512;
/// Most nodes a file may expand to (aliases count once per use).
pub const MAX_NODES: usize = 500_000;

/// A position in the rules content: byte offset, 0-based line and column (yaml-cpp's `Mark`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

/// Converts yaml-rust2's character indexes into byte offsets. Events arrive in increasing
/// order, so a forward-moving cursor makes the conversion linear over the whole file.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
    /// Blanks inserted at the start of each line by [`relax_flow_indentation`], and their
    /// running total before each line, to map marks back to the original text.
    added: Vec<usize>,
    added_before: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Offsets {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
            added: Vec::new(),
            added_before: Vec::new(),
        }
    }

    fn byte_of(&mut self, chars: usize) -> usize {
        if self.ascii {
            return chars.min(self.text.len());
        }
        if chars < self.chars {
            self.chars = 0;
            self.bytes = 0;
        }
        let mut it = self.text[self.bytes..].chars();
        while self.chars < chars {
            match it.next() {
                Some(c) => {
                    self.chars += 1;
                    self.bytes += c.len_utf8();
                }
                None => break,
            }
        }
        self.bytes
    }

    fn mark(&mut self, m: Marker) -> Mark {
        let mut mark = Mark {
            offset: self.byte_of(m.index()),
            line: m.line().saturating_sub(1),
            column: m.col(),
        };
        if let Some(&before) = self.added_before.get(mark.line) {
            let here = self.added[mark.line].min(mark.column);
            mark.offset = mark.offset.saturating_sub(before + here);
            mark.column -= here;
        }
        mark
    }
}

/// One YAML node with the position where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub mark: Mark,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// An empty value, `~` or `null` (yaml-cpp's `IsNull`).
    Null,
    /// Any scalar, as its text; `plain` tells whether it was unquoted.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys in file order; a repeated key keeps the first value (yaml-cpp's lookup does).
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(v) => Some(v),
            _ => None,
        }
    }

    /// `node[key]` for a map whose key is a scalar equal to `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map(|(_, v)| v)
    }
}

/// A YAML syntax error, with yaml-cpp's message text where we know its wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
    pub mark: Mark,
}

/// Parses every document of `text`. An empty stream yields no documents.
///
/// Texts in the plain subset rules files are written in take the fast path ([`fast`]); any
/// other text, and every error, goes through yaml-rust2. Debug builds (all tests) parse each
/// fast-path text again with yaml-rust2 and insist on the same tree.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    if let Some(docs) = fast::parse(text) {
        #[cfg(debug_assertions)]
        {
            let reference = parse_reference(text);
            debug_assert!(
                reference.as_ref() == Ok(&docs),
                "fast YAML path disagrees with yaml-rust2 on {text:?}:\nfast: {docs:?}\nreference: {reference:?}"
            );
        }
        return Ok(docs);
    }
    parse_reference(text)
}

/// yaml-rust2's reading of `text`, with yaml-cpp's tolerance of under-indented flow lines.
fn parse_reference(text: &str) -> Result<Vec<Node>, YamlError> {
    match parse_with(text, Offsets::new(text)) {
        // yaml-cpp accepts flow collections whose continuation lines (typically the closing
        // `]`) are not indented past their key; YAML 1.2 and yaml-rust2 do not. Retry once
        // with those lines indented, mapping positions back to the original text.
        Err(e) if e.message.contains("invalid indentation") => {
            let Some((patched, added)) = relax_flow_indentation(text) else {
                return Err(e);
            };
            let mut offsets = Offsets::new(&patched);
            let mut total = 0;
            offsets.added_before = added
                .iter()
                .map(|a| {
                    let b = total;
                    total += a;
                    b
                })
                .collect();
            offsets.added = added;
            parse_with(&patched, offsets).map_err(|_| e)
        }
        other => other,
    }
}

fn parse_with(text: &str, offsets: Offsets<'_>) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::new(offsets);
    let mut parser = Parser::new_from_str(text);
    // Pull events one by one: yaml-rust2's own `load` recurses once per nesting level and
    // overflows the stack on hostile input; this loop and the builder do not recurse.
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(x) => x,
            Err(e) => {
                let mut err = scan_error(&e, text);
                let m = builder.offsets.mark(*e.marker());
                err.mark = m;
                return Err(err);
            }
        };
        let end = ev == Event::StreamEnd;
        builder.on_event(ev, mark);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
        if end {
            return Ok(builder.docs);
        }
    }
}

/// Indents every line inside a flow collection one column past the line that opened it.
/// Returns the new text and the blanks added per line, or `None` if nothing changed.
fn relax_flow_indentation(text: &str) -> Option<(String, Vec<usize>)> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut added = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut required = 0usize;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        let mut pad = 0;
        if depth > 0 && quote.is_none() && !blank && indent < required {
            pad = required - indent;
            changed = true;
        }
        added.push(pad);
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(line);
        let opener_indent = indent;
        let mut prev = ' ';
        for c in line.chars() {
            match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    '"' | '\'' if depth > 0 || prev == ' ' || prev == ':' => quote = Some(c),
                    '#' if prev == ' ' || prev == '\t' => break,
                    '[' | '{' => {
                        if depth == 0 {
                            required = opener_indent + 1;
                        }
                        depth += 1;
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
        // A quote left open at the end of a line outside a flow collection was an apostrophe.
        if depth == 0 {
            quote = None;
        }
    }
    changed.then_some((out, added))
}

/// Translates a yaml-rust2 error into yaml-cpp's wording (`yaml-cpp: error at line L, column C:
/// msg`, 1-based), because Falco users and tests match on that text.
fn scan_error(e: &ScanError, text: &str) -> YamlError {
    let mark = Offsets::new(text).mark(*e.marker());
    let info = e.info();
    let msg = if info.contains("mapping values are not allowed") {
        "illegal map value"
    } else if info.contains("did not find expected key") || info.contains("block mapping") {
        "end of map not found"
    } else if info.contains("did not find expected '-' indicator")
        || info.contains("block sequence")
    {
        "end of sequence not found"
    } else if info.contains("flow sequence") {
        "end of sequence flow not found"
    } else if info.contains("flow mapping") {
        "end of map flow not found"
    } else if info.contains("quoted scalar") {
        "end of string not found"
    } else if info.contains("unknown anchor") || info.contains("alias") {
        "the referenced anchor is not defined"
    } else {
        info
    };
    YamlError {
        message: format!(
            "yaml-cpp: error at line {}, column {}: {}",
            mark.line + 1,
            mark.column + 1,
            msg
        ),
        mark,
    }
}

enum Frame {
    Seq(Vec<Node>, Mark, usize),
    /// Entries so far, a pending key, the mark and the anchor.
    Map(Vec<(Node, Node)>, Option<Node>, Mark, usize),
}

struct Builder<'a> {
    offsets: Offsets<'a>,
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    nodes: usize,
    error: Option<YamlError>,
}

impl<'a> Builder<'a> {
    fn new(offsets: Offsets<'a>) -> Self {
        Builder {
            offsets,
            docs: Vec::new(),
            stack: Vec::new(),
            anchors: Vec::new(),
            nodes: 0,
            error: None,
        }
    }

    fn fail(&mut self, mark: Mark, msg: &str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                message: format!(
                    "yaml-cpp: error at line {}, column {}: {}",
                    mark.line + 1,
                    mark.column + 1,
                    msg
                ),
                mark,
            });
        }
    }

    fn count(&mut self, n: usize, mark: Mark) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.fail(mark, "document too large");
            return false;
        }
        true
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

fn node_size(n: &Node) -> usize {
    let mut total = 0usize;
    let mut todo = vec![n];
    while let Some(n) = todo.pop() {
        total += 1;
        match &n.kind {
            NodeKind::Seq(v) => todo.extend(v.iter()),
            NodeKind::Map(v) => {
                for (k, val) in v {
                    todo.push(k);
                    todo.push(val);
                }
            }
            _ => {}
        }
    }
    total
}

fn is_null_plain(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let mark = self.offsets.mark(marker);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                if !self.count(1, mark) {
                    return;
                }
                let plain = style == TScalarStyle::Plain;
                let kind = if plain && is_null_plain(&value) {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { value, plain }
                };
                self.push_node(Node { kind, mark }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(mark, "exceeded maximum nesting depth");
                    return;
                }
                self.stack.push(Frame::Seq(Vec::new(), mark, anchor));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(mark, "exceeded maximum nesting depth");
                    return;
                }
                self.stack.push(Frame::Map(Vec::new(), None, mark, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, m, a)) => (
                        Node {
                            kind: NodeKind::Seq(items),
                            mark: m,
                        },
                        a,
                    ),
                    Some(Frame::Map(entries, _, m, a)) => {
                        // yaml-rust2 marks a block map at its first ':'; yaml-cpp at its
                        // first key, which is what Falco's snippets point at.
                        let m = entries.first().map(|(k, _)| k.mark).unwrap_or(m);
                        (
                            Node {
                                kind: NodeKind::Map(entries),
                                mark: m,
                            },
                            a,
                        )
                    }
                    None => return,
                };
                if !self.count(1, mark) {
                    return;
                }
                self.push_node(node, anchor);
            }
            Event::Alias(id) => {
                let found = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone());
                match found {
                    Some(n) => {
                        if !self.count(node_size(&n), mark) {
                            return;
                        }
                        self.push_node(n, 0);
                    }
                    None => self.fail(mark, "the referenced anchor is not defined"),
                }
            }
            Event::DocumentStart => {}
            Event::DocumentEnd => {
                // A document with no content is a null document.
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(text: &str) -> Node {
        parse_documents(text).expect("parses").remove(0)
    }

    #[test]
    fn marks_are_zero_based_like_yaml_cpp() {
        let doc = first("- rule: a\n  desc: b\n");
        let item = &doc.as_seq().expect("seq")[0];
        assert_eq!(item.mark.line, 0);
        assert_eq!(item.mark.column, 2);
        let desc = item.get("desc").expect("desc");
        assert_eq!(
            desc.mark,
            Mark {
                offset: 18,
                line: 1,
                column: 8
            }
        );
    }

    #[test]
    fn yaml_cpp_quirks_load() {
        let doc = first("comps: [=, in]\ndesc: != after evt.type\n");
        let comps: Vec<_> = doc
            .get("comps")
            .and_then(Node::as_seq)
            .expect("comps")
            .iter()
            .map(|n| n.as_scalar().unwrap_or("?"))
            .collect();
        assert_eq!(comps, ["=", "in"]);
        assert!(doc.get("desc").and_then(Node::as_scalar).is_some());
    }

    #[test]
    fn parse_error_uses_yaml_cpp_wording() {
        let err = parse_documents("this : is : not : yaml").expect_err("invalid");
        assert_eq!(
            err.message,
            "yaml-cpp: error at line 1, column 11: illegal map value"
        );
    }

    #[test]
    fn flow_closer_at_key_indentation_loads_like_yaml_cpp() {
        let text = "- list: a\n  items: [\n    x,\n    y\n  ]\n- list: b\n  items: [z]\n";
        let docs = parse_documents(text).expect("yaml-cpp accepts this");
        let seq = docs[0].as_seq().expect("seq");
        let b = seq[1].get("items").and_then(Node::as_seq).expect("items");
        // Marks still point into the original text.
        assert_eq!(b[0].mark.offset, text.find('z').expect("z"));
        assert_eq!(b[0].mark.line, 6);
        assert_eq!(b[0].mark.column, 10);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(100_000);
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            text.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(parse_documents(&text).is_err());
    }
}
