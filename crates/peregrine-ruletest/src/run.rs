//! Running a test file: load its rules (once per rules list and overrides), check the names it
//! uses, feed its input through the engine, compare what fired with what was expected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_config::{Config, ConfigTree};
use peregrine_engine::{AlertSink, Engine, Match, Pipeline, Settings};
use peregrine_filter::format::OutputValue;
use peregrine_rules::load::{self, RulesInput};

use crate::spec::{self, printable, Count, Input, RuleExpect, TestCase};
use crate::{build, Error, Pos};

/// One alert as a test sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub rule: String,
    pub priority: String,
    pub output: String,
    /// Output fields, values rendered as text (`<NA>` for none).
    pub fields: Vec<(String, String)>,
}

impl Observed {
    /// The alert of a pipeline match.
    pub fn of(m: &Match<'_>) -> Observed {
        Observed::new(
            &m.rule.name,
            m.rule.priority.as_str(),
            m.output,
            m.output_fields,
        )
    }

    /// An alert from its parts (a live run's alerts).
    pub fn new(
        rule: &str,
        priority: &str,
        output: &str,
        fields: &[(String, OutputValue)],
    ) -> Observed {
        Observed {
            rule: rule.to_string(),
            priority: priority.to_string(),
            output: output.to_string(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect(),
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A typed output value as text, as Falco's JSON would show it without the quotes.
pub(crate) fn value_text(v: &OutputValue) -> String {
    match v {
        OutputValue::Null => "<NA>".to_string(),
        OutputValue::Str(s) => s.clone(),
        OutputValue::List(items) => {
            let parts: Vec<String> = items.iter().map(value_text).collect();
            format!("({})", parts.join(","))
        }
        other => {
            let mut s = String::new();
            other.write_json(&mut s);
            s
        }
    }
}

/// Runs a command live under the rules (the binary provides it: live capture is not this
/// crate's business).
pub trait CommandRunner {
    /// Runs `command` with `sh -c`, feeding the events of its process tree to `engine`.
    /// `Ok(None)` means the command cannot run here (not root): the test is skipped with the
    /// reason `why_not` gives.
    fn run(&self, command: &str, engine: Arc<Engine>) -> Result<Option<Vec<Observed>>, String>;

    /// Why commands cannot run here, when they cannot.
    fn why_not(&self) -> Option<String>;
}

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    /// Each line says what differed.
    Fail(Vec<String>),
    Skip(String),
}

#[derive(Clone, Debug)]
pub struct CaseOutcome {
    pub name: String,
    pub pos: Pos,
    pub verdict: Verdict,
    pub observed: Vec<Observed>,
    pub duration: Duration,
}

#[derive(Clone, Debug)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub cases: Vec<CaseOutcome>,
}

/// Rules files + overrides → engine, loaded once per file run.
type EngineKey = (Vec<PathBuf>, Vec<String>);

/// Runs every test of the file at `path`. A problem with the file itself (its YAML, a name it
/// uses, rules that do not load) is an `Err`; failing tests are in the outcome.
pub fn run_file(path: &Path, runner: Option<&dyn CommandRunner>) -> Result<FileOutcome, Error> {
    let file = spec::parse_file(path)?;
    let mut engines: HashMap<EngineKey, Arc<Engine>> = HashMap::new();
    let mut prepared = Vec::new();
    // Every test is checked before any runs, so a typo is reported before a slow capture.
    for case in &file.tests {
        let key = (
            case.rules.clone(),
            case.config.iter().map(|(o, _)| o.clone()).collect(),
        );
        let engine = match engines.get(&key) {
            Some(e) => e.clone(),
            None => {
                let e = Arc::new(load_engine(case)?);
                engines.insert(key, e.clone());
                e
            }
        };
        check_names(case, &engine)?;
        let records = match &case.input {
            Input::Events(events) => {
                let mut pipe = Pipeline::new(
                    engine.clone(),
                    peregrine_engine::replay::replay_state_config(),
                );
                let records = build::prepare(events, pipe.state_mut())?;
                Some((pipe, records))
            }
            _ => None,
        };
        prepared.push((case, engine, records));
    }
    let mut cases = Vec::new();
    for (case, engine, records) in prepared {
        let start = Instant::now();
        let observed = match (&case.input, records) {
            (Input::Events(_), Some((mut pipe, records))) => {
                let mut seen = Vec::new();
                let mut sink = |m: &Match<'_>| seen.push(Observed::of(m));
                for r in &records {
                    pipe.process_record(r, 0, &mut sink as &mut dyn AlertSink);
                }
                Ok(seen)
            }
            (Input::Capture(capture), _) => {
                let mut seen = Vec::new();
                let mut sink = |m: &Match<'_>| seen.push(Observed::of(m));
                match peregrine_engine::replay::replay_file(engine.clone(), capture, &mut sink) {
                    Ok(_) => Ok(seen),
                    Err(e) => Err(format!("cannot replay the capture: {e}")),
                }
            }
            (Input::Command(cmd), _) => match runner {
                None => Err("commands cannot run in this program".to_string()),
                Some(r) => match r.why_not() {
                    Some(why) => {
                        cases.push(CaseOutcome {
                            name: case.name.clone(),
                            pos: case.pos.clone(),
                            verdict: Verdict::Skip(why),
                            observed: Vec::new(),
                            duration: start.elapsed(),
                        });
                        continue;
                    }
                    None => match r.run(cmd, engine.clone()) {
                        Ok(Some(seen)) => Ok(seen),
                        Ok(None) => Err("the command could not run".to_string()),
                        Err(e) => Err(format!("cannot run the command: {e}")),
                    },
                },
            },
            (Input::Events(_), None) => Err("events were not prepared".to_string()),
        };
        let (verdict, observed) = match observed {
            Ok(seen) => (judge(case, &seen), seen),
            Err(e) => (Verdict::Fail(vec![e]), Vec::new()),
        };
        cases.push(CaseOutcome {
            name: case.name.clone(),
            pos: case.pos.clone(),
            verdict,
            observed,
            duration: start.elapsed(),
        });
    }
    Ok(FileOutcome {
        path: path.to_path_buf(),
        cases,
    })
}

/// The engine for a test's rules and overrides, as the agent would build it from them.
fn load_engine(case: &TestCase) -> Result<Engine, Error> {
    let mut tree =
        ConfigTree::from_yaml_str("", "test").map_err(|e| Error::Other(e.to_string()))?;
    for (opt, pos) in &case.config {
        tree.apply_option(opt).map_err(|e| Error::At {
            pos: pos.clone(),
            message: e.to_string(),
        })?;
    }
    let config = match Config::from_tree(&tree) {
        Ok((c, _)) => c,
        Err(e) => {
            return Err(Error::At {
                pos: case
                    .config
                    .first()
                    .map_or(case.pos.clone(), |(_, p)| p.clone()),
                message: e.to_string(),
            })
        }
    };
    let inputs: Vec<RulesInput> = case.rules.iter().cloned().map(RulesInput::File).collect();
    let mut loaded = load::load_with(&inputs, &config.native_plugins());
    if !loaded.successful() {
        return Err(Error::Rules {
            file: case.rules_pos.file.clone(),
            report: loaded.report(true),
        });
    }
    loaded.select(&config.selection());
    Ok(Engine::new(
        loaded.ruleset,
        Settings {
            matching: config.rule_matching,
            latency_sample: 0,
        },
    ))
}

/// Every rule named exists, and every expected field is one of the rule's output fields.
fn check_names(case: &TestCase, engine: &Engine) -> Result<(), Error> {
    let rules = engine.rules();
    for e in &case.expect.rules {
        let Some(idx) = rules.find(&e.rule) else {
            return Err(Error::At {
                pos: e.pos.clone(),
                message: format!("no rule named '{}' in the rules loaded", printable(&e.rule)),
            });
        };
        let Some(rule) = rules.rule(idx) else {
            continue;
        };
        let fields = rule.output_format().fields();
        for f in &e.output_fields {
            if let Err(err) = peregrine_filter::fields::resolve_text(&f.field) {
                return Err(Error::At {
                    pos: f.pos.clone(),
                    message: format!("unknown field '{}': {err}", printable(&f.field)),
                });
            }
            if !fields.iter().any(|x| *x == f.field) {
                return Err(Error::At {
                    pos: f.pos.clone(),
                    message: format!(
                        "'{}' is not an output field of rule '{}' (its fields: {})",
                        printable(&f.field),
                        rule.name,
                        fields.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Compares what fired with the expectations.
fn judge(case: &TestCase, seen: &[Observed]) -> Verdict {
    let mut problems = Vec::new();
    if case.expect.nothing && !seen.is_empty() {
        problems.push(format!("expected no alert, got {}", seen.len()));
    }
    for e in &case.expect.rules {
        problems.extend(judge_rule(e, seen));
    }
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems)
    }
}

fn judge_rule(e: &RuleExpect, seen: &[Observed]) -> Vec<String> {
    let mine: Vec<&Observed> = seen.iter().filter(|o| o.rule == e.rule).collect();
    let n = mine.len() as u64;
    let mut out = Vec::new();
    if !e.count.holds(n) {
        let what = match e.count {
            Count::Exactly(0) => "expected not to fire".to_string(),
            c => format!("expected {c} alert(s)"),
        };
        out.push(format!("rule '{}': {what}, got {n}", e.rule));
    }
    if e.output_fields.is_empty() || mine.is_empty() {
        return out;
    }
    // Some alert of the rule must carry every expected value; report the closest one.
    let mismatches = |o: &Observed| -> Vec<String> {
        e.output_fields
            .iter()
            .filter_map(|f| {
                let got = o.field(&f.field).unwrap_or("<absent>");
                (got != f.value).then(|| {
                    format!(
                        "    {}: expected '{}', got '{}'",
                        f.field,
                        printable(&f.value),
                        printable(got)
                    )
                })
            })
            .collect()
    };
    let best = mine
        .iter()
        .map(|o| mismatches(o))
        .min_by_key(Vec::len)
        .unwrap_or_default();
    if !best.is_empty() {
        out.push(format!(
            "rule '{}': no alert has the expected output fields; the closest differs in:",
            e.rule
        ));
        out.extend(best);
    }
    out
}
