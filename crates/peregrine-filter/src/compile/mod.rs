//! Type checking and compilation of a condition AST into an executable [`Filter`].
//!
//! The checker is libsinsp's `sinsp_filter_compiler` (same accept/reject decisions, same
//! messages where Falco users see them); the output is not. Every field resolves here to a
//! [`FieldRequest`], every literal is converted once to the field's type, every list becomes a
//! hashed set, a path trie or an automaton, and `evt.type` checks become bitset tests on the
//! event's type. Evaluation then does no name lookup, no parsing and no allocation. The cost is
//! this module: one pass at load time per rule.
//!
//! Macros are the loader's business: [`check_identifiers`] is a separate pass it can run first
//! to report an undefined macro the way Falco does.

mod eval;
mod literal;
mod matchers;
mod transform;

pub use eval::Scratch;

/// Falco's `glob` operator on plain strings (`*`, `?`, `[…]` classes, case-sensitive), for
/// the crates that match alerts rather than events (output routing, silences, dedup
/// overrides), so a pattern means the same everywhere.
pub fn glob(pattern: &str, text: &str) -> bool {
    matchers::glob_match(pattern.as_bytes(), text.as_bytes(), false)
}

use peregrine_event::{EventType, EventTypeSet};

use crate::ast::{self, CmpOp, Modifier, Pos, Rhs, StrOp, TransformerArg, TransformerKind};
use crate::fields::{self, FieldId, FieldInfo, FieldType};
use crate::source::FieldRequest;
use literal::{convert, Lit};
use matchers::{AcMode, Glob, IpItem, Matcher, Ord6, PathTrie, StrSet};
use transform::{Part, Xform};

/// Why a condition does not compile, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    pub pos: Pos,
}

/// Something legal but probably not what the author meant (libsinsp's compiler warnings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileWarning {
    pub message: String,
    pub pos: Pos,
}

/// A compiled condition and the warnings found on the way.
#[derive(Debug)]
pub struct Compiled {
    pub filter: Filter,
    pub warnings: Vec<CompileWarning>,
}

/// An immutable, executable condition. See [`Filter::eval`].
#[derive(Debug)]
pub struct Filter {
    root: Node,
}

#[derive(Debug)]
pub(crate) enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    /// `evt.type = x`, `!=`, `in`: answered from [`crate::FieldSource::event_type`].
    EvtType {
        set: EventTypeSet,
        negate: bool,
    },
    Check(Box<Check>),
}

#[derive(Debug)]
pub(crate) struct Check {
    pub lhs: Operand,
    pub test: Test,
}

/// Where a check's values come from: a field, or transformers over fields.
#[derive(Debug)]
pub(crate) enum Operand {
    Field(FieldRequest),
    Xform(Box<Xform>),
}

#[derive(Debug)]
pub(crate) enum Test {
    Exists,
    /// Against constants. `all`: every value must match (`in` on a list field); otherwise one
    /// matching value is enough (single values, and `proc.aname` & co. over all ancestors).
    Const {
        m: Matcher,
        all: bool,
    },
    /// Against another field's values (`val(field)` or a transformer on the right).
    Field {
        op: Op,
        rhs: Operand,
    },
}

/// A comparison operator with its `=`/`==` spelling and modifier folded away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    PMatch,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::Regex => "regex",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
        }
    }

    fn ord(self) -> Option<Ord6> {
        Some(match self {
            Op::Eq => Ord6::Eq,
            Op::Ne => Ord6::Ne,
            Op::Lt => Ord6::Lt,
            Op::Le => Ord6::Le,
            Op::Gt => Ord6::Gt,
            Op::Ge => Ord6::Ge,
            _ => return None,
        })
    }
}

