//! Falco's legacy regression suite (falcosecurity/testing `legacy_tests.json`) replayed through
//! the engine: every test whose capture is stored locally runs with its rules and options, and
//! its detection assertions (`rule_counts` and the `Detections()` asserts) are checked.
//!
//! Assertions about stdout/stderr text, config validation and output files belong to the
//! binary and are not checked here. Known divergences are listed in `KNOWN_FAILURES` with their
//! cause; the test fails if one of them starts passing (so the list stays true) or if any
//! other test fails.

use std::collections::BTreeMap;
use std::sync::Arc;

use peregrine_engine::replay::replay_file;
use peregrine_engine::{AlertSink, Engine, Match, Settings};
use peregrine_rules::{Loader, Matching, Priority, Selection, SelectionOp, Selector};
use serde_json::Value;

/// Tests that fail today, with the cause.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

use peregrine_testkit::upstream::dir as upstream;

#[derive(Default)]
struct Detections {
    by_rule: BTreeMap<String, i64>,
    by_priority: BTreeMap<String, i64>,
    total: i64,
}

impl AlertSink for Detections {
    fn alert(&mut self, m: &Match<'_>) {
        *self.by_rule.entry(m.rule.name.clone()).or_default() += 1;
        *self
            .by_priority
            .entry(format!("{:?}", m.rule.priority))
            .or_default() += 1;
        self.total += 1;
    }
}

