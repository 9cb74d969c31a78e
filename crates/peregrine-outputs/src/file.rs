//! `file_output`: append each alert line to a file.
//!
//! Falco's semantics: without `keep_alive` the file is opened and closed for every alert (a
//! rename by logrotate is picked up at once); with `keep_alive` it stays open until
//! [`Output::reopen`] (the binary calls it on SIGUSR1), which closes it and opens the path
//! anew. Each line goes out in one `write` so concurrent appenders do not interleave.

use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

pub struct FileOutput {
    path: PathBuf,
    keep_alive: bool,
    file: Option<File>,
    line: Vec<u8>,
}

impl FileOutput {
    pub fn new(path: impl Into<PathBuf>, keep_alive: bool) -> FileOutput {
        FileOutput {
            path: path.into(),
            keep_alive,
            file: None,
            line: Vec::new(),
        }
    }

    fn open(&self) -> Result<File, OutputError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| OutputError::io("file", format!("open {}", self.path.display()), e))
    }
}

impl Output for FileOutput {
    fn name(&self) -> &str {
        "file"
    }

    fn write(&mut self, line: &str, _priority: Priority) -> Result<(), OutputError> {
        self.line.clear();
        self.line.extend_from_slice(line.as_bytes());
        self.line.push(b'\n');
        let mut file = match self.file.take() {
            Some(f) => f,
            None => self.open()?,
        };
        // Where the line starts, so that a write cut short (a full disk) can be taken back: a
        // torn line would glue the next alert onto it and break every line-based reader.
        // The file is only ever appended to by us, so its length is where our line begins.
        let start = file.metadata().map(|m| m.len());
        let result = file.write_all(&self.line).map_err(|e| {
            if let Ok(len) = start {
                // Shrinking needs no free space; if it fails the error below is still reported.
                let _ = file.set_len(len);
            }
            OutputError::io("file", format!("write {}", self.path.display()), e)
        });
        // A failed handle is dropped so the next alert tries a fresh open.
        if self.keep_alive && result.is_ok() {
            self.file = Some(file);
        }
        result
    }

    /// Closes the file and, with `keep_alive`, opens the path again at once (as Falco), so
    /// the new file exists as soon as the rotation signal is handled.
    fn reopen(&mut self) -> Result<(), OutputError> {
        self.file = None;
        if self.keep_alive {
            self.file = Some(self.open()?);
        }
        Ok(())
    }
}
