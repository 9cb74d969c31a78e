//! Catalogue invariants, and every field the upstream rules use resolves with the type and
//! flags libsinsp / the container plugin give it.

use peregrine_filter::fields::{
    self, info, lookup, lookup_with_suffix, parse_arg, resolve, FieldType, CLASSES, FIELDS,
};
use peregrine_filter::FieldArg;
use std::collections::HashSet;
use std::path::PathBuf;

use peregrine_testkit::upstream::dir as upstream;

#[test]
fn names_are_unique_and_ids_index_the_table() {
    let mut seen = HashSet::new();
    for (i, f) in FIELDS.iter().enumerate() {
        assert!(seen.insert(f.name), "duplicate field {}", f.name);
        assert_eq!(f.id as usize, i, "{} is out of order", f.name);
        assert!(std::ptr::eq(info(f.id), f));
        // The plugin class is the id loaded plugins' fields resolve to: never looked up.
        if f.class == "plugin" {
            assert!(lookup(f.name).is_none());
        } else {
            assert!(std::ptr::eq(lookup(f.name).unwrap(), f));
        }
        assert!(!f.desc.is_empty(), "{} has no description", f.name);
        assert!(
            CLASSES.iter().any(|c| c.name == f.class),
            "{} has unknown class {}",
            f.name,
            f.class
        );
        // Flag consistency: an index/key kind only makes sense with an argument.
        if f.flags.arg_index || f.flags.arg_key || f.flags.dyn_suffix {
            assert!(
                f.flags.takes_arg(),
                "{} has an arg kind but takes no arg",
                f.name
            );
        }
    }
    for c in CLASSES {
        assert!(c.fields().count() > 0, "class {} is empty", c.name);
    }
    assert!(
        FIELDS.len() > 250,
        "catalogue has only {} fields",
        FIELDS.len()
    );
}

#[test]
fn list_output_names_every_class_and_field() {
    let mut out = String::new();
    fields::write_list_of(&mut out, true, true, &["syscall", "k8s_audit"]);
    // The plugin class is the id loaded plugins' fields resolve to, not a class to list.
    for c in CLASSES.iter().filter(|c| c.name != "plugin") {
        assert!(out.contains(&format!("Field Class:                  {}", c.name)));
    }
    for f in FIELDS.iter().filter(|f| f.class != "plugin") {
        assert!(out.contains(f.name), "{} missing from --list", f.name);
    }
    assert!(!out.contains("plugin.field"));
    assert!(out.contains("Field Class:                  container (plugin)\n"));
    assert!(out.contains("Field Class:                  ka (plugin)\n"));
    // Without the k8saudit plugin, Falco lists the syscall source only.
    let mut syscall = String::new();
    fields::write_list(&mut syscall, true, true);
    assert!(syscall.contains("\nproc.name ") && !syscall.contains("ka.verb"));
    assert!(out.contains("\nevt.num                       (Type: UINT64) "));
    assert!(out.contains("\nfd.net                        (Type: IPNET) (FILTER ONLY) "));
    // Long names go on their own line; descriptions wrap at 120 columns.
    assert!(out.contains(
        "\nproc.exe_ino.ctime_duration_proc_start\n                              (Type: ABSTIME) "
    ));
    assert!(
        out.lines().all(|l| l.len() <= 121),
        "a line is longer than 120 columns"
    );

    let mut short = String::new();
    fields::write_list(&mut short, false, false);
    assert!(short.contains("\nevt.num                       The sequence number of the event. \n"));
    assert!(
        !short.contains("evt.dir "),
        "deprecated fields are hidden by default"
    );
    assert!(!short.contains("(Type:"));
}

/// `name` or `name[arg]`, as the rules write it.
fn check_resolves(token: &str, origin: &str) {
    let (name, arg) = match token.find('[') {
        Some(i) => (&token[..i], Some(token[i + 1..].trim_end_matches(']'))),
        None => (token, None),
    };
    if let Err(e) = resolve(name, arg) {
        panic!("{origin}: field {token} does not resolve: {e}");
    }
}

