//! `peregrine`: the binary that wires capture, state, rules and outputs together behind Falco's
//! command line.
//!
//! Key design decision: the binary owns no detection logic. It turns flags and falco.yaml into a
//! validated [`cli::HiArgs`], then runs exactly one [`cli::Mode`] against the library crates
//! through the adapter in [`backend`]. Each mode returns its exit code instead of calling
//! `process::exit` deep inside, so every path is testable by running the binary.

mod agent;
mod backend;
mod capture;
mod cli;
mod config;
mod defaults;
mod drops;
mod events;
mod logging;
mod metrics;
mod web;

use anyhow::Context;
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
        Mode::Capture(capture) => {
            drop(out);
            capture::run(capture.clone())?;
            return Ok(ExitCode::SUCCESS);
        }
        Mode::Version => {
            write_version(&mut out)?;
            ExitCode::SUCCESS
        }
        Mode::Support => {
            writeln!(out, "{}", serde_json::to_string_pretty(&support(&args))?)?;
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
            if args.config.outputs.format.json_output {
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
            if args.config.outputs.format.json_output {
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
            // `append_output` compiles with the rules, so `--dry-run` reports its errors too.
            peregrine_engine::extra::Extras::compile(loaded.ruleset(), &args.config.append_output)?;
            if *dry_run {
                write_summary(&mut out, &args, &loaded.rules())?;
                ExitCode::SUCCESS
            } else {
                // stdout carries only alerts while the agent runs, as with Falco.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                eprintln!(
                    "{}: Peregrine version: {} (Falco {FALCO_COMPAT_VERSION} compatible)",
                    log_time(now, args.config.outputs.format.time_format_iso_8601),
                    env!("CARGO_PKG_VERSION")
                );
                write_summary(&mut std::io::stderr().lock(), &args, &loaded.rules())?;
                out.flush()?;
                // The stdout output's worker thread needs the stdout lock.
                drop(out);
                let mut watched = match &args.rules {
                    RulesSource::Files(files) => files.clone(),
                    RulesSource::Embedded => Vec::new(),
                };
                watched.extend(args.config_file.iter().cloned());
                let _pidfile = args.pidfile.as_deref().map(PidFile::create).transpose()?;
                let code = agent::run(agent::AgentArgs {
                    config: &args.config,
                    rules: loaded.into_ruleset(),
                    duration: duration.map(std::time::Duration::from_secs),
                    replay: None,
                    reload: Some(reloader(&args)),
                    watched,
                })?;
                return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
            }
        }
    };
    out.flush()?;
    Ok(code)
}

/// Falco's log-line timestamp: `2026-11-28T22:39:02+0000` with `time_format_iso_8601`,
/// else ctime's `Sat Nov 28 22:39:02 2026` (both UTC).
fn log_time(unix_secs: u64, iso: bool) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    if iso {
        return format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}+0000");
    }
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize % 12];
    format!("{weekday} {month_name} {day:2} {h:02}:{m:02}:{s:02} {year}")
}

/// `-P FILE`: holds the pid while the agent runs; removed when dropped.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn create(path: &std::path::Path) -> anyhow::Result<PidFile> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reloads the rules the way the run loaded them: same sources, same selection.
fn reloader(args: &HiArgs) -> agent::Reloader {
    let source = args.rules.clone();
    let selection = args.config.rules.clone();
    let priority = args.config.priority;
    Box::new(move || {
        let mut loaded = backend::load(&rules_inputs(&source));
        if !loaded.successful {
            return Err(loaded.text(true));
        }
        loaded.select(&selection, priority);
        Ok(loaded.into_ruleset())
    })
}

/// `--support`: Falco's support bundle (versions, system, command line, configuration and
/// the content of every rules file).
fn support(args: &HiArgs) -> serde_json::Value {
    let proc_kernel = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let config = args
        .config_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let rules_files: Vec<_> = rules_inputs(&args.rules)
        .into_iter()
        .map(|input| {
            let content = match &input {
                RulesInput::File(p) => std::fs::read_to_string(p).unwrap_or_default(),
                RulesInput::Text { content, .. } => content.clone(),
            };
            serde_json::json!({"name": input.name(), "content": content})
        })
        .collect();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "falco_compat_version": FALCO_COMPAT_VERSION,
        "engine_info": {"engine_version": backend::engine_version()},
        "plugins": [],
        "system_info": {
            "sysname": proc_kernel("ostype"),
            "nodename": proc_kernel("hostname"),
            "release": proc_kernel("osrelease"),
            "version": proc_kernel("version"),
            "machine": std::env::consts::ARCH,
        },
        "cmdline": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config,
        "rules_files": rules_files,
    })
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
        args.config.priority.as_str()
    )?;
    for p in Priority::ALL {
        let n = rules.iter().filter(|r| r.priority == p).count();
        writeln!(out, "   {:<14} {n}", format!("{}:", p.as_str()))?;
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
    use super::{log_time, wrap};

    #[test]
    fn log_time_matches_falco_formats() {
        for (secs, iso, expected) in [
            (0, true, "1970-01-01T00:00:00+0000"),
            (0, false, "Thu Jan  1 00:00:00 1970"),
            (1_470_327_477, true, "2016-08-04T16:17:57+0000"),
            (1_470_327_477, false, "Thu Aug  4 16:17:57 2016"),
            (1_709_164_800, true, "2024-02-29T00:00:00+0000"),
            (1_796_083_200, false, "Tue Dec  1 00:00:00 2026"),
        ] {
            assert_eq!(log_time(secs, iso), expected, "{secs} iso={iso}");
        }
    }

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
