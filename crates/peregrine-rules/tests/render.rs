//! Load results render as `falco -V` prints them: the verbose text layout and the JSON of
//! `-o json_output=true`.

use peregrine_rules::Loader;
use serde_json::json;

const CONTENT: &str = "- rule: r
  desc: d
  condition: evt.type=open and proc.name=cat)
  output: o
  priority: INFO
  typo: 1
";

fn results() -> peregrine_rules::LoadResults {
    let mut l = Loader::new();
    assert!(!l.load_str("a.yaml", CONTENT));
    l.finish().1
}

#[test]
fn verbose_text_layout() {
    let expected = "a.yaml: Invalid
1 Errors:
In rules content: (a.yaml:0:0)
    rule 'r': (a.yaml:0:2)
    rule condition: (a.yaml:2:13)
    condition expression: (\"evt.type=open and...\":3:45)
------
evt.type=open and proc.name=cat)
                               ^
------
LOAD_ERR_COMPILE_CONDITION (Error compiling condition): unexpected token after 'cat', expecting 'or', 'and'

1 Warnings:
In rules content: (a.yaml:0:0)
    rule 'r': (a.yaml:0:2)
    value for 'typo': (a.yaml:5:2)
------
  typo: 1
  ^
------
LOAD_UNKNOWN_KEY (Unknown key in item definition): Unknown key 'typo'. The key will be ignored.
";
    assert_eq!(results().as_text(), expected);
}

#[test]
fn summary_text() {
    let r = results();
    assert_eq!(
        r.results[0].as_summary_text(),
        "a.yaml: Invalid\n 1 errors: [LOAD_ERR_COMPILE_CONDITION (Error compiling condition)]\n 1 warnings: [LOAD_UNKNOWN_KEY (Unknown key in item definition)]"
    );
}

#[test]
fn json_layout() {
    let j = results().as_json();
    let r = &j["falco_load_results"][0];
    assert_eq!(r["name"], "a.yaml");
    assert_eq!(r["successful"], false);
    let e = &r["errors"][0];
    assert_eq!(e["code"], "LOAD_ERR_COMPILE_CONDITION");
    // Falco's error `codedesc` is the short title; warnings get the long description.
    assert_eq!(e["codedesc"], "Error compiling condition");
    assert_eq!(
        e["context"]["locations"][1],
        json!({
            "item_type": "rule",
            "item_name": "r",
            "position": {"name": "a.yaml", "line": 0, "column": 2, "offset": 2}
        })
    );
    assert_eq!(
        e["context"]["snippet"],
        "evt.type=open and proc.name=cat)\n                               ^\n"
    );
    let w = &r["warnings"][0];
    assert_eq!(w["code"], "LOAD_UNKNOWN_KEY");
    assert!(w["codedesc"].as_str().is_some_and(
        |d| d.starts_with("An item in the rules content contains an unrecognized key")
    ));
}

#[test]
fn ok_with_warnings_and_empty_content() {
    let mut l = Loader::new();
    assert!(l.load_str("empty.yaml", ""));
    assert!(l.load_str("w.yaml", "- list: unused\n  items: [a]\n"));
    let (_, r) = l.finish();
    let text = r.as_text();
    assert!(
        text.starts_with("empty.yaml: Ok\nw.yaml: Ok, with warnings\n1 Warnings:\n"),
        "{text}"
    );
    assert!(text
        .contains("LOAD_UNUSED_LIST (Unused list): List not referred to by any other rule/macro"));
}
