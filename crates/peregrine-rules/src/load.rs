//! A facade over [`Loader`] for programs: load a list of rules contents in order and keep the
//! rule set with Falco's results, ready for `-V`, `-L`, `-l` and the agent.

use crate::{LoadResults, Loader, RuleSet, Selection};

use std::path::PathBuf;

/// One rules content to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesInput {
    /// A file, read by the loader so that an unreadable file becomes Falco's
    /// `LOAD_ERR_FILE_READ` in the results rather than an early exit.
    File(PathBuf),
    /// Text already in memory (embedded defaults, a generated filter), reported under `name`.
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

/// The outcome of loading rules contents, as Falco reports it.
#[derive(Debug)]
pub struct Loaded {
    pub results: LoadResults,
    pub ruleset: RuleSet,
}

/// Loads the inputs in order, as one rule set.
pub fn load(inputs: &[RulesInput]) -> Loaded {
    load_with(inputs, &[])
}

/// [`load`] with the natively provided plugins (their sources' rules compile and run).
pub fn load_with(inputs: &[RulesInput], plugins: &[crate::NativePlugin]) -> Loaded {
    let mut loader = Loader::new().with_plugins(plugins);
    for input in inputs {
        match input {
            RulesInput::File(path) => loader.load_file(path),
            RulesInput::Text { name, content } => loader.load_str(name, content),
        };
    }
    let (ruleset, results) = loader.finish();
    Loaded { results, ruleset }
}

impl Loaded {
    /// No content had an error.
    pub fn successful(&self) -> bool {
        self.results.successful()
    }

    pub fn has_warnings(&self) -> bool {
        self.results.warnings().count() > 0
    }

    /// Falco's `-V` text: a failing content (or any with `verbose`) shows every problem with
    /// its location and snippet; one that loaded shows its status and problem codes only.
    pub fn report(&self, verbose: bool) -> String {
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

    /// Applies `rules:` selections and the minimum priority, in Falco's order.
    pub fn select(&mut self, selection: &Selection) {
        self.ruleset = self.ruleset.select(selection);
    }
}
