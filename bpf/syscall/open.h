// SPDX-License-Identifier: Apache-2.0
/*
 * Parameters shared by the open family: flags with Falco's extra bits, mode, dev and ino.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/* Shedding's two keys (syscall/shed.h), assembled in this CPU's temporary area (too large
 * for the stack). */
#define PG_SHED_KEY_OFF PG_TMP_OFF
#define PG_SHED_RKEY_OFF (PG_TMP_OFF + 512)
#define PG_KEPT_PATH_OFF (PG_TMP_OFF + 1024)

/*
 * The path of a kept open, read by shed_path and left in the key for the writer that
 * pg_exit_open tail-calls next on this CPU (emit_syscall, push_open_path): the record copies
 * it from there instead of reading the user's memory a second time. `n` counts the NUL; 0
 * when there is none to take. The writer consumes it (n = 0) whether it matches or not.
 */
struct pg_kept_path {
	__u64 ptr;
	__u64 pid_tgid;
	__u32 n;
};

/*
 * The open's path parameter: the copy shed_path left in the key when it is this thread's read
 * of the same pointer, else read from user memory. Reading it once saves the second user
 * read per kept open, and the path tested against the rules' atoms is then the one sent.
 */
static __always_inline void push_open_path(struct rec *r, const void *p)
{
	struct pg_kept_path *kp = (struct pg_kept_path *)&r->b[PG_KEPT_PATH_OFF];
	__u32 n = kp->n;
	kp->n = 0;
	if (n && n < PG_SHED_WINDOW && kp->ptr == (__u64)p &&
	    kp->pid_tgid == bpf_get_current_pid_tgid()) {
		struct pg_shed_key *k = (struct pg_shed_key *)&r->b[PG_SHED_KEY_OFF];
		/* Bounded in the register the helper gets (clang would pass an unbounded copy). */
		asm volatile("" : "+r"(n));
		n &= PG_SHED_WINDOW - 1;
		if (bpf_probe_read_kernel(&r->b[r->h->len & PG_POS_MASK], n, k->data) == 0) {
			push_done(r, n);
			return;
		}
	}
	push_user_str(r, p);
}

static __always_inline void push_open_identity(struct rec *r, struct file *f)
{
	if (!f) {
		push_u32(r, 0);
		push_u64(r, 0);
		return;
	}
	struct inode *inode = f->f_inode;
	push_u32(r, encode_dev(inode->i_sb->s_dev));
	push_u64(r, inode->i_ino);
}

/* include/linux/fs.h: set on the file when this open created it (O_CREAT, new inode). */
#define PG_FMODE_CREATED (1U << 20)

/*
 * Raw kernel open flags, plus facts about the opened file in bits no O_* flag uses: its
 * overlayfs layer in bits 31 (upper) and 30 (lower), and in bit 29 whether this open created
 * it. User space maps them to PPM_O_*, FD_*_LAYER and O_F_CREATED.
 */
static __always_inline void push_open_flags(struct rec *r, __u64 flags, struct file *f)
{
	__u32 layer = f ? overlay_layer(f) : 0;
	__u32 v = (__u32)flags & (PG_OPEN_CREATED - 1);
	if (layer)
		v |= layer == 1 ? PG_OPEN_UPPER_LAYER : PG_OPEN_LOWER_LAYER;
	/* f is BTF-typed (fd_file): a direct load, no probe-read helper call. */
	if (f && (f->f_mode & PG_FMODE_CREATED))
		v |= PG_OPEN_CREATED;
	push_u32(r, v);
}

#define PG_O_CREAT 0100
#define PG_O_TMPFILE 020000000

/* The mode argument is only read by the kernel with O_CREAT or O_TMPFILE; otherwise the
 * register holds whatever the caller left there, and Falco reports 0. */
static __always_inline void push_open_mode(struct rec *r, __u64 flags, __u64 mode)
{
	push_u32(r, (flags & (PG_O_CREAT | PG_O_TMPFILE)) ? (__u32)mode : 0);
}
