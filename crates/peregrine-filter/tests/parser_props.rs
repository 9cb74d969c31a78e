//! Property tests for the condition parser:
//! - arbitrary text (random strings, and soups of the language's own tokens) never panics, and
//!   every error points inside the input;
//! - every AST the grammar can produce, with values the renderer can quote back, renders to text
//!   that parses to the same AST (positions aside) and renders identically again.
//!
//! The round trip is only claimed for re-quotable values: libsinsp's rendering is lossy by design
//! (`"a,b"` renders as `a,b`, `not not a` folds to `a`, a value ending in `\` renders as
//! `"…\\"`, whose last quote libsinsp's lexer reads as escaped), and the generator avoids
//! exactly those.

use peregrine_filter::ast::{
    CmpOp, Expr, FieldRef, Modifier, Operand, Pos, Rhs, StrOp, Transformer, TransformerArg,
    TransformerKind, UnaryOp,
};
use peregrine_filter::parser::{parse, parse_with_max_depth};
use peregrine_filter::render::{render, render_bytes};
use proptest::prelude::*;

const P: Pos = Pos {
    idx: 0,
    line: 0,
    col: 0,
};

// ---- no panics on garbage ----------------------------------------------------------------

/// Fragments that steer random input into the interesting corners of the grammar.
const TOKENS: &[&str] = &[
    " ",
    "\n",
    "\t",
    "\x08",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "'",
    "\"",
    "\\",
    "\\x",
    "\\x4",
    "\\xzz",
    "\\ ",
    "and",
    "or",
    "not",
    "not(",
    "exists",
    "in",
    "intersects",
    "pmatch",
    "contains ",
    "icontains",
    "startswith ",
    "glob",
    "regex ",
    "oneof ",
    "anyof",
    "allof ",
    "val(",
    "b64(",
    "tolower(",
    "join(",
    "concat(",
    "getopt(",
    "len(",
    "a",
    "a.b",
    "proc.name",
    "evt.arg",
    "0x1f",
    "-1.5e+3",
    "12",
    "x_y",
    "\u{e9}",
    "\0",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

fn check_no_panic(input: &str) {
    for depth in [3, 100, 1000] {
        match parse_with_max_depth(input, depth) {
            Ok(ast) => {
                // Whatever parses renders, and its rendering is stable under a second pass.
                let text = render(&ast);
                if let Ok(again) = parse(&text) {
                    let _ = render_bytes(&again);
                }
            }
            Err(e) => {
                assert!(!e.message.is_empty());
                assert!(
                    e.pos.idx as usize <= input.len(),
                    "{input:?}: error position {:?} beyond the input",
                    e.pos
                );
                assert!(e.pos.line >= 1 && e.pos.col >= 1);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check_no_panic(&input);
    }

    #[test]
    fn token_soups_never_panic(input in token_soup()) {
        check_no_panic(&input);
    }
}

// ---- render → parse round trip -------------------------------------------------------------

fn identifier() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,6}".prop_filter("keywords change the parse", |s| {
        !matches!(s.as_str(), "and" | "or" | "not")
    })
}

fn field() -> impl Strategy<Value = FieldRef> {
    let name = prop::collection::vec(identifier(), 2..4).prop_map(|p| p.join("."));
    // Bare-able arguments, or anything the renderer has to quote (blank, quote, backslash), or
    // the explicit empty argument.
    let arg = prop_oneof![
        3 => Just(None),
        1 => "[a-z0-9/*.:-]{1,6}".prop_map(Some),
        1 => "[a-z]{0,3}[ '\"\\\\\t][a-z ]{0,3}"
            .prop_filter("a trailing backslash does not re-lex", |s| !s.ends_with('\\'))
            .prop_map(Some),
        1 => Just(Some(String::new())),
    ];
    (name, arg).prop_map(|(name, arg)| FieldRef { name, arg, pos: P })
}

