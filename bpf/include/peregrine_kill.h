/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-kernel kill (bpf/lib/kill.h): the map value and key types shared with
 * peregrine-capture's `Capture::set_kill` (bindgen reads them through peregrine_record.h,
 * so the Rust writer uses these very layouts).
 */
#ifndef PEREGRINE_KILL_H
#define PEREGRINE_KILL_H

/* Filters at most: one bit each in the u32 masks of the lookup maps. */
#define PG_KILL_MAX_FILTERS 32
/*
 * Generations: every lookup key and filter index carries one (0 or 1), and
 * pg_kill_config.generation says which is live. A reload writes the other generation, then
 * flips it: the hooks never see half of a new set of filters.
 */
#define PG_KILL_GENS 2
#define PG_KILL_COMM 16
#define PG_KILL_PATH 256

/* pg_kill_filter.flags */
#define PG_KILL_F_DRY_RUN (1U << 0)   /* count and log, never signal */
#define PG_KILL_F_CONTAINER (1U << 1) /* only in a container the kernel recognises */
#define PG_KILL_F_EXEC (1U << 2)      /* at sched_process_exec */
#define PG_KILL_F_OPEN (1U << 3)      /* at a successful open's exit */
#define PG_KILL_F_CONNECT (1U << 4)   /* at a successful connect's exit */
#define PG_KILL_F_NAMES (1U << 5)     /* exec: the new comm is in pg_kill_names */
#define PG_KILL_F_READ (1U << 6)      /* open: for reading */
#define PG_KILL_F_WRITE (1U << 7)     /* open: for writing */
#define PG_KILL_F_PORTS (1U << 8)     /* connect: the remote port is in pg_kill_ports */
#define PG_KILL_F_NETS (1U << 9)      /* connect: the remote address is in pg_kill_nets */
#define PG_KILL_F_SUCCESS (1U << 10)  /* connect: returned 0 (not EINPROGRESS) */
#define PG_KILL_F_PNAMES (1U << 11)   /* exec: the parent's comm is in pg_kill_pnames */

/* pg_kill_filter.open_calls */
#define PG_KILL_OPEN (1U << 0)
#define PG_KILL_OPENAT (1U << 1)
#define PG_KILL_OPENAT2 (1U << 2)
#define PG_KILL_CREAT (1U << 3)

struct pg_kill_filter {
	__u32 flags;      /* PG_KILL_F_* */
	__u32 exe_flags;  /* exec: PG_EXE_* bits the new image must all have */
	__u32 open_calls; /* open: the PG_KILL_OPEN* calls it applies to */
	__u32 reserved;
};

/*
 * pg_kill_config[0]: the live generation, and per generation the hooks with a filter
 * (PG_KILL_F_EXEC/OPEN/CONNECT) and the filters on. A writer changes one of generation or active[]
 * per update, so a reader never pairs a generation with another's masks.
 */
struct pg_kill_config {
	__u32 generation;
	__u32 hooks[PG_KILL_GENS];
	__u32 active[PG_KILL_GENS];
	__u32 reserved;
};

/* pg_kill_names, pg_kill_pnames: a comm of a generation. */
struct pg_kill_name_key {
	__u32 generation;
	char comm[PG_KILL_COMM];
};

/* pg_kill_paths: data[0] is the generation, then the path (with its NUL, shorter than
 * PG_KILL_PATH - 1: an LPM key holds 256 bytes at most); an exact path is a prefix that
 * includes its NUL (as the shed tries). prefixlen counts the generation byte's 8 bits too. */
struct pg_kill_path_key {
	__u32 prefixlen;
	__u8 data[PG_KILL_PATH];
};

/* pg_kill_nets: data[0] is the generation, data[1] 4 or 6, then the address (network order);
 * prefixlen counts the two leading bytes' 16 bits too. */
struct pg_kill_net_key {
	__u32 prefixlen;
	__u8 data[18];
};

/*
 * pg_kill_budget[0]: the kernel's own cap on kills (the response budget per minute). Over it
 * the filters only observe (log and count, no signal) until the window started by the first
 * kill has passed. Updated without locks: CPUs racing at the limit may let one extra kill
 * each through.
 */
struct pg_kill_budget {
	__u64 window_ns; /* the window's length; 0: no cap */
	__u64 start_ns;	 /* the current window's start (boot clock) */
	__u64 used;	 /* kills in the current window */
	__u64 limit;	 /* kills per window */
	__u64 observed;	 /* matches left alive because the budget was spent (all windows) */
};

/* pg_kill_spare_exe: an executable never acted on (the guard's protected list). */
struct pg_kill_inode {
	__u64 ino;
	__u32 dev; /* user-visible encoding (stat's st_dev) */
	__u32 reserved;
};

/* pg_kill_log (LRU, by tgid): the last kernel kill of a process, for the user-space report. */
struct pg_kill_entry {
	__u64 ts_boot_ns; /* when the filter matched */
	__u64 signal_ns;  /* from the match to bpf_send_signal's return */
	__u32 filter;	  /* gen * PG_KILL_MAX_FILTERS + index */
	__u32 dry_run;	  /* PG_KILL_DRY / PG_KILL_OBSERVED; 0: killed */
};

/* pg_kill_entry.dry_run */
#define PG_KILL_DRY 1	   /* the filter's dry run */
#define PG_KILL_OBSERVED 2 /* the kernel's budget was spent: observed, not killed */

/* pg_kill_counts (per CPU, by gen * PG_KILL_MAX_FILTERS + filter). */
struct pg_kill_count {
	__u64 kills;
	__u64 dry_runs;
	__u64 spared;	/* matched, but a safety rule held (pid 1, kernel thread, ancestor, exe) */
	__u64 observed; /* matched over the kernel's budget: left alive */
};

#endif /* PEREGRINE_KILL_H */
