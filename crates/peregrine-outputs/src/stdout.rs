//! Standard output (`stdout_output`), or any writer (tests, embedding).
//!
//! With `buffered_outputs: false` (Falco's default) every line is flushed at once, so alerts
//! show up immediately even when stdout is a pipe.

use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use std::io::Write;

/// Writes each line plus `\n` to a writer.
pub struct WriterOutput<W: Write + Send> {
    name: &'static str,
    writer: W,
    buffered: bool,
}

/// The `stdout_output` sink.
pub type StdoutOutput = WriterOutput<std::io::Stdout>;

impl StdoutOutput {
    pub fn stdout(buffered: bool) -> StdoutOutput {
        WriterOutput::new("stdout", std::io::stdout(), buffered)
    }
}

impl<W: Write + Send> WriterOutput<W> {
    pub fn new(name: &'static str, writer: W, buffered: bool) -> Self {
        WriterOutput {
            name,
            writer,
            buffered,
        }
    }
}

impl<W: Write + Send> Output for WriterOutput<W> {
    fn name(&self) -> &str {
        self.name
    }

    fn write(&mut self, line: &str, _priority: Priority) -> Result<(), OutputError> {
        let w = &mut self.writer;
        w.write_all(line.as_bytes())
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|e| OutputError::io("stdout", "write", e))?;
        if !self.buffered {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        self.writer
            .flush()
            .map_err(|e| OutputError::io("stdout", "flush", e))
    }
}
