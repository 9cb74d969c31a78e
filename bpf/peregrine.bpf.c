// SPDX-License-Identifier: Apache-2.0
/*
 * Peregrine's kernel side: syscall and process-lifecycle capture.
 *
 * Design in one paragraph: sys_exit decides (interest map, self/target filter) and writes ONE
 * record per syscall with the result and the arguments, read from the saved user registers
 * (or, for syscalls user space opts in, from a per-thread stash filled at sys_enter — the
 * enter hook is attached only then). Records go into a per-CPU batch (struct pg_batch) that is
 * shipped to the ring as one entry when full, when its oldest record is PG_BATCH_AGE_NS old,
 * or by a CPU-pinned timer: one ring reservation and one copy of L1-hot lines per batch
 * instead of a reservation (irq-saving spinlock) and fresh cross-CPU cache lines per record,
 * which measured ≈ 85 of the ≈ 250 ns a captured getppid's program took. A record of fixed-size
 * parameters is written in place in the batch by the dispatcher itself; one with strings or
 * buffers is assembled in a per-CPU scratch area by a tail-called writer and copied into the
 * batch. Entries are submitted with BPF_RB_NO_WAKEUP (user space drains on a short timer; a
 * wakeup is forced only when the ring is half full). Successful execs are emitted from
 * sched_process_exec, where the binprm (the file actually executed, its name as resolved by
 * the kernel) is still available; failed ones from sys_exit; procexit from sched_process_exit.
 * Parameters use Falco's scap encodings; flag values are the raw kernel ones and are mapped to
 * Falco's PPM_* values in user space, where the tables are testable.
 *
 * When arguments are read (a racing thread can rewrite user memory at any time):
 *  - exec: everything comes from kernel memory after the point of no return (binprm filename,
 *    the new mm's argument and environment pages, the executed file): not racy.
 *  - socket tuples (connect, accept, sendto, recvfrom): from the kernel's struct sock at exit,
 *    i.e. what the kernel actually used, not from the caller's sockaddr.
 *  - file identity (dev, ino of open/openat/openat2/creat): from the opened struct file at exit.
 *  - user-supplied strings (paths, connect/bind sockaddr): read at exit, like Falco. The kernel
 *    copied them at syscall entry; a thread racing between that copy and our read can make the
 *    event show another string. Reading them at sys_enter narrows but does not close that
 *    window and costs a per-thread string stash; the fd-based identity above is the
 *    authoritative part and is what the state engine should trust.
 *  - user memory that is not resident cannot be read (BPF cannot fault pages in): the
 *    parameter is left empty and counted in read_failures. Paths the kernel just used are
 *    resident; a buffer the kernel rejected before touching it may not be.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "peregrine_record.h"

char LICENSE[] SEC("license") = "GPL";

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
 * A record being assembled. The write cursor and parameter index live in the scratch header
 * (h->len, h->reserved), i.e. in map memory, on purpose: the verifier does not track values
 * loaded from maps, so records whose variable-length parameters took different sizes converge
 * to one verifier state instead of multiplying states per parameter (every access is masked
 * anyway). Kept on the stack, the exec record alone exceeded the 1M-instruction budget.
 */
struct rec {
	__u8 *b;
	struct pg_record_hdr *h;
	__u8 family;
};

static __always_inline struct pg_counters *counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&pg_counters, &zero);
}

static __always_inline void count_read_failure(void)
{
	struct pg_counters *c = counters();
	if (c)
		c->read_failures++;
}

/* Capture decision shared by every hook: not the agent, and the target if one is set. */
static __always_inline bool wanted_tgid(__u32 tgid)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&pg_config, &zero);
	if (!cfg)
		return false;
	if (tgid == cfg->self_tgid)
		return false;
	if (cfg->only_tgid && tgid != cfg->only_tgid)
		return false;
	return true;
}

static __always_inline __u8 interest(__u32 nr)
{
	__u8 *f = bpf_map_lookup_elem(&pg_interest, &nr);
	return f ? *f : 0;
}

/* This CPU's scratch area: the record being built, then the temporary area behind it. */
static __always_inline struct pg_scratch *scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&pg_scratch, &cpu);
}

static __always_inline bool rec_init(struct rec *r, __u16 kind, __u16 nr, __u16 nparams,
				     __u8 family)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct pg_scratch *s = scratch();
	if (!s)
		return false;
	r->b = s->data;
	r->h = (struct pg_record_hdr *)s->data;
	r->family = family;
	struct pg_record_hdr *h = r->h;
	h->reserved = 0;
	h->len = PG_HDR_SIZE + 2 * (nparams & (PG_MAX_PARAMS - 1));
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->tid = (__u32)pid_tgid;
	h->pid = pid_tgid >> 32;
	h->kind = kind;
	h->nr = nr;
	h->nparams = nparams & (PG_MAX_PARAMS - 1);
	h->cpu = cpu;
	h->version = PG_RECORD_VERSION;
	return true;
}

static __always_inline void set_len(struct rec *r, __u32 len)
{
	__u32 off = PG_HDR_SIZE + 2 * (r->h->reserved & (PG_MAX_PARAMS - 1));
	*(__u16 *)&r->b[off] = (__u16)len;
	r->h->reserved++;
}

/* A parameter of `n` bytes has been written at the cursor: move past it, record its length. */
static __always_inline void push_done(struct rec *r, __u32 n)
{
	r->h->len += n;
	set_len(r, n);
}

static __always_inline void push_empty(struct rec *r)
{
	set_len(r, 0);
}

#define DEFINE_PUSH(name, type)                                                                \
	static __always_inline void name(struct rec *r, type v)                                \
	{                                                                                      \
		*(type *)&r->b[r->h->len & PG_POS_MASK] = v;                                      \
		push_done(r, sizeof(type));                                                    \
	}
DEFINE_PUSH(push_u8, __u8)
DEFINE_PUSH(push_u16, __u16)
DEFINE_PUSH(push_u32, __u32)
DEFINE_PUSH(push_u64, __u64)

/* A NUL-terminated string read with `read_str` (the user or kernel variant). */
#define DEFINE_PUSH_STR(name, read_str)                                                        \
	static __always_inline void name(struct rec *r, const void *p)                         \
	{                                                                                      \
		long n = 0;                                                                    \
		if (p) {                                                                       \
			n = read_str(&r->b[r->h->len & PG_POS_MASK], PG_MAX_PATH, p);          \
			if (n < 0) {                                                           \
				count_read_failure();                                          \
				n = 0;                                                         \
			}                                                                      \
		}                                                                              \
		push_done(r, n);                                                               \
	}
DEFINE_PUSH_STR(push_user_str, bpf_probe_read_user_str)
DEFINE_PUSH_STR(push_kernel_str, bpf_probe_read_kernel_str)

/* Raw user bytes, at most `max` (a constant bound; must be <= PG_MAX_ARGS). */
static __always_inline void push_user_bytes(struct rec *r, const void *p, __u64 len, __u32 max)
{
	if (len > max)
		len = max;
	if (!p || len == 0) {
		push_empty(r);
		return;
	}
	len &= (PG_MAX_ARGS * 2 - 1);
	if (len > max)
		len = max;
	if (bpf_probe_read_user(&r->b[r->h->len & PG_POS_MASK], len, p) < 0) {
		count_read_failure();
		push_empty(r);
		return;
	}
	push_done(r, len);
}

static __always_inline __u32 encode_dev(__u32 kdev)
{
	/* Kernel-internal dev_t (major << 20 | minor) to the user-visible encoding (new_encode_dev). */
	__u32 major = kdev >> 20, minor = kdev & 0xfffff;
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

/* ---- task helpers ---- */

/* kfunc (6.2+): reinterprets a kernel pointer as a read-only BTF-typed one. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	if (fd < 0)
		return NULL;
	/* Direct loads through the BTF-typed task (faulting loads become 0), not helper calls:
	 * this runs for every open-family and socket record. */
	struct files_struct *files = t->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt)
		return NULL;
	unsigned int max = fdt->max_fds;
	if ((unsigned long)fd >= max)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	/* Typed again (read-only) so that callers walk file → inode → sb with direct loads. */
	return f ? bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file)) : NULL;
}

struct path_walk {
	struct dentry *dentry;
	struct dentry *mnt_root;
	struct mount *mnt;
	struct mount *mnt_parent;
	__u32 off; /* start of the path built so far, backwards from the end of the tmp area */
};

static __always_inline __u8 *scratch_tmp(void)
{
	struct pg_scratch *s = scratch();
	return s ? s->data + PG_TMP_OFF : NULL;
}

/* One path component; a bpf_loop callback so the verifier checks the body once, not per step. */
static long path_step(__u64 i, void *vctx)
{
	struct path_walk *w = vctx;
	__u8 *tmp = scratch_tmp();
	if (!tmp)
		return 1;
	/* Locals, not w->…, inside BPF_CORE_READ: the macro would relocate w's own fields. */
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == w->mnt_root) {
		if (mnt == w->mnt_parent)
			return 1; /* the real root */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		mnt = w->mnt_parent;
		w->mnt = mnt;
		w->mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		w->mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
		return 0;
	}
	/* A dentry that is its own parent but not a mount root is disconnected or a pseudo
	 * file (memfd, pipe, socket): its name is the whole path, as d_path shows it. */
	bool last = dentry == parent;
	__u32 len = BPF_CORE_READ(dentry, d_name.len) & 255;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	__u32 off = w->off;
	if (len + 1 > off || off > PG_TMP_MASK)
		return 1;
	off -= len;
	bpf_probe_read_kernel(&tmp[off & PG_TMP_MASK], len, name);
	off -= 1;
	tmp[off & PG_TMP_MASK] = '/';
	w->off = off;
	w->dentry = parent;
	return last ? 1 : 0;
}

/*
 * Writes the absolute path of `dentry` in `vfsmnt` as a NUL-terminated string, walking up the
 * dentry tree and across mount points (bounded depth: deeper paths come out truncated at the
 * top, which d_path would refuse to do, but the record stays well-formed).
 */
