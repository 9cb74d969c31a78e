//! Falco's rules files, loaded with Falco's semantics: YAML → items → lists, macros and rules
//! with appends, overrides, exceptions and redefinitions → compiled, event-type-indexed
//! [`RuleSet`], plus a [`LoadResults`] holding every error and warning exactly as Falco reports
//! them (`falco -V`, text or JSON).
//!
//! Key decisions:
//! - **YAML via yaml-rust2's event parser** ([`yaml`]), not a serde layer: it is maintained,
//!   YAML 1.2 (so `comps: [=, in]` loads like yaml-cpp reads it, where PyYAML-style 1.1 parsers
//!   fail), and gives a position for every node, which Falco's error contexts need. We build a
//!   small positioned tree with bounded depth and size; all scalars stay strings, as in yaml-cpp.
//!   Texts in the plain subset rules files use take a byte-level fast path (`yaml::fast`) that
//!   builds the same tree several times faster; everything else, and every error, goes
//!   through yaml-rust2.
//! - **Falco's pipeline, stage for stage**: items are collected across files with Falco's
//!   redefinition/append rules ([`collector`]), then the whole collection is compiled
//!   ([`compiler`]): lists substituted textually, exceptions compiled to condition text, macros
//!   resolved on the AST with visibility order. Replicating the textual steps (rather than a
//!   "cleaner" AST-level equivalent) is what makes quirky conditions behave the same.
//! - **Every problem at once**: Falco stops a file at its first error; we report one error per
//!   broken item and carry on, so a user fixes a file in one pass. Rendering is Falco's.
//! - Like Falco, each loaded content is validated by compiling everything collected so far, so
//!   its [`LoadResult`] holds the same problems `falco -V a -V b` shows for it;
//!   [`Loader::compile_once`] trades that for a single compile at the end (start-up speed).
//!   The loader's caches (parsed and resolved conditions shared as `Arc`, compiled filters,
//!   output formats) make the repeated compiles cheap; see `BENCHMARKS.md`.
//!
//! ```
//! use peregrine_testkit::synthetic::SyntheticEvent;
//! use peregrine_rules::{Loader, Matching, Scratch};
//!
//! let mut loader = Loader::new();
//! let ok = loader.load_str(
//!     "rules.yaml",
//!     "- list: shells\n  items: [bash, sh]\n\
//!      - rule: Shell\n  desc: a shell runs\n  condition: evt.type = execve and proc.name in (shells)\n\
//!      \x20 output: shell %proc.name\n  priority: NOTICE\n",
//! );
//! let (rules, results) = loader.finish();
//! assert!(ok && results.successful(), "{}", results.as_text());
//!
//! let mut event = SyntheticEvent::new("execve").with("proc.name", "bash");
//! let (mut scratch, mut matched) = (Scratch::new(), Vec::new());
//! rules.evaluate(&mut event, Matching::All, &mut scratch, &mut matched);
//! assert_eq!(matched.len(), 1);
//! ```

#![forbid(unsafe_code)]

mod adapter;
pub mod adhoc;
mod collector;
pub mod compiler;
pub mod info;
pub mod input;
pub mod load;
mod reader;
pub mod result;
pub mod ruleset;
pub mod shed;
pub mod version;
pub mod yaml;

pub use adapter::Scratch;
pub use compiler::Rule;
pub use info::Priority;
pub use load::{Loaded, RulesInput};
pub use result::{
    Context, ErrorCode, ItemType, LoadError, LoadResult, LoadResults, LoadWarning, WarningCode,
};
pub use ruleset::{Matching, RuleIdx, RuleSet, Selection, SelectionOp, Selector};

use collector::Collector;
use ruleset::Compiled;
use std::path::Path;
use std::sync::Arc;

/// A plugin Peregrine provides natively (the k8saudit and json plugins): loading rules with it
/// makes its event source known and satisfies `required_plugin_versions` entries for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativePlugin {
    pub name: String,
    pub version: version::Version,
    /// The event source it adds, if any (`k8s_audit`; the json plugin adds fields only).
    pub source: Option<String>,
}

/// Reads rules contents in order (stable → incubating → sandbox → local) and builds the rule
/// set.
#[derive(Debug, Default)]
pub struct Loader {
    collector: Collector,
    results: LoadResults,
    last: Option<compiler::CompileOutput>,
    caches: compiler::Caches,
    compile_once: bool,
    /// Some content failed to read: like Falco, nothing is compiled after that.
    read_failed: bool,
}

