// SPDX-License-Identifier: Apache-2.0
/*
 * Cgroups: Falco's `cgroups` parameter, every mounted controller's path (bpf_loop).
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

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