static __always_inline void push_dentry_path(struct rec *r, struct dentry *dentry,
					     struct vfsmount *vfsmnt)
{
	__u8 *tmp = r->b + PG_TMP_OFF;
	if (!dentry || !vfsmnt) {
		push_empty(r);
		return;
	}
	struct mount *mnt =
		(struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	struct path_walk w = {
		.dentry = dentry,
		.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
		.mnt = mnt,
		.mnt_parent = BPF_CORE_READ(mnt, mnt_parent),
		.off = PG_TMP_MASK, /* tmp[4095] = NUL */
	};
	tmp[PG_TMP_MASK] = 0;
	bpf_loop(PG_PATH_DEPTH, path_step, &w, 0);
	__u32 off = w.off;
	if (off >= PG_TMP_MASK) {
		off = PG_TMP_MASK - 1;
		tmp[off] = '/';
	}
	__u32 n = (PG_TMP_MASK + 1 - off) & PG_TMP_MASK;
	if (n == 0 || bpf_probe_read_kernel(&r->b[r->h->len & PG_POS_MASK], n,
					    &tmp[off & PG_TMP_MASK]) < 0) {
		push_empty(r);
		return;
	}
	push_done(r, n);
}

static __always_inline void push_file_path(struct rec *r, struct file *f)
{
	if (!f) {
		push_empty(r);
		return;
	}
	struct path p = BPF_CORE_READ(f, f_path);
	push_dentry_path(r, p.dentry, p.mnt);
}

/* ---- sockets ---- */

static __always_inline struct sock *fd_sock(long fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	if (!s)
		return NULL;
	/* Only trust private_data when the file really is a socket. */
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & 00170000) != 0140000)
		return NULL;
	return BPF_CORE_READ(s, sk);
}

/*
 * Falco's socket tuple: family, then (ip, port) of both ends, or the two unix socket addresses
 * and the path. Like Falco's fd.name, the order is client → server: local → remote for an
 * outbound socket (connect, send), remote → local for an accepted one (`inbound`).
 */
static __always_inline void push_socktuple_peer(struct rec *r, struct sock *sk, bool inbound,
					       const void *upeer, bool peer_inbound)
{
	if (!sk) {
		push_empty(r);
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	__u8 *tmp = r->b + PG_TMP_OFF;
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* An unconnected datagram socket: the peer is the address passed to sendto or filled
	 * in by recvfrom, and the tuple is oriented client → server from that peer. */
	bool use_peer = false;
	if (upeer && dport == 0 && bpf_probe_read_user(tmp, 24, upeer) == 0 &&
	    *(__u16 *)tmp == family) {
		use_peer = true;
		inbound = peer_inbound;
	}
	if (family == AF_INET) {
		__u32 la = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u16 lp = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u32 ra = use_peer ? *(__u32 *)&tmp[4] : BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u16 rp = use_peer ? bpf_ntohs(*(__u16 *)&tmp[2]) : dport;
		p[0] = AF_INET;
		*(__u32 *)&p[1] = inbound ? ra : la;
		*(__u16 *)&p[5] = inbound ? rp : lp;
		*(__u32 *)&p[7] = inbound ? la : ra;
		*(__u16 *)&p[11] = inbound ? lp : rp;
		push_done(r, 13);
	} else if (family == AF_INET6) {
		__u16 lp = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 rp = use_peer ? bpf_ntohs(*(__u16 *)&tmp[2]) : dport;
		p[0] = AF_INET6;
		/* bpf_core_read with an explicit size: BPF_CORE_READ_INTO would size by *dst. */
		__u8 *local = inbound ? &p[19] : &p[1];
		__u8 *remote = inbound ? &p[1] : &p[19];
		bpf_core_read(local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		if (use_peer)
			__builtin_memcpy(remote, &tmp[8], 16);
		else
			bpf_core_read(remote, 16, &sk->__sk_common.skc_v6_daddr);
		*(__u16 *)&p[17] = inbound ? rp : lp;
		*(__u16 *)&p[35] = inbound ? lp : rp;
		push_done(r, 37);
	} else if (family == AF_UNIX) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct sock *peer = BPF_CORE_READ(us, peer);
		p[0] = AF_UNIX;
		*(__u64 *)&p[1] = (__u64)sk;
		*(__u64 *)&p[9] = (__u64)peer;
		/* The path is the bound name of this socket, or else of the peer. */
		struct unix_address *addr = BPF_CORE_READ(us, addr);
		if (!addr && peer)
			addr = BPF_CORE_READ((struct unix_sock *)peer, addr);
		long n = 0;
		if (addr) {
			int alen = BPF_CORE_READ(addr, len);
			/* sun_path starts after the 2-byte family; abstract names begin with NUL. */
			n = alen - 2;
			if (n < 0)
				n = 0;
			if (n > 107)
				n = 107;
			if (n > 0)
				bpf_probe_read_kernel(&p[17], n & 127, (void *)addr->name[0].sun_path);
		}
		p[(17 + n) & 255] = 0;
		push_done(r, 18 + n);
	} else {
		p[0] = family;
		push_done(r, 1);
	}
}

static __always_inline void push_socktuple(struct rec *r, struct sock *sk, bool inbound)
{
	push_socktuple_peer(r, sk, inbound, NULL, false);
}

/* A user sockaddr converted to Falco's sockaddr encoding. */
static __always_inline void push_user_sockaddr(struct rec *r, const void *uaddr, __u64 alen)
{
	__u8 *tmp = r->b + PG_TMP_OFF;
	if (!uaddr || alen < 2) {
		push_empty(r);
		return;
	}
	if (alen > PG_MAX_SOCKADDR)
		alen = PG_MAX_SOCKADDR;
	if (bpf_probe_read_user(tmp, alen & (PG_MAX_SOCKADDR * 2 - 1), uaddr) < 0) {
		count_read_failure();
		push_empty(r);
		return;
	}
	__u16 family = *(__u16 *)tmp;
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	if (family == AF_INET && alen >= 8) {
		p[0] = AF_INET;
		*(__u32 *)&p[1] = *(__u32 *)&tmp[4];
		*(__u16 *)&p[5] = bpf_ntohs(*(__u16 *)&tmp[2]);
		push_done(r, 7);
	} else if (family == AF_INET6 && alen >= 24) {
		p[0] = AF_INET6;
		__builtin_memcpy(&p[1], &tmp[8], 16);
		*(__u16 *)&p[17] = bpf_ntohs(*(__u16 *)&tmp[2]);
		push_done(r, 19);
	} else if (family == AF_UNIX) {
		__u32 n = alen - 2;
		if (n > 108)
			n = 108;
		p[0] = AF_UNIX;
		bpf_probe_read_kernel(&p[1], n & 127, &tmp[2]);
		p[(1 + n) & 255] = 0;
		push_done(r, n + 2);
	} else {
		p[0] = family;
		push_done(r, 1);
	}
}

#define PG_MAX_IOV 16

static __always_inline __u8 *scratch_rec(void);

struct iov_walk {
	const struct iovec *iov; /* user array */
	__u64 cnt;
	__u32 start; /* record offset where the data begins */
	__u32 want;  /* bytes to gather: min(transferred, snaplen) */
	__u32 got;
	bool sum;    /* walk every vector (up to PG_MAX_IOV) to add up their lengths */
	__u64 total; /* sum of iov_len over the vectors walked */
};

/* One iovec's share of the data; a bpf_loop callback, so the verifier checks it once. */
static long iov_step(__u64 i, void *vctx)
{
	struct iov_walk *w = vctx;
	__u8 *b = scratch_rec();
	struct iovec iov = {};
	if (!b || i >= w->cnt || (w->got >= w->want && !w->sum))
		return 1;
	if (bpf_probe_read_user(&iov, sizeof(iov), &w->iov[i]) < 0) {
		count_read_failure();
		return 1;
	}
	w->total += iov.iov_len;
	__u32 room = w->want - w->got;
	__u32 n = iov.iov_len < room ? iov.iov_len : room;
	n &= 127; /* <= PG_SNAPLEN already; the mask is for the verifier */
	if (n && bpf_probe_read_user(&b[(w->start + w->got) & PG_POS_MASK], n, iov.iov_base) < 0) {
		count_read_failure();
		return 1;
	}
	w->got += n;
	return 0;
}

/*
 * Appends, as one parameter, the first `want` bytes (<= PG_SNAPLEN) of a user iovec array,
 * gathered across the vectors in order (at most PG_MAX_IOV of them), as Falco captures
 * sendmsg/recvmsg/readv/writev data. A vector that cannot be read ends the walk there
 * (counted as a read failure). With `sum`, every vector is visited and the sum of their
 * lengths (the `size` of readv/writev) is returned.
 */
static __always_inline __u64 push_iov_data(struct rec *r, const struct iovec *iov, __u64 cnt,
					   __u32 want, bool sum)
{
	struct iov_walk w = {
		.iov = iov,
		.cnt = cnt,
		.start = r->h->len,
		.want = want,
		.sum = sum,
	};
	if (!iov) {
		push_empty(r);
		return 0;
	}
	bpf_loop(PG_MAX_IOV, iov_step, &w, 0);
	push_done(r, w.got);
	return w.total;
}

/* The data of a user msghdr (sendmsg/recvmsg): what was transferred, up to the snaplen. */
static __always_inline void push_msg_data(struct rec *r, __u64 umsg, long ret)
{
	struct user_msghdr mh = {};
	if (ret <= 0 || bpf_probe_read_user(&mh, sizeof(mh), (void *)umsg) < 0 || !mh.msg_iov) {
		push_empty(r);
		return;
	}
	push_iov_data(r, mh.msg_iov, mh.msg_iovlen, ret < PG_SNAPLEN ? ret : PG_SNAPLEN, false);
}

/* ---- poll fd lists ---- */

/* At most this many (fd, flags) entries of a poll set are reported: one bpf_loop bound. */
#define PG_MAX_POLLFD 16

/* struct pollfd (uapi), declared here: uapi types are not all in the kernel's BTF. */
struct pg_pollfd {
	int fd;
	short events;
	short revents;
};

struct pollfd_walk {
	const struct pg_pollfd *fds; /* user array */
	__u64 cnt;
	__u32 start; /* record offset of the u16 count */
	__u32 n;     /* entries written */
};

/* Kernel POLL* bits to Falco's PPM_POLL* (IN, PRI, OUT keep their bits; RDHUP moves to 8). */
static __always_inline __u16 poll_flags_to_ppm(__u16 k)
{
	return (k & 0x7) | ((k & 0x3f8) << 1) | ((k & 0x2000) ? 0x8 : 0);
}

/* One pollfd as (i64 fd, u16 revents in PPM_POLL*); a bpf_loop callback. */
static long pollfd_step(__u64 i, void *vctx)
{
	struct pollfd_walk *w = vctx;
	__u8 *b = scratch_rec();
	struct pg_pollfd p = {};
	if (!b || i >= w->cnt)
		return 1;
	if (bpf_probe_read_user(&p, sizeof(p), &w->fds[i]) < 0) {
		count_read_failure();
		return 1;
	}
	__u32 at = w->start + 2 + 10 * (w->n & (PG_MAX_POLLFD - 1));
	*(__s64 *)&b[at & PG_POS_MASK] = p.fd;
	*(__u16 *)&b[(at + 8) & PG_POS_MASK] = poll_flags_to_ppm(p.revents);
	w->n++;
	return 0;
}

/*
 * Falco's PT_FDLIST for the user pollfd array `fds` of `nfds` entries, after the call: each
 * fd with the events the kernel returned (revents), the first PG_MAX_POLLFD entries.
 */
static __always_inline void push_pollfds(struct rec *r, __u64 fds, __u64 nfds)
{
	struct pollfd_walk w = {
		.fds = (const struct pg_pollfd *)fds,
		.cnt = nfds,
		.start = r->h->len,
	};
	if (fds)
		bpf_loop(PG_MAX_POLLFD, pollfd_step, &w, 0);
	*(__u16 *)&r->b[w.start & PG_POS_MASK] = w.n;
	push_done(r, 2 + 10 * w.n);
}

/* ---- emission ---- */

/*
 * Wake the reader only when the ring is over half full, and then on one record in 64 per CPU:
 * a consumer that has fallen behind is already awake or about to be, and a forced wakeup per
 * record (an irq_work each) multiplied the cost of every event by ten in that state. The
 * fill level is looked at only on those 64th records (two helper calls saved on the others);
 * the timer-driven drain handles everything else.
 */
static __always_inline __u64 wakeup_flags(struct pg_counters *c)
{
	if ((c->wakeup_tick++ & 63) == 0 &&
	    bpf_ringbuf_query(&pg_events, BPF_RB_AVAIL_DATA) >
		    bpf_ringbuf_query(&pg_events, BPF_RB_RING_SIZE) / 2)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void count_ring_full(struct pg_counters *c, __u8 family)
{
	c->drops_ring_full++;
	if (family < PG_FAMILY_MAX)
		c->drops_family[family]++;
}

/* ---- per-CPU batches (struct pg_batch) ---- */

#define PG_CLOCK_MONOTONIC 1
/* Orders the `busy` flag against the batch accesses it guards (same CPU: compiler only). */
#define pg_barrier() asm volatile("" ::: "memory")

static __always_inline struct pg_batch *this_batch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&pg_batch, &cpu);
}

