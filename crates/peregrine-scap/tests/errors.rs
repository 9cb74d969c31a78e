//! Malformed, truncated and unusual captures: typed errors with offsets, what was read before
//! the error kept, and the strict checker's extra rules. Captures are built with the writer
//! and then damaged, so every expected offset is computed, not guessed.

mod common;

use common::raw_block;
use peregrine_scap::check::Problem;
use peregrine_scap::event::block;
use peregrine_scap::writer::WriteError;
use peregrine_scap::{
    check, read_all, ErrorKind, FdInfo, FdKind, MachineInfo, Metadata, ThreadInfo, Writer,
};

fn meta() -> Metadata {
    let mut t = ThreadInfo::new(42, 42, 1);
    t.comm = "sh".into();
    t.fds.push(FdInfo {
        fd: 3,
        ino: 7,
        kind: FdKind::File {
            open_flags: 1,
            name: "/etc/passwd".into(),
            dev: Some(0x803),
        },
    });
    Metadata {
        machine: Some(MachineInfo {
            num_cpus: 2,
            hostname: "h".into(),
            ..MachineInfo::default()
        }),
        threads: vec![t],
        ..Metadata::default()
    }
}

/// A capture with `meta()` and two `close` exits; returns the bytes and the offset of the
/// first event block.
fn capture() -> (Vec<u8>, usize) {
    let mut w = Writer::new(Vec::new(), &meta()).expect("writer");
    let first = w.position() as usize;
    for fd in [3i64, 4] {
        w.write_parts(
            1000 + fd as u64,
            42,
            1,
            5,
            0,
            &[&0i64.to_le_bytes(), &fd.to_le_bytes()],
        )
        .expect("event");
    }
    (w.finish().expect("finish"), first)
}

/// Reads `bytes`, expects an error whose kind satisfies `kind` at `offset`, and that `events`
/// events were read before it.
fn check_err(bytes: &[u8], kind: fn(&ErrorKind) -> bool, offset: usize, events: usize) {
    let c = read_all(bytes);
    let e = c.error.expect("an error");
    assert!(kind(&e.kind), "unexpected kind: {e}");
    assert_eq!(e.offset, offset as u64, "{e}");
    assert_eq!(c.events.len(), events, "{e}");
}

#[test]
fn well_formed_capture_reads() {
    let (b, _) = capture();
    let c = read_all(&b);
    assert!(c.error.is_none());
    assert_eq!(c.metadata.threads, meta().threads);
    assert_eq!(c.events.len(), 2);
    assert_eq!(c.events[1].params[1], 4i64.to_le_bytes());
    let s = check(&b).expect("check");
    assert_eq!((s.events, s.threads, s.fds), (2, 1, 1));
}

#[test]
fn header_errors() {
    let (good, _) = capture();
    check_err(&[], |k| matches!(k, ErrorKind::Truncated { .. }), 0, 0);
    check_err(
        &good[..5],
        |k| matches!(k, ErrorKind::Truncated { .. }),
        0,
        0,
    );
    let mut b = good.clone();
    b[0] = 0x55;
    check_err(&b, |k| matches!(k, ErrorKind::NotScap(_)), 0, 0);
    let mut b = good.clone();
    b[8..12].copy_from_slice(&0x1A2B3C4Du32.to_be_bytes());
    check_err(&b, |k| matches!(k, ErrorKind::ByteSwapped), 8, 0);
    let mut b = good.clone();
    b[8] ^= 1;
    check_err(&b, |k| matches!(k, ErrorKind::BadMagic(_)), 8, 0);
    let mut b = good.clone();
    b[12..14].copy_from_slice(&2u16.to_le_bytes());
    check_err(
        &b,
        |k| matches!(k, ErrorKind::Version { major: 2, .. }),
        12,
        0,
    );
}

