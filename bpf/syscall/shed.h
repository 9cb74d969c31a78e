// SPDX-License-Identifier: Apache-2.0
/*
 * Shedding: opens of paths no loaded rule needs, and the closes of the fds they returned, are
 * counted and not sent (bpf/README.md, "Shedding"). User space decides the atoms from the
 * rules (peregrine_rules::shed) and turns shedding on with PG_SHED_PATHS.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

static __always_inline __u32 shed_flags(void)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&pg_config, &zero);
	return cfg ? cfg->shed : 0;
}

static __always_inline bool is_open(__u32 nr)
{
	return nr == PG_SYS_OPEN || nr == PG_SYS_OPENAT || nr == PG_SYS_OPENAT2 ||
	       nr == PG_SYS_CREAT;
}

/*
 * This process's marks (pg_shed_fds, the task storage of its group leader, shared by its
 * threads as their fd table is), or NULL. `create` makes them if missing, and starts over if
 * they are of an earlier shedding period: a new storage is all zeros, gen included.
 */
static __always_inline struct pg_shed_marks *shed_marks(__u32 flags, bool create)
{
	struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
	__u32 gen = flags >> PG_SHED_GEN_SHIFT;
	__u64 how = create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0;
	struct pg_shed_marks *m = bpf_task_storage_get(&pg_shed_fds, leader, 0, how);
	if (!m || m->gen == gen)
		return m;
	if (!create)
		return NULL;
	if (m->gen) {
		bpf_task_storage_delete(&pg_shed_fds, leader);
		m = bpf_task_storage_get(&pg_shed_fds, leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!m)
			return NULL;
	}
	m->gen = gen;
	return m;
}

/* The open that returned `fd` was shed: mark it (a high fd keeps no mark: its close is sent). */
static __always_inline void shed_mark(__u32 flags, long fd)
{
	if (fd < 0 || fd >= PG_SHED_MAX_FDS)
		return;
	struct pg_shed_marks *m = shed_marks(flags, true);
	if (m)
		m->fd[fd & (PG_SHED_MAX_FDS - 1)] = 1;
}

/* Consumes the mark of `fd`: true if there was one (its close is shed). A new fd of this
 * number was sent: a mark left by an earlier shed open is stale, and consumed the same way. */
static __always_inline bool shed_unmark(__u32 flags, long fd)
{
	if (fd < 0 || fd >= PG_SHED_MAX_FDS)
		return false;
	struct pg_shed_marks *m = shed_marks(flags, false);
	__u32 i = fd & (PG_SHED_MAX_FDS - 1);
	if (!m || !m->fd[i])
		return false;
	m->fd[i] = 0;
	return true;
}

/* One byte value in every byte of a word, and each byte's top bit. */
#define PG_BYTES(b) (0x0101010101010101ULL * (b))
#define PG_TOPS PG_BYTES(0x80)

/*
 * The top bit of every byte of `x` equal to `b`. Exact up to the first such byte; above it
 * (bytes later in the path) a borrow can flag a byte one above `b` too: a false positive only
 * ever makes a path unsheddable, never the reverse.
 */
static __always_inline __u64 bytes_eq(__u64 x, __u8 b)
{
	__u64 t = x ^ PG_BYTES(b);
	return (t - PG_BYTES(1)) & ~t & PG_TOPS;
}

/*
 * Whether the open of the user path `upath` may be shed: an absolute path, shorter than the
 * window, that needs no normalisation (no "..", "/.", "//", no trailing '/': then the path
 * as passed is the fd name user space would compute, see peregrine_rules::shed::never_shed)
 * and matches no atom, as a prefix (exact paths include their NUL) or, reversed, as a suffix.
 * The normalisation test takes 8 bytes a step, and only the last `flags`' suffix-window bytes
 * are reversed: a byte loop over the whole path cost ~16 instructions a byte.
 */