impl Loader {
    /// A loader that validates each content as Falco does: after reading it, everything
    /// collected so far is compiled, and that content's result holds what the compile found.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// A loader that compiles once, in [`Loader::finish`], instead of after every content:
    /// the same rule set, several times faster for several files, but the problems the compile
    /// finds are all reported in the last content's result (reading problems stay with their
    /// content). For start-up; `-V` validation wants [`Loader::new`].
    pub fn compile_once() -> Loader {
        Loader {
            compile_once: true,
            ..Loader::default()
        }
    }

    /// Declares the plugins the run provides natively (before the first content).
    pub fn with_plugins(mut self, plugins: &[NativePlugin]) -> Loader {
        self.collector.plugins = plugins.to_vec();
        self
    }

    /// Loads a rules file; a file that cannot be read is a `LOAD_ERR_FILE_READ` error in its
    /// result. Returns whether this content loaded without errors.
    pub fn load_file(&mut self, path: impl AsRef<Path>) -> bool {
        let path = path.as_ref();
        let name = path.display().to_string();
        match input::read_regular(path, input::MAX_RULES_FILE) {
            Ok(bytes) => {
                // Valid UTF-8 (the normal case) is checked by the fast validator and kept
                // without a copy; only invalid files pay for the lossy conversion.
                let text = String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                self.load_str(&name, &text)
            }
            Err(e) => {
                let mut res = LoadResult::new(&name);
                res.error(
                    ErrorCode::FileRead,
                    format!("Could not read file {name}: {e}"),
                    &Context::root(&name),
                );
                self.results.results.push(res);
                false
            }
        }
    }

    /// Loads a rules content named `name` (the name appears in every location of its
    /// problems). Returns whether this content loaded without errors.
    pub fn load_str(&mut self, name: &str, content: &str) -> bool {
        let mut res = LoadResult::new(name);
        self.results
            .contents
            .insert(name.to_string(), content.to_string());
        reader::read(&mut res, &mut self.collector, name, content);
        if !is_rules_shaped(&res, content) {
            // Snippets quote the content; a file that is not a rules file at all (a path
            // pointing at /etc/shadow by mistake or by malice) must not be echoed to a
            // terminal or a log. Falco prints it; this is a deliberate difference.
            self.results
                .contents
                .insert(name.to_string(), String::new());
        }
        if !res.successful() {
            self.read_failed = true;
        } else if !self.compile_once {
            self.last = Some(compiler::compile(
                &self.collector,
                &mut res,
                &mut self.caches,
            ));
        }
        let ok = res.successful();
        self.results.results.push(res);
        ok
    }

    /// The results so far.
    pub fn results(&self) -> &LoadResults {
        &self.results
    }

    /// The rule set of the last successful compile (all rules' own `enabled`, no priority
    /// threshold) and the results of every content loaded.
    pub fn finish(mut self) -> (RuleSet, LoadResults) {
        if self.compile_once && !self.read_failed {
            if let Some(res) = self.results.results.last_mut() {
                self.last = Some(compiler::compile(&self.collector, res, &mut self.caches));
            }
        }
        let out = self.last.unwrap_or_default();
        let compiled = Arc::new(Compiled {
            rules: out.rules,
            lists: out.lists,
            macros: out.macros,
            required_engine_version: self.collector.required_engine_version,
        });
        (RuleSet::new(compiled, &Selection::default()), self.results)
    }
}

/// Whether `content` has the shape of a rules file, judged by what reading it found: a top
/// level that is not a sequence, or a YAML syntax error in text whose first item does not start
/// with `-`, means it is something else.
fn is_rules_shaped(res: &result::LoadResult, content: &str) -> bool {
    use result::ErrorCode;
    let starts_as_sequence = || {
        content
            .lines()
            .map(str::trim_start)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("---"))
            .is_none_or(|l| l.starts_with('-'))
    };
    res.errors.iter().all(|e| match e.code {
        ErrorCode::YamlValidate => !e.message.starts_with("Rules content is not yaml"),
        ErrorCode::YamlParse => starts_as_sequence(),
        _ => true,
    })
}
