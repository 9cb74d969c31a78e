//! Writing scap capture files: `peregrine capture -w FILE [FILTER]` (sysdig's `-w`); the
//! agent's rule-triggered capture (`capture.*` in falco.yaml) is [`crate::recorder`], which
//! shares this module's file opening.
//!
//! Both run the live pipeline (state engine included) and hand each event to
//! `peregrine_engine::capture_file`, which encodes it in today's scap layout; every file
//! starts with the machine, user, process and fd lists of the state at that moment, so it
//! stands alone. The FILTER of `peregrine capture` is a rule condition: compiled as a rule, its
//! event types select what the kernel sends (plus the state's own syscalls) and the whole
//! condition is evaluated with state on each event, exactly as rules are.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_engine::capture_file::{machine_info, metadata_from_state, ScapEncoder};
use peregrine_engine::interest::BaseSyscalls;
use peregrine_engine::live::LiveOptions;
use peregrine_engine::{Engine, Match, Pipeline, Settings};
use peregrine_event::Event;
use peregrine_rules::RulesInput;
use peregrine_scap::{FileOut, MachineInfo, Writer};
use peregrine_state::users::UserDb;
use peregrine_state::{State, StateConfig};

use crate::error::{Context, Result, RuntimeError};
use crate::live::{self, Seed};

/// Arguments of `peregrine capture`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureArgs {
    /// The capture file to write (with rotation: FILE0, FILE1, …).
    pub file: PathBuf,
    /// Condition selecting the events to write (Falco's condition language).
    pub filter: Vec<String>,
    /// Stop after N events were written.
    pub numevents: Option<u64>,
    /// Stop after this many seconds.
    pub duration: Option<u64>,
    /// Start a new file when the current one holds this many megabytes (10^6 bytes, before
    /// compression).
    pub file_size_mb: Option<u64>,
    /// Start a new file every SECS seconds.
    pub rotate_secs: Option<u64>,
    /// With -C or -G: keep at most N files, overwriting the oldest (FILE0 … FILE<N-1>).
    pub file_count: Option<u32>,
    /// gzip the file(s).
    pub gzip: bool,
    /// Kernel ring buffer size in bytes (a power of two; the command line's default is 8 MiB).
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
    let loaded = peregrine_rules::load::load(&inputs);
    if !loaded.successful() {
        return Err(RuntimeError::Invalid(format!(
            "invalid filter {text:?}:\n{}",
            loaded.report(true).trim_end()
        )));
    }
    Ok(Engine::new(loaded.ruleset, Settings::default()))
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
pub(crate) fn open_capture(
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

pub(crate) fn close_capture(w: Writer<FileOut>, path: &Path) -> Result<()> {
    let finish = || -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(w.finish()?.close()?)
    };
    finish().map_err(|source| RuntimeError::Op {
        context: format!("finishing {}", path.display()),
        source,
    })
}

impl Files {
    fn new(args: &CaptureArgs, host_root: &Path) -> Files {
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
            users: UserDb::load(host_root),
            machine: machine_info(&peregrine_state::host_path(host_root, "/proc")),
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
        self.writer
            .as_mut()
            .ok_or_else(|| RuntimeError::Invalid("capture file not open".into()))
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
    let host_root = crate::env_host_root()?;
    let mut pipe = Pipeline::new(
        engine,
        StateConfig::for_host(&host_root, &Default::default()),
    );
    let opts = LiveOptions {
        base,
        ring_bytes: args.ring_bytes,
        ..LiveOptions::default()
    };
    let mut live = live::start(&mut pipe, opts, Seed::Required)?;
    let stop = live.stop.clone();
    let mut files = Files::new(&args, &host_root);
    // The first file exists (with its metadata) even if no event arrives.
    files.open(pipe.state())?;
    log::info!(
        "capturing {} event types into {}",
        live.source.selected().len(),
        files.path().display()
    );
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let limit = args.numevents.unwrap_or(u64::MAX);
    let mut enc = ScapEncoder::new();
    let mut written = 0u64;
    let mut failure: Option<RuntimeError> = None;
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
        .run(&mut pipe, deadline, &mut step)
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
        let mut f = Files::new(&args, Path::new("/"));
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
}
