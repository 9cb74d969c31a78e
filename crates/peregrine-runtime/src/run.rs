//! `peregrine run [--fail-on PRIORITY] [--report FILE] -- CMD ARGS…`: the rules watching one
//! command for a CI job. CMD runs as a child; only alerts from its process tree count; the
//! exit status is CMD's own unless an alert at or above PRIORITY fired ([`EXIT_ALERT`]).
//!
//! Key decisions:
//! - The capture is attached (the shared [`live::start`]) before CMD is spawned, so CMD's
//!   first exec is seen; no pipe handshake is needed because the tree is known by pid after
//!   `spawn` returns and events are only processed after that, on this thread.
//! - The tree is selected in user space: the kernel's `only_tgid` filter takes one thread
//!   group and CMD's descendants have their own. A process belongs to the tree when CMD's pid
//!   is on its parent chain in the state; members are remembered at clone/exec time, so a
//!   daemonised grandchild (reparented to init) stays in. The cost: the whole host is
//!   captured and evaluated as by the agent; only matches pay the chain walk.
//! - Alerts go straight to the outputs dispatcher (printed per `json_output`), not through
//!   any agent-side triage such as deduplication: in a CI job every alert matters.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use peregrine_engine::live::LiveOptions;
use peregrine_engine::{Match, Pipeline};
use peregrine_event::raw::{KIND_PROCEXIT, KIND_SYSCALL};
use peregrine_event::{nr, Event};
use peregrine_filter::priority::Priority;
use peregrine_outputs::format::FormatOptions;
use peregrine_outputs::{Alert, OutputValue};
use peregrine_state::{State, StateConfig};

use crate::agent;
use crate::error::{Context, Result, RuntimeError};
use crate::live::{self, Seed};
use crate::modes::Setup;

/// The exit status of `peregrine run` when an alert at or above `--fail-on` fired. The
/// binary's own statuses are 0, 1 (an error: bad flags, rules that do not load, no root) and
/// 2 (clap's usage error), so 3 is free; CMD's own statuses pass through unchanged.
pub const EXIT_ALERT: i32 = 3;

/// How long one capture slice runs before the child's status and forwarded signals are
/// looked at.
const SLICE: Duration = Duration::from_millis(20);

/// After CMD exits, how long events still on their way through the ring are drained.
const TAIL: Duration = Duration::from_millis(200);

/// The most alerts a run keeps for its report (a CMD that loops on a detected action must
/// not exhaust the guard's memory); later ones are printed and counted, not kept.
pub const MAX_KEPT_ALERTS: usize = 10_000;

/// The longest parent chain walked to find CMD (deeper trees are not expected in a job).
const MAX_DEPTH: usize = 64;

/// The report file's format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReportFormat {
    /// `{command, status, signal, exit_code, fail_on, failed, duration_seconds, alerts}`,
    /// each alert as Falco's JSON alert.
    #[default]
    Json,
    /// JUnit XML: one test case for the command, one per rule that fired.
    Junit,
    /// SARIF 2.1.0: one result per alert, the fired rules as the driver's rules.
    Sarif,
}

/// What `peregrine run` runs with beyond the [`Setup`].
#[derive(Clone, Debug, Default)]
pub struct RunCmdArgs {
    /// CMD and its arguments.
    pub command: Vec<OsString>,
    /// `--fail-on`: the least severe priority that fails the run; `None` means any alert.
    pub fail_on: Option<Priority>,
    /// `--report FILE`.
    pub report: Option<PathBuf>,
    /// `--report-format`.
    pub report_format: ReportFormat,
}

/// CMD's process tree, as pids (thread group ids).
#[derive(Debug)]
struct Tree {
    members: std::collections::HashSet<i64>,
}

impl Tree {
    fn new(root: i64) -> Tree {
        Tree {
            members: [root].into_iter().collect(),
        }
    }

    /// Whether `pid` is CMD or one of its descendants (remembered once found).
    fn contains(&mut self, state: &State, pid: i64) -> bool {
        if self.members.contains(&pid) {
            return true;
        }
        let mut chain = Vec::new();
        let mut p = pid;
        for _ in 0..MAX_DEPTH {
            let Some(process) = state.process(p) else {
                return false;
            };
            chain.push(p);
            let parent = process.ppid;
            if self.members.contains(&parent) {
                self.members.extend(chain);
                return true;
            }
            if parent <= 1 || parent == p {
                return false;
            }
            p = parent;
        }
        false
    }

