//! The condition parser: a faithful port of libsinsp's `filter/parser.cpp`.
//!
//! Falco's compatibility contract covers more than the grammar: which inputs are accepted, the
//! exact error text, and the positions reported. So this is not a fresh grammar implementation
//! but a function-by-function port — same token tables in the same order, same "last token"
//! bookkeeping for `unexpected token after '…'`, same recursion-depth accounting — with the
//! POSIX regexes of the lexer rewritten as small byte matchers (no regex engine, no allocation
//! per token beyond the token text).
//!
//! Key design decision: recursion is bounded by the depth counter libsinsp uses (each guarded
//! parse function counts one level), so the accepted nesting matches libsinsp exactly, and on
//! top of that [`MAX_SUPPORTED_DEPTH`] caps the counter so that no caller-supplied limit can
//! drive the native stack past what a 2 MiB thread holds, even in a debug build.

use crate::ast::{
    CmpOp, Expr, FieldRef, Modifier, Operand, Pos, Rhs, StrOp, Transformer, TransformerArg,
    TransformerKind, UnaryOp,
};
use crate::escape::unescape_str;
use thiserror::Error;

/// The depth limit Falco sets for rule conditions (`set_max_depth(1000)`).
pub const FALCO_MAX_DEPTH: u32 = 1000;

/// libsinsp's default depth limit for a fresh parser.
pub const LIBS_DEFAULT_MAX_DEPTH: u32 = 100;

/// The largest depth limit honoured; larger requests are clamped to it (and the error then
/// names this value). It equals Falco's limit: in a debug build the deepest input it admits
/// needs under 1 MiB of stack (measured: ≈3 KiB per nested parenthesis, which costs 5 levels;
/// ≈1.7 KiB per nested transformer, which costs 2), so parsing is safe on a 2 MiB thread.
pub const MAX_SUPPORTED_DEPTH: u32 = 1000;

/// A parse failure: libsinsp's message and the cursor position when the parser gave up.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub pos: Pos,
}

/// Parses a condition with Falco's depth limit (1000).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with_max_depth(input, FALCO_MAX_DEPTH)
}

/// Parses a condition with an explicit recursion-depth limit (libsinsp's default is 100).
/// Limits above [`MAX_SUPPORTED_DEPTH`] are clamped to it.
pub fn parse_with_max_depth(input: &str, max_depth: u32) -> Result<Expr, ParseError> {
    let mut p = Parser {
        input: input.as_bytes(),
        pos: START,
        last_token: Vec::new(),
        depth: 0,
        max_depth: max_depth.min(MAX_SUPPORTED_DEPTH),
    };
    p.parse().map(|e| *e).map_err(|e| *e)
}

/// The operators in the order `supported_operators()` lists them (used in error messages).
pub const SUPPORTED_OPERATORS: [&str; 20] = [
    "exists",
    "<=",
    "<",
    ">=",
    ">",
    "==",
    "=",
    "!=",
    "glob",
    "iglob",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "regex",
    "intersects",
    "in",
    "pmatch",
];

const START: Pos = Pos {
    idx: 0,
    line: 1,
    col: 1,
};

const NUM_OPS: [(&[u8], CmpOp); 4] = [
    (b"<=", CmpOp::Le),
    (b"<", CmpOp::Lt),
    (b">=", CmpOp::Ge),
    (b">", CmpOp::Gt),
];

/// String operators; `true` means the keyword must be followed by a blank (libsinsp writes
/// these with a trailing space in its table).
const STR_OPS: [(&[u8], StrOp, bool); 12] = [
    (b"==", StrOp::EqEq, false),
    (b"=", StrOp::Eq, false),
    (b"!=", StrOp::Ne, false),
    (b"glob", StrOp::Glob, true),
    (b"iglob", StrOp::IGlob, true),
    (b"contains", StrOp::Contains, true),
    (b"icontains", StrOp::IContains, true),
    (b"bcontains", StrOp::BContains, true),
    (b"startswith", StrOp::StartsWith, true),
    (b"bstartswith", StrOp::BStartsWith, true),
    (b"endswith", StrOp::EndsWith, true),
    (b"regex", StrOp::Regex, true),
];

