//! What `peregrine test` and `peregrine tune` do, for the binary to call with parsed flags.

use std::io::Write;
use std::path::PathBuf;

use peregrine_rules::load::{self, RulesInput};

use crate::run::{run_file, CommandRunner, FileOutcome};
use crate::{report, tune, Error};

/// `peregrine test` flags.
#[derive(Clone, Debug, Default)]
pub struct TestArgs {
    pub paths: Vec<PathBuf>,
    /// `--junit FILE`: JUnit XML written there as well.
    pub junit: Option<PathBuf>,
    /// `--tap`: TAP on stdout instead of the text report.
    pub tap: bool,
}

/// Runs the test files; returns whether every test passed (a file that cannot be run counts
/// as a failure, reported with its position, and the other files still run).
pub fn test(
    args: &TestArgs,
    runner: Option<&dyn CommandRunner>,
    out: &mut dyn Write,
) -> Result<bool, Error> {
    let files = crate::collect_files(&args.paths)?;
    if files.is_empty() {
        return Err(Error::Other(
            "no test files (give files, or directories holding *.yaml)".into(),
        ));
    }
    let mut outcomes: Vec<FileOutcome> = Vec::new();
    let mut broken = 0;
    for f in &files {
        match run_file(f, runner) {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                broken += 1;
                let text = e.to_string();
                let lines: Vec<String> = text
                    .lines()
                    .map(peregrine_filter::escape::terminal_safe)
                    .collect();
                let _ = writeln!(out, "error: {}", lines.join("\n"));
            }
        }
    }
    let io = |source| Error::Write {
        path: PathBuf::from("<stdout>"),
        source,
    };
    if args.tap {
        out.write_all(report::tap(&outcomes).as_bytes())
            .map_err(io)?;
    } else {
        out.write_all(report::text(&outcomes).as_bytes())
            .map_err(io)?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&outcomes)).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(broken == 0 && report::totals(&outcomes).failed == 0)
}

/// `peregrine tune` flags.
#[derive(Clone, Debug, Default)]
pub struct TuneArgs {
    /// `--from FILE`: Falco JSON alerts, one per line (or the alert store's JSON-lines export).
    pub from: Option<PathBuf>,
    /// `--store PATH`: the alert store's database.
    pub store: Option<PathBuf>,
    /// The rules the alerts came from, in load order.
    pub rules: Vec<RulesInput>,
    /// `-o FILE`; stdout without it.
    pub output: Option<PathBuf>,
}

/// Proposes exceptions and writes the tuned rules file; checks that it loads after the rules
/// it tunes. Returns the tuning (for the summary).
pub fn tune(args: &TuneArgs, summary: &mut dyn Write) -> Result<tune::Tuning, Error> {
    let (alerts, source, skipped) = match (&args.from, &args.store) {
        (Some(f), None) => {
            let (a, skipped) = tune::read_jsonl(f)?;
            (a, f.display().to_string(), skipped)
        }
        (None, Some(s)) => (
            tune::read_store(s)?,
            format!("the alert store {}", s.display()),
            0,
        ),
        _ => {
            return Err(Error::Other(
                "peregrine tune: give exactly one of --from FILE and --store PATH".into(),
            ))
        }
    };
    let loaded = load::load(&args.rules);
    if !loaded.successful() {
        return Err(Error::Rules {
            file: PathBuf::from(args.rules.first().map(RulesInput::name).unwrap_or_default()),
            report: loaded.report(true),
        });
    }
    let texts: Vec<String> = args
        .rules
        .iter()
        .map(|r| match r {
            RulesInput::Text { content, .. } => content.clone(),
            RulesInput::File(p) => std::fs::read_to_string(p).unwrap_or_default(),
        })
        .collect();
    let declared = tune::declared_exceptions(&texts);
    let tuning = tune::propose(&alerts, &loaded.ruleset, &declared);
    let text = tune::render(&tuning, &source, alerts.len());
    // What is written must load after the rules it tunes, as `peregrine -V` would check it.
    let mut check = args.rules.clone();
    check.push(RulesInput::Text {
        name: "tuned.yaml".into(),
        content: text.clone(),
    });
    let checked = load::load(&check);
    if !checked.successful() {
        return Err(Error::Other(format!(
            "internal: the tuned rules do not load:\n{}",
            checked.report(true)
        )));
    }
    match &args.output {
        Some(p) => std::fs::write(p, &text).map_err(|source| Error::Write {
            path: p.clone(),
            source,
        })?,
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|source| Error::Write {
                path: PathBuf::from("<stdout>"),
                source,
            })?,
    }
    let _ = writeln!(
        summary,
        "{} alerts read ({} lines skipped); {} rule(s) tuned, {} left out",
        alerts.len(),
        skipped,
        tuning.proposals.len(),
        tuning.skipped.len()
    );
    for p in &tuning.proposals {
        let _ = writeln!(
            summary,
            "  {:>7}  {}: exception {} with {} value(s)",
            p.alerts,
            peregrine_filter::escape::terminal_safe(&p.rule),
            p.exception,
            p.values.len()
        );
    }
    for s in &tuning.skipped {
        let _ = writeln!(
            summary,
            "  {:>7}  {}: left out ({})",
            s.alerts,
            peregrine_filter::escape::terminal_safe(&s.rule),
            peregrine_filter::escape::terminal_safe(&s.why)
        );
    }
    Ok(tuning)
}

/// `peregrine learn` flags (what to watch is the caller's: a command or the host).
#[derive(Clone, Debug, Default)]
pub struct LearnArgs {
    /// Keep only this container image's scope (`container.image.repository`).
    pub image: Option<String>,
    /// `-o FILE`: the generated rules.
    pub output: PathBuf,
    /// `--profile FILE`: the profile itself.
    pub profile: Option<PathBuf>,
    /// What was watched, for the files' headers.
    pub watched: String,
}

/// What `peregrine learn` watches: handed the fact-gathering engine and a callback for each
/// fact; `Err` with a message when watching failed.
pub type Watch<'a> = dyn FnMut(
        std::sync::Arc<peregrine_engine::Engine>,
        &mut dyn FnMut(&crate::Observed),
    ) -> Result<(), String>
    + 'a;

/// Watches through `watch` (handed the fact-gathering engine and a callback for each fact),
/// then writes the profile and the rules, checked to load first.
pub fn learn(
    args: &LearnArgs,
    watch: &mut Watch<'_>,
    summary: &mut dyn Write,
) -> Result<crate::learn::Profile, Error> {
    let engine = std::sync::Arc::new(crate::learn::engine()?);
    let mut profile = crate::learn::Profile {
        only_image: args.image.clone(),
        ..Default::default()
    };
    watch(engine, &mut |o| profile.observe(o)).map_err(Error::Other)?;
    profile.compact();
    let rules = crate::learn::render_rules(&profile, &args.watched);
    crate::learn::check_rules(&rules)?;
    let write = |path: &PathBuf, text: &str| {
        std::fs::write(path, text).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })
    };
    write(&args.output, &rules)?;
    if let Some(p) = &args.profile {
        write(p, &crate::learn::render_profile(&profile, &args.watched))?;
    }
    for (name, s) in &profile.scopes {
        let _ = writeln!(
            summary,
            "{}: {} executables, {} directories written, {} destinations, {} listening ports",
            peregrine_filter::escape::terminal_safe(name),
            s.executables.len(),
            s.write_dirs.len(),
            s.destinations.len(),
            s.ports.len()
        );
    }
    Ok(profile)
}
