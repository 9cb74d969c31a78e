//! Every rules file of falcosecurity/testing loads or fails as Falco's legacy tests expect, and
//! the verbatim assertions of `legacy_tests.json` on `falco -V … -o json_output=true` hold on
//! our JSON load results.

use peregrine_rules::Loader;
use serde_json::Value;

use peregrine_testkit::upstream::dir as upstream;

fn load(files: &[&str]) -> (bool, Value) {
    let mut loader = Loader::new();
    let mut ok = true;
    for f in files {
        ok &= loader.load_file(upstream().join(f));
    }
    let (_, results) = loader.finish();
    (ok, results.as_json())
}

/// One `OfCode(..).OfItemType(..)…` chain of a legacy assertion.
#[derive(Debug, Default)]
struct Filter {
    warnings: bool,
    code: Option<String>,
    item_type: Option<String>,
    item_name: Option<String>,
    message: Option<String>,
}

fn arg(s: &str, method: &str) -> Option<String> {
    let start = s.find(&format!("{method}(\""))? + method.len() + 2;
    let rest = &s[start..];
    // Arguments are Go strings: find the closing quote not escaped.
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

fn matching<'a>(json: &'a Value, f: &Filter) -> Vec<&'a Value> {
    let key = if f.warnings { "warnings" } else { "errors" };
    let mut out = Vec::new();
    for r in json["falco_load_results"].as_array().into_iter().flatten() {
        for e in r[key].as_array().into_iter().flatten() {
            let locs = e["context"]["locations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let any_loc = |k: &str, v: &str| locs.iter().any(|l| l[k] == v);
            let ok = f.code.as_deref().is_none_or(|c| e["code"] == c)
                && f.message.as_deref().is_none_or(|m| e["message"] == m)
                && f.item_type
                    .as_deref()
                    .is_none_or(|t| any_loc("item_type", t))
                && f.item_name
                    .as_deref()
                    .is_none_or(|n| any_loc("item_name", n));
            if ok {
                out.push(e);
            }
        }
    }
    out
}