/* Sends the batch as one ring entry, or counts each of its records as lost; empties it. */
static __always_inline void batch_ship(struct pg_batch *b, struct pg_counters *c)
{
	__u32 len = b->len;
	__u32 n = b->nrec;
	if (n == 0)
		return;
	bool ok = len > 0 && len <= PG_BATCH_MAX;
	/* Hide the check from clang so that the mask (the verifier's bound) stays. */
	asm volatile("" : "+r"(len));
	if (ok && bpf_ringbuf_output(&pg_events, b->data, len & (2 * PG_BATCH_MAX - 1),
				     wakeup_flags(c)) == 0) {
		c->events += n;
	} else {
		c->drops_ring_full += n;
		for (int i = 0; i < PG_FAMILY_MAX; i++)
			c->drops_family[i] += b->fam[i];
	}
	c->batched -= n;
	b->len = 0;
	b->nrec = 0;
	__builtin_memset(b->fam, 0, sizeof(b->fam));
}

static int batch_timer(void *map, __u32 *key, struct pg_batch *b)
{
	struct pg_counters *c = counters();
	if (!c)
		return 0;
	if (b->busy) {
		/* It interrupted a writer on this CPU: look again shortly. */
		bpf_timer_start(&b->timer, PG_BATCH_AGE_NS / 8, BPF_F_TIMER_CPU_PIN);
		return 0;
	}
	b->armed = 0;
	batch_ship(b, c);
	return 0;
}

/* Starts the timer that ships this CPU's batch PG_BATCH_AGE_NS from now, on this CPU. */
static __always_inline void batch_arm(struct pg_batch *b)
{
	if (!b->timer_ready) {
		/* -EBUSY (already initialised) is fine: only the callback must be set. */
		bpf_timer_init(&b->timer, &pg_batch, PG_CLOCK_MONOTONIC);
		if (bpf_timer_set_callback(&b->timer, batch_timer) != 0)
			return;
		b->timer_ready = 1;
	}
	if (bpf_timer_start(&b->timer, PG_BATCH_AGE_NS, BPF_F_TIMER_CPU_PIN) == 0)
		b->armed = 1;
}

/*
 * This CPU's batch, marked busy, with room for a record of `size` bytes at b->len (the batch is
 * shipped first if the record would not fit); NULL if batching is off (pg_config.batch_bytes
 * 0), the record is larger than a batch, or the batch is busy.
 */
static __always_inline struct pg_batch *batch_open(__u32 size, struct pg_counters *c)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&pg_config, &zero);
	__u32 limit = cfg ? cfg->batch_bytes : 0;
	__u32 asize = (size + 7) & ~7U;
	if (limit > PG_BATCH_MAX)
		limit = PG_BATCH_MAX;
	if (asize > limit)
		return NULL;
	struct pg_batch *b = this_batch();
	if (!b || b->busy)
		return NULL;
	b->busy = 1;
	pg_barrier();
	if (b->len + asize > limit)
		batch_ship(b, c);
	return b;
}

/* Where batch_open's record goes: the offset is < PG_BATCH_MAX - size by construction. */
static __always_inline __u8 *batch_cursor(struct pg_batch *b)
{
	return b->data + (b->len & (PG_BATCH_MAX - 1));
}

/* The record of `size` bytes at batch_cursor() is complete: account for it, release the batch. */
static __always_inline void batch_commit(struct pg_batch *b, __u32 size, __u8 family, __u64 ts,
					 struct pg_counters *c)
{
	if (b->nrec == 0)
		b->first_ts = ts;
	b->len += (size + 7) & ~7U;
	b->nrec++;
	b->fam[family & 7]++;
	c->batched++;
	/* Process lifecycle records go out at once: the state engine must see a clone, exec or
	 * exit before records that other CPUs write about the processes it creates. */
	if (family == PG_FAMILY_PROCESS || ts - b->first_ts >= PG_BATCH_AGE_NS)
		batch_ship(b, c);
	else if (!b->armed)
		batch_arm(b);
	pg_barrier();
	b->busy = 0;
}

/* Ships this CPU's batch now if it is not busy: a record about to bypass it keeps its order. */
static __always_inline void batch_flush(struct pg_counters *c)
{
	struct pg_batch *b = this_batch();
	if (!b || b->busy || b->nrec == 0)
		return;
	b->busy = 1;
	pg_barrier();
	batch_ship(b, c);
	pg_barrier();
	b->busy = 0;
}

static __always_inline void rec_submit(struct rec *r)
{
	struct pg_counters *c = counters();
	struct pg_record_hdr *h = (struct pg_record_hdr *)r->b;
	__u32 len = r->h->len;
	if (!c)
		return;
	if (len > PG_MAX_RECORD) {
		c->drops_too_large++;
		return;
	}
	h->len = len;
	h->reserved = 0;
	struct pg_batch *b = batch_open(len, c);
	if (b) {
		/* batch_open guarantees len <= PG_BATCH_MAX; the mask, hidden from clang so that it
		 * stays, bounds it for the verifier. */
		__u32 n = len;
		asm volatile("" : "+r"(n));
		if (bpf_probe_read_kernel(batch_cursor(b), n & (2 * PG_BATCH_MAX - 1), r->b) == 0) {
			batch_commit(b, len, r->family, h->ts_boot_ns, c);
			return;
		}
		/* Copying between two of our own maps does not fail; if it ever did, count it. */
		pg_barrier();
		b->busy = 0;
		count_ring_full(c, r->family);
		return;
	}
	batch_flush(c);
	if (bpf_ringbuf_output(&pg_events, r->b, len, wakeup_flags(c)) == 0)
		c->events++;
	else
		count_ring_full(c, r->family);
}

/* ---- cgroups ---- */

#define PG_CGROUP_DEPTH 12
#define PG_CGROUP_NAME 128

/* kernfs_node.parent was renamed __parent in 6.15; CO-RE picks whichever exists. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

static __always_inline __u8 *scratch_rec(void)
{
	struct pg_scratch *s = scratch();
	return s ? s->data : NULL;
}

/*
 * One controller of the current task as Falco's `cgroups` list item "name=/path\0",
 * appended at the record cursor. A bpf_loop callback over the CGROUP_SUBSYS_COUNT slots.
 */
static long cgroup_step(__u64 i, void *unused)
{
	__u8 *b = scratch_rec();
	if (!b || i >= CGROUP_SUBSYS_COUNT)
		return 1;
	struct pg_record_hdr *h = (struct pg_record_hdr *)b;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct cgroup_subsys_state *css = BPF_CORE_READ(t, cgroups, subsys[i & 15]);
	if (!css)
		return 0;
	const char *ssname = BPF_CORE_READ(css, ss, name);
	struct kernfs_node *kn = BPF_CORE_READ(css, cgroup, kn);
	struct kernfs_node *chain[PG_CGROUP_DEPTH] = {};
	int depth = 0;
	for (int d = 0; d < PG_CGROUP_DEPTH; d++) {
		if (!kn)
			break;
		struct kernfs_node *parent = kn_parent(kn);
		if (!parent)
			break; /* kn is the hierarchy root: not part of the path */
		chain[d] = kn;
		depth = d + 1;
		kn = parent;
	}
	long n = bpf_probe_read_kernel_str(&b[h->len & PG_POS_MASK], 32, ssname);
	if (n <= 1)
		return 0;
	h->len += n - 1;
	b[h->len & PG_POS_MASK] = '=';
	h->len += 1;
	if (depth == 0) {
		b[h->len & PG_POS_MASK] = '/';
		h->len += 1;
	}
	for (int d = PG_CGROUP_DEPTH - 1; d >= 0; d--) {
		if (d >= depth)
			continue;
		b[h->len & PG_POS_MASK] = '/';
		h->len += 1;
		n = bpf_probe_read_kernel_str(&b[h->len & PG_POS_MASK], PG_CGROUP_NAME,
					      BPF_CORE_READ(chain[d], name));
		if (n > 1)
			h->len += n - 1;
	}
	b[h->len & PG_POS_MASK] = 0;
	h->len += 1;
	return 0;
}

/* Falco's `cgroups` parameter: every mounted controller's path, NUL-separated. */
static __always_inline void push_cgroups(struct rec *r)
{
	__u32 start = r->h->len;
	bpf_loop(CGROUP_SUBSYS_COUNT, cgroup_step, NULL, 0);
	__u32 n = r->h->len - start;
	if (n > PG_MAX_ARGS) {
		/* Cannot happen with the bounds above; keep the record well-formed anyway. */
		r->h->len = start;
		n = 0;
	}
	set_len(r, n);
}

