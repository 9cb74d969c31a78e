//! Harness for live kernel tests: a forked child performs syscalls on cue while a capture
//! restricted to its pid records them; the test then compares decoded events.
//!
//! The child runs only async-signal-safe libc calls (the test process is multi-threaded), and
//! reports values the test needs (fds, pids) through a pipe as raw i64s.

#![allow(dead_code)]

use std::time::Duration;

use peregrine_capture::{Capture, CaptureConfig, Counters};
use peregrine_event::{EventType, EventTypeSet, Render};

/// One decoded event, owned, with every parameter rendered as sysdig prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub name: String,
    pub tid: u32,
    pub pid: u32,
    pub params: Vec<(String, String)>,
}

impl Owned {
    pub fn get(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{} has no param {name}: {:?}", self.name, self.params))
    }

    /// `name=value` pairs for the given names, for one-line assertions.
    pub fn pick(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|n| format!("{n}={}", self.get(n)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Writes i64 values from the child to the parent.
pub struct Reporter(pub i32);

impl Reporter {
    pub fn report(&self, v: i64) {
        let b = v.to_ne_bytes();
        // SAFETY: writing 8 bytes from a valid buffer to a pipe fd.
        unsafe { libc::write(self.0, b.as_ptr().cast(), 8) };
    }
}

pub fn set(names: &[&str]) -> EventTypeSet {
    names
        .iter()
        .map(|n| EventType::from_name(n).unwrap_or_else(|| panic!("unknown syscall {n}")))
        .collect()
}

pub struct Run {
    pub events: Vec<Owned>,
    pub reported: Vec<i64>,
    pub child: u32,
    pub counters: Counters,
    pub status: i32,
}

impl Run {
    /// Events of the given type, in order.
    pub fn of(&self, name: &str) -> Vec<&Owned> {
        self.events.iter().filter(|e| e.name == name).collect()
    }

    pub fn one(&self, name: &str) -> &Owned {
        let v = self.of(name);
        assert_eq!(
            v.len(),
            1,
            "expected one {name} event, got {:?}",
            self.events
        );
        v[0]
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: valid out array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    (fds[0], fds[1])
}

/// Forks a child that waits for a go signal, runs `body`, and exits; captures `syscalls`
/// (plus procexit) of that child only.
pub fn run_child(syscalls: &[&str], ring_bytes: u32, body: impl FnOnce(&Reporter)) -> Run {
    run_child_with(syscalls, &[], ring_bytes, body)
}

/// [`run_child`], with `at_enter` syscalls reading their arguments at sys_enter.
pub fn run_child_with(
    syscalls: &[&str],
    at_enter: &[&str],
    ring_bytes: u32,
    body: impl FnOnce(&Reporter),
) -> Run {
    run_child_full(syscalls, at_enter, ring_bytes, None, body)
}

/// [`run_child_with`], with the kernel shedding opens of paths outside `shed` (if given).
pub fn run_child_full(
    syscalls: &[&str],
    at_enter: &[&str],
    ring_bytes: u32,
    shed: Option<&peregrine_capture::ShedPaths>,
    body: impl FnOnce(&Reporter),
) -> Run {
    let (go_r, go_w) = pipe();
    let (rep_r, rep_w) = pipe();
    // SAFETY: the child only calls async-signal-safe functions and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: plain reads/closes on our own fds.
        unsafe {
            libc::close(go_w);
            libc::close(rep_r);
            libc::read(go_r, b.as_mut_ptr().cast(), 1);
        }
        body(&Reporter(rep_w));
        // SAFETY: terminate the child without running the parent's atexit handlers.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing the child's ends in the parent.
    unsafe {
        libc::close(go_r);
        libc::close(rep_w);
    }
    let config = CaptureConfig {
        ring_bytes,
        priority_ring_bytes: CaptureConfig::default().priority_ring_bytes,
        syscalls: set(syscalls),
        procexit: true,
        only_tgid: Some(pid as u32),
        exclude_self: true,
    };
    let mut cap = Capture::open(&config).expect("capture opens");
    cap.set_stash_at_enter(&set(at_enter))
        .expect("stash selection");
    if shed.is_some() {
        cap.set_shed(shed).expect("shedding");
    }
    // SAFETY: releasing the child.
    unsafe {
        libc::write(go_w, [1u8].as_ptr().cast(), 1);
        libc::close(go_w);
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };

    let mut reported = Vec::new();
    let mut b = [0u8; 8];
    // SAFETY: reading 8-byte reports until EOF.
    while unsafe { libc::read(rep_r, b.as_mut_ptr().cast(), 8) } == 8 {
        reported.push(i64::from_ne_bytes(b));
    }
    // SAFETY: closing our end.
    unsafe { libc::close(rep_r) };

    let mut events = Vec::new();
    let saw_exit = std::cell::Cell::new(false);
    // The child is gone; its records are in the ring or in per-CPU batches that their timers
    // ship within a millisecond or so. Bounded wait, not a timing assertion.
    let mut keep = |ev: &peregrine_event::Event<'_>| {
        if ev.name() == "procexit" && ev.tid() == pid as u32 {
            saw_exit.set(true);
        }
        events.push(Owned {
            name: ev.name().to_string(),
            tid: ev.tid(),
            pid: ev.pid(),
            params: ev
                .params()
                .map(|(info, v)| {
                    let s = match v {
                        Ok(v) => Render {
                            ty: info.ty,
                            value: &v,
                        }
                        .to_string(),
                        Err(e) => format!("<invalid: {e}>"),
                    };
                    (info.name.to_string(), s)
                })
                .collect(),
        });
    };
    for _ in 0..500 {
        if saw_exit.get() {
            // Everything the child did precedes its procexit: collect what other CPUs'
            // batches still hold, so that the counters below are final.
            cap.drain_all(Duration::from_secs(10), &mut keep)
                .expect("drain");
            break;
        }
        cap.poll(Duration::from_millis(5), &mut keep).expect("poll");
    }
    let counters = cap.counters().expect("counters");
    Run {
        events,
        reported,
        child: pid as u32,
        counters,
        status,
    }
}

/// `st_dev` (as user space sees it, the encoding the kernel side uses) and `st_ino`.
pub fn dev_ino(path: &std::ffi::CStr) -> (u64, u64) {
    // SAFETY: zeroed stat is a valid out buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and buffer.
    let r = unsafe { libc::stat(path.as_ptr(), &mut st) };
    assert_eq!(r, 0, "stat {path:?}");
    (st.st_dev, st.st_ino)
}
