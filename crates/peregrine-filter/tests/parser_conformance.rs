//! Conformance of the condition parser with libsinsp, driven by the upstream data in
//! `shared/upstream` (read at run time, never copied): every case of
//! `conformance/filter-parser-cases.json` (with `test_accept`'s whitespace variants), the
//! position cases of `filter-language.md` §4 (from falcosecurity/libs
//! `userspace/libsinsp/test/filter_parser.ut.cpp`), and the recursion-depth limit.

use peregrine_filter::ast::{Expr, Operand, Pos, Rhs, Transformer, TransformerArg};
use peregrine_filter::parser::{parse, parse_with_max_depth, ParseError};
use peregrine_filter::render::render;

use peregrine_testkit::upstream::dir as upstream;

fn read_upstream(rel: &str) -> String {
    let path = upstream().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The JSON columns are markdown: values are wrapped in backticks and `|` is escaped as `\|`.
fn unmarkdown(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or(s);
    s.replace("\\|", "|")
}

#[derive(Debug)]
enum Expect {
    /// Must parse; `Some` is the expected rendering.
    Valid(Option<String>),
    /// Must fail with this message.
    Invalid(String),
}

/// One conformance check: `input` must give `expected`. Returns a description of the failure.
fn check(input: &str, expected: &Expect) -> Result<(), String> {
    match (parse(input), expected) {
        (Ok(ast), Expect::Valid(rendering)) => match rendering {
            Some(r) if render(&ast) != *r => Err(format!(
                "{input:?}: rendered {:?}, expected {r:?}",
                render(&ast)
            )),
            _ => Ok(()),
        },
        (Err(e), Expect::Invalid(msg)) if e.message == *msg => Ok(()),
        (Err(e), Expect::Invalid(msg)) => Err(format!(
            "{input:?}: error {:?}, expected {msg:?}",
            e.message
        )),
        (Ok(ast), Expect::Invalid(msg)) => Err(format!(
            "{input:?}: parsed as {:?}, expected error {msg:?}",
            render(&ast)
        )),
        (Err(e), Expect::Valid(_)) => Err(format!(
            "{input:?}: rejected with {:?} at {:?}",
            e.message, e.pos
        )),
    }
}

/// libsinsp's `test_accept` variants: surrounding spaces, then all spaces → `\n`, then → `\t`.
fn whitespace_variants(input: &str) -> [String; 3] {
    let spaced = format!(" {input} ");
    [
        spaced.clone(),
        spaced.replace(' ', "\n"),
        spaced.replace(' ', "\t"),
    ]
}

/// Messages in the JSON's message column that describe the error rather than quote it.
fn exact_message(id: u64, column: &str) -> String {
    match id {
        // `'mixed \"'`: the column says "invalid escape of other quote"; the text is
        // escaping.cpp's.
        126 => "invalid \\\" escape in '-quoted string".to_string(),
        _ => column.to_string(),
    }
}

#[test]
fn conformance_file() {
    if peregrine_testkit::upstream::require("conformance_file").is_none() {
        return;
    }
    let text = read_upstream("conformance/filter-parser-cases.json");
    let cases: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = cases.as_array().expect("an array of cases");
    assert_eq!(cases.len(), 327, "the conformance file changed");

    let mut failures = Vec::new();
    let (mut passed, mut variants) = (0, 0);
    for case in cases {
        let id = case["id"].as_u64().unwrap_or_default();
        let input = case["filter"].as_str().expect("filter string");
        let group = case["group"].as_str().unwrap_or_default();
        let asserted = case["asserted"].as_str();
        let column = case["rendering_or_message"].as_str();
        let expected = match case["expect"].as_str() {
            Some("valid") => {
                // `AST: `…`` cases (test_equal_ast) are checked through their rendering.
                let rendering = column
                    .or_else(|| asserted.and_then(|a| a.strip_prefix("AST:")))
                    .map(unmarkdown);
                Expect::Valid(rendering)
            }
            Some("invalid") => {
                let msg = match (asserted, column) {
                    (Some(a), _) => unmarkdown(a),
                    (None, Some(c)) => exact_message(id, c),
                    (None, None) => panic!("case {id}: invalid without a message"),
                };
                Expect::Invalid(msg)
            }
            other => panic!("case {id}: unknown expectation {other:?}"),
        };
        let mut ok = match check(input, &expected) {
            Ok(()) => true,
            Err(e) => {
                failures.push(format!("#{id} [{group}] {e}"));
                false
            }
        };
        // test_accept re-parses every accepted input with whitespace variants, except where
        // the test inspects the end position (the parse_position_info group).
        if let (Expect::Valid(_), true) = (&expected, group != "parse_position_info") {
            let original = parse(input).ok();
            for v in whitespace_variants(input) {
                variants += 1;
                match parse(&v) {
                    // Without quotes, blanks carry no meaning: the AST must not change.
                    Ok(mut ast) if !input.contains(['"', '\'']) => {
                        let mut orig = original.clone();
                        if let Some(o) = orig.as_mut() {
                            o.clear_positions();
                        }
                        ast.clear_positions();
                        if orig.as_ref() != Some(&ast) {
                            ok = false;
                            failures.push(format!("#{id} variant {v:?} parsed differently"));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        ok = false;
                        failures.push(format!("#{id} variant {v:?} rejected: {}", e.message));
                    }
                }
            }
        }
        passed += usize::from(ok);
    }
    eprintln!(
        "conformance: {passed}/{} cases pass ({variants} whitespace variants checked)",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- positions -------------------------------------------------------------------------

/// libsinsp's `pos_visitor`: `<node><idx> <line> <col>` in pre-order.
fn pos_string(e: &Expr) -> String {
    fn add(out: &mut String, node: &str, p: Pos) {
        out.push_str(&format!("{node}{} {} {}", p.idx, p.line, p.col));
    }
    fn transformer(out: &mut String, t: &Transformer) {
        add(out, "transformer", t.pos);
        for a in &t.args {
            arg(out, a);
        }
    }
    fn arg(out: &mut String, a: &TransformerArg) {
        match a {
            TransformerArg::Field(f) => add(out, "field", f.pos),
            TransformerArg::Transformer(t) => transformer(out, t),
            TransformerArg::Value(_, p) => add(out, "value", *p),
            TransformerArg::List(_, p) => add(out, "transformer_list", *p),
        }
    }
    fn operand(out: &mut String, o: &Operand) {
        match o {
            Operand::Field(f) => add(out, "field", f.pos),
            Operand::Transformer(t) => transformer(out, t),
        }
    }
    fn walk(out: &mut String, e: &Expr) {
        match e {
            Expr::And(c, p) | Expr::Or(c, p) => {
                add(
                    out,
                    if matches!(e, Expr::And(..)) {
                        "and"
                    } else {
                        "or"
                    },
                    *p,
                );
                c.iter().for_each(|c| walk(out, c));
            }
            Expr::Not(c, p) => {
                add(out, "not", *p);
                walk(out, c);
            }
            Expr::Identifier(_, p) => add(out, "identifier", *p),
            Expr::Unary { left, pos, .. } => {
                add(out, "unary", *pos);
                operand(out, left);
            }
            Expr::Binary {
                left, right, pos, ..
            } => {
                add(out, "binary", *pos);
                operand(out, left);
                match right {
                    Rhs::Value(_, p) | Rhs::Identifier(_, p) => add(out, "value", *p),
                    Rhs::List(_, p) => add(out, "list", *p),
                    Rhs::Transformer(t) => transformer(out, t),
                }
            }
        }
    }
    let mut out = String::new();
    walk(&mut out, e);
    out
}

fn check_positions(input: &str, expected: &str) {
    let ast = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    assert_eq!(pos_string(&ast), expected, "positions of {input:?}");
}

/// The `input` → `positions` pairs of the upstream notes' `filter-language.md` §4 (after
/// "Position info asserted"), taken from falcosecurity/libs
/// `userspace/libsinsp/test/filter_parser.ut.cpp`.
fn section4_position_cases() -> Vec<(String, String)> {
    let doc = read_upstream("filter-language.md");
    // The pairs are on the line after the one introducing them.
    let line = doc
        .lines()
        .skip_while(|l| !l.starts_with("Position info asserted"))
        .nth(1)
        .expect("§4 position line");
    // Each pair reads "`input` → `positions`"; other backticked text on the line is prose.
    line.split(" → ")
        .collect::<Vec<_>>()
        .windows(2)
        .filter_map(|w| {
            let input = w[0].rsplit('`').nth(1)?;
            let positions = w[1].split('`').nth(1)?;
            Some((input.to_string(), positions.to_string()))
        })
        .collect()
}

#[test]
fn positions_of_section_4() {
    if peregrine_testkit::upstream::require("positions_of_section_4").is_none() {
        return;
    }
    let cases = section4_position_cases();
    assert_eq!(cases.len(), 6, "expected the six pos_visitor cases of §4");
    for (input, expected) in cases {
        check_positions(&input, &expected);
    }
}

#[test]
fn positions_of_transformers_lists_and_modifiers() {
    // Derived by hand from libsinsp's rules: a check starts where its text starts, a transformer
    // argument after the blanks that follow `(`, a list at its `(`, every element of a
    // transformer list at the list's `(`.
    check_positions(
        "b64(evt.name) exists",
        "unary0 1 1transformer0 1 1field4 1 5",
    );
    check_positions(
        "x.y = val( a.b)",
        "binary0 1 1field0 1 1transformer6 1 7field11 1 12",
    );
    // The second transformer argument starts right after the `,` (its blanks come after).
    check_positions(
        "join(\",\", (a.b, 1)) = v",
        "binary0 1 1transformer0 1 1value5 1 6transformer_list9 1 10value22 1 23",
    );
    check_positions(
        "p.n == oneof (a, b)\n and\n q.r in l",
        "and0 1 1binary0 1 1field0 1 1list13 1 14binary26 3 2field26 3 2value33 3 9",
    );
}

#[test]
fn error_positions() {
    // The end position after `a \n and \n  b` (§4: idx 12, line 3, col 4) is where the parser
    // stops when the input continues with garbage.
    let e = parse("a \n and \n  b(").expect_err("trailing garbage");
    assert_eq!(
        e.message,
        "unexpected token after 'b', expecting 'or', 'and'"
    );
    assert_eq!(
        e.pos,
        Pos {
            idx: 12,
            line: 3,
            col: 4
        }
    );
    let e = parse("a.b = 'x\\q'").expect_err("bad escape");
    assert_eq!(e.message, "unsupported string escape sequence: \\q");
    assert_eq!(e.pos.idx, 11, "reported after the quoted token");
    let e = parse("").expect_err("empty");
    assert_eq!(e.message, "filter input string is empty");
    assert_eq!(e.to_string(), e.message, "Display is the message alone");
}

// ---- recursion depth -------------------------------------------------------------------

/// Runs `f` on a thread with a 2 MiB stack, the default for Rust test threads.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no stack overflow")
}

fn nested(n: usize) -> String {
    format!("{}a{}", "(".repeat(n), ")".repeat(n))
}

fn depth_error(r: Result<Expr, ParseError>) -> Option<String> {
    r.err()
        .map(|e| e.message)
        .filter(|m| m.starts_with("exceeded max depth"))
}

#[test]
fn hundred_thousand_parens_are_refused() {
    on_small_stack(|| {
        let input = "(".repeat(100_000);
        assert_eq!(
            parse_with_max_depth(&input, 100).map_err(|e| e.message),
            Err("exceeded max depth limit of 100".to_string())
        );
        assert_eq!(
            parse(&input).map_err(|e| e.message),
            Err("exceeded max depth limit of 1000".to_string())
        );
        assert_eq!(
            parse_with_max_depth(&input, u32::MAX).map_err(|e| e.message),
            Err("exceeded max depth limit of 1000".to_string()),
            "limits are clamped to MAX_SUPPORTED_DEPTH"
        );
    });
}

#[test]
fn depth_limit_boundary_matches_libsinsp_accounting() {
    // or/and/not/check count 4 levels, each parenthesis 5 more (check → embedded → or → and →
    // not → check); a level fails once the counter reaches the limit.
    for (limit, deepest) in [(100u32, 19usize), (1000, 199), (5000, 199)] {
        let (ok, too_deep) = (nested(deepest), nested(deepest + 1));
        let (ok_res, deep_res) = on_small_stack(move || {
            (
                parse_with_max_depth(&ok, limit).map(|e| render(&e)),
                depth_error(parse_with_max_depth(&too_deep, limit)),
            )
        });
        assert_eq!(
            ok_res,
            Ok("a".to_string()),
            "{deepest} parens under {limit}"
        );
        assert_eq!(
            deep_res,
            Some(format!("exceeded max depth limit of {}", limit.min(1000))),
            "{} parens under {limit}",
            deepest + 1
        );
    }
    assert!(
        parse_with_max_depth(&nested(10), 100).is_ok(),
        "libs' 10-paren case"
    );
}

/// Builds an input nested `n` times.
type MakeInput = fn(usize) -> String;

#[test]
fn deepest_accepted_inputs_fit_a_small_stack() {
    // The deepest input of each recursive shape under the largest honoured limit: parse, render
    // and drop must all fit in 2 MiB in a debug build.
    let shapes: [(&str, MakeInput); 5] = [
        ("parens", nested),
        ("transformers", |n| {
            format!("{}a.b{} exists", "b64(".repeat(n), ")".repeat(n))
        }),
        ("rhs transformers", |n| {
            format!("x.y = {}a.b{}", "b64(".repeat(n), ")".repeat(n))
        }),
        ("not(", |n| {
            format!("{}a{}", "not(".repeat(n), ")".repeat(n))
        }),
        ("join lists", |n| {
            format!("{}a.b{} exists", "join(1,(".repeat(n), "))".repeat(n))
        }),
    ];
    for (name, make) in shapes {
        let deepest = on_small_stack(move || {
            let mut n = 1;
            while parse_with_max_depth(&make(n + 1), u32::MAX).is_ok() {
                n += 1;
            }
            let ast = parse_with_max_depth(&make(n), u32::MAX).expect("deepest parses");
            let text = render(&ast);
            let again = parse_with_max_depth(&text, u32::MAX).map(|mut e| {
                e.clear_positions();
                e
            });
            let mut ast = ast;
            ast.clear_positions();
            // `not(not(a))` renders as `not not a`, which libsinsp folds back to `a`.
            if name != "not(" {
                assert_eq!(again.as_ref(), Ok(&ast), "{name}: rendering re-parses");
            }
            depth_error(parse_with_max_depth(&make(n + 1), u32::MAX)).map(|_| n)
        });
        assert!(
            deepest.is_some_and(|n| n > 100),
            "{name}: nesting {deepest:?}"
        );
    }
}
