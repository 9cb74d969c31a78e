//! Writing scap capture files: `peregrine capture -w FILE [FILTER]` (sysdig's `-w`), and
//! Falco's rule-triggered capture for the agent (`capture.*` in falco.yaml).
//!
//! Both run the live pipeline (state engine included) and hand each event to
//! `peregrine_engine::capture_file`, which encodes it in today's scap layout; every file
//! starts with the machine, user, process and fd lists of the state at that moment, so it
//! stands alone. The FILTER of `peregrine capture` is a rule condition: compiled as a rule, its
//! event types select what the kernel sends (plus the state's own syscalls) and the whole
//! condition is evaluated with state on each event, exactly as rules are.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use peregrine_engine::capture_file::{machine_info, metadata_from_state, ScapEncoder, Window};
use peregrine_engine::interest::BaseSyscalls;
use peregrine_engine::live::LiveSource;
use peregrine_engine::{AlertSink, Engine, Match, Pipeline, Settings};
use peregrine_event::Event;
use peregrine_scap::{FileOut, MachineInfo, Writer};
use peregrine_state::users::UserDb;
use peregrine_state::{State, StateConfig};

use crate::backend::{self, RulesInput};
use crate::config::{CaptureMode, RuleCapture};

/// Arguments of `peregrine capture`.
#[derive(clap::Args, Debug, Clone)]
pub struct CaptureArgs {
    /// The capture file to write (with rotation: FILE0, FILE1, …).
    #[arg(short = 'w', value_name = "FILE")]
    pub file: PathBuf,
    /// Condition selecting the events to write (Falco's condition language).
    pub filter: Vec<String>,
    /// Stop after N events were written.
    #[arg(short = 'n', long = "numevents")]
    pub numevents: Option<u64>,
    /// Stop after this many seconds.
    #[arg(short = 'M', value_name = "SECS")]
    pub duration: Option<u64>,
    /// Start a new file when the current one holds this many megabytes (10^6 bytes, before
    /// compression).
    #[arg(short = 'C', value_name = "MB")]
    pub file_size_mb: Option<u64>,
    /// Start a new file every SECS seconds.
    #[arg(short = 'G', value_name = "SECS")]
    pub rotate_secs: Option<u64>,
    /// With -C or -G: keep at most N files, overwriting the oldest (FILE0 … FILE<N-1>).
    #[arg(short = 'W', value_name = "N")]
    pub file_count: Option<u32>,
    /// gzip the file(s).
    #[arg(short = 'z', long = "compress")]
    pub gzip: bool,
    /// Kernel ring buffer size in bytes (a power of two).
    #[arg(long, default_value_t = 8 << 20)]
    pub ring_bytes: u32,
}

/// The rule that stands for a capture filter.
const FILTER_RULE: &str = "peregrine capture filter";

/// Compiles FILTER into a one-rule engine (an empty one without filter).
fn filter_engine(filter: &[String]) -> Result<Engine> {
    let text = filter.join(" ");
    let text = text.trim();
    let inputs = if text.is_empty() {
        Vec::new()
    } else {
        // A folded block scalar takes the condition verbatim, quotes and `#` included.
        let content = format!(
            "- rule: {FILTER_RULE}\n  desc: events to write\n  condition: >-\n    {}\n  output: \"%evt.num\"\n  priority: DEBUG\n",
            text.replace('\n', " ")
        );
        vec![RulesInput::Text {
            name: "capture filter".to_string(),
            content,
        }]
    };
    let loaded = backend::load(&inputs);
    if !loaded.successful {
        bail!("invalid filter {text:?}:\n{}", loaded.text(true).trim_end());
    }
    Ok(Engine::new(loaded.into_ruleset(), Settings::default()))
}

