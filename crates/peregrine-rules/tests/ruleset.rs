//! The compiled rule set: Falco's `rules[]` selection (driven by the expected detections of
//! Falco's tag tests), priority threshold, per-type index and evaluation on synthetic events.

use peregrine_rules::{
    Loader, Matching, Priority, RuleSet, Scratch, Selection, SelectionOp, Selector,
};
use peregrine_testkit::synthetic::SyntheticEvent;
use serde_json::Value;
use std::collections::BTreeSet;

use peregrine_testkit::upstream::dir as upstream;

fn load_files(files: &[&str]) -> RuleSet {
    let mut l = Loader::new();
    for f in files {
        assert!(l.load_file(upstream().join(f)), "{f}");
    }
    l.finish().0
}

fn load_str(text: &str) -> RuleSet {
    let mut l = Loader::new();
    let ok = l.load_str("t.yaml", text);
    let (set, res) = l.finish();
    assert!(ok, "{}", res.as_text());
    set
}

/// Quoted arguments of `falco.WithEnabledTags("a", "b")`-style options.
fn quoted_args(opt: &str) -> Vec<String> {
    opt.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn tag_selection_matches_falco_tag_tests() {
    if peregrine_testkit::upstream::require("tag_selection_matches_falco_tag_tests").is_none() {
        return;
    }
    let text = std::fs::read_to_string(upstream().join("falco-testing/legacy_tests.json"))
        .expect("legacy tests");
    let tests: Value = serde_json::from_str(&text).expect("json");
    let set = load_files(&["falco-testing/rules/tagged_rules.yaml"]);
    let mut checked = 0;
    for t in tests.as_array().expect("array") {
        let counts = t["rule_counts"].as_object().cloned().unwrap_or_default();
        if t["rules"][0] != "falco-testing/rules/tagged_rules.yaml" || counts.is_empty() {
            continue;
        }
        // Falco's tester: enabled tags = disable every rule, then enable each tag;
        // disabled tags = disable each tag.
        let mut ops = Vec::new();
        for opt in t["options"].as_array().into_iter().flatten() {
            let opt = opt.as_str().unwrap_or_default();
            if opt.starts_with("falco.WithEnabledTags(") {
                ops.push(SelectionOp::Disable(Selector::Rule("*".into())));
                for tag in quoted_args(opt) {
                    ops.push(SelectionOp::Enable(Selector::Tag(tag)));
                }
            } else if opt.starts_with("falco.WithDisabledTags(") {
                for tag in quoted_args(opt) {
                    ops.push(SelectionOp::Disable(Selector::Tag(tag)));
                }
            }
        }
        let selected = set.select(&Selection {
            ops,
            min_priority: None,
        });
        let active: BTreeSet<String> = selected
            .rules()
            .iter()
            .enumerate()
            .filter(|(i, _)| selected.is_active(*i as u32))
            .map(|(_, r)| r.name.clone())
            .collect();
        let expected: BTreeSet<String> = counts
            .iter()
            .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(active, expected, "{}", t["test"]);
        checked += 1;
    }
    assert_eq!(checked, 10);
}

const RULES: &str = r#"
- macro: spawned_process
  condition: (evt.type in (execve, execveat))
- list: shells
  items: [bash, sh, zsh]
- rule: Shell spawned
  desc: a shell
  condition: spawned_process and proc.name in (shells)
  output: shell %proc.name
  priority: NOTICE
  tags: [process, shell]
- rule: Shadow read
  desc: reads shadow
  condition: evt.type in (open, openat) and fd.name = /etc/shadow
  output: shadow read by %proc.name
  priority: WARNING
  tags: [filesystem]
- rule: Any open of etc
  desc: anything under etc
  condition: evt.type in (open, openat) and fd.name startswith /etc/
  output: etc %fd.name
  priority: DEBUG
  tags: [filesystem]
- rule: Disabled shell
  desc: off by default
  condition: spawned_process and proc.name = bash
  output: off %proc.name
  priority: CRITICAL
  enabled: false
"#;

fn matches(set: &RuleSet, ev: &mut SyntheticEvent, mode: Matching) -> Vec<String> {
    let mut scratch = Scratch::new();
    let mut out = Vec::new();
    set.evaluate(ev, mode, &mut scratch, &mut out);
    out.iter()
        .map(|&i| set.rule(i).map(|r| r.name.clone()).unwrap_or_default())
        .collect()
}

#[test]
fn evaluation_uses_the_type_index_and_rule_matching() {
    let set = load_str(RULES);
    let cases: Vec<(SyntheticEvent, Matching, Vec<&str>)> = vec![
        (
            SyntheticEvent::new("openat").with("fd.name", "/etc/shadow"),
            Matching::All,
            vec!["Shadow read", "Any open of etc"],
        ),
        (
            SyntheticEvent::new("openat").with("fd.name", "/etc/shadow"),
            Matching::First,
            vec!["Shadow read"],
        ),
        (
            SyntheticEvent::new("openat").with("fd.name", "/tmp/x"),
            Matching::All,
            vec![],
        ),
        (
            SyntheticEvent::new("execve").with("proc.name", "bash"),
            Matching::All,
            vec!["Shell spawned"],
        ),
        // Right field values, wrong event type: not even evaluated.
        (
            SyntheticEvent::new("connect")
                .with("proc.name", "bash")
                .with("fd.name", "/etc/shadow"),
            Matching::All,
            vec![],
        ),
    ];
    for (mut ev, mode, expected) in cases {
        assert_eq!(matches(&set, &mut ev, mode), expected);
    }
}

#[test]
fn selection_by_name_tag_and_priority() {
    let set = load_str(RULES);
    let names = |s: &RuleSet| -> Vec<String> {
        s.rules()
            .iter()
            .enumerate()
            .filter(|(i, _)| s.is_active(*i as u32))
            .map(|(_, r)| r.name.clone())
            .collect()
    };
    let cases: Vec<(Selection, Vec<&str>)> = vec![
        (
            Selection::default(),
            vec!["Shell spawned", "Shadow read", "Any open of etc"],
        ),
        (
            Selection {
                ops: vec![],
                min_priority: Some(Priority::Warning),
            },
            vec!["Shadow read"],
        ),
        (
            Selection {
                ops: vec![SelectionOp::Disable(Selector::Tag("filesystem".into()))],
                min_priority: None,
            },
            vec!["Shell spawned"],
        ),
        // Substring, as Falco's -D.
        (
            Selection {
                ops: vec![SelectionOp::Disable(Selector::RuleSubstring("open".into()))],
                min_priority: None,
            },
            vec!["Shell spawned", "Shadow read"],
        ),
        // Without a wildcard a rules[] pattern is the whole name.
        (
            Selection {
                ops: vec![SelectionOp::Disable(Selector::Rule("open".into()))],
                min_priority: None,
            },
            vec!["Shell spawned", "Shadow read", "Any open of etc"],
        ),
        (
            Selection {
                ops: vec![SelectionOp::Disable(Selector::Rule("*open*".into()))],
                min_priority: None,
            },
            vec!["Shell spawned", "Shadow read"],
        ),
        (
            Selection {
                ops: vec![
                    SelectionOp::Disable(Selector::Rule("*".into())),
                    SelectionOp::Enable(Selector::Rule("Disabled*".into())),
                ],
                min_priority: None,
            },
            vec!["Disabled shell"],
        ),
    ];
    for (sel, expected) in cases {
        assert_eq!(names(&set.select(&sel)), expected, "{sel:?}");
    }
}

#[test]
fn describe_rule_like_falco_list() {
    let set = load_str(RULES);
    let d = set.describe_rule("Shell spawned").expect("described");
    assert_eq!(
        d["details"]["condition_compiled"],
        "(evt.type in (execve, execveat) and proc.name in (bash, sh, zsh))"
    );
    assert_eq!(
        d["details"]["events"],
        serde_json::json!(["execve", "execveat"])
    );
    assert_eq!(
        d["details"]["macros"],
        serde_json::json!(["spawned_process"])
    );
    assert_eq!(d["details"]["lists"], serde_json::json!(["shells"]));
    assert_eq!(
        d["details"]["condition_fields"],
        serde_json::json!(["evt.type", "proc.name"])
    );
    assert_eq!(d["info"]["priority"], "Notice");
    assert_eq!(d["info"]["enabled"], true);
    assert!(set.describe_rule("nope").is_none());
}

#[test]
fn ignored_syscalls_warning_lists_undelivered_types() {
    use peregrine_event::{EventType, EventTypeSet};
    let set = load_str(RULES);
    let all: EventTypeSet = set.event_types();
    let names: Vec<&str> = all.iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(set.ignored_syscalls_warning(&all).is_none());
    let delivered: EventTypeSet = ["openat", "execve", "execveat"]
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect();
    assert_eq!(
        set.ignored_syscalls_warning(&delivered).as_deref(),
        Some("\nRules match ignored syscall: warning (ignored-evttype):\nLoaded rules match the following events:\n\t- open\nBut these events are not returned unless running falco with -A\n\n")
    );
}
