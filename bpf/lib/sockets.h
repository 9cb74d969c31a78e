// SPDX-License-Identifier: Apache-2.0
/*
 * Sockets: an fd to its struct sock, Falco's socket tuple and sockaddr encodings.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

static __always_inline struct sock *fd_sock(long fd)
{
	struct file *f = fd_file(fd);
	if (!f)
		return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	if (!s)
		return NULL;
	/* Only trust private_data when the file really is a socket. */
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & 00170000) != 0140000)
		return NULL;
	return BPF_CORE_READ(s, sk);
}

/*
 * Falco's socket tuple: family, then (ip, port) of both ends, or the two unix socket addresses
 * and the path. Like Falco's fd.name, the order is client → server: local → remote for an
 * outbound socket (connect, send), remote → local for an accepted one (`inbound`).
 */
static __always_inline void push_socktuple_peer(struct rec *r, struct sock *sk, bool inbound,
					       const void *upeer, bool peer_inbound)
{
	if (!sk) {
		push_empty(r);
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	__u8 *tmp = r->b + PG_TMP_OFF;
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* An unconnected datagram socket: the peer is the address passed to sendto or filled
	 * in by recvfrom, and the tuple is oriented client → server from that peer. */
	bool use_peer = false;
	if (upeer && dport == 0 && bpf_probe_read_user(tmp, 24, upeer) == 0 &&
	    *(__u16 *)tmp == family) {
		use_peer = true;
		inbound = peer_inbound;
	}
	if (family == AF_INET) {
		__u32 la = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u16 lp = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u32 ra = use_peer ? *(__u32 *)&tmp[4] : BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u16 rp = use_peer ? bpf_ntohs(*(__u16 *)&tmp[2]) : dport;
		p[0] = AF_INET;
		*(__u32 *)&p[1] = inbound ? ra : la;
		*(__u16 *)&p[5] = inbound ? rp : lp;
		*(__u32 *)&p[7] = inbound ? la : ra;
		*(__u16 *)&p[11] = inbound ? lp : rp;
		push_done(r, 13);
	} else if (family == AF_INET6) {
		__u16 lp = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 rp = use_peer ? bpf_ntohs(*(__u16 *)&tmp[2]) : dport;
		p[0] = AF_INET6;
		/* bpf_core_read with an explicit size: BPF_CORE_READ_INTO would size by *dst. */
		__u8 *local = inbound ? &p[19] : &p[1];
		__u8 *remote = inbound ? &p[1] : &p[19];
		bpf_core_read(local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		if (use_peer)
			__builtin_memcpy(remote, &tmp[8], 16);
		else
			bpf_core_read(remote, 16, &sk->__sk_common.skc_v6_daddr);
		*(__u16 *)&p[17] = inbound ? rp : lp;
		*(__u16 *)&p[35] = inbound ? lp : rp;
		push_done(r, 37);
	} else if (family == AF_UNIX) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct sock *peer = BPF_CORE_READ(us, peer);
		p[0] = AF_UNIX;
		*(__u64 *)&p[1] = (__u64)sk;
		*(__u64 *)&p[9] = (__u64)peer;
		/* The path is the bound name of this socket, or else of the peer. */
		struct unix_address *addr = BPF_CORE_READ(us, addr);
		if (!addr && peer)
			addr = BPF_CORE_READ((struct unix_sock *)peer, addr);
		long n = 0;
		if (addr) {
			int alen = BPF_CORE_READ(addr, len);
			/* sun_path starts after the 2-byte family; abstract names begin with NUL. */
			n = alen - 2;
			if (n < 0)
				n = 0;
			if (n > 107)
				n = 107;
			if (n > 0)
				bpf_probe_read_kernel(&p[17], n & 127, (void *)addr->name[0].sun_path);
		}
		p[(17 + n) & 255] = 0;
		push_done(r, 18 + n);
	} else {
		p[0] = family;
		push_done(r, 1);
	}
}

static __always_inline void push_socktuple(struct rec *r, struct sock *sk, bool inbound)
{
	push_socktuple_peer(r, sk, inbound, NULL, false);
}

/* A user sockaddr converted to Falco's sockaddr encoding. */
static __always_inline void push_user_sockaddr(struct rec *r, const void *uaddr, __u64 alen)
{
	__u8 *tmp = r->b + PG_TMP_OFF;
	if (!uaddr || alen < 2) {
		push_empty(r);
		return;
	}
	if (alen > PG_MAX_SOCKADDR)
		alen = PG_MAX_SOCKADDR;
	if (bpf_probe_read_user(tmp, alen & (PG_MAX_SOCKADDR * 2 - 1), uaddr) < 0) {
		count_read_failure();
		push_empty(r);
		return;
	}
	__u16 family = *(__u16 *)tmp;
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	if (family == AF_INET && alen >= 8) {
		p[0] = AF_INET;
		*(__u32 *)&p[1] = *(__u32 *)&tmp[4];
		*(__u16 *)&p[5] = bpf_ntohs(*(__u16 *)&tmp[2]);
		push_done(r, 7);
	} else if (family == AF_INET6 && alen >= 24) {
		p[0] = AF_INET6;
		__builtin_memcpy(&p[1], &tmp[8], 16);
		*(__u16 *)&p[17] = bpf_ntohs(*(__u16 *)&tmp[2]);
		push_done(r, 19);
	} else if (family == AF_UNIX) {
		__u32 n = alen - 2;
		if (n > 108)
			n = 108;
		p[0] = AF_UNIX;
		bpf_probe_read_kernel(&p[1], n & 127, &tmp[2]);
		p[(1 + n) & 255] = 0;
		push_done(r, n + 2);
	} else {
		p[0] = family;
		push_done(r, 1);
	}
}