const LIST_OPS: [(&[u8], CmpOp); 3] = [
    (b"intersects", CmpOp::Intersects),
    (b"in", CmpOp::In),
    (b"pmatch", CmpOp::PMatch),
];

const MODIFIERS: [(&[u8], Modifier); 3] = [
    (b"oneof", Modifier::OneOf),
    (b"anyof", Modifier::AnyOf),
    (b"allof", Modifier::AllOf),
];

/// Left-hand (and nested) transformers, with their opening parenthesis: no blank may precede it.
const TRANSFORMERS: [(&[u8], TransformerKind); 8] = [
    (b"tolower(", TransformerKind::ToLower),
    (b"toupper(", TransformerKind::ToUpper),
    (b"b64(", TransformerKind::B64),
    (b"basename(", TransformerKind::Basename),
    (b"len(", TransformerKind::Len),
    (b"join(", TransformerKind::Join),
    (b"concat(", TransformerKind::Concat),
    (b"getopt(", TransformerKind::Getopt),
];

const TRANSFORMER_NAMES: &str =
    "'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join', 'concat', 'getopt'";

/// Internal results box both sides: in a debug build every `?` keeps several copies of its
/// `Result` on the stack, and with a 152-byte `Expr` that made each recursion level cost
/// kilobytes. Boxed, a level costs a few hundred bytes.
type PResult<T> = Result<T, Box<ParseError>>;
type Node = Box<Expr>;

/// `[[:space:]]` in POSIX: note that `\b`, a blank for `lex_blank`, is not part of it.
fn is_posix_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `lex_blank` skips.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x08 | b'\r' | b'\n')
}

/// Byte matchers equivalent to libsinsp's anchored POSIX regexes; each returns the length of the
/// longest match at the start of `s` (0 = no match; none of the regexes matches the empty string).
mod rx {
    use super::is_posix_space;

