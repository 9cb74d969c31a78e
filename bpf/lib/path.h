// SPDX-License-Identifier: Apache-2.0
/*
 * Paths: a dentry walked up to its mount root (bpf_loop), pushed as a parameter.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

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