/// Collects the text of the `condition:`, `output:` and exception `fields:` values of a rules
/// file: the key line plus its more-indented continuation lines. A YAML-shaped scan is enough
/// here and keeps the crate free of a YAML dependency.
fn condition_and_output_text(yaml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String, String)> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start().trim_start_matches("- ");
        let key = trimmed.split(':').next().unwrap_or("");
        let is_key = trimmed.contains(':')
            && !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if let Some((ind, k, text)) = current.take() {
            if !line.trim().is_empty() && (indent <= ind || (is_key && indent <= ind + 2)) {
                out.push((k, text));
            } else {
                current = Some((ind, k, format!("{text}\n{line}")));
                continue;
            }
        }
        if is_key && matches!(key, "condition" | "output" | "fields") {
            let value = trimmed[key.len() + 1..].to_string();
            current = Some((indent, key.to_string(), value));
        }
    }
    if let Some((_, k, text)) = current {
        out.push((k, text));
    }
    out
}

const CLASS_PREFIXES: &[&str] = &[
    "evt.",
    "proc.",
    "thread.",
    "user.",
    "group.",
    "fd.",
    "fdlist.",
    "fs.path.",
    "container.",
    "k8s.",
    "syscall.",
];

/// Field-looking tokens: a known class prefix, dotted identifier characters and an optional
/// `[arg]`, not preceded by a character that would make it part of a path or word.
fn field_tokens(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b"_./-".contains(&b[i - 1]));
        if boundary && CLASS_PREFIXES.iter().any(|p| text[i..].starts_with(p)) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b"._".contains(&b[j])) {
                j += 1;
            }
            if j < b.len() && b[j] == b'[' {
                if let Some(close) = text[j..].find(']') {
                    j += close + 1;
                }
            }
            // `k8s.gcr.io/pause`, `user.name-x`: part of an image name or path, not a field.
            let in_word = j < b.len() && b"/-:".contains(&b[j]);
            if !in_word {
                out.push(text[i..j].trim_end_matches('.').to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn rules_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![
        upstream().join("rules"),
        upstream().join("falco-testing/rules"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Tokens in the test rules files that are deliberately not fields (negative tests), or that
/// belong to other event sources' plugins.
const NOT_OURS: &[&str] = &["proc.nobody", "container.info"];

#[test]
fn every_field_in_upstream_rules_resolves() {
    if peregrine_testkit::upstream::require("every_field_in_upstream_rules_resolves").is_none() {
        return;
    }
    let files = rules_files();
    assert!(files.len() > 50, "found only {} rules files", files.len());
    let mut count = 0;
    for path in &files {
        let yaml = std::fs::read_to_string(path).unwrap();
        // Rules for plugin sources (aws_cloudtrail, k8s_audit, …) use other catalogues.
        if yaml.contains("source: aws_cloudtrail") || yaml.contains("source: k8s_audit") {
            continue;
        }
        for (key, text) in condition_and_output_text(&yaml) {
            for token in field_tokens(&text) {
                if NOT_OURS.contains(&token.as_str()) {
                    continue;
                }
                check_resolves(&token, &format!("{} ({key})", path.display()));
                count += 1;
            }
        }
    }
    assert!(count > 1000, "only {count} field references found");
}

/// The upstream notes read at run time (`rules-notes.md`) list every field the three rules
/// files (falcosecurity/rules `rules/`) use, with libsinsp's type and flags (falcosecurity/libs
/// `userspace/libsinsp/sinsp_filtercheck_*.cpp`); ours must match exactly.
#[test]
fn upstream_rule_fields_have_libsinsp_types_and_flags() {
    if peregrine_testkit::upstream::require("upstream_rule_fields_have_libsinsp_types_and_flags")
        .is_none()
    {
        return;
    }
    let notes = std::fs::read_to_string(upstream().join("rules-notes.md")).unwrap();
    let mut checked = 0;
    for line in notes.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || !cols[1].starts_with('`') {
            continue;
        }
        let token = cols[1].trim_matches('`').trim_start_matches('%');
        let ty_col = cols[2];
        let expected_ty = if ty_col.contains("PT_CHARBUF") || ty_col.starts_with("string") {
            FieldType::CharBuf
        } else if let Some(t) = [
            ("PT_UINT64", FieldType::UInt64),
            ("PT_UINT32", FieldType::UInt32),
            ("PT_INT64", FieldType::Int64),
            ("PT_BOOL", FieldType::Bool),
            ("bool", FieldType::Bool),
            ("PT_PORT", FieldType::Port),
            ("PT_IPADDR", FieldType::IpAddr),
            ("PT_IPNET", FieldType::IpNet),
            ("PT_RELTIME", FieldType::RelTime),
            ("PT_ABSTIME", FieldType::AbsTime),
            ("abstime", FieldType::AbsTime),
            ("PT_BYTEBUF", FieldType::ByteBuf),
        ]
        .iter()
        .find(|(k, _)| ty_col.starts_with(&format!("`{k}`")) || ty_col.starts_with(k))
        .map(|(_, t)| *t)
        {
            t
        } else {
            continue;
        };
        let name = token.split('[').next().unwrap();
        let (f, _) = lookup_with_suffix(name).unwrap_or_else(|| panic!("{token} unknown"));
        assert_eq!(f.ty, expected_ty, "type of {token}");
        let flags = f.flags;
        for (epf, have) in [
            ("EPF_ARG_ALLOWED", flags.arg_allowed),
            ("EPF_FILTER_ONLY", flags.filter_only),
            ("EPF_NO_RHS", flags.no_rhs),
            ("EPF_NO_TRANSFORMER", flags.no_transformer),
        ] {
            assert_eq!(ty_col.contains(epf), have, "{epf} on {token}");
        }
        if ty_col.contains("arg required") {
            assert!(flags.arg_required, "{token} requires an argument");
        }
        checked += 1;
    }
    // 71 condition fields + 61 output tokens, minus the tables' overlaps, all seen.
    assert!(checked >= 130, "only {checked} table rows checked");
}

fn arg_case(text: &str) -> Result<FieldArg, String> {
    fields::resolve_text(text)
        .map(|r| r.arg)
        .map_err(|e| e.to_string())
}

#[test]
fn argument_parsing() {
    use FieldArg::{Index, Key, None as NoArg};
    let key = |s: &str| Key(s.into());
    let cases: &[(&str, Result<FieldArg, &str>)] = &[
        ("proc.name", Ok(NoArg)),
        ("proc.aname", Ok(NoArg)),
        ("proc.aname[2]", Ok(Index(2))),
        ("proc.aname[0]", Ok(Index(0))),
        ("proc.aname[2x]", Ok(Index(2))), // sscanf leniency, as libsinsp
        ("proc.aname[x]", Err("x is not a valid number")),
        ("proc.aname[99999999999]", Err("99999999999 is not a valid number")),
        ("proc.aexepath[2]", Ok(Index(2))),
        ("proc.env[HOME]", Ok(key("HOME"))),
        ("proc.aenv[2]", Ok(Index(2))),
        ("proc.aenv[PATH]", Ok(key("PATH"))),
        ("evt.arg.flags", Ok(key("flags"))),
        ("evt.arg[0]", Ok(Index(0))),
        ("evt.arg[one]", Err("one is not a valid number")),
        ("evt.arg", Err("filter syntax error: evt.arg")),
        ("evt.rawarg.res", Ok(key("res"))),
        ("evt.rawarg[0]", Err("evt.arg fields must be expressed explicitly")),
        ("evt.rawarg", Err("filter syntax error: evt.rawarg")),
        ("evt.type.is.open", Ok(key("open"))),
        ("evt.type.is[open]", Err("filter syntax error: evt.type.is[open]")),
        ("evt.around[1404996934793590564]", Ok(Index(1404996934793590564))),
        ("evt.around.x", Err("wrong syntax for evt.around")),
        ("fd.types[1]", Ok(Index(1))),
        ("thread.cgroup[cpuacct]", Ok(key("cpuacct"))),
        ("thread.cgroup.cpuacct", Ok(key("cpuacct"))),
        ("proc.env[2]", Ok(Index(2))),
        ("thread.cgroup", Err("filter syntax error: thread.cgroup")),
        ("container.mount.dest[/proc*]", Ok(key("/proc*"))),
        ("container.mount.dest[0]", Ok(Index(0))),
        ("container.mount.dest[01]", Ok(key("01"))),
        (
            "container.mount.dest",
            Err("filter 'container.mount.dest': container.mount.dest requires an argument but none provided"),
        ),
        ("container.label[maintainer]", Ok(key("maintainer"))),
        ("container.label.maintainer", Ok(key("maintainer"))),
        ("k8s.pod.label.app.kubernetes.io/name", Ok(key("app.kubernetes.io/name"))),
        (
            "container.id[1]",
            Err("filter 'container.id[1]': container.id does not allow nor require an argument but one is provided: 1"),
        ),
        ("proc.name[1]", Err("filter_check called with nonexistent field proc.name[1]")),
        ("proc.nobody", Err("filter_check called with nonexistent field proc.nobody")),
        ("evt.arg.fd[0]", Err("filter syntax error: evt.arg.fd[0]")),
        ("proc.aname[2", Err("filter syntax error: proc.aname[2")),
        ("proc.aname[]", Err("filter syntax error: proc.aname[]")),
    ];
    for (text, expected) in cases {
        let expected = expected.clone().map_err(str::to_string);
        assert_eq!(arg_case(text), expected, "{text}");
    }
}

#[test]
fn suffix_lookup_prefers_exact_and_longest_names() {
    let check = |name: &str, field: &str, suffix: Option<&str>| {
        let (f, s) = lookup_with_suffix(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!((f.name, s), (field, suffix), "{name}");
    };
    check("evt.args", "evt.args", None);
    check("evt.arg.args", "evt.arg", Some("args"));
    check("evt.type", "evt.type", None);
    check("evt.type.is.3", "evt.type.is", Some("3"));
    check("k8s.pod.labels", "k8s.pod.labels", None);
    assert!(lookup_with_suffix("evt.arg.").is_none());
    assert!(lookup_with_suffix("proc.name.x").is_none());
    // parse_arg can also be called directly with a suffix.
    let f = lookup("evt.arg").unwrap();
    assert_eq!(
        parse_arg(f, Some("fd"), "evt.arg.fd"),
        Ok(FieldArg::Key("fd".into()))
    );
}

/// Collects every field reference of a parsed condition.
fn collect_fields(e: &peregrine_filter::ast::Expr, out: &mut Vec<(String, Option<String>)>) {
    use peregrine_filter::ast::{Expr, Operand, Rhs, Transformer, TransformerArg};
    fn transformer(t: &Transformer, out: &mut Vec<(String, Option<String>)>) {
        for a in &t.args {
            arg(a, out);
        }
    }
    fn arg(a: &TransformerArg, out: &mut Vec<(String, Option<String>)>) {
        match a {
            TransformerArg::Field(f) => out.push((f.name.clone(), f.arg.clone())),
            TransformerArg::Transformer(t) => transformer(t, out),
            TransformerArg::List(items, _) => items.iter().for_each(|i| arg(i, out)),
            TransformerArg::Value(..) => {}
        }
    }
    let operand = |o: &Operand, out: &mut Vec<(String, Option<String>)>| match o {
        Operand::Field(f) => out.push((f.name.clone(), f.arg.clone())),
        Operand::Transformer(t) => transformer(t, out),
    };
    match e {
        Expr::And(v, _) | Expr::Or(v, _) => v.iter().for_each(|x| collect_fields(x, out)),
        Expr::Not(x, _) => collect_fields(x, out),
        Expr::Identifier(..) => {}
        Expr::Unary { left, .. } => operand(left, out),
        Expr::Binary { left, right, .. } => {
            operand(left, out);
            if let Rhs::Transformer(t) = right {
                transformer(t, out);
            }
        }
    }
}

/// Parses every macro and rule condition of the three maintained rules files with the
/// condition parser and resolves every field the AST names (list names are left as bare
/// list items, which does not change which fields appear).
#[test]
fn every_field_in_upstream_conditions_resolves_via_the_parser() {
    if peregrine_testkit::upstream::require(
        "every_field_in_upstream_conditions_resolves_via_the_parser",
    )
    .is_none()
    {
        return;
    }
    let mut fields_seen = HashSet::new();
    for file in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let yaml = std::fs::read_to_string(upstream().join("rules").join(file)).unwrap();
        for (key, text) in condition_and_output_text(&yaml) {
            if key != "condition" {
                continue;
            }
            let cond = text.trim().trim_start_matches(['>', '|']).trim();
            let ast = peregrine_filter::parser::parse(cond)
                .unwrap_or_else(|e| panic!("{file}: {cond}: {e}"));
            let mut refs = Vec::new();
            collect_fields(&ast, &mut refs);
            for (name, arg) in refs {
                if let Err(e) = resolve(&name, arg.as_deref()) {
                    panic!("{file}: {name}[{arg:?}]: {e}");
                }
                fields_seen.insert(name);
            }
        }
    }
    // Falco's three rules files (falcosecurity/rules `rules/`) use 71 distinct condition
    // fields (the evt.arg.* names count one each).
    assert_eq!(fields_seen.len(), 71, "{fields_seen:?}");
}
