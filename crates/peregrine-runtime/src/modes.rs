//! One function per mode of the program. Each writes its results to the writer it is given
//! and returns whether it succeeded (or the agent's exit code); none exits the process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use peregrine_config::Config;
use peregrine_rules::load::{self, Loaded};
use peregrine_rules::RulesInput;

use crate::agent::{self, AgentArgs};
use crate::error::Result;
use crate::listing;
use crate::rules::{self, EmbeddedRules, RulesSource};
use crate::support::{self, PidFile};
use crate::FALCO_COMPAT_VERSION;

/// What the rule-loading modes share: the validated configuration and where rules come from.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    pub config: &'a Config,
    pub rules: &'a RulesSource,
    pub embedded: EmbeddedRules,
    /// `-c FILE`, watched for changes with the rules files (`watch_config_files`).
    pub config_file: Option<&'a Path>,
    /// The `config_files` drop-ins read with it, watched like it.
    pub config_drop_ins: &'a [PathBuf],
}

impl Setup<'_> {
    fn inputs(&self) -> Vec<RulesInput> {
        self.rules.inputs(self.embedded)
    }

    /// The configured rules with the configured selection; `None` (reported) on a load error.
    pub(crate) fn load(&self) -> Option<Loaded> {
        rules::load_selected(
            &self.inputs(),
            &self.config.selection(),
            &self.config.native_plugins(),
        )
    }
}

/// `parse-condition EXPR`: the normalised condition, or the parse error as Falco words it
/// (on stderr).
pub fn parse_condition(expr: &str, out: &mut impl Write) -> Result<bool> {
    use peregrine_filter::{parser, render};
    match parser::parse(expr) {
        Ok(ast) => {
            writeln!(out, "{}", render::render(&ast))?;
            Ok(true)
        }
        Err(e) => {
            eprintln!(
                "{} (at line {}, column {})",
                e.message, e.pos.line, e.pos.col
            );
            Ok(false)
        }
    }
}

/// `--support`.
pub fn support(setup: &Setup<'_>, out: &mut impl Write) -> Result<()> {
    let bundle = support::bundle(setup.config_file, &setup.inputs());
    writeln!(out, "{}", serde_json::to_string_pretty(&bundle)?)?;
    Ok(())
}

/// `-V FILE…`: Falco's load results, as JSON with `json_output`, else as text; then the
/// configured `response_files`, each problem as `FILE:LINE:COLUMN: message` (on stderr when
/// the rules results are JSON, so stdout stays one JSON document). `plugins`: the plugins the
/// configuration loads (natively provided), whose sources and versions the rules may need.
pub fn validate(
    files: &[PathBuf],
    response_files: &[PathBuf],
    plugins: &[peregrine_rules::NativePlugin],
    json: bool,
    verbose: bool,
    out: &mut impl Write,
) -> Result<bool> {
    let rules_ok = validate_rules(files, plugins, json, verbose, out)?;
    if response_files.is_empty() {
        return Ok(rules_ok);
    }
    eprintln!("Validating response policies file(s):");
    for f in response_files {
        eprintln!(
            "   {}",
            peregrine_filter::escape::terminal_safe(&f.display().to_string())
        );
    }
    let (report, ok) = match peregrine_response::Policies::load(response_files) {
        Ok(p) => (
            format!("Response policies: Ok ({} enabled)", p.policies.len()),
            true,
        ),
        // Positions and messages only; quoted names are escaped where they are made.
        Err(e) => (format!("Response policies: Invalid\n{e}"), false),
    };
    if json {
        eprintln!("{report}");
    } else {
        writeln!(out, "{report}")?;
    }
    Ok(rules_ok && ok)
}

fn validate_rules(
    files: &[PathBuf],
    plugins: &[peregrine_rules::NativePlugin],
    json: bool,
    verbose: bool,
    out: &mut impl Write,
) -> Result<bool> {
    let inputs: Vec<_> = files.iter().cloned().map(RulesInput::File).collect();
    let loaded = load::load_with(&inputs, plugins);
    if json {
        writeln!(out, "{}", loaded.results.as_json())?;
    } else {
        // Falco logs this header (stderr); stdout carries only the results.
        eprintln!("Validating rules file(s):");
        for input in &inputs {
            eprintln!("   {}", input.name());
        }
        writeln!(out, "{}", loaded.report(verbose).trim_end())?;
    }
    Ok(loaded.successful())
}