fn split_op(op: CmpOp) -> (Op, Option<Modifier>) {
    let str_op = |s: StrOp| match s {
        StrOp::Eq | StrOp::EqEq => Op::Eq,
        StrOp::Ne => Op::Ne,
        StrOp::Glob => Op::Glob,
        StrOp::IGlob => Op::IGlob,
        StrOp::Contains => Op::Contains,
        StrOp::IContains => Op::IContains,
        StrOp::BContains => Op::BContains,
        StrOp::StartsWith => Op::StartsWith,
        StrOp::BStartsWith => Op::BStartsWith,
        StrOp::EndsWith => Op::EndsWith,
        StrOp::Regex => Op::Regex,
    };
    match op {
        CmpOp::Eq | CmpOp::EqEq => (Op::Eq, None),
        CmpOp::Ne => (Op::Ne, None),
        CmpOp::Lt => (Op::Lt, None),
        CmpOp::Le => (Op::Le, None),
        CmpOp::Gt => (Op::Gt, None),
        CmpOp::Ge => (Op::Ge, None),
        CmpOp::Contains => (Op::Contains, None),
        CmpOp::IContains => (Op::IContains, None),
        CmpOp::BContains => (Op::BContains, None),
        CmpOp::StartsWith => (Op::StartsWith, None),
        CmpOp::BStartsWith => (Op::BStartsWith, None),
        CmpOp::EndsWith => (Op::EndsWith, None),
        CmpOp::Glob => (Op::Glob, None),
        CmpOp::IGlob => (Op::IGlob, None),
        CmpOp::Regex => (Op::Regex, None),
        CmpOp::In => (Op::In, None),
        CmpOp::Intersects => (Op::Intersects, None),
        CmpOp::PMatch => (Op::PMatch, None),
        CmpOp::Modified(s, m) => (str_op(s), Some(m)),
    }
}

fn modifier_name(m: Modifier) -> &'static str {
    match m {
        Modifier::OneOf => "oneof",
        Modifier::AnyOf => "anyof",
        Modifier::AllOf => "allof",
    }
}

/// The type of the values an operand yields, after transformers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VType {
    pub ty: FieldType,
    pub list: bool,
}

fn err(message: impl Into<String>, pos: Pos) -> CompileError {
    CompileError {
        message: message.into(),
        pos,
    }
}

/// Reports the first macro reference left in `expr` as Falco does. The loader runs this after
/// macro substitution and before [`compile`], so that a typo in a macro name is reported as
/// such and not as a type error.
pub fn check_identifiers(expr: &ast::Expr) -> Result<(), CompileError> {
    match expr {
        ast::Expr::And(c, _) | ast::Expr::Or(c, _) => c.iter().try_for_each(check_identifiers),
        ast::Expr::Not(c, _) => check_identifiers(c),
        ast::Expr::Identifier(name, pos) => Err(err(
            format!("Undefined macro '{name}' used in filter."),
            *pos,
        )),
        ast::Expr::Unary { .. } | ast::Expr::Binary { .. } => Ok(()),
    }
}

/// Type-checks and compiles a condition whose macros and lists are already resolved.
pub fn compile(expr: &ast::Expr) -> Result<Compiled, CompileError> {
    let mut c = Compiler {
        warnings: Vec::new(),
    };
    let root = c.expr(expr)?;
    Ok(Compiled {
        filter: Filter { root },
        warnings: c.warnings,
    })
}

impl Filter {
    /// Evaluates the condition for the event `src` currently describes. `scratch` is reused
    /// across events so that steady-state evaluation does not allocate.
    pub fn eval(&self, src: &mut dyn crate::FieldSource, scratch: &mut Scratch) -> bool {
        eval::node(&self.root, src, scratch)
    }
}

/// Resolves a field name (plus `[arg]`, or a dynamic suffix such as `evt.arg.flags`) through
/// the catalogue, with libsinsp's error wording.
pub(crate) fn resolve_field(
    name: &str,
    arg: Option<&str>,
) -> Result<(FieldRequest, &'static FieldInfo), String> {
    let req = fields::resolve(name, arg).map_err(|e| e.to_string())?;
    let info = fields::request_info(&req);
    Ok((req, info))
}

/// Splits `name[arg]` text (as a misused string value would be written) for the field-name
/// warning.
fn looks_like_field(s: &str) -> bool {
    let (name, arg) = match s.find('[') {
        Some(i) if s.ends_with(']') => (&s[..i], Some(&s[i + 1..s.len() - 1])),
        Some(_) => return false,
        None => (s, None),
    };
    // The catalogue lookup first: most values (paths, names) are no field, and it answers
    // without the allocations a failed `resolve_field` makes for its message.
    name.contains('.')
        && fields::lookup_with_suffix(name).is_some()
        && resolve_field(name, arg).is_ok()
}

