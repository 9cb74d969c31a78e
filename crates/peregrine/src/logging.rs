//! The agent's own log lines (not alerts) for the `log` facade: stderr and, when falco.yaml's
//! `log_syslog` asks, the local syslog socket. The binary needs levels and two sinks and
//! nothing else, so a few lines here replace a logging dependency. A stderr line starts with
//! Falco's timestamp (`Mon Dec  7 17:22:24 2026: `, or ISO 8601 with
//! `time_format_iso_8601`), in UTC as every other time the agent prints.
//!
//! Key decision: the logger is installed at start-up from the command line (`-v`,
//! `PEREGRINE_LOG`) and reconfigured once the configuration tree is read, before it is
//! interpreted, so that what interpreting it logs already obeys `log_level`/`log_stderr`.
//! Syslog lines reuse the outputs crate's RFC 3164 client; a send failure is dropped, as
//! `syslog(3)` does, because logging must never stop the agent.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use peregrine_outputs::syslog::{SyslogOutput, FACILITY_USER};
use peregrine_outputs::{Output, Priority};

use peregrine_config::LogConfig;
use peregrine_runtime::listing::log_time;

struct Logger {
    stderr: AtomicBool,
    iso_8601: AtomicBool,
    syslog: Mutex<Option<SyslogOutput>>,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if self.stderr.load(Ordering::Relaxed) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            eprintln!(
                "{}: peregrine: {}: {}",
                log_time(now, self.iso_8601.load(Ordering::Relaxed)),
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            );
        }
        let mut syslog = self.syslog.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = syslog.as_mut() {
            let _ = sink.write(&record.args().to_string(), priority(record.level()));
        }
    }

    fn flush(&self) {}
}

/// The syslog severity of a log line.
fn priority(level: Level) -> Priority {
    match level {
        Level::Error => Priority::Error,
        Level::Warn => Priority::Warning,
        Level::Info => Priority::Informational,
        Level::Debug | Level::Trace => Priority::Debug,
    }
}

static LOGGER: Logger = Logger {
    stderr: AtomicBool::new(true),
    iso_8601: AtomicBool::new(false),
    syslog: Mutex::new(None),
};

/// `-v` count given to [`init`], for [`configure`].
static VERBOSE: AtomicU8 = AtomicU8::new(0);

fn env_level() -> Option<LevelFilter> {
    std::env::var("PEREGRINE_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
}

fn verbose_level(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    }
}

/// What a Falco `log_level` lets through (the `log` facade has no notice or critical).
fn falco_level(level: Priority) -> LevelFilter {
    match level {
        Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => {
            LevelFilter::Error
        }
        Priority::Warning => LevelFilter::Warn,
        Priority::Notice | Priority::Informational => LevelFilter::Info,
        Priority::Debug => LevelFilter::Debug,
    }
}

/// The level in force: `PEREGRINE_LOG` wins; otherwise `log_level`, raised by `-v` flags.
fn effective_level(
    env: Option<LevelFilter>,
    verbose: u8,
    configured: Option<Priority>,
) -> LevelFilter {
    if let Some(l) = env {
        return l;
    }
    match configured {
        Some(c) if verbose == 0 => falco_level(c),
        Some(c) => falco_level(c).max(verbose_level(verbose)),
        None => verbose_level(verbose),
    }
}

/// Installs the logger. `PEREGRINE_LOG` (error|warn|info|debug|trace) wins over `-v` counts.
pub fn init(verbose: u8) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    // A second call (only possible in tests) keeps the first logger; that is harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(effective_level(env_level(), verbose, None));
}

/// Applies falco.yaml's `log_level`, `log_stderr` and `log_syslog`.
pub fn configure(config: &LogConfig) {
    let verbose = VERBOSE.load(Ordering::Relaxed);
    log::set_max_level(effective_level(env_level(), verbose, config.level));
    LOGGER.stderr.store(config.stderr, Ordering::Relaxed);
    LOGGER
        .iso_8601
        .store(config.time_format_iso_8601, Ordering::Relaxed);
    let sink = config
        .syslog
        .then(|| SyslogOutput::new(&config.syslog_socket, "falco", FACILITY_USER));
    *LOGGER.syslog.lock().unwrap_or_else(|p| p.into_inner()) = sink;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_then_config_then_verbosity() {
        use LevelFilter as F;
        // (PEREGRINE_LOG, -v count, log_level, expected)
        let cases = [
            (None, 0, None, F::Warn),
            (None, 1, None, F::Info),
            (None, 0, Some(Priority::Debug), F::Debug),
            (None, 0, Some(Priority::Critical), F::Error),
            (None, 0, Some(Priority::Notice), F::Info),
            (None, 2, Some(Priority::Error), F::Debug),
            (None, 1, Some(Priority::Debug), F::Debug),
            (Some(F::Trace), 0, Some(Priority::Error), F::Trace),
            (Some(F::Off), 2, Some(Priority::Debug), F::Off),
        ];
        for (env, verbose, configured, expected) in cases {
            assert_eq!(
                effective_level(env, verbose, configured),
                expected,
                "{env:?} {verbose} {configured:?}"
            );
        }
    }
}
