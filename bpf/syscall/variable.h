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
	bool opens = nr == 2 || nr == 257 || nr == 437 || nr == 85 || nr == 304;
	struct file *of = opens && ret >= 0 ? fd_file(ret) : NULL;

#define BEGIN(n)                                                                                \
	if (!rec_init(rp, PG_KIND_SYSCALL, nr, n, family))                                      \
		return;
	switch (nr) {
	case 2: /* open: fd, name, flags, mode, dev, ino */
		BEGIN(6);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_open_flags(rp, a[1], of);
		push_open_mode(rp, a[1], a[2]);
		push_open_identity(rp, of);
		break;
	case 257: /* openat: fd, dirfd, name, flags, mode, dev, ino */
		BEGIN(7);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_open_flags(rp, a[2], of);
		push_open_mode(rp, a[2], a[3]);
		push_open_identity(rp, of);
		break;
	case 437: { /* openat2: fd, dirfd, name, flags, mode, resolve, dev, ino */
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)a[2]);
		BEGIN(8);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_open_flags(rp, how.flags, of);
		push_open_mode(rp, how.flags, how.mode);
		push_u32(rp, how.resolve);
		push_open_identity(rp, of);
		break;
	}
	case 85: /* creat: fd, name, mode, dev, ino, creat_flags */
		BEGIN(6);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		push_open_identity(rp, of);
		{
			/* creat_flags: Falco's FD_UPPER_LAYER_CREAT (1) / FD_LOWER_LAYER_CREAT (2). */
			__u32 layer = of ? overlay_layer(of) : 0;
			push_u16(rp, layer);
		}
		break;
	case 84: /* rmdir: res, path */
	case 87: /* unlink: res, path */
	case 80: /* chdir: res, path */
	case 4:   /* stat: res, path */
	case 6:   /* lstat: res, path */
	case 161: /* chroot: res, path */
		BEGIN(2);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		break;
	case 83: /* mkdir: res, path, mode */
	case 90: /* chmod: res, filename, mode */
	case 21: /* access: res, name, mode */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case 91: /* fchmod: res, fd, mode */
		BEGIN(3);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[1]);
		break;
	case 258: /* mkdirat: res, dirfd, path, mode */
	case 268: /* fchmodat: res, dirfd, filename, mode */
	case 263: /* unlinkat: res, dirfd, name, flags */
		BEGIN(4);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		break;
	case 82: /* rename: res, oldpath, newpath */
	case 86: /* link: res, oldpath, newpath */
	case 88: /* symlink: res, target, linkpath */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_user_str(rp, (void *)a[1]);
		break;
	case 264: /* renameat: res, olddirfd, oldpath, newdirfd, newpath */
	case 265: /* linkat: res, olddir, oldpath, newdir, newpath, flags */
	case 316: /* renameat2: res, olddirfd, oldpath, newdirfd, newpath, flags */
		BEGIN(nr == 264 ? 5 : 6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u64(rp, (int)a[2]);
		push_user_str(rp, (void *)a[3]);
		if (nr != 264)
			push_u32(rp, a[4]);
		break;
	case 266: /* symlinkat: res, target, linkdirfd, linkpath */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u64(rp, (int)a[1]);
		push_user_str(rp, (void *)a[2]);
		break;
	case 53: { /* socketpair: res, fd1, fd2, source, peer, domain, type, proto */
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
	case 22:  /* pipe: res, fd1, fd2, ino */
	case 293: { /* pipe2: res, fd1, fd2, ino, flags */
		int fds[2] = {-1, -1};
		if (ret == 0)
			bpf_probe_read_user(fds, sizeof(fds), (void *)a[0]);
		BEGIN(nr == 22 ? 4 : 5);
		push_u64(rp, ret);
		push_u64(rp, fds[0]);
		push_u64(rp, fds[1]);
		struct file *f = ret == 0 ? fd_file(fds[0]) : NULL;
		push_u64(rp, f ? BPF_CORE_READ(f, f_inode, i_ino) : 0);
		if (nr == 293)
			push_u32(rp, a[1]);
		break;
	}
	case 42: /* connect: res, tuple, fd, addr */
		BEGIN(4);
		push_u64(rp, ret);
		push_socktuple(rp, (ret == 0 || ret == -115) ? fd_sock(a[0]) : NULL, false);
		push_u64(rp, (int)a[0]);
		push_user_sockaddr(rp, (void *)a[1], a[2]);
		break;
	case 49: /* bind: res, addr, fd */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_sockaddr(rp, (void *)a[1], a[2]);
		push_u64(rp, (int)a[0]);
		break;
	case 43:    /* accept: fd, tuple, queuepct, queuelen, queuemax */
	case 288: { /* accept4: … , flags */
		struct sock *lsk = fd_sock(a[0]);
		__u32 qlen = lsk ? BPF_CORE_READ(lsk, sk_ack_backlog) : 0;
		__u32 qmax = lsk ? BPF_CORE_READ(lsk, sk_max_ack_backlog) : 0;
		BEGIN(nr == 43 ? 5 : 6);
		push_u64(rp, ret);
		push_socktuple(rp, ret >= 0 ? fd_sock(ret) : NULL, true);
		push_u8(rp, qmax ? (qlen * 100) / qmax : 0);
		push_u32(rp, qlen);
		push_u32(rp, qmax);
		if (nr == 288)
			push_u32(rp, a[3]);
		break;
	}
	case 44: /* sendto: res, data, fd, size, tuple */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		push_socktuple_peer(rp, fd_sock(a[0]), false, (void *)a[4], false);
		break;
	case 45: /* recvfrom: res, data, tuple, fd, size */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_socktuple_peer(rp, fd_sock(a[0]), false, ret >= 0 ? (void *)a[4] : NULL, true);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		break;
	case 46: /* sendmsg: res, data, fd, size, tuple */
		BEGIN(5);
		push_u64(rp, ret);
		push_msg_data(rp, a[1], ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, ret > 0 ? ret : 0);
		push_socktuple(rp, fd_sock(a[0]), false);
		break;
	case 47: /* recvmsg: res, size, data, tuple, msgcontrol, fd */
		BEGIN(6);
		push_u64(rp, ret);
		push_u32(rp, ret > 0 ? ret : 0);
		push_msg_data(rp, a[1], ret);
		push_socktuple(rp, fd_sock(a[0]), false);
		push_empty(rp);
		push_u64(rp, (int)a[0]);
		break;
	case 19:    /* readv: res, size, data, fd */
	case 295: { /* preadv: res, size, data, fd, pos */
		BEGIN(nr == 19 ? 4 : 5);
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
		if (nr == 295)
			push_u64(rp, a[3]);
		break;
	}
	case 20:    /* writev: res, data, fd, size */
	case 296: { /* pwritev: res, data, fd, size, pos */
		BEGIN(nr == 20 ? 4 : 5);
		push_u64(rp, ret);
		/* What the caller gave, whatever the result (as Falco does for writes). */
		__u64 total = push_iov_data(rp, (void *)a[1], a[2], PG_SNAPLEN, true);
		push_u64(rp, (int)a[0]);
		push_u32(rp, total);
		if (nr == 296)
			push_u64(rp, a[3]);
		break;
	}
	case 7: /* poll: res, fds, timeout */
		BEGIN(3);
		push_u64(rp, ret);
		push_pollfds(rp, a[0], a[1]);
		push_u64(rp, (int)a[2]);
		break;
	case 271: { /* ppoll: res, fds, timeout (ns; -1 when NULL), sigmask (first 32 signals) */
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
	case 157: /* prctl: res, option, arg2_str, arg2_int */
		BEGIN(4);
		push_u64(rp, ret);
		push_u32(rp, a[0]);
		if (a[0] == 15 /* PR_SET_NAME */ || a[0] == 16 /* PR_GET_NAME */)
			push_user_str(rp, (void *)a[1]);
		else
			push_empty(rp);
		push_u64(rp, a[1]);
		break;
	case 165: /* mount: res, dev, dir, type, flags */
		BEGIN(5);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_user_str(rp, (void *)a[2]);
		push_u32(rp, a[3]);
		break;
	case 166: /* umount2: res, name, flags */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case 175: /* init_module: res, img, length, uargs */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[0], a[1], PG_SNAPLEN);
		push_u64(rp, a[1]);
		push_user_str(rp, (void *)a[2]);
		break;
	case 313: /* finit_module: res, fd, uargs, flags */
		BEGIN(4);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		break;
	case 319: /* memfd_create: fd, name, flags */
		BEGIN(3);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		break;
	case 0: /* read: res, data, fd, size */
	case 1: /* write: res, data, fd, size */
	case 17: /* pread64: res, data, fd, size, pos */
	case 18: /* pwrite64: res, data, fd, size, pos */
		BEGIN(nr < 2 ? 4 : 5);
		push_u64(rp, ret);
		push_user_bytes(rp, (void *)a[1], ret > 0 ? ret : 0, PG_SNAPLEN);
		push_u64(rp, (int)a[0]);
		push_u32(rp, a[2]);
		if (nr >= 2)
			push_u64(rp, a[3]);
		break;
	case 92: /* chown: res, path, uid, gid */
	case 94: /* lchown: res, path, uid, gid */
		BEGIN(4);
		push_u64(rp, ret);
		push_user_str(rp, (void *)a[0]);
		push_u32(rp, a[1]);
		push_u32(rp, a[2]);
		break;
	case 260: /* fchownat: res, dirfd, pathname, uid, gid, flags */
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_user_str(rp, (void *)a[1]);
		push_u32(rp, a[2]);
		push_u32(rp, a[3]);
		push_u32(rp, a[4]);
		break;
	case 79: /* getcwd: res, path (the buffer holds a path only on success) */
		BEGIN(2);
		push_u64(rp, ret);
		push_user_str(rp, ret > 0 ? (void *)a[0] : NULL);
		break;
	case 304: /* open_by_handle_at: fd, mountfd, flags, path (of the opened file), dev, ino */
		BEGIN(6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_open_flags(rp, a[2], of);
		push_file_path(rp, of);
		push_open_identity(rp, of);
		break;
	case 54:   /* setsockopt: res, fd, level, optname, val, optlen */
	case 55: { /* getsockopt: the value and its length after the call */
		bool get = nr == 55;
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
	case 307:   /* sendmmsg: res, fd, size, data, tuple (of the first message) */
	case 299: { /* recvmmsg: res, fd, size, data, tuple, msgcontrol */
		/* struct mmsghdr { struct user_msghdr msg_hdr; unsigned int msg_len; } */
		__u32 len = ret > 0 ? user_u32(a[1] + sizeof(struct user_msghdr)) : 0;
		BEGIN(nr == 307 ? 5 : 6);
		push_u64(rp, ret);
		push_u64(rp, (int)a[0]);
		push_u32(rp, len);
		push_msg_data(rp, a[1], len);
		push_socktuple(rp, fd_sock(a[0]), nr == 299);
		if (nr == 299)
			push_empty(rp);
		break;
	}
	case 431: /* fsconfig: res, fd, cmd, key, value_bytebuf, value_charbuf, aux */
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
