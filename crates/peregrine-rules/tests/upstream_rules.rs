//! Falco's maintained rules files load unchanged, alone and stable → incubating → sandbox,
//! and every rule gets the event types, priority and enabled flag that the upstream notes read
//! at run time (`rules-notes.md`) list for falcosecurity/rules `rules/*.yaml`.

use peregrine_rules::{Loader, Priority, RuleSet, WarningCode};
use std::collections::BTreeSet;

use peregrine_testkit::upstream::dir as upstream;

const STABLE: &str = "rules/falco_rules.yaml";
const INCUBATING: &str = "rules/falco-incubating_rules.yaml";
const SANDBOX: &str = "rules/falco-sandbox_rules.yaml";

/// Warnings Falco gives on its own rules files: only unused items.
const ALLOWED_WARNINGS: &[WarningCode] = &[WarningCode::UnusedMacro, WarningCode::UnusedList];

fn load(files: &[&str]) -> RuleSet {
    let mut loader = Loader::new();
    for f in files {
        loader.load_file(upstream().join(f));
    }
    let (set, results) = loader.finish();
    let errors: Vec<String> = results
        .errors()
        .map(|e| format!("{}: {}", e.code.code(), e.message))
        .collect();
    assert!(
        errors.is_empty(),
        "{files:?}: {errors:#?}\n{}",
        results.as_text()
    );
    let odd: Vec<String> = results
        .warnings()
        .filter(|w| !ALLOWED_WARNINGS.contains(&w.code))
        .map(|w| format!("{}: {}", w.code.code(), w.message))
        .collect();
    assert!(odd.is_empty(), "{files:?}: {odd:#?}");
    set
}

/// One row of the per-rule table of the upstream notes (`rules-notes.md`, read at run time).
struct Row {
    file: String,
    rule: String,
    enabled: bool,
    priority: String,
    types: BTreeSet<String>,
}

fn table() -> Vec<Row> {
    let notes = std::fs::read_to_string(upstream().join("rules-notes.md")).expect("rules-notes");
    notes
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | file | rule | enabled | priority | evt.types |
            if cells.len() != 7 || !["stable", "incubating", "sandbox"].contains(&cells[1]) {
                return None;
            }
            Some(Row {
                file: cells[1].to_string(),
                rule: cells[2].to_string(),
                enabled: cells[3] == "yes",
                priority: cells[4].to_string(),
                types: cells[5].split(", ").map(str::to_string).collect(),
            })
        })
        .collect()
}

fn check_rows(set: &RuleSet, rows: &[&Row]) -> Vec<String> {
    let mut failures = Vec::new();
    for row in rows {
        let Some(rule) = set.find(&row.rule).and_then(|i| set.rule(i)) else {
            failures.push(format!("{}: rule not compiled", row.rule));
            continue;
        };
        let types: BTreeSet<String> = rule
            .event_types
            .iter()
            .map(|t| t.name().to_string())
            .collect();
        if types != row.types {
            failures.push(format!(
                "{}: types {types:?}, expected {:?}",
                row.rule, row.types
            ));
        }
        if rule.enabled != row.enabled {
            failures.push(format!("{}: enabled {}", row.rule, rule.enabled));
        }
        if Priority::parse(&row.priority) != Some(rule.priority) {
            failures.push(format!("{}: priority {:?}", row.rule, rule.priority));
        }
    }
    failures
}

#[test]
fn table_is_complete() {
    if peregrine_testkit::upstream::require("table_is_complete").is_none() {
        return;
    }
    let rows = table();
    assert_eq!(rows.len(), 93);
    assert_eq!(rows.iter().filter(|r| r.file == "stable").count(), 25);
}

#[test]
fn each_file_alone() {
    if peregrine_testkit::upstream::require("each_file_alone").is_none() {
        return;
    }
    let rows = table();
    for (file, which, rules) in [
        (STABLE, "stable", 25),
        (INCUBATING, "incubating", 31),
        (SANDBOX, "sandbox", 37),
    ] {
        let set = load(&[file]);
        assert_eq!(set.rules().len(), rules, "{file}");
        let mine: Vec<&Row> = rows.iter().filter(|r| r.file == which).collect();
        let failures = check_rows(&set, &mine);
        assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
    }
}

#[test]
fn stable_incubating_sandbox_together() {
    if peregrine_testkit::upstream::require("stable_incubating_sandbox_together").is_none() {
        return;
    }
    let set = load(&[STABLE, INCUBATING, SANDBOX]);
    assert_eq!(set.rules().len(), 93);
    assert_eq!(set.active_count(), 81);
    let rows = table();
    let all: Vec<&Row> = rows.iter().collect();
    let failures = check_rows(&set, &all);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The index only hands a rule events of its types.
    let open = peregrine_event::EventType::from_name("openat").expect("openat");
    for &i in set.rules_for(open) {
        let r = set.rule(i).expect("rule");
        assert!(r.event_types.contains(open) && r.enabled, "{}", r.name);
    }
}

#[test]
fn archived_deprecated_rules_warn_about_evt_dir() {
    if peregrine_testkit::upstream::require("archived_deprecated_rules_warn_about_evt_dir")
        .is_none()
    {
        return;
    }
    let mut loader = Loader::new();
    assert!(loader.load_file(upstream().join("rules/falco-deprecated_rules.yaml")));
    let (set, results) = loader.finish();
    assert_eq!(set.rules().len(), 4);
    assert_eq!(set.active_count(), 0);
    let warnings: Vec<_> = results.warnings().collect();
    assert_eq!(warnings.len(), 4);
    for w in warnings {
        assert_eq!(w.code, WarningCode::DeprecatedItem);
        assert!(w.message.contains("'evt.dir'"), "{}", w.message);
    }
}