#[test]
fn legacy_tests_load_as_expected() {
    if peregrine_testkit::upstream::require("legacy_tests_load_as_expected").is_none() {
        return;
    }
    let text = std::fs::read_to_string(upstream().join("falco-testing/legacy_tests.json"))
        .expect("legacy_tests.json");
    let tests: Value = serde_json::from_str(&text).expect("json");
    let mut failures = Vec::new();
    let mut checked_asserts = 0;
    for t in tests.as_array().expect("array") {
        let name = t["test"].as_str().unwrap_or("?");
        let mut files: Vec<&str> = t["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        files.extend(
            t["rules_validation"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        if files.is_empty() {
            continue;
        }
        // These fail on falco.yaml settings, not on rules.
        let config_failure = name.contains("MonitorSyscallDrops");
        let expect_ok = t["exit_code"] == 0 || config_failure;
        let (ok, json) = load(&files);
        if ok != expect_ok {
            failures.push(format!(
                "{name}: loaded ok={ok}, expected {expect_ok}: {json}"
            ));
            continue;
        }
        for a in t["asserts"].as_array().into_iter().flatten() {
            let a = a.as_str().unwrap_or_default();
            if a.contains("RuleValidation().At(0).Successful") {
                checked_asserts += 1;
                if json["falco_load_results"][0]["successful"] != true {
                    failures.push(format!("{name}: result 0 not successful"));
                }
                continue;
            }
            if let Some(rest) = a.strip_prefix("assert.Equal(t, ") {
                if rest.contains("AllWarnings().Count()") {
                    checked_asserts += 1;
                    let n: usize = rest
                        .split(',')
                        .next()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(usize::MAX);
                    let all = matching(
                        &json,
                        &Filter {
                            warnings: true,
                            ..Filter::default()
                        },
                    );
                    if all.len() != n {
                        failures.push(format!("{name}: {} warnings, expected {n}", all.len()));
                    }
                }
                continue;
            }
            if !a.starts_with("assert.NotNil(t, ") || !a.contains("Of") {
                continue;
            }
            let f = Filter {
                warnings: a.contains("AllWarnings()") || a.contains("ruleWarnings"),
                code: arg(a, "OfCode"),
                item_type: arg(a, "OfItemType"),
                item_name: arg(a, "OfItemName"),
                message: arg(a, "OfMessage"),
            };
            checked_asserts += 1;
            if matching(&json, &f).is_empty() {
                failures.push(format!("{name}: nothing matches {f:?} in {json}"));
            }
        }
    }
    assert!(
        checked_asserts >= 25,
        "only {checked_asserts} asserts checked"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Files no legacy test above loads: each alone (or after its base file), with the outcome
/// Falco gives.
#[test]
fn remaining_files_load_or_fail_as_falco() {
    if peregrine_testkit::upstream::require("remaining_files_load_or_fail_as_falco").is_none() {
        return;
    }
    let cases: &[(&[&str], bool)] = &[
        (&["000-single_rule.yaml"], true),
        (&["000-single_rule.yaml", "001-double_rule.yaml"], true),
        (&["append_unknown_source.yaml"], true),
        (&["catchall_order.yaml"], true),
        (&["cloudtrail_incompat_plugin_version.yaml"], false),
        (&["engine_version_mismatch.yaml"], false),
        (
            &["exceptions/append_item_fields_values_len_mismatch.yaml"],
            false,
        ),
        (&["exceptions/item_comps_fields_len_mismatch.yaml"], false),
        (&["exceptions/item_unknown_comp.yaml"], false),
        (&["exceptions/rule_exception_append_one_value.yaml"], true),
        (&["exceptions/rule_exception_append_second_item.yaml"], true),
        (
            &["exceptions/rule_exception_append_second_value.yaml"],
            true,
        ),
        (&["exceptions/rule_exception_second_item.yaml"], true),
        (&["exceptions/rule_exception_single_field.yaml"], true),
        (
            &["exceptions/rule_exception_single_field_append.yaml"],
            true,
        ),
        (&["exceptions/rule_exception_third_item.yaml"], true),
        (&["exceptions/rule_exception_values_listref.yaml"], true),
        (&["falco_rules_warnings.yaml"], true),
        (&["invalid_append_rule_multiple_docs.yaml"], false),
        (&["invalid_append_rule_without_condition.yaml"], false),
        (&["invalid_condition_not_rule.yaml"], false),
        (&["invalid_list_loop.yaml"], false),
        (&["invalid_macro_comple_error.yaml"], false),
        (&["invalid_macro_loop.yaml"], false),
        (&["invalid_missing_list_name.yaml"], false),
        (&["invalid_missing_rule_name.yaml"], false),
        (&["invalid_not_array.yaml"], false),
        (&["invalid_not_yaml.yaml"], false),
        (&["invalid_overwrite_macro_multiple_docs.yaml"], false),
        (
            &["invalid_base_rule.yaml", "invalid_overwrite_rule.yaml"],
            false,
        ),
        (&["invalid_overwrite_rule_multiple_docs.yaml"], false),
        (&["invalid_rule_output.yaml"], false),
        (&["invalid_rule_without_output.yaml"], false),
        (&["list_append.yaml"], true),
        (&["list_append_false.yaml"], true),
        (&["list_order.yaml"], true),
        (&["list_sub_end.yaml"], true),
        (&["macro_append_false.yaml"], true),
        (&["multiple_docs.yaml"], true),
        (&["null_output_field.yaml"], true),
        (&["single_rule.yaml", "override_list.yaml"], true),
        (&["single_rule.yaml", "override_nested_list.yaml"], true),
        (&["shadowing_rules.yaml"], true),
        (&["single_rule_enabled_flag.yaml"], true),
        (&["skip_unknown_error.yaml"], false),
        (&["skip_unknown_prefix.yaml"], true),
    ];
    let mut failures = Vec::new();
    for (files, expect_ok) in cases {
        let paths: Vec<String> = files
            .iter()
            .map(|f| format!("falco-testing/rules/{f}"))
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let (ok, json) = load(&refs);
        if ok != *expect_ok {
            failures.push(format!("{files:?}: ok={ok}, expected {expect_ok}: {json}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_falco_testing_file_is_covered() {
    if peregrine_testkit::upstream::require("every_falco_testing_file_is_covered").is_none() {
        return;
    }
    // Guards the two tables above against new upstream files going unnoticed.
    let mut count = 0;
    let mut dirs = vec![upstream().join("falco-testing/rules")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                count += 1;
                // Loading never panics, whatever the file holds.
                let mut l = Loader::new();
                l.load_file(&p);
            }
        }
    }
    assert_eq!(count, 108);
}
