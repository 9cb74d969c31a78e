//! Falco's `append_output`: configured text and fields added to the alerts of selected rules.
//!
//! Key decisions:
//! - **Compiled once, per rule, when the engine is built**, like the rule outputs themselves:
//!   a rule's output with every matching `extra_output` appended (one space between) is parsed
//!   again as a whole, so an unknown field is a load error naming the rule, and the appended
//!   fields join `output_fields` exactly as if the rule had written them. Rules no entry
//!   matches keep their own compiled format and cost nothing per event.
//! - **Extra fields keep Falco's two kinds**: a bare field name (`- proc.pid`) is a typed
//!   value under its own name; a `key: format` pair is a format string rendered to text (a
//!   string without `%` is therefore a static value). Both appear only in `output_fields`,
//!   never in the text line.
//! - **`suggested_output: true`** appends ` a_b=%a.b` for every field the catalogue flags as
//!   format-suggested (`EPF_FORMAT_SUGGESTED`), in catalogue order, right after the entry's
//!   `extra_output`: that is how Falco 0.44 adds the container plugin's `container.*`/`k8s.*`
//!   fields to every syscall alert. The suggested fields belong to the `syscall` source, so
//!   rules of other sources get none.

use std::collections::BTreeSet;

use peregrine_filter::fields::FIELDS;
use peregrine_filter::format::{FormatError, OutputFormat, OutputValue};
use peregrine_filter::source::{Extracted, FieldSource};
use peregrine_rules::{Rule, RuleSet};

/// One `append_output` entry as configured; entries apply in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendOutput {
    /// `match.source`: only rules of this source.
    pub source: Option<String>,
    /// `match.tags`: only rules having all of these tags.
    pub tags: BTreeSet<String>,
    /// `match.rule`: only the rule of this name.
    pub rule: Option<String>,
    /// `extra_output`: appended to the rule's output after a space.
    pub extra_output: Option<String>,
    /// `suggested_output`: append the format-suggested fields (see the module comment).
    pub suggested_output: bool,
    pub extra_fields: Vec<ExtraField>,
}

/// One `extra_fields` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtraField {
    /// `- proc.pid`: the field's typed value, keyed by the field name.
    Field(String),
    /// `- key: text with %fields`: the rendered text, keyed by `key`.
    Formatted { key: String, format: String },
}

impl AppendOutput {
    /// Whether this entry applies to `rule` (every condition given must hold).
    pub fn matches(&self, rule: &Rule) -> bool {
        self.source.as_ref().is_none_or(|s| *s == rule.source)
            && self.rule.as_ref().is_none_or(|r| *r == rule.name)
            && self.tags.is_subset(&rule.tags)
    }
}

/// An `append_output` entry that does not compile for a rule it applies to.
#[derive(Debug, thiserror::Error)]
#[error("append_output: rule '{rule}': invalid output format '{format}': {error}")]
pub struct ExtraOutputError {
    pub rule: String,
    pub format: String,
    pub error: Box<FormatError>,
}

#[derive(Debug)]
enum CompiledField {
    /// A single-field format; the value is the one keyed `key` among its values.
    Typed {
        key: String,
        format: OutputFormat,
    },
    Formatted {
        key: String,
        format: OutputFormat,
    },
}

/// What `append_output` adds to one rule.
#[derive(Debug, Default)]
struct RuleExtras {
    /// The rule's output with the extra outputs appended; `None` keeps the rule's own.
    format: Option<OutputFormat>,
    fields: Vec<CompiledField>,
}

/// The compiled `append_output` of a rule set, indexed like its rules.
#[derive(Debug, Default)]
pub struct Extras {
    per_rule: Vec<Option<RuleExtras>>,
}

/// The event source whose fields the catalogue describes.
const SYSCALL_SOURCE: &str = "syscall";