const TRANSFORMER_NAMES: &[&str] = &[
    "tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt", "val",
];

struct Compiler {
    warnings: Vec<CompileWarning>,
}

impl Compiler {
    fn expr(&mut self, e: &ast::Expr) -> Result<Node, CompileError> {
        Ok(match e {
            ast::Expr::And(c, _) => Node::And(self.children(c)?),
            ast::Expr::Or(c, _) => Node::Or(self.children(c)?),
            ast::Expr::Not(c, _) => Node::Not(Box::new(self.expr(c)?)),
            ast::Expr::Identifier(name, pos) => {
                return Err(err(
                    format!("filter error: unexpected identifier '{name}'"),
                    *pos,
                ))
            }
            ast::Expr::Unary { left, .. } => {
                let (lhs, _, _) = self.operand(left)?;
                Node::Check(Box::new(Check {
                    lhs,
                    test: Test::Exists,
                }))
            }
            ast::Expr::Binary {
                left, op, right, ..
            } => self.binary(left, *op, right)?,
        })
    }

    fn children(&mut self, c: &[ast::Expr]) -> Result<Box<[Node]>, CompileError> {
        c.iter().map(|e| self.expr(e)).collect()
    }

    /// Compiles a left-hand side or a `val()`/transformer right-hand side; returns the operand,
    /// its value type and the name used in messages.
    fn operand(&mut self, o: &ast::Operand) -> Result<(Operand, VType, String), CompileError> {
        match o {
            ast::Operand::Field(f) => self.field(f),
            ast::Operand::Transformer(t) => self.transformer(t),
        }
    }

    fn field(&mut self, f: &ast::FieldRef) -> Result<(Operand, VType, String), CompileError> {
        let (req, info) = resolve_field(&f.name, f.arg.as_deref()).map_err(|m| err(m, f.pos))?;
        let vt = VType {
            ty: info.ty,
            list: info.flags.list,
        };
        Ok((Operand::Field(req), vt, info.name.to_string()))
    }

    fn transformer_input(
        &mut self,
        a: &TransformerArg,
        tname: &str,
        pos: Pos,
    ) -> Result<(Operand, VType, String), CompileError> {
        match a {
            TransformerArg::Field(f) => {
                let (op, vt, name) = self.field(f)?;
                let info = resolve_field(&f.name, f.arg.as_deref())
                    .map_err(|m| err(m, f.pos))?
                    .1;
                if info.flags.no_transformer && tname != "val" {
                    return Err(err(
                        format!("field '{name}' does not support transformers"),
                        f.pos,
                    ));
                }
                Ok((op, vt, name))
            }
            TransformerArg::Transformer(t) => self.transformer(t),
            _ => Err(err(
                format!("filter error: transformer '{tname}' expects a field argument"),
                pos,
            )),
        }
    }

