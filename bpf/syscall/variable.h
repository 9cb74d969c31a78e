// SPDX-License-Identifier: Apache-2.0
/*
 * Records with strings or buffers, assembled in the scratch area by a tail-called program
 * (emit_syscall).
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

#define PG_SOL_SOCKET 1

/*
 * Falco's sockopt value (PT_DYN: a type index, then the value) for SOL_SOCKET options: the
 * error of SO_ERROR as a negative errno, the old timeouts in ns, SO_COOKIE as u64, any other
 * 4-byte option as u32. Other options and levels are left empty.
 */
static __always_inline void push_sockopt_val(struct rec *r, __u64 level, __u64 optname,
					     __u64 uptr, __u32 optlen)
{
	__u8 *p = &r->b[r->h->len & PG_POS_MASK];
	if (!uptr || level != PG_SOL_SOCKET) {
		push_empty(r);
		return;
	}
	switch (optname) {
	case 4: /* SO_ERROR: PPM_SOCKOPT_IDX_ERRNO */
		p[0] = 1;
		*(__s64 *)(p + 1) = -(__s64)(int)user_u32(uptr);
		push_done(r, 9);
		return;
	case 20: /* SO_RCVTIMEO_OLD: PPM_SOCKOPT_IDX_TIMEVAL */
	case 21: /* SO_SNDTIMEO_OLD */
		p[0] = 4;
		*(__u64 *)(p + 1) = user_u64(uptr) * 1000000000ULL + user_u64(uptr + 8) * 1000;
		push_done(r, 9);
		return;
	case 57: /* SO_COOKIE: PPM_SOCKOPT_IDX_UINT64 */
		p[0] = 3;
		*(__u64 *)(p + 1) = user_u64(uptr);
		push_done(r, 9);
		return;
	}
	if (optlen != 4) {
		push_empty(r);
		return;
	}
	p[0] = 2; /* PPM_SOCKOPT_IDX_UINT32 */
	*(__u32 *)(p + 1) = user_u32(uptr);
	push_done(r, 5);
}

