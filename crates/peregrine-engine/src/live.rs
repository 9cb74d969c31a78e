//! The live source: the kernel capture drained into the pipeline.
//!
//! The capture's interest map is filled from [`crate::interest::interest`] (active rules ∪
//! state needs under `base_syscalls`) and refreshed when the pipeline's engine changes, so a
//! reload that adds a rule for a new syscall starts receiving it. The loop drains the ring on
//! a short timeout (the capture never wakes us per event) and checks a stop flag and an
//! optional deadline between drains.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_capture::{
    dedicated_syscalls, Capture, CaptureConfig, CaptureError, Counters, LaneCounters, ShedPaths,
};
use peregrine_event::{Event, EventType, EventTypeSet};
use peregrine_rules::shed::{PathAtom, PathNeeds};
use thiserror::Error;

use crate::interest::{interest, BaseSyscalls};
use crate::{AlertSink, Engine, Pipeline};

#[derive(Debug, Error)]
pub enum LiveError {
    #[error("kernel capture: {0}")]
    Capture(#[from] CaptureError),
}

/// How long one wait on the ring may last: bounds alert latency and stop latency. The kernel
/// side does not wake us per record, so an event waits up to this long before it is seen:
/// 10 ms gave an event-to-alert p50 of ≈ 6 ms, 2 ms gives ≈ 2 ms (bench/agent-results.md),
/// for ≈ 500 idle wake-ups a second (a `poll` each).
const POLL: Duration = Duration::from_millis(2);
/// How long [`LiveSource::finish`] waits for the kernel's batches: several batch ages, as a
/// busy host delays the timers that ship them; other processes keep producing events, so the
/// wait is bounded rather than "until nothing is held".
pub const FINAL_FLUSH: Duration = Duration::from_millis(20);

/// An attached kernel capture.
pub struct LiveSource {
    capture: Capture,
    base: BaseSyscalls,
    /// Event types wanted besides the rules' (see [`LiveOptions::also`]).
    also: EventTypeSet,
    selected_for: Arc<Engine>,
    selected: EventTypeSet,
    /// Shedding allowed ([`LiveOptions::shed`]), and what the current rules need.
    shed: bool,
    needs: Option<PathNeeds>,
}

/// How to open a [`LiveSource`] beyond the engine's own interest.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub base: BaseSyscalls,
    /// Kernel ring buffer size in bytes (a power of two).
    pub ring_bytes: u32,
    /// Capture only this thread group (a live view of one process).
    pub only_tgid: Option<u32>,
    /// Event types to select as if a rule wanted them: what a consumer evaluating its own
    /// filter outside the engine (`peregrine events`) needs.
    pub also: EventTypeSet,
    /// Let the kernel shed opens (and their closes) of paths no active rule needs
    /// (bpf/README.md, "Shedding"). Off for consumers that need every event: capture files,
    /// `peregrine events`, rule-triggered capture.
    pub shed: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            base: BaseSyscalls::default(),
            ring_bytes: CaptureConfig::default().ring_bytes,
            only_tgid: None,
            also: EventTypeSet::default(),
            shed: false,
        }
    }
}

impl LiveSource {
    /// Loads and attaches the BPF programs with the interest `engine` needs.
    pub fn open(
        engine: &Arc<Engine>,
        base: BaseSyscalls,
        ring_bytes: u32,
    ) -> Result<Self, LiveError> {
        Self::open_with(
            engine,
            LiveOptions {
                base,
                ring_bytes,
                ..LiveOptions::default()
            },
        )
    }

    /// [`LiveSource::open`] with every option.
    pub fn open_with(engine: &Arc<Engine>, opts: LiveOptions) -> Result<Self, LiveError> {
        let selected = Self::selection(engine, &opts.base, &opts.also);
        let procexit = EventType::from_name("procexit").is_some_and(|t| selected.contains(t));
        let cfg = CaptureConfig {
            ring_bytes: opts.ring_bytes,
            syscalls: selected,
            procexit,
            only_tgid: opts.only_tgid,
            ..CaptureConfig::default()
        };
        let capture = Capture::open(&cfg)?;
        let mut src = LiveSource {
            capture,
            base: opts.base,
            also: opts.also,
            selected_for: engine.clone(),
            selected,
            shed: opts.shed,
            needs: None,
        };
        src.apply_shed(engine)?;
        Ok(src)
    }

    /// Writes the kernel's shedding state for `engine`'s rules.
    fn apply_shed(&mut self, engine: &Engine) -> Result<(), LiveError> {
        if !self.shed {
            return Ok(());
        }
        let needs = engine.path_needs();
        if self.needs.as_ref() == Some(&needs) {
            return Ok(());
        }
        match &needs {
            PathNeeds::Atoms(atoms) => {
                let mut paths = ShedPaths::default();
                for a in atoms {
                    match a {
                        PathAtom::Prefix(p) => paths.prefixes.push(p.clone()),
                        PathAtom::Exact(p) => paths.exact.push(p.clone()),
                        PathAtom::Suffix(p) => paths.suffixes.push(p.clone()),
                    }
                }
                self.capture.set_shed(Some(&paths))?;
            }
            PathNeeds::Every { .. } => self.capture.set_shed(None)?,
        }
        self.needs = Some(needs);
        Ok(())
    }