/// `-L`: every rule (and with `json_output` every macro and list) of the configured rules.
pub fn list_rules(setup: &Setup<'_>, out: &mut impl Write) -> Result<bool> {
    let Some(loaded) = setup.load() else {
        return Ok(false);
    };
    if setup.config.outputs.format.json_output {
        writeln!(out, "{}", loaded.ruleset.describe_all())?;
    } else {
        listing::write_rule_list(out, &loaded.ruleset)?;
    }
    Ok(true)
}

/// `-l RULE`: Falco's description of one rule.
pub fn describe(setup: &Setup<'_>, rule: &str, out: &mut impl Write) -> Result<bool> {
    let Some(loaded) = setup.load() else {
        return Ok(false);
    };
    match loaded.ruleset.describe_rule(rule) {
        Some(json) => {
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
            Ok(true)
        }
        None => {
            eprintln!("Error: no rule named '{rule}'");
            Ok(false)
        }
    }
}

/// What the agent mode runs with beyond the [`Setup`].
#[derive(Clone, Debug, Default)]
pub struct RunArgs {
    /// `--dry-run`: load everything, print the summary, capture nothing.
    pub dry_run: bool,
    /// `-M SECS`.
    pub duration: Option<u64>,
    /// `-P FILE`.
    pub pidfile: Option<PathBuf>,
}

/// The agent (or `--dry-run`): loads the rules, prints the summary and runs until stopped.
/// Returns the process exit code. `out` is released before the agent runs, because the
/// stdout output's worker thread writes alerts to the same stream.
pub fn run<W: Write>(setup: &Setup<'_>, args: &RunArgs, mut out: W) -> Result<i32> {
    let config = setup.config;
    let Some(loaded) = setup.load() else {
        return Ok(1);
    };
    // `append_output` compiles with the rules, so `--dry-run` reports its errors too.
    peregrine_engine::extra::Extras::compile(&loaded.ruleset, &config.append_output)?;
    // So do the response policies: a run never starts with a policy it cannot read.
    let policies = match peregrine_response::Policies::load(&config.response_files) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: response policies:\n{e}");
            return Ok(1);
        }
    };
    let min = config.priority;
    if args.dry_run {
        listing::write_summary(&mut out, setup.rules, setup.embedded, &loaded.ruleset, min)?;
        out.flush()?;
        return Ok(0);
    }
    // stdout carries only alerts while the agent runs, as with Falco.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    eprintln!(
        "{}: Peregrine version: {} (Falco {FALCO_COMPAT_VERSION} compatible)",
        listing::log_time(now, config.outputs.format.time_format_iso_8601),
        env!("CARGO_PKG_VERSION")
    );
    listing::write_summary(
        &mut std::io::stderr().lock(),
        setup.rules,
        setup.embedded,
        &loaded.ruleset,
        min,
    )?;
    out.flush()?;
    drop(out);
    let mut watched = match setup.rules {
        RulesSource::Files(files) => files.clone(),
        RulesSource::Embedded => Vec::new(),
    };
    watched.extend(setup.config_file.map(Path::to_path_buf));
    watched.extend(setup.config_drop_ins.iter().cloned());
    watched.extend(config.response_files.iter().cloned());
    let _pidfile = args.pidfile.as_deref().map(PidFile::create).transpose()?;
    agent::run(AgentArgs {
        config,
        rules: loaded.ruleset,
        duration: args.duration.map(Duration::from_secs),
        replay: None,
        reload: Some(rules::reloader(
            setup.inputs(),
            config.selection(),
            config.native_plugins(),
        )),
        watched,
        rules_inputs: setup.inputs(),
        // Falco hashes the main file and its `config_files` drop-ins.
        config_files: setup
            .config_file
            .map(Path::to_path_buf)
            .into_iter()
            .chain(setup.config_drop_ins.iter().cloned())
            .collect(),
        policies,
    })
}
