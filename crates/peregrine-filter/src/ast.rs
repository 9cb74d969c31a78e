//! The condition AST, as the parser produces it: libsinsp's node kinds, with a source position on
//! every node so that later stages (macro resolution, type checking) can point at the text.
//!
//! Values are bytes, not `String`: quoted strings may carry `\xHH` escapes that are not UTF-8, and
//! the kernel hands us paths that are not UTF-8 either; comparisons are byte-wise like libsinsp's.

/// Where a node starts in the condition text: 0-based byte index, 1-based line and column
/// (a newline resets the column to 1), as libsinsp's `pos_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pos {
    pub idx: u32,
    pub line: u32,
    pub col: u32,
}

/// A boolean expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// n-ary `and` (chains are flattened; at least two children).
    And(Vec<Expr>, Pos),
    /// n-ary `or` (chains are flattened; at least two children).
    Or(Vec<Expr>, Pos),
    Not(Box<Expr>, Pos),
    /// A bare identifier: a macro reference, resolved by the rules loader.
    Identifier(String, Pos),
    /// `field exists`.
    Unary {
        left: Operand,
        op: UnaryOp,
        pos: Pos,
    },
    /// `field <op> <rhs>`.
    Binary {
        left: Operand,
        op: CmpOp,
        right: Rhs,
        pos: Pos,
    },
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::And(_, p) | Expr::Or(_, p) | Expr::Not(_, p) | Expr::Identifier(_, p) => *p,
            Expr::Unary { pos, .. } | Expr::Binary { pos, .. } => *pos,
        }
    }
}

/// The left-hand side of a check: a field, or a transformer applied to fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Field(FieldRef),
    Transformer(Transformer),
}

impl Operand {
    pub fn pos(&self) -> Pos {
        match self {
            Operand::Field(f) => f.pos,
            Operand::Transformer(t) => t.pos,
        }
    }
}

/// `name` or `name[arg]`, e.g. `proc.aname[2]`, `container.mount.dest[/proc*]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransformerKind {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
    Join,
    Concat,
    Getopt,
    /// `val(field)`: right-hand side only.
    Val,
}

impl TransformerKind {
    pub fn name(self) -> &'static str {
        match self {
            TransformerKind::ToLower => "tolower",
            TransformerKind::ToUpper => "toupper",
            TransformerKind::B64 => "b64",
            TransformerKind::Basename => "basename",
            TransformerKind::Len => "len",
            TransformerKind::Join => "join",
            TransformerKind::Concat => "concat",
            TransformerKind::Getopt => "getopt",
            TransformerKind::Val => "val",
        }
    }
}

/// `kind(args…)` with an optional `[arg]`, e.g. `getopt(proc.args, "nt:")[t]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transformer {
    pub kind: TransformerKind,
    pub args: Vec<TransformerArg>,
    pub field_arg: Option<String>,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransformerArg {
    Field(FieldRef),
    Transformer(Transformer),
    /// A quoted string or a number, kept as the (unescaped) text.
    Value(Vec<u8>, Pos),
    /// `( arg, … )`.
    List(Vec<TransformerArg>, Pos),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Exists,
}

/// A comparison operator, with the spelling kept where two spellings mean the same
/// (`=`/`==`) so that rendering round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    EqEq,
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
    /// A string operator with a multi-value modifier: `startswith oneof (a, b)`.
    Modified(StrOp, Modifier),
}

/// The string operators a modifier may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrOp {
    Eq,
    EqEq,
    Ne,
    Glob,
    IGlob,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Regex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Modifier {
    OneOf,
    AnyOf,
    AllOf,
}

/// The right-hand side of a binary check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rhs {
    /// A quoted or bare string, or a number, as unescaped bytes.
    Value(Vec<u8>, Pos),
    /// `( v, … )`; `()` is an empty list.
    List(Vec<(Vec<u8>, Pos)>, Pos),
    /// A bare identifier after a list operator (`in my_list`): a list name left unresolved.
    Identifier(String, Pos),
    /// `val(field)` or a transformer: a comparison against another field.
    Transformer(Transformer),
}