/// The files of one capture: the current writer and the rotation policy.
struct Files {
    base: PathBuf,
    gzip: bool,
    rotate: bool,
    max_bytes: Option<u64>,
    period: Option<Duration>,
    max_files: Option<u32>,
    index: u32,
    opened: Instant,
    writer: Option<Writer<FileOut>>,
    users: Option<UserDb>,
    machine: MachineInfo,
}

/// `base` with the rotation index appended (`FILE0`, `FILE1`, …).
fn numbered(base: &Path, index: u32) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(index.to_string());
    PathBuf::from(s)
}

/// Opens a capture file and writes the state's metadata into it.
fn open_capture(
    path: &Path,
    gzip: bool,
    state: &State,
    users: Option<&UserDb>,
    machine: &MachineInfo,
) -> Result<Writer<FileOut>> {
    let out =
        FileOut::create(path, gzip).with_context(|| format!("creating {}", path.display()))?;
    let meta = metadata_from_state(state, users, Some(machine.clone()));
    Writer::new(out, &meta).with_context(|| format!("writing {}", path.display()))
}

fn close_capture(w: Writer<FileOut>, path: &Path) -> Result<()> {
    w.finish()
        .map_err(anyhow::Error::from)
        .and_then(|f| Ok(f.close()?))
        .with_context(|| format!("finishing {}", path.display()))
}

impl Files {
    fn new(args: &CaptureArgs) -> Files {
        Files {
            base: args.file.clone(),
            gzip: args.gzip,
            rotate: args.file_size_mb.is_some() || args.rotate_secs.is_some(),
            max_bytes: args.file_size_mb.map(|mb| mb.saturating_mul(1_000_000)),
            period: args.rotate_secs.map(Duration::from_secs),
            max_files: args.file_count.filter(|n| *n > 0),
            index: 0,
            opened: Instant::now(),
            writer: None,
            users: UserDb::load(Path::new("/")),
            machine: machine_info(Path::new("/proc")),
        }
    }

    fn path(&self) -> PathBuf {
        if !self.rotate {
            return self.base.clone();
        }
        numbered(
            &self.base,
            self.max_files.map_or(self.index, |n| self.index % n),
        )
    }

    fn open(&mut self, state: &State) -> Result<()> {
        let path = self.path();
        self.writer = Some(open_capture(
            &path,
            self.gzip,
            state,
            self.users.as_ref(),
            &self.machine,
        )?);
        self.opened = Instant::now();
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        match self.writer.take() {
            Some(w) => close_capture(w, &self.path()),
            None => Ok(()),
        }
    }

    /// The writer to use for the next event, rotating first when the policy says so.
    fn writer(&mut self, state: &State) -> Result<&mut Writer<FileOut>> {
        let due = self.writer.as_ref().is_some_and(|w| {
            self.max_bytes.is_some_and(|m| w.position() >= m)
                || self.period.is_some_and(|p| self.opened.elapsed() >= p)
        });
        if due {
            self.close()?;
            self.index = self.index.wrapping_add(1);
        }
        if self.writer.is_none() {
            self.open(state)?;
        }
        self.writer.as_mut().context("capture file not open")
    }
}

