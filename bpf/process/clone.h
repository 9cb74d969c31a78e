// SPDX-License-Identifier: Apache-2.0
/*
 * clone/fork/vfork/clone3: the clone record (sent for parent and child).
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/* Falco's clone exit: res, exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size,
 * vm_rss, vm_swap, comm, cgroups, flags, uid, gid, vtid, vpid, pidns_init_start_ts. */
static __always_inline void emit_clone(__u16 nr, long res, __u64 flags, __u8 prio)
{
	struct rec r;
	if (!rec_init(&r, PG_KIND_SYSCALL, nr, 21, PG_FAMILY_PROCESS | prio))
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
