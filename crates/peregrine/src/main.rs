//! `peregrine`: the binary that wires capture, state, rules and outputs together behind Falco's
//! command line.
//!
//! Key design decision: the binary owns no detection logic. It turns flags and falco.yaml into a
//! validated [`cli::HiArgs`], then runs exactly one [`cli::Mode`] against the library crates
//! through the adapter in [`backend`]. Each mode returns its exit code instead of calling
//! `process::exit` deep inside, so every path is testable by running the binary.

mod agent;
mod backend;
mod cli;
mod config;
mod defaults;
mod events;
mod logging;

use backend::{Loaded, RuleInfo, RulesInput};
use clap::Parser;
use cli::{HiArgs, ListFormat, LowArgs, Mode, RulesSource};
use config::Priority;
use std::io::Write;
use std::process::ExitCode;

/// The Falco release whose behaviour Peregrine follows.
const FALCO_COMPAT_VERSION: &str = "0.44.1";

fn main() -> ExitCode {
    let low = LowArgs::parse();
    logging::init(low.verbose);
    match HiArgs::from_low(low).and_then(run) {
        Ok(code) => code,
        // A closed pipe (`peregrine -L | head`) is the reader's choice, not an error.
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: HiArgs) -> anyhow::Result<ExitCode> {
    for warning in &args.warnings {
        log::warn!("{warning}");
    }
    let mut out = std::io::stdout().lock();
    let code = match &args.mode {
        Mode::ParseCondition(expr) => match backend::parse_condition(expr) {
            Ok(rendered) => {
                writeln!(out, "{rendered}")?;
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        },
        Mode::Events(events) => {
            // The live view writes its own buffered stdout.
            drop(out);
            events::run(events.clone())?;
            return Ok(ExitCode::SUCCESS);
        }
        Mode::Version => {
            write_version(&mut out)?;
            ExitCode::SUCCESS
        }
        Mode::ListFields {
            source,
            format,
            names_only,
            verbose,
        } => {
            write_fields(&mut out, source.as_deref(), *format, *names_only, *verbose)?;
            ExitCode::SUCCESS
        }
        Mode::Validate(files) => {
            let inputs: Vec<_> = files.iter().cloned().map(RulesInput::File).collect();
            let loaded = backend::load(&inputs);
            if args.config.json_output {
                writeln!(out, "{}", loaded.json)?;
            } else {
                // Falco logs this header (stderr); stdout carries only the results.
                eprintln!("Validating rules file(s):");
                for input in &inputs {
                    eprintln!("   {}", input.name());
                }
                writeln!(out, "{}", loaded.text(args.verbose).trim_end())?;
            }
            exit_code(loaded.successful)
        }
        Mode::ListRules => {
            let Some(loaded) = load_rules(&args)? else {
                return Ok(ExitCode::FAILURE);
            };
            if args.config.json_output {
                writeln!(out, "{}", loaded.describe_all())?;
            } else {
                write_rule_list(&mut out, &loaded.rules())?;
            }
            ExitCode::SUCCESS
        }
        Mode::Describe(rule) => {
            let Some(loaded) = load_rules(&args)? else {
                return Ok(ExitCode::FAILURE);
            };
            match loaded.describe(rule) {
                Some(json) => {
                    writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("Error: no rule named '{rule}'");
                    ExitCode::FAILURE
                }
            }
        }
        Mode::Run { dry_run, duration } => {
            let Some(loaded) = load_rules(&args)? else {
                return Ok(ExitCode::FAILURE);
            };
            if *dry_run {
                write_summary(&mut out, &args, &loaded.rules())?;
                ExitCode::SUCCESS
            } else {
                // stdout carries only alerts while the agent runs, as with Falco.
                write_summary(&mut std::io::stderr().lock(), &args, &loaded.rules())?;
                out.flush()?;
                let code = agent::run(agent::AgentArgs {
                    config: &args.config,
                    rules: loaded.into_ruleset(),
                    duration: duration.map(std::time::Duration::from_secs),
                    replay: None,
                })?;
                ExitCode::from(u8::try_from(code).unwrap_or(1))
            }
        }
    };
    out.flush()?;
    Ok(code)
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn rules_inputs(source: &RulesSource) -> Vec<RulesInput> {
    match source {
        RulesSource::Embedded => vec![RulesInput::Text {
            name: defaults::NAME.to_string(),
            content: defaults::RULES.to_string(),
        }],
        RulesSource::Files(files) => files.iter().cloned().map(RulesInput::File).collect(),
    }
}

/// Loads the configured rules and applies the configured selection. On a load error prints
/// Falco's results on stderr and returns `None`; warnings are printed but do not stop the run.
fn load_rules(args: &HiArgs) -> anyhow::Result<Option<Loaded>> {
    let mut loaded = backend::load(&rules_inputs(&args.rules));
    if !loaded.successful || loaded.has_warnings {
        eprintln!("{}", loaded.text(true).trim_end());
    }
    if !loaded.successful {
        return Ok(None);
    }
    loaded.select(&args.config.rules, args.config.priority);
    Ok(Some(loaded))
}

fn write_version(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Peregrine version: {} ({})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )?;
    writeln!(out, "Falco compatibility: {FALCO_COMPAT_VERSION}")?;
    writeln!(out, "Engine:        {}", backend::engine_version())?;
    writeln!(out, "Event sources: syscall")
}

/// `-L`: Falco's two-column listing, descriptions wrapped at 110 columns.
fn write_rule_list(out: &mut impl Write, rules: &[RuleInfo]) -> std::io::Result<()> {
    const NAME_WIDTH: usize = 50;
    writeln!(out, "{:<NAME_WIDTH$} Description", "Rule")?;
    writeln!(out, "{:<NAME_WIDTH$} -----------", "----")?;
    for rule in rules {
        let wrapped = wrap(&rule.desc, NAME_WIDTH + 1, 110);
        writeln!(out, "{:<NAME_WIDTH$} {wrapped}", rule.name)?;
    }
    Ok(())
}

/// Wraps `text` into lines of at most `width` columns where the first line starts at column
/// `indent` and continuation lines are indented to it.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let room = width.saturating_sub(indent).max(20);
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let Some(line) = lines.last_mut() else { break };
        if !line.is_empty() && line.len() + 1 + word.len() > room {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join(&format!("\n{}", " ".repeat(indent)))
}

fn write_summary(out: &mut impl Write, args: &HiArgs, rules: &[RuleInfo]) -> std::io::Result<()> {
    match &args.rules {
        RulesSource::Embedded => writeln!(out, "Rules files: {} (embedded)", defaults::NAME)?,
        RulesSource::Files(files) => {
            writeln!(out, "Rules files:")?;
            for f in files {
                writeln!(out, "   {}", f.display())?;
            }
        }
    }
    let enabled = rules.iter().filter(|r| r.enabled).count();
    writeln!(
        out,
        "Rules loaded: {} ({enabled} enabled, minimum priority {})",
        rules.len(),
        args.config.priority.name()
    )?;
    for p in Priority::ALL {
        let n = rules.iter().filter(|r| r.priority == p).count();
        writeln!(out, "   {:<14} {n}", format!("{}:", p.name()))?;
    }
    Ok(())
}

fn write_fields(
    out: &mut impl Write,
    source: Option<&str>,
    format: ListFormat,
    names_only: bool,
    verbose: bool,
) -> anyhow::Result<()> {
    let classes: Vec<_> = backend::field_classes()
        .into_iter()
        .filter(|c| source.is_none_or(|s| c.source == s))
        .collect();
    if names_only {
        for f in classes.iter().flat_map(|c| &c.fields) {
            writeln!(out, "{}", f.name)?;
        }
        return Ok(());
    }
    match format {
        // Every class belongs to the syscall source, so a source filter keeps all or nothing.
        ListFormat::Text if !classes.is_empty() => {
            write!(out, "{}", backend::fields_text(verbose))?
        }
        ListFormat::Text => {}
        ListFormat::Markdown => {
            for c in &classes {
                writeln!(out, "## Field Class: {}\n", c.name)?;
                writeln!(out, "{}\n", c.desc)?;
                writeln!(out, "Name | Type | Description")?;
                writeln!(out, ":----|:-----|:-----------")?;
                for f in &c.fields {
                    let tag = if f.filter_only { "(FILTER ONLY) " } else { "" };
                    let desc = f.desc.replace('|', "\\|");
                    writeln!(out, "`{}` | {} | {tag}{desc}", f.name, f.ty)?;
                }
                writeln!(out)?;
            }
        }
        ListFormat::Json => {
            let json: Vec<_> = classes
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "desc": c.desc,
                        "event_sources": [c.source],
                        "fields": c.fields.iter().map(|f| serde_json::json!({
                            "name": f.name,
                            "type": f.ty,
                            "desc": f.desc,
                            "filter_only": f.filter_only,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_indents_continuation_lines() {
        assert_eq!(wrap("a b c", 4, 100), "a b c");
        assert_eq!(wrap("aaaa bbbb", 2, 24), "aaaa bbbb");
        let long = "word ".repeat(30);
        let wrapped = wrap(&long, 10, 40);
        let lines: Vec<_> = wrapped.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines[1..].iter().all(|l| l.starts_with(&" ".repeat(10))));
        assert!(lines.iter().all(|l| l.trim_start().len() <= 30));
    }
}