/// Values a string operator can take and get back: bare-safe text, or text that forces quoting.
fn str_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9/*.:_-]{1,8}",
        "[a-z]{0,3}[ '\"\\\\\t\n][a-z/ ]{0,4}",
        "(oneof|anyof|allof|not|and|or)",
    ]
    .prop_filter("a leading `val(` or transformer is not a value", |s| {
        !s.contains('(')
    })
    .prop_filter("a trailing backslash does not re-lex", |s| {
        !s.ends_with('\\')
    })
    .prop_map(String::into_bytes)
}

fn num_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[+-]?[0-9]{1,5}",
        "0[xX][0-9a-fA-F]{1,6}",
        "[+-]?[0-9]{1,3}\\.[0-9]{0,3}",
        "[0-9]{1,3}[eE][+-][0-9]{1,2}",
    ]
    .prop_map(String::into_bytes)
}

/// A transformer argument that renders back to itself: numbers, or strings that get quoted.
fn arg_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        num_value(),
        "[a-z,]{0,3} [a-z:-]{0,3}".prop_map(String::into_bytes)
    ]
}

const KINDS: [TransformerKind; 8] = [
    TransformerKind::ToLower,
    TransformerKind::ToUpper,
    TransformerKind::B64,
    TransformerKind::Basename,
    TransformerKind::Len,
    TransformerKind::Join,
    TransformerKind::Concat,
    TransformerKind::Getopt,
];

fn transformer() -> impl Strategy<Value = Transformer> {
    let leaf = field().prop_map(TransformerArg::Field);
    let args = leaf.prop_recursive(3, 12, 3, |inner| {
        let nested = (
            prop::sample::select(&KINDS[..]),
            prop::collection::vec(inner.clone(), 1..3),
        )
            .prop_map(|(kind, args)| {
                TransformerArg::Transformer(Transformer {
                    kind,
                    args,
                    field_arg: None,
                    pos: P,
                })
            });
        let list_item = prop_oneof![
            field().prop_map(TransformerArg::Field),
            arg_value().prop_map(|v| TransformerArg::Value(v, P)),
            nested.clone(),
        ];
        prop_oneof![
            inner,
            nested,
            arg_value().prop_map(|v| TransformerArg::Value(v, P)),
            prop::collection::vec(list_item, 0..3).prop_map(|l| TransformerArg::List(l, P)),
        ]
    });
    (
        prop::sample::select(&KINDS[..]),
        prop::collection::vec(args, 1..3),
        prop_oneof![3 => Just(None), 1 => "[a-z0-9]{1,3}".prop_map(Some)],
    )
        .prop_map(|(kind, args, field_arg)| Transformer {
            kind,
            args,
            field_arg,
            pos: P,
        })
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => field().prop_map(Operand::Field),
        1 => transformer().prop_map(Operand::Transformer),
    ]
}

fn rhs_transformer() -> impl Strategy<Value = Rhs> {
    prop_oneof![
        field().prop_map(|f| Rhs::Transformer(Transformer {
            kind: TransformerKind::Val,
            args: vec![TransformerArg::Field(f)],
            field_arg: None,
            pos: P,
        })),
        transformer().prop_map(Rhs::Transformer),
    ]
}

const STR_OPS: [StrOp; 12] = [
    StrOp::Eq,
    StrOp::EqEq,
    StrOp::Ne,
    StrOp::Glob,
    StrOp::IGlob,
    StrOp::Contains,
    StrOp::IContains,
    StrOp::BContains,
    StrOp::StartsWith,
    StrOp::BStartsWith,
    StrOp::EndsWith,
    StrOp::Regex,
];

fn plain(op: StrOp) -> CmpOp {
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

fn list_or_name() -> impl Strategy<Value = Rhs> {
    prop_oneof![
        prop::collection::vec(str_value().prop_map(|v| (v, P)), 0..4).prop_map(|l| Rhs::List(l, P)),
        identifier().prop_map(|i| Rhs::Identifier(i, P)),
    ]
}

fn check() -> impl Strategy<Value = Expr> {
    let num_op = prop::sample::select(vec![CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]);
    let str_op = prop::sample::select(&STR_OPS[..]);
    let list_op = prop::sample::select(vec![CmpOp::In, CmpOp::Intersects, CmpOp::PMatch]);
    let modifier = prop::sample::select(vec![Modifier::OneOf, Modifier::AnyOf, Modifier::AllOf]);
    let binary = |(left, op, right)| Expr::Binary {
        left,
        op,
        right,
        pos: P,
    };
    prop_oneof![
        identifier().prop_map(|i| Expr::Identifier(i, P)),
        operand().prop_map(|left| Expr::Unary {
            left,
            op: UnaryOp::Exists,
            pos: P
        }),
        (
            operand(),
            num_op,
            prop_oneof![
                num_value().prop_map(|v| Rhs::Value(v, P)),
                rhs_transformer()
            ]
        )
            .prop_map(binary),
        (
            operand(),
            str_op.clone().prop_map(plain),
            prop_oneof![
                str_value().prop_map(|v| Rhs::Value(v, P)),
                rhs_transformer()
            ]
        )
            .prop_map(binary),
        (
            operand(),
            (str_op, modifier).prop_map(|(o, m)| CmpOp::Modified(o, m)),
            list_or_name()
        )
            .prop_map(binary),
        (
            operand(),
            list_op,
            prop_oneof![list_or_name(), rhs_transformer()]
        )
            .prop_map(binary),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    check().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|c| Expr::And(c, P)),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|c| Expr::Or(c, P)),
            // `not not x` renders as text that folds back to `x`: never nest Not directly.
            inner
                .prop_filter("no double negation", |e| !matches!(e, Expr::Not(..)))
                .prop_map(|e| Expr::Not(Box::new(e), P)),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rendering_parses_back_to_the_same_ast(ast in expr()) {
        let text = render(&ast);
        let mut parsed = parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {} at {:?}", e.message, e.pos)))?;
        prop_assert_eq!(render(&parsed), text.clone(), "rendering is a fixed point");
        parsed.clear_positions();
        prop_assert_eq!(parsed, ast, "{}", text);
    }
}

// ---- a few pinned regressions, in the style of the property ---------------------------------

fn check_round_trip(input: &str, rendering: &str) {
    let mut ast = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    assert_eq!(render(&ast), rendering);
    let mut again = parse(rendering).unwrap_or_else(|e| panic!("{rendering:?}: {e}"));
    ast.clear_positions();
    again.clear_positions();
    assert_eq!(again, ast, "{input:?}");
}

#[test]
fn quirks_that_round_trip() {
    check_round_trip("a.b[\"\"] exists", "a.b[\"\"] exists");
    check_round_trip("a.b = 'x\\ty'", "a.b = \"x\\ty\"");
    check_round_trip("a.b == oneof and c", "(a.b == oneof and c)");
    check_round_trip("p.n contains allof l", "p.n contains allof l");
    check_round_trip("getopt(p.a, \"n t\")[t] = x", "getopt(p.a,\"n t\")[t] = x");
    check_round_trip("x.y = val(a.b)[k]", "x.y = val(a.b)[k]");
    check_round_trip("a.b in (\"c d\", 'e')", "a.b in (\"c d\", e)");
}

#[test]
fn quirks_that_do_not_round_trip() {
    // libsinsp's rendering is lossy; these pin the exact text, not a round trip.
    for (input, rendering) in [
        ("a.b = 'c,d'", "a.b = c,d"),
        ("a.b = ''", "a.b = "),
        ("not(not(a))", "not not a"),
        ("join(\",\", (p.n, \"lit\")) = x", "join(,,(p.n,lit)) = x"),
        ("a.b = '\\xff'", "a.b = \u{fffd}"),
        // A value can only end in `\` through `\x5c`; its rendering then does not re-lex.
        ("a.b = 'x\\x5c'", "a.b = \"x\\\\\""),
    ] {
        let ast = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(render(&ast), rendering, "{input:?}");
    }
    assert!(
        parse("a.b = \"x\\\\\"").is_err(),
        "libsinsp's lexer: `\\\\\"` does not close"
    );
    let ast = parse("a.b = '\\xff\\x00'").expect("hex escapes");
    assert_eq!(render_bytes(&ast), b"a.b = \"\xff\0\"", "bytes pass raw");
}