#[test]
fn metadata_errors_keep_what_was_read() {
    let (good, _) = capture();
    // The MI block starts right after the 28-byte SHB and is 192 bytes; damage the IL after it.
    let il = 28 + 192;
    let mut b = good.clone();
    let len = u32::from_le_bytes(b[il + 4..il + 8].try_into().unwrap()) as usize;
    b[il + len - 4] ^= 0xff;
    let c = read_all(&b);
    let e = c.error.expect("error");
    assert!(matches!(e.kind, ErrorKind::BadTrailer { .. }), "{e}");
    assert_eq!(e.offset, (il + len - 4) as u64);
    assert_eq!(
        c.metadata.machine.map(|m| m.num_cpus),
        Some(2),
        "machine info kept"
    );

    // A file that ends before any event is a valid capture with no events (libscap reads
    // it to EOF; Falco and sysdig write such files when stopped before the first event).
    let (good, first) = capture();
    let c = read_all(&good[..first]);
    assert!(c.error.is_none(), "{:?}", c.error);
    assert!(c.events.is_empty());
    assert_eq!(c.metadata.threads, meta().threads);
    let s = check(&good[..first]).expect("zero events pass the strict check");
    assert_eq!((s.events, s.threads, s.fds), (0, 1, 1));

    // An unknown metadata block is skipped and recorded.
    let mut b = good[..first].to_vec();
    b.extend(raw_block(0x7777, b"hello"));
    b.extend_from_slice(&good[first..]);
    let c = read_all(&b);
    assert!(c.error.is_none());
    assert_eq!(c.metadata.skipped_blocks, vec![(0x7777, first as u64)]);
    assert_eq!(check(&b).expect("check").events, 2);
}

#[test]
fn event_errors_keep_earlier_events() {
    let (good, first) = capture();
    let second = first + (good.len() - first) / 2;
    // Truncated inside the second event block.
    check_err(
        &good[..good.len() - 6],
        |k| matches!(k, ErrorKind::Truncated { .. }),
        second,
        1,
    );
    // A metadata block after the events.
    let mut b = good.clone();
    b.extend(raw_block(block::PL_V9, &[]));
    check_err(
        &b,
        |k| matches!(k, ErrorKind::UnexpectedBlock(t) if *t == block::PL_V9),
        good.len(),
        2,
    );
    // The second event's `len` field beyond its block.
    let mut b = good.clone();
    b[second + 8 + 2 + 16..][..4].copy_from_slice(&1000u32.to_le_bytes());
    check_err(&b, |k| matches!(k, ErrorKind::BadEvent(_)), second + 8, 1);
    // Its parameter lengths overflow the event.
    let mut b = good.clone();
    b[second + 8 + 2 + 26..][..2].copy_from_slice(&500u16.to_le_bytes());
    check_err(&b, |k| matches!(k, ErrorKind::BadEvent(_)), second + 8, 1);
    // A non-LARGE event block above 64 KiB.
    let mut b = good.clone();
    b.extend(raw_block(block::EV_V2, &vec![0u8; 70000]));
    check_err(
        &b,
        |k| matches!(k, ErrorKind::BadBlockLength { .. }),
        good.len(),
        2,
    );
}

#[test]
fn newer_event_codes_are_skipped() {
    let mut w = Writer::new(Vec::new(), &meta()).expect("writer");
    w.write_parts(1, 42, 0, 500, 0, &[b"x"]).expect("event");
    w.write_parts(2, 42, 0, 5, 0, &[&0i64.to_le_bytes(), &3i64.to_le_bytes()])
        .expect("event");
    let b = w.finish().expect("finish");
    let mut rd = peregrine_scap::Reader::new(&b[..]).expect("open");
    let e = rd.next_event().expect("ok").expect("event");
    assert_eq!((e.ts, e.ppm_type), (2, 5));
    assert!(rd.next_event().expect("ok").is_none());
    assert_eq!(rd.stats().skipped_newer, 1);
    // The checker accepts them too (counted, not validated).
    assert_eq!(check(&b).expect("check").per_code.get(&500), Some(&1));
}