    fn transformer(
        &mut self,
        t: &ast::Transformer,
    ) -> Result<(Operand, VType, String), CompileError> {
        let name = t.kind.name();
        if t.field_arg.is_some() && t.kind != TransformerKind::Getopt {
            return Err(err(
                format!("filter error: transformer '{name}' does not support field arguments"),
                t.pos,
            ));
        }
        let single = |c: &mut Self| -> Result<(Operand, VType, String), CompileError> {
            match t.args.as_slice() {
                [a] => c.transformer_input(a, name, t.pos),
                _ => Err(err(
                    format!("filter error: transformer '{name}' expects exactly one argument"),
                    t.pos,
                )),
            }
        };
        let unsupported = |vt: VType, field: &str| {
            err(
                format!(
                    "can't add field transformer: type '{}' is not supported by '{name}' transformer applied on {}field '{field}'",
                    vt.ty.name(),
                    if vt.list { "list " } else { "" }
                ),
                t.pos,
            )
        };
        let string_like = |ty: FieldType| matches!(ty, FieldType::CharBuf | FieldType::ByteBuf);
        match t.kind {
            TransformerKind::Val => single(self),
            TransformerKind::ToLower | TransformerKind::ToUpper | TransformerKind::Basename => {
                let (inner, vt, field) = single(self)?;
                if vt.ty != FieldType::CharBuf {
                    return Err(unsupported(vt, &field));
                }
                let kind = match t.kind {
                    TransformerKind::ToLower => transform::Unary::ToLower,
                    TransformerKind::ToUpper => transform::Unary::ToUpper,
                    _ => transform::Unary::Basename,
                };
                Ok((
                    Operand::Xform(Box::new(Xform::Unary(kind, inner))),
                    vt,
                    field,
                ))
            }
            TransformerKind::B64 => {
                let (inner, vt, field) = single(self)?;
                if !string_like(vt.ty) {
                    return Err(unsupported(vt, &field));
                }
                let op = Operand::Xform(Box::new(Xform::Unary(transform::Unary::B64, inner)));
                Ok((op, vt, field))
            }
            TransformerKind::Len => {
                let (inner, vt, field) = single(self)?;
                let kind = if vt.list {
                    transform::Unary::Count
                } else if string_like(vt.ty) {
                    transform::Unary::Len
                } else {
                    return Err(unsupported(vt, &field));
                };
                let out = VType {
                    ty: FieldType::UInt64,
                    list: false,
                };
                Ok((
                    Operand::Xform(Box::new(Xform::Unary(kind, inner))),
                    out,
                    field,
                ))
            }
            TransformerKind::Join => {
                let (sep, items) = match t.args.as_slice() {
                    [TransformerArg::Value(sep, _), TransformerArg::List(items, _)] => (sep, items),
                    _ => return Err(err(
                        "filter error: transformer 'join' expects a separator string and a list",
                        t.pos,
                    )),
                };
                let parts = self.parts(items, name, t.pos)?;
                let out = Xform::Join {
                    sep: sep.as_slice().into(),
                    parts,
                };
                Ok((Operand::Xform(Box::new(out)), charbuf(), name.to_string()))
            }
            TransformerKind::Concat => {
                if t.args.is_empty() {
                    return Err(err(
                        "filter error: transformer 'concat' expects at least one argument",
                        t.pos,
                    ));
                }
                let parts = self.parts(&t.args, name, t.pos)?;
                Ok((
                    Operand::Xform(Box::new(Xform::Concat(parts))),
                    charbuf(),
                    name.to_string(),
                ))
            }
            TransformerKind::Getopt => {
                let (input, opts) = match t.args.as_slice() {
                    [input, TransformerArg::Value(opts, _)] => (input, opts),
                    _ => return Err(err(
                        "filter error: transformer 'getopt' expects a field and an option string",
                        t.pos,
                    )),
                };
                let (inner, vt, field) = self.transformer_input(input, name, t.pos)?;
                if vt.ty != FieldType::CharBuf {
                    return Err(unsupported(vt, &field));
                }
                let key = match t.field_arg.as_deref().map(str::as_bytes) {
                    Some([k]) => *k,
                    _ => {
                        return Err(err(
                            "filter error: transformer 'getopt' requires a one-letter option argument, e.g. getopt(proc.args, \"nt:\")[t]",
                            t.pos,
                        ))
                    }
                };
                let out = Xform::Getopt {
                    inner,
                    opts: opts.as_slice().into(),
                    key,
                };
                Ok((Operand::Xform(Box::new(out)), vt, field))
            }
        }
    }

    fn parts(
        &mut self,
        items: &[TransformerArg],
        tname: &str,
        pos: Pos,
    ) -> Result<Vec<Part>, CompileError> {
        items
            .iter()
            .map(|a| match a {
                TransformerArg::Value(v, _) => Ok(Part::Lit(v.as_slice().into())),
                TransformerArg::List(_, p) => Err(err(
                    format!("filter error: transformer '{tname}' does not accept a nested list"),
                    *p,
                )),
                other => {
                    let (op, vt, field) = self.transformer_input(other, tname, pos)?;
                    if !matches!(vt.ty, FieldType::CharBuf | FieldType::ByteBuf) {
                        return Err(err(
                            format!(
                                "can't add field transformer: type '{}' is not supported by '{tname}' transformer applied on field '{field}'",
                                vt.ty.name()
                            ),
                            pos,
                        ));
                    }
                    Ok(Part::Op(op))
                }
            })
            .collect()
    }

