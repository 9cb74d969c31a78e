//! Falco's rule-loader cases (falcosecurity/falco `unit_tests/engine/test_rule_loader.cpp`),
//! written as data: rules YAML → load ok?, compiled conditions, error/warning substrings.

use peregrine_rules::{Loader, RuleSet};

struct Case {
    name: &'static str,
    yaml: &'static str,
    ok: bool,
    /// (rule name, expected `condition_compiled`).
    compiled: &'static [(&'static str, &'static str)],
    errors: &'static [&'static str],
    warnings: &'static [&'static str],
    /// Substrings no warning may contain.
    absent: &'static [&'static str],
    /// Number of enabled rules, when the case asserts it.
    enabled: Option<usize>,
}

const DEF: Case = Case {
    name: "",
    yaml: "",
    ok: true,
    compiled: &[],
    errors: &[],
    warnings: &[],
    absent: &[],
    enabled: None,
};

fn check(c: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let mut loader = Loader::new();
    let ok = loader.load_str("rules.yaml", c.yaml);
    let (set, results): (RuleSet, _) = loader.finish();
    let errors: Vec<String> = results.errors().map(|e| e.message.clone()).collect();
    let warnings: Vec<String> = results.warnings().map(|w| w.message.clone()).collect();
    let mut fail = |m: String| failures.push(format!("{}: {m}", c.name));
    if ok != c.ok {
        fail(format!("ok={ok}, expected {}; errors {errors:?}", c.ok));
    }
    for e in c.errors {
        if !errors.iter().any(|m| m.contains(e)) {
            fail(format!("missing error {e:?} in {errors:?}"));
        }
    }
    for w in c.warnings {
        if !warnings.iter().any(|m| m.contains(w)) {
            fail(format!("missing warning {w:?} in {warnings:?}"));
        }
    }
    for w in c.absent {
        if warnings.iter().any(|m| m.contains(w)) {
            fail(format!("unexpected warning {w:?} in {warnings:?}"));
        }
    }
    for (rule, expected) in c.compiled {
        match set.find(rule).and_then(|i| set.rule(i)) {
            Some(r) => {
                let got = r.condition_compiled();
                if got != *expected {
                    fail(format!(
                        "rule {rule}: compiled {got:?}, expected {expected:?}"
                    ));
                }
            }
            None => fail(format!("rule {rule} not compiled; errors {errors:?}")),
        }
    }
    if let Some(n) = c.enabled {
        if set.active_count() != n {
            fail(format!(
                "{} enabled rules, expected {n}",
                set.active_count()
            ));
        }
    }
    failures
}

const APPEND_WARNING: &str =
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const TOO_MANY: &str = "Rule matches too many evt.type values";

