//! The loaded plugins of the process and a plugin source's event loop.
//!
//! Key decision: the plugins are loaded once, at start-up (before any rule is compiled, since
//! their fields and sources are what rules are checked against), and kept in one
//! process-wide [`Host`]: a shared library is process-wide anyway (`dlopen`), its fields are in
//! the filter catalogue's registry, and every mode (listing, validation, the agent, replay)
//! then reaches the same plugins without threading them through each mode's arguments.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use peregrine_engine::{AlertSink, SourcePipeline};
use peregrine_plugins::{Batch, ErrorLog, FieldCache, Host, Plugin, PluginConfig, SourceFields};

use crate::error::{Result, RuntimeError};

static HOST: OnceLock<Host> = OnceLock::new();

/// Loads the configuration's plugin libraries (once per process; a second call keeps the
/// first host) and returns the host.
pub fn load(entries: &[peregrine_config::PluginEntry]) -> Result<&'static Host> {
    if let Some(h) = HOST.get() {
        return Ok(h);
    }
    let configs: Vec<PluginConfig> = entries
        .iter()
        .map(|e| PluginConfig {
            name: e.name.clone(),
            library_path: e.library_path.clone(),
            init_config: e.init_config.clone(),
            open_params: e.open_params.clone(),
        })
        .collect();
    let host = Host::load(&configs).map_err(|e| RuntimeError::Invalid(e.safe()))?;
    Ok(HOST.get_or_init(|| host))
}

/// The loaded plugins (none before [`load`]).
pub fn host() -> &'static Host {
    static EMPTY: OnceLock<Host> = OnceLock::new();
    HOST.get()
        .unwrap_or_else(|| EMPTY.get_or_init(Host::default))
}

/// The extension that adds plugin fields to syscall events, when a loaded plugin extracts
/// from (or parses) them.
pub fn syscall_extension() -> Option<Box<dyn peregrine_engine::EventExtension>> {
    host()
        .syscall_extension()
        .map(|e| Box::new(e) as Box<dyn peregrine_engine::EventExtension>)
}

/// What a plugin source read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PluginStats {
    /// Events evaluated.
    pub events: u64,
    /// Failures of the plugins (next_batch, extraction, rendering), each reported by name.
    pub errors: u64,
}

/// How long to wait before asking a plugin that timed out again.
const TIMEOUT_BACKOFF: Duration = Duration::from_millis(10);

/// Runs `plugin`'s source until it ends, `stop` is set or `deadline` passes. A failing
/// `next_batch` ends the source with the plugin's error (Falco stops that source's loop); a
/// failing extraction is reported by name and the event goes on without the value.
pub fn run_source(
    plugin: &Plugin,
    pipe: &mut SourcePipeline,
    sink: &mut dyn AlertSink,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> Result<PluginStats> {
    let host = host();
    let hostname = peregrine_outputs::hostname();
    let c_source = peregrine_plugins::c_source(plugin);
    let mut inst = plugin
        .open(&plugin.open_params)
        .map_err(|e| RuntimeError::Invalid(e.safe()))?;
    let mut stats = PluginStats::default();
    let mut errors = ErrorLog::default();
    let mut cache = FieldCache::default();
    let mut batch = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        batch.clear();
        let now = crate::agent::epoch_ns();
        let status = match inst.next_batch(&mut batch, now) {
            Ok(s) => s,
            Err(e) => {
                return Err(RuntimeError::Invalid(e.safe()));
            }
        };
        for ev in &batch {
            stats.events += 1;
            let mut src = SourceFields {
                host,
                plugin,
                event: ev,
                num: stats.events,
                hostname: &hostname,
                c_source: &c_source,
                errors: &mut errors,
                cache: &mut cache,
            };
            pipe.process(&mut src, ev.ts(), sink);
        }
        match status {
            Batch::Eof => break,
            Batch::Timeout => std::thread::sleep(TIMEOUT_BACKOFF),
            Batch::Events => {}
        }
    }
    stats.errors = errors.total;
    Ok(stats)
}
