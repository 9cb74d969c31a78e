//! `program_output`: pipe alert lines into `sh -c <program>`, like Falco's `popen(program, "w")`.
//!
//! Without `keep_alive` a fresh process takes each alert and is waited for (so a `curl`
//! per alert finishes before the next starts); with `keep_alive` one long-lived process
//! reads every line until [`Output::reopen`] closes its stdin and starts the next one. A
//! process that died is replaced on the next alert; the failed write is reported as an
//! error (a line written into the pipe of a process that exits without reading it is lost
//! unnoticed, exactly as with `popen`).

use crate::output::{AbortHandle, Output, OutputError};
use peregrine_filter::priority::Priority;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::Arc;

pub struct ProgramOutput {
    program: String,
    keep_alive: bool,
    child: Option<(Child, ChildStdin)>,
    line: Vec<u8>,
    /// The process group of the running program (0: none), for [`Output::abort_handle`].
    group: Arc<AtomicI32>,
}

impl ProgramOutput {
    pub fn new(program: &str, keep_alive: bool) -> ProgramOutput {
        ProgramOutput {
            program: program.to_string(),
            keep_alive,
            child: None,
            line: Vec::new(),
            group: Arc::new(AtomicI32::new(0)),
        }
    }

    fn spawn(&self) -> Result<(Child, ChildStdin), OutputError> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.program)
            .stdin(Stdio::piped())
            // Its own process group, so that the shell and whatever it starts can be ended
            // together if the agent has to leave it behind (see `abort_handle`).
            .process_group(0)
            .spawn()
            .map_err(|e| OutputError::io("program", format!("start `{}`", self.program), e))?;
        self.group
            .store(i32::try_from(child.id()).unwrap_or(0), Relaxed);
        match child.stdin.take() {
            Some(stdin) => Ok((child, stdin)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(OutputError::io(
                    "program",
                    "open the program's stdin",
                    std::io::Error::other("no pipe"),
                ))
            }
        }
    }

    /// Closes stdin and waits for the process, as `pclose` does.
    fn close(&mut self) -> Result<(), OutputError> {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let waited = child.wait();
            self.group.store(0, Relaxed);
            waited.map_err(|e| OutputError::io("program", "wait for the program", e))?;
        }
        Ok(())
    }
}

impl Output for ProgramOutput {
    fn name(&self) -> &str {
        "program"
    }

    fn write(&mut self, line: &str, _priority: Priority) -> Result<(), OutputError> {
        self.line.clear();
        self.line.extend_from_slice(line.as_bytes());
        self.line.push(b'\n');
        if self.child.is_none() {
            self.child = Some(self.spawn()?);
        }
        let written = match &mut self.child {
            Some((_, stdin)) => stdin.write_all(&self.line).and_then(|()| stdin.flush()),
            None => Ok(()),
        };
        if let Err(e) = written {
            // Most likely the process exited (EPIPE): reap it, start anew next time.
            let _ = self.close();
            return Err(OutputError::io("program", "write to the program", e));
        }
        if !self.keep_alive {
            self.close()?;
        }
        Ok(())
    }

    /// Ends the process (stdin closed, waited for) and, with `keep_alive`, starts the next
    /// one at once, as Falco does.
    fn reopen(&mut self) -> Result<(), OutputError> {
        self.close()?;
        if self.keep_alive {
            self.child = Some(self.spawn()?);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    /// Kills the running program's whole process group: a program that never reads its
    /// input, or never exits, would otherwise outlive the agent as an orphan.
    fn abort_handle(&self) -> Option<AbortHandle> {
        let group = self.group.clone();
        Some(Arc::new(move || {
            let pgid = group.swap(0, Relaxed);
            if let Some(pid) = rustix::process::Pid::from_raw(pgid) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }))
    }
}

impl Drop for ProgramOutput {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