/// Runs `peregrine capture` until `-n`, `-M`, SIGINT or SIGTERM; every file is finished.
pub fn run(args: CaptureArgs) -> Result<()> {
    let has_filter = !args.filter.join("").trim().is_empty();
    let engine = Arc::new(filter_engine(&args.filter)?);
    let base = BaseSyscalls {
        all: !has_filter,
        ..BaseSyscalls::default()
    };
    let mut pipe = Pipeline::new(engine.clone(), StateConfig::default());
    pipe.state_mut().seed_from_proc().context("reading /proc")?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handler")?;
    }
    let mut live =
        LiveSource::open(&engine, base, args.ring_bytes).context("attaching to the kernel")?;
    let mut files = Files::new(&args);
    // The first file exists (with its metadata) even if no event arrives.
    files.open(pipe.state())?;
    log::info!(
        "capturing {} event types into {}",
        live.selected().len(),
        files.path().display()
    );
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let limit = args.numevents.unwrap_or(u64::MAX);
    let mut enc = ScapEncoder::new();
    let mut written = 0u64;
    let mut failure: Option<anyhow::Error> = None;
    let mut step = |pipe: &mut Pipeline, ev: &Event<'_>| {
        if written >= limit || failure.is_some() {
            return;
        }
        let mut hit = !has_filter;
        pipe.process(ev, &mut |_: &Match<'_>| hit = true);
        // An event with no scap form must not open (rotate to) a file it is not written to.
        if !hit || !enc.supports(ev) {
            return;
        }
        let step = files
            .writer(pipe.state())
            .and_then(|w| Ok(enc.write(ev, w)?));
        match step {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => failure = Some(e),
        }
        if written >= limit || failure.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let result = live
        .run_with(&mut pipe, &stop, deadline, &mut step)
        .and_then(|()| live.finish(&mut pipe, &mut step).map(drop));
    let closed = files.close();
    result.context("kernel capture")?;
    if let Some(e) = failure {
        return Err(e);
    }
    closed?;
    let stats = enc.stats();
    eprintln!(
        "{written} events written to {}{}",
        files.path().display(),
        if stats.unsupported > 0 {
            format!(
                " ({} without a scap event type, not written)",
                stats.unsupported
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// How far back the rolling window of rule-triggered capture reaches.
const WINDOW_AGE: Duration = Duration::from_secs(5);
/// And how many bytes it may hold (encoded events), whichever limit comes first.
const WINDOW_BYTES: usize = 64 << 20;

/// A capture file being written after an alert.
struct Active {
    writer: Writer<FileOut>,
    path: PathBuf,
    /// Events after this time (ns since the epoch) end the capture.
    deadline_ns: u64,
}

/// Falco's rule-triggered capture: keeps a rolling window of recent events and, when a
/// qualifying rule matches, writes the window plus the following `capture_duration` (or
/// `capture.default_duration`) to `<path_prefix>_<rule>_<time>.scap`. A match during an
/// active capture extends it. Write errors end that capture (logged), never the agent.
pub struct Recorder {
    cfg: RuleCapture,
    enc: ScapEncoder,
    window: Window,
    active: Option<Active>,
    users: Option<UserDb>,
    machine: MachineInfo,
}

/// File-name-safe form of a rule name.
fn safe_name(rule: &str) -> String {
    rule.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Forwards matches to the agent's sink and notes the capture they ask for.
struct Tee<'a> {
    inner: &'a mut dyn AlertSink,
    mode: CaptureMode,
    default_ms: u64,
    /// The first qualifying rule of this event and its duration (ms).
    trigger: Option<(String, u64)>,
}

impl AlertSink for Tee<'_> {
    fn alert(&mut self, m: &Match<'_>) {
        self.inner.alert(m);
        let wanted = match self.mode {
            CaptureMode::Rules => m.rule.capture,
            CaptureMode::AllRules => true,
        };
        if wanted {
            let ms = match u64::from(m.rule.capture_duration) {
                0 => self.default_ms,
                ms => ms,
            };
            match &mut self.trigger {
                Some((_, d)) => *d = (*d).max(ms),
                None => self.trigger = Some((m.rule.name.clone(), ms)),
            }
        }
    }
}

impl Recorder {
    /// `None` unless `capture.enabled`.
    pub fn new(cfg: &RuleCapture) -> Option<Recorder> {
        cfg.enabled.then(|| Recorder {
            cfg: cfg.clone(),
            enc: ScapEncoder::new(),
            window: Window::new(WINDOW_AGE.as_nanos() as u64, WINDOW_BYTES),
            active: None,
            users: UserDb::load(Path::new("/")),
            machine: machine_info(Path::new("/proc")),
        })
    }

    /// Runs one event through `pipe` (alerts go to `sink`) and records it.
    pub fn process(&mut self, pipe: &mut Pipeline, ev: &Event<'_>, sink: &mut dyn AlertSink) {
        let mut tee = Tee {
            inner: sink,
            mode: self.cfg.mode,
            default_ms: self.cfg.default_duration_ms,
            trigger: None,
        };
        pipe.process(ev, &mut tee);
        let trigger = tee.trigger;
        if let Err(e) = self.record(ev, pipe.state(), trigger) {
            log::error!("rule-triggered capture: {e:#}");
            self.active = None;
        }
    }

    fn record(
        &mut self,
        ev: &Event<'_>,
        state: &State,
        trigger: Option<(String, u64)>,
    ) -> Result<()> {
        let Some(owned) = self.enc.to_owned(ev) else {
            return Ok(());
        };
        if self.active.as_ref().is_some_and(|a| ev.ts > a.deadline_ns) {
            self.finish();
        }
        self.window.push(owned);
        if let Some((rule, ms)) = trigger {
            let deadline_ns = ev.ts.saturating_add(ms.saturating_mul(1_000_000));
            match &mut self.active {
                Some(a) => {
                    a.deadline_ns = a.deadline_ns.max(deadline_ns);
                    if let Some(last) = self.window.iter().last() {
                        a.writer.write_owned(last)?;
                    }
                }
                None => {
                    let path = PathBuf::from(format!(
                        "{}_{}_{}.scap",
                        self.cfg.path_prefix,
                        safe_name(&rule),
                        ev.ts
                    ));
                    let mut writer =
                        open_capture(&path, false, state, self.users.as_ref(), &self.machine)?;
                    // The window ends with this very event.
                    for e in self.window.iter() {
                        writer.write_owned(e)?;
                    }
                    log::info!("rule '{rule}' triggered a capture: {}", path.display());
                    self.active = Some(Active {
                        writer,
                        path,
                        deadline_ns,
                    });
                }
            }
            return Ok(());
        }
        if let (Some(a), Some(last)) = (&mut self.active, self.window.iter().last()) {
            a.writer.write_owned(last)?;
        }
        Ok(())
    }

    /// Finishes the capture in progress, if any.
    pub fn finish(&mut self) {
        if let Some(a) = self.active.take() {
            if let Err(e) = close_capture(a.writer, &a.path) {
                log::error!("rule-triggered capture: {e:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_append_the_index() {
        assert_eq!(
            numbered(Path::new("/tmp/x.scap"), 3),
            PathBuf::from("/tmp/x.scap3")
        );
        let args = CaptureArgs {
            file: "/tmp/c.scap".into(),
            filter: Vec::new(),
            numevents: None,
            duration: None,
            file_size_mb: Some(1),
            rotate_secs: None,
            file_count: Some(2),
            gzip: false,
            ring_bytes: 1 << 20,
        };
        let mut f = Files::new(&args);
        let names: Vec<PathBuf> = (0..4)
            .map(|i| {
                f.index = i;
                f.path()
            })
            .collect();
        assert_eq!(
            names,
            [
                "/tmp/c.scap0",
                "/tmp/c.scap1",
                "/tmp/c.scap0",
                "/tmp/c.scap1"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn filters_compile_or_fail_with_the_loader_message() {
        assert!(filter_engine(&[]).is_ok());
        let e = filter_engine(&["proc.name = cat and evt.type = openat".into()])
            .expect("valid filter compiles");
        assert!(e.event_types().iter().any(|t| t.name() == "openat"));
        let err = filter_engine(&["proc.nosuch = 1".into()]).expect_err("bad field rejected");
        assert!(format!("{err:#}").contains("nosuch"), "{err:#}");
    }

    #[test]
    fn rule_names_become_file_name_safe() {
        assert_eq!(
            safe_name("Read sensitive file/untrusted (x)"),
            "Read_sensitive_file_untrusted__x_"
        );
    }
}
