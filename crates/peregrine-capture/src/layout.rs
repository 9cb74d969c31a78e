//! The record layout as bindgen reads it from `bpf/include/peregrine_record.h`, and the
//! compile-time proof that peregrine-event's decoder constants agree with it.
//!
//! Change the C header and this module stops compiling until `peregrine_event::raw` follows:
//! the mirror is checked by the compiler, not by a "keep in sync" comment.

#![allow(non_camel_case_types, non_upper_case_globals, dead_code)]

include!(concat!(env!("OUT_DIR"), "/record_layout.rs"));

use core::mem::{offset_of, size_of};
use peregrine_event::raw as r;

const _: () = {
    assert!(size_of::<pg_record_hdr>() == r::HDR_SIZE);
    assert!(offset_of!(pg_record_hdr, ts_boot_ns) == r::OFF_TS);
    assert!(offset_of!(pg_record_hdr, tid) == r::OFF_TID);
    assert!(offset_of!(pg_record_hdr, pid) == r::OFF_PID);
    assert!(offset_of!(pg_record_hdr, len) == r::OFF_LEN);
    assert!(offset_of!(pg_record_hdr, kind) == r::OFF_KIND);
    assert!(offset_of!(pg_record_hdr, nr) == r::OFF_NR);
    assert!(offset_of!(pg_record_hdr, nparams) == r::OFF_NPARAMS);
    assert!(offset_of!(pg_record_hdr, cpu) == r::OFF_CPU);
    assert!(offset_of!(pg_record_hdr, version) == r::OFF_VERSION);
    assert!(PG_RECORD_VERSION as u16 == r::RECORD_VERSION);
    assert!(PG_MAX_PARAMS as usize == r::MAX_PARAMS);
    assert!(PG_MAX_SYSCALLS as usize == r::MAX_SYSCALLS);
    assert!(PG_PROCEXIT_SLOT as usize == r::PROCEXIT_SLOT);
    assert!(pg_kind_PG_KIND_SYSCALL as u16 == r::KIND_SYSCALL);
    assert!(pg_kind_PG_KIND_PROCEXIT as u16 == r::KIND_PROCEXIT);
    assert!(PG_OPEN_UPPER_LAYER == peregrine_event::flags::OPEN_UPPER_LAYER);
    assert!(PG_OPEN_LOWER_LAYER == peregrine_event::flags::OPEN_LOWER_LAYER);
    assert!(PG_OPEN_CREATED == peregrine_event::flags::OPEN_CREATED);
};