impl StrOp {
    /// The operator as written in a condition.
    pub fn name(self) -> &'static str {
        match self {
            StrOp::Eq => "=",
            StrOp::EqEq => "==",
            StrOp::Ne => "!=",
            StrOp::Glob => "glob",
            StrOp::IGlob => "iglob",
            StrOp::Contains => "contains",
            StrOp::IContains => "icontains",
            StrOp::BContains => "bcontains",
            StrOp::StartsWith => "startswith",
            StrOp::BStartsWith => "bstartswith",
            StrOp::EndsWith => "endswith",
            StrOp::Regex => "regex",
        }
    }
}

impl Modifier {
    pub fn name(self) -> &'static str {
        match self {
            Modifier::OneOf => "oneof",
            Modifier::AnyOf => "anyof",
            Modifier::AllOf => "allof",
        }
    }
}

impl CmpOp {
    /// The operator as written in a condition; for a modified operator, the base operator
    /// (see the `Display` impl for the full `"== oneof"` spelling).
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::EqEq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Contains => "contains",
            CmpOp::IContains => "icontains",
            CmpOp::BContains => "bcontains",
            CmpOp::StartsWith => "startswith",
            CmpOp::BStartsWith => "bstartswith",
            CmpOp::EndsWith => "endswith",
            CmpOp::Glob => "glob",
            CmpOp::IGlob => "iglob",
            CmpOp::Regex => "regex",
            CmpOp::In => "in",
            CmpOp::Intersects => "intersects",
            CmpOp::PMatch => "pmatch",
            CmpOp::Modified(op, _) => op.name(),
        }
    }
}

/// libsinsp's operator string: `"=="`, `"startswith anyof"`, …
impl std::fmt::Display for CmpOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CmpOp::Modified(op, m) => write!(f, "{} {}", op.name(), m.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// The position every node gets from [`Expr::clear_positions`].
const NO_POS: Pos = Pos {
    idx: 0,
    line: 0,
    col: 0,
};

impl Expr {
    /// Resets every position in the tree, so that two parses of differently laid-out text can
    /// be compared structurally (e.g. a condition and its rendering).
    pub fn clear_positions(&mut self) {
        match self {
            Expr::And(c, p) | Expr::Or(c, p) => {
                *p = NO_POS;
                c.iter_mut().for_each(Expr::clear_positions);
            }
            Expr::Not(c, p) => {
                *p = NO_POS;
                c.clear_positions();
            }
            Expr::Identifier(_, p) => *p = NO_POS,
            Expr::Unary { left, pos, .. } => {
                *pos = NO_POS;
                left.clear_positions();
            }
            Expr::Binary {
                left, right, pos, ..
            } => {
                *pos = NO_POS;
                left.clear_positions();
                right.clear_positions();
            }
        }
    }
}

impl Operand {
    pub fn clear_positions(&mut self) {
        match self {
            Operand::Field(f) => f.pos = NO_POS,
            Operand::Transformer(t) => t.clear_positions(),
        }
    }
}

impl Transformer {
    pub fn clear_positions(&mut self) {
        self.pos = NO_POS;
        self.args
            .iter_mut()
            .for_each(TransformerArg::clear_positions);
    }
}

impl TransformerArg {
    pub fn clear_positions(&mut self) {
        match self {
            TransformerArg::Field(f) => f.pos = NO_POS,
            TransformerArg::Transformer(t) => t.clear_positions(),
            TransformerArg::Value(_, p) => *p = NO_POS,
            TransformerArg::List(items, p) => {
                *p = NO_POS;
                items.iter_mut().for_each(TransformerArg::clear_positions);
            }
        }
    }
}

impl Rhs {
    pub fn clear_positions(&mut self) {
        match self {
            Rhs::Value(_, p) | Rhs::Identifier(_, p) => *p = NO_POS,
            Rhs::List(items, p) => {
                *p = NO_POS;
                items.iter_mut().for_each(|(_, p)| *p = NO_POS);
            }
            Rhs::Transformer(t) => t.clear_positions(),
        }
    }
}
