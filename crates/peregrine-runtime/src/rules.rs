//! Where the rules come from and how a run loads them: the configured files or the rules
//! embedded in the program, the `rules:` selection and minimum priority applied, and the same
//! loading again for a reload.

use std::path::PathBuf;

use peregrine_rules::load::{self, Loaded};
use peregrine_rules::{NativePlugin, RulesInput, Selection};

use crate::agent::Reloader;

/// Where the rules come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesSource {
    /// The rules embedded in the program (no `-r` and no `rules_files`).
    Embedded,
    Files(Vec<PathBuf>),
}

/// Rules text compiled into the program, used when no rules file is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedRules {
    /// The name the text is reported under (in `-V` results and summaries).
    pub name: &'static str,
    pub content: &'static str,
}

impl RulesSource {
    /// The contents to load, in order.
    pub fn inputs(&self, embedded: EmbeddedRules) -> Vec<RulesInput> {
        match self {
            RulesSource::Embedded => vec![RulesInput::Text {
                name: embedded.name.to_string(),
                content: embedded.content.to_string(),
            }],
            RulesSource::Files(files) => files.iter().cloned().map(RulesInput::File).collect(),
        }
    }
}

/// Loads `inputs` and applies `selection`. On a load error prints Falco's results on stderr
/// and returns `None`; warnings are printed but do not stop the run.
pub fn load_selected(
    inputs: &[RulesInput],
    selection: &Selection,
    plugins: &[NativePlugin],
) -> Option<Loaded> {
    let mut loaded = load::load_with(inputs, plugins);
    if !loaded.successful() || loaded.has_warnings() {
        eprintln!("{}", loaded.report(true).trim_end());
    }
    if !loaded.successful() {
        return None;
    }
    loaded.select(selection);
    Some(loaded)
}

/// Reloads the rules the way the run loaded them: same contents, same selection.
pub fn reloader(
    inputs: Vec<RulesInput>,
    selection: Selection,
    plugins: Vec<NativePlugin>,
) -> Reloader {
    Box::new(move || {
        let mut loaded = load::load_with(&inputs, &plugins);
        if !loaded.successful() {
            return Err(loaded.report(true));
        }
        loaded.select(&selection);
        Ok(loaded.ruleset)
    })
}
