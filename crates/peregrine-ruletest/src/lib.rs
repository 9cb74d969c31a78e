//! Rule tests as code, tuning from what was seen and rules learned from a workload: the
//! library behind `peregrine test`, `peregrine tune` and `peregrine learn`.
//!
//! A test file names rules files, an input (events written inline, a scap capture, or a
//! command run live) and what must happen (these rules fire this often with these output
//! fields, those do not, nothing fires). [`run_file`] runs it and [`report`] prints the
//! outcome as a readable diff, TAP or JUnit XML.
//!
//! Key decisions:
//! - **Inline events are real engine events.** Each one is encoded as a kernel record with
//!   `peregrine-event`'s record builder and goes through [`peregrine_engine::Pipeline`], whose
//!   state engine updates from it exactly as from a live or replayed record. What the record
//!   cannot carry (the process and its ancestry, its open descriptors, the container's
//!   metadata, the user database) is seeded into the state before the first event, the way
//!   replay seeds it from a capture's process and fd lists. So `proc.aname[2]`, `fd.name` or
//!   `container.image.repository` resolve through the same code as in production, and a test
//!   that passes here tests the rules, not a model of the engine. The cost: a descriptor or a
//!   process described anywhere in a test exists from its first event on.
//! - **Every problem in a test file has a position** (file:line:column, 1-based) from the
//!   rules loader's positioned YAML tree, checked before anything runs: unknown keys, event
//!   types, parameters, fields and rule names.
//! - **Tuning proposes, a person decides** ([`tune`]): the output is a rules file with the
//!   counts and a sample behind every exception, loadable after the original rules.
//! - **Learning uses rules to gather facts** ([`learn`]): what was learned and what the
//!   generated rules allow are the same conditions.

#![forbid(unsafe_code)]

mod build;
pub mod cli;
pub mod learn;
pub mod report;
mod run;
pub mod spec;
pub mod tune;

pub use run::{run_file, CaseOutcome, CommandRunner, FileOutcome, Observed, Verdict};
pub use spec::{parse_file, TestFile};

use std::path::{Path, PathBuf};

/// A position in a test file, 1-based as editors show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Why a test file (or a tuning input) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem in the test file itself, at its position.
    #[error("{pos}: {message}")]
    At { pos: Pos, message: String },
    /// The rules a test names do not load: Falco's load results.
    #[error("{file}: the rules do not load:\n{report}")]
    Rules { file: PathBuf, report: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// The test files named by `paths`: files as given, directories searched (recursively, in
/// name order) for `*.yaml`/`*.yml` files.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let read = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(e);
        }
    }
    Ok(())
}
