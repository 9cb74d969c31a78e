/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record layout shared by the BPF programs and user space.
 *
 * This header is the single source of truth: the BPF programs include it, and the Rust build
 * (crates/peregrine-capture/build.rs) runs bindgen over it and asserts at compile time that the
 * decoder's constants in peregrine-event match these sizes and offsets. Change a field here and
 * the Rust build fails until the decoder follows.
 *
 * A record is: struct pg_record_hdr, then nparams little-endian __u16 parameter lengths, then the
 * parameter values back to back. A ring buffer entry holds one or more records (a per-CPU
 * batch, see PG_BATCH_MAX), each starting at an 8-byte aligned offset: the next one begins at
 * the previous one's len rounded up to 8. Values use Falco's scap parameter encodings (see
 * falcosecurity/libs `driver/ppm_events_public.h`, `enum ppm_param_type`) so that decoding,
 * rendering and a future scap writer share one code path; which names and types the
 * parameters have is decided by the event kind and syscall number, in the Rust schema table,
 * not in this header.
 */
#ifndef PEREGRINE_RECORD_H
#define PEREGRINE_RECORD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bumped on any layout change; user space refuses records of another version. */
#define PG_RECORD_VERSION 1

/* Syscall numbers are < PG_MAX_SYSCALLS (x86-64 table, with head room). */
#define PG_MAX_SYSCALLS 512
/* Interest-map slot (not a syscall number) that enables procexit records. */
#define PG_PROCEXIT_SLOT (PG_MAX_SYSCALLS - 1)
/* Falco's PPM_MAX_EVENT_PARAMS. */
#define PG_MAX_PARAMS 32

/* Per-CPU scratch area where a record is assembled before it is copied into the ring. */
#define PG_SCRATCH_SIZE 65536
/* No record is larger than this; the write cursor is masked with PG_MAX_RECORD - 1. */
#define PG_MAX_RECORD 32768
/*
 * Per-CPU batches: records are appended to a staging buffer of this CPU and shipped to the ring
 * as one entry when the next record would not fit (the limit is pg_config.batch_bytes, at most
 * PG_BATCH_MAX), when the oldest record is older than PG_BATCH_AGE_NS, after a process
 * lifecycle record, when a task is switched out, or by a timer pinned to the CPU
 * PG_BATCH_AGE_NS after the first record, so a quiet CPU never holds records longer.
 */
#define PG_BATCH_MAX 4096
#define PG_BATCH_AGE_NS 1000000
/* Bounds of variable-length parameters. */
#define PG_MAX_PATH 4096
#define PG_MAX_ARGS 4096
#define PG_MAX_ENV 4096
#define PG_SNAPLEN 80

/* Record kinds. */
enum pg_kind {
	/* One record per captured syscall, emitted at exit with the enter arguments merged in. */
	PG_KIND_SYSCALL = 1,
	/* A task exited (sched_process_exit); Falco's procexit. */
	PG_KIND_PROCEXIT = 2,
};

/*
 * Interest map values: the syscall's family (low bits, 0 = not captured), plus
 * PG_INTEREST_AT_ENTER to stash its arguments at sys_enter instead of reading them at exit.
 */
#define PG_INTEREST_FAMILY 0x0f
#define PG_INTEREST_AT_ENTER 0x80
/*
 * The syscall's records go to the priority lane (the `pg_prio` ring) instead of the bulk lane
 * (per-CPU batches into `pg_events`): process lifecycle and the low-rate, high-value syscalls,
 * which must not share fate with a flood of file events. User space chooses the set.
 */
#define PG_INTEREST_PRIO 0x40

/* Syscall families: the unit of per-family drop accounting. */
enum pg_family {
	PG_FAMILY_NONE = 0, /* not captured */
	PG_FAMILY_FILE = 1,
	PG_FAMILY_NET = 2,
	PG_FAMILY_PROCESS = 3,
	PG_FAMILY_OTHER = 4,
	PG_FAMILY_MAX = 5,
};

struct pg_record_hdr {
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() at emission */
	__u32 tid;        /* thread id as seen from the initial pid namespace */
	__u32 pid;        /* thread group id */
	__u32 len;        /* whole record, header included */
	__u16 kind;       /* enum pg_kind */
	__u16 nr;         /* syscall number for PG_KIND_SYSCALL, 0 otherwise */
	__u16 nparams;    /* number of __u16 lengths following the header */
	__u16 cpu;        /* CPU that emitted the record */
	__u16 version;    /* PG_RECORD_VERSION */
	__u16 reserved;
};

