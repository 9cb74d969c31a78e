//! A minimal stderr logger for the `log` facade. The binary needs levels and nothing else (no
//! timestamps to parse, no files), so a few lines here replace a logging dependency.

use log::{LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "peregrine: {}: {}",
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Installs the logger. `PEREGRINE_LOG` (error|warn|info|debug|trace) wins over `-v` counts.
pub fn init(verbose: u8) {
    let from_env = std::env::var("PEREGRINE_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok());
    let level = from_env.unwrap_or(match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    });
    // A second call (only possible in tests) keeps the first logger; that is harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
