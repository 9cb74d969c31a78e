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
