//! Step (d): a syscall storm into a deliberately small ring buffer. Every syscall the kernel
//! saw is either delivered or counted as a drop, by cause and by family — exactly.

mod common;

use common::*;
use peregrine_capture::Family;

#[test]
fn small_ring_drops_are_accounted_exactly() {
    if !peregrine_testkit::live("small_ring_drops_are_accounted_exactly") {
        return;
    }
    const N: i64 = 100_000;
    // 4 KiB holds ~60 close records: the storm overflows it many times over, as nothing
    // drains until the child has exited.
    let run = run_child(&["close"], 4096, |_| {
        for _ in 0..N {
            // SAFETY: closing an invalid fd only returns EBADF.
            unsafe { libc::close(-1) };
        }
    });
    let c = run.counters;
    let delivered_closes = run.of("close").len() as u64;
    let delivered_all = run.events.len() as u64;
    assert!(
        c.drops_ring_full > 0,
        "the ring should have overflowed: {c:?}"
    );
    assert!(delivered_closes > 0, "some events must arrive: {c:?}");
    assert_eq!(c.syscalls, N as u64, "{c:?}");
    assert_eq!(
        delivered_closes + c.drops_by_family[Family::File as usize],
        N as u64,
        "{c:?}"
    );
    // procexit is the only other record; it arrived or was dropped as a process event.
    let procexit_dropped = c.drops_by_family[Family::Process as usize];
    assert_eq!(
        delivered_all - delivered_closes + procexit_dropped,
        1,
        "{c:?}"
    );
    assert_eq!(c.drops_ring_full, c.drops_by_family.iter().sum::<u64>());
    assert_eq!(c.events, delivered_all);
    assert_eq!(c.delivered, delivered_all);
    assert_eq!(
        (c.malformed, c.stash_failures, c.drops_too_large),
        (0, 0, 0)
    );
    for e in run.of("close") {
        // Falco renders any negative fd with its errno name, as here.
        assert_eq!(e.pick(&["res", "fd"]), "res=-9(EBADF) fd=-1(EPERM)");
    }
}
