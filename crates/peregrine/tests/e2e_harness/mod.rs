//! A running agent for the live tests (root): started with a rules file and options, its
//! stdout and stderr read line by line on threads so a test can wait for a line with a
//! deadline instead of sleeping.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// One line the agent wrote: `stdout` tells which stream.
pub struct Line {
    pub stdout: bool,
    pub text: String,
}

pub struct Agent {
    child: Child,
    lines: Receiver<Line>,
    /// Everything read so far, for failure messages.
    pub log: Vec<String>,
}

/// A per-test scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Agent {
    /// Starts `peregrine -r RULES ARGS…` and waits (up to 30 s, BPF load and /proc seeding)
    /// until it reports that it is capturing.
    pub fn start(rules: &Path, args: &[&str]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .arg("-r")
            .arg(rules)
            .args(["-M", "120", "-o", "syslog_output.enabled=false"])
            .args(args)
            .env("PEREGRINE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agent starts");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for text in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(Line { stdout: true, text });
            }
        });
        std::thread::spawn(move || {
            for text in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(Line {
                    stdout: false,
                    text,
                });
            }
        });
        let mut agent = Agent {
            child,
            lines: rx,
            log: Vec::new(),
        };
        if !agent.wait_for(Duration::from_secs(30), |l| {
            !l.stdout && l.text.contains("capturing")
        }) {
            agent.signal("KILL");
            panic!("agent did not attach: {:#?}", agent.log);
        }
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a line satisfies `pred`, at most `within`; false on timeout or exit.
    pub fn wait_for(&mut self, within: Duration, pred: impl Fn(&Line) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let hit = pred(&line);
                    self.log.push(line.text);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Sends a signal by name (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("agent exits")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Never leave an agent attached to the kernel after a failed test.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
