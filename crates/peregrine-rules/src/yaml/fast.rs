//! A fast reader for the plain subset of YAML that rules files are written in, producing
//! exactly the tree (values, styles and marks) that the yaml-rust2 path builds.
//!
//! Why: yaml-rust2's character-by-character scanner was a third of the time of loading Falco's
//! rules files. Those files use a small part of YAML — block sequences and mappings, plain,
//! quoted and `>`/`|` scalars, flat flow sequences, comments — which a line-oriented byte scanner
//! reads several times faster.
//!
//! The contract is "same answer or no answer": whenever the text leaves that subset or is
//! anything but clearly valid (tabs, non-ASCII, anchors, tags, flow maps, multi-line quotes,
//! odd indentation, an error of any kind, …) [`parse`] returns `None` and the caller uses the
//! yaml-rust2 path, which stays the reference for errors and every yaml-cpp quirk. The folding
//! rules below are those of yaml-rust2's scanner (`scan_plain_scalar`, `scan_block_scalar`),
//! so values come out byte-identical; debug builds check every accepted text against the
//! reference (see `parse_documents`).

use super::{is_null_plain, Mark, Node, NodeKind, MAX_NODES};

/// Deeper nesting than this is left to the reference path (which enforces the real limit).
const MAX_FAST_DEPTH: usize = 64;
/// yaml-rust2 refuses implicit keys longer than this; stay well below.
const MAX_KEY_LEN: usize = 512;

/// Parses `text` if it is inside the supported subset; `None` means "use the reference path".
pub(super) fn parse(text: &str) -> Option<Vec<Node>> {
    let b = text.as_bytes();
    // One pass over the bytes rules out everything the scanner below does not model:
    // non-ASCII, tabs, carriage returns and the other control characters YAML does not
    // allow in plain text (a NUL inside a value, for one).
    if !text.ends_with('\n') || b.iter().any(|&c| c >= 0x7f || (c < 0x20 && c != b'\n')) {
        return None;
    }
    let mut p = Reader {
        b,
        text,
        pos: 0,
        line: 0,
        line_start: 0,
        nodes: 0,
    };
    let Some(first) = p.next_content_line() else {
        // Only comments and blank lines: no document at all.
        return Some(Vec::new());
    };
    p.goto_line(first);
    let col = p.indent_of_line();
    let root = p.block_node(col, -1, 0)?;
    // Anything left over (a second document, stray text) is for the reference path.
    if p.next_content_line().is_some() {
        return None;
    }
    (p.nodes <= MAX_NODES).then(|| vec![root])
}

struct Reader<'a> {
    b: &'a [u8],
    text: &'a str,
    /// Current byte offset, always inside the current line.
    pos: usize,
    /// 0-based number and start offset of the current line.
    line: usize,
    line_start: usize,
    nodes: usize,
}

impl<'a> Reader<'a> {
    fn mark(&self) -> Mark {
        Mark {
            offset: self.pos,
            line: self.line,
            column: self.pos - self.line_start,
        }
    }

    fn col(&self) -> usize {
        self.pos - self.line_start
    }

    fn peek(&self) -> u8 {
        self.b.get(self.pos).copied().unwrap_or(b'\n')
    }

