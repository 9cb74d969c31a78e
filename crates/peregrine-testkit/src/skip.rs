//! The one skip line.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

/// Writes `skipped: TEST: WHY` to the process's stderr, once per test and reason (a property
/// test's gate runs once per case). `eprintln!` inside a test goes to libtest's capture, which
/// a passing test never shows; the skip must be seen, so the line bypasses it.
pub fn skip(test: &str, why: &str) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let line = format!("skipped: {test}: {why}\n");
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.get_or_insert_with(HashSet::new).insert(line.clone()) {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}
