//! Helpers shared by the end-to-end sink tests.
#![allow(dead_code)]

use peregrine_outputs::{Alert, OutputValue, Priority};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// 2026-11-28T21:05:03.123456789Z
pub const T: u64 = 1_795_899_903_123_456_789;

pub fn alert(rule: &str, priority: Priority, output: &str) -> Alert {
    Alert {
        time_ns: T,
        rule: rule.into(),
        priority,
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["host".into(), "filesystem".into()],
        output: output.into(),
        output_fields: vec![("proc.name".into(), OutputValue::Str("cat".into()))],
        extra_fields: Vec::new(),
    }
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "peregrine-outputs-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// Polls `cond` until it holds; fails the test after a generous bound (this is a liveness
/// guard, not a timing assertion). 60 s: with every core busy, a broker's restart plus the
/// output's capped backoff has taken more than 20 s (the MQTT test, about 1 run in 5 at load 12).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An in-memory writer the test can read while an output owns a clone.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
    }
}

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