/* ---- process information shared by clone and execve ---- */

static __always_inline void push_mm_region(struct rec *r, struct mm_struct *mm, bool env,
					   bool skip_first)
{
	unsigned long start = env ? BPF_CORE_READ(mm, env_start) : BPF_CORE_READ(mm, arg_start);
	unsigned long end = env ? BPF_CORE_READ(mm, env_end) : BPF_CORE_READ(mm, arg_end);
	if (!mm || end <= start) {
		push_empty(r);
		return;
	}
	__u64 len = end - start;
	if (skip_first) {
		/* argv[0] is the `exe` parameter; `args` is the rest. */
		long n = bpf_probe_read_user_str(&r->b[r->h->len & PG_POS_MASK], PG_MAX_PATH,
						 (void *)start);
		if (n <= 0 || n >= len) {
			push_empty(r);
			return;
		}
		start += n;
		len -= n;
	}
	push_user_bytes(r, (void *)start, len, env ? PG_MAX_ENV : PG_MAX_ARGS);
}

static __always_inline void push_exe_argv0(struct rec *r, struct mm_struct *mm)
{
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	push_user_str(r, mm ? (void *)start : NULL);
}

static __always_inline __u64 rss_pages(struct mm_struct *mm, int i)
{
	s64 v = BPF_CORE_READ(mm, rss_stat[i].count);
	return v > 0 ? v : 0;
}

/* tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size, vm_rss, vm_swap, comm */
static __always_inline void push_task_common(struct rec *r, struct task_struct *t)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	push_u64(r, BPF_CORE_READ(t, pid));
	push_u64(r, BPF_CORE_READ(t, tgid));
	push_u64(r, BPF_CORE_READ(t, real_parent, tgid));
	struct path pwd = BPF_CORE_READ(t, fs, pwd);
	push_dentry_path(r, pwd.dentry, pwd.mnt);
	push_u64(r, BPF_CORE_READ(t, signal, rlim[PG_RLIMIT_NOFILE].rlim_cur));
	push_u64(r, BPF_CORE_READ(t, maj_flt));
	push_u64(r, BPF_CORE_READ(t, min_flt));
	if (mm) {
		push_u32(r, BPF_CORE_READ(mm, total_vm) << 2); /* pages → KiB (4 KiB pages) */
		push_u32(r, (rss_pages(mm, 0) + rss_pages(mm, 1) + rss_pages(mm, 3)) << 2);
		push_u32(r, rss_pages(mm, 2) << 2);
	} else {
		push_u32(r, 0);
		push_u32(r, 0);
		push_u32(r, 0);
	}
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	bpf_get_current_comm(p, 16);
	long n = bpf_probe_read_kernel_str(p, 16, p);
	if (n < 0)
		n = 0;
	push_done(r, n);
}

static __always_inline __u32 pid_nr_in(struct pid *pid, bool ns_local)
{
	if (!pid)
		return 0;
	unsigned int level = ns_local ? BPF_CORE_READ(pid, level) : 0;
	return BPF_CORE_READ(pid, numbers[level & 31].nr);
}

static __always_inline __u32 tty_of(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (!tty)
		return 0;
	int major = BPF_CORE_READ(tty, driver, major);
	int minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/* Which overlayfs layer a file lives on: 0 = not overlay, 1 = upper, 2 = lower. */
static __always_inline __u32 overlay_layer(struct file *f)
{
	/* The path's inode, not f_inode: an opened overlay file's f_inode is the real inode of
	 * the layer it lives on (ext4, …), while its path stays on the overlay. */
	struct inode *inode = BPF_CORE_READ(f, f_path.dentry, d_inode);
	if (!f || BPF_CORE_READ(inode, i_sb, s_magic) != PG_OVERLAYFS_MAGIC)
		return 0;
	struct ovl_inode *oi =
		(struct ovl_inode *)((void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode));
	return BPF_CORE_READ(oi, __upperdentry) ? 1 : 2;
}

/* PG_EXE_* flags of an executable file. */
static __always_inline __u32 exe_flags(struct file *f)
{
	__u32 flags = 0;
	if (!f)
		return 0;
	char name[8] = {};
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
	    name[5] == ':')
		flags |= PG_EXE_FROM_MEMFD;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	/* Writable by the executing task: the DAC permission bits for its fsuid/fsgid, or
	 * CAP_DAC_OVERRIDE (which grants write on any non-directory), as Falco decides it. */
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	const struct cred *cred = BPF_CORE_READ(t, cred);
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	__u32 fsuid = BPF_CORE_READ(cred, fsuid.val), fsgid = BPF_CORE_READ(cred, fsgid.val);
	bool writable;
	if (fsuid == BPF_CORE_READ(inode, i_uid.val))
		writable = mode & 0200;
	else if (fsgid == BPF_CORE_READ(inode, i_gid.val))
		writable = mode & 0020;
	else
		writable = mode & 0002;
	if (!writable && (BPF_CORE_READ(cred, cap_effective.val) & (1ULL << 1 /* DAC_OVERRIDE */)))
		writable = true;
	if (writable)
		flags |= PG_EXE_WRITABLE;
	__u32 layer = overlay_layer(f);
	if (layer)
		flags |= layer == 1 ? PG_EXE_UPPER_LAYER : PG_EXE_LOWER_LAYER;
	return flags;
}

/*
 * The 31 parameters of Falco's execve exit event (30 for execveat). `exe_file` and
 * `kfilename` come from the binprm on success; on failure they are the current image and the
 * user-supplied filename.
 */
static __always_inline void emit_exec(__u16 nr, long res, struct file *exe_file,
				      const char *kfilename, const char *ufilename)
{
	struct rec r;
	bool at = nr == 322;
	if (!rec_init(&r, PG_KIND_SYSCALL, nr, at ? 30 : 31, PG_FAMILY_PROCESS))
		return;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	const struct cred *cred = BPF_CORE_READ(t, cred);

	push_u64(&r, res);
	push_exe_argv0(&r, mm);
	push_mm_region(&r, mm, false, true);
	push_task_common(&r, t); /* tid … comm: params 3..13 */
	push_cgroups(&r);
	push_mm_region(&r, mm, true, false);
	push_u32(&r, tty_of(t));
	push_u64(&r, pid_nr_in(BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID]), true));
	push_u32(&r, BPF_CORE_READ(t, loginuid.val));
	push_u32(&r, exe_flags(exe_file));
	push_u64(&r, BPF_CORE_READ(cred, cap_inheritable.val));
	push_u64(&r, BPF_CORE_READ(cred, cap_permitted.val));
	push_u64(&r, BPF_CORE_READ(cred, cap_effective.val));
	struct inode *inode = BPF_CORE_READ(exe_file, f_inode);
	push_u64(&r, exe_file ? BPF_CORE_READ(inode, i_ino) : 0);
	push_u64(&r, exe_file ? BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ULL +
				    BPF_CORE_READ(inode, i_ctime_nsec)
			      : 0);
	push_u64(&r, exe_file ? BPF_CORE_READ(inode, i_mtime_sec) * 1000000000ULL +
				    BPF_CORE_READ(inode, i_mtime_nsec)
			      : 0);
	push_u32(&r, BPF_CORE_READ(cred, euid.val));
	push_file_path(&r, exe_file);
	push_u64(&r, pid_nr_in(BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID]), false));
	push_u32(&r, BPF_CORE_READ(cred, egid.val));
	if (!at) {
		if (kfilename)
			push_kernel_str(&r, kfilename);
		else
			push_user_str(&r, ufilename);
	}
	rec_submit(&r);
}

/* Falco's clone exit: res, exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size,
 * vm_rss, vm_swap, comm, cgroups, flags, uid, gid, vtid, vpid, pidns_init_start_ts. */
static __always_inline void emit_clone(__u16 nr, long res, __u64 flags)
{
	struct rec r;
	if (!rec_init(&r, PG_KIND_SYSCALL, nr, 21, PG_FAMILY_PROCESS))
		return;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	const struct cred *cred = BPF_CORE_READ(t, cred);
	push_u64(&r, res);
	push_exe_argv0(&r, mm);
	push_mm_region(&r, mm, false, true);
	push_task_common(&r, t);
	push_cgroups(&r);
	push_u32(&r, (__u32)flags);
	push_u32(&r, BPF_CORE_READ(cred, euid.val));
	push_u32(&r, BPF_CORE_READ(cred, egid.val));
	push_u64(&r, pid_nr_in(BPF_CORE_READ(t, thread_pid), true));
	push_u64(&r, pid_nr_in(BPF_CORE_READ(t, group_leader, thread_pid), true));
	push_u64(&r, 0); /* pidns_init_start_ts: TODO */
	rec_submit(&r);
}

/* ---- per-syscall parameter writers ---- */

static __always_inline void push_open_identity(struct rec *r, struct file *f)
{
	if (!f) {
		push_u32(r, 0);
		push_u64(r, 0);
		return;
	}
	struct inode *inode = f->f_inode;
	push_u32(r, encode_dev(inode->i_sb->s_dev));
	push_u64(r, inode->i_ino);
}

/* include/linux/fs.h: set on the file when this open created it (O_CREAT, new inode). */
#define PG_FMODE_CREATED (1U << 20)

/*
 * Raw kernel open flags, plus facts about the opened file in bits no O_* flag uses: its
 * overlayfs layer in bits 31 (upper) and 30 (lower), and in bit 29 whether this open created
 * it. User space maps them to PPM_O_*, FD_*_LAYER and O_F_CREATED.
 */
static __always_inline void push_open_flags(struct rec *r, __u64 flags, struct file *f)
{
	__u32 layer = f ? overlay_layer(f) : 0;
	__u32 v = (__u32)flags & (PG_OPEN_CREATED - 1);
	if (layer)
		v |= layer == 1 ? PG_OPEN_UPPER_LAYER : PG_OPEN_LOWER_LAYER;
	/* f is BTF-typed (fd_file): a direct load, no probe-read helper call. */
	if (f && (f->f_mode & PG_FMODE_CREATED))
		v |= PG_OPEN_CREATED;
	push_u32(r, v);
}

#define PG_O_CREAT 0100
#define PG_O_TMPFILE 020000000

/* The mode argument is only read by the kernel with O_CREAT or O_TMPFILE; otherwise the
 * register holds whatever the caller left there, and Falco reports 0. */
static __always_inline void push_open_mode(struct rec *r, __u64 flags, __u64 mode)
{
	push_u32(r, (flags & (PG_O_CREAT | PG_O_TMPFILE)) ? (__u32)mode : 0);
}

