//! `peregrine`: Falco's command line over the library crates.
//!
//! Key design decision: the binary owns no runtime logic (as ripgrep's `crates/core/main.rs`).
//! It turns flags and falco.yaml into a validated [`cli::HiArgs`] and calls the one
//! `peregrine_runtime` function for its [`cli::Mode`]; everything those functions do is
//! reachable by tests without running the program. The cost is that a new mode touches two
//! crates: its function in the runtime and its flags here. Each mode returns its exit code
//! instead of calling `process::exit` deep inside.

#![forbid(unsafe_code)]

mod cli;
mod defaults;
mod logging;

use clap::Parser;
use cli::{HiArgs, LowArgs, Mode};
use peregrine_rules::RulesInput;
use peregrine_runtime::modes::{self, RunArgs, Setup};
use peregrine_runtime::{capture, events, info, listing, RuntimeError};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let low = LowArgs::parse();
    logging::init(low.verbose);
    match HiArgs::from_low(low).and_then(run) {
        Ok(code) => code,
        // A closed pipe (`peregrine -L | head`) is the reader's choice, not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each cause said once: library errors often put
/// their source in their own message too (`cannot read X: not a regular file`), and printing
/// the chain as is repeats it.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    // Messages may span lines on purpose (a condition, then a caret under the error); any
    // other control character is escaped, so quoted input cannot drive the terminal.
    text.split('\n')
        .map(peregrine_filter::escape::terminal_safe)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `peregrine test`'s `command:` input: the command runs live under the test's rules, as
/// `peregrine run` runs one (root only; otherwise the test is skipped with the reason).
struct LiveCommands;

impl peregrine_ruletest::CommandRunner for LiveCommands {
    fn run(
        &self,
        command: &str,
        engine: std::sync::Arc<peregrine_engine::Engine>,
    ) -> Result<Option<Vec<peregrine_ruletest::Observed>>, String> {
        let argv = ["sh", "-c", command].map(std::ffi::OsString::from);
        let mut seen = Vec::new();
        peregrine_runtime::run::observe(engine, &argv, &mut |a| {
            seen.push(peregrine_ruletest::Observed::new(
                &a.rule,
                a.priority.as_str(),
                &a.output,
                &a.output_fields,
            ));
        })
        .map_err(|e| e.to_string())?;
        Ok(Some(seen))
    }

    fn why_not(&self) -> Option<String> {
        (!peregrine_runtime::run::can_capture())
            .then(|| "a command input needs root (the kernel capture)".to_string())
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<RuntimeError>()
        .is_some_and(RuntimeError::is_broken_pipe)
        || err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(args: HiArgs) -> anyhow::Result<ExitCode> {
    if args.config_files.is_empty() {
        log::info!("No configuration file: using the built-in defaults");
    } else {
        let files: Vec<_> = args
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        log::info!(
            "Configuration files loaded: {}",
            peregrine_filter::escape::terminal_safe(&files.join(", "))
        );
    }
    for warning in &args.warnings {
        log::warn!("{warning}");
    }
    let setup = Setup {
        config: &args.config,
        rules: &args.rules,
        embedded: defaults::EMBEDDED,
        config_file: args.config_file.as_deref(),
        config_drop_ins: args.config_files.get(1..).unwrap_or_default(),
    };
    let mut out = std::io::stdout().lock();
    let json = args.config.outputs.format.json_output;
    let success = match args.mode {
        Mode::ParseCondition(expr) => modes::parse_condition(&expr, &mut out)?,
        // The live modes write their own (buffered) stdout.
        Mode::Events(events) => {
            drop(out);
            events::run(events)?;
            return Ok(ExitCode::SUCCESS);
        }
        Mode::Capture(capture) => {
            drop(out);
            capture::run(capture)?;
            return Ok(ExitCode::SUCCESS);
        }
        Mode::RunCommand(run) => {
            drop(out);
            let code = peregrine_runtime::run::run(&setup, &run)?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        Mode::Test(flags) => {
            let test = peregrine_ruletest::cli::TestArgs {
                paths: flags.paths,
                junit: flags.junit,
                tap: flags.tap,
            };
            peregrine_ruletest::cli::test(&test, Some(&LiveCommands), &mut out)?
        }
        Mode::Tune(flags) => {
            let rules = if flags.rules.is_empty() {
                args.rules.inputs(defaults::EMBEDDED)
            } else {
                flags.rules.into_iter().map(RulesInput::File).collect()
            };
            let tune = peregrine_ruletest::cli::TuneArgs {
                from: flags.from,
                store: flags.store,
                rules,
                output: flags.output,
            };
            // The summary goes to stderr when the rules file itself goes to stdout.
            if tune.output.is_some() {
                peregrine_ruletest::cli::tune(&tune, &mut out)?;
            } else {
                drop(out);
                peregrine_ruletest::cli::tune(&tune, &mut std::io::stderr())?;
                return Ok(ExitCode::SUCCESS);
            }
            true
        }
        Mode::Learn(flags) => {
            let command: Vec<String> = flags
                .command
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect();
            let learn = peregrine_ruletest::cli::LearnArgs {
                image: flags.image,
                output: flags.output,
                profile: flags.profile,
                watched: if command.is_empty() {
                    format!("the host for {} s", flags.seconds)
                } else {
                    command.join(" ")
                },
            };
            let seconds = std::time::Duration::from_secs(flags.seconds);
            let mut watch = |engine, take: &mut dyn FnMut(&peregrine_ruletest::Observed)| {
                let mut on_alert = |a: peregrine_outputs::Alert| {
                    take(&peregrine_ruletest::Observed::new(
                        &a.rule,
                        a.priority.as_str(),
                        &a.output,
                        &a.output_fields,
                    ))
                };
                let done = if flags.command.is_empty() {
                    peregrine_runtime::run::observe_host(engine, seconds, &mut on_alert)
                } else {
                    peregrine_runtime::run::observe(engine, &flags.command, &mut on_alert)
                        .map(|_| ())
                };
                done.map_err(|e| e.to_string())
            };
            peregrine_ruletest::cli::learn(&learn, &mut watch, &mut out)?;
            true
        }
        Mode::Server(server) => {
            drop(out);
            let code = peregrine_runtime::fleet::serve(&args.config, &server)?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        Mode::Version => listing::write_version(&mut out).map(|()| true)?,
        Mode::IgnoredEvents => info::write_ignored_events(&mut out).map(|()| true)?,
        Mode::ListEvents { json } => info::write_events(&mut out, json).map(|()| true)?,
        Mode::ConfigSchema => info::write_config_schema(&mut out).map(|()| true)?,
        Mode::RuleSchema => info::write_rule_schema(&mut out).map(|()| true)?,
        Mode::PageSize => info::write_page_size(&mut out).map(|()| true)?,
        Mode::ListPlugins => info::write_plugins(&mut out).map(|()| true)?,
        Mode::PluginInfo(name) => info::plugin_info(&name, &mut out).map(|()| true)?,
        Mode::Support => modes::support(&setup, &mut out).map(|()| true)?,
        Mode::ListFields {
            source,
            format,
            names_only,
            verbose,
        } => listing::write_fields(
            &mut out,
            source.as_deref(),
            format.into(),
            names_only,
            verbose,
            &args.config.event_sources(),
        )
        .map(|()| true)?,
        Mode::Validate(files) => modes::validate(
            &files,
            &args.config.response_files,
            &args.config.native_plugins(),
            json,
            args.verbose,
            &mut out,
        )?,
        Mode::ListRules => modes::list_rules(&setup, &mut out)?,
        Mode::Describe(rule) => modes::describe(&setup, &rule, &mut out)?,
        Mode::Run { dry_run, duration } => {
            let run = RunArgs {
                dry_run,
                duration,
                pidfile: args.pidfile.clone(),
            };
            let code = modes::run(&setup, &run, out)?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
    };
    out.flush()?;
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[test]
    fn each_cause_once_and_no_terminal_control() {
        let io = std::io::Error::other("not a regular file");
        let err = anyhow::Error::new(io)
            .context("cannot read configuration file /dev/zero: not a regular file")
            .context("loading \u{1b}[2Jconfig");
        assert_eq!(
            error_chain(&err),
            "loading \\e[2Jconfig: cannot read configuration file /dev/zero: not a regular file"
        );
        let snippet = anyhow::anyhow!(
            "unknown event type 'opne' (line 1, column 10)\n  evt.type=opne\n           ^"
        );
        assert_eq!(
            error_chain(&snippet).lines().count(),
            3,
            "line breaks are kept"
        );
    }
}
