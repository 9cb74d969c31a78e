//! `peregrine parse-condition`: prints Falco's normalised rendering of a condition, or the parse
//! error (exit 1). Checked on a few hand-picked cases and on libs' whole parser corpus.

mod common;

use common::{peregrine, stderr, stdout, upstream};
use serde_json::Value;

/// How many corpus cases the binary must agree with. Raise it when more pass; never lower it.
const MIN_CORPUS_PASSING: usize = 327;

/// `Ok(rendering)` expects exit 0 and exactly that line; `Err(message)` expects exit 1 and the
/// message on stderr.
fn check(expr: &str, expected: Result<&str, &str>) -> Result<(), String> {
    let out = peregrine(["parse-condition", expr]);
    let (so, se) = (stdout(&out), stderr(&out));
    match expected {
        Ok(rendering) if out.status.code() == Some(0) && so == format!("{rendering}\n") => Ok(()),
        Err(message) if out.status.code() == Some(1) && se.contains(message) => Ok(()),
        _ => Err(format!(
            "{expr:?}: expected {expected:?}, got exit {:?} stdout {so:?} stderr {se:?}",
            out.status.code()
        )),
    }
}

#[test]
fn renders_and_rejects_conditions() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("evt.type=open", Ok("evt.type = open")),
        ("a and b or c", Ok("((a and b) or c)")),
        (
            "not (proc.name in (cat, ls))",
            Ok("not proc.name in (cat, ls)"),
        ),
        ("fd.name startswith '/etc'", Ok("fd.name startswith /etc")),
        ("evt.type=open and", Err("expected")),
        ("proc.name in (a,", Err("expected")),
        ("", Err("")),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(expr, expected)| check(expr, *expected).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corpus columns are markdown: strips the backquotes (and an `AST: ` prefix) around
/// expectations and unescapes `\|`.
fn unmarkdown(s: &str) -> String {
    let s = s.strip_prefix("AST: ").unwrap_or(s);
    let s = s
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or(s);
    s.replace("\\|", "|")
}

#[test]
fn agrees_with_the_libs_parser_corpus() {
    if peregrine_testkit::upstream::require("agrees_with_the_libs_parser_corpus").is_none() {
        return;
    }
    let path = upstream().join("conformance/filter-parser-cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let cases: Vec<Value> = serde_json::from_str(&text).expect("corpus is JSON");
    let mut failures = Vec::new();
    for case in &cases {
        let Some(filter) = case["filter"].as_str() else {
            failures.push(format!("case {} has no filter", case["id"]));
            continue;
        };
        let text = match case["id"].as_i64() {
            // The corpus describes this message instead of quoting it; libsinsp's wording is:
            Some(126) => Some("invalid \\\" escape in '-quoted string".to_string()),
            _ => case["rendering_or_message"]
                .as_str()
                .or(case["asserted"].as_str())
                .map(unmarkdown),
        };
        let expected = match (case["expect"].as_str(), text.as_deref()) {
            (Some("valid"), Some(rendering)) => Ok(rendering),
            (Some("invalid"), message) => Err(message.unwrap_or("")),
            _ => {
                failures.push(format!("case {}: unreadable expectation", case["id"]));
                continue;
            }
        };
        if let Err(e) = check(filter, expected) {
            failures.push(format!("case {}: {e}", case["id"]));
        }
    }
    let passed = cases.len() - failures.len();
    println!(
        "parser corpus through the binary: {passed} passed, {} failed",
        failures.len()
    );
    assert!(
        passed >= MIN_CORPUS_PASSING,
        "{passed}/{} corpus cases pass (need {MIN_CORPUS_PASSING}):\n{}",
        cases.len(),
        failures.join("\n")
    );
}
