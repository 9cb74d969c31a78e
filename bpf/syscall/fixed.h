// SPDX-License-Identifier: Apache-2.0
/*
 * Fixed-size records, written in place in the batch by the sys_exit dispatcher (emit_scalar),
 * including the generic event.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

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

/* The value type fx_<t> writes, under the same <t>: what FX sums a record's size from. */
typedef __u8 pg_fx_u8;
typedef __u16 pg_fx_u16;
typedef __u32 pg_fx_u32;
typedef __u64 pg_fx_u64;
typedef struct __attribute__((packed)) {
	__u8 type;
	__u64 value;
} pg_fx_dyn_u64;

/* Falco's dynamic-type parameter holding a PT_UINT64 (type index 0, then the value). */
static __always_inline void fx_dyn_u64(struct fix *f, __u64 v)
{
	*(f->b + f->len) = 0;
	*(__u64 *)(f->b + f->len + 1) = v;
	*(__u16 *)(f->b + PG_HDR_SIZE + 2 * f->i) = sizeof(pg_fx_dyn_u64);
	f->len += sizeof(pg_fx_dyn_u64);
	f->i++;
}

/*
 * Makes room for `size` bytes (a constant of the caller's case) and writes the header: in this
 * CPU's batch, or reserved in the ring when batching is off, or in the priority ring.
 */
