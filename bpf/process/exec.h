// SPDX-License-Identifier: Apache-2.0
/*
 * execve/execveat: the exec record, and sched_process_exec, which emits successful ones.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/*
 * The 31 parameters of Falco's execve exit event (30 for execveat). `exe_file` and
 * `kfilename` come from the binprm on success; on failure they are the current image and the
 * user-supplied filename.
 */
static __always_inline void emit_exec(__u16 nr, long res, struct file *exe_file,
				      const char *kfilename, const char *ufilename, __u8 prio)
{
	struct rec r;
	bool at = nr == PG_SYS_EXECVEAT;
	if (!rec_init(&r, PG_KIND_SYSCALL, nr, at ? 30 : 31, PG_FAMILY_PROCESS | prio))
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

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pg_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted_tgid(pid_tgid >> 32))
		return 0;
	/* In-kernel kill (lib/kill.h): before the new image runs, and before its record. */
	kill_at_exec(bprm);
	/*
	 * execve or execveat? After a successful exec the saved orig_ax reads 59 for both (seen
	 * on 6.18), so: an enter-time stash says it exactly (keyed by the thread that called
	 * exec, old_pid, which need not be the leader); otherwise the kernel built the binprm
	 * name from a directory fd (bprm->fdpath, "/dev/fd/N…") only for execveat. An
	 * execveat(AT_FDCWD, absolute path) without a stash is reported as execve.
	 */
	__u32 old = old_pid;
	bool fdpath = bpf_core_field_exists(bprm->fdpath) && BPF_CORE_READ(bprm, fdpath);
	__u16 nr = fdpath ? PG_SYS_EXECVEAT : PG_SYS_EXECVE;
	struct pg_stash *st = bpf_map_lookup_elem(&pg_stash, &old);
	if (st) {
		if (st->nr == PG_SYS_EXECVE || st->nr == PG_SYS_EXECVEAT)
			nr = st->nr;
		bpf_map_delete_elem(&pg_stash, &old);
	}
	__u8 want = interest(nr);
	if (!want)
		return 0;
	__u8 prio = want & PG_INTEREST_PRIO;
	struct pg_counters *c = counters();
	/* Priority lane: this CPU's earlier bulk records go out first (bpf/README.md, "Lanes"). */
	if (prio && c)
		batch_flush(c);
	emit_exec(nr, 0, BPF_CORE_READ(bprm, file), BPF_CORE_READ(bprm, filename), NULL, prio);
	return 0;
}