/*
 * Records made only of fixed-size parameters (most of them integers taken straight from the
 * registers) are written in place: reserved in the ring at their exact size, filled, and
 * submitted, with no scratch area and no copy. The dispatcher writes them itself for syscalls
 * read from registers, so they also skip the tail call and its second round of lookups; this
 * is the path of the generic event and of close, dup, setuid & co.
 *
 * The write cursor is a local, so after inlining every offset is a constant of its case and
 * the verifier checks each write against the reserved size.
 */
struct fix {
	__u8 *b;
	struct pg_batch *batch; /* the batch holding the record, NULL if reserved in the ring */
	__u64 ts;
	__u32 size;
	__u32 len;
	__u32 i;
};

#define DEFINE_FX(name, type)                                                                  \
	static __always_inline void name(struct fix *f, type v)                                \
	{                                                                                      \
		*(type *)(f->b + f->len) = v;                                                  \
		*(__u16 *)(f->b + PG_HDR_SIZE + 2 * f->i) = sizeof(type);                      \
		f->len += sizeof(type);                                                        \
		f->i++;                                                                        \
	}
DEFINE_FX(fx_u8, __u8)
DEFINE_FX(fx_u16, __u16)
DEFINE_FX(fx_u32, __u32)
DEFINE_FX(fx_u64, __u64)

/* Falco's dynamic-type parameter holding a PT_UINT64 (type index 0, then the value). */
static __always_inline void fx_dyn_u64(struct fix *f, __u64 v)
{
	*(f->b + f->len) = 0;
	*(__u64 *)(f->b + f->len + 1) = v;
	*(__u16 *)(f->b + PG_HDR_SIZE + 2 * f->i) = 9;
	f->len += 9;
	f->i++;
}

/*
 * Makes room for `size` bytes (a constant of the caller's case) and writes the header: in this
 * CPU's batch, or reserved in the ring when batching is off.
 */
static __always_inline bool fx_begin(struct fix *f, __u32 size, __u16 nr, __u16 nparams,
				     __u64 pid_tgid, struct pg_counters *c)
{
	f->ts = bpf_ktime_get_boot_ns();
	f->batch = batch_open(size, c);
	f->b = f->batch ? batch_cursor(f->batch) : bpf_ringbuf_reserve(&pg_events, size, 0);
	if (!f->b)
		return false;
	struct pg_record_hdr *h = (struct pg_record_hdr *)f->b;
	h->ts_boot_ns = f->ts;
	h->tid = (__u32)pid_tgid;
	h->pid = pid_tgid >> 32;
	h->len = size;
	h->kind = PG_KIND_SYSCALL;
	h->nr = nr;
	h->nparams = nparams;
	h->cpu = bpf_get_smp_processor_id();
	h->version = PG_RECORD_VERSION;
	h->reserved = 0;
	f->size = size;
	f->len = PG_HDR_SIZE + 2 * nparams;
	f->i = 0;
	return true;
}

/* A user-space integer read after the call (an out-parameter); 0 if absent or unreadable. */
#define DEFINE_USER_READ(name, type)                                                           \
	static __always_inline type name(__u64 uptr)                                           \
	{                                                                                      \
		type v = 0;                                                                    \
		if (uptr && bpf_probe_read_user(&v, sizeof(v), (void *)uptr) < 0) {            \
			count_read_failure();                                                  \
			v = 0;                                                                 \
		}                                                                              \
		return v;                                                                      \
	}
DEFINE_USER_READ(user_u32, __u32)
DEFINE_USER_READ(user_u64, __u64)

/* Falco's vm_size, vm_rss, vm_swap (KiB) of the calling process, for mmap/munmap/brk. */
static __always_inline void fx_vm(struct fix *f)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	__u32 size = 0, rss = 0, swap = 0;
	if (mm) {
		size = BPF_CORE_READ(mm, total_vm) << 2; /* pages → KiB (4 KiB pages) */
		rss = (rss_pages(mm, 0) + rss_pages(mm, 1) + rss_pages(mm, 3)) << 2;
		swap = rss_pages(mm, 2) << 2;
	}
	fx_u32(f, size);
	fx_u32(f, rss);
	fx_u32(f, swap);
}

/* The record fx_begin started is written: commit it to its batch or submit it to the ring. */
static __always_inline void fx_end(struct fix *f, __u8 family, struct pg_counters *c)
{
	if (f->batch) {
		batch_commit(f->batch, f->size, family, f->ts, c);
		return;
	}
	bpf_ringbuf_submit(f->b, wakeup_flags(c));
	c->events++;
}

/*
 * Writes the record of `nr` in place if it is a fixed-size one. Returns false, having done
 * nothing, for syscalls with variable-length parameters (emit_syscall's); true otherwise,
 * whether the record was sent or counted as dropped.
 */
