//! The default rules' own tests (`rules/tests/*.yaml`), run through the library as
//! `peregrine test rules/tests` runs them: every test passes, and every default rule has a
//! test where it fires.

use std::collections::BTreeSet;
use std::path::PathBuf;

use peregrine_ruletest::spec::{Count, Input};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[test]
fn default_rules_tests_pass() {
    let files =
        peregrine_ruletest::collect_files(&[rules_dir().join("tests")]).expect("rules/tests");
    assert!(files.len() >= 3, "{files:?}");
    let mut outcomes = Vec::new();
    for f in &files {
        match peregrine_ruletest::run_file(f, None) {
            Ok(o) => outcomes.push(o),
            Err(e) => panic!("{e}"),
        }
    }
    let report = peregrine_ruletest::report::text(&outcomes);
    let t = peregrine_ruletest::report::totals(&outcomes);
    assert_eq!((t.failed, t.skipped), (0, 0), "{report}");
}

#[test]
fn every_default_rule_has_a_firing_case_and_near_misses_exist() {
    let files =
        peregrine_ruletest::collect_files(&[rules_dir().join("tests")]).expect("rules/tests");
    let mut fired = BTreeSet::new();
    let mut silent = 0;
    for f in &files {
        let file = peregrine_ruletest::parse_file(f).unwrap_or_else(|e| panic!("{e}"));
        for case in &file.tests {
            assert!(
                matches!(case.input, Input::Events(_)),
                "{}: inline events only",
                case.name
            );
            if case.expect.nothing {
                silent += 1;
            }
            for e in &case.expect.rules {
                match e.count {
                    Count::Exactly(0) => silent += 1,
                    _ => {
                        fired.insert(e.rule.clone());
                    }
                }
            }
        }
    }
    let mut loader = peregrine_rules::Loader::new();
    assert!(loader.load_file(rules_dir().join("peregrine_rules.yaml")));
    let (rules, _) = loader.finish();
    let all: BTreeSet<String> = rules.rules().iter().map(|r| r.name.clone()).collect();
    let untested: Vec<&String> = all.difference(&fired).collect();
    assert!(
        untested.is_empty(),
        "default rules without a firing test: {untested:?}"
    );
    assert!(
        silent >= all.len(),
        "{silent} near misses for {} rules",
        all.len()
    );
}