    fn binary(
        &mut self,
        left: &ast::Operand,
        cmp: CmpOp,
        right: &Rhs,
    ) -> Result<Node, CompileError> {
        let (op, modifier) = split_op(cmp);
        if let ast::Operand::Transformer(t) = left {
            if t.kind == TransformerKind::Val {
                return Err(err(
                    "filter error: the 'val' transformer can only be used on the right-hand side of a comparison",
                    t.pos,
                ));
            }
        }
        let (lhs, vt, lname) = self.operand(left)?;
        let lpos = left.pos();
        check_comparable(op, vt).map_err(|m| err(format!("filter error: {m}"), lpos))?;
        if let Some(m) = modifier {
            if matches!(vt.ty, FieldType::IpAddr | FieldType::IpNet)
                && !matches!(op, Op::Eq | Op::Ne)
            {
                return Err(err(
                    format!(
                        "filter error: '{} {}' operator not supported for ip address and network filters",
                        op.name(),
                        modifier_name(m)
                    ),
                    lpos,
                ));
            }
        }

        // A field on the right.
        if let Rhs::Transformer(t) = right {
            return self.rhs_field(lhs, vt, &lname, left, op, t);
        }

        let values: Vec<(&[u8], Pos)> = match right {
            Rhs::Value(v, p) => vec![(v.as_slice(), *p)],
            Rhs::List(vs, _) => vs.iter().map(|(v, p)| (v.as_slice(), *p)).collect(),
            Rhs::Identifier(name, p) => vec![(name.as_bytes(), *p)],
            // Handled above.
            Rhs::Transformer(_) => Vec::new(),
        };
        let rpos = match right {
            Rhs::Value(_, p) | Rhs::List(_, p) | Rhs::Identifier(_, p) => *p,
            Rhs::Transformer(t) => t.pos,
        };
        for (v, _) in &values {
            self.value_warnings(op, rpos, v);
        }

        // evt.type compares against the event's type directly: a bitset test, no extraction.
        if let (ast::Operand::Field(f), Operand::Field(req), None) = (left, &lhs, modifier) {
            if req.id == FieldId::EvtType
                && f.arg.is_none()
                && matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects)
            {
                let set: EventTypeSet = values
                    .iter()
                    .filter_map(|(v, _)| std::str::from_utf8(v).ok())
                    .filter_map(EventType::from_name)
                    .collect();
                return Ok(Node::EvtType {
                    set,
                    negate: op == Op::Ne,
                });
            }
        }