static __always_inline bool emit_scalar(__u32 nr, long ret, __u64 *a, __u8 family,
					__u64 pid_tgid, struct pg_counters *c)
{
	struct fix f;
/* A record of `np` parameters whose values take `vbytes` bytes. */
#define FX(np, vbytes)                                                                          \
	if (!fx_begin(&f, PG_HDR_SIZE + 2 * (np) + (vbytes), nr, np, pid_tgid, c)) {          \
		count_ring_full(c, family);                                                    \
		return true;                                                                   \
	}
	switch (nr) {
	case 3:  /* close: res, fd */
	case 81: /* fchdir: res, fd */
	case 32: /* dup: res, oldfd */
	case 5:   /* fstat: res, fd */
	case 78:  /* getdents: res, fd */
	case 217: /* getdents64: res, fd */
		FX(2, 16);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		break;
	case 33:  /* dup2: res, oldfd, newfd */
	case 109: /* setpgid: res, pid, pgid */
		FX(3, 24);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, (int)a[1]);
		break;
	case 292: /* dup3: res, oldfd, newfd, flags */
		FX(4, 28);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, (int)a[1]);
		fx_u32(&f, a[2]);
		break;
	case 72: /* fcntl: res, fd, cmd */
		FX(3, 17);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u8(&f, a[1]);
		break;
	case 41: /* socket: fd, domain, type, proto, flags */
		FX(5, 24);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		fx_u32(&f, a[1] & 0xf);
		fx_u32(&f, a[2]);
		fx_u32(&f, a[1] & ~0xfULL);
		break;
	case 50:  /* listen: res, fd, backlog */
	case 308: /* setns: res, fd, nstype */
		FX(3, 20);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u32(&f, a[1]);
		break;
	case 101: /* ptrace: res, addr, data, request, pid */
		FX(5, 36);
		fx_u64(&f, ret);
		fx_dyn_u64(&f, a[2]);
		fx_dyn_u64(&f, a[3]);
		fx_u16(&f, a[0]);
		fx_u64(&f, (int)a[1]);
		break;
	case 105: /* setuid: res, uid */
	case 106: /* setgid: res, gid */
	case 272: /* unshare: res, flags */
	case 323: /* userfaultfd: res, flags */
	case 321: /* bpf: fd, cmd */
		FX(2, 12);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		break;
	case 112: /* setsid: res */
		FX(1, 8);
		fx_u64(&f, ret);
		break;
	case 117: /* setresuid: res, ruid, euid, suid */
	case 119: /* setresgid: res, rgid, egid, sgid */
		FX(4, 20);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		fx_u32(&f, a[1]);
		fx_u32(&f, a[2]);
		break;
	case 126: { /* capset: res, cap_inheritable, cap_permitted, cap_effective (after the call) */
		struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
		const struct cred *cred = BPF_CORE_READ(t, cred);
		FX(4, 32);
		fx_u64(&f, ret);
		fx_u64(&f, BPF_CORE_READ(cred, cap_inheritable.val));
		fx_u64(&f, BPF_CORE_READ(cred, cap_permitted.val));
		fx_u64(&f, BPF_CORE_READ(cred, cap_effective.val));
		break;
	}
	case 284: /* eventfd: res, initval, flags */
	case 290: /* eventfd2 */
		FX(3, 20);
		fx_u64(&f, ret);
		fx_u64(&f, a[0]);
		fx_u32(&f, nr == 290 ? a[1] : 0);
		break;
	case 282: /* signalfd: res, fd, mask, flags */
	case 289: /* signalfd4 */
		FX(4, 24);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u32(&f, 0);
		fx_u32(&f, nr == 289 ? a[3] : 0);
		break;
	case 62:  /* kill: res, pid, sig */
	case 200: /* tkill: res, tid, sig */
		FX(3, 17);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u8(&f, a[1]);
		break;
	case 234: /* tgkill: res, pid, tid, sig */
		FX(4, 25);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, (int)a[1]);
		fx_u8(&f, a[2]);
		break;
	case 8: /* lseek: res, fd, offset, whence */
		FX(4, 25);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, a[1]);
		fx_u8(&f, a[2]);
		break;
	case 16: /* ioctl: res, fd, request, argument */
		FX(4, 32);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, a[1]);
		fx_u64(&f, a[2]);
		break;
	case 40: { /* sendfile: res, offset (after the call), out_fd, in_fd, size */
		__u64 off = user_u64(a[2]);
		FX(5, 40);
		fx_u64(&f, ret);
		fx_u64(&f, off);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, (int)a[1]);
		fx_u64(&f, a[3]);
		break;
	}
	case 326: /* copy_file_range: res, fdout, offout, fdin, offin, len (offsets as passed) */
		FX(6, 48);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[2]);
		fx_u64(&f, a[3]);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, a[1]);
		fx_u64(&f, a[4]);
		break;
	case 275: /* splice: res, fd_in, fd_out, size, flags */
		FX(5, 36);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, (int)a[2]);
		fx_u64(&f, a[4]);
		fx_u32(&f, a[5]);
		break;
	case 48:  /* shutdown: res, fd, how */
	case 73:  /* flock: res, fd, operation */
	case 434: /* pidfd_open: fd, pid, flags */
		FX(3, 20);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u32(&f, a[1]);
		break;
	case 438: /* pidfd_getfd: fd, pid_fd, target_fd, flags */
		FX(4, 28);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u64(&f, (int)a[1]);
		fx_u32(&f, a[2]);
		break;
	case 93: /* fchown: res, fd, uid, gid */
		FX(4, 24);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u32(&f, a[1]);
		fx_u32(&f, a[2]);
		break;
	case 10:  /* mprotect: res, addr, length, prot */
	case 325: /* mlock2: res, addr, len, flags */
		FX(4, 28);
		fx_u64(&f, ret);
		fx_u64(&f, a[0]);
		fx_u64(&f, a[1]);
		fx_u32(&f, a[2]);
		break;
	case 149: /* mlock: res, addr, len */
	case 150: /* munlock: res, addr, len */
	case 317: /* seccomp: res, op, flags */
		FX(3, 24);
		fx_u64(&f, ret);
		fx_u64(&f, a[0]);
		fx_u64(&f, a[1]);
		break;
	case 151: /* mlockall: res, flags */
	case 213: /* epoll_create: res, size */
	case 291: /* epoll_create1: res, flags */
	case 294: /* inotify_init1: res, flags */
		FX(2, 12);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		break;
	case 152: /* munlockall: res */
		FX(1, 8);
		fx_u64(&f, ret);
		break;
	case 253: /* inotify_init: res, flags (always 0) */
		FX(2, 9);
		fx_u64(&f, ret);
		fx_u8(&f, 0);
		break;
	case 283: /* timerfd_create: res, clockid, flags */
		FX(3, 10);
		fx_u64(&f, ret);
		fx_u8(&f, a[0]);
		fx_u8(&f, a[1]);
		break;
	case 232: /* epoll_wait: res, maxevents */
		FX(2, 16);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[2]);
		break;
	case 102: /* getuid: uid */
	case 104: /* getgid: gid */
	case 107: /* geteuid: euid */
	case 108: /* getegid: egid */
		FX(1, 4);
		fx_u32(&f, ret);
		break;
	case 118:   /* getresuid: res, ruid, euid, suid (after the call) */
	case 120: { /* getresgid: res, rgid, egid, sgid */
		__u32 r = ret == 0 ? user_u32(a[0]) : 0;
		__u32 e = ret == 0 ? user_u32(a[1]) : 0;
		__u32 s = ret == 0 ? user_u32(a[2]) : 0;
		FX(4, 20);
		fx_u64(&f, ret);
		fx_u32(&f, r);
		fx_u32(&f, e);
		fx_u32(&f, s);
		break;
	}
	case 97:    /* getrlimit: res, cur, max, resource (after the call) */
	case 160: { /* setrlimit: res, cur, max, resource */
		/* getrlimit's buffer holds a value only on success. */
		__u64 lim = nr == 97 && ret != 0 ? 0 : a[1];
		__u64 cur = user_u64(lim), max = lim ? user_u64(lim + 8) : 0;
		FX(4, 25);
		fx_u64(&f, ret);
		fx_u64(&f, cur);
		fx_u64(&f, max);
		fx_u8(&f, a[0]);
		break;
	}
	case 302: { /* prlimit64: res, newcur, newmax, oldcur, oldmax, pid, resource */
		__u64 old = ret == 0 ? a[3] : 0;
		__u64 ncur = user_u64(a[2]), nmax = a[2] ? user_u64(a[2] + 8) : 0;
		__u64 ocur = user_u64(old), omax = old ? user_u64(old + 8) : 0;
		FX(7, 49);
		fx_u64(&f, ret);
		fx_u64(&f, ncur);
		fx_u64(&f, nmax);
		fx_u64(&f, ocur);
		fx_u64(&f, omax);
		fx_u64(&f, (int)a[0]);
		fx_u8(&f, a[1]);
		break;
	}
	case 426: /* io_uring_enter: res, fd, to_submit, min_complete, flags, sig */
		FX(6, 32);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u32(&f, a[1]);
		fx_u32(&f, a[2]);
		fx_u32(&f, a[3]);
		fx_u32(&f, a[4]);
		break;
	case 427: /* io_uring_register: res, fd, opcode, arg, nr_args */
		FX(5, 30);
		fx_u64(&f, ret);
		fx_u64(&f, (int)a[0]);
		fx_u16(&f, a[1]);
		fx_u64(&f, a[2]);
		fx_u32(&f, a[3]);
		break;
	case 425: { /* io_uring_setup: res, entries, sq_entries, cq_entries, flags,
		     * sq_thread_cpu, sq_thread_idle, features (struct io_uring_params after the call) */
		struct io_uring_params p = {};
		if (a[1] && bpf_probe_read_user(&p, sizeof(p), (void *)a[1]) < 0)
			count_read_failure();
		FX(8, 36);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		fx_u32(&f, p.sq_entries);
		fx_u32(&f, p.cq_entries);
		fx_u32(&f, p.flags);
		fx_u32(&f, p.sq_thread_cpu);
		fx_u32(&f, p.sq_thread_idle);
		fx_u32(&f, p.features);
		break;
	}
	case 9: /* mmap: res, vm_size, vm_rss, vm_swap, addr, length, prot, flags, fd, offset */
		FX(10, 60);
		fx_u64(&f, ret);
		fx_vm(&f);
		fx_u64(&f, a[0]);
		fx_u64(&f, a[1]);
		fx_u32(&f, a[2]);
		fx_u32(&f, a[3]);
		fx_u64(&f, (int)a[4]);
		fx_u64(&f, a[5]);
		break;
	case 11: /* munmap: res, vm_size, vm_rss, vm_swap, addr, length */
		FX(6, 36);
		fx_u64(&f, ret);
		fx_vm(&f);
		fx_u64(&f, a[0]);
		fx_u64(&f, a[1]);
		break;
	case 12: /* brk: res, vm_size, vm_rss, vm_swap */
		FX(4, 20);
		fx_u64(&f, ret);
		fx_vm(&f);
		break;
	case 51: /* getsockname: Falco's event has no parameters */
	case 52: /* getpeername */
		FX(0, 0);
		break;
	case 35: { /* nanosleep: res, interval (the requested time, ns) */
		__u64 sec = user_u64(a[0]), nsec = a[0] ? user_u64(a[0] + 8) : 0;
		FX(2, 16);
		fx_u64(&f, ret);
		fx_u64(&f, sec * 1000000000ULL + nsec);
		break;
	}
	case 202: /* futex: res, addr, op, val */
		FX(4, 26);
		fx_u64(&f, ret);
		fx_u64(&f, a[0]);
		fx_u16(&f, a[1]);
		fx_u64(&f, a[2]);
		break;
	case 64: /* semget: res, key, nsems, semflg */
		FX(4, 20);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		fx_u32(&f, a[1]);
		fx_u32(&f, a[2]);
		break;
	case 66: /* semctl: res, semid, semnum, cmd, val (SETVAL's argument, else 0) */
		FX(5, 22);
		fx_u64(&f, ret);
		fx_u32(&f, a[0]);
		fx_u32(&f, a[1]);
		fx_u16(&f, a[2] & 0xff); /* without IPC_64, which some libcs add */
		fx_u32(&f, (a[2] & 0xff) == 16 /* SETVAL */ ? a[3] : 0);
		break;
	case 65: { /* semop: res, nsops, (sem_num, sem_op, sem_flg) x 2, semid */
		/* struct sembuf { u16 sem_num; s16 sem_op; s16 sem_flg; }: the first two, as Falco. */
		__u16 sb[6] = {};
		__u64 n = a[2] < 2 ? a[2] : 2;
		if (a[1] && n && bpf_probe_read_user(sb, n * 6, (void *)a[1]) < 0)
			count_read_failure();
		FX(9, 28);
		fx_u64(&f, ret);
		fx_u32(&f, a[2]);
		fx_u16(&f, sb[0]);
		fx_u16(&f, sb[1]);
		fx_u16(&f, sb[2]);
		fx_u16(&f, sb[3]);
		fx_u16(&f, sb[4]);
		fx_u16(&f, sb[5]);
		fx_u32(&f, a[0]);
		break;
	}
	/* Syscalls with variable-length parameters: emit_syscall. */
	case 2: case 257: case 437: case 85: case 84: case 87: case 80: case 83: case 90:
	case 91: case 258: case 268: case 263: case 82: case 86: case 88: case 264: case 265:
	case 316: case 266: case 53: case 22: case 293: case 42: case 49: case 43: case 288:
	case 44: case 45: case 46: case 47: case 157: case 165: case 166: case 175: case 313:
	case 319: case 19: case 295: case 20: case 296: case 7: case 271:
	case 0: case 1: case 17: case 18: case 4: case 6: case 161: case 21:
	case 92: case 94: case 260: case 79: case 304: case 54: case 55:
	case 307: case 299: case 431:
		return false;
	default: /* any other selected syscall: Falco's generic event (ID, nativeID) + res */
		FX(3, 12);
		fx_u64(&f, ret);
		fx_u16(&f, nr);
		fx_u16(&f, nr);
		break;
	}
#undef FX
	fx_end(&f, family, c);
	return true;
}

#define PG_SOL_SOCKET 1

/*
 * Falco's sockopt value (PT_DYN: a type index, then the value) for SOL_SOCKET options: the
 * error of SO_ERROR as a negative errno, the old timeouts in ns, SO_COOKIE as u64, any other
 * 4-byte option as u32. Other options and levels are left empty.
 */
static __always_inline void push_sockopt_val(struct rec *r, __u64 level, __u64 optname,
					     __u64 uptr, __u32 optlen)
{
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	if (!uptr || level != PG_SOL_SOCKET) {
		push_empty(r);
		return;
	}
	switch (optname) {
	case 4: /* SO_ERROR: PPM_SOCKOPT_IDX_ERRNO */
		p[0] = 1;
		*(__s64 *)(p + 1) = -(__s64)(int)user_u32(uptr);
		push_done(r, 9);
		return;
	case 20: /* SO_RCVTIMEO_OLD: PPM_SOCKOPT_IDX_TIMEVAL */
	case 21: /* SO_SNDTIMEO_OLD */
		p[0] = 4;
		*(__u64 *)(p + 1) = user_u64(uptr) * 1000000000ULL + user_u64(uptr + 8) * 1000;
		push_done(r, 9);
		return;
	case 57: /* SO_COOKIE: PPM_SOCKOPT_IDX_UINT64 */
		p[0] = 3;
		*(__u64 *)(p + 1) = user_u64(uptr);
		push_done(r, 9);
		return;
	}
	if (optlen != 4) {
		push_empty(r);
		return;
	}
	p[0] = 2; /* PPM_SOCKOPT_IDX_UINT32 */
	*(__u32 *)(p + 1) = user_u32(uptr);
	push_done(r, 5);
}

