// SPDX-License-Identifier: Apache-2.0
/*
 * sys_exit: the dispatcher, its tail-called programs and the empty benchmark hook.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/*
 * Writer labels outside a switch: `nr` is one of the named syscalls (PG_SYS_ names). The clone
 * and exec families are told apart by comparisons in the dispatcher (as a switch they cost it
 * about 140 instructions); build.rs counts the names given here as written, like the labels
 * `case PG_SYS_...:` of the writers' switches.
 */
#define PG_WRITES_2(nr, a, b) ((nr) == PG_SYS_##a || (nr) == PG_SYS_##b)
#define PG_WRITES_4(nr, a, b, c, d)                                                            \
	((nr) == PG_SYS_##a || (nr) == PG_SYS_##b || (nr) == PG_SYS_##c || (nr) == PG_SYS_##d)

/* Written by pg_exit_clone (process/clone.h), for parent and child. */
static __always_inline bool is_clone(__u32 nr)
{
	return PG_WRITES_4(nr, CLONE, FORK, VFORK, CLONE3);
}

/*
 * sys_exit is split into a small dispatcher and three tail-called programs (plain syscalls,
 * clones, failed execs): each is verified on its own, which keeps every program far below the
 * verifier's instruction budget while the parameter writers stay straight-line inlined code.
 */
enum pg_tail {
	PG_TAIL_SYSCALL = 0,
	PG_TAIL_CLONE = 1,
	PG_TAIL_EXEC = 2,
	PG_TAIL_OPEN = 3,
	PG_TAIL_MAX = 4
};

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
	__u8 want = interest(s.nr);
	/* The family, and the lane bit that rec_init and emit_scalar split off again. */
	__u8 family = want & (PG_INTEREST_FAMILY | PG_INTEREST_PRIO);
	struct pg_counters *c = counters();
	if (!(want & PG_INTEREST_FAMILY) || !c)
		return 0;
	if (!emit_scalar(s.nr, ret, s.args, family, bpf_get_current_pid_tgid(), c))
		emit_syscall(s.nr, ret, s.args, family);
	return 0;
}

/* pg_exit_syscall alone, for pg_exit_open (defined before pg_tails, which lists it). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} pg_tail_syscall SEC(".maps") = {
	.values = {[0] = (void *)&pg_exit_syscall},
};

/*
 * The open family with shedding on (syscall/shed.h): an open of a path no rule needs is
 * counted and its fd marked, so its close is shed too; any other open forgets a stale mark on
 * its fd and goes on to pg_exit_syscall. A program of its own so that the path walk is
 * verified once, apart from the writers.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(pg_exit_open, struct pt_regs *regs, long ret)
{
	__u32 nr = regs->orig_ax;
	if (nr >= PG_MAX_SYSCALLS)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	/* The path argument, from the enter stash if this syscall has one (left in place for
	 * pg_exit_syscall), else from the registers. */
	__u64 path = nr == PG_SYS_OPEN || nr == PG_SYS_CREAT ? regs->di : regs->si;
	bool stashed = interest(nr) & PG_INTEREST_AT_ENTER;
	if (stashed) {
		struct pg_stash *st = bpf_map_lookup_elem(&pg_stash, &tid);
		if (st && st->nr == nr)
			path = nr == PG_SYS_OPEN || nr == PG_SYS_CREAT ? st->args[0] : st->args[1];
	}
	__u32 flags = shed_flags();
	if (shed_path((const char *)path, flags) && !is_dir_fd(ret)) {
		struct pg_counters *c = counters();
		if (c)
			c->shed_open_path++;
		shed_mark(flags, ret);
		if (stashed)
			bpf_map_delete_elem(&pg_stash, &tid);
		kept_path_drop();
		return 0;
	}
	shed_unmark(flags, ret);
	bpf_tail_call(ctx, &pg_tail_syscall, 0);
	kept_path_drop();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pg_exit_clone, struct pt_regs *regs, long ret)
{
	/* The child returns from clone too, with a copy of the parent's registers: both sides
	 * see the same arguments. */
	struct pg_stash s;
	get_args(regs, &s);
	__u64 flags = s.nr == PG_SYS_CLONE ? s.args[0] : 0;
	if (s.nr == PG_SYS_CLONE3) {
		__u64 f = 0;
		bpf_probe_read_user(&f, sizeof(f), (void *)s.args[0]);
		flags = f;
	}
	emit_clone(s.nr, ret, flags, interest(s.nr) & PG_INTEREST_PRIO);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pg_exit_exec, struct pt_regs *regs, long ret)
{
	struct pg_stash s;
	get_args(regs, &s);
	struct file *exe = BPF_CORE_READ((struct task_struct *)bpf_get_current_task_btf(), mm,
					 exe_file);
	emit_exec(s.nr, ret, exe, NULL, (const char *)(s.nr == PG_SYS_EXECVE ? s.args[0] : s.args[1]),
		  interest(s.nr) & PG_INTEREST_PRIO);
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
			[PG_TAIL_OPEN] = (void *)&pg_exit_open,
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
	/* In-kernel kill (lib/kill.h): only the open family and connect, only with a filter. */
	if ((is_open(nr) || nr == PG_SYS_CONNECT) && kill_hooks())
		kill_at_exit(nr, ret, nr == PG_SYS_OPEN || nr == PG_SYS_CREAT ? regs->di : regs->si,
			     nr == PG_SYS_OPEN ? regs->si : regs->dx, regs->di);
	/*
	 * A priority-lane record: ship this CPU's batch first, before any timestamp is taken, so
	 * that the bulk records this thread wrote before this syscall are in pg_events ahead of
	 * it with smaller timestamps (bpf/README.md, "Lanes"). Bulk-lane syscalls skip this.
	 */
	if (want & PG_INTEREST_PRIO)
		batch_flush(c);
	/* Written by sched_process_exec on success, by pg_exit_exec on failure (process/exec.h). */
	bool exec = PG_WRITES_2(nr, EXECVE, EXECVEAT);
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
	}
	/*
	 * Shedding (syscall/shed.h): a marked fd's close is not sent, a new fd's mark is stale,
	 * opens (failed ones too) take pg_exit_open. The flag is read only for those syscalls.
	 */
	__u32 shed_cfg = nr == PG_SYS_CLOSE || ret >= 0 || is_open(nr) ? shed_flags() : 0;
	bool shed = shed_cfg & PG_SHED_PATHS;
	if (shed && shed_dispatch(shed_cfg, nr, ret, regs->di,
				  nr == PG_SYS_SOCKETPAIR ? regs->r10 : regs->di, c))
		return 0;
	if (shed && is_open(nr))
		bpf_tail_call(ctx, &pg_tails, PG_TAIL_OPEN);
	if (!(want & PG_INTEREST_AT_ENTER) && !exec && !is_clone(nr)) {
		/* Arguments come from the registers: a fixed-size record needs no tail call. */
		__u64 a[6] = {regs->di, regs->si, regs->dx, regs->r10, regs->r8, regs->r9};
		if (emit_scalar(nr, ret, a, want & (PG_INTEREST_FAMILY | PG_INTEREST_PRIO),
				pid_tgid, c))
			return 0;
	}
	bpf_tail_call(ctx, &pg_tails,
		      exec ? PG_TAIL_EXEC : is_clone(nr) ? PG_TAIL_CLONE : PG_TAIL_SYSCALL);
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
