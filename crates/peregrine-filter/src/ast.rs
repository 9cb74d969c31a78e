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