        let hex = matches!(op, Op::BContains | Op::BStartsWith);
        let lits = values
            .iter()
            .map(|(v, p)| convert(vt.ty, v, hex).map_err(|m| err(m, *p)))
            .collect::<Result<Vec<Lit>, _>>()?;
        let m = build_matcher(op, modifier, lits).map_err(|m| err(m, rpos))?;
        // `in` on a list field needs every value in the set; `!=` on the client/server pair
        // fields (fd.ip, fd.net, fd.port, …) needs both ends to differ (libsinsp's
        // `compare_ip`/`compare_net`/`compare_port`).
        let endpoint_pair = matches!(
            &lhs,
            Operand::Field(FieldRequest {
                id: FieldId::FdIp | FieldId::FdNet | FieldId::FdPort | FieldId::FdProto,
                ..
            })
        );
        let all = (vt.list && op == Op::In) || (endpoint_pair && op == Op::Ne);
        Ok(Node::Check(Box::new(Check {
            lhs,
            test: Test::Const { m, all },
        })))
    }

    fn rhs_field(
        &mut self,
        lhs: Operand,
        vt: VType,
        lname: &str,
        left: &ast::Operand,
        op: Op,
        t: &ast::Transformer,
    ) -> Result<Node, CompileError> {
        if matches!(op, Op::PMatch | Op::Regex) {
            return Err(err(
                format!(
                    "filter error: operator '{}' doesn't support right-hand side fields",
                    op.name()
                ),
                t.pos,
            ));
        }
        if vt.ty == FieldType::IpNet {
            return Err(err(
                "filter error: field type 'IPNET' doesn't support right-hand side fields",
                t.pos,
            ));
        }
        if let ast::Operand::Field(f) = left {
            if let Ok((_, info)) = resolve_field(&f.name, f.arg.as_deref()) {
                if info.flags.no_rhs {
                    return Err(err(
                        format!(
                            "filter error: field '{lname}' doesn't support right-hand side fields"
                        ),
                        f.pos,
                    ));
                }
            }
        }
        if t.kind == TransformerKind::Val {
            match t.args.as_slice() {
                [TransformerArg::Field(f)] => {
                    let (_, info) =
                        resolve_field(&f.name, f.arg.as_deref()).map_err(|m| err(m, f.pos))?;
                    if info.flags.no_rhs {
                        return Err(err(
                            format!(
                                "filter error: field '{}' can't be used as a right-hand side field",
                                info.name
                            ),
                            f.pos,
                        ));
                    }
                }
                _ => {
                    return Err(err(
                        "filter error: expected a field within 'val' transformer",
                        t.pos,
                    ))
                }
            }
        }
        let (rhs, rvt, rname) = self.transformer(t)?;
        if rvt != vt {
            let list = |l: bool| if l { " (list)" } else { "" };
            return Err(err(
                format!(
                    "filter error: field '{lname}' has type '{}{}' while the right-hand side field '{rname}' has incompatible type '{}{}'",
                    vt.ty.name(),
                    list(vt.list),
                    rvt.ty.name(),
                    list(rvt.list)
                ),
                t.pos,
            ));
        }
        Ok(Node::Check(Box::new(Check {
            lhs,
            test: Test::Field { op, rhs },
        })))
    }

    /// libsinsp's `check_value_and_add_warnings`: a regex that a cheaper operator would do, a
    /// field name or a transformer written as a string value.
    fn value_warnings(&mut self, op: Op, pos: Pos, v: &[u8]) {
        let Ok(s) = std::str::from_utf8(v) else {
            return;
        };
        // Runs for every value of every list: only values with blanks pay for a copy.
        let nospaces: std::borrow::Cow<'_, str> = if s.bytes().any(|c| c.is_ascii_whitespace()) {
            s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
        } else {
            s.into()
        };
        if op == Op::Regex && regex_is_trivial(s) {
            self.warnings.push(CompileWarning {
                message: format!(
                    "regex check with '{s}' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'"
                ),
                pos,
            });
        }
        if looks_like_field(&nospaces) {
            self.warnings.push(CompileWarning {
                message: format!("'{s}' may be a valid field misused as a const string value"),
                pos,
            });
        }
        for t in TRANSFORMER_NAMES {
            if nospaces.len() >= t.len() + 2
                && nospaces.starts_with(t)
                && nospaces.as_bytes()[t.len()] == b'('
                && nospaces.ends_with(')')
            {
                self.warnings.push(CompileWarning {
                    message: format!(
                        "'{s}' may be a valid field transformer misused as a const string value"
                    ),
                    pos,
                });
            }
        }
    }
}

fn charbuf() -> VType {
    VType {
        ty: FieldType::CharBuf,
        list: false,
    }
}