    /// Before a member's exit is processed: its children join the tree by name, since the
    /// state then re-parents them (a daemon's double fork, `podman`'s conmon) and the chain
    /// to CMD is gone.
    fn adopt_children(&mut self, state: &State, ev: &Event<'_>) {
        let pid = i64::from(ev.pid());
        if !is_leader_exit(ev) || !self.members.contains(&pid) {
            return;
        }
        let children = state.table().procs.values().filter(|p| p.ppid == pid);
        self.members.extend(children.map(|p| p.pid));
    }

    /// Follows process lifecycle events: a new process is placed when it appears, before a
    /// parent's exit could reparent it; a leader's exit frees its pid for reuse.
    fn observe(&mut self, state: &State, ev: &Event<'_>) {
        let pid = i64::from(ev.pid());
        // On the syscall number, as the state dispatches: no string compares per event.
        let creates = ev.raw.kind == KIND_SYSCALL
            && matches!(
                ev.raw.nr,
                nr::CLONE | nr::CLONE3 | nr::FORK | nr::VFORK | nr::EXECVE | nr::EXECVEAT
            );
        if creates {
            self.contains(state, pid);
        } else if is_leader_exit(ev) {
            self.members.remove(&pid);
        }
    }
}

/// The exit of a thread-group leader: the process is gone and its pid can be reused.
fn is_leader_exit(ev: &Event<'_>) -> bool {
    ev.raw.kind == KIND_PROCEXIT && ev.tid() == ev.pid()
}

/// The end of a run, for the report.
#[derive(Debug)]
pub struct Outcome {
    pub command: Vec<String>,
    /// CMD's exit code, `None` when a signal ended it.
    pub status: Option<i32>,
    /// The signal that ended CMD.
    pub signal: Option<i32>,
    /// `peregrine run`'s own exit status.
    pub exit_code: i32,
    pub fail_on: Option<Priority>,
    pub duration: Duration,
    /// Start time, ns since the epoch.
    pub started_ns: u64,
    /// The alerts from CMD's tree, in order (the first [`MAX_KEPT_ALERTS`]).
    pub alerts: Vec<Alert>,
    /// Alerts printed but not kept, and whether one of them fails the run.
    pub omitted: u64,
    pub omitted_fail: bool,
}

/// Whether `alert` is at or above `fail_on` (any alert when there is none).
fn fails(fail_on: Option<Priority>, alert: &Alert) -> bool {
    fail_on.is_none_or(|min| alert.priority <= min)
}

impl Outcome {
    /// Whether `alert` fails the run.
    pub fn fails(&self, alert: &Alert) -> bool {
        fails(self.fail_on, alert)
    }

    /// Whether any alert failed the run.
    pub fn failed(&self) -> bool {
        self.omitted_fail || self.alerts.iter().any(|a| self.fails(a))
    }

    fn fail_on_name(&self) -> &'static str {
        self.fail_on.map_or("Debug", Priority::as_str)
    }

    /// The command line, words joined by spaces.
    fn command_line(&self) -> String {
        self.command.join(" ")
    }
}

