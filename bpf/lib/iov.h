// SPDX-License-Identifier: Apache-2.0
/*
 * User data behind iovecs and msghdrs, gathered up to the snaplen (bpf_loop).
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

#define PG_MAX_IOV 16

static __always_inline __u8 *scratch_rec(void);

struct iov_walk {
	const struct iovec *iov; /* user array */
	__u64 cnt;
	__u32 start; /* record offset where the data begins */
	__u32 want;  /* bytes to gather: min(transferred, snaplen) */
	__u32 got;
	bool sum;    /* walk every vector (up to PG_MAX_IOV) to add up their lengths */
	__u64 total; /* sum of iov_len over the vectors walked */
};

/* One iovec's share of the data; a bpf_loop callback, so the verifier checks it once. */
static long iov_step(__u64 i, void *vctx)
{
	struct iov_walk *w = vctx;
	__u8 *b = scratch_rec();
	struct iovec iov = {};
	if (!b || i >= w->cnt || (w->got >= w->want && !w->sum))
		return 1;
	if (bpf_probe_read_user(&iov, sizeof(iov), &w->iov[i]) < 0) {
		count_read_failure();
		return 1;
	}
	w->total += iov.iov_len;
	__u32 room = w->want - w->got;
	__u32 n = iov.iov_len < room ? iov.iov_len : room;
	n &= 127; /* <= PG_SNAPLEN already; the mask is for the verifier */
	if (n && bpf_probe_read_user(&b[(w->start + w->got) & PG_POS_MASK], n, iov.iov_base) < 0) {
		count_read_failure();
		return 1;
	}
	w->got += n;
	return 0;
}

/*
 * Appends, as one parameter, the first `want` bytes (<= PG_SNAPLEN) of a user iovec array,
 * gathered across the vectors in order (at most PG_MAX_IOV of them), as Falco captures
 * sendmsg/recvmsg/readv/writev data. A vector that cannot be read ends the walk there
 * (counted as a read failure). With `sum`, every vector is visited and the sum of their
 * lengths (the `size` of readv/writev) is returned.
 */
static __always_inline __u64 push_iov_data(struct rec *r, const struct iovec *iov, __u64 cnt,
					   __u32 want, bool sum)
{
	struct iov_walk w = {
		.iov = iov,
		.cnt = cnt,
		.start = r->h->len,
		.want = want,
		.sum = sum,
	};
	if (!iov) {
		push_empty(r);
		return 0;
	}
	bpf_loop(PG_MAX_IOV, iov_step, &w, 0);
	push_done(r, w.got);
	return w.total;
}

/* The data of a user msghdr (sendmsg/recvmsg): what was transferred, up to the snaplen. */
static __always_inline void push_msg_data(struct rec *r, __u64 umsg, long ret)
{
	struct user_msghdr mh = {};
	if (ret <= 0 || bpf_probe_read_user(&mh, sizeof(mh), (void *)umsg) < 0 || !mh.msg_iov) {
		push_empty(r);
		return;
	}
	push_iov_data(r, mh.msg_iov, mh.msg_iovlen, ret < PG_SNAPLEN ? ret : PG_SNAPLEN, false);
}