/// Whether a regex has special characters only where `=`, `contains`, `startswith` or
/// `endswith` would do (libsinsp's heuristic, anchors and leading/trailing `.*` excepted).
fn regex_is_trivial(v: &str) -> bool {
    let b = v.as_bytes();
    let len = b.len();
    let mut i = 0;
    while i < len {
        if (i == 0 && b[i] == b'^') || (i == len - 1 && b[i] == b'$') {
            i += 1;
            continue;
        }
        if ((i == 0 && len > 1) || (len >= 2 && i == len - 2))
            && b[i] == b'.'
            && matches!(b.get(i + 1), Some(b'+' | b'*' | b'?'))
        {
            i += 2;
            continue;
        }
        if br".+*?^$()[]{}|\".contains(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// libsinsp's `flt_is_comparable`: the operator × field-type matrix.
fn check_comparable(op: Op, vt: VType) -> Result<(), String> {
    use FieldType as T;
    if vt.list {
        return match vt.ty {
            T::CharBuf | T::UInt64 | T::RelTime | T::AbsTime | T::Bool | T::IpAddr | T::IpNet => {
                if matches!(op, Op::In | Op::Intersects) {
                    Ok(())
                } else {
                    Err(format!(
                        "'{}' operator not supported list filters",
                        op.name()
                    ))
                }
            }
            ty => Err(format!(
                "list filters are not supported for type '{}'",
                ty.name()
            )),
        };
    }
    let (ok, what) = match vt.ty {
        T::Int16
        | T::Int32
        | T::Int64
        | T::UInt16
        | T::UInt32
        | T::UInt64
        | T::Port
        | T::RelTime
        | T::AbsTime
        | T::Double => (
            matches!(
                op,
                Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::In | Op::Intersects
            ),
            "numeric",
        ),
        T::Bool => (
            matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects),
            "boolean",
        ),
        T::IpAddr | T::IpNet => (
            matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects),
            "ip address and network",
        ),
        T::CharBuf => (!matches!(op, Op::BContains | Op::BStartsWith), "string"),
        T::ByteBuf => (
            matches!(
                op,
                Op::Eq
                    | Op::Ne
                    | Op::Contains
                    | Op::In
                    | Op::StartsWith
                    | Op::EndsWith
                    | Op::Intersects
                    | Op::BContains
                    | Op::BStartsWith
            ),
            "buffer",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' operator not supported for {what} filters",
            op.name()
        ))
    }
}

/// The matcher for one right-hand literal under a plain (unmodified) operator.
fn single_matcher(op: Op, lit: Lit) -> Result<Matcher, String> {
    let bytes = |l: Lit| match l {
        Lit::Bytes(b) => Ok(b),
        other => Err(format!(
            "filter error: unexpected value {other:?} for '{}'",
            op.name()
        )),
    };
    Ok(match op {
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = op.ord().unwrap_or(Ord6::Eq);
            let ne = op == Op::Ne;
            match lit {
                Lit::Num(n) => Matcher::Num(ord, n),
                Lit::Bool(b) => Matcher::Bool { rhs: b, ne },
                Lit::Bytes(b) => Matcher::BytesOrd(ord, b),
                Lit::Ip(ip) => Matcher::Ip { rhs: ip, ne },
                Lit::Net(net) => Matcher::Net { net, ne },
            }
        }
        Op::Contains | Op::BContains => Matcher::contains(&bytes(lit)?),
        Op::IContains => Matcher::icontains(&bytes(lit)?),
        Op::StartsWith | Op::BStartsWith => Matcher::StartsWith(bytes(lit)?),
        Op::EndsWith => Matcher::EndsWith(bytes(lit)?),
        Op::Glob => {
            // A pattern without metacharacters is an equality test.
            let b = bytes(lit)?;
            if Glob::is_literal(&b) {
                Matcher::BytesOrd(Ord6::Eq, b)
            } else {
                Matcher::Glob(Glob::new(&b, false))
            }
        }
        Op::IGlob => Matcher::Glob(Glob::new(&bytes(lit)?, true)),
        Op::Regex => {
            let b = bytes(lit)?;
            let pat = std::str::from_utf8(&b)
                .map_err(|_| "invalid regex pattern: not valid UTF-8".to_string())?;
            let re = regex::bytes::Regex::new(&format!("^(?:{pat})$"))
                .map_err(|e| format!("invalid regex pattern: {e}"))?;
            Matcher::Regex(re)
        }
        Op::In | Op::Intersects | Op::PMatch => set_matcher(op, vec![lit]),
    })
}