    /// What the kernel sheds: `None` when shedding is off by option, else the rules' needs
    /// ([`PathNeeds::Every`] names the rule that keeps every open).
    pub fn shedding(&self) -> Option<&PathNeeds> {
        self.needs.as_ref()
    }

    /// Loads the in-kernel kill filters (`peregrine_capture::Capture::set_kill`).
    pub fn set_kill(
        &mut self,
        spec: &peregrine_capture::KillSpec,
    ) -> Result<peregrine_capture::KillHandle, LiveError> {
        Ok(self.capture.set_kill(spec)?)
    }

    /// The offset from the capture's boot clock to wall-clock time.
    pub fn boot_to_epoch_ns(&self) -> u64 {
        self.capture.boot_to_epoch_ns()
    }

    /// Every event type the capture can deliver (its dedicated syscalls and procexit).
    pub fn available() -> EventTypeSet {
        let mut available = dedicated_syscalls();
        if let Some(t) = EventType::from_name("procexit") {
            available.insert(t);
        }
        available
    }

    fn selection(engine: &Engine, base: &BaseSyscalls, also: &EventTypeSet) -> EventTypeSet {
        interest(&engine.event_types().union(also), base, &Self::available())
    }

    /// The event types the kernel currently delivers.
    pub fn selected(&self) -> &EventTypeSet {
        &self.selected
    }

    /// Rewrites the interest map if the pipeline's engine is not the one it was built for.
    fn follow(&mut self, engine: &Arc<Engine>) -> Result<(), LiveError> {
        if Arc::ptr_eq(&self.selected_for, engine) {
            return Ok(());
        }
        let sel = Self::selection(engine, &self.base, &self.also);
        if sel != self.selected {
            let procexit = EventType::from_name("procexit").is_some_and(|t| sel.contains(t));
            self.capture.set_interest(&sel, procexit)?;
            self.selected = sel;
        }
        self.apply_shed(engine)?;
        self.selected_for = engine.clone();
        Ok(())
    }

    /// Drains events into `pipe` until `stop` is set or `deadline` passes.
    pub fn run(
        &mut self,
        pipe: &mut Pipeline,
        sink: &mut dyn AlertSink,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<(), LiveError> {
        self.run_with(pipe, stop, deadline, |pipe, ev| pipe.process(ev, sink))
    }

    /// [`LiveSource::run`] with the per-event step supplied by the caller (which calls
    /// `pipe.process` itself), for consumers that also keep the events, e.g. capture files.
    pub fn run_with(
        &mut self,
        pipe: &mut Pipeline,
        stop: &AtomicBool,
        deadline: Option<Instant>,
        mut step: impl FnMut(&mut Pipeline, &Event<'_>),
    ) -> Result<(), LiveError> {
        while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
            self.capture.poll(POLL, |ev| step(pipe, ev))?;
            let engine = pipe.engine().clone();
            self.follow(&engine)?;
        }
        // What the kernel already wrote is still processed.
        self.capture.drain(|ev| step(pipe, ev));
        Ok(())
    }

    /// Processes what the kernel still holds when a run ends: records in its per-CPU
    /// batches (shipped within about a millisecond) and the ring's rest, waiting at most
    /// [`FINAL_FLUSH`]. Returns the number of events handed to `step`.
    pub fn finish(
        &mut self,
        pipe: &mut Pipeline,
        mut step: impl FnMut(&mut Pipeline, &Event<'_>),
    ) -> Result<usize, LiveError> {
        Ok(self.capture.drain_all(FINAL_FLUSH, |ev| step(pipe, ev))?)
    }

    /// Kernel and delivery counters.
    pub fn counters(&self) -> Result<Counters, LiveError> {
        Ok(self.capture.counters()?)
    }

    /// The kernel counters of each CPU (index = CPU).
    pub fn per_cpu_counters(&self) -> Result<Vec<Counters>, LiveError> {
        Ok(self.capture.per_cpu_counters()?)
    }

    /// The same figures by lane (priority: lifecycle and high-value syscalls; bulk: the rest).
    pub fn lane_counters(&self) -> Result<LaneCounters, LiveError> {
        Ok(self.capture.lane_counters()?)
    }

    /// Both, from one read of the kernel's counters (the lanes add up to the totals).
    pub fn counters_and_lanes(&self) -> Result<(Counters, LaneCounters), LiveError> {
        Ok(self.capture.counters_and_lanes()?)
    }
}