/// Runs `args.command` under the rules of `setup`; returns the exit status (see the module).
pub fn run(setup: &Setup<'_>, args: &RunCmdArgs) -> Result<i32> {
    let Some(program) = args.command.first() else {
        return Err(RuntimeError::Invalid(
            "peregrine run: no command given (peregrine run [OPTIONS] -- CMD ARGS…)".into(),
        ));
    };
    // Created now, so that a report that cannot be written stops the run before CMD does
    // anything.
    let report = args
        .report
        .as_deref()
        .map(|path| {
            std::fs::File::create(path)
                .map(|file| (path, file))
                .with_context(|| format!("creating the report {}", path.display()))
        })
        .transpose()?;
    // Said before anything starts: CMD unwatched would be a CI job that passes unchecked.
    if !peregrine_capture::have_bpf_privileges() {
        return Err(RuntimeError::Invalid(
            "peregrine run needs root to load the kernel capture; the command was not run".into(),
        ));
    }
    let config = setup.config;
    let Some(loaded) = setup.load() else {
        return Ok(1);
    };
    let engine = agent::engine_for(config, loaded.ruleset)?;
    let outputs = config.outputs.build().context("starting the outputs")?;
    let mut pipe = Pipeline::new(Arc::new(engine), StateConfig::default());
    let opts = LiveOptions {
        base: config.base_syscalls.clone(),
        ring_bytes: config.ring_buffer_bytes,
        ..LiveOptions::default()
    };
    let mut live = live::start(&mut pipe, opts, Seed::Required)?;
    // SIGINT/SIGTERM also set the live stop flag; here they are passed on to CMD and the run
    // ends when CMD does.
    let forward = [
        (signal_hook::consts::SIGINT, rustix::process::Signal::INT),
        (signal_hook::consts::SIGTERM, rustix::process::Signal::TERM),
    ]
    .map(|(sig, to)| {
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(sig, flag.clone())
            .map(|_| (flag, to))
            .context("installing signal handler")
    });
    let forward: Vec<_> = forward.into_iter().collect::<Result<_>>()?;

    // A signal during start-up means the job was cancelled before CMD could start.
    for (flag, sig) in &forward {
        if flag.load(Ordering::Relaxed) {
            eprintln!("peregrine run: cancelled by a signal before the command started");
            return Ok(128 + sig.as_raw());
        }
    }
    let started = Instant::now();
    let started_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut child = Command::new(program)
        .args(&args.command[1..])
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let child_pid = child.id();
    let mut tree = Tree::new(i64::from(child_pid));
    let hostname = peregrine_outputs::hostname();
    let static_fields: Vec<(String, OutputValue)> = config
        .static_fields
        .iter()
        .map(|(k, v)| (k.clone(), OutputValue::Str(v.clone())))
        .collect();
    let mut alerts = Vec::new();
    let (mut omitted, mut omitted_fail) = (0u64, false);
    let mut pending: Vec<Alert> = Vec::new();
    let mut step = |pipe: &mut Pipeline, ev: &Event<'_>| {
        tree.adopt_children(pipe.state(), ev);
        pipe.process(ev, &mut |m: &Match<'_>| {
            pending.push(agent::to_alert(m, &hostname, &static_fields));
        });
        // Membership is decided after the state took the event, so a new process's first
        // event already knows its parent.
        if !pending.is_empty() && tree.contains(pipe.state(), i64::from(ev.pid())) {
            for alert in pending.drain(..) {
                if alerts.len() < MAX_KEPT_ALERTS {
                    outputs.enqueue(alert.clone());
                    alerts.push(alert);
                } else {
                    omitted += 1;
                    omitted_fail |= fails(args.fail_on, &alert);
                    outputs.enqueue(alert);
                }
            }
        }
        pending.clear();
        tree.observe(pipe.state(), ev);
    };

    let status = loop {
        let slice = live.run(&mut pipe, Some(Instant::now() + SLICE), &mut step);
        if let Err(e) = slice {
            stop_child(&mut child);
            return Err(e);
        }
        for (flag, sig) in &forward {
            if flag.swap(false, Ordering::Relaxed) {
                let pid = i32::try_from(child_pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw);
                if let Some(pid) = pid {
                    // The child may have exited between the look and the kill: nothing to do.
                    let _ = rustix::process::kill_process(pid, *sig);
                }
            }
        }
        // The run's end is CMD's end, not a signal's.
        live.stop.store(false, Ordering::Relaxed);
        if let Some(status) = exited(&mut child)? {
            break status;
        }
    };
    // What CMD's tree did just before the exit may still be in the ring or in per-CPU
    // batches.
    live.run(&mut pipe, Some(Instant::now() + TAIL), &mut step)?;
    live.finish(&mut pipe, &mut step)?;
    agent::shutdown_outputs(outputs);

    let mut outcome = Outcome {
        command: args
            .command
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect(),
        status: status.code(),
        signal: signal_of(status),
        exit_code: 0,
        fail_on: args.fail_on,
        duration: started.elapsed(),
        started_ns,
        alerts,
        omitted,
        omitted_fail,
    };
    outcome.exit_code = if outcome.failed() {
        EXIT_ALERT
    } else {
        status_code(status)
    };
    eprintln!("{}", summary(&outcome));
    if let Some((path, file)) = report {
        write_report(file, args.report_format, &outcome)
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    Ok(outcome.exit_code)
}

/// Whether this process may load the kernel capture (what [`observe`] needs).
pub fn can_capture() -> bool {
    peregrine_capture::have_bpf_privileges()
}

