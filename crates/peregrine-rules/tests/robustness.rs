//! Hostile input never panics: arbitrary bytes, mutated rules files, deep nesting, huge lists.

use peregrine_rules::Loader;
use proptest::prelude::*;

const SEED: &str = r#"
- required_engine_version: 0.57.0
- list: shells
  items: [bash, sh, "a b", 22]
- macro: spawned
  condition: evt.type in (execve, execveat)
- macro: shelly
  condition: spawned and proc.name in (shells)
- rule: Shell
  desc: a shell
  condition: shelly and not proc.pname in (shells, sudo)
  output: shell %proc.name (parent=%proc.pname)
  priority: WARNING
  tags: [a, b]
  exceptions:
    - name: ex
      fields: [proc.name, proc.cmdline]
      comps: [=, in]
      values:
        - [bash, [x, "y z"]]
- rule: Shell
  condition: and proc.tty != 0
  override:
    condition: append
"#;

fn load(text: &str) {
    let mut l = Loader::new();
    l.load_str("fuzz.yaml", text);
    let (set, results) = l.finish();
    // Rendering every result must not panic either (snippets index into the content).
    let _ = results.as_text();
    let _ = results.as_json();
    let _ = set.describe_all();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_rules_never_panic(
        edits in proptest::collection::vec((0usize..SEED.len(), any::<char>(), 0u8..3), 1..8)
    ) {
        let mut text: Vec<char> = SEED.chars().collect();
        for (pos, c, kind) in edits {
            let pos = pos.min(text.len().saturating_sub(1));
            match kind {
                0 => text[pos] = c,
                1 => text.insert(pos, c),
                _ => { text.remove(pos); }
            }
        }
        load(&text.iter().collect::<String>());
    }
}

#[test]
fn deep_yaml_nesting_is_refused() {
    for text in [
        "[".repeat(200_000),
        "- ".repeat(50_000),
        "{a: ".repeat(50_000),
    ] {
        let mut l = Loader::new();
        assert!(!l.load_str("deep.yaml", &text));
    }
}

#[test]
fn deep_condition_is_refused_not_overflowed() {
    let cond = format!(
        "{}evt.type=open{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let text =
        format!("- rule: deep\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n");
    let mut l = Loader::new();
    assert!(!l.load_str("deep.yaml", &text));
}

#[test]
fn deep_macro_chain_is_handled() {
    // 300 macros each referring to the previous one: resolution depth is bounded by the
    // number of macros and stays well within the stack.
    let mut text = String::from("- macro: m0\n  condition: evt.type=open\n");
    for i in 1..300 {
        text.push_str(&format!(
            "- macro: m{i}\n  condition: m{} and proc.name=x{i}\n",
            i - 1
        ));
    }
    text.push_str("- rule: r\n  desc: d\n  condition: m299\n  output: o\n  priority: INFO\n");
    let mut l = Loader::new();
    l.load_str("chain.yaml", &text);
}

#[test]
fn huge_list_loads() {
    let items: Vec<String> = (0..20_000).map(|i| format!("name{i}")).collect();
    let text = format!(
        "- list: big\n  items: [{}]\n- rule: r\n  desc: d\n  condition: evt.type=execve and proc.name in (big)\n  output: o\n  priority: INFO\n",
        items.join(", ")
    );
    let mut l = Loader::new();
    l.load_str("big.yaml", &text);
}

#[test]
fn alias_bomb_is_refused() {
    let mut text = String::from("- list: a\n  items: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = "a".to_string();
    for i in 0..9 {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        text.push_str(&format!("- list: l{i}\n  items: &l{i} [{refs}]\n"));
        prev = format!("l{i}");
    }
    let mut l = Loader::new();
    assert!(!l.load_str("bomb.yaml", &text));
}

#[test]
fn macro_expansion_depth_is_bounded() {
    // Each macro nests the previous one 150 levels deep: parsed conditions stay within the
    // parser's limit, but the expansion would not; it is refused, not overflowed.
    // Alternating operators so that no level is flattened into its parent.
    let open: String = (0..150)
        .map(|i| {
            if i % 2 == 0 {
                "(fd.num=1 or "
            } else {
                "(fd.num=2 and "
            }
        })
        .collect();
    let close = ")".repeat(150);
    let mut text = String::from("- macro: m0\n  condition: evt.type=open\n");
    for i in 1..40 {
        text.push_str(&format!(
            "- macro: m{i}\n  condition: {open}m{}{close}\n",
            i - 1
        ));
    }
    text.push_str("- rule: r\n  desc: d\n  condition: m39\n  output: o\n  priority: INFO\n");
    let mut l = Loader::new();
    assert!(!l.load_str("deep-macros.yaml", &text));
    let (_, res) = l.finish();
    assert!(res
        .errors()
        .any(|e| e.message.contains("after macro expansion")));
}

#[test]
fn macro_expansion_size_is_bounded() {
    // m_i = m_{i-1} or m_{i-1}: 2^40 nodes if expanded naively.
    let mut text = String::from("- macro: m0\n  condition: evt.type=open\n");
    for i in 1..40 {
        text.push_str(&format!(
            "- macro: m{i}\n  condition: (m{p} or (m{p} and fd.num=1))\n",
            p = i - 1
        ));
    }
    text.push_str("- rule: r\n  desc: d\n  condition: m39\n  output: o\n  priority: INFO\n");
    let mut l = Loader::new();
    assert!(!l.load_str("wide-macros.yaml", &text));
    let (_, res) = l.finish();
    assert!(res
        .errors()
        .any(|e| e.message.contains("nodes after macro expansion")));
}
