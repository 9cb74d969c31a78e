//! The one trait every sink implements, and the error they share.
//!
//! Key decision: a sink is plain blocking code (`&mut self`, one line at a time) run on its
//! own worker thread by the [`crate::queue`]; no sink needs to be async or thread-safe, and
//! a sink that blocks (a dead HTTP server, a stuck program) only delays itself.

use peregrine_filter::priority::Priority;
use std::io;

/// Why a sink could not be built or could not deliver a line.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{output} output: cannot {op}: {source}")]
    Io {
        output: &'static str,
        op: String,
        source: io::Error,
    },
    #[error("http output: {url}: {reason}")]
    Http { url: String, reason: String },
    /// The destination cannot take the alert now (down, refusing, overloaded): a spooled
    /// output keeps the alert and tries again later; anything else is a final failure.
    #[error("{output} output: {target}: {reason}")]
    Unavailable {
        output: &'static str,
        target: String,
        reason: String,
    },
    /// The destination answered with a refusal that retrying cannot change.
    #[error("{output} output: {target}: {reason}")]
    Refused {
        output: &'static str,
        target: String,
        reason: String,
    },
    #[error("http output: TLS setup: {0}")]
    Tls(String),
    #[error("invalid value for '{key}': {reason}")]
    Config { key: String, reason: String },
    #[error("cannot start the worker thread of the {output} output: {source}")]
    Spawn { output: String, source: io::Error },
}

impl OutputError {
    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, OutputError::Unavailable { .. })
    }

    pub(crate) fn io(output: &'static str, op: impl Into<String>, source: io::Error) -> Self {
        OutputError::Io {
            output,
            op: op.into(),
            source,
        }
    }
}

/// A destination for alert lines.
pub trait Output: Send {
    /// A short name for counters and logs (`stdout`, `file`, `syslog`, `program`, `http`).
    fn name(&self) -> &str;

    /// Delivers one formatted alert line (without trailing newline).
    fn write(&mut self, line: &str, priority: Priority) -> Result<(), OutputError>;

    /// Delivers one spooled alert with its stable `id` (a UUID), which the sink passes on
    /// where the destination can carry it (a header, a field) so a receiver can drop the
    /// duplicates that at-least-once delivery brings. One attempt only: the spool retries
    /// after an [`OutputError::Unavailable`]. Sinks without a place for the id just write.
    fn write_with_id(
        &mut self,
        line: &str,
        priority: Priority,
        id: &str,
    ) -> Result<(), OutputError> {
        let _ = id;
        self.write(line, priority)
    }

    /// Delivers several spooled alerts, oldest first; one result per alert attempted, in
    /// order (fewer than given when it stopped early). Sinks that can keep several alerts in
    /// flight (JetStream) override it; this one sends them one by one and stops at the first
    /// transient failure.
    fn write_batch(&mut self, items: &[Item<'_>]) -> Vec<Result<(), OutputError>> {
        one_by_one(self, items)
    }

    /// The alert format this sink needs whatever `json_output` says (a sink that reads the
    /// alert's fields takes Falco's JSON); `None` takes the configured one.
    fn format(&self) -> Option<crate::format::FormatOptions> {
        None
    }

    /// Closes what the sink holds open so the next write reopens it (SIGUSR1, log rotation).
    fn reopen(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    /// Pushes out anything buffered; called when the queue runs empty and at shutdown.
    fn flush(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    /// Called once, before the sink moves to its worker thread: what the queue calls from
    /// another thread if the sink is still stuck in a write when the shutdown deadline
    /// passes, to release what it would otherwise leave behind (a program's processes).
    fn abort_handle(&self) -> Option<AbortHandle> {
        None
    }
}

/// [`Output::write_batch`]'s default: one alert at a time, up to the first transient failure.
pub fn one_by_one<O: Output + ?Sized>(
    out: &mut O,
    items: &[Item<'_>],
) -> Vec<Result<(), OutputError>> {
    let mut results = Vec::with_capacity(items.len());
    for it in items {
        let r = out.write_with_id(it.line, it.priority, it.id);
        let stop = r.as_ref().is_err_and(OutputError::is_transient);
        results.push(r);
        if stop {
            break;
        }
    }
    results
}

/// One spooled alert for [`Output::write_batch`].
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub line: &'a str,
    pub priority: Priority,
    /// The alert's stable id.
    pub id: &'a str,
}

/// See [`Output::abort_handle`].
pub type AbortHandle = std::sync::Arc<dyn Fn() + Send + Sync>;
