//! The default rules' own tests (`rules/tests/*.yaml`), run through the library as
//! `peregrine test rules/tests` runs them: every test must pass.

use std::path::PathBuf;

fn rules_tests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules/tests")
}

#[test]
fn default_rules_tests_pass() {
    let files = peregrine_ruletest::collect_files(&[rules_tests()]).expect("rules/tests");
    assert!(!files.is_empty(), "{files:?}");
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
    assert!(t.passed >= 62, "{report}");
}