/// v1 event blocks (no `nparams`) get their parameter count inferred from the table.
#[test]
fn v1_events_infer_nparams() {
    let (good, first) = capture();
    let mut b = good[..first].to_vec();
    // open exit (code 3) with 4 of its 6 params: fd, name, flags, mode.
    let params: [&[u8]; 4] = [
        &3i64.to_le_bytes(),
        b"/etc/hosts\0",
        &1u32.to_le_bytes(),
        &0u32.to_le_bytes(),
    ];
    let data: usize = params.iter().map(|p| p.len()).sum();
    let mut body = Vec::new();
    body.extend_from_slice(&0u16.to_le_bytes()); // cpu
    body.extend_from_slice(&7u64.to_le_bytes());
    body.extend_from_slice(&42u64.to_le_bytes());
    body.extend_from_slice(&((22 + 2 * 4 + data) as u32).to_le_bytes());
    body.extend_from_slice(&3u16.to_le_bytes());
    for p in params {
        body.extend_from_slice(&(p.len() as u16).to_le_bytes());
    }
    for p in params {
        body.extend_from_slice(p);
    }
    b.extend(raw_block(block::EV, &body));
    let c = read_all(&b);
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.events[0].params.len(), 4);
    assert_eq!(c.events[0].params[1], b"/etc/hosts\0");
    assert_eq!(check(&b).expect("check").events, 1);
    // Break the length so no count matches.
    let at = first + 8 + 2 + 16;
    b[at..at + 4].copy_from_slice(&((22 + 2 * 4 + data + 1) as u32).to_le_bytes());
    check_err(&b, |k| matches!(k, ErrorKind::BadEvent(_)), first + 8, 0);
}

#[test]
fn writer_picks_block_types_and_limits() {
    let mut w = Writer::new(Vec::new(), &Metadata::default()).expect("writer");
    // pluginevent has EF_LARGE_PAYLOAD: u32 lengths, LARGE block, > 64 KiB allowed.
    let big = vec![7u8; 100_000];
    w.write_parts(1, 1, 0, 322, 0, &[&9u32.to_le_bytes(), &big])
        .expect("large");
    // State-only flag: EVF block.
    w.write_parts(2, 1, 0, 5, 1, &[&0i64.to_le_bytes(), &3i64.to_le_bytes()])
        .expect("flags");
    let too_big = w.write_parts(3, 1, 0, 9, 0, &[&0i64.to_le_bytes(), &big]);
    assert!(
        matches!(too_big, Err(WriteError::TooLong { .. })),
        "{too_big:?}"
    );
    let b = w.finish().expect("finish");
    let s = check(&b).expect("check");
    assert_eq!(s.blocks.get(&block::EV_V2_LARGE), Some(&1));
    assert_eq!(s.blocks.get(&block::EVF_V2), Some(&1));
    let c = read_all(&b);
    assert_eq!(c.events.len(), 2);
    assert_eq!(c.events[0].params[1], big);
    assert_eq!(c.events[1].flags, 1);
}

/// The checker's rules beyond the reader's.
#[test]
fn checker_rejects_bad_layouts() {
    type Case<'a> = (u16, &'a [&'a [u8]], fn(&Problem) -> bool);
    let cases: &[Case] = &[
        // close exit with a 4-byte fd.
        (5, &[&[0; 8], &[0; 4]], |p| {
            matches!(p, Problem::BadParam { index: 1, .. })
        }),
        // open exit whose name lacks its NUL.
        (3, &[&[0; 8], b"/x"], |p| {
            matches!(p, Problem::BadParam { index: 1, .. })
        }),
        // close exit with three params.
        (5, &[&[0; 8], &[0; 8], &[0; 8]], |p| {
            matches!(p, Problem::TooManyParams { max: 2, .. })
        }),
        // A code missing from the table.
        (408, &[], |p| matches!(p, Problem::UnknownEvent(408))),
        // connect exit: IPv4 tuple of the wrong length.
        (23, &[&[0; 8], &[2, 1, 2, 3]], |p| {
            matches!(p, Problem::BadParam { index: 1, .. })
        }),
    ];
    for (code, params, want) in cases {
        let mut w = Writer::new(Vec::new(), &meta()).expect("writer");
        w.write_parts(1, 42, 0, *code, 0, params).expect("event");
        let b = w.finish().expect("finish");
        let e = check(&b).expect_err("must fail");
        assert!(want(&e.problem), "code {code}: {e}");
        assert!(
            read_all(&b).error.is_none(),
            "the reader is lenient: code {code}"
        );
    }
    // Unaligned block length.
    let (mut b, first) = capture();
    b.truncate(first);
    let mut blk = raw_block(0x7777, b"abcd");
    blk[4] += 1;
    b.extend(blk);
    assert!(matches!(
        check(&b).expect_err("fails").problem,
        Problem::Unaligned(_)
    ));
}