static __always_inline void emit_syscall(__u32 nr, long ret, __u64 *a, __u8 family)
{
	struct rec r;
	struct rec *rp = &r;
	/* The file an open-family call returned, looked up once for flags, dev and ino. */
	bool opens = nr == 2 || nr == 257 || nr == 437 || nr == 85 || nr == 304;
	struct file *of = opens && ret >= 0 ? fd_file(ret) : NULL;

#define BEGIN(n)                                                                                \
	if (!rec_init(rp, PG_KIND_SYSCALL, nr, n, family))                                      \
		return;
	switch (nr) {
	case 2: /* open: fd, name, flags, mode, dev, ino */
		BEGIN(6);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_open_flags(rp, a[1], of);
		push_open_mode(rp, a[1], a[2]);
		push_open_identity(rp, of);
		break;
	case 257: /* openat: fd, dirfd, name, flags, mode, dev, ino */
		BEGIN(7);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_open_flags(rp, a[2], of);
		push_open_mode(rp, a[2], a[3]);
		push_open_identity(rp, of);
		break;
	case 437: { /* openat2: fd, dirfd, name, flags, mode, resolve, dev, ino */
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)a[2]);
		BEGIN(8);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_open_flags(rp, how.flags, of);
		push_open_mode(rp, how.flags, how.mode);
		push_u32(rp, how.resolve);
		push_open_identity(rp, of);
		break;
	}
	case 85: /* creat: fd, name, mode, dev, ino, creat_flags */
		BEGIN(6);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		push_open_identity(rp, of);
		{
			/* creat_flags: Falco's FD_UPPER_LAYER_CREAT (1) / FD_LOWER_LAYER_CREAT (2). */
			__u32 layer = of ? overlay_layer(of) : 0;
			push_u16(rp, layer);
		}
		break;
	case 84: /* rmdir: res, path */
	case 87: /* unlink: res, path */
	case 80: /* chdir: res, path */
	case 4:   /* stat: res, path */
	case 6:   /* lstat: res, path */
	case 161: /* chroot: res, path */
		BEGIN(2);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		break;
	case 83: /* mkdir: res, path, mode */
	case 90: /* chmod: res, filename, mode */
	case 21: /* access: res, name, mode */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case 91: /* fchmod: res, fd, mode */
		BEGIN(3);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		break;
	case 258: /* mkdirat: res, dirfd, path, mode */
	case 268: /* fchmodat: res, dirfd, filename, mode */
	case 263: /* unlinkat: res, dirfd, name, flags */
		BEGIN(4);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		break;
	case 82: /* rename: res, oldpath, newpath */
	case 86: /* link: res, oldpath, newpath */
	case 88: /* symlink: res, target, linkpath */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_user_str(rp, (void *)a[1]);
		break;
	case 264: /* renameat: res, olddirfd, oldpath, newdirfd, newpath */
	case 265: /* linkat: res, olddir, oldpath, newdir, newpath, flags */
	case 316: /* renameat2: res, olddirfd, oldpath, newdirfd, newpath, flags */
		BEGIN(nr == 264 ? 5 : 6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u64(rp, (int)a[2]);
		push_user_str(rp, (void *)a[3]);
		if (nr != 264)
			push_u32(rp, a[4]);
		break;
	case 266: /* symlinkat: res, target, linkdirfd, linkpath */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u64(rp, (int)a[1]);
		push_user_str(rp, (void *)a[2]);
		break;
	case 53: { /* socketpair: res, fd1, fd2, source, peer, domain, type, proto */
		int fds[2] = {-1, -1};
		if (ret == 0)
			bpf_probe_read_user(fds, sizeof(fds), (void *)a[3]);
		BEGIN(8);
		push_u64(rp, ret);
		push_u64(rp, fds[0]);
		push_u64(rp, fds[1]);
		struct sock *sk = ret == 0 ? fd_sock(fds[0]) : NULL;
		push_u64(rp, (__u64)sk);
		push_u64(rp, sk ? (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer) : 0);
		push_u32(rp, a[0]);
		push_u32(rp, a[1]);
		push_u32(rp, a[2]);
		break;
	}
	case 22:  /* pipe: res, fd1, fd2, ino */
	case 293: { /* pipe2: res, fd1, fd2, ino, flags */
		int fds[2] = {-1, -1};
		if (ret == 0)
			bpf_probe_read_user(fds, sizeof(fds), (void *)a[0]);
		BEGIN(nr == 22 ? 4 : 5);
		push_u64(rp, ret);
		push_u64(rp, fds[0]);
		push_u64(rp, fds[1]);
		struct file *f = ret == 0 ? fd_file(fds[0]) : NULL;
		push_u64(rp, f ? BPF_CORE_READ(f, f_inode, i_ino) : 0);
		if (nr == 293)
			push_u32(rp, a[1]);
		break;
	}
	case 42: /* connect: res, tuple, fd, addr */
		BEGIN(4);
		push_u64(rp, ret);
		push_socktuple(rp, (ret == 0 || ret == -115) ? fd_sock(a[0]) : NULL, false);
		push_u64(rp, (int)a[0]);
		push_user_sockaddr(rp, (void *)a[1], a[2]);
		break;
	case 49: /* bind: res, addr, fd */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_sockaddr(rp, (void *)a[1], a[2]);
		push_u64(rp, (int)a[0]);
		break;
	case 43:    /* accept: fd, tuple, queuepct, queuelen, queuemax */
	case 288: { /* accept4: … , flags */
		struct sock *lsk = fd_sock(a[0]);
		__u32 qlen = lsk ? BPF_CORE_READ(lsk, sk_ack_backlog) : 0;
		__u32 qmax = lsk ? BPF_CORE_READ(lsk, sk_max_ack_backlog) : 0;
		BEGIN(nr == 43 ? 5 : 6);
		push_u64(rp, ret);
		push_socktuple(rp, ret >= 0 ? fd_sock(ret) : NULL, true);
		push_u8(rp, qmax ? (qlen * 100) / qmax : 0);
		push_u32(rp, qlen);
		push_u32(rp, qmax);
		if (nr == 288)
			push_u32(rp, a[3]);
		break;
	}
	case 44: /* sendto: res, data, fd, size, tuple */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		push_socktuple_peer(rp, fd_sock(a[0]), false, (void *)a[4], false);
		break;
	case 45: /* recvfrom: res, data, tuple, fd, size */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_socktuple_peer(rp, fd_sock(a[0]), false, ret >= 0 ? (void *)a[4] : NULL, true);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		break;
	case 46: /* sendmsg: res, data, fd, size, tuple */
		BEGIN(5);
		push_u64(rp, ret);
		push_msg_data(rp, a[1], ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, ret > 0 ? ret : 0);
		push_socktuple(rp, fd_sock(a[0]), false);
		break;
	case 47: /* recvmsg: res, size, data, tuple, msgcontrol, fd */
		BEGIN(6);
		push_u64(rp, ret);
		push_u32(rp, ret > 0 ? ret : 0);
		push_msg_data(rp, a[1], ret);
		push_socktuple(rp, fd_sock(a[0]), false);
		push_empty(rp);
		push_u64(rp, (int)a[0]);
		break;
	case 19:    /* readv: res, size, data, fd */
	case 295: { /* preadv: res, size, data, fd, pos */
		BEGIN(nr == 19 ? 4 : 5);
		push_u64(rp, ret);
		/* size (the vector's total length) is known only after the walk: patched in. */
		__u32 at = rp->h->len;
		push_u32(rp, 0);
		if (ret > 0) {
			__u64 total = push_iov_data(rp, (void *)a[1], a[2],
						    ret < PG_SNAPLEN ? ret : PG_SNAPLEN, true);
			*(__u32 *)&rp->b[at & PG_POS_MASK] = total;
		} else {
			push_empty(rp);
		}
		push_u64(rp, (int)a[0]);
		if (nr == 295)
			push_u64(rp, a[3]);
		break;
	}
	case 20:    /* writev: res, data, fd, size */
	case 296: { /* pwritev: res, data, fd, size, pos */
		BEGIN(nr == 20 ? 4 : 5);
		push_u64(rp, ret);
		/* What the caller gave, whatever the result (as Falco does for writes). */
		__u64 total = push_iov_data(rp, (void *)a[1], a[2], PG_SNAPLEN, true);
		push_u64(rp, (int)a[0]);
		push_u32(rp, total);
		if (nr == 296)
			push_u64(rp, a[3]);
		break;
	}
	case 7: /* poll: res, fds, timeout */
		BEGIN(3);
		push_u64(rp, ret);
		push_pollfds(rp, a[0], a[1]);
		push_u64(rp, (int)a[2]);
		break;
	case 271: { /* ppoll: res, fds, timeout (ns; -1 when NULL), sigmask (first 32 signals) */
		struct __kernel_timespec ts = {};
		__u32 mask = 0;
		__u64 tmo = (__u64)-1;
		BEGIN(4);
		push_u64(rp, ret);
		push_pollfds(rp, a[0], a[1]);
		if (a[2] && bpf_probe_read_user(&ts, sizeof(ts), (void *)a[2]) == 0)
			tmo = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		if (a[3] && bpf_probe_read_user(&mask, sizeof(mask), (void *)a[3]) < 0)
			mask = 0;
		push_u64(rp, tmo);
		push_u32(rp, mask);
		break;
	}
	case 157: /* prctl: res, option, arg2_str, arg2_int */
		BEGIN(4);
		push_u64(rp, ret);
		push_u32(rp, a[0]);
		if (a[0] == 15 /* PR_SET_NAME */ || a[0] == 16 /* PR_GET_NAME */)
			push_user_str(rp, (void *)a[1]);
		else
			push_empty(rp);
		push_u64(rp, a[1]);
		break;
	case 165: /* mount: res, dev, dir, type, flags */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_user_str(rp, (void *)a[2]);
		push_u32(rp, a[3]);
		break;
	case 166: /* umount2: res, name, flags */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case 175: /* init_module: res, img, length, uargs */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[0], a[1], PG_SNAPLEN);
		push_u64(rp, a[1]);
		push_user_str(rp, (void *)a[2]);
		break;
	case 313: /* finit_module: res, fd, uargs, flags */
		BEGIN(4);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		break;
	case 319: /* memfd_create: fd, name, flags */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case 0: /* read: res, data, fd, size */
	case 1: /* write: res, data, fd, size */
	case 17: /* pread64: res, data, fd, size, pos */
	case 18: /* pwrite64: res, data, fd, size, pos */
		BEGIN(nr < 2 ? 4 : 5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		if (nr >= 2)
			push_u64(rp, a[3]);
		break;
	case 92: /* chown: res, path, uid, gid */
	case 94: /* lchown: res, path, uid, gid */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		push_u32(rp, a[2]);
		break;
	case 260: /* fchownat: res, dirfd, pathname, uid, gid, flags */
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		push_u32(rp, a[3]);
		push_u32(rp, a[4]);
		break;
	case 79: /* getcwd: res, path (the buffer holds a path only on success) */
		BEGIN(2);
		push_u64(rp, ret);
		push_user_str(rp, ret > 0 ? (void *)a[0] : NULL);
		break;
	case 304: /* open_by_handle_at: fd, mountfd, flags, path (of the opened file), dev, ino */
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_open_flags(rp, a[2], of);
		push_file_path(rp, of);
		push_open_identity(rp, of);
		break;
	case 54:   /* setsockopt: res, fd, level, optname, val, optlen */
	case 55: { /* getsockopt: the value and its length after the call */
		bool get = nr == 55;
		__u32 optlen = !get ? (__u32)a[4] : ret == 0 ? user_u32(a[4]) : 0;
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		/* Falco names SOL_SOCKET options only; another level's option is UNKNOWN (0). */
		push_u32(rp, a[1] == PG_SOL_SOCKET ? a[2] : 0);
		push_sockopt_val(rp, a[1], a[2], get && ret != 0 ? 0 : a[3], optlen);
		push_u32(rp, optlen);
		break;
	}
	case 307:   /* sendmmsg: res, fd, size, data, tuple (of the first message) */
	case 299: { /* recvmmsg: res, fd, size, data, tuple, msgcontrol */
		/* struct mmsghdr { struct user_msghdr msg_hdr; unsigned int msg_len; } */
		__u32 len = ret > 0 ? user_u32(a[1] + sizeof(struct user_msghdr)) : 0;
		BEGIN(nr == 307 ? 5 : 6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, len);
		push_msg_data(rp, a[1], len);
		push_socktuple(rp, fd_sock(a[0]), nr == 299);
		if (nr == 299)
			push_empty(rp);
		break;
	}
	case 431: /* fsconfig: res, fd, cmd, key, value_bytebuf, value_charbuf, aux */
		BEGIN(7);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		push_user_str(rp, (void *)a[2]);
		/* FSCONFIG_SET_BINARY (2) passes bytes; SET_STRING, SET_PATH, SET_PATH_EMPTY a string. */
		if (a[1] == 2)
			push_user_bytes(rp, (void *)a[3], a[4], PG_SNAPLEN);
		else
			push_empty(rp);
		if (a[1] == 1 || a[1] == 3 || a[1] == 4)
			push_user_str(rp, (void *)a[3]);
		else
			push_empty(rp);
		push_u32(rp, a[4]);
		break;
	default:
		return; /* scalar records are emit_scalar's */
	}