/// Falco's text for one suggested field: `container.id` becomes `container_id=%container.id`.
fn suggested_format(name: &str) -> String {
    format!("{}=%{name}", name.replace('.', "_"))
}

fn parse(rule: &Rule, format: &str) -> Result<OutputFormat, ExtraOutputError> {
    OutputFormat::parse(format).map_err(|error| ExtraOutputError {
        rule: rule.name.clone(),
        format: format.to_string(),
        error: Box::new(error),
    })
}

impl Extras {
    /// Compiles `entries` against every rule of `rules`.
    pub fn compile(rules: &RuleSet, entries: &[AppendOutput]) -> Result<Extras, ExtraOutputError> {
        let mut per_rule = Vec::with_capacity(rules.rules().len());
        for rule in rules.rules() {
            let applied: Vec<&AppendOutput> = entries.iter().filter(|e| e.matches(rule)).collect();
            if applied.is_empty() {
                per_rule.push(None);
                continue;
            }
            let mut out = RuleExtras::default();
            let mut text = rule.output.clone();
            let mut appended = false;
            for e in &applied {
                if let Some(extra) = e.extra_output.as_deref().filter(|s| !s.is_empty()) {
                    text.push(' ');
                    text.push_str(extra);
                    appended = true;
                }
                if e.suggested_output && rule.source == SYSCALL_SOURCE {
                    for info in FIELDS.iter().filter(|f| f.flags.format_suggested) {
                        text.push(' ');
                        text.push_str(&suggested_format(info.name));
                        appended = true;
                    }
                }
                for f in &e.extra_fields {
                    let compiled = match f {
                        ExtraField::Field(name) => CompiledField::Typed {
                            key: name.clone(),
                            format: parse(rule, &format!("*%{name}"))?,
                        },
                        ExtraField::Formatted { key, format } => CompiledField::Formatted {
                            key: key.clone(),
                            format: parse(rule, &format!("*{format}"))?,
                        },
                    };
                    out.fields.push(compiled);
                }
            }
            if appended {
                out.format = Some(parse(rule, &text)?);
            }
            per_rule.push(Some(out));
        }
        Ok(Extras { per_rule })
    }

    fn get(&self, idx: usize) -> Option<&RuleExtras> {
        self.per_rule.get(idx).and_then(Option::as_ref)
    }

    /// The output format to render for rule `idx`, if `append_output` changed it.
    pub fn format(&self, idx: usize) -> Option<&OutputFormat> {
        self.get(idx).and_then(|e| e.format.as_ref())
    }

    /// Appends the extra fields of rule `idx` for the current event of `src` to `out`.
    pub fn fields(
        &self,
        idx: usize,
        src: &mut dyn FieldSource,
        buf: &mut Extracted,
        out: &mut Vec<(String, OutputValue)>,
    ) {
        let Some(extras) = self.get(idx) else { return };
        for f in &extras.fields {
            match f {
                CompiledField::Typed { key, format } => {
                    let value = format
                        .values(src, buf)
                        .into_iter()
                        .find(|(k, _)| k == key)
                        .map_or(OutputValue::Null, |(_, v)| v);
                    out.push((key.clone(), value));
                }
                CompiledField::Formatted { key, format } => {
                    let mut text = String::new();
                    format.render(src, buf, &mut text);
                    out.push((key.clone(), OutputValue::Str(text)));
                }
            }
        }
    }

    /// Every field the additions read, over all rules (shedding treats them as read by every
    /// rule: a sound over-approximation).
    pub fn field_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.per_rule.iter().flatten() {
            let formats = e.format.iter().chain(e.fields.iter().map(|f| match f {
                CompiledField::Typed { format, .. } | CompiledField::Formatted { format, .. } => {
                    format
                }
            }));
            for f in formats {
                out.extend(f.fields().into_iter().map(str::to_string));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// True when no rule is affected.
    pub fn is_empty(&self) -> bool {
        self.per_rule.iter().all(Option::is_none)
    }
}
