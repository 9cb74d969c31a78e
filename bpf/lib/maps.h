// SPDX-License-Identifier: Apache-2.0
/*
 * Constants and maps shared by every program: the ring, interest and configuration maps,
 * counters, the enter stash, the scratch areas and the per-CPU batches.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

#define PG_HDR_SIZE ((__u32)sizeof(struct pg_record_hdr))
#define PG_POS_MASK (PG_MAX_RECORD - 1)
/* Temporary area (path assembly, sockaddr copies) at the top of the scratch buffer. */
#define PG_TMP_OFF 49152
#define PG_TMP_MASK 4095
#define PG_PATH_DEPTH 32
#define PG_OVERLAYFS_MAGIC 0x794c7630
#define PG_RLIMIT_NOFILE 7
#define PG_MAX_SOCKADDR 128

#ifndef AF_UNIX
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#endif

/* The ring buffer; its size is set by user space before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} pg_events SEC(".maps");

/*
 * The priority lane: records of syscalls marked PG_INTEREST_PRIO (process lifecycle and the
 * low-rate, high-value syscalls), one unbatched entry each, so that a flood of file events
 * that fills pg_events cannot take them down with it. User space drains it first on every
 * round and merges it with pg_events by timestamp (bpf/README.md, "Lanes"). Its size is set
 * by user space before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} pg_prio SEC(".maps");

/* Which syscalls are captured: value = enum pg_family, 0 = not captured. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PG_MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u8);
} pg_interest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_config);
} pg_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_counters);
} pg_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pg_stash);
} pg_stash SEC(".maps");

struct pg_scratch {
	__u8 data[PG_SCRATCH_SIZE];
};

/*
 * One scratch area per CPU. A plain array indexed by CPU, not a per-CPU array, because per-CPU
 * values are limited to 32 KiB; user space sets max_entries to the number of possible CPUs.
 * Programs run with migration disabled, so an area is never shared by two running programs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct pg_scratch);
} pg_scratch SEC(".maps");

/*
 * One batch per CPU (see PG_BATCH_MAX): a plain array indexed by CPU because timers cannot live
 * in per-CPU maps; user space sets max_entries to the number of possible CPUs. The data area is
 * three times the batch limit so that an offset masked to PG_BATCH_MAX - 1 plus a length
 * masked to 2 * PG_BATCH_MAX - 1 provably fits (the verifier's view; at run time a batch never
 * exceeds PG_BATCH_MAX).
 *
 * Who touches a CPU's batch: the record writers running on that CPU and pg_sched_switch (BPF
 * programs on syscall and sched tracepoints run with preemption disabled, and a writer never
 * schedules, so they never interleave with each other) and the CPU-pinned timer callback,
 * which runs in softirq context and can interrupt a writer. `busy` is set around every
 * access; the timer leaves a busy batch alone and re-arms. A writer that finds the batch busy
 * (only possible if a writer could ever be interrupted by another one) writes its record to
 * the ring directly.
 *
 * Order: a CPU's records reach the ring in the order they were written. Across CPUs a record
 * can trail another CPU's later ones by up to the batch age, except that a batch is shipped
 * whenever a task leaves the CPU (so one thread's records are never reordered by a
 * migration) and right after a process lifecycle record (clone, exec, exit, credentials).
 */
struct pg_batch {
	struct bpf_timer timer;
	__u64 first_ts; /* timestamp of the oldest record in the batch */
	__u32 len;      /* bytes used, a multiple of 8 */
	__u32 nrec;     /* records in the batch */
	__u32 fam[8];   /* records per family, so that a lost batch is counted by family */
	__u8 busy;
	__u8 armed;       /* the timer is pending */
	__u8 timer_ready; /* bpf_timer_init done */
	__u8 pad[5];
	__u8 data[3 * PG_BATCH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct pg_batch);
} pg_batch SEC(".maps");

/*
 * Shedding (bpf/README.md, "Shedding"): the path atoms the loaded rules need, as prefixes of
 * the path (an exact path is a prefix that includes its NUL) and as prefixes of the reversed
 * path (suffixes), both written by user space; and the fds whose open was shed, so that their
 * close is shed too: per process, in its group leader's task storage (freed with the task), a
 * lookup of a few ns where a hash map took an insert per shed open and a delete per close.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_shed_key);
	__type(value, __u8);
} pg_shed_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_shed_key);
	__type(value, __u8);
} pg_shed_suffix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pg_shed_marks);
} pg_shed_fds SEC(".maps");