#undef BEGIN
	rec_submit(rp);
}

static __always_inline bool is_clone(__u32 nr)
{
	return nr == 56 || nr == 57 || nr == 58 || nr == 435;
}

/*
 * sys_enter is attached only when some selected syscall asks for enter-time arguments
 * (PG_INTEREST_AT_ENTER): by default every argument is read at exit from the saved user
 * registers, which still hold them then (the kernel writes only the return value; if a
 * ptrace tracer rewrote them, the rewritten values are the ones the kernel used). One hook
 * instead of two halves the cost of every uncaptured syscall and removes the per-thread hash
 * update + delete from every captured one. The stash stays for syscalls whose interesting
 * state exists only before they run.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(pg_sys_enter, struct pt_regs *regs, long id)
{
	__u32 nr = id;
	if (id < 0 || id >= PG_MAX_SYSCALLS || !(interest(nr) & PG_INTEREST_AT_ENTER))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted_tgid(pid_tgid >> 32))
		return 0;
	/* tp_btf hands us a trusted pointer: plain loads, no probe-read helper calls. */
	struct pg_stash st = {
		.args = {regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->r9},
		.nr = nr,
	};
	__u32 tid = (__u32)pid_tgid;
	if (bpf_map_update_elem(&pg_stash, &tid, &st, BPF_ANY) != 0) {
		struct pg_counters *c = counters();
		if (c)
			c->stash_failures++;
	}
	return 0;
}

/*
 * sys_exit is split into a small dispatcher and three tail-called programs (plain syscalls,
 * clones, failed execs): each is verified on its own, which keeps every program far below the
 * verifier's instruction budget while the parameter writers stay straight-line inlined code.
 */
enum pg_tail { PG_TAIL_SYSCALL = 0, PG_TAIL_CLONE = 1, PG_TAIL_EXEC = 2, PG_TAIL_MAX = 3 };

/* The syscall's arguments: its enter-time stash if it has one, else the registers. */
static __always_inline void get_args(struct pt_regs *regs, struct pg_stash *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 nr = regs->orig_ax;
	/* Only syscalls that opted in have a stash: skip the hash lookup for the others. */
	struct pg_stash *st = nr < PG_MAX_SYSCALLS && (interest(nr) & PG_INTEREST_AT_ENTER)
				      ? bpf_map_lookup_elem(&pg_stash, &tid)
				      : NULL;
	if (st) {
		bool same = st->nr == nr;
		if (same)
			*out = *st;
		bpf_map_delete_elem(&pg_stash, &tid);
		if (same)
			return;
	}
	out->args[0] = regs->di;
	out->args[1] = regs->si;
	out->args[2] = regs->dx;
	out->args[3] = regs->r10;
	out->args[4] = regs->r8;
	out->args[5] = regs->r9;
	out->nr = nr;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pg_exit_syscall, struct pt_regs *regs, long ret)
{
	struct pg_stash s;
	get_args(regs, &s);
	if (s.nr >= PG_MAX_SYSCALLS)
		return 0;
	__u8 family = interest(s.nr) & PG_INTEREST_FAMILY;
	struct pg_counters *c = counters();
	if (!family || !c)
		return 0;
	if (!emit_scalar(s.nr, ret, s.args, family, bpf_get_current_pid_tgid(), c))
		emit_syscall(s.nr, ret, s.args, family);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pg_exit_clone, struct pt_regs *regs, long ret)
{
	/* The child returns from clone too, with a copy of the parent's registers: both sides
	 * see the same arguments. */
	struct pg_stash s;
	get_args(regs, &s);
	__u64 flags = s.nr == 56 ? s.args[0] : 0;
	if (s.nr == 435) {
		__u64 f = 0;
		bpf_probe_read_user(&f, sizeof(f), (void *)s.args[0]);
		flags = f;
	}
	emit_clone(s.nr, ret, flags);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pg_exit_exec, struct pt_regs *regs, long ret)
{
	struct pg_stash s;
	get_args(regs, &s);
	struct file *exe = BPF_CORE_READ((struct task_struct *)bpf_get_current_task_btf(), mm,
					 exe_file);
	emit_exec(s.nr, ret, exe, NULL, (const char *)(s.nr == 59 ? s.args[0] : s.args[1]));
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, PG_TAIL_MAX);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} pg_tails SEC(".maps") = {
	.values =
		{
			[PG_TAIL_SYSCALL] = (void *)&pg_exit_syscall,
			[PG_TAIL_CLONE] = (void *)&pg_exit_clone,
			[PG_TAIL_EXEC] = (void *)&pg_exit_exec,
		},
};

SEC("tp_btf/sys_exit")
int BPF_PROG(pg_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	__u32 nr = id;
	if (id < 0 || id >= PG_MAX_SYSCALLS)
		return 0;
	__u8 want = interest(nr);
	if (!want)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted_tgid(pid_tgid >> 32))
		return 0;
	struct pg_counters *c = counters();
	if (!c)
		return 0;
	c->syscalls++;
	bool exec = nr == 59 || nr == 322;
	if (exec && ret == 0)
		return 0; /* emitted by sched_process_exec */
	if (want & PG_INTEREST_AT_ENTER) {
		__u32 tid = (__u32)pid_tgid;
		struct pg_stash *st = bpf_map_lookup_elem(&pg_stash, &tid);
		/* A new child returning from clone has no enter of its own: it uses registers. */
		if ((!st || st->nr != nr) && !(is_clone(nr) && ret == 0)) {
			c->missing_enter++;
			return 0;
		}
	} else if (!exec && !is_clone(nr)) {
		/* Arguments come from the registers: a fixed-size record needs no tail call. */
		__u64 a[6] = {regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->r9};
		if (emit_scalar(nr, ret, a, want & PG_INTEREST_FAMILY, pid_tgid, c))
			return 0;
	}
	bpf_tail_call(ctx, &pg_tails,
		      exec ? PG_TAIL_EXEC : is_clone(nr) ? PG_TAIL_CLONE : PG_TAIL_SYSCALL);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pg_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted_tgid(pid_tgid >> 32))
		return 0;
	/*
	 * execve or execveat? After a successful exec the saved orig_ax reads 59 for both (seen
	 * on 6.18), so: an enter-time stash says it exactly (keyed by the thread that called
	 * exec, old_pid, which need not be the leader); otherwise the kernel built the binprm
	 * name from a directory fd (bprm->fdpath, "/dev/fd/N…") only for execveat. An
	 * execveat(AT_FDCWD, absolute path) without a stash is reported as execve.
	 */
	__u32 old = old_pid;
	__u16 nr = bpf_core_field_exists(bprm->fdpath) && BPF_CORE_READ(bprm, fdpath) ? 322 : 59;
	struct pg_stash *st = bpf_map_lookup_elem(&pg_stash, &old);
	if (st) {
		if (st->nr == 59 || st->nr == 322)
			nr = st->nr;
		bpf_map_delete_elem(&pg_stash, &old);
	}
	if (!interest(nr))
		return 0;
	emit_exec(nr, 0, BPF_CORE_READ(bprm, file), BPF_CORE_READ(bprm, filename), NULL);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pg_sched_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	/* exit/exit_group never return: drop their stash entry. */
	bpf_map_delete_elem(&pg_stash, &tid);
	if (!wanted_tgid(pid_tgid >> 32))
		return 0;
	__u8 family = interest(PG_PROCEXIT_SLOT) & PG_INTEREST_FAMILY;
	if (!family)
		return 0;
	struct rec r;
	if (!rec_init(&r, PG_KIND_PROCEXIT, 0, 5, family))
		return 0;
	int code = BPF_CORE_READ(p, exit_code);
	/* status, ret, sig, core, reaper_tid */
	push_u64(&r, code);
	push_u64(&r, (code >> 8) & 0xff);
	push_u8(&r, code & 0x7f);
	push_u8(&r, (code & 0x80) ? 1 : 0);
	push_u64(&r, 0);
	rec_submit(&r);
	return 0;
}

/*
 * A task leaves this CPU: ship the CPU's batch. A thread's records then never wait in one
 * CPU's batch while it runs, and writes newer ones, on another (a task must be switched out
 * before it can migrate), so every thread's records reach user space in order. Context
 * switches are far rarer than syscalls; with an empty batch this is a lookup and a load.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(pg_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct pg_counters *c = counters();
	if (c)
		batch_flush(c);
	return 0;
}

/*
 * Does nothing. Benchmarks attach it alone (peregrine_capture::EmptyHook) to measure, in the
 * same run as the real programs, what any sys_exit tracepoint program costs every syscall.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(pg_hook_only, struct pt_regs *regs, long ret)
{
	return 0;
}