static __always_inline void emit_syscall(__u32 nr, long ret, __u64 *a, __u8 family)
{
	struct rec r;
	struct rec *rp = &r;
	/* The file an open-family call returned, looked up once for flags, dev and ino. */
	bool opens = nr == PG_SYS_OPEN || nr == PG_SYS_OPENAT || nr == PG_SYS_OPENAT2 ||
		     nr == PG_SYS_CREAT || nr == PG_SYS_OPEN_BY_HANDLE_AT;
	struct file *of = opens && ret >= 0 ? fd_file(ret) : NULL;

#define BEGIN(n)                                                                                \
	if (!rec_init(rp, PG_KIND_SYSCALL, nr, n, family))                                      \
		return;
	switch ((enum pg_sys)nr) {
	case PG_SYS_OPEN: /* fd, name, flags, mode, dev, ino */
		BEGIN(6);
		push_u64(rp, ret);
		push_open_path(rp, (void *)a[0]);
		push_open_flags(rp, a[1], of);
		push_open_mode(rp, a[1], a[2]);
		push_open_identity(rp, of);
		break;
	case PG_SYS_OPENAT: /* fd, dirfd, name, flags, mode, dev, ino */
		BEGIN(7);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_open_path(rp, (void *)a[1]);
		push_open_flags(rp, a[2], of);
		push_open_mode(rp, a[2], a[3]);
		push_open_identity(rp, of);
		break;
	case PG_SYS_OPENAT2: { /* fd, dirfd, name, flags, mode, resolve, dev, ino */
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)a[2]);
		BEGIN(8);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_open_path(rp, (void *)a[1]);
		push_open_flags(rp, how.flags, of);
		push_open_mode(rp, how.flags, how.mode);
		push_u32(rp, how.resolve);
		push_open_identity(rp, of);
		break;
	}
	case PG_SYS_CREAT: /* fd, name, mode, dev, ino, creat_flags */
		BEGIN(6);
		push_u64(rp, ret);
		push_open_path(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		push_open_identity(rp, of);
		{
			/* creat_flags: Falco's FD_UPPER_LAYER_CREAT (1) / FD_LOWER_LAYER_CREAT (2). */
			__u32 layer = of ? overlay_layer(of) : 0;
			push_u16(rp, layer);
		}
		break;
	case PG_SYS_RMDIR: /* res, path */
	case PG_SYS_UNLINK: /* res, path */
	case PG_SYS_CHDIR: /* res, path */
	case PG_SYS_STAT: /* res, path */
	case PG_SYS_LSTAT: /* res, path */
	case PG_SYS_CHROOT: /* res, path */
		BEGIN(2);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		break;
	case PG_SYS_MKDIR: /* res, path, mode */
	case PG_SYS_CHMOD: /* res, filename, mode */
	case PG_SYS_ACCESS: /* res, name, mode */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case PG_SYS_FCHMOD: /* res, fd, mode */
		BEGIN(3);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		break;
	case PG_SYS_MKDIRAT: /* res, dirfd, path, mode */
	case PG_SYS_FCHMODAT: /* res, dirfd, filename, mode */
	case PG_SYS_UNLINKAT: /* res, dirfd, name, flags */
		BEGIN(4);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		break;
	case PG_SYS_RENAME: /* res, oldpath, newpath */
	case PG_SYS_LINK: /* res, oldpath, newpath */
	case PG_SYS_SYMLINK: /* res, target, linkpath */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_user_str(rp, (void *)a[1]);
		break;
	case PG_SYS_RENAMEAT: /* res, olddirfd, oldpath, newdirfd, newpath */
	case PG_SYS_LINKAT: /* res, olddir, oldpath, newdir, newpath, flags */
	case PG_SYS_RENAMEAT2: /* res, olddirfd, oldpath, newdirfd, newpath, flags */
		BEGIN(nr == PG_SYS_RENAMEAT ? 5 : 6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u64(rp, (int)a[2]);
		push_user_str(rp, (void *)a[3]);
		if (nr != PG_SYS_RENAMEAT)
			push_u32(rp, a[4]);
		break;
	case PG_SYS_SYMLINKAT: /* res, target, linkdirfd, linkpath */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u64(rp, (int)a[1]);
		push_user_str(rp, (void *)a[2]);
		break;
	case PG_SYS_SOCKETPAIR: { /* res, fd1, fd2, source, peer, domain, type, proto */
		int fds[2] = {-1, -1};
		if (ret == 0)
			bpf_probe_read_user(fds, sizeof(fds), (void *)a[3]);
		BEGIN(8);
		push_u64(rp, ret);
		push_u64(rp, fds[0]);
		push_u64(rp, fds[1]);
		struct sock *sk = ret == 0 ? fd_sock(fds[0]) : NULL;
		push_u64(rp, (__u64)sk);
		push_u64(rp, sk ? (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer) : 0);
		push_u32(rp, a[0]);
		push_u32(rp, a[1]);
		push_u32(rp, a[2]);
		break;
	}
	case PG_SYS_PIPE: /* res, fd1, fd2, ino */
	case PG_SYS_PIPE2: { /* res, fd1, fd2, ino, flags */
		int fds[2] = {-1, -1};
		if (ret == 0)
			bpf_probe_read_user(fds, sizeof(fds), (void *)a[0]);
		BEGIN(nr == PG_SYS_PIPE ? 4 : 5);
		push_u64(rp, ret);
		push_u64(rp, fds[0]);
		push_u64(rp, fds[1]);
		struct file *f = ret == 0 ? fd_file(fds[0]) : NULL;
		push_u64(rp, f ? BPF_CORE_READ(f, f_inode, i_ino) : 0);
		if (nr == PG_SYS_PIPE2)
			push_u32(rp, a[1]);
		break;
	}
	case PG_SYS_CONNECT: /* res, tuple, fd, addr */
		BEGIN(4);
		push_u64(rp, ret);
		push_socktuple(rp, (ret == 0 || ret == -115) ? fd_sock(a[0]) : NULL, false);
		push_u64(rp, (int)a[0]);
		push_user_sockaddr(rp, (void *)a[1], a[2]);
		break;
	case PG_SYS_BIND: /* res, addr, fd */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_sockaddr(rp, (void *)a[1], a[2]);
		push_u64(rp, (int)a[0]);
		break;
	case PG_SYS_ACCEPT: /* fd, tuple, queuepct, queuelen, queuemax */
	case PG_SYS_ACCEPT4: { /* … , flags */
		struct sock *lsk = fd_sock(a[0]);
		__u32 qlen = lsk ? BPF_CORE_READ(lsk, sk_ack_backlog) : 0;
		__u32 qmax = lsk ? BPF_CORE_READ(lsk, sk_max_ack_backlog) : 0;
		BEGIN(nr == PG_SYS_ACCEPT ? 5 : 6);
		push_u64(rp, ret);
		push_socktuple(rp, ret >= 0 ? fd_sock(ret) : NULL, true);
		push_u8(rp, qmax ? (qlen * 100) / qmax : 0);
		push_u32(rp, qlen);
		push_u32(rp, qmax);
		if (nr == PG_SYS_ACCEPT4)
			push_u32(rp, a[3]);
		break;
	}
	case PG_SYS_SENDTO: /* res, data, fd, size, tuple */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		push_socktuple_peer(rp, fd_sock(a[0]), false, (void *)a[4], false);
		break;
	case PG_SYS_RECVFROM: /* res, data, tuple, fd, size */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_socktuple_peer(rp, fd_sock(a[0]), false, ret >= 0 ? (void *)a[4] : NULL, true);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		break;
	case PG_SYS_SENDMSG: /* res, data, fd, size, tuple */
		BEGIN(5);
		push_u64(rp, ret);
		push_msg_data(rp, a[1], ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, ret > 0 ? ret : 0);
		push_socktuple(rp, fd_sock(a[0]), false);
		break;
	case PG_SYS_RECVMSG: /* res, size, data, tuple, msgcontrol, fd */
		BEGIN(6);
		push_u64(rp, ret);
		push_u32(rp, ret > 0 ? ret : 0);
		push_msg_data(rp, a[1], ret);
		push_socktuple(rp, fd_sock(a[0]), false);
		push_empty(rp);
		push_u64(rp, (int)a[0]);
		break;
	case PG_SYS_READV: /* res, size, data, fd */
	case PG_SYS_PREADV: { /* res, size, data, fd, pos */
		BEGIN(nr == PG_SYS_READV ? 4 : 5);
		push_u64(rp, ret);
		/* size (the vector's total length) is known only after the walk: patched in. */
		__u32 at = rp->h->len;
		push_u32(rp, 0);
		if (ret > 0) {
			__u64 total = push_iov_data(rp, (void *)a[1], a[2],
						    ret < PG_SNAPLEN ? ret : PG_SNAPLEN, true);
			*(__u32 *)&rp->b[at & PG_POS_MASK] = total;
		} else {
			push_empty(rp);
		}
		push_u64(rp, (int)a[0]);
		if (nr == PG_SYS_PREADV)
			push_u64(rp, a[3]);
		break;
	}
	case PG_SYS_WRITEV: /* res, data, fd, size */
	case PG_SYS_PWRITEV: { /* res, data, fd, size, pos */
		BEGIN(nr == PG_SYS_WRITEV ? 4 : 5);
		push_u64(rp, ret);
		/* What the caller gave, whatever the result (as Falco does for writes). */
		__u64 total = push_iov_data(rp, (void *)a[1], a[2], PG_SNAPLEN, true);
		push_u64(rp, (int)a[0]);
		push_u32(rp, total);
		if (nr == PG_SYS_PWRITEV)
			push_u64(rp, a[3]);
		break;
	}
	case PG_SYS_POLL: /* res, fds, timeout */
		BEGIN(3);
		push_u64(rp, ret);
		push_pollfds(rp, a[0], a[1]);
		push_u64(rp, (int)a[2]);
		break;
	case PG_SYS_PPOLL: { /* res, fds, timeout (ns; -1 when NULL), sigmask (first 32 signals) */
		struct __kernel_timespec ts = {};
		__u32 mask = 0;
		__u64 tmo = (__u64)-1;
		BEGIN(4);
		push_u64(rp, ret);
		push_pollfds(rp, a[0], a[1]);
		if (a[2] && bpf_probe_read_user(&ts, sizeof(ts), (void *)a[2]) == 0)
			tmo = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		if (a[3] && bpf_probe_read_user(&mask, sizeof(mask), (void *)a[3]) < 0)
			mask = 0;
		push_u64(rp, tmo);
		push_u32(rp, mask);
		break;
	}
	case PG_SYS_PRCTL: /* res, option, arg2_str, arg2_int */
		BEGIN(4);
		push_u64(rp, ret);
		push_u32(rp, a[0]);
		if (a[0] == 15 /* PR_SET_NAME */ || a[0] == 16 /* PR_GET_NAME */)
			push_user_str(rp, (void *)a[1]);
		else
			push_empty(rp);
		push_u64(rp, a[1]);
		break;
	case PG_SYS_MOUNT: /* res, dev, dir, type, flags */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_user_str(rp, (void *)a[2]);
		push_u32(rp, a[3]);
		break;
	case PG_SYS_UMOUNT2: /* res, name, flags */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case PG_SYS_INIT_MODULE: /* res, img, length, uargs */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[0], a[1], PG_SNAPLEN);
		push_u64(rp, a[1]);
		push_user_str(rp, (void *)a[2]);
		break;
	case PG_SYS_FINIT_MODULE: /* res, fd, uargs, flags */
		BEGIN(4);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		break;
	case PG_SYS_MEMFD_CREATE: /* fd, name, flags */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case PG_SYS_READ: /* res, data, fd, size */
	case PG_SYS_WRITE: /* res, data, fd, size */
	case PG_SYS_PREAD64: /* res, data, fd, size, pos */
	case PG_SYS_PWRITE64: /* res, data, fd, size, pos */
		BEGIN(nr < 2 ? 4 : 5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		if (nr >= 2)
			push_u64(rp, a[3]);
		break;
	case PG_SYS_CHOWN: /* res, path, uid, gid */
	case PG_SYS_LCHOWN: /* res, path, uid, gid */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		push_u32(rp, a[2]);
		break;
	case PG_SYS_FCHOWNAT: /* res, dirfd, pathname, uid, gid, flags */
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		push_u32(rp, a[3]);
		push_u32(rp, a[4]);
		break;
	case PG_SYS_GETCWD: /* res, path (the buffer holds a path only on success) */
		BEGIN(2);
		push_u64(rp, ret);
		push_user_str(rp, ret > 0 ? (void *)a[0] : NULL);
		break;
	case PG_SYS_OPEN_BY_HANDLE_AT: /* fd, mountfd, flags, path (of the opened file), dev, ino */
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_open_flags(rp, a[2], of);
		push_file_path(rp, of);
		push_open_identity(rp, of);
		break;
	case PG_SYS_SETSOCKOPT: /* res, fd, level, optname, val, optlen */
	case PG_SYS_GETSOCKOPT: { /* the value and its length after the call */
		bool get = nr == PG_SYS_GETSOCKOPT;
		__u32 optlen = !get ? (__u32)a[4] : ret == 0 ? user_u32(a[4]) : 0;
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		/* Falco names SOL_SOCKET options only; another level's option is UNKNOWN (0). */
		push_u32(rp, a[1] == PG_SOL_SOCKET ? a[2] : 0);
		push_sockopt_val(rp, a[1], a[2], get && ret != 0 ? 0 : a[3], optlen);
		push_u32(rp, optlen);
		break;
	}
	case PG_SYS_SENDMMSG: /* res, fd, size, data, tuple (of the first message) */
	case PG_SYS_RECVMMSG: { /* res, fd, size, data, tuple, msgcontrol */
		/* struct mmsghdr { struct user_msghdr msg_hdr; unsigned int msg_len; } */
		__u32 len = ret > 0 ? user_u32(a[1] + sizeof(struct user_msghdr)) : 0;
		BEGIN(nr == PG_SYS_SENDMMSG ? 5 : 6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, len);
		push_msg_data(rp, a[1], len);
		push_socktuple(rp, fd_sock(a[0]), nr == PG_SYS_RECVMMSG);
		if (nr == PG_SYS_RECVMMSG)
			push_empty(rp);
		break;
	}
	case PG_SYS_FSCONFIG: /* res, fd, cmd, key, value_bytebuf, value_charbuf, aux */
		BEGIN(7);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		push_user_str(rp, (void *)a[2]);
		/* FSCONFIG_SET_BINARY (2) passes bytes; SET_STRING, SET_PATH, SET_PATH_EMPTY a string. */
		if (a[1] == 2)
			push_user_bytes(rp, (void *)a[3], a[4], PG_SNAPLEN);
		else
			push_empty(rp);
		if (a[1] == 1 || a[1] == 3 || a[1] == 4)
			push_user_str(rp, (void *)a[3]);
		else
			push_empty(rp);
		push_u32(rp, a[4]);
		break;
	default:
		return; /* scalar records are emit_scalar's */
	}
#undef BEGIN
	rec_submit(rp);
}
