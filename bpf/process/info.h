// SPDX-License-Identifier: Apache-2.0
/*
 * Process information shared by the clone and execve records: memory regions, task counters,
 * tty, overlayfs layer, executable flags.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

static __always_inline void push_mm_region(struct rec *r, struct mm_struct *mm, bool env,
					   bool skip_first)
{
	unsigned long start = env ? BPF_CORE_READ(mm, env_start) : BPF_CORE_READ(mm, arg_start);
	unsigned long end = env ? BPF_CORE_READ(mm, env_end) : BPF_CORE_READ(mm, arg_end);
	if (!mm || end <= start) {
		push_empty(r);
		return;
	}
	__u64 len = end - start;
	if (skip_first) {
		/* argv[0] is the `exe` parameter; `args` is the rest. */
		long n = bpf_probe_read_user_str(&r->b[r->h->len & PG_POS_MASK], PG_MAX_PATH,
						 (void *)start);
		if (n <= 0 || n >= len) {
			push_empty(r);
			return;
		}
		start += n;
		len -= n;
	}
	push_user_bytes(r, (void *)start, len, env ? PG_MAX_ENV : PG_MAX_ARGS);
}

static __always_inline void push_exe_argv0(struct rec *r, struct mm_struct *mm)
{
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	push_user_str(r, mm ? (void *)start : NULL);
}

static __always_inline __u64 rss_pages(struct mm_struct *mm, int i)
{
	s64 v = BPF_CORE_READ(mm, rss_stat[i].count);
	return v > 0 ? v : 0;
}

/* tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size, vm_rss, vm_swap, comm */
static __always_inline void push_task_common(struct rec *r, struct task_struct *t)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	push_u64(r, BPF_CORE_READ(t, pid));
	push_u64(r, BPF_CORE_READ(t, tgid));
	push_u64(r, BPF_CORE_READ(t, real_parent, tgid));
	struct path pwd = BPF_CORE_READ(t, fs, pwd);
	push_dentry_path(r, pwd.dentry, pwd.mnt);
	push_u64(r, BPF_CORE_READ(t, signal, rlim[PG_RLIMIT_NOFILE].rlim_cur));
	push_u64(r, BPF_CORE_READ(t, maj_flt));
	push_u64(r, BPF_CORE_READ(t, min_flt));
	if (mm) {
		push_u32(r, BPF_CORE_READ(mm, total_vm) << 2); /* pages → KiB (4 KiB pages) */
		push_u32(r, (rss_pages(mm, 0) + rss_pages(mm, 1) + rss_pages(mm, 3)) << 2);
		push_u32(r, rss_pages(mm, 2) << 2);
	} else {
		push_u32(r, 0);
		push_u32(r, 0);
		push_u32(r, 0);
	}
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	bpf_get_current_comm(p, 16);
	long n = bpf_probe_read_kernel_str(p, 16, p);
	if (n < 0)
		n = 0;
	push_done(r, n);
}

static __always_inline __u32 pid_nr_in(struct pid *pid, bool ns_local)
{
	if (!pid)
		return 0;
	unsigned int level = ns_local ? BPF_CORE_READ(pid, level) : 0;
	return BPF_CORE_READ(pid, numbers[level & 31].nr);
}

static __always_inline __u32 tty_of(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (!tty)
		return 0;
	int major = BPF_CORE_READ(tty, driver, major);
	int minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/* Which overlayfs layer a file lives on: 0 = not overlay, 1 = upper, 2 = lower. */
static __always_inline __u32 overlay_layer(struct file *f)
{
	/* The path's inode, not f_inode: an opened overlay file's f_inode is the real inode of
	 * the layer it lives on (ext4, …), while its path stays on the overlay. */
	struct inode *inode = BPF_CORE_READ(f, f_path.dentry, d_inode);
	if (!f || BPF_CORE_READ(inode, i_sb, s_magic) != PG_OVERLAYFS_MAGIC)
		return 0;
	struct ovl_inode *oi =
		(struct ovl_inode *)((void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode));
	return BPF_CORE_READ(oi, __upperdentry) ? 1 : 2;
}

/* PG_EXE_* flags of an executable file. */
static __always_inline __u32 exe_flags(struct file *f)
{
	__u32 flags = 0;
	if (!f)
		return 0;
	char name[8] = {};
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
	    name[5] == ':')
		flags |= PG_EXE_FROM_MEMFD;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	/* Writable by the executing task: the DAC permission bits for its fsuid/fsgid, or
	 * CAP_DAC_OVERRIDE (which grants write on any non-directory), as Falco decides it. */
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	const struct cred *cred = BPF_CORE_READ(t, cred);
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	__u32 fsuid = BPF_CORE_READ(cred, fsuid.val), fsgid = BPF_CORE_READ(cred, fsgid.val);
	bool writable;
	if (fsuid == BPF_CORE_READ(inode, i_uid.val))
		writable = mode & 0200;
	else if (fsgid == BPF_CORE_READ(inode, i_gid.val))
		writable = mode & 0020;
	else
		writable = mode & 0002;
	if (!writable && (BPF_CORE_READ(cred, cap_effective.val) & (1ULL << 1 /* DAC_OVERRIDE */)))
		writable = true;
	if (writable)
		flags |= PG_EXE_WRITABLE;
	__u32 layer = overlay_layer(f);
	if (layer)
		flags |= layer == 1 ? PG_EXE_UPPER_LAYER : PG_EXE_LOWER_LAYER;
	return flags;
}