static __always_inline bool shed_path(const char *upath, __u32 flags)
{
	struct pg_scratch *s = scratch();
	if (!s || !upath)
		return false;
	struct pg_shed_key *k = (struct pg_shed_key *)&s->data[PG_SHED_KEY_OFF];
	struct pg_shed_key *rk = (struct pg_shed_key *)&s->data[PG_SHED_RKEY_OFF];
	long n = bpf_probe_read_user_str(k->data, PG_SHED_WINDOW, upath);
	/* A whole path (one that did not fill the window) is there for the record if kept. */
	struct pg_kept_path *kp = (struct pg_kept_path *)&s->data[PG_KEPT_PATH_OFF];
	kp->ptr = (__u64)upath;
	kp->pid_tgid = bpf_get_current_pid_tgid();
	kp->n = n > 0 && n < PG_SHED_WINDOW ? n : 0;
	/* n counts the NUL; a path that filled the window may have been cut: never shed. */
	if (n < 2 || n >= PG_SHED_WINDOW || k->data[0] != '/')
		return false;
	__u32 len = n - 1;
	if (k->data[(len - 1) & (PG_SHED_WINDOW - 1)] == '/')
		return false;
	/* Flags of the previous word's last byte, moved to the first byte's top bit. */
	__u64 prev_any = 0, prev_slash = 0;
	for (__u32 w = 0; w < PG_SHED_WINDOW / 8; w++) {
		__u32 off = w * 8;
		if (off >= len)
			break;
		__u64 x = *(__u64 *)&k->data[off];
		/* Bytes from the NUL on are left over from earlier paths: zero them. */
		if (len - off < 8)
			x &= (1ULL << ((len - off) * 8)) - 1;
		__u64 dot = bytes_eq(x, '.'), slash = bytes_eq(x, '/');
		/* "..", "/." and "//": a dot after a dot or slash, a slash after a slash. */
		if ((dot & (((dot | slash) << 8) | prev_any)) | (slash & ((slash << 8) | prev_slash)))
			return false;
		prev_any = (dot | slash) >> 56;
		prev_slash = slash >> 56;
	}
	k->prefixlen = n * 8;
	if (bpf_map_lookup_elem(&pg_shed_prefix, k))
		return false;
	__u32 m = (flags >> PG_SHED_SUFFIX_SHIFT) & 0xff;
	if (!m)
		return true;
	if (m > len)
		m = len;
	for (__u32 i = 0; i < PG_SHED_WINDOW - 1; i++) {
		if (i >= m)
			break;
		rk->data[i] = k->data[(len - 1 - i) & (PG_SHED_WINDOW - 1)];
	}
	rk->prefixlen = m * 8;
	return !bpf_map_lookup_elem(&pg_shed_suffix, rk);
}

/* Forgets the kept path (a shed open sends nothing; a failed tail call sends nothing). */
static __always_inline void kept_path_drop(void)
{
	struct pg_scratch *s = scratch();
	if (s)
		((struct pg_kept_path *)&s->data[PG_KEPT_PATH_OFF])->n = 0;
}

#define PG_S_IFMT 0170000
#define PG_S_IFDIR 0040000

/*
 * A directory is never shed: later events name paths relative to it (openat's dirfd, fchdir
 * then relative opens), which user space resolves from its fd name.
 */
static __always_inline bool is_dir_fd(long fd)
{
	struct file *f = fd_file(fd);
	return f && (f->f_inode->i_mode & PG_S_IFMT) == PG_S_IFDIR;
}

/*
 * The dispatcher's part, for a selected syscall with shedding on: sheds the close of a marked
 * fd (true: nothing is sent), and forgets the mark of an fd number a sent syscall returned
 * (the open family does both in pg_exit_open).
 */
static __always_inline bool shed_dispatch(__u32 flags, __u32 nr, long ret, __u64 fd_arg,
					  __u64 fds_ptr, struct pg_counters *c)
{
	if (nr == PG_SYS_CLOSE) {
		if (!shed_unmark(flags, (long)(int)fd_arg))
			return false;
		c->shed_close++;
		return true;
	}
	if (ret < 0)
		return false;
	switch ((enum pg_sys)nr) {
	PG_CASES_RETURNS_FD
		if (!is_open(nr))
			shed_unmark(flags, ret);
		break;
	default:
		/* pipe, pipe2 and socketpair return their two fds in user memory. */
		if (ret == 0 && (nr == PG_SYS_PIPE || nr == PG_SYS_PIPE2 || nr == PG_SYS_SOCKETPAIR)) {
			int fds[2] = {-1, -1};
			if (bpf_probe_read_user(fds, sizeof(fds), (void *)fds_ptr) == 0) {
				shed_unmark(flags, fds[0]);
				shed_unmark(flags, fds[1]);
			}
		}
		break;
	}
	return false;
}
