//! The one place where the binary calls the library crates (condition parser, field catalogue,
//! rules loader).
//!
//! Key design decision: the commands in `main.rs` speak only the small types defined here, so
//! the libraries can change their APIs (and did, while they were being written in parallel)
//! with edits confined to this file. The cost is a little copying of rule metadata.

use crate::config::{Priority, RuleSelection, Selector};
use serde_json::Value;
use std::path::PathBuf;

/// One rules content to load.
#[derive(Clone, Debug)]
pub enum RulesInput {
    /// A file, read by the loader so that an unreadable file becomes Falco's
    /// `LOAD_ERR_FILE_READ` in the results rather than an early exit.
    File(PathBuf),
    /// Text already in memory (the embedded defaults), reported under `name`.
    Text { name: String, content: String },
}

impl RulesInput {
    /// The name the content is reported under.
    pub fn name(&self) -> String {
        match self {
            RulesInput::File(p) => p.display().to_string(),
            RulesInput::Text { name, .. } => name.clone(),
        }
    }
}

/// Rule metadata the binary shows.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub tags: Vec<String>,
    /// Active after the rule's own `enabled`, the selections and the minimum priority.
    pub enabled: bool,
}

/// `render(parse(expr))`, or the parse error as Falco words it.
pub fn parse_condition(expr: &str) -> Result<String, String> {
    use peregrine_filter::{parser, render};
    match parser::parse(expr) {
        Ok(ast) => Ok(render::render(&ast)),
        Err(e) => Err(format!(
            "{} (at line {}, column {})",
            e.message, e.pos.line, e.pos.col
        )),
    }
}

/// Loads the inputs in order, as one rule set.
pub fn load(inputs: &[RulesInput]) -> Loaded {
    let mut loader = peregrine_rules::Loader::new();
    for input in inputs {
        match input {
            RulesInput::File(path) => loader.load_file(path),
            RulesInput::Text { name, content } => loader.load_str(name, content),
        };
    }
    let (ruleset, results) = loader.finish();
    Loaded {
        successful: results.successful(),
        has_warnings: results.warnings().count() > 0,
        json: results.as_json(),
        results,
        ruleset,
    }
}

/// The outcome of loading rules files, as Falco reports it.
pub struct Loaded {
    /// No file had an error.
    pub successful: bool,
    pub has_warnings: bool,
    /// Falco's `{"falco_load_results": [...]}`.
    pub json: Value,
    results: peregrine_rules::LoadResults,
    ruleset: peregrine_rules::RuleSet,
}

impl Loaded {
    /// The compiled rules, for checks that need them before the agent takes them.
    pub fn ruleset(&self) -> &peregrine_rules::RuleSet {
        &self.ruleset
    }

    /// The compiled rules, for the agent.
    pub fn into_ruleset(self) -> peregrine_rules::RuleSet {
        self.ruleset
    }

    /// Falco's `-V` text: a failing file (or any file with `verbose`) shows every problem with
    /// its location and snippet; a file that loaded shows its status and problem codes only.
    pub fn text(&self, verbose: bool) -> String {
        let blocks: Vec<String> = self
            .results
            .results
            .iter()
            .map(|r| {
                if verbose || !r.successful() {
                    r.as_text(&self.results.contents)
                } else {
                    r.as_summary_text()
                }
            })
            .collect();
        blocks.join("\n")
    }

    /// Applies the `rules:` selections and the minimum priority, in Falco's order.
    pub fn select(&mut self, selections: &[RuleSelection], min: Priority) {
        use peregrine_rules::{Selection, SelectionOp, Selector as S};
        let convert = |s: &Selector| match s {
            Selector::Rule(r) => S::Rule(r.clone()),
            Selector::Tag(t) => S::Tag(t.clone()),
        };
        let selection = Selection {
            ops: selections
                .iter()
                .map(|sel| match sel {
                    RuleSelection::Enable(s) => SelectionOp::Enable(convert(s)),
                    RuleSelection::Disable(s) => SelectionOp::Disable(convert(s)),
                })
                .collect(),
            min_priority: Some(min),
        };
        self.ruleset = self.ruleset.select(&selection);
    }

    /// Rule metadata in definition order.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.ruleset
            .rules()
            .iter()
            .enumerate()
            .map(|(i, r)| RuleInfo {
                name: r.name.clone(),
                desc: r.desc.clone(),
                priority: r.priority,
                tags: r.tags.iter().cloned().collect(),
                enabled: u32::try_from(i).is_ok_and(|i| self.ruleset.is_active(i)),
            })
            .collect()
    }

    /// Falco's describe JSON for one rule (`-l`).
    pub fn describe(&self, rule: &str) -> Option<Value> {
        self.ruleset.describe_rule(rule)
    }

    /// Every rule, macro and list, as `-L` with JSON output shows them.
    pub fn describe_all(&self) -> Value {
        self.ruleset.describe_all()
    }
}

/// The rules-engine version, checked against `required_engine_version`.
pub fn engine_version() -> String {
    peregrine_rules::version::ENGINE_VERSION.to_string()
}

/// One field of the catalogue, as `--list` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldEntry {
    pub name: &'static str,
    pub ty: &'static str,
    pub desc: &'static str,
    pub filter_only: bool,
}

/// A field class (`evt`, `process`, `fd`, …) and its fields.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldClass {
    pub name: &'static str,
    pub desc: &'static str,
    pub source: &'static str,
    pub fields: Vec<FieldEntry>,
}

/// The field catalogue grouped by class, in catalogue order; deprecated fields are left out,
/// as `falco --list` leaves them out.
pub fn field_classes() -> Vec<FieldClass> {
    use peregrine_filter::fields::CLASSES;
    CLASSES
        .iter()
        .map(|c| FieldClass {
            name: c.name,
            desc: c.desc,
            source: c.source,
            fields: c
                .fields()
                .filter(|f| !f.flags.deprecated)
                .map(|f| FieldEntry {
                    name: f.name,
                    ty: f.ty.name(),
                    desc: f.desc,
                    filter_only: f.flags.filter_only,
                })
                .collect(),
        })
        .filter(|c| !c.fields.is_empty())
        .collect()
}

/// `falco --list` text layout for the whole catalogue (`verbose` adds field types).
pub fn fields_text(verbose: bool) -> String {
    let mut out = String::new();
    peregrine_filter::fields::write_list(&mut out, verbose, false);
    out
}