    fn peek_at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(b'\n')
    }

    fn line_end(&self, from: usize) -> usize {
        memchr::memchr(b'\n', &self.b[from..]).map_or(self.b.len(), |i| from + i)
    }

    /// Moves to the start of the next line.
    fn next_line(&mut self) {
        let end = self.line_end(self.pos);
        self.pos = (end + 1).min(self.b.len());
        self.line += 1;
        self.line_start = self.pos;
    }

    /// Moves to a line start returned by [`Reader::next_content_line`].
    fn goto_line(&mut self, (start, line): (usize, usize)) {
        self.pos = start;
        self.line_start = start;
        self.line = line;
    }

    /// Skips the spaces at the current position and returns the resulting column.
    fn indent_of_line(&mut self) -> usize {
        while self.peek() == b' ' {
            self.pos += 1;
        }
        self.col()
    }

    /// The start and number of the next line (after the current one, or the current one when
    /// the position is at a line start) that is neither blank nor a comment. Does not move.
    fn next_content_line(&self) -> Option<(usize, usize)> {
        let (mut start, mut line) = if self.pos == self.line_start {
            (self.pos, self.line)
        } else {
            let end = self.line_end(self.pos);
            (end + 1, self.line + 1)
        };
        while start < self.b.len() {
            let mut i = start;
            while self.b[i] == b' ' {
                i += 1;
            }
            match self.b[i] {
                b'\n' | b'#' => {}
                _ => return Some((start, line)),
            }
            start = self.line_end(i) + 1;
            line += 1;
        }
        None
    }

    /// Column of the next content line, or `None` at the end of the text.
    fn next_indent(&self) -> Option<usize> {
        let (start, _) = self.next_content_line()?;
        let mut i = start;
        while self.b[i] == b' ' {
            i += 1;
        }
        Some(i - start)
    }

    fn count(&mut self) -> Option<()> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(())
    }

    /// Whether the bytes at `i` start a `- ` block entry.
    fn is_entry(&self, i: usize) -> bool {
        self.peek_at(i) == b'-' && matches!(self.peek_at(i + 1), b' ' | b'\n')
    }

    /// The length of a simple key at `i` (`name:` followed by a blank or the line end).
    fn key_len(&self, i: usize) -> Option<usize> {
        let first = self.peek_at(i);
        if !(first.is_ascii_alphanumeric() || first == b'_') {
            return None;
        }
        let mut j = i;
        while matches!(self.peek_at(j), b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.')
        {
            j += 1;
        }
        (self.peek_at(j) == b':'
            && matches!(self.peek_at(j + 1), b' ' | b'\n')
            && j - i <= MAX_KEY_LEN)
            .then_some(j - i)
    }

    /// A block node whose first content is at the current position, in column `col`.
    /// `parent` is the column of the enclosing block collection (-1 at the top).
    fn block_node(&mut self, col: usize, parent: isize, depth: usize) -> Option<Node> {
        if depth >= MAX_FAST_DEPTH {
            return None;
        }
        if self.is_entry(self.pos) {
            self.block_seq(col, depth)
        } else if self.key_len(self.pos).is_some() {
            self.block_map(col, depth)
        } else if parent >= 0 {
            self.value(parent, false)
        } else {
            None
        }
    }

    /// A block sequence whose entries start in column `col`; the position is at its first `-`.
    fn block_seq(&mut self, col: usize, depth: usize) -> Option<Node> {
        let mark = self.mark();
        let mut items = Vec::new();
        loop {
            // At a `- `: the entry's content follows on the same line.
            self.pos += 1;
            while self.peek() == b' ' {
                self.pos += 1;
            }
            match self.peek() {
                b'\n' | b'#' => return None,
                _ if self.is_entry(self.pos) => return None,
                _ => {}
            }
            let item_col = self.col();
            let item = if self.key_len(self.pos).is_some() {
                self.block_map(item_col, depth + 1)?
            } else {
                self.value(col as isize, true)?
            };
            items.push(item);
            match self.next_indent() {
                Some(c) if c == col => {
                    let next = self.next_content_line()?;
                    self.goto_line(next);
                    self.indent_of_line();
                    if !self.is_entry(self.pos) {
                        return None;
                    }
                }
                Some(c) if c > col => return None,
                _ => break,
            }
        }
        self.count()?;
        Some(Node {
            kind: NodeKind::Seq(items),
            mark,
        })
    }

    /// A block mapping whose keys start in column `col`; the position is at its first key.
    fn block_map(&mut self, col: usize, depth: usize) -> Option<Node> {
        let mut entries = Vec::new();
        loop {
            let len = self.key_len(self.pos)?;
            let key_mark = self.mark();
            let text = self.text;
            let key = &text[self.pos..self.pos + len];
            self.count()?;
            let key = Node {
                kind: if is_null_plain(key) {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar {
                        value: key.to_string(),
                        plain: true,
                    }
                },
                mark: key_mark,
            };
            self.pos += len + 1;
            while self.peek() == b' ' {
                self.pos += 1;
            }
            let value = match self.peek() {
                b'\n' | b'#' => {
                    // The value is on the following lines, indented deeper.
                    let next = self.next_content_line()?;
                    let mut probe = Reader { ..*self };
                    probe.goto_line(next);
                    let c = probe.indent_of_line();
                    if c <= col {
                        return None;
                    }
                    self.goto_line(next);
                    self.indent_of_line();
                    self.block_node(c, col as isize, depth + 1)?
                }
                _ => self.value(col as isize, true)?,
            };
            entries.push((key, value));
            match self.next_indent() {
                Some(c) if c == col => {
                    let next = self.next_content_line()?;
                    self.goto_line(next);
                    self.indent_of_line();
                }
                Some(c) if c > col => return None,
                _ => break,
            }
        }
        self.count()?;
        let mark = entries.first().map(|(k, _)| k.mark)?;
        Some(Node {
            kind: NodeKind::Map(entries),
            mark,
        })
    }

    /// A scalar or flow sequence at the current position, inside a block collection at column
    /// `block` (continuation lines of a plain scalar must be indented past it). A `>`/`|`
    /// block scalar is only taken where it follows a key or an entry's `- ` on the same line.
    fn value(&mut self, block: isize, block_scalar: bool) -> Option<Node> {
        let node = match self.peek() {
            b'"' => self.quoted(false, false)?,
            b'\'' => self.quoted(true, false)?,
            b'[' => self.flow_seq(block)?,
            b'>' | b'|' if block_scalar => self.block_scalar(block)?,
            c if starts_plain(c, self.peek_at(self.pos + 1)) => self.plain(block)?,
            _ => return None,
        };
        self.count()?;
        Some(node)
    }

    /// Skips blanks and a comment to the end of the line; `false` if anything else is there.
    fn rest_is_blank(&mut self) -> bool {
        let before = self.pos;
        while self.peek() == b' ' {
            self.pos += 1;
        }
        match self.peek() {
            b'\n' => true,
            b'#' => self.pos > before,
            _ => false,
        }
    }

    /// A single-line quoted scalar; in a flow sequence it may be followed by `,` or `]`.
    fn quoted(&mut self, single: bool, flow: bool) -> Option<Node> {
        let mark = self.mark();
        let q = if single { b'\'' } else { b'"' };
        self.pos += 1;
        let mut value = String::new();
        loop {
            let start = self.pos;
            let run = self.b[start..]
                .iter()
                .position(|&c| c == q || c == b'\n' || (!single && c == b'\\'))?;
            value.push_str(&self.text[start..start + run]);
            self.pos = start + run;
            match self.peek() {
                b'\n' => return None,
                b'\\' => {
                    let esc = match self.peek_at(self.pos + 1) {
                        b'\\' => '\\',
                        b'"' => '"',
                        b'/' => '/',
                        b'n' => '\n',
                        b't' => '\t',
                        _ => return None,
                    };
                    value.push(esc);
                    self.pos += 2;
                }
                _ if single && self.peek_at(self.pos + 1) == b'\'' => {
                    value.push('\'');
                    self.pos += 2;
                }
                _ => {
                    self.pos += 1;
                    break;
                }
            }
        }
        if flow {
            while self.peek() == b' ' {
                self.pos += 1;
            }
            if !matches!(self.peek(), b',' | b']' | b'\n' | b'#') {
                return None;
            }
            if self.peek() == b'#' && self.b[self.pos - 1] != b' ' {
                return None;
            }
        } else if !self.rest_is_blank() {
            return None;
        }
        Some(Node {
            kind: NodeKind::Scalar {
                value,
                plain: false,
            },
            mark,
        })
    }

    /// Reads the non-blank content of one line of a plain scalar from the current position,
    /// appending it to `out` with its inner blanks. Stops at the line end, a ` #` comment or
    /// (in flow context) a flow indicator. Returns `None` on `: ` (a key where none is allowed).
    fn plain_line(&mut self, out: &mut String, flow: bool) -> Option<PlainEnd> {
        if !flow {
            // Most lines hold neither `:` nor `#`: then the rest of the line, without its
            // trailing blanks, is the content (inner blanks are kept as written).
            let end = self.line_end(self.pos);
            let line = &self.b[self.pos..end];
            if memchr::memchr2(b':', b'#', line).is_none() {
                let keep = line.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
                out.push_str(&self.text[self.pos..self.pos + keep]);
                self.pos = end;
                return Some(PlainEnd::Line);
            }
        }
        loop {
            // A run of non-blank characters.
            let start = self.pos;
            loop {
                let c = self.peek();
                match c {
                    b' ' | b'\n' => break,
                    b':' => {
                        let n = self.peek_at(self.pos + 1);
                        if matches!(n, b' ' | b'\n') || (flow && is_flow(n)) {
                            return None;
                        }
                    }
                    _ if flow && is_flow(c) => break,
                    _ => {}
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            let blanks = self.pos;
            while self.peek() == b' ' {
                self.pos += 1;
            }
            match self.peek() {
                b'\n' => return Some(PlainEnd::Line),
                b'#' if self.pos > blanks => return Some(PlainEnd::Comment),
                c if flow && is_flow(c) => return Some(PlainEnd::Flow),
                _ => {
                    if self.pos > blanks {
                        out.push_str(&self.text[blanks..self.pos]);
                    }
                }
            }
        }
    }

    /// A plain scalar in block context, with yaml-rust2's line folding: a line break becomes
    /// a blank, each empty line a `\n`; continuation lines must be indented past `block`.
    fn plain(&mut self, block: isize) -> Option<Node> {
        let mark = self.mark();
        let mut value = String::new();
        let mut end = self.plain_line(&mut value, false)?;
        while end == PlainEnd::Line {
            // Look at the following lines: empty ones count, the first non-empty one either
            // continues the scalar or ends it.
            let mut i = self.line_end(self.pos) + 1;
            let mut line = self.line + 1;
            let mut empty = 0;
            let (start, first) = loop {
                if i >= self.b.len() {
                    break (i, None);
                }
                let s = i;
                while self.b[i] == b' ' {
                    i += 1;
                }
                if self.b[i] == b'\n' {
                    empty += 1;
                    i += 1;
                    line += 1;
                    continue;
                }
                break (s, Some(i));
            };
            let Some(first) = first else { break };
            if ((first - start) as isize) <= block || self.b[first] == b'#' {
                break;
            }
            // Tabs never reach here, and `---`/`...` need column 0, which `block >= 0` excludes.
            if empty == 0 {
                value.push(' ');
            } else {
                value.extend(std::iter::repeat_n('\n', empty));
            }
            self.line = line;
            self.line_start = start;
            self.pos = first;
            end = self.plain_line(&mut value, false)?;
        }
        if end == PlainEnd::Flow {
            return None;
        }
        let kind = if is_null_plain(&value) {
            NodeKind::Null
        } else {
            NodeKind::Scalar { value, plain: true }
        };
        Some(Node { kind, mark })
    }

    /// Moves past blanks, line breaks and comments inside a flow sequence; every line it
    /// enters must be indented past `block`.
    fn skip_flow_space(&mut self, block: isize) -> Option<()> {
        loop {
            match self.peek() {
                b' ' => self.pos += 1,
                b'#' if self.pos > 0 && matches!(self.b[self.pos - 1], b' ' | b'\n') => {
                    self.pos = self.line_end(self.pos);
                }
                b'\n' => {
                    if self.pos >= self.b.len() {
                        return None;
                    }
                    self.next_line();
                    let c = self.indent_of_line();
                    // Scalars in a flow must be indented past the enclosing block; its closing
                    // bracket may sit at the block's own column (rules files put `]` under
                    // their key), not further left.
                    let min = if self.peek() == b']' {
                        block
                    } else {
                        block + 1
                    };
                    if self.peek() != b'\n' && (c as isize) < min {
                        return None;
                    }
                }
                _ => return Some(()),
            }
        }
    }

    /// A flow sequence of scalars (`[a, "b", 'c']`, possibly over several lines).
    fn flow_seq(&mut self, block: isize) -> Option<Node> {
        let mark = self.mark();
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_flow_space(block)?;
        if self.peek() == b']' {
            self.pos += 1;
        } else {
            loop {
                let item = match self.peek() {
                    b'"' => self.quoted(false, true)?,
                    b'\'' => self.quoted(true, true)?,
                    c if starts_plain(c, self.peek_at(self.pos + 1))
                        && !(c == b'-' && is_flow(self.peek_at(self.pos + 1))) =>
                    {
                        let m = self.mark();
                        let mut value = String::new();
                        self.plain_line(&mut value, true)?;
                        let kind = if is_null_plain(&value) {
                            NodeKind::Null
                        } else {
                            NodeKind::Scalar { value, plain: true }
                        };
                        Node { kind, mark: m }
                    }
                    _ => return None,
                };
                self.count()?;
                items.push(item);
                self.skip_flow_space(block)?;
                match self.peek() {
                    b',' => {
                        self.pos += 1;
                        self.skip_flow_space(block)?;
                        if matches!(self.peek(), b',' | b']') {
                            return None;
                        }
                    }
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if !self.rest_is_blank() {
            return None;
        }
        Some(Node {
            kind: NodeKind::Seq(items),
            mark,
        })
    }

    /// A `>` or `|` block scalar (optionally `-`/`+` chomping) inside a block collection at
    /// column `block`, folded as yaml-rust2's `scan_block_scalar` does.
    fn block_scalar(&mut self, block: isize) -> Option<Node> {
        let literal = self.peek() == b'|';
        self.pos += 1;
        let chomp = match self.peek() {
            b'-' => Chomp::Strip,
            b'+' => Chomp::Keep,
            _ => Chomp::Clip,
        };
        if chomp != Chomp::Clip {
            self.pos += 1;
        }
        while self.peek() == b' ' {
            self.pos += 1;
        }
        if self.peek() != b'\n' || self.pos >= self.b.len() {
            return None;
        }
        self.next_line();
        let indent = self.indent_of_line();
        // Leading empty lines and under-indented first lines have special rules: not here.
        if self.peek() == b'\n' || (indent as isize) <= block {
            return None;
        }
        let mark = self.mark();
        let mut value = String::new();
        let mut leading_break = false;
        let mut trailing_breaks = 0usize;
        let mut leading_blank = false;
        loop {
            // At the first content character of a content line (column == indent).
            let trailing_blank = self.peek() == b' ';
            if !literal && leading_break && !leading_blank && !trailing_blank {
                if trailing_breaks == 0 {
                    value.push(' ');
                }
            } else if leading_break {
                value.push('\n');
            }
            value.extend(std::iter::repeat_n('\n', trailing_breaks));
            trailing_breaks = 0;
            leading_blank = trailing_blank;
            let end = self.line_end(self.pos);
            value.push_str(&self.text[self.pos..end]);
            self.pos = end;
            leading_break = true;
            // Skip the indentation of the next lines; empty ones are trailing breaks.
            let at_content = loop {
                if self.pos + 1 >= self.b.len() {
                    // The text ends here.
                    self.pos = self.b.len();
                    self.line_start = self.pos;
                    self.line += 1;
                    break false;
                }
                self.next_line();
                while self.col() < indent && self.peek() == b' ' {
                    self.pos += 1;
                }
                if self.peek() == b'\n' {
                    trailing_breaks += 1;
                    continue;
                }
                break self.col() == indent;
            };
            if !at_content {
                break;
            }
        }
        if chomp != Chomp::Strip && leading_break {
            value.push('\n');
        }
        if chomp == Chomp::Keep {
            value.extend(std::iter::repeat_n('\n', trailing_breaks));
        }
        // Leave the position at the start of the line that ended the scalar, so the caller
        // looks for the next content from there.
        self.pos = self.line_start;
        Some(Node {
            kind: NodeKind::Scalar {
                value,
                plain: false,
            },
            mark,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PlainEnd {
    Line,
    Comment,
    Flow,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

fn is_flow(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

/// Whether `c` (followed by `n`) can start a plain scalar in the subset: no indicator that
/// means something else (`-`, `?`, `:` only when followed by a non-blank, as in yaml-rust2).
fn starts_plain(c: u8, n: u8) -> bool {
    match c {
        b'-' => !matches!(n, b' ' | b'\n'),
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' | b'\n' => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_reference;
    use super::*;

    use peregrine_testkit::upstream::dir as upstream;

    /// Either the fast path declines, or it gives exactly the reference tree.
    fn agrees(text: &str) -> bool {
        match parse(text) {
            Some(docs) => {
                assert_eq!(Ok(docs), parse_reference(text), "{text:?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn upstream_rules_files_take_the_fast_path_with_identical_trees() {
        if peregrine_testkit::upstream::require(
            "upstream_rules_files_take_the_fast_path_with_identical_trees",
        )
        .is_none()
        {
            return;
        }
        for f in [
            "rules/falco_rules.yaml",
            "rules/falco-incubating_rules.yaml",
            "rules/falco-sandbox_rules.yaml",
            "rules/falco-deprecated_rules.yaml",
        ] {
            let text = std::fs::read_to_string(upstream().join(f)).expect("upstream file");
            assert!(agrees(&text), "{f} left the fast path");
        }
    }

    #[test]
    fn falco_testing_rules_files_agree_with_the_reference() {
        if peregrine_testkit::upstream::require(
            "falco_testing_rules_files_agree_with_the_reference",
        )
        .is_none()
        {
            return;
        }
        let dir = upstream().join("falco-testing/rules");
        let mut fast = 0;
        let mut total = 0;
        for entry in std::fs::read_dir(&dir).expect("falco-testing rules") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            total += 1;
            if agrees(&text) {
                fast += 1;
            }
        }
        // Most of these small files are in the subset; the rest must still agree (above).
        assert!(
            total > 50 && fast * 2 > total,
            "{fast} of {total} took the fast path"
        );
    }

    #[test]
    fn folding_and_styles_match_the_reference() {
        let cases = [
            "- a: b\n",
            "- a: b c  d\n  e: 'x ''y'' z'\n  f: \"p \\\" q\\\\ \\n\"\n",
            "- c: >\n    one\n    two\n\n    three\n      deeper\n    back\n\n\n  d: x\n",
            "- c: |\n    one\n    two\n\n    three\n      deeper\n  d: |-\n    x\n\n  e: >+\n    y\n\n- z\n",
            "- c: plain\n    continued\n\n    after empty # comment\n  d: [a, 'b c', \"d\",\n    e f , g] # c\n",
            "- p:\n    WARNING\n  q:\n    - x\n    - y: z\n      w: v\n  r: []\n  s: ~\n  t: null\n",
            "# only\n\n# comments\n",
            "x: 1\ny:\n  z: [a:b, c]\n",
            "- a: b#c d\n  e: -1\n  f: x:y\n",
            "- a: b\n    # comment deeper\n  c: d\n",
            "- a: >-\n    text\n  # comment at key level\n  b: c\n",
            "- a: >\n    x\n   \n    y\n    \n- b\n",
            "- a: [\n    b,\n    c\n  ]\n",
            "a: [\n  b\n]\n",
        ];
        for c in cases {
            assert!(agrees(c), "declined: {c:?}");
        }
        // Outside the subset (or invalid): declined, so the reference decides.
        let declined = [
            "- a: b\n- c: d",
            // Control characters YAML does not allow (found by the robustness proptest).
            "- a:\n    \u{0}- [b]\n",
            "- a: b\u{7f}\n",
            "- a: &x b\n",
            "- a: !t b\n",
            "- a: {b: c}\n",
            "- a: 'multi\n  line'\n",
            "- a: [b,\n  c\n  ]\n",
            "key:\n- indentless\n",
            "- a: b\n\tc: d\n",
            "- a: b: c\n",
            "---\n- a\n",
            "- a: \"\\u00e9\"\n",
            "- a: [x,\n]\n",
            "- a: [\n    b,\n    c\n]\n",
            "- a: [[x]]\n",
            "- a: >2\n    x\n",
            "- a: >\n\n    x\n",
            "- a:\n",
            "this : is : not : yaml\n",
        ];
        for c in declined {
            assert!(parse(c).is_none(), "accepted: {c:?}");
        }
    }
}
