//! `peregrine tune`: from alerts that were seen (presumed benign), propose Falco `exceptions`
//! that silence them, written as a rules file to review and load after the original rules.
//!
//! For each rule, by volume: when the rule already declares exceptions, the one whose fields
//! all appear in the alerts' output fields with the fewest distinct value tuples gets the
//! observed tuples appended (`override: {exceptions: append}`); otherwise a new exception is
//! made from the rule's own output fields — the process's identity (`proc.exepath` or
//! `proc.name`) paired with the context that separates the population (image, parent, the
//! file, or its directory as an `fd.name startswith` prefix) — choosing the pairing with the
//! fewest tuples. A rule whose alerts need more than [`MAX_TUPLES`] tuples is left out with a
//! comment: an exception that long silences more than it describes.
//!
//! Every alert text quoted in a comment is escaped (no line break can end the comment and
//! inject rules), and every value is written as a double-quoted YAML string.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::io::BufRead;
use std::path::Path;

use peregrine_filter::escape::terminal_safe;
use peregrine_rules::yaml;
use peregrine_rules::RuleSet;
use serde_json::Value;

use crate::Error;

/// Most value tuples one proposed exception may have.
pub const MAX_TUPLES: usize = 20;

/// One observed alert: its rule and output fields (values as text; `<NA>`/null dropped).
#[derive(Clone, Debug, PartialEq)]
pub struct SeenAlert {
    pub rule: String,
    pub output: String,
    pub fields: BTreeMap<String, String>,
}

impl SeenAlert {
    /// From Falco's JSON alert, or from the alert store's export line (Falco's alert under
    /// `alert`). `None` for anything else (a response record, another source's line).
    pub fn from_json(v: &Value) -> Option<SeenAlert> {
        let v = match v.get("alert") {
            Some(inner) if inner.is_object() => inner,
            _ => v,
        };
        let rule = v.get("rule")?.as_str()?.to_string();
        let output = v
            .get("output")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut fields = BTreeMap::new();
        if let Some(of) = v.get("output_fields").and_then(Value::as_object) {
            for (k, val) in of {
                let text = match val {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                if text != "<NA>" && !text.is_empty() {
                    fields.insert(k.clone(), text);
                }
            }
        }
        Some(SeenAlert {
            rule,
            output,
            fields,
        })
    }
}

/// Reads a JSON-lines file of alerts; lines that are not alerts are counted and skipped.
pub fn read_jsonl(path: &Path) -> Result<(Vec<SeenAlert>, usize), Error> {
    let f = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut alerts = Vec::new();
    let mut skipped = 0;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line)
            .ok()
            .as_ref()
            .and_then(SeenAlert::from_json)
        {
            Some(a) => alerts.push(a),
            None => skipped += 1,
        }
    }
    Ok((alerts, skipped))
}

/// Reads every alert of the alert store at `path` (its public API, page by page).
pub fn read_store(path: &Path) -> Result<Vec<SeenAlert>, Error> {
    use peregrine_store::AlertStore;
    let store = peregrine_store::sqlite::SqliteStore::open(path).map_err(|e| {
        Error::Other(format!(
            "cannot open the alert store {}: {e}",
            path.display()
        ))
    })?;
    let mut q = peregrine_store::Query {
        limit: peregrine_store::MAX_LIMIT,
        ..Default::default()
    };
    let mut alerts = Vec::new();
    loop {
        let page = store
            .search(&q)
            .map_err(|e| Error::Other(format!("reading the alert store: {e}")))?;
        for s in &page.alerts {
            // Response records (what an action did) are not detections to tune.
            if s.record.refers_to.is_some() || s.record.source == "response" {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(&s.record.json) {
                alerts.extend(SeenAlert::from_json(&v));
            }
        }
        match page.next_cursor {
            Some(c) => q.before_seq = Some(c),
            None => break,
        }
    }
    Ok(alerts)
}

/// The exceptions a rule declares in the rules texts: name → fields (in the order given).
pub fn declared_exceptions(texts: &[String]) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut out: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for text in texts {
        let Ok(docs) = yaml::parse_documents(text) else {
            continue;
        };
        for item in docs.iter().filter_map(|d| d.as_seq()).flatten() {
            let Some(rule) = item.get("rule").and_then(|r| r.as_scalar()) else {
                continue;
            };
            let Some(excs) = item.get("exceptions").and_then(|e| e.as_seq()) else {
                continue;
            };
            for e in excs {
                let Some(name) = e.get("name").and_then(|n| n.as_scalar()) else {
                    continue;
                };
                let fields: Vec<String> = match e.get("fields") {
                    Some(f) => match f.as_seq() {
                        Some(items) => items
                            .iter()
                            .filter_map(|i| i.as_scalar().map(str::to_string))
                            .collect(),
                        None => f
                            .as_scalar()
                            .map(|s| vec![s.to_string()])
                            .unwrap_or_default(),
                    },
                    None => continue,
                };
                let list = out.entry(rule.to_string()).or_default();
                if !list.iter().any(|(n, _)| n == name) {
                    list.push((name.to_string(), fields));
                }
            }
        }
    }
    out
}