/// Runs `command` under `engine` and hands every alert from its process tree to `on_alert`;
/// returns the command's status. `peregrine test`'s live input: the tree selection of
/// [`run`] without its outputs, report or signal forwarding.
pub fn observe(
    engine: Arc<peregrine_engine::Engine>,
    command: &[OsString],
    on_alert: &mut dyn FnMut(Alert),
) -> Result<ExitStatus> {
    let Some(program) = command.first() else {
        return Err(RuntimeError::Invalid("no command given".into()));
    };
    if !can_capture() {
        return Err(RuntimeError::Invalid(
            "running a command under the rules needs root to load the kernel capture".into(),
        ));
    }
    let mut pipe = Pipeline::new(engine, StateConfig::default());
    let mut live = live::start(&mut pipe, LiveOptions::default(), Seed::Required)?;
    let mut child = Command::new(program)
        .args(&command[1..])
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let mut tree = Tree::new(i64::from(child.id()));
    let hostname = peregrine_outputs::hostname();
    let mut pending: Vec<Alert> = Vec::new();
    let mut step = |pipe: &mut Pipeline, ev: &Event<'_>| {
        tree.adopt_children(pipe.state(), ev);
        pipe.process(ev, &mut |m: &Match<'_>| {
            pending.push(agent::to_alert(m, &hostname, &[]));
        });
        // As in `run`: membership is decided once the state took the event.
        if !pending.is_empty() && tree.contains(pipe.state(), i64::from(ev.pid())) {
            pending.drain(..).for_each(&mut *on_alert);
        }
        pending.clear();
        tree.observe(pipe.state(), ev);
    };
    let status = loop {
        if let Err(e) = live.run(&mut pipe, Some(Instant::now() + SLICE), &mut step) {
            stop_child(&mut child);
            return Err(e);
        }
        live.stop.store(false, Ordering::Relaxed);
        if let Some(status) = exited(&mut child)? {
            break status;
        }
    };
    live.run(&mut pipe, Some(Instant::now() + TAIL), &mut step)?;
    live.finish(&mut pipe, &mut step)?;
    Ok(status)
}

/// Watches the whole host for `duration` (or until SIGINT/SIGTERM) under `engine` and hands
/// every alert to `on_alert`: `peregrine learn` without a command.
pub fn observe_host(
    engine: Arc<peregrine_engine::Engine>,
    duration: Duration,
    on_alert: &mut dyn FnMut(Alert),
) -> Result<()> {
    if !can_capture() {
        return Err(RuntimeError::Invalid(
            "watching the host needs root to load the kernel capture".into(),
        ));
    }
    let mut pipe = Pipeline::new(engine, StateConfig::default());
    let mut live = live::start(&mut pipe, LiveOptions::default(), Seed::Required)?;
    let hostname = peregrine_outputs::hostname();
    let mut step = |pipe: &mut Pipeline, ev: &Event<'_>| {
        pipe.process(ev, &mut |m: &Match<'_>| {
            on_alert(agent::to_alert(m, &hostname, &[]));
        });
    };
    let end = Instant::now() + duration;
    while Instant::now() < end && !live.stopped() {
        live.run(&mut pipe, Some(end.min(Instant::now() + SLICE)), &mut step)?;
    }
    live.finish(&mut pipe, &mut step)?;
    Ok(())
}

/// Ends CMD when the run itself failed: an unwatched job must not go on as if watched.
fn stop_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// CMD's status once it has exited (without waiting); a failure to ask ends CMD.
fn exited(child: &mut Child) -> Result<Option<ExitStatus>> {
    child.try_wait().or_else(|e| {
        stop_child(child);
        Err(e).context("waiting for the command")
    })
}

fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// CMD's status as a shell reports it: the exit code, or 128 + the signal.
fn status_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| signal_of(status).map(|s| 128 + s))
        .unwrap_or(1)
}

/// The one line on stderr at the end.
fn summary(o: &Outcome) -> String {
    let failing = o.alerts.iter().filter(|a| o.fails(a)).count();
    let ended = match (o.status, o.signal) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "ended".to_string(),
    };
    format!(
        "peregrine run: {} alert(s), {failing} at or above {}; the command {ended}; exit status {}",
        o.alerts.len() as u64 + o.omitted,
        o.fail_on_name(),
        o.exit_code
    )
}