/// The quoted argument of an option such as `falco.WithEnabledTags("a", "b")`.
fn quoted(s: &str) -> Vec<String> {
    s.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Runs one test; `Err` says what differed.
fn run(t: &Value, root: &std::path::Path) -> Result<(), String> {
    let capture = root.join(t["capture"].as_str().unwrap_or_default());
    let mut sel = Selection::default();
    for o in t["options"].as_array().into_iter().flatten() {
        let o = o.as_str().unwrap_or_default();
        let args = quoted(o);
        if o.starts_with("falco.WithEnabledTags(") {
            sel.ops
                .push(SelectionOp::Disable(Selector::Rule("*".to_string())));
            sel.ops.extend(
                args.into_iter()
                    .map(|a| SelectionOp::Enable(Selector::Tag(a))),
            );
        } else if o.starts_with("falco.WithDisabledTags(") {
            sel.ops.extend(
                args.into_iter()
                    .map(|a| SelectionOp::Disable(Selector::Tag(a))),
            );
        } else if o.starts_with("falco.WithDisabledRules(") {
            sel.ops.extend(
                args.into_iter()
                    .map(|a| SelectionOp::Disable(Selector::RuleSubstring(a))),
            );
        } else if o.starts_with("falco.WithMinRulePriority(") {
            sel.min_priority = args.first().and_then(|p| Priority::parse(p));
        }
    }
    let mut loader = Loader::compile_once();
    for r in t["rules"].as_array().into_iter().flatten() {
        loader.load_file(root.join(r.as_str().unwrap_or_default()));
    }
    let (rules, results) = loader.finish();
    let exit = if results.successful() { 0 } else { 1 };
    let mut det = Detections::default();
    if exit == 0 {
        let engine = Engine::new(
            rules.select(&sel),
            Settings {
                matching: Matching::First,
                ..Settings::default()
            },
        );
        replay_file(Arc::new(engine), &capture, &mut det).map_err(|e| e.to_string())?;
    }
    let mut problems = Vec::new();
    let expected_exit = t["exit_code"].as_i64().unwrap_or(0);
    if exit != expected_exit {
        problems.push(format!("exit code {exit}, expected {expected_exit}"));
    }
    for (rule, n) in t["rule_counts"].as_object().into_iter().flatten() {
        let got = det.by_rule.get(rule).copied().unwrap_or(0);
        if Some(got) != n.as_i64() {
            problems.push(format!("rule {rule:?}: {got} detections, expected {n}"));
        }
    }
    for a in t["asserts"].as_array().into_iter().flatten() {
        let a = a.as_str().unwrap_or_default();
        let Some(got) = observed(a, &det, exit) else {
            continue;
        };
        let ok = if a.starts_with("assert.NotZero(") {
            got != 0
        } else if a.starts_with("assert.Zero(") {
            got == 0
        } else if let Some(rest) = a.strip_prefix("assert.Equal(t, ") {
            rest.split(',')
                .next()
                .and_then(|n| n.trim().parse::<i64>().ok())
                == Some(got)
        } else {
            continue;
        };
        if !ok {
            problems.push(format!("{a} (observed {got})"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The value an assertion looks at, if it is one this harness understands.
fn observed(a: &str, det: &Detections, exit: i64) -> Option<i64> {
    if a.contains("res.ExitCode()") {
        return Some(exit);
    }
    if let Some(i) = a.find("OfRule(") {
        let arg = &a[i + 7..];
        let name = if let Some(s) = arg.strip_prefix('`') {
            s.split('`').next()?
        } else {
            arg.strip_prefix('"')?.split('"').next()?
        };
        return Some(det.by_rule.get(name).copied().unwrap_or(0));
    }
    if let Some(i) = a.find("OfPriority(\"") {
        let p = a[i + 12..].split('"').next()?;
        let key = format!("{:?}", Priority::parse(p)?);
        return Some(det.by_priority.get(&key).copied().unwrap_or(0));
    }
    if a.contains("res.Detections().Count()") {
        return Some(det.total);
    }
    None
}

/// Tests whose expectations depend on the binary (config validation, text outputs) only.
fn binary_only(t: &Value) -> bool {
    t["options"].as_array().into_iter().flatten().any(|o| {
        o.as_str()
            .is_some_and(|o| o.contains("configs.DropsThreshold"))
    })
}

#[test]
fn legacy_suite() {
    if peregrine_testkit::upstream::require("legacy_suite").is_none() {
        return;
    }
    let root = upstream();
    let text = std::fs::read_to_string(root.join("falco-testing/legacy_tests.json"))
        .expect("legacy_tests.json");
    let tests: Vec<Value> = serde_json::from_str(&text).expect("json");
    let (mut passed, mut failed, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for t in &tests {
        let name = t["test"].as_str().unwrap_or_default().to_string();
        let Some(capture) = t["capture"].as_str() else {
            continue;
        };
        if capture.starts_with("REMOTE:") {
            continue;
        }
        if binary_only(t) {
            skipped.push(name);
            continue;
        }
        match run(t, &root) {
            Ok(()) => passed.push(name),
            Err(e) => failed.push((name, e)),
        }
    }
    eprintln!(
        "legacy suite: {} passed, {} failed, {} binary-only",
        passed.len(),
        failed.len(),
        skipped.len()
    );
    for (n, e) in &failed {
        eprintln!("FAIL {n}: {e}");
    }
    let known: Vec<&str> = KNOWN_FAILURES.iter().map(|(n, _)| *n).collect();
    let unexpected: Vec<&(String, String)> = failed
        .iter()
        .filter(|(n, _)| !known.contains(&n.as_str()))
        .collect();
    let fixed: Vec<&&str> = known
        .iter()
        .filter(|k| passed.iter().any(|p| p == *k))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected failures: {unexpected:#?}"
    );
    assert!(
        fixed.is_empty(),
        "now passing, remove from KNOWN_FAILURES: {fixed:?}"
    );
}

#[test]
fn every_stored_capture_replays() {
    if peregrine_testkit::upstream::require("every_stored_capture_replays").is_none() {
        return;
    }
    let root = upstream().join("captures");
    let mut files = Vec::new();
    for dir in ["falco", "libs", "sysdig-inspect"] {
        for e in std::fs::read_dir(root.join(dir))
            .expect("captures dir")
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "scap") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 17, "{files:?}");
    let mut loader = Loader::compile_once();
    loader.load_file(upstream().join("rules/falco_rules.yaml"));
    let (rules, res) = loader.finish();
    assert!(res.successful(), "{}", res.as_text());
    let engine = Arc::new(Engine::new(rules, Settings::default()));
    for f in files {
        let mut det = Detections::default();
        let (pipe, stats) = replay_file(engine.clone(), &f, &mut det)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        eprintln!(
            "{}: {} read, {} replayed, {} enters, {} non-syscall, {} unsupported, {} alerts",
            f.display(),
            stats.convert.read,
            stats.convert.converted,
            stats.convert.enters,
            stats.convert.non_syscall,
            stats.convert.unsupported,
            det.total
        );
        assert_eq!(pipe.stats().decode_errors, 0, "{}", f.display());
        assert_eq!(pipe.stats().events, stats.convert.converted);
        let c = stats.convert;
        // Enter events passed to the rules count as enters and as converted.
        assert_eq!(
            c.read + c.passed_enters,
            c.converted + c.enters + c.non_syscall + c.unknown + c.unsupported,
            "every event is accounted for: {c:?}"
        );
    }
}