/// What tuning proposes for one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    pub rule: String,
    pub alerts: usize,
    pub exception: String,
    /// `Some` for a new exception (fields and comps), `None` when values join a declared one.
    pub new_fields: Option<Vec<(String, &'static str)>>,
    /// Value tuples with the number of alerts each silences, most first.
    pub values: Vec<(Vec<String>, usize)>,
    pub sample: String,
}

/// A rule left out, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub rule: String,
    pub alerts: usize,
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tuning {
    pub proposals: Vec<Proposal>,
    pub skipped: Vec<Skipped>,
}

/// Fields that name the process, most specific first.
const IDENTITY: &[&str] = &["proc.exepath", "proc.name"];
/// Fields (and comparisons) that place it: the one that keeps the tuples fewest is paired
/// with the identity; at a tie the earlier wins, so an exact file name is preferred to its
/// directory, which only wins when the names are many.
const CONTEXT: &[(&str, &str)] = &[
    ("container.image.repository", "="),
    ("proc.pname", "="),
    ("fd.name", "="),
    ("fd.name", "startswith"),
    ("fd.sip", "="),
    ("proc.aname[2]", "="),
];

/// Proposes exceptions for `alerts` against `rules` (the loaded rule set) whose texts declare
/// `declared` exceptions.
pub fn propose(
    alerts: &[SeenAlert],
    rules: &RuleSet,
    declared: &BTreeMap<String, Vec<(String, Vec<String>)>>,
) -> Tuning {
    let mut by_rule: BTreeMap<&str, Vec<&SeenAlert>> = BTreeMap::new();
    for a in alerts {
        by_rule.entry(a.rule.as_str()).or_default().push(a);
    }
    let mut ranked: Vec<(&str, Vec<&SeenAlert>)> = by_rule.into_iter().collect();
    ranked.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let mut t = Tuning::default();
    for (rule, group) in ranked {
        let skip = |why: String| Skipped {
            rule: rule.to_string(),
            alerts: group.len(),
            why,
        };
        let Some(r) = rules.find(rule).and_then(|i| rules.rule(i)) else {
            t.skipped
                .push(skip("no such rule in the rules given".into()));
            continue;
        };
        if r.source != "syscall" {
            t.skipped
                .push(skip(format!("a {} rule: tune it by hand", r.source)));
            continue;
        }
        let sample = group[0].output.clone();
        // A declared exception whose fields every alert carries.
        let mut best: Option<Proposal> = None;
        for (name, fields) in declared.get(rule).map(Vec::as_slice).unwrap_or_default() {
            let plain: Vec<(String, &'static str)> =
                fields.iter().map(|f| (f.clone(), "=")).collect();
            if let Some(values) = tuples(&group, &plain) {
                if best.as_ref().is_none_or(|b| values.len() < b.values.len()) {
                    best = Some(Proposal {
                        rule: rule.to_string(),
                        alerts: group.len(),
                        exception: name.clone(),
                        new_fields: None,
                        values,
                        sample: sample.clone(),
                    });
                }
            }
        }
        if best.is_none() {
            let output: BTreeSet<&str> = r.output_format().fields().into_iter().collect();
            for id in IDENTITY.iter().filter(|f| output.contains(**f)) {
                let mut options: Vec<Vec<(String, &'static str)>> = CONTEXT
                    .iter()
                    .filter(|(f, _)| output.contains(*f))
                    .map(|(c, comp)| vec![(id.to_string(), "="), (c.to_string(), *comp)])
                    .collect();
                options.push(vec![(id.to_string(), "=")]);
                for fields in options {
                    let Some(values) = tuples(&group, &fields) else {
                        continue;
                    };
                    let better = best.as_ref().is_none_or(|b| {
                        // Fewer tuples wins; at a tie, the pair (more specific) wins.
                        values.len() < b.values.len()
                            || (values.len() == b.values.len()
                                && fields.len() > b.new_fields.as_ref().map_or(0, Vec::len))
                    });
                    if better {
                        let name: Vec<String> = fields
                            .iter()
                            .map(|(f, _)| {
                                f.replace(['.', '[', ']'], "_")
                                    .trim_end_matches('_')
                                    .to_string()
                            })
                            .collect();
                        best = Some(Proposal {
                            rule: rule.to_string(),
                            alerts: group.len(),
                            exception: format!("tuned_{}", name.join("_")),
                            new_fields: Some(fields),
                            values,
                            sample: sample.clone(),
                        });
                    }
                }
                if best.is_some() {
                    break;
                }
            }
        }
        match best {
            Some(p) if p.values.len() <= MAX_TUPLES => t.proposals.push(p),
            Some(p) => t.skipped.push(skip(format!(
                "{} distinct values of ({}) would be needed",
                p.values.len(),
                p.new_fields
                    .map(|f| f.into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(", "))
                    .unwrap_or(p.exception)
            ))),
            None => t.skipped.push(skip(
                "its alerts lack the fields an exception could use".into(),
            )),
        }
    }
    t
}

/// The distinct value tuples of `fields` over `group` with their counts (most first), or
/// `None` when some alert lacks one of the fields. A `startswith` field takes the value's
/// directory (`/var/lib/app/x.db` → `/var/lib/app/`).
fn tuples(
    group: &[&SeenAlert],
    fields: &[(String, &'static str)],
) -> Option<Vec<(Vec<String>, usize)>> {
    let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for a in group {
        let mut tuple = Vec::with_capacity(fields.len());
        for (f, comp) in fields {
            let v = a.fields.get(f)?;
            tuple.push(if *comp == "startswith" {
                match v.rfind('/') {
                    Some(i) if i > 0 => v[..=i].to_string(),
                    _ => return None,
                }
            } else {
                v.clone()
            });
        }
        *counts.entry(tuple).or_default() += 1;
    }
    let mut v: Vec<(Vec<String>, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Some(v)
}

/// A double-quoted YAML scalar (JSON's string escaping is valid YAML).
fn quoted(s: &str) -> String {
    let mut out = String::new();
    peregrine_filter::format::write_json_string(s, &mut out);
    out
}

/// One comment line: control characters (line breaks above all) escaped, bounded.
fn comment(s: &str) -> String {
    let short: String = s.trim().chars().take(200).collect();
    terminal_safe(&short)
}

/// The tuned rules file: a header, then per rule (by volume) its exception with a comment
/// giving the counts and a sample alert; rules left out are listed in the header.
pub fn render(t: &Tuning, source: &str, total: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Tuning proposed by `peregrine tune` from {}",
        comment(source)
    );
    let _ = writeln!(
        out,
        "# {total} alerts; {} rule(s) tuned, {} left out. Review every value: each one silences",
        t.proposals.len(),
        t.skipped.len()
    );
    out.push_str("# the rule for what it matches. Load this file after the rules it tunes.\n");
    for s in &t.skipped {
        let _ = writeln!(
            out,
            "# left out: {} ({} alerts): {}",
            comment(&s.rule),
            s.alerts,
            comment(&s.why)
        );
    }
    for p in &t.proposals {
        out.push('\n');
        let _ = writeln!(out, "# {} alerts; sample: {}", p.alerts, comment(&p.sample));
        let _ = writeln!(out, "- rule: {}", quoted(&p.rule));
        out.push_str("  exceptions:\n");
        let _ = writeln!(out, "    - name: {}", p.exception);
        if let Some(fields) = &p.new_fields {
            // `proc.aname[2]` must be quoted inside a flow sequence.
            let names: Vec<String> = fields
                .iter()
                .map(|(f, _)| {
                    if f.contains('[') {
                        quoted(f)
                    } else {
                        f.clone()
                    }
                })
                .collect();
            let comps: Vec<&str> = fields.iter().map(|(_, c)| *c).collect();
            let _ = writeln!(out, "      fields: [{}]", names.join(", "));
            let _ = writeln!(out, "      comps: [{}]", comps.join(", "));
        }
        out.push_str("      values:\n");
        for (tuple, n) in &p.values {
            let vals: Vec<String> = tuple.iter().map(|v| quoted(v)).collect();
            let _ = writeln!(out, "        - [{}]  # {n} alerts", vals.join(", "));
        }
        out.push_str("  override:\n    exceptions: append\n");
    }
    out
}