/// Writes the report to `out` in `format`.
pub fn write_report(mut out: impl Write, format: ReportFormat, o: &Outcome) -> Result<()> {
    let text = match format {
        ReportFormat::Json => serde_json::to_string_pretty(&json_report(o))?,
        ReportFormat::Junit => junit_report(o),
        ReportFormat::Sarif => serde_json::to_string_pretty(&sarif_report(o))?,
    };
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Falco's JSON alert (every property included), as a value.
fn alert_json(alert: &Alert) -> serde_json::Value {
    let format = FormatOptions {
        json_output: true,
        json_include_output_property: true,
        json_include_tags_property: true,
        json_include_message_property: false,
        json_include_output_fields_property: true,
        time_format_iso_8601: false,
    };
    serde_json::from_str(&format.json_line(alert))
        .unwrap_or_else(|_| serde_json::Value::String(alert.output.clone()))
}

/// The JSON report.
pub fn json_report(o: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "command": o.command,
        "status": o.status,
        "signal": o.signal,
        "exit_code": o.exit_code,
        "fail_on": o.fail_on_name(),
        "failed": o.failed(),
        "duration_seconds": o.duration.as_secs_f64(),
        "alerts": o.alerts.iter().map(alert_json).collect::<Vec<_>>(),
        "alerts_omitted": o.omitted,
    })
}

/// The rules that fired, in order of first alert, with their alerts.
fn by_rule(o: &Outcome) -> Vec<(&str, Vec<&Alert>)> {
    let mut rules: Vec<(&str, Vec<&Alert>)> = Vec::new();
    for a in &o.alerts {
        match rules.iter_mut().find(|(r, _)| *r == a.rule) {
            Some((_, list)) => list.push(a),
            None => rules.push((&a.rule, vec![a])),
        }
    }
    rules
}

/// Text for XML content and attribute values: the five markup characters as entities, and
/// characters XML 1.0 cannot carry at all (most C0 controls) as `\xNN`, so that what a
/// process put in its command line neither breaks the document nor disappears.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report: the command is one test case (failed when an alert at or above
/// `--fail-on` fired), each rule that fired another.
pub fn junit_report(o: &Outcome) -> String {
    let text = FormatOptions::default();
    let lines = |alerts: &[&Alert]| {
        alerts
            .iter()
            .map(|a| text.text_line(a))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let rules = by_rule(o);
    let tests = 1 + rules.len();
    let failures = usize::from(o.failed())
        + rules
            .iter()
            .filter(|(_, alerts)| alerts.iter().any(|a| o.fails(a)))
            .count();
    let time = format!("{:.3}", o.duration.as_secs_f64());
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"peregrine run\" tests=\"{tests}\" failures=\"{failures}\" time=\"{time}\">\n"
    ));
    x.push_str(&format!(
        "  <testsuite name=\"peregrine run\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">\n"
    ));
    let all: Vec<&Alert> = o.alerts.iter().collect();
    x.push_str(&format!(
        "    <testcase classname=\"peregrine.run\" name=\"{}\" time=\"{time}\">\n",
        xml_escape(&o.command_line())
    ));
    if o.failed() {
        let failing: Vec<&Alert> = o.alerts.iter().filter(|a| o.fails(a)).collect();
        x.push_str(&format!(
            "      <failure type=\"alert\" message=\"{} alert(s) at or above {}\">{}</failure>\n",
            failing.len(),
            o.fail_on_name(),
            xml_escape(&lines(&failing))
        ));
    }
    x.push_str(&format!(
        "      <system-out>{}</system-out>\n    </testcase>\n",
        xml_escape(&format!(
            "{}{}exit status {}",
            lines(&all) + if all.is_empty() { "" } else { "\n" },
            if o.omitted > 0 {
                format!("{} more alert(s) not kept\n", o.omitted)
            } else {
                String::new()
            },
            o.status.map_or_else(
                || format!("signal {}", o.signal.unwrap_or(0)),
                |s| s.to_string()
            )
        ))
    ));
    for (rule, alerts) in &rules {
        x.push_str(&format!(
            "    <testcase classname=\"peregrine.rule\" name=\"{}\">\n",
            xml_escape(rule)
        ));
        if alerts.iter().any(|a| o.fails(a)) {
            x.push_str(&format!(
                "      <failure type=\"{}\" message=\"{} alert(s)\">{}</failure>\n",
                alerts[0].priority.as_str(),
                alerts.len(),
                xml_escape(&lines(alerts))
            ));
        } else {
            x.push_str(&format!(
                "      <system-out>{}</system-out>\n",
                xml_escape(&lines(alerts))
            ));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>");
    x
}

/// SARIF's level for a Falco priority.
fn sarif_level(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => "error",
        Priority::Warning => "warning",
        Priority::Notice | Priority::Informational | Priority::Debug => "note",
    }
}

