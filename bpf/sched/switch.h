// SPDX-License-Identifier: Apache-2.0
/*
 * sched_switch: ships this CPU's batch when a task leaves it.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

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
