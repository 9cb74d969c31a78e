// SPDX-License-Identifier: Apache-2.0
/*
 * sched_process_exit: Falco's procexit record.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pg_sched_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	/* exit/exit_group never return: drop their stash entry. */
	bpf_map_delete_elem(&pg_stash, &tid);
	if (!wanted_tgid(pid_tgid >> 32))
		return 0;
	__u8 want = interest(PG_PROCEXIT_SLOT);
	if (!(want & PG_INTEREST_FAMILY))
		return 0;
	/* The family and the lane bit (rec_init splits them). */
	__u8 family = want & (PG_INTEREST_FAMILY | PG_INTEREST_PRIO);
	struct pg_counters *c = counters();
	/* Priority lane: this CPU's earlier bulk records go out first (bpf/README.md, "Lanes"). */
	if ((want & PG_INTEREST_PRIO) && c)
		batch_flush(c);
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
