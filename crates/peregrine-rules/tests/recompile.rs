//! Later contents change what earlier rules mean: the loader recompiles everything collected
//! after each content and reuses unchanged compiled conditions, so a changed macro, nested
//! macro or list must reach every rule that uses it, however indirectly.

use peregrine_rules::{Loader, Matching, Scratch};
use peregrine_testkit::synthetic::SyntheticEvent;

const BASE: &str = "\
- list: names
  items: [bash]
- macro: inner
  condition: proc.name in (names)
- macro: outer
  condition: evt.type = execve and inner
- rule: R
  desc: d
  condition: outer
  output: o %proc.name
  priority: NOTICE
";

/// Loads `BASE` then `later` as two contents and returns which of `names` the rule matches.
fn check(later: &str, names: &[&str], expected: &[&str]) {
    for compile_once in [false, true] {
        let mut l = if compile_once {
            Loader::compile_once()
        } else {
            Loader::new()
        };
        assert!(l.load_str("a.yaml", BASE));
        assert!(l.load_str("b.yaml", later), "{}", l.results().as_text());
        let (set, res) = l.finish();
        assert!(res.successful(), "{}", res.as_text());
        let (mut scratch, mut out) = (Scratch::new(), Vec::new());
        let matched: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                let mut ev = SyntheticEvent::new("execve").with("proc.name", *n);
                set.evaluate(&mut ev, Matching::All, &mut scratch, &mut out);
                !out.is_empty()
            })
            .collect();
        assert_eq!(
            matched, expected,
            "after {later:?} (compile once: {compile_once})"
        );
    }
}

#[test]
fn changes_in_later_contents_reach_compiled_rules() {
    let names = ["bash", "zsh", "sh"];
    // Nothing changes: the first compile's result stands.
    check("- list: other\n  items: [x]\n", &names, &["bash"]);
    // The macro the rule names directly.
    check(
        "- macro: outer\n  condition: evt.type = execve and proc.name = sh\n",
        &names,
        &["sh"],
    );
    // A macro reached only through another macro.
    check(
        "- macro: inner\n  condition: proc.name = zsh\n",
        &names,
        &["zsh"],
    );
    // A list reached through two macros.
    check(
        "- list: names\n  items: [zsh, sh]\n  override:\n    items: replace\n",
        &names,
        &["zsh", "sh"],
    );
    check(
        "- list: names\n  items: [sh]\n  override:\n    items: append\n",
        &names,
        &["bash", "sh"],
    );
}