/// The SARIF 2.1.0 log: one run, the fired rules as the driver's rules, one result per alert.
pub fn sarif_report(o: &Outcome) -> serde_json::Value {
    let rules = by_rule(o);
    let rule_objects: Vec<_> = rules
        .iter()
        .map(|(rule, alerts)| {
            serde_json::json!({
                "id": rule,
                "name": rule,
                "shortDescription": {"text": rule},
                "defaultConfiguration": {"level": sarif_level(alerts[0].priority)},
                "properties": {"tags": alerts[0].tags, "priority": alerts[0].priority.as_str()},
            })
        })
        .collect();
    let results: Vec<_> = o
        .alerts
        .iter()
        .map(|a| {
            let index = rules.iter().position(|(r, _)| *r == a.rule).unwrap_or(0);
            serde_json::json!({
                "ruleId": a.rule,
                "ruleIndex": index,
                "level": sarif_level(a.priority),
                "message": {"text": a.output},
                "properties": {
                    "priority": a.priority.as_str(),
                    "time_ns": a.time_ns,
                    "failsRun": o.fails(a),
                    "alert": alert_json(a),
                },
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "peregrine",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://falco.org/docs/rules/",
                "rules": rule_objects,
            }},
            "invocations": [{
                "commandLine": o.command_line(),
                "arguments": o.command,
                "exitCode": o.status,
                "executionSuccessful": !o.failed(),
                "startTimeUtc": iso(o.started_ns),
            }],
            "results": results,
        }],
    })
}

fn iso(ns: u64) -> String {
    let mut s = String::new();
    peregrine_outputs::format::iso_time(ns, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(alerts: Vec<Alert>, fail_on: Option<Priority>) -> Outcome {
        Outcome {
            command: vec!["sh".into(), "-c".into(), "cat </etc/shadow".into()],
            status: Some(0),
            signal: None,
            exit_code: 0,
            fail_on,
            duration: Duration::from_millis(1500),
            started_ns: 1_700_000_000_000_000_000,
            alerts,
            omitted: 0,
            omitted_fail: false,
        }
    }

    #[test]
    fn fail_on_is_a_floor_of_severity() {
        let warn = Alert::new(1, "r1", Priority::Warning, "out");
        let note = Alert::new(2, "r2", Priority::Notice, "out");
        let o = outcome(vec![note.clone()], Some(Priority::Warning));
        assert!(!o.failed(), "a Notice alert is below Warning");
        let o = outcome(vec![note, warn], Some(Priority::Warning));
        assert!(o.failed());
        let o = outcome(vec![Alert::new(1, "r", Priority::Debug, "x")], None);
        assert!(o.failed(), "without --fail-on any alert fails the run");
        let mut o = outcome(Vec::new(), Some(Priority::Warning));
        o.omitted = 5;
        assert!(!o.failed());
        o.omitted_fail = true;
        assert!(
            o.failed(),
            "an alert past the kept ones still fails the run"
        );
    }

    #[test]
    fn xml_escapes_markup_and_controls() {
        assert_eq!(
            xml_escape("a<b>&\"c'\u{1b}[2J\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\\x1b[2J\n"
        );
    }

    #[test]
    fn junit_counts_the_command_and_each_rule() {
        let alerts = vec![
            Alert::new(1, "Read <sensitive>", Priority::Warning, "file=/etc/shadow"),
            Alert::new(2, "Read <sensitive>", Priority::Warning, "again"),
            Alert::new(3, "Quiet", Priority::Notice, "note"),
        ];
        let x = junit_report(&outcome(alerts, Some(Priority::Warning)));
        assert!(x.contains("tests=\"3\" failures=\"2\""), "{x}");
        assert!(x.contains("name=\"Read &lt;sensitive&gt;\""), "{x}");
        assert!(x.contains("name=\"sh -c cat &lt;/etc/shadow\""), "{x}");
        assert_eq!(x.matches("<failure").count(), 2, "{x}");
    }

    #[test]
    fn sarif_has_a_result_per_alert() {
        let alerts = vec![Alert::new(1, "R", Priority::Error, "o")];
        let s = sarif_report(&outcome(alerts, None));
        assert_eq!(s["version"], "2.1.0");
        let run = &s["runs"][0];
        assert_eq!(run["results"][0]["ruleId"], "R");
        assert_eq!(run["results"][0]["level"], "error");
        assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "R");
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    }
}
