// SPDX-License-Identifier: Apache-2.0
/*
 * poll/ppoll fd lists (PT_FDLIST), converted to Falco's PPM_POLL* flags.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/* At most this many (fd, flags) entries of a poll set are reported: one bpf_loop bound. */
#define PG_MAX_POLLFD 16

/* struct pollfd (uapi), declared here: uapi types are not all in the kernel's BTF. */
struct pg_pollfd {
	int fd;
	short events;
	short revents;
};

struct pollfd_walk {
	const struct pg_pollfd *fds; /* user array */
	__u64 cnt;
	__u32 start; /* record offset of the u16 count */
	__u32 n;     /* entries written */
};

/* Kernel POLL* bits to Falco's PPM_POLL* (IN, PRI, OUT keep their bits; RDHUP moves to 8). */
static __always_inline __u16 poll_flags_to_ppm(__u16 k)
{
	return (k & 0x7) | ((k & 0x3f8) << 1) | ((k & 0x2000) ? 0x8 : 0);
}

/* One pollfd as (i64 fd, u16 revents in PPM_POLL*); a bpf_loop callback. */
static long pollfd_step(__u64 i, void *vctx)
{
	struct pollfd_walk *w = vctx;
	__u8 *b = scratch_rec();
	struct pg_pollfd p = {};
	if (!b || i >= w->cnt)
		return 1;
	if (bpf_probe_read_user(&p, sizeof(p), &w->fds[i]) < 0) {
		count_read_failure();
		return 1;
	}
	__u32 at = w->start + 2 + 10 * (w->n & (PG_MAX_POLLFD - 1));
	*(__s64 *)&b[at & PG_POS_MASK] = p.fd;
	*(__u16 *)&b[(at + 8) & PG_POS_MASK] = poll_flags_to_ppm(p.revents);
	w->n++;
	return 0;
}

/*
 * Falco's PT_FDLIST for the user pollfd array `fds` of `nfds` entries, after the call: each
 * fd with the events the kernel returned (revents), the first PG_MAX_POLLFD entries.
 */
static __always_inline void push_pollfds(struct rec *r, __u64 fds, __u64 nfds)
{
	struct pollfd_walk w = {
		.fds = (const struct pg_pollfd *)fds,
		.cnt = nfds,
		.start = r->h->len,
	};
	if (fds)
		bpf_loop(PG_MAX_POLLFD, pollfd_step, &w, 0);
	*(__u16 *)&r->b[w.start & PG_POS_MASK] = w.n;
	push_done(r, 2 + 10 * w.n);
}