    fn ident_len(s: &[u8]) -> usize {
        match s.first() {
            Some(c) if c.is_ascii_alphabetic() => {
                1 + s[1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count()
            }
            _ => 0,
        }
    }

    /// `not[[:space:]]+`
    pub fn not_blank(s: &[u8]) -> usize {
        if !s.starts_with(b"not") {
            return 0;
        }
        match s[3..].iter().take_while(|c| is_posix_space(**c)).count() {
            0 => 0,
            n => 3 + n,
        }
    }

    /// `[a-zA-Z]+[a-zA-Z0-9_]*`
    pub fn identifier(s: &[u8]) -> usize {
        ident_len(s)
    }

    /// `[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+`
    pub fn field_name(s: &[u8]) -> usize {
        let mut n = ident_len(s);
        if n == 0 {
            return 0;
        }
        let mut segments = 0;
        while s.get(n) == Some(&b'.') {
            let seg = ident_len(&s[n + 1..]);
            if seg == 0 {
                break;
            }
            n += 1 + seg;
            segments += 1;
        }
        if segments == 0 {
            0
        } else {
            n
        }
    }

    /// `[^]["'[:space:]]+`
    pub fn field_arg_bare_str(s: &[u8]) -> usize {
        s.iter()
            .take_while(|c| !matches!(c, b'[' | b']' | b'"' | b'\'') && !is_posix_space(**c))
            .count()
    }

    /// `0[xX][0-9a-fA-F]+`
    pub fn hex_num(s: &[u8]) -> usize {
        if s.len() < 3 || s[0] != b'0' || !matches!(s[1], b'x' | b'X') {
            return 0;
        }
        match s[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count() {
            0 => 0,
            n => 2 + n,
        }
    }

    fn digits(s: &[u8]) -> usize {
        s.iter().take_while(|c| c.is_ascii_digit()).count()
    }

    /// `[+\-]?[0-9]+[\.]?[0-9]*([eE][+\-][0-9]+)?`
    pub fn number(s: &[u8]) -> usize {
        let mut n = usize::from(matches!(s.first(), Some(b'+' | b'-')));
        let int = digits(&s[n..]);
        if int == 0 {
            return 0;
        }
        n += int;
        if s.get(n) == Some(&b'.') {
            n += 1;
        }
        n += digits(&s[n..]);
        if matches!(s.get(n), Some(b'e' | b'E')) && matches!(s.get(n + 1), Some(b'+' | b'-')) {
            let exp = digits(&s[n + 2..]);
            if exp > 0 {
                n += 2 + exp;
            }
        }
        n
    }

    /// `[^()"'[:space:]=,]+`
    pub fn bare_str(s: &[u8]) -> usize {
        s.iter()
            .take_while(|c| {
                !matches!(c, b'(' | b')' | b'"' | b'\'' | b'=' | b',') && !is_posix_space(**c)
            })
            .count()
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: Pos,
    /// The text of the last token lexed (libsinsp's `m_last_token`), quoted to the user in
    /// `unexpected token after '…'`.
    last_token: Vec<u8>,
    depth: u32,
    max_depth: u32,
}

impl<'a> Parser<'a> {
    // ---- bookkeeping -------------------------------------------------------------------

    #[cold]
    #[inline(never)]
    fn err<T>(&self, message: &str) -> PResult<T> {
        self.err_string(message.to_string())
    }

    #[cold]
    #[inline(never)]
    fn err_string<T>(&self, message: String) -> PResult<T> {
        Err(Box::new(ParseError {
            message,
            pos: self.pos,
        }))
    }

    /// `expected <what> a field with a valid transformer: 'val', …` (built out of line to keep
    /// it off the recursive frames).
    #[cold]
    #[inline(never)]
    fn err_transformer<T>(&self, what: &str) -> PResult<T> {
        self.err_string(format!(
            "expected {what} a field with a valid transformer: {TRANSFORMER_NAMES}"
        ))
    }

    #[cold]
    #[inline(never)]
    fn err_operator<T>(&self) -> PResult<T> {
        let ops = SUPPORTED_OPERATORS.map(|o| format!("'{o}'")).join(", ");
        self.err_string(format!("expected a valid check operator: one of {ops}"))
    }

    #[cold]
    #[inline(never)]
    fn err_depth<T>(&self) -> PResult<T> {
        self.err_string(format!("exceeded max depth limit of {}", self.max_depth))
    }

    #[cold]
    #[inline(never)]
    fn err_unexpected<T>(&self) -> PResult<T> {
        self.err_string(format!(
            "unexpected token after '{}', expecting 'or', 'and'",
            self.last_token_text()
        ))
    }

    /// Enters a guarded function (libsinsp's `depth_guard`): every such function counts one
    /// level while it runs. Error paths do not unwind the counter because the parse is over;
    /// the one place that swallows an error restores it explicitly.
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth >= self.max_depth {
            return self.err_depth();
        }
        Ok(())
    }

    /// Leaves a guarded function successfully.
    fn ok<T>(&mut self, v: T) -> PResult<T> {
        self.depth -= 1;
        Ok(v)
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos.idx as usize..).unwrap_or_default()
    }

    fn advance(&mut self, n: usize) {
        for i in 0..n {
            let c = self.input.get(self.pos.idx as usize + i).copied();
            self.pos.col += 1;
            if matches!(c, Some(b'\r' | b'\n')) {
                self.pos.col = 1;
                self.pos.line += 1;
            }
        }
        self.pos.idx += n as u32;
    }

    fn last_token_text(&self) -> String {
        String::from_utf8_lossy(&self.last_token).into_owned()
    }

    // ---- lexing ------------------------------------------------------------------------

    /// Skips blanks; the only lexer that leaves `last_token` alone.
    fn lex_blank(&mut self) -> bool {
        let n = self.rest().iter().take_while(|c| is_blank(**c)).count();
        self.advance(n);
        n > 0
    }

    fn lex_str(&mut self, s: &[u8]) -> bool {
        if self.rest().starts_with(s) {
            self.last_token.clear();
            self.last_token.extend_from_slice(s);
            self.advance(s.len());
            true
        } else {
            false
        }
    }

    fn lex_rgx(&mut self, matcher: fn(&[u8]) -> usize) -> bool {
        let n = matcher(self.rest());
        if n == 0 {
            return false;
        }
        self.last_token.clear();
        let start = self.pos.idx as usize;
        self.last_token
            .extend_from_slice(&self.input[start..start + n]);
        self.advance(n);
        true
    }

    fn lex_num_value(&mut self) -> bool {
        self.lex_rgx(rx::hex_num) || self.lex_rgx(rx::number)
    }

    /// A `'…'` or `"…"` token. The closing quote is the first delimiter not preceded by a
    /// backslash (so `"a\\"` does not end at its last quote — libsinsp's rule, kept as is); an
    /// unterminated string (or one cut by a NUL) backtracks. The decoded bytes become the last
    /// token; a decoding error is raised after the token has been consumed.
    fn lex_quoted_str(&mut self) -> PResult<bool> {
        let rest = self.rest();
        let Some(&delim) = rest.first() else {
            return Ok(false);
        };
        if delim != b'"' && delim != b'\'' {
            return Ok(false);
        }
        let mut prev = b'\\';
        let mut end = None;
        for (i, &c) in rest.iter().enumerate() {
            if c == 0 {
                break;
            }
            if c == delim && prev != b'\\' {
                end = Some(i);
                break;
            }
            prev = c;
        }
        self.last_token.clear();
        let Some(end) = end else {
            // libsinsp leaves the partial text in its last token; it is never shown.
            self.last_token.extend_from_slice(rest);
            return Ok(false);
        };
        let raw = &rest[..=end];
        self.last_token.extend_from_slice(raw);
        let decoded = unescape_str(raw);
        self.advance(end + 1);
        match decoded {
            Ok(v) => {
                self.last_token = v;
                Ok(true)
            }
            Err(e) => self.err_string(e.to_string()),
        }
    }

    /// A transformer keyword with its `(`; on success the last token is the bare name.
    fn lex_transformer_type(&mut self) -> Option<TransformerKind> {
        for (text, kind) in TRANSFORMERS {
            if self.lex_str(text) {
                self.last_token.pop();
                return Some(kind);
            }
        }
        None
    }

    fn lex_str_op(&mut self) -> Option<(StrOp, bool)> {
        for (text, op, needs_blank) in STR_OPS {
            let save = self.pos;
            if self.lex_str(text) {
                if !needs_blank || self.lex_blank() {
                    return Some((op, needs_blank));
                }
                // `containsvalue`: the keyword is not an operator here; give it back.
                self.pos = save;
            }
        }
        None
    }

    /// After a string operator: `oneof`/`anyof`/`allof` counts as a modifier only when a blank
    /// precedes and follows it and a list or a list name (an identifier other than
    /// `and`/`or`/`not`) comes next; otherwise the word is the operator's string value.
    fn lex_modifier(&mut self, blank_consumed: bool) -> Option<Modifier> {
        let rest = self.rest();
        let lead = rest.iter().take_while(|c| is_blank(**c)).count();
        if lead == 0 && !blank_consumed {
            return None;
        }
        let word = &rest[lead..];
        let (text, modifier) = MODIFIERS.into_iter().find(|(t, _)| word.starts_with(t))?;
        let gap = word[text.len()..]
            .iter()
            .take_while(|c| is_blank(**c))
            .count();
        if gap == 0 {
            return None;
        }
        let next = &word[text.len() + gap..];
        let accepted = match next.first() {
            Some(b'(') => true,
            _ => {
                let n = rx::identifier(next);
                n > 0 && !matches!(&next[..n], b"and" | b"or" | b"not")
            }
        };
        if !accepted {
            return None;
        }
        self.advance(lead);
        self.lex_str(text);
        self.lex_blank();
        Some(modifier)
    }

    // ---- grammar -----------------------------------------------------------------------

    fn parse(&mut self) -> PResult<Node> {
        if self.input.is_empty() {
            return self.err("filter input string is empty");
        }
        // Positions are 32-bit, as libsinsp's `pos_info`.
        if u32::try_from(self.input.len()).is_err() {
            return self.err("filter input string is too long");
        }
        let res = self.parse_or()?;
        if self.depth > 0 {
            return self.err("parser fatal error: recursion is unbalanced");
        }
        if self.pos.idx as usize != self.input.len() {
            return self.err_unexpected();
        }
        Ok(res)
    }

    fn parse_or(&mut self) -> PResult<Node> {
        self.enter()?;
        let pos = self.pos;
        self.lex_blank();
        let mut children = vec![self.parse_and()?];
        self.lex_blank();
        while self.lex_str(b"or") {
            let child = if self.lex_blank() {
                self.parse_and()?
            } else if self.lex_str(b"(") {
                self.parse_embedded_remainder()?
            } else {
                return self.err("expected blank or '(' after 'or'");
            };
            children.push(child);
            self.lex_blank();
        }
        let e = logical_node(children, pos, Expr::Or);
        self.ok(e)
    }

    fn parse_and(&mut self) -> PResult<Node> {
        self.enter()?;
        let pos = self.pos;
        self.lex_blank();
        let mut children = vec![self.parse_not()?];
        self.lex_blank();
        while self.lex_str(b"and") {
            let child = if self.lex_blank() {
                self.parse_not()?
            } else if self.lex_str(b"(") {
                self.parse_embedded_remainder()?
            } else {
                return self.err("expected blank or '(' after 'and'");
            };
            children.push(child);
            self.lex_blank();
        }
        let e = logical_node(children, pos, Expr::And);
        self.ok(e)
    }

    fn parse_not(&mut self) -> PResult<Node> {
        self.enter()?;
        let pos = self.pos;
        self.lex_blank();
        // Consecutive `not ` prefixes fold by parity; each `not(` opens a fresh expression.
        let mut is_not = false;
        while self.lex_rgx(rx::not_blank) {
            is_not = !is_not;
        }
        let child = if self.lex_str(b"not(") {
            is_not = !is_not;
            self.parse_embedded_remainder()?
        } else {
            self.parse_check()?
        };
        let e = if is_not { not_node(child, pos) } else { child };
        self.ok(e)
    }

    /// The rest of a parenthesised expression, after its `(`.
    fn parse_embedded_remainder(&mut self) -> PResult<Node> {
        self.enter()?;
        self.lex_blank();
        let child = self.parse_or()?;
        self.lex_blank();
        if !self.lex_str(b")") {
            return self.err("expected a ')' token");
        }
        self.ok(child)
    }

    fn parse_check(&mut self) -> PResult<Node> {
        self.enter()?;
        let pos = self.pos;
        self.lex_blank();
        if self.lex_str(b"(") {
            let e = self.parse_embedded_remainder()?;
            return self.ok(e);
        }
        if self.lex_rgx(rx::field_name) {
            let name = self.last_token_text();
            let field = self.parse_field_remainder(name, pos)?;
            let e = self.parse_condition(Operand::Field(field), pos)?;
            return self.ok(e);
        }
        if let Some(kind) = self.lex_transformer_type() {
            self.lex_blank();
            let t = self.parse_field_or_transformer_remainder(kind, pos)?;
            let e = self.parse_condition(Operand::Transformer(t), pos)?;
            return self.ok(e);
        }
        if self.lex_rgx(rx::identifier) {
            let e = Box::new(Expr::Identifier(self.last_token_text(), pos));
            return self.ok(e);
        }
        self.err("expected a '(' token, a field check, or an identifier")
    }

    /// An optional `[arg]` right after a field name or a transformer's `)`.
    fn parse_field_arg(&mut self) -> PResult<Option<String>> {
        if !self.lex_str(b"[") {
            return Ok(None);
        }
        if !self.lex_quoted_str()? && !self.lex_rgx(rx::field_arg_bare_str) {
            return self.err("expected a valid field argument: a quoted string or a bare string");
        }
        let arg = self.last_token_text();
        if !self.lex_str(b"]") {
            return self.err("expected a ']' token");
        }
        Ok(Some(arg))
    }

    fn parse_field_remainder(&mut self, name: String, pos: Pos) -> PResult<FieldRef> {
        self.enter()?;
        let arg = self.parse_field_arg()?;
        self.ok(FieldRef { name, arg, pos })
    }

    /// `FieldTransformerTail`: the arguments after `kind(`, the `)` and an optional `[arg]`.
    fn parse_field_or_transformer_remainder(
        &mut self,
        kind: TransformerKind,
        pos: Pos,
    ) -> PResult<Transformer> {
        self.enter()?;
        self.lex_blank();
        let mut args = Vec::new();
        loop {
            let arg_pos = self.pos;
            args.push(self.parse_field_transformer_arg(arg_pos)?);
            self.lex_blank();
            if !self.lex_str(b",") {
                break;
            }
        }
        self.lex_blank();
        if !self.lex_str(b")") {
            return self.err("expected a ')' token closing the transformer");
        }
        let field_arg = self.parse_field_arg()?;
        self.ok(Transformer {
            kind,
            args,
            field_arg,
            pos,
        })
    }

    /// `FieldTransformerArg ::= FieldTransformer | Field | QuotedStr | NumValue | TransformerList`
    /// (tried as libsinsp does: numbers first, fields last).
    fn parse_field_transformer_arg(&mut self, pos: Pos) -> PResult<TransformerArg> {
        self.enter()?;
        self.lex_blank();
        let arg = if self.lex_num_value() || self.lex_quoted_str()? {
            TransformerArg::Value(self.last_token.clone(), pos)
        } else if self.lex_str(b"(") {
            self.parse_transformer_list(pos)?
        } else if let Some(kind) = self.lex_transformer_type() {
            TransformerArg::Transformer(self.parse_field_or_transformer_remainder(kind, pos)?)
        } else if self.lex_rgx(rx::field_name) {
            let name = self.last_token_text();
            TransformerArg::Field(self.parse_field_remainder(name, pos)?)
        } else {
            return self.err(
                "expected field transformer argument: \
                 field, transformer, quoted string, number, or transformer list",
            );
        };
        self.ok(arg)
    }

    /// `TransformerList`, after its `(`. Unguarded in libsinsp; every element shares the list's
    /// position, as there.
    fn parse_transformer_list(&mut self, pos: Pos) -> PResult<TransformerArg> {
        let mut items = Vec::new();
        self.lex_blank();
        if self.lex_str(b")") {
            return Ok(TransformerArg::List(items, pos));
        }
        items.push(self.parse_transformer_list_arg(pos)?);
        self.lex_blank();
        while self.lex_str(b",") {
            self.lex_blank();
            items.push(self.parse_transformer_list_arg(pos)?);
            self.lex_blank();
        }
        if !self.lex_str(b")") {
            return self.err("expected ')'");
        }
        Ok(TransformerArg::List(items, pos))
    }

    /// `TransformerListArg ::= Field | FieldTransformer | QuotedStr | NumValue` (fields first).
    fn parse_transformer_list_arg(&mut self, pos: Pos) -> PResult<TransformerArg> {
        if self.lex_rgx(rx::field_name) {
            let name = self.last_token_text();
            return Ok(TransformerArg::Field(
                self.parse_field_remainder(name, pos)?,
            ));
        }
        if let Some(kind) = self.lex_transformer_type() {
            self.lex_blank();
            return Ok(TransformerArg::Transformer(
                self.parse_field_or_transformer_remainder(kind, pos)?,
            ));
        }
        if self.lex_quoted_str()? || self.lex_num_value() {
            return Ok(TransformerArg::Value(self.last_token.clone(), pos));
        }
        self.err("expected transformer list argument: field, transformer, quoted string, or number")
    }

    fn parse_condition(&mut self, left: Operand, pos: Pos) -> PResult<Node> {
        self.enter()?;
        self.lex_blank();
        if self.lex_str(b"exists") {
            return self.ok(unary_node(left, pos));
        }
        self.lex_blank();
        let (op, right) = if let Some(op) = NUM_OPS
            .iter()
            .find_map(|(t, op)| self.lex_str(t).then_some(*op))
        {
            (op, self.parse_num_value_or_transformer()?)
        } else if let Some((op, blank_consumed)) = self.lex_str_op() {
            match self.lex_modifier(blank_consumed) {
                Some(m) => (
                    CmpOp::Modified(op, m),
                    self.parse_list_value_or_transformer(false)?,
                ),
                None => (str_cmp_op(op), self.parse_str_value_or_transformer(false)?),
            }
        } else if let Some(op) = LIST_OPS
            .iter()
            .find_map(|(t, op)| self.lex_str(t).then_some(*op))
        {
            (op, self.parse_list_value_or_transformer(true)?)
        } else {
            return self.err_operator();
        };
        self.ok(binary_node(left, op, right, pos))
    }

    fn parse_num_value_or_transformer(&mut self) -> PResult<Rhs> {
        self.enter()?;
        self.lex_blank();
        let pos = self.pos;
        if let Some(t) = self.try_parse_transformer_or_val()? {
            return self.ok(Rhs::Transformer(t));
        }
        if self.lex_num_value() {
            let v = Rhs::Value(self.last_token.clone(), pos);
            return self.ok(v);
        }
        self.err_transformer("a number value or")
    }

    fn parse_str_value_or_transformer(&mut self, no_transformer: bool) -> PResult<Rhs> {
        self.enter()?;
        self.lex_blank();
        let pos = self.pos;
        if !no_transformer {
            if let Some(t) = self.try_parse_transformer_or_val()? {
                return self.ok(Rhs::Transformer(t));
            }
        }
        if self.lex_quoted_str()? || self.lex_rgx(rx::bare_str) {
            let v = Rhs::Value(self.last_token.clone(), pos);
            return self.ok(v);
        }
        if no_transformer {
            return self.err("expected a string value");
        }
        self.err_transformer("a string value or")
    }

    /// A list element: a quoted or bare string.
    fn parse_list_item(&mut self) -> PResult<(Vec<u8>, Pos)> {
        match self.parse_str_value_or_transformer(true)? {
            Rhs::Value(v, p) => Ok((v, p)),
            _ => self.err("parser fatal error: null value expr in list"),
        }
    }

    /// The right-hand side of a list operator (or of a string operator with a modifier, which
    /// takes no transformer).
    fn parse_list_value_or_transformer(&mut self, allow_transformer: bool) -> PResult<Rhs> {
        self.enter()?;
        self.lex_blank();
        let pos = self.pos;
        if self.lex_str(b"(") {
            let mut values = Vec::new();
            self.lex_blank();
            // libsinsp tries the first element inside a catch-all: any failure there (even a bad
            // escape or the depth limit) just means "the list is empty", and the `)` check
            // below reports what follows.
            let depth = self.depth;
            if let Ok(first) = self.parse_list_item() {
                values.push(first);
                self.lex_blank();
                while self.lex_str(b",") {
                    values.push(self.parse_list_item()?);
                    self.lex_blank();
                }
            } else {
                self.depth = depth;
            }
            if !self.lex_str(b")") {
                return self.err("expected a ')' token");
            }
            return self.ok(Rhs::List(values, pos));
        }
        if allow_transformer {
            if let Some(t) = self.try_parse_transformer_or_val()? {
                return self.ok(Rhs::Transformer(t));
            }
        }
        if self.lex_rgx(rx::identifier) {
            let v = Rhs::Identifier(self.last_token_text(), pos);
            return self.ok(v);
        }
        if !allow_transformer {
            return self.err("expected a list or an identifier");
        }
        self.err_transformer("a list, an identifier, or")
    }

    /// `val(field)` or a transformer on the right-hand side; `None` if neither starts here.
    fn try_parse_transformer_or_val(&mut self) -> PResult<Option<Transformer>> {
        self.enter()?;
        self.lex_blank();
        let pos = self.pos;
        if self.lex_str(b"val(") {
            self.lex_blank();
            let field_pos = self.pos;
            if !self.lex_rgx(rx::field_name) {
                return self.err("expected a field within 'val' transformer");
            }
            let name = self.last_token_text();
            let field = self.parse_field_remainder(name, field_pos)?;
            self.lex_blank();
            if !self.lex_str(b")") {
                return self.err("expected a ')' token closing the transformer");
            }
            let field_arg = self.parse_field_arg()?;
            return self.ok(Some(Transformer {
                kind: TransformerKind::Val,
                args: vec![TransformerArg::Field(field)],
                field_arg,
                pos,
            }));
        }
        if let Some(kind) = self.lex_transformer_type() {
            self.lex_blank();
            let t = self.parse_field_or_transformer_remainder(kind, pos)?;
            return self.ok(Some(t));
        }
        self.ok(None)
    }
}

// Node constructors live out of line so that the 152-byte `Expr` temporaries they need sit in
// short-lived frames, not in the frames that stay on the stack while the parser recurses.

#[inline(never)]
fn logical_node(mut children: Vec<Node>, pos: Pos, make: fn(Vec<Expr>, Pos) -> Expr) -> Node {
    if children.len() == 1 {
        if let Some(only) = children.pop() {
            return only;
        }
    }
    Box::new(make(children.into_iter().map(|c| *c).collect(), pos))
}

#[inline(never)]
fn not_node(child: Node, pos: Pos) -> Node {
    Box::new(Expr::Not(child, pos))
}

#[inline(never)]
fn unary_node(left: Operand, pos: Pos) -> Node {
    Box::new(Expr::Unary {
        left,
        op: UnaryOp::Exists,
        pos,
    })
}

#[inline(never)]
fn binary_node(left: Operand, op: CmpOp, right: Rhs, pos: Pos) -> Node {
    Box::new(Expr::Binary {
        left,
        op,
        right,
        pos,
    })
}

fn str_cmp_op(op: StrOp) -> CmpOp {
    match op {
        StrOp::Eq => CmpOp::Eq,
        StrOp::EqEq => CmpOp::EqEq,
        StrOp::Ne => CmpOp::Ne,
        StrOp::Glob => CmpOp::Glob,
        StrOp::IGlob => CmpOp::IGlob,
        StrOp::Contains => CmpOp::Contains,
        StrOp::IContains => CmpOp::IContains,
        StrOp::BContains => CmpOp::BContains,
        StrOp::StartsWith => CmpOp::StartsWith,
        StrOp::BStartsWith => CmpOp::BStartsWith,
        StrOp::EndsWith => CmpOp::EndsWith,
        StrOp::Regex => CmpOp::Regex,
    }
}