static CASES: &[Case] = &[
    Case {
        name: "list_append",
        yaml: r#"
- list: shell_binaries
  items: [ash, bash, csh, ksh, sh, tcsh, zsh, dash]
- list: shell_binaries
  items: [pwsh]
  override:
    items: append
- rule: legit_rule
  desc: legit rule description
  condition: evt.type=open and proc.name in (shell_binaries)
  output: user=%user.name command=%proc.cmdline file=%fd.name
  priority: INFO
"#,
        compiled: &[(
            "legit_rule",
            "(evt.type = open and proc.name in (ash, bash, csh, ksh, sh, tcsh, zsh, dash, pwsh))",
        )],
        ..DEF
    },
    Case {
        name: "condition_append",
        yaml: r#"
- macro: interactive
  condition: >
    ((proc.aname=sshd and proc.name != sshd) or
    proc.name=systemd-logind or proc.name=login)
- macro: interactive
  condition: or proc.name = ssh
  override:
    condition: append
- rule: legit_rule
  desc: legit rule description
  condition: evt.type=open and (interactive)
  output: user=%user.name command=%proc.cmdline file=%fd.name
  priority: INFO
"#,
        compiled: &[(
            "legit_rule",
            "(evt.type = open and (((proc.aname = sshd and proc.name != sshd) or proc.name = systemd-logind or proc.name = login) or proc.name = ssh))",
        )],
        ..DEF
    },
    Case {
        name: "rule_override_append",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name command=%proc.cmdline file=%fd.name
  priority: INFO
- rule: test_rule
  desc: with append
  condition: and proc.name = cat
  output: proc=%proc.name
  override:
    desc: append
    condition: append
    output: append
"#,
        compiled: &[("test_rule", "(evt.type = close and proc.name = cat)")],
        absent: &[APPEND_WARNING],
        ..DEF
    },
    Case {
        name: "rule_append",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name command=%proc.cmdline file=%fd.name
  priority: INFO
- rule: test_rule
  condition: and proc.name = cat
  append: true
"#,
        compiled: &[("test_rule", "(evt.type = open and proc.name = cat)")],
        warnings: &[APPEND_WARNING],
        ..DEF
    },
    Case {
        name: "rule_override_replace",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name command=%proc.cmdline file=%fd.name
  priority: INFO
- rule: test_rule
  desc: a replaced description
  condition: evt.type = open
  override:
    desc: replace
    condition: replace
"#,
        compiled: &[("test_rule", "evt.type = open")],
        ..DEF
    },
    Case {
        name: "rule_override_append_replace",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name command=%proc.cmdline file=%fd.name
  priority: INFO
- rule: test_rule
  condition: and proc.name = cat
  priority: WARNING
  override:
    condition: append
    priority: replace
"#,
        compiled: &[("test_rule", "(evt.type = close and proc.name = cat)")],
        ..DEF
    },
    Case {
        name: "rule_incorrect_override_type",
        yaml: r#"
- rule: failing_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: failing_rule
  priority: WARNING
  override:
    priority: append
"#,
        ok: false,
        errors: &["Key 'priority' cannot be appended to, use 'replace' instead"],
        ..DEF
    },
    Case {
        name: "rule_incorrect_append_override",
        yaml: r#"
- rule: failing_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: failing_rule
  condition: and proc.name = cat
  append: true
  override:
    condition: append
"#,
        ok: false,
        errors: &["Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."],
        warnings: &[APPEND_WARNING],
        ..DEF
    },
    Case {
        name: "macro_override_append_before_macro_definition",
        yaml: r#"
- macro: open_simple
  condition: or evt.type = openat2
  override:
    condition: append
- macro: open_simple
  condition: evt.type in (open,openat)
- rule: test_rule
  desc: simple rule
  condition: open_simple
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["Macro uses 'append' or 'override.condition: append' but no macro by that name already exists"],
        ..DEF
    },
    Case {
        name: "macro_override_replace_before_macro_definition",
        yaml: r#"
- macro: open_simple
  condition: or evt.type = openat2
  override:
    condition: replace
- macro: open_simple
  condition: evt.type in (open,openat)
- rule: test_rule
  desc: simple rule
  condition: open_simple
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[("test_rule", "evt.type in (open, openat)")],
        ..DEF
    },
    Case {
        name: "macro_append_before_macro_definition",
        yaml: r#"
- macro: open_simple
  condition: or evt.type = openat2
  append: true
- macro: open_simple
  condition: evt.type in (open,openat)
- rule: test_rule
  desc: simple rule
  condition: open_simple
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["Macro uses 'append' or 'override.condition: append' but no macro by that name already exists"],
        ..DEF
    },
    Case {
        name: "macro_override_append_after_macro_definition",
        yaml: r#"
- macro: open_simple
  condition: evt.type in (open,openat)
- macro: open_simple
  condition: or evt.type = openat2
  override:
    condition: append
- rule: test_rule
  desc: simple rule
  condition: open_simple
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[("test_rule", "(evt.type in (open, openat) or evt.type = openat2)")],
        ..DEF
    },
    Case {
        name: "macro_append_after_macro_definition",
        yaml: r#"
- macro: open_simple
  condition: evt.type in (open,openat)
- macro: open_simple
  condition: or evt.type = openat2
  append: true
- rule: test_rule
  desc: simple rule
  condition: open_simple
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[("test_rule", "(evt.type in (open, openat) or evt.type = openat2)")],
        warnings: &[APPEND_WARNING],
        ..DEF
    },
    Case {
        name: "rule_override_append_before_rule_definition",
        yaml: r#"
- rule: test_rule
  condition: and proc.name = cat
  override:
    condition: append
- rule: test_rule
  desc: simple rule
  condition: evt.type in (open,openat)
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"],
        ..DEF
    },
    Case {
        name: "rule_override_replace_before_rule_definition",
        yaml: r#"
- rule: test_rule
  condition: and proc.name = cat
  override:
    condition: replace
- rule: test_rule
  desc: simple rule
  condition: evt.type in (open,openat)
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["An 'override.<key>: replace' to a rule was requested but no rule by that name already exists"],
        ..DEF
    },
    Case {
        name: "rule_append_before_rule_definition",
        yaml: r#"
- rule: test_rule
  condition: and proc.name = cat
  append: true
- rule: test_rule
  desc: simple rule
  condition: evt.type in (open,openat)
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"],
        ..DEF
    },
    Case {
        name: "rule_override_append_after_rule_definition",
        yaml: r#"
- rule: test_rule
  desc: simple rule
  condition: evt.type in (open,openat)
  output: command=%proc.cmdline
  priority: INFO
- rule: test_rule
  condition: and proc.name = cat
  override:
    condition: append
"#,
        compiled: &[("test_rule", "(evt.type in (open, openat) and proc.name = cat)")],
        ..DEF
    },
    Case {
        name: "rule_append_after_rule_definition",
        yaml: r#"
- rule: test_rule
  desc: simple rule
  condition: evt.type in (open,openat)
  output: command=%proc.cmdline
  priority: INFO
- rule: test_rule
  condition: and proc.name = cat
  append: true
"#,
        compiled: &[("test_rule", "(evt.type in (open, openat) and proc.name = cat)")],
        ..DEF
    },
    Case {
        name: "list_override_append_wrong_key",
        yaml: r#"
- list: dev_creation_binaries
  items: ["csi-provisioner", "csi-attacher"]
  overrides:
    items: append
- list: dev_creation_binaries
  items: [blkid]
- rule: test_rule
  desc: simple rule
  condition: evt.type = execve and proc.name in (dev_creation_binaries)
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[("test_rule", "(evt.type = execve and proc.name in (blkid))")],
        warnings: &["Unknown key 'overrides'"],
        ..DEF
    },
    Case {
        name: "list_override_append_before_list_definition",
        yaml: r#"
- list: dev_creation_binaries
  items: ["csi-provisioner", "csi-attacher"]
  override:
    items: append
- list: dev_creation_binaries
  items: [blkid]
- rule: test_rule
  desc: simple rule
  condition: evt.type = execve and proc.name in (dev_creation_binaries)
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["List uses 'append' or 'override.items: append' but no list by that name already exists"],
        ..DEF
    },
    Case {
        name: "list_override_replace_before_list_definition",
        yaml: r#"
- list: dev_creation_binaries
  items: ["csi-provisioner", "csi-attacher"]
  override:
    items: replace
- list: dev_creation_binaries
  items: [blkid]
- rule: test_rule
  desc: simple rule
  condition: evt.type = execve and proc.name in (dev_creation_binaries)
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[("test_rule", "(evt.type = execve and proc.name in (blkid))")],
        ..DEF
    },
    Case {
        name: "list_append_before_list_definition",
        yaml: r#"
- list: dev_creation_binaries
  items: ["csi-provisioner", "csi-attacher"]
  append: true
- list: dev_creation_binaries
  items: [blkid]
- rule: test_rule
  desc: simple rule
  condition: evt.type = execve and proc.name in (dev_creation_binaries)
  output: command=%proc.cmdline
  priority: INFO
"#,
        ok: false,
        errors: &["List uses 'append' or 'override.items: append' but no list by that name already exists"],
        ..DEF
    },
    Case {
        name: "list_override_append_after_list_definition",
        yaml: r#"
- list: dev_creation_binaries
  items: [blkid]
- list: dev_creation_binaries
  items: ["csi-provisioner", "csi-attacher"]
  override:
    items: append
- rule: test_rule
  desc: simple rule
  condition: evt.type = execve and proc.name in (dev_creation_binaries)
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = execve and proc.name in (blkid, csi-provisioner, csi-attacher))",
        )],
        ..DEF
    },
    Case {
        name: "list_append_after_list_definition",
        yaml: r#"
- list: dev_creation_binaries
  items: [blkid]
- list: dev_creation_binaries
  items: ["csi-provisioner", "csi-attacher"]
  append: true
- rule: test_rule
  desc: simple rule
  condition: evt.type = execve and proc.name in (dev_creation_binaries)
  output: command=%proc.cmdline
  priority: INFO
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = execve and proc.name in (blkid, csi-provisioner, csi-attacher))",
        )],
        ..DEF
    },
    Case {
        name: "rule_override_without_field",
        yaml: r#"
- rule: failing_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: failing_rule
  desc: an appended desc
  override:
    condition: append
"#,
        ok: false,
        errors: &["An append override for 'condition' was specified but 'condition' is not defined"],
        ..DEF
    },
    Case {
        name: "rule_override_extra_field",
        yaml: r#"
- rule: failing_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: failing_rule
  condition: and proc.name = cat
  priority: WARNING
  override:
    condition: append
"#,
        ok: false,
        errors: &["Unexpected key 'priority'"],
        ..DEF
    },
    Case {
        name: "missing_enabled_key_with_override",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  enabled: false
- rule: test_rule
  desc: new description
  override:
    desc: replace
    enabled: replace
"#,
        ok: false,
        errors: &["'enabled' was specified but 'enabled' is not defined"],
        ..DEF
    },
    Case {
        name: "rule_override_with_enabled",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  enabled: false
- rule: test_rule
  desc: new description
  enabled: true
  override:
    desc: replace
    enabled: replace
"#,
        enabled: Some(1),
        ..DEF
    },
    Case {
        name: "rule_override_exceptions_required_fields",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      values: [[cat]]
- rule: test_rule
  exceptions:
    - name: test_exception
      values: [[ls]]
  override:
    exceptions: replace
"#,
        ok: false,
        errors: &["Item has no mapping for key 'fields'"],
        ..DEF
    },
    Case {
        name: "rule_not_enabled",
        yaml: r#"
- rule: test_rule
  desc: rule not enabled
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  enabled: false
"#,
        enabled: Some(0),
        ..DEF
    },
    Case {
        name: "rule_enabled_warning",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  enabled: false
- rule: test_rule
  enabled: true
"#,
        enabled: Some(1),
        warnings: &["The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace')."],
        ..DEF
    },
    Case {
        name: "no_evttype_warning_for_narrow_condition",
        yaml: r#"
- rule: test_rule
  desc: narrow
  condition: evt.type = open and proc.name = cat
  output: user=%user.name
  priority: INFO
"#,
        absent: &[TOO_MANY],
        ..DEF
    },
    Case {
        name: "evttype_warning_for_broad_condition",
        yaml: r#"
- rule: test_rule
  desc: broad
  condition: proc.name = cat
  output: user=%user.name
  priority: INFO
"#,
        warnings: &[TOO_MANY],
        ..DEF
    },
    Case {
        name: "evttype_warning_disabled_by_warn_evttypes",
        yaml: r#"
- rule: test_rule
  desc: broad but acknowledged
  condition: proc.name = cat
  output: user=%user.name
  priority: INFO
  warn_evttypes: false
"#,
        absent: &[TOO_MANY],
        ..DEF
    },
    Case {
        name: "no_evttype_warning_for_unsatisfiable_condition",
        yaml: r#"
- rule: test_rule
  desc: never matches
  condition: evt.type = open and evt.type = close
  output: user=%user.name
  priority: INFO
"#,
        absent: &[TOO_MANY],
        enabled: Some(1),
        ..DEF
    },
    Case {
        name: "no_evttype_warning_for_evt_type_contradiction",
        yaml: r#"
- rule: test_rule
  desc: contradiction
  condition: evt.type = open and not evt.type = open
  output: user=%user.name
  priority: INFO
"#,
        absent: &[TOO_MANY],
        ..DEF
    },
    Case {
        name: "no_evttype_warning_for_never_true_macro",
        yaml: r#"
- macro: never_true
  condition: (evt.num=0)
- rule: test_rule_1
  desc: disabled by a placeholder
  condition: never_true
  output: user=%user.name
  priority: INFO
- rule: test_rule_2
  desc: disabled by a placeholder
  condition: never_true and proc.name = cat
  output: user=%user.name
  priority: INFO
"#,
        absent: &[TOO_MANY],
        enabled: Some(2),
        ..DEF
    },
    Case {
        name: "rule_enabled_is_ignored_by_append",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  enabled: false
- rule: test_rule
  condition: and proc.name = cat
  enabled: true
  append: true
"#,
        enabled: Some(0),
        ..DEF
    },
    Case {
        name: "rewrite_rule",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: test_rule
  desc: redefined
  condition: proc.name = cat
  output: user=%user.name
  priority: INFO
"#,
        compiled: &[("test_rule", "proc.name = cat")],
        enabled: Some(1),
        ..DEF
    },
    Case {
        name: "required_engine_version_semver",
        yaml: "- required_engine_version: 0.10.12\n",
        ..DEF
    },
    Case {
        name: "required_engine_version_not_semver",
        yaml: "- required_engine_version: 10\n",
        ..DEF
    },
    Case {
        name: "required_engine_version_invalid",
        yaml: "- required_engine_version: seven\n",
        ok: false,
        errors: &["Unable to parse engine version"],
        ..DEF
    },
    Case {
        name: "required_engine_version_too_new",
        yaml: "- required_engine_version: 0.99.0\n",
        ok: false,
        errors: &["Rules require engine version 0.99.0, but engine version is 0.62.0"],
        ..DEF
    },
    Case {
        name: "list_value_with_escaping",
        yaml: r#"
- list: my_list
  items: [non_escaped_val, "\"escaped val\""]
- rule: test_rule
  desc: test rule description
  condition: evt.type = open and fd.name in (my_list)
  output: user=%user.name
  priority: INFO
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and fd.name in (non_escaped_val, \"escaped val\"))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_condition",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: proc.cmdline contains curl or proc.cmdline contains wget
  output: command=%proc.cmdline
  priority: INFO
  exceptions:
    - name: local_curl
      fields: [proc.cmdline]
      comps: [contains]
      values:
        - [curl 127.0.0.1]
"#,
        compiled: &[(
            "test_rule",
            "((proc.cmdline contains curl or proc.cmdline contains wget) and not proc.cmdline contains \"curl 127.0.0.1\")",
        )],
        ..DEF
    },
    Case {
        name: "macro_name_invalid",
        yaml: r#"
- macro: test-macro
  condition: evt.type = close
"#,
        warnings: &["Macro has an invalid name. Macro names should match a regular expression"],
        ..DEF
    },
    Case {
        name: "list_name_invalid",
        yaml: r#"
- list: test list
  items: [open, openat]
"#,
        warnings: &["List has an invalid name. List names should match a regular expression"],
        ..DEF
    },
    Case {
        name: "exceptions_append_no_values",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      values: [[cat]]
- rule: test_rule
  exceptions:
    - name: test_exception
  append: true
"#,
        warnings: &["Overriding/appending exception with no values"],
        ..DEF
    },
    Case {
        name: "exceptions_override_no_values",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      values: [[cat]]
- rule: test_rule
  exceptions:
    - name: test_exception
  override:
    exceptions: append
"#,
        warnings: &["Overriding/appending exception with no values"],
        ..DEF
    },
    Case {
        name: "exceptions_names_not_unique",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      values: [[cat]]
    - name: test_exception
      fields: [proc.name]
      values: [[ls]]
"#,
        warnings: &["Multiple definitions of exception"],
        ..DEF
    },
    Case {
        name: "exceptions_values_rhs_field_ambiguous",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [[proc.pname]]
"#,
        compiled: &[("test_rule", "(evt.type = open and not proc.name = proc.pname)")],
        warnings: &["'proc.pname' may be a valid field misused as a const string value"],
        ..DEF
    },
    Case {
        name: "exceptions_values_rhs_field_ambiguous_quoted",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [['"proc.pname"']]
"#,
        compiled: &[("test_rule", "(evt.type = open and not proc.name = proc.pname)")],
        warnings: &["'proc.pname' may be a valid field misused as a const string value"],
        ..DEF
    },
    Case {
        name: "exceptions_values_rhs_field_ambiguous_space_quoted",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [['"proc.pname "']]
"#,
        compiled: &[("test_rule", "(evt.type = open and not proc.name = \"proc.pname \")")],
        warnings: &["'proc.pname ' may be a valid field misused as a const string value"],
        ..DEF
    },
    Case {
        name: "exceptions_values_rhs_transformer",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [[toupper(proc.pname)]]
"#,
        compiled: &[("test_rule", "(evt.type = open and not proc.name = toupper(proc.pname))")],
        ..DEF
    },
    Case {
        name: "exceptions_values_transformer_value_quoted",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [["toupper(proc.pname)"]]
"#,
        compiled: &[("test_rule", "(evt.type = open and not proc.name = toupper(proc.pname))")],
        ..DEF
    },
    Case {
        name: "exceptions_values_transformer_space",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [[toupper( proc.pname)]]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not proc.name = \"toupper( proc.pname)\")",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_values_transformer_space_quoted",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [proc.name]
      comps: [=]
      values: [['"toupper( proc.pname)"']]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not proc.name = \"toupper( proc.pname)\")",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_fields_transformer",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: [tolower(proc.name)]
      comps: [=]
      values: [[test]]
"#,
        compiled: &[("test_rule", "(evt.type = open and not tolower(proc.name) = test)")],
        ..DEF
    },
    Case {
        name: "exceptions_fields_transformer_quoted",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: ["tolower(proc.name)"]
      comps: [=]
      values: [[test]]
"#,
        compiled: &[("test_rule", "(evt.type = open and not tolower(proc.name) = test)")],
        ..DEF
    },
    Case {
        name: "exceptions_fields_transformer_space_quoted",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: test_exception
      fields: ["tolower( proc.name )"]
      comps: [=]
      values: [[test]]
"#,
        compiled: &[("test_rule", "(evt.type = open and not tolower(proc.name) = test)")],
        ..DEF
    },
    Case {
        name: "redefine_rule_different_source",
        yaml: r#"
- rule: LOAD_ERR_VALIDATE
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: LOAD_ERR_VALIDATE
  desc: test rule description
  condition: ka.verb = GET
  output: user=%ka.user.name
  priority: INFO
  source: k8s_audit
"#,
        ok: false,
        errors: &["Rule has been re-defined with a different source"],
        ..DEF
    },
    Case {
        name: "append_across_sources",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: test_rule
  condition: and ka.verb = GET
  source: k8s_audit
  append: true
"#,
        ok: false,
        errors: &["Rule has been re-defined with a different source"],
        ..DEF
    },
    Case {
        name: "selective_replace_across_sources",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: test_rule
  condition: ka.verb = GET
  source: k8s_audit
  override:
    condition: replace
"#,
        ok: false,
        errors: &["Rule has been re-defined with a different source"],
        ..DEF
    },
    Case {
        name: "rule_with_warn_evttypes",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  warn_evttypes: false
"#,
        ..DEF
    },
    Case {
        name: "rule_with_skip_if_unknown_filter",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  skip-if-unknown-filter: true
"#,
        ..DEF
    },
    Case {
        name: "override_replace_warn_evttypes",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: proc.name = cat
  output: user=%user.name
  priority: INFO
- rule: test_rule
  warn_evttypes: false
  override:
    warn_evttypes: replace
"#,
        absent: &[TOO_MANY],
        ..DEF
    },
    Case {
        name: "override_replace_capture",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
- rule: test_rule
  capture: true
  override:
    capture: replace
"#,
        ..DEF
    },
    Case {
        name: "override_replace_tags",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  tags: [a]
- rule: test_rule
  tags: [b]
  override:
    tags: replace
"#,
        ..DEF
    },
    Case {
        name: "rule_unknown_key",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  typo_field: x
"#,
        warnings: &["Unknown key 'typo_field'"],
        ..DEF
    },
    Case {
        name: "list_unknown_key",
        yaml: r#"
- list: my_list
  items: [cat]
  typo_field: x
- rule: test_rule
  desc: test rule description
  condition: evt.type = close and proc.name in (my_list)
  output: user=%user.name
  priority: INFO
"#,
        warnings: &["Unknown key 'typo_field'"],
        ..DEF
    },
    Case {
        name: "macro_unknown_key",
        yaml: r#"
- macro: my_macro
  condition: evt.type = close
  typo_field: x
- rule: test_rule
  desc: test rule description
  condition: my_macro
  output: user=%user.name
  priority: INFO
"#,
        warnings: &["Unknown key 'typo_field'"],
        ..DEF
    },
    Case {
        name: "list_cross_type_key_priority",
        yaml: r#"
- list: my_list
  items: [cat]
  priority: INFO
"#,
        warnings: &["Unknown key 'priority'"],
        ..DEF
    },
    Case {
        name: "deprecated_field_in_output",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name dir=%evt.dir
  priority: INFO
"#,
        warnings: &["usage of deprecated field 'evt.dir' has been detected in the rule output"],
        enabled: Some(1),
        ..DEF
    },
    Case {
        name: "no_deprecated_field_warning_in_output",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
"#,
        absent: &["evt.dir"],
        enabled: Some(1),
        ..DEF
    },
    Case {
        name: "deprecated_evt_dir_folded_scalar_condition_snippet",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: >
    evt.type = close and
    evt.dir = <
  output: user=%user.name
  priority: INFO
"#,
        warnings: &["evt.dir"],
        ..DEF
    },
    Case {
        name: "deprecated_evt_dir_via_macro_folded_scalar_condition_snippet",
        yaml: r#"
- macro: exit_only
  condition: >
    evt.dir = <
- rule: test_rule
  desc: test rule description
  condition: evt.type = close and exit_only
  output: user=%user.name
  priority: INFO
"#,
        warnings: &["evt.dir"],
        ..DEF
    },
    Case {
        name: "rule_capture_enabled",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  capture: true
"#,
        ..DEF
    },
    Case {
        name: "rule_capture_duration",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  capture: true
  capture_duration: 1000
"#,
        ..DEF
    },
    Case {
        name: "rule_override_capture_duration_replace",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  capture: true
  capture_duration: 1000
- rule: test_rule
  capture_duration: 5000
  override:
    capture_duration: replace
"#,
        ..DEF
    },
    Case {
        name: "rule_capture_duration_wrong_type",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = close
  output: user=%user.name
  priority: INFO
  capture_duration: a long time
"#,
        ok: false,
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_startswith_oneof",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: known_daemons
      fields: proc.name
      comps: startswith oneof
      values: [sshd, sudo, systemd]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not proc.name startswith oneof (sshd, sudo, systemd))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_contains_allof",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = execve
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: curl_bash
      fields: [proc.cmdline]
      comps: [contains allof]
      values:
        - [[curl, bash]]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = execve and not proc.cmdline contains allof (curl, bash))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_endswith_anyof",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: scripts
      fields: fd.name
      comps: endswith anyof
      values: [.sh, .py, .pl]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not fd.name endswith anyof (.sh, .py, .pl))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_multi_field_mixed",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: mixed
      fields: [proc.name, fd.name]
      comps: [startswith oneof, startswith]
      values:
        - [[sshd, sudo], /etc/]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not (proc.name startswith oneof (sshd, sudo) and fd.name startswith /etc/))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_invalid_base_operator",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: bad
      fields: [proc.name]
      comps: [frobulate oneof]
      values: [[[a, b]]]
