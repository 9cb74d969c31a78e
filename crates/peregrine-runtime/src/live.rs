//! The one live start-up every live mode shares (the agent, `peregrine events` and
//! `peregrine capture -w`): SIGINT/SIGTERM set a stop flag, the state is seeded from `/proc`,
//! the kernel capture is attached with the interest the pipeline's engine needs, and the run
//! ends by processing what the kernel still holds.
//!
//! Key decision: the modes differ only in what they do per event (alerts, a printed line, a
//! written capture) and in how they slice the run, so they hand a step closure to [`Live`]
//! and nothing about signals, seeding or attaching is written twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use peregrine_engine::live::{LiveOptions, LiveSource};
use peregrine_engine::Pipeline;
use peregrine_event::Event;

use crate::error::{Context, Result};

/// What to do when `/proc` cannot be read at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    /// The run cannot start without it (the agent's rules and capture files need the
    /// processes that started before it).
    Required,
    /// Warn and go on with fewer resolved fields (the live view).
    BestEffort,
}

/// A started live run.
pub struct Live {
    pub source: LiveSource,
    /// Set by SIGINT and SIGTERM, or by the mode itself (an event limit).
    pub stop: Arc<AtomicBool>,
}

/// Installs the stop signals, seeds the state of `pipe` from `/proc` and attaches the capture
/// with `opts` plus what `pipe`'s engine selects.
pub fn start(pipe: &mut Pipeline, opts: LiveOptions, seed: Seed) -> Result<Live> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handler")?;
    }
    match (pipe.state_mut().seed_from_proc(), seed) {
        (Ok(n), _) => log::info!("state seeded with {n} processes from /proc"),
        (Err(e), Seed::Required) => return Err(e).context("reading /proc"),
        // A failure only means fewer resolved fields, so it is reported and the run goes on.
        (Err(e), Seed::BestEffort) => eprintln!("warning: seeding process state from /proc: {e}"),
    }
    let engine = pipe.engine().clone();
    let source = LiveSource::open_with(&engine, opts).context("attaching to the kernel")?;
    Ok(Live { source, stop })
}

impl Live {
    /// Whether the run was asked to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Drains events through `step` until stopped or `until` passes.
    pub fn run(
        &mut self,
        pipe: &mut Pipeline,
        until: Option<Instant>,
        step: impl FnMut(&mut Pipeline, &Event<'_>),
    ) -> Result<()> {
        Ok(self.source.run_with(pipe, &self.stop, until, step)?)
    }

    /// Processes what the kernel still held in its per-CPU batches when the run ended.
    pub fn finish(
        &mut self,
        pipe: &mut Pipeline,
        step: impl FnMut(&mut Pipeline, &Event<'_>),
    ) -> Result<usize> {
        Ok(self.source.finish(pipe, step)?)
    }
}