/* Kernel configuration, one entry in the `pg_config` array map, written by user space. */
struct pg_config {
	__u32 self_tgid; /* the agent: its own syscalls are never captured */
	__u32 only_tgid; /* when non-zero, capture only this thread group (tests, `--pid`) */
	__u32 batch_bytes; /* ship a CPU's batch before it grows past this (<= PG_BATCH_MAX) */
	__u32 shed;        /* PG_SHED_* bits: what the kernel may shed (bpf/README.md, "Shedding") */
};

/*
 * Shedding (bpf/README.md): with PG_SHED_PATHS, an open of an absolute path that matches no
 * atom of pg_shed_prefix / pg_shed_suffix is not sent, and neither is the close of its fd.
 * Paths of PG_SHED_WINDOW bytes or more (NUL included) are never shed.
 */
#define PG_SHED_PATHS 1U
/* (pg_config.shed >> PG_SHED_SUFFIX_SHIFT) & 0xff: the longest needed suffix, the only part of
 * a path reversed for the suffix trie. pg_config.shed >> PG_SHED_GEN_SHIFT: the shedding
 * period, a new one each time shedding is turned on (the marks of an earlier one are stale). */
#define PG_SHED_SUFFIX_SHIFT 8
#define PG_SHED_GEN_SHIFT 16
#define PG_SHED_WINDOW 256

/* Key of the path tries (BPF_MAP_TYPE_LPM_TRIE): prefixlen in bits, then the bytes. */
struct pg_shed_key {
	__u32 prefixlen;
	__u8 data[PG_SHED_WINDOW];
};

/*
 * The fds of a process whose open was shed (the `pg_shed_fds` task storage of its group
 * leader, so a reused tgid never inherits marks): fd[n] != 0 marks fd n. Marks of another
 * shedding period than pg_config.shed's (`gen`) are stale. Bytes, not bits, so that threads
 * marking and consuming different fds need no atomic read-modify-write. An fd at or above
 * PG_SHED_MAX_FDS keeps no mark: its open may be shed, its close is sent.
 */
#define PG_SHED_MAX_FDS 2048
struct pg_shed_marks {
	__u32 gen;
	__u32 reserved;
	__u8 fd[PG_SHED_MAX_FDS];
};

/* Per-CPU counters (the `pg_counters` per-CPU array, one entry). User space sums the CPUs. */
struct pg_counters {
	__u64 syscalls;                       /* selected syscalls seen returning */
	__u64 events;                         /* records written to the ring */
	__u64 drops_ring_full;                /* records lost because the ring was full */
	__u64 drops_family[PG_FAMILY_MAX];    /* the same losses, by syscall family */
	__u64 drops_too_large;                /* records over PG_MAX_RECORD, not sent */
	__u64 read_failures;                  /* parameters left empty because a read failed */
	__u64 stash_failures;                 /* enter arguments not stored (stash map full) */
	__u64 missing_enter;                  /* exits without stored enter arguments */
	__u64 wakeup_tick;                    /* entries sent (paces the ring fill-level checks) */
	/*
	 * Records appended to this CPU's batch minus records shipped or dropped from it: summed
	 * over CPUs, the records the kernel holds that are neither in the ring nor counted lost.
	 */
	__u64 batched;
	/* The priority lane (PG_INTEREST_PRIO): records written to `pg_prio`, and records lost
	 * because it was full. Both are also counted in events / drops_ring_full (and by family),
	 * so the totals cover both lanes and the bulk lane's figures are the differences. */
	__u64 prio_events;
	__u64 prio_drops_ring_full;
	/* Shed on purpose, never counted as drops: opens whose path no rule needs, and the
	 * closes of the fds they returned. Also counted in `syscalls`. */
	__u64 shed_open_path;
	__u64 shed_close;
};

/* Enter arguments kept per thread until the matching exit (the `pg_stash` hash map). */
struct pg_stash {
	__u64 args[6];
	__u32 nr;
	__u32 reserved;
};

/* Flags of the execve `flags` parameter (Falco's PPM_EXE_*). */
#define PG_EXE_WRITABLE (1U << 0)
#define PG_EXE_UPPER_LAYER (1U << 1)
#define PG_EXE_FROM_MEMFD (1U << 2)
#define PG_EXE_LOWER_LAYER (1U << 3)

/* Overlayfs layer of an opened file, carried in otherwise unused bits of the open flags. */
#define PG_OPEN_UPPER_LAYER (1U << 31)
#define PG_OPEN_LOWER_LAYER (1U << 30)
/* The open created the file (FMODE_CREATED on the opened file): Falco's O_F_CREATED. */
#define PG_OPEN_CREATED (1U << 29)

/* The in-kernel kill's types (their own header; bindgen reads them from here). */
#include "peregrine_kill.h"

#endif /* PEREGRINE_RECORD_H */