"#,
        ok: false,
        errors: &["'frobulate oneof' is not a supported comparison operator"],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_invalid_base_operator_scalar_field",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: bad
      fields: proc.name
      comps: frobulate oneof
      values: [a, b]
"#,
        ok: false,
        errors: &["comps must be one of"],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_list_op_with_modifier",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: bad
      fields: [proc.name]
      comps: [in oneof]
      values: [[[a, b]]]
"#,
        ok: false,
        errors: &["'in oneof' is not a supported comparison operator"],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_numeric_op_with_modifier",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: bad
      fields: [proc.pid]
      comps: [">= oneof"]
      values: [[[1, 2]]]
"#,
        ok: false,
        errors: &["'>= oneof' is not a supported comparison operator"],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_modifier_alone",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: bad
      fields: [proc.name]
      comps: [oneof]
      values: [[[a, b]]]
"#,
        ok: false,
        errors: &["'oneof' is not a supported comparison operator"],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_eq_oneof",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = execve
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: scanners
      fields: proc.name
      comps: = oneof
      values: [nmap, masscan, nikto]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = execve and not proc.name = oneof (nmap, masscan, nikto))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_scalar_value_parenthesised",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: one
      fields: [proc.name]
      comps: [startswith oneof]
      values:
        - [sshd]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not proc.name startswith oneof (sshd))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_all_three_modifiers",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = execve
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: one
      fields: proc.name
      comps: startswith oneof
      values: [ssh, su]
    - name: any
      fields: proc.name
      comps: startswith anyof
      values: [ssh, su]
    - name: all
      fields: [proc.cmdline]
      comps: [contains allof]
      values:
        - [[curl, ci.internal]]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = execve and not proc.name startswith oneof (ssh, su) and not proc.name startswith anyof (ssh, su) and not proc.cmdline contains allof (curl, ci.internal))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_comp_whitespace_normalized",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: one
      fields: proc.name
      comps: "startswith   oneof"
      values: [sshd, sudo]
    - name: two
      fields: [proc.name, fd.name]
      comps: [contains, "startswith  anyof"]
      values:
        - [agent, [/etc/, /var/]]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not proc.name startswith oneof (sshd, sudo) and not (proc.name contains agent and fd.name startswith anyof (/etc/, /var/)))",
        )],
        ..DEF
    },
    Case {
        name: "exceptions_modifier_op_str_op_multi_field_regression",
        yaml: r#"
- rule: test_rule
  desc: test rule description
  condition: evt.type = open
  output: user=%user.name
  priority: INFO
  exceptions:
    - name: prom
      fields: [proc.name, fd.name, proc.exepath]
      comps: [contains, startswith, =]
      values:
        - [agent, /var/log/, /usr/bin/prometheus]
"#,
        compiled: &[(
            "test_rule",
            "(evt.type = open and not (proc.name contains agent and fd.name startswith /var/log/ and proc.exepath = /usr/bin/prometheus))",
        )],
        ..DEF
    },
    // Validation messages beyond §6 (Falco's reader and collector wording).
    Case {
        name: "list_null_item",
        yaml: "- list: l\n  items: [a, ~]\n",
        ok: false,
        errors: &["sequence value is not scalar"],
        ..DEF
    },
    Case {
        name: "tags_not_sequence",
        yaml: "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  tags: a\n",
        ok: false,
        errors: &["Value is not a sequence"],
        ..DEF
    },
    Case {
        name: "invalid_priority",
        yaml: "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: LOUD\n",
        ok: false,
        errors: &["Invalid priority"],
        ..DEF
    },
    Case {
        name: "exceptions_not_sequence",
        yaml: "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  exceptions: x\n",
        ok: false,
        errors: &["Rule exceptions must be a sequence"],
        ..DEF
    },
    Case {
        name: "container_plugin_is_native",
        yaml: "- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n",
        ..DEF
    },
    Case {
        name: "container_plugin_too_new",
        yaml: "- required_plugin_versions:\n  - name: container\n    version: 0.5.0\n",
        ok: false,
        errors: &["Plugin requirement not satisfied, must load one of: container (>= 0.5.0)"],
        ..DEF
    },
    Case {
        name: "unknown_plugin",
        yaml: "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n    alternatives:\n      - name: k8saudit-eks\n        version: 0.1.0\n",
        ok: false,
        errors: &["must load one of: k8saudit (>= 0.1.0), k8saudit-eks (>= 0.1.0)"],
        ..DEF
    },
    Case {
        name: "unknown_top_level_item",
        yaml: "- something: else\n",
        warnings: &["Unknown top level item"],
        ..DEF
    },
    Case {
        name: "invalid_override_operation",
        yaml: "- list: l\n  items: [a]\n  override:\n    items: prepend\n",
        ok: false,
        errors: &["Invalid override operation for key 'items': 'prepend'. Allowed values are: append replace "],
        ..DEF
    },
    Case {
        name: "undefined_macro",
        yaml: "- rule: r\n  desc: d\n  condition: evt.type=open and nope\n  output: o\n  priority: INFO\n",
        ok: false,
        errors: &["Undefined macro 'nope' used in filter."],
        ..DEF
    },
    Case {
        name: "macro_sees_only_earlier_macros",
        yaml: "- macro: a\n  condition: b\n- macro: b\n  condition: evt.type=open\n- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n",
        ok: false,
        errors: &["Undefined macro 'b' used in filter."],
        ..DEF
    },
    Case {
        name: "rule_sees_later_macros",
        yaml: "- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n- macro: m\n  condition: evt.type=open\n",
        compiled: &[("r", "evt.type = open")],
        ..DEF
    },
    Case {
        name: "nested_list_expands_only_earlier_lists",
        yaml: "- list: inner\n  items: [a, b]\n- list: outer\n  items: [inner, c, later]\n- list: later\n  items: [z]\n- rule: r\n  desc: d\n  condition: evt.type=open and proc.name in (outer)\n  output: o\n  priority: INFO\n",
        // `later` is defined after `outer`, so it stays a name in `outer` and is then
        // substituted as a list of its own in the condition text.
        compiled: &[("r", "(evt.type = open and proc.name in (a, b, c, z))")],
        ..DEF
    },
    Case {
        name: "unknown_source_is_skipped",
        yaml: "- rule: r\n  desc: d\n  condition: ka.verb=GET\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
        warnings: &["Unknown source k8s_audit, skipping"],
        enabled: Some(0),
        ..DEF
    },
    Case {
        name: "unused_macro_and_list",
        yaml: "- macro: m\n  condition: evt.type=open\n- list: l\n  items: [a]\n",
        warnings: &[
            "Macro not referred to by any other rule/macro",
            "List not referred to by any other rule/macro",
        ],
        ..DEF
    },
    // filter_warning_resolver: `<NA>` equality on ka./jevt. fields warns (the field itself
    // is unknown without the k8saudit plugin, hence the error too); other fields do not.
    Case {
        name: "unsafe_na_check",
        yaml: "- rule: r\n  desc: d\n  condition: evt.type=open and ka.user.name in (x, <NA>)\n  output: o\n  priority: INFO\n",
        ok: false,
        warnings: &["comparing a field value with <NA> is unsafe"],
        errors: &["ka.user.name"],
        ..DEF
    },
    Case {
        name: "na_check_on_syscall_field_is_fine",
        yaml: "- rule: r\n  desc: d\n  condition: evt.type=open and proc.name = <NA>\n  output: o\n  priority: INFO\n",
        absent: &["<NA>"],
        ..DEF
    },
];

#[test]
fn falco_rule_loader_cases() {
    let failures: Vec<String> = CASES.iter().flat_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len());
}