/// `in`/`intersects`/`pmatch` over a list of literals of one type.
fn set_matcher(op: Op, lits: Vec<Lit>) -> Matcher {
    if op == Op::PMatch {
        let mut trie = PathTrie::default();
        for l in lits {
            if let Lit::Bytes(b) = l {
                trie.insert(&b);
            }
        }
        return Matcher::PathPrefix(trie);
    }
    match lits.first() {
        None => Matcher::Never,
        Some(Lit::Bytes(_)) => Matcher::StrSet {
            set: StrSet::new(lits.into_iter().filter_map(|l| match l {
                Lit::Bytes(b) => Some(b),
                _ => None,
            })),
            negate: false,
        },
        Some(Lit::Num(_)) => Matcher::NumSet(
            lits.into_iter()
                .filter_map(|l| match l {
                    Lit::Num(n) => Some(n),
                    _ => None,
                })
                .collect(),
        ),
        Some(Lit::Bool(_)) => {
            let has = |v: bool| lits.contains(&Lit::Bool(v));
            Matcher::BoolSet {
                t: has(true),
                f: has(false),
            }
        }
        Some(Lit::Ip(_) | Lit::Net(_)) => Matcher::IpSet(
            lits.into_iter()
                .filter_map(|l| match l {
                    Lit::Ip(ip) => Some(IpItem::Addr(ip)),
                    Lit::Net(n) => Some(IpItem::Net(n)),
                    _ => None,
                })
                .collect(),
        ),
    }
}

/// Chooses the cheapest matcher for an operator, a modifier and a list of literals.
fn build_matcher(op: Op, modifier: Option<Modifier>, lits: Vec<Lit>) -> Result<Matcher, String> {
    if matches!(op, Op::In | Op::Intersects | Op::PMatch) {
        return Ok(set_matcher(op, lits));
    }
    let Some(m) = modifier else {
        let lit = lits
            .into_iter()
            .next()
            .ok_or_else(|| format!("filter error: '{}' expects a value", op.name()))?;
        return single_matcher(op, lit);
    };
    if lits.is_empty() {
        return Ok(Matcher::Never);
    }
    let all_bytes = lits.iter().all(|l| matches!(l, Lit::Bytes(_)));
    let byte_lits = || -> Vec<Box<[u8]>> {
        lits.iter()
            .filter_map(|l| match l {
                Lit::Bytes(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    };
    if all_bytes {
        match (m, op) {
            // `== anyof` is set membership, `!= allof` is its negation.
            (Modifier::AnyOf, Op::Eq) => {
                return Ok(Matcher::StrSet {
                    set: StrSet::new(byte_lits()),
                    negate: false,
                })
            }
            (Modifier::AllOf, Op::Ne) => {
                return Ok(Matcher::StrSet {
                    set: StrSet::new(byte_lits()),
                    negate: true,
                })
            }
            (Modifier::AnyOf, Op::Contains | Op::BContains | Op::IContains) if lits.len() > 1 => {
                if let Some(ac) = Matcher::ac(&byte_lits(), AcMode::Contains, op == Op::IContains) {
                    return Ok(ac);
                }
            }
            (Modifier::AnyOf, Op::StartsWith | Op::BStartsWith) if lits.len() > 1 => {
                if let Some(ac) = Matcher::ac(&byte_lits(), AcMode::StartsWith, false) {
                    return Ok(ac);
                }
            }
            _ => {}
        }
    }
    let ms = lits
        .into_iter()
        .map(|l| single_matcher(op, l))
        .collect::<Result<Box<[Matcher]>, _>>()?;
    Ok(match m {
        Modifier::AnyOf => Matcher::AnyOf(ms),
        Modifier::AllOf => Matcher::AllOf(ms),
        Modifier::OneOf => Matcher::OneOf(ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_regexes() {
        for (re, trivial) in [
            ("^syscall$", true),
            ("syscall.*", true),
            (".*syscall", true),
            ("sys.call", false),
            ("^[s]{1}ysca[l]{2}$", false),
            ("a|b", false),
        ] {
            assert_eq!(regex_is_trivial(re), trivial, "{re}");
        }
    }

    #[test]
    fn matrix_messages() {
        let vt = |ty| VType { ty, list: false };
        assert_eq!(
            check_comparable(Op::Contains, vt(FieldType::IpAddr)),
            Err("'contains' operator not supported for ip address and network filters".into())
        );
        assert!(check_comparable(Op::BContains, vt(FieldType::ByteBuf)).is_ok());
        assert!(check_comparable(Op::Lt, vt(FieldType::Bool)).is_err());
        let list = VType {
            ty: FieldType::CharBuf,
            list: true,
        };
        assert!(check_comparable(Op::Eq, list).is_err());
        assert!(check_comparable(Op::Intersects, list).is_ok());
    }
}
