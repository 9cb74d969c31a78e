// SPDX-License-Identifier: Apache-2.0
/*
 * sys_enter: the opt-in stash of enter-time arguments.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

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
