//! The hot-path promise: once warm, an event that matches no rule is processed without a
//! heap allocation (counted by a global allocator wrapper in this test binary only).
//!
//! The rule reads event and process fields. `fd.*` fields are left out on purpose: today
//! `peregrine-state`'s fd extraction builds the container id as a `String` per call (one
//! allocation per evaluated fd field, reported to its owner); the engine itself adds none.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use peregrine_engine::CountingSink;
use peregrine_event::builder::RecordBuilder;

struct Counting;

thread_local! {
    /// Allocations made by this thread: the pipeline runs on the test's thread, and the
    /// harness's other threads (printing results, running the other test) must not count.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // A const-initialised Cell has no destructor: reachable even while a thread exits.
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn non_matching_events_do_not_allocate() {
    let mut pipe = common::offline_pipeline(
        "- rule: r\n  desc: d\n  condition: evt.type = close and evt.rawres = 5 or (evt.type = close and proc.name in (cat, less) and proc.pname startswith sys)\n  output: o %fd.name\n  priority: INFO\n",
    );
    let recs: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            RecordBuilder::syscall("close")
                .and_then(|b| b.ts(i).thread(42, 42).arg("res", -9i64))
                .and_then(|b| b.arg("fd", 1000 + i as i64))
                .expect("close")
                .build()
        })
        .collect();
    let mut sink = CountingSink::default();
    // Warm-up: the thread is created, scratch buffers grow.
    for r in &recs[..10] {
        pipe.process_record(r, 0, &mut sink);
    }
    let before = allocs();
    for r in &recs[10..] {
        pipe.process_record(r, 0, &mut sink);
    }
    let after = allocs();
    assert_eq!(pipe.stats().evaluated, 1000);
    assert_eq!(pipe.stats().matches(), 0);
    assert_eq!(after - before, 0, "allocations on the hot path");
}

/// Allocations while 500 failed `dup3(900, 1000, O_CLOEXEC)` records go through a pipeline
/// whose one rule has `condition`, after 500 records of warm-up; none of them matches.
fn dup3_allocations(condition: &str) -> u64 {
    let mut pipe = common::offline_pipeline(&format!(
        "- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: INFO\n"
    ));
    let recs: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            RecordBuilder::syscall("dup3")
                .and_then(|b| b.ts(i).thread(42, 42).arg("res", -9i64))
                .and_then(|b| b.arg("oldfd", 900i64))
                .and_then(|b| b.arg("newfd", 1000i64))
                .and_then(|b| b.arg("flags", 0o2000000u64))
                .expect("dup3")
                .build()
        })
        .collect();
    let mut sink = CountingSink::default();
    for r in &recs[..500] {
        pipe.process_record(r, 0, &mut sink);
    }
    let before = allocs();
    for r in &recs[500..] {
        pipe.process_record(r, 0, &mut sink);
    }
    let after = allocs();
    assert_eq!(pipe.stats().evaluated, 1000);
    assert_eq!(pipe.stats().matches(), 0);
    after - before
}

/// Flag names that conditions read (`evt.arg.flags contains …`, on every selected event)
/// are rendered into a reused buffer: such a condition allocates no more than one on a
/// number. (The state's own handling of these records is not what this measures.)
#[test]
fn flag_conditions_do_not_allocate() {
    let number = dup3_allocations("evt.type = dup3 and evt.rawres = 5");
    for condition in [
        "evt.type = dup3 and evt.arg.flags contains O_NONBLOCK",
        "evt.type = dup3 and evt.arg.flags = O_NONBLOCK",
    ] {
        assert!(
            dup3_allocations(condition) <= number,
            "{condition}: more allocations than a numeric condition ({number})"
        );
    }
}