static __always_inline bool fx_begin(struct fix *f, __u32 size, __u16 nr, __u16 nparams,
				     __u64 pid_tgid, bool prio, struct pg_counters *c)
{
	f->ts = bpf_ktime_get_boot_ns();
	if (prio) {
		/* Priority lane: reserved in pg_prio (the dispatcher flushed the batch first). */
		f->batch = NULL;
		f->b = bpf_ringbuf_reserve(&pg_prio, size, 0);
	} else {
		f->batch = batch_open(size, c);
		f->b = f->batch ? batch_cursor(f->batch)
				: bpf_ringbuf_reserve(&pg_events, size, 0);
	}
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
struct pg_vm {
	__u32 size, rss, swap;
};

static __always_inline struct pg_vm current_vm(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	struct pg_vm vm = {};
	if (mm) {
		vm.size = BPF_CORE_READ(mm, total_vm) << 2; /* pages → KiB (4 KiB pages) */
		vm.rss = (rss_pages(mm, 0) + rss_pages(mm, 1) + rss_pages(mm, 3)) << 2;
		vm.swap = rss_pages(mm, 2) << 2;
	}
	return vm;
}

/* The record fx_begin started is written: commit it to its batch or submit it to the ring. */
static __always_inline void fx_end(struct fix *f, __u8 family, bool prio, struct pg_counters *c)
{
	if (f->batch) {
		batch_commit(f->batch, f->size, family, f->ts, c);
		return;
	}
	if (prio) {
		bpf_ringbuf_submit(f->b, prio_wakeup_flags());
		count_prio(c, true, family);
		return;
	}
	bpf_ringbuf_submit(f->b, wakeup_flags(c));
	c->events++;
}

/*
 * Writes the record of `nr` in place if it is a fixed-size one. Returns false, having done
 * nothing, for syscalls with variable-length parameters (emit_syscall's); true otherwise,
 * whether the record was sent or counted as dropped. `family` may carry PG_INTEREST_PRIO.
 */
static __always_inline bool emit_scalar(__u32 nr, long ret, __u64 *a, __u8 family,
					__u64 pid_tgid, struct pg_counters *c)
{
	struct fix f;
	bool prio = family & PG_INTEREST_PRIO;
	family &= PG_INTEREST_FAMILY;
/*
 * FX(n, t1, v1, …, tn, vn): a record of n parameters, vi written by fx_<ti>. Its size is the
 * sum of sizeof(pg_fx_<ti>), so the bytes reserved and the bytes written come from one list;
 * an n that does not match the number of pairs does not compile (FX_S1/FX_W1 take one pair).
 */
#define FX_BEGIN(np, vbytes)                                                                   \
	do {                                                                                   \
		if (!fx_begin(&f, PG_HDR_SIZE + 2 * (np) + (vbytes), nr, np, pid_tgid, prio,  \
			      c)) {                                                            \
			if (prio)                                                              \
				count_prio(c, false, family);                                  \
			else                                                                   \
				count_ring_full(c, family);                                    \
			return true;                                                           \
		}                                                                              \
	} while (0)
#define FX(n, ...)                                                                             \
	FX_BEGIN(n, FX_S##n(__VA_ARGS__));                                                     \
	FX_W##n(__VA_ARGS__)
#define FX_S1(t, v) sizeof(pg_fx_##t)
#define FX_W1(t, v) fx_##t(&f, v)
#define FX_S2(t, v, ...) FX_S1(t, v) + FX_S1(__VA_ARGS__)
#define FX_W2(t, v, ...) FX_W1(t, v); FX_W1(__VA_ARGS__)
#define FX_S3(t, v, ...) FX_S1(t, v) + FX_S2(__VA_ARGS__)
#define FX_W3(t, v, ...) FX_W1(t, v); FX_W2(__VA_ARGS__)
#define FX_S4(t, v, ...) FX_S1(t, v) + FX_S3(__VA_ARGS__)
#define FX_W4(t, v, ...) FX_W1(t, v); FX_W3(__VA_ARGS__)
#define FX_S5(t, v, ...) FX_S1(t, v) + FX_S4(__VA_ARGS__)
#define FX_W5(t, v, ...) FX_W1(t, v); FX_W4(__VA_ARGS__)
#define FX_S6(t, v, ...) FX_S1(t, v) + FX_S5(__VA_ARGS__)
#define FX_W6(t, v, ...) FX_W1(t, v); FX_W5(__VA_ARGS__)
#define FX_S7(t, v, ...) FX_S1(t, v) + FX_S6(__VA_ARGS__)
#define FX_W7(t, v, ...) FX_W1(t, v); FX_W6(__VA_ARGS__)
#define FX_S8(t, v, ...) FX_S1(t, v) + FX_S7(__VA_ARGS__)
#define FX_W8(t, v, ...) FX_W1(t, v); FX_W7(__VA_ARGS__)
#define FX_S9(t, v, ...) FX_S1(t, v) + FX_S8(__VA_ARGS__)
#define FX_W9(t, v, ...) FX_W1(t, v); FX_W8(__VA_ARGS__)
#define FX_S10(t, v, ...) FX_S1(t, v) + FX_S9(__VA_ARGS__)
#define FX_W10(t, v, ...) FX_W1(t, v); FX_W9(__VA_ARGS__)
	switch ((enum pg_sys)nr) {
	case PG_SYS_CLOSE: /* res, fd */
	case PG_SYS_FCHDIR: /* res, fd */
	case PG_SYS_DUP: /* res, oldfd */
	case PG_SYS_FSTAT: /* res, fd */
	case PG_SYS_GETDENTS: /* res, fd */
	case PG_SYS_GETDENTS64: /* res, fd */
		FX(2, u64, ret, u64, (int)a[0]);
		break;
	case PG_SYS_DUP2: /* res, oldfd, newfd */
	case PG_SYS_SETPGID: /* res, pid, pgid */
		FX(3, u64, ret, u64, (int)a[0], u64, (int)a[1]);
		break;
	case PG_SYS_DUP3: /* res, oldfd, newfd, flags */
		FX(4, u64, ret, u64, (int)a[0], u64, (int)a[1], u32, a[2]);
		break;
	case PG_SYS_FCNTL: /* res, fd, cmd */
		FX(3, u64, ret, u64, (int)a[0], u8, a[1]);
		break;
	case PG_SYS_SOCKET: /* fd, domain, type, proto, flags */
		FX(5, u64, ret, u32, a[0], u32, a[1] & 0xf, u32, a[2], u32, a[1] & ~0xfULL);
		break;
	case PG_SYS_LISTEN: /* res, fd, backlog */
	case PG_SYS_SETNS: /* res, fd, nstype */
		FX(3, u64, ret, u64, (int)a[0], u32, a[1]);
		break;
	case PG_SYS_PTRACE: /* res, addr, data, request, pid */
		FX(5, u64, ret, dyn_u64, a[2], dyn_u64, a[3], u16, a[0], u64, (int)a[1]);
		break;
	case PG_SYS_SETUID: /* res, uid */
	case PG_SYS_SETGID: /* res, gid */
	case PG_SYS_UNSHARE: /* res, flags */
	case PG_SYS_USERFAULTFD: /* res, flags */
	case PG_SYS_BPF: /* fd, cmd */
		FX(2, u64, ret, u32, a[0]);
		break;
	case PG_SYS_SETSID: /* res */
	case PG_SYS_SELECT: /* res (Falco's event has no fd sets) */
		FX(1, u64, ret);
		break;
	case PG_SYS_SETRESUID: /* res, ruid, euid, suid */
	case PG_SYS_SETRESGID: /* res, rgid, egid, sgid */
		FX(4, u64, ret, u32, a[0], u32, a[1], u32, a[2]);
		break;
	case PG_SYS_CAPSET: { /* res, cap_inheritable, cap_permitted, cap_effective (after the call) */
		struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
		const struct cred *cred = BPF_CORE_READ(t, cred);
		FX(4, u64, ret, u64, BPF_CORE_READ(cred, cap_inheritable.val),
		    u64, BPF_CORE_READ(cred, cap_permitted.val),
		    u64, BPF_CORE_READ(cred, cap_effective.val));
		break;
	}
	case PG_SYS_EVENTFD: /* res, initval, flags */
	case PG_SYS_EVENTFD2:
		FX(3, u64, ret, u64, a[0], u32, nr == PG_SYS_EVENTFD2 ? a[1] : 0);
		break;
	case PG_SYS_SIGNALFD: /* res, fd, mask, flags */
	case PG_SYS_SIGNALFD4:
		FX(4, u64, ret, u64, (int)a[0], u32, 0, u32, nr == PG_SYS_SIGNALFD4 ? a[3] : 0);
		break;
	case PG_SYS_KILL: /* res, pid, sig */
	case PG_SYS_TKILL: /* res, tid, sig */
		FX(3, u64, ret, u64, (int)a[0], u8, a[1]);
		break;
	case PG_SYS_TGKILL: /* res, pid, tid, sig */
		FX(4, u64, ret, u64, (int)a[0], u64, (int)a[1], u8, a[2]);
		break;
	case PG_SYS_LSEEK: /* res, fd, offset, whence */
		FX(4, u64, ret, u64, (int)a[0], u64, a[1], u8, a[2]);
		break;
	case PG_SYS_IOCTL: /* res, fd, request, argument */
		FX(4, u64, ret, u64, (int)a[0], u64, a[1], u64, a[2]);
		break;
	case PG_SYS_SENDFILE: { /* res, offset (after the call), out_fd, in_fd, size */
		__u64 off = user_u64(a[2]);
		FX(5, u64, ret, u64, off, u64, (int)a[0], u64, (int)a[1], u64, a[3]);
		break;
	}
	case PG_SYS_COPY_FILE_RANGE: /* res, fdout, offout, fdin, offin, len (offsets as passed) */
		FX(6, u64, ret, u64, (int)a[2], u64, a[3], u64, (int)a[0], u64, a[1], u64, a[4]);
		break;
	case PG_SYS_SPLICE: /* res, fd_in, fd_out, size, flags */
		FX(5, u64, ret, u64, (int)a[0], u64, (int)a[2], u64, a[4], u32, a[5]);
		break;
	case PG_SYS_SHUTDOWN: /* res, fd, how */
	case PG_SYS_FLOCK: /* res, fd, operation */
	case PG_SYS_PIDFD_OPEN: /* fd, pid, flags */
		FX(3, u64, ret, u64, (int)a[0], u32, a[1]);
		break;
	case PG_SYS_PIDFD_GETFD: /* fd, pid_fd, target_fd, flags */
		FX(4, u64, ret, u64, (int)a[0], u64, (int)a[1], u32, a[2]);
		break;
	case PG_SYS_FCHOWN: /* res, fd, uid, gid */
		FX(4, u64, ret, u64, (int)a[0], u32, a[1], u32, a[2]);
		break;
	case PG_SYS_MPROTECT: /* res, addr, length, prot */
	case PG_SYS_MLOCK2: /* res, addr, len, flags */
		FX(4, u64, ret, u64, a[0], u64, a[1], u32, a[2]);
		break;
	case PG_SYS_MLOCK: /* res, addr, len */
	case PG_SYS_MUNLOCK: /* res, addr, len */
	case PG_SYS_SECCOMP: /* res, op, flags */
		FX(3, u64, ret, u64, a[0], u64, a[1]);
		break;
	case PG_SYS_MLOCKALL: /* res, flags */
	case PG_SYS_EPOLL_CREATE: /* res, size */
	case PG_SYS_EPOLL_CREATE1: /* res, flags */
	case PG_SYS_INOTIFY_INIT1: /* res, flags */
		FX(2, u64, ret, u32, a[0]);
		break;
	case PG_SYS_MUNLOCKALL: /* res */
		FX(1, u64, ret);
		break;
	case PG_SYS_INOTIFY_INIT: /* res, flags (always 0) */
		FX(2, u64, ret, u8, 0);
		break;
	case PG_SYS_TIMERFD_CREATE: /* res, clockid, flags */
		FX(3, u64, ret, u8, a[0], u8, a[1]);
		break;
	case PG_SYS_EPOLL_WAIT: /* res, maxevents */
		FX(2, u64, ret, u64, (int)a[2]);
		break;
	case PG_SYS_GETUID: /* uid */
	case PG_SYS_GETGID: /* gid */
	case PG_SYS_GETEUID: /* euid */
	case PG_SYS_GETEGID: /* egid */
		FX(1, u32, ret);
		break;
	case PG_SYS_GETRESUID: /* res, ruid, euid, suid (after the call) */
	case PG_SYS_GETRESGID: { /* res, rgid, egid, sgid */
		__u32 r = ret == 0 ? user_u32(a[0]) : 0;
		__u32 e = ret == 0 ? user_u32(a[1]) : 0;
		__u32 s = ret == 0 ? user_u32(a[2]) : 0;
		FX(4, u64, ret, u32, r, u32, e, u32, s);
		break;
	}
	case PG_SYS_GETRLIMIT: /* res, cur, max, resource (after the call) */
	case PG_SYS_SETRLIMIT: { /* res, cur, max, resource */
		/* getrlimit's buffer holds a value only on success. */
		__u64 lim = nr == PG_SYS_GETRLIMIT && ret != 0 ? 0 : a[1];
		__u64 cur = user_u64(lim), max = lim ? user_u64(lim + 8) : 0;
		FX(4, u64, ret, u64, cur, u64, max, u8, a[0]);
		break;
	}
	case PG_SYS_PRLIMIT64: { /* res, newcur, newmax, oldcur, oldmax, pid, resource */
		__u64 old = ret == 0 ? a[3] : 0;
		__u64 ncur = user_u64(a[2]), nmax = a[2] ? user_u64(a[2] + 8) : 0;
		__u64 ocur = user_u64(old), omax = old ? user_u64(old + 8) : 0;
		FX(7, u64, ret, u64, ncur, u64, nmax, u64, ocur, u64, omax, u64, (int)a[0], u8, a[1]);
		break;
	}
	case PG_SYS_IO_URING_ENTER: /* res, fd, to_submit, min_complete, flags, sig */
		FX(6, u64, ret, u64, (int)a[0], u32, a[1], u32, a[2], u32, a[3], u32, a[4]);
		break;
	case PG_SYS_IO_URING_REGISTER: /* res, fd, opcode, arg, nr_args */
		FX(5, u64, ret, u64, (int)a[0], u16, a[1], u64, a[2], u32, a[3]);
		break;
	case PG_SYS_IO_URING_SETUP: { /* res, entries, sq_entries, cq_entries, flags,
		     * sq_thread_cpu, sq_thread_idle, features (struct io_uring_params after the call) */
		struct io_uring_params p = {};
		if (a[1] && bpf_probe_read_user(&p, sizeof(p), (void *)a[1]) < 0)
			count_read_failure();
		FX(8, u64, ret, u32, a[0], u32, p.sq_entries, u32, p.cq_entries, u32, p.flags,
		    u32, p.sq_thread_cpu, u32, p.sq_thread_idle, u32, p.features);
		break;
	}
	case PG_SYS_MMAP: { /* res, vm_size, vm_rss, vm_swap, addr, length, prot, flags, fd, offset */
		struct pg_vm vm = current_vm();
		FX(10, u64, ret, u32, vm.size, u32, vm.rss, u32, vm.swap, u64, a[0], u64, a[1],
		    u32, a[2], u32, a[3], u64, (int)a[4], u64, a[5]);
		break;
	}
	case PG_SYS_MUNMAP: { /* res, vm_size, vm_rss, vm_swap, addr, length */
		struct pg_vm vm = current_vm();
		FX(6, u64, ret, u32, vm.size, u32, vm.rss, u32, vm.swap, u64, a[0], u64, a[1]);
		break;
	}
	case PG_SYS_BRK: { /* res, vm_size, vm_rss, vm_swap */
		struct pg_vm vm = current_vm();
		FX(4, u64, ret, u32, vm.size, u32, vm.rss, u32, vm.swap);
		break;
	}
	case PG_SYS_GETSOCKNAME: /* Falco's event has no parameters */
	case PG_SYS_GETPEERNAME:
		FX_BEGIN(0, 0);
		break;
	case PG_SYS_NANOSLEEP: { /* res, interval (the requested time, ns) */
		__u64 sec = user_u64(a[0]), nsec = a[0] ? user_u64(a[0] + 8) : 0;
		FX(2, u64, ret, u64, sec * 1000000000ULL + nsec);
		break;
	}
	case PG_SYS_FUTEX: /* res, addr, op, val */
		FX(4, u64, ret, u64, a[0], u16, a[1], u64, a[2]);
		break;
	case PG_SYS_SEMGET: /* res, key, nsems, semflg */
		FX(4, u64, ret, u32, a[0], u32, a[1], u32, a[2]);
		break;
	case PG_SYS_SEMCTL: /* res, semid, semnum, cmd, val (SETVAL's argument, else 0) */
		/* without IPC_64, which some libcs add */
		FX(5, u64, ret, u32, a[0], u32, a[1], u16, a[2] & 0xff,
		    u32, (a[2] & 0xff) == 16 /* SETVAL */ ? a[3] : 0);
		break;
	case PG_SYS_SEMOP: { /* res, nsops, (sem_num, sem_op, sem_flg) x 2, semid */
		/* struct sembuf { u16 sem_num; s16 sem_op; s16 sem_flg; }: the first two, as Falco. */
		__u16 sb[6] = {};
		__u64 n = a[2] < 2 ? a[2] : 2;
		if (a[1] && n && bpf_probe_read_user(sb, n * 6, (void *)a[1]) < 0)
			count_read_failure();
		FX(9, u64, ret, u32, a[2], u16, sb[0], u16, sb[1], u16, sb[2], u16, sb[3],
		    u16, sb[4], u16, sb[5], u32, a[0]);
		break;
	}
	/* Records with variable-length parameters (syscall/variable.h's labels): emit_syscall. */
	PG_CASES_VARIABLE
		return false;
	default: /* any other selected syscall: Falco's generic event (ID, nativeID) + res */
		FX(3, u64, ret, u16, nr, u16, nr);
		break;
	}
#undef FX
#undef FX_BEGIN
#undef FX_S1
#undef FX_W1
#undef FX_S2
#undef FX_W2
#undef FX_S3
#undef FX_W3
#undef FX_S4
#undef FX_W4
#undef FX_S5
#undef FX_W5
#undef FX_S6
#undef FX_W6
#undef FX_S7
#undef FX_W7
#undef FX_S8
#undef FX_W8
#undef FX_S9
#undef FX_W9
#undef FX_S10
#undef FX_W10
	fx_end(&f, family, prio, c);
	return true;
}
