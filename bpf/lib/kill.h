// SPDX-License-Identifier: Apache-2.0
/*
 * In-kernel kill: response policies that peregrine-response placed in the kernel
 * (`peregrine_response::kernel`) become filters in these maps; a matching filter sends
 * SIGKILL with bpf_send_signal in the very hook that matched — at sched_process_exec before
 * the new image runs one instruction, at a successful open's exit before anything is read or
 * written, at a successful connect's exit before data can flow. The event is still recorded
 * and sent; user space raises the alert and reports the kill (pg_kill_log).
 *
 * Never for pid 1, a kernel thread, the agent (pg_config.self_tgid), the agent's ancestors
 * (pg_kill_spare_tgid) or a protected executable (pg_kill_spare_exe, by inode and device).
 * Never more kills than pg_kill_budget allows per window: over it a match is only observed.
 *
 * Two generations of filters (PG_KILL_GENS): a reload writes the idle one and flips
 * pg_kill_config.generation, so the hooks see the old set or the new one, never a mix.
 *
 * Costs: one array lookup per exec and per selected open/connect while any filter is loaded
 * (pg_kill_config.hooks says which hooks have one); syscalls no filter selects are never
 * looked at (the dispatcher compares the syscall number first).
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

#define PG_SIGKILL 9
#define PG_EINPROGRESS 115
#define PG_PF_KTHREAD 0x00200000

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_kill_config);
} pg_kill_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PG_KILL_GENS * PG_KILL_MAX_FILTERS);
	__type(key, __u32);
	__type(value, struct pg_kill_filter);
} pg_kill_filters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct pg_kill_name_key);
	__type(value, __u32);
} pg_kill_names SEC(".maps");

/* Parents' names (PG_KILL_F_PNAMES). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct pg_kill_name_key);
	__type(value, __u32);
} pg_kill_pnames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_kill_budget);
} pg_kill_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_kill_path_key);
	__type(value, __u32);
} pg_kill_paths SEC(".maps");

/* Key: gen << 16 | port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, __u32);
} pg_kill_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2048);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_kill_net_key);
	__type(value, __u32);
} pg_kill_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} pg_kill_spare_tgid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct pg_kill_inode);
	__type(value, __u8);
} pg_kill_spare_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct pg_kill_entry);
} pg_kill_log SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_KILL_GENS * PG_KILL_MAX_FILTERS);
	__type(key, __u32);
	__type(value, struct pg_kill_count);
} pg_kill_counts SEC(".maps");

/* The path being tested (too big for the stack next to the dispatcher's frame); the spare
 * bytes after the key let a masked index (1 + (i & 255)) stay inside the value. */
struct kill_scratch {
	struct pg_kill_path_key k;
	__u8 spare[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kill_scratch);
} pg_kill_scratch SEC(".maps");

/* The live generation's hooks with a filter (PG_KILL_F_EXEC/OPEN/CONNECT), 0 when none is
 * loaded or active. */
static __always_inline __u32 kill_hooks(void)
{
	__u32 zero = 0;
	struct pg_kill_config *c = bpf_map_lookup_elem(&pg_kill_config, &zero);
	if (!c)
		return 0;
	__u32 g = c->generation & 1;
	return c->active[g] ? c->hooks[g] : 0;
}

/* The filters' bits found under `key` in a lookup map (0: none). */
static __always_inline __u32 kill_mask(void *map, const void *key)
{
	__u32 *m = bpf_map_lookup_elem(map, key);
	return m ? *m : 0;
}

/* The cgroup name being tested. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[128]);
} pg_kill_cgname SEC(".maps");

/* Hex digit i of the id in pg_kill_cgname, from offset *(int *)at (bpf_loop callback: the
 * verifier sees one digit, not 64 unrolled); a non-digit sets the offset to -1 and stops. */
static long kill_hex_step(__u64 i, void *at)
{
	__u32 zero = 0;
	char *n = bpf_map_lookup_elem(&pg_kill_cgname, &zero);
	int *off = at;
	if (!n || *off < 0)
		return 1;
	char c = n[(*off + i) & 127], lower = c | 0x20;
	if (!((c >= '0' && c <= '9') || (lower >= 'a' && lower <= 'f'))) {
		*off = -1;
		return 1;
	}
	return 0;
}

/*
 * Is this cgroup name one of the container layouts user space also reads as a container
 * (peregrine-state's container.rs): `libpod-`, `docker-`, `crio-` or `cri-containerd-`
 * followed by 64 hex digits, then the end or `.scope`? A subset of user space's rules, so
 * the kernel never calls a host process a container.
 */
static __always_inline bool container_name(const char *kname)
{
	__u32 zero = 0;
	char *n = bpf_map_lookup_elem(&pg_kill_cgname, &zero);
	if (!n)
		return false;
	long len = bpf_probe_read_kernel_str(n, 128, kname);
	if (len < 65)
		return false;
	int at;
	if (n[0] == 'l' && n[1] == 'i' && n[2] == 'b' && n[3] == 'p' && n[4] == 'o' && n[5] == 'd' &&
	    n[6] == '-')
		at = 7;
	else if (n[0] == 'd' && n[1] == 'o' && n[2] == 'c' && n[3] == 'k' && n[4] == 'e' &&
		 n[5] == 'r' && n[6] == '-')
		at = 7;
	else if (n[0] == 'c' && n[1] == 'r' && n[2] == 'i' && n[3] == 'o' && n[4] == '-')
		at = 5;
	else if (n[0] == 'c' && n[1] == 'r' && n[2] == 'i' && n[3] == '-' && n[4] == 'c' &&
		 n[5] == 'o' && n[6] == 'n' && n[7] == 't' && n[8] == 'a' && n[9] == 'i' &&
		 n[10] == 'n' && n[11] == 'e' && n[12] == 'r' && n[13] == 'd' && n[14] == '-')
		at = 15;
	else
		return false;
	int off = at;
	bpf_loop(64, kill_hex_step, &off, 0);
	if (off < 0)
		return false;
	int end = (at + 64) & 127;
	if (n[end] == 0)
		return true;
	return n[end] == '.' && n[(end + 1) & 127] == 's' && n[(end + 2) & 127] == 'c' &&
	       n[(end + 3) & 127] == 'o' && n[(end + 4) & 127] == 'p' && n[(end + 5) & 127] == 'e' &&
	       n[(end + 6) & 127] == 0;
}

/*
 * Whether the current task is in a container user space recognises: the deepest of its
 * controllers' cgroups (one of the paths of Falco's `cgroups` parameter, which user space
 * reads) has a container's name, or its parent has (podman's `libpod-<id>/container`). One
 * path of the several user space reads: the kernel may miss a container, never invent one.
 */
static __always_inline bool in_container(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct cgroup *deepest = NULL;
	int level = -1;
	for (int i = 0; i < CGROUP_SUBSYS_COUNT && i < 16; i++) {
		struct cgroup_subsys_state *css = BPF_CORE_READ(t, cgroups, subsys[i]);
		if (!css)
			continue;
		struct cgroup *cg = BPF_CORE_READ(css, cgroup);
		int l = BPF_CORE_READ(cg, level);
		if (cg && l > level) {
			level = l;
			deepest = cg;
		}
	}
	if (!deepest || level < 1)
		return false;
	struct kernfs_node *kn = BPF_CORE_READ(deepest, kn);
	if (!kn)
		return false;
	if (container_name(BPF_CORE_READ(kn, name)))
		return true;
	struct kernfs_node *parent = kn_parent(kn);
	return parent && container_name(BPF_CORE_READ(parent, name));
}

/* Whether the current process is one that is never killed. */
static __always_inline bool kill_spared(__u32 tgid)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	if (tgid <= 1 || (t->flags & PG_PF_KTHREAD))
		return true;
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&pg_config, &zero);
	if (!cfg || tgid == cfg->self_tgid)
		return true;
	if (bpf_map_lookup_elem(&pg_kill_spare_tgid, &tgid))
		return true;
	struct pg_kill_inode k = {};
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	if (!exe)
		return true;
	k.ino = BPF_CORE_READ(exe, f_inode, i_ino);
	k.dev = encode_dev(BPF_CORE_READ(exe, f_inode, i_sb, s_dev));
	return bpf_map_lookup_elem(&pg_kill_spare_exe, &k) != NULL;
}

/* What a hook found, for the filters to test. */
struct kill_facts {
	__u32 gen;	 /* the live generation */
	__u32 hook;	 /* PG_KILL_F_EXEC / OPEN / CONNECT */
	__u32 names;	 /* exec: filters whose names hold the new comm */
	__u32 pnames;	 /* exec: filters whose parent names hold the parent's comm */
	__u32 exe_flags; /* exec: the new image's PG_EXE_* bits */
	__u32 paths;	 /* open: filters whose paths or prefixes hold the path */
	__u32 call;	 /* open: PG_KILL_OPEN* of this call */
	__u32 access;	 /* open: PG_KILL_F_READ / PG_KILL_F_WRITE */
	__u32 ports;	 /* connect: filters whose ports hold the remote port */
	__u32 nets;	 /* connect: filters whose nets hold the remote address */
	__u32 success;	 /* connect: returned 0 */
};

/* kill_pick's loop state: the facts, then what the filters made of them. */
struct kill_pick_ctx {
	struct kill_facts k;
	__u32 candidates;
	__u32 matched;	 /* filters the facts satisfy, their scope aside */
	__u32 container; /* of those, the ones limited to containers */
};

/* One filter against the facts (bpf_loop callback: the body is verified once). */
static long kill_pick_step(__u64 i, void *data)
{
	struct kill_pick_ctx *x = data;
	__u32 idx = i;
	if (idx >= PG_KILL_MAX_FILTERS)
		return 1;
	__u32 bit = 1U << idx;
	if (!(x->candidates & bit))
		return 0;
	__u32 slot = (x->k.gen & 1) * PG_KILL_MAX_FILTERS + idx;
	struct pg_kill_filter *f = bpf_map_lookup_elem(&pg_kill_filters, &slot);
	if (!f || !(f->flags & x->k.hook))
		return 0;
	__u32 fl = f->flags;
	if ((fl & PG_KILL_F_NAMES) && !(x->k.names & bit))
		return 0;
	if ((fl & PG_KILL_F_PNAMES) && !(x->k.pnames & bit))
		return 0;
	if ((x->k.exe_flags & f->exe_flags) != f->exe_flags)
		return 0;
	if (x->k.hook == PG_KILL_F_OPEN &&
	    (!(x->k.paths & bit) || !(f->open_calls & x->k.call) ||
	     (fl & (PG_KILL_F_READ | PG_KILL_F_WRITE) & ~x->k.access)))
		return 0;
	if ((fl & PG_KILL_F_PORTS) && !(x->k.ports & bit))
		return 0;
	if ((fl & PG_KILL_F_NETS) && !(x->k.nets & bit))
		return 0;
	if ((fl & PG_KILL_F_SUCCESS) && !x->k.success)
		return 0;
	x->matched |= bit;
	if (fl & PG_KILL_F_CONTAINER)
		x->container |= bit;
	return 0;
}

/* The first active filter of `candidates` that the facts satisfy, or -1. The container test
 * (a walk of the task's cgroups) runs only when a filter limited to containers matched. */
static __always_inline int kill_pick(struct kill_facts *k, __u32 candidates)
{
	struct kill_pick_ctx x = {.k = *k, .candidates = candidates};
	bpf_loop(PG_KILL_MAX_FILTERS, kill_pick_step, &x, 0);
	__u32 m = x.matched & ~x.container;
	if (x.container && in_container())
		m |= x.container;
	for (int i = 0; i < PG_KILL_MAX_FILTERS; i++)
		if (m & (1U << i))
			return i;
	return -1;
}

/*
 * Whether the kernel's budget allows one more kill now, which it then counts. The window
 * starts at the first kill after the last one ended. No atomics but an add (BPF v1): CPUs
 * racing at the limit may each let one extra kill through, and two may both restart a window.
 */
static __always_inline bool kill_budget_take(__u64 now)
{
	__u32 zero = 0;
	struct pg_kill_budget *b = bpf_map_lookup_elem(&pg_kill_budget, &zero);
	if (!b || !b->window_ns)
		return true;
	if (now - b->start_ns >= b->window_ns) {
		b->start_ns = now;
		b->used = 0;
	}
	if (b->used >= b->limit) {
		__sync_fetch_and_add(&b->observed, 1);
		return false;
	}
	__sync_fetch_and_add(&b->used, 1);
	return true;
}

/* Kills (or, in dry run or over the budget, only notes) the current process for filter `i`
 * of generation `gen`. */
static __always_inline void kill_act(__u32 gen, int i, __u64 t0)
{
	__u32 idx = (gen & 1) * PG_KILL_MAX_FILTERS + (i & (PG_KILL_MAX_FILTERS - 1));
	struct pg_kill_filter *f = bpf_map_lookup_elem(&pg_kill_filters, &idx);
	struct pg_kill_count *n = bpf_map_lookup_elem(&pg_kill_counts, &idx);
	if (!f || !n)
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (kill_spared(tgid)) {
		n->spared++;
		return;
	}
	__u32 how = f->flags & PG_KILL_F_DRY_RUN ? PG_KILL_DRY : 0;
	if (!how && !kill_budget_take(t0))
		how = PG_KILL_OBSERVED;
	if (!how)
		bpf_send_signal(PG_SIGKILL);
	struct pg_kill_entry e = {
		.ts_boot_ns = t0,
		.signal_ns = bpf_ktime_get_boot_ns() - t0,
		.filter = idx,
		.dry_run = how,
	};
	bpf_map_update_elem(&pg_kill_log, &tgid, &e, BPF_ANY);
	if (how == PG_KILL_DRY)
		n->dry_runs++;
	else if (how == PG_KILL_OBSERVED)
		n->observed++;
	else
		n->kills++;
}

/*
 * The parent's comm, when the kernel's view of it is the one user space's `proc.pname` has:
 * the parent process (real_parent's thread group leader) is named as its executable is (so
 * it has not renamed itself with prctl or /proc/PID/comm since its exec, which user space
 * does not see), and is no reaper (pid 1 of its namespace or a subreaper: a child it did not
 * fork may have been re-parented to it, which user space learns only from the old parent's
 * exit event). Else no parent name is decided here: user space decides.
 */
static __always_inline __u32 kill_parent_names(__u32 gen)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	struct task_struct *p = BPF_CORE_READ(t, real_parent, group_leader);
	if (!p)
		return 0;
	struct signal_struct *sig = BPF_CORE_READ(p, signal);
	if (!sig || BPF_CORE_READ_BITFIELD_PROBED(sig, is_child_subreaper))
		return 0;
	struct pid *pp = BPF_CORE_READ(p, thread_pid);
	if (!pp || pid_nr_in(pp, true) == 1)
		return 0;
	struct pg_kill_name_key key = {.generation = gen};
	BPF_CORE_READ_INTO(&key.comm, p, comm);
	char exe[PG_KILL_COMM] = {};
	const unsigned char *ename = BPF_CORE_READ(p, mm, exe_file, f_path.dentry, d_name.name);
	if (!ename || bpf_probe_read_kernel_str(exe, sizeof(exe), ename) <= 1)
		return 0;
	/* A comm holds the first 15 bytes of the name it was given. */
	for (int i = 0; i < PG_KILL_COMM - 1; i++) {
		if (key.comm[i] != exe[i])
			return 0;
		if (!exe[i])
			break;
	}
	return kill_mask(&pg_kill_pnames, &key);
}

/* sched_process_exec: the new image's comm and flags against the exec filters. */
static __noinline void kill_at_exec(struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct pg_kill_config *c = bpf_map_lookup_elem(&pg_kill_config, &zero);
	if (!c)
		return;
	__u32 gen = c->generation & 1, active = c->active[gen];
	if (!active || !(c->hooks[gen] & PG_KILL_F_EXEC))
		return;
	__u64 t0 = bpf_ktime_get_boot_ns();
	struct kill_facts k = {.gen = gen, .hook = PG_KILL_F_EXEC};
	struct pg_kill_name_key name = {.generation = gen};
	bpf_get_current_comm(name.comm, sizeof(name.comm));
	k.names = kill_mask(&pg_kill_names, &name);
	k.pnames = kill_parent_names(gen);
	k.exe_flags = exe_flags(BPF_CORE_READ(bprm, file));
	int i = kill_pick(&k, active);
	if (i >= 0)
		kill_act(gen, i, t0);
}

/* One byte of the path in pg_kill_scratch against the one before it (bpf_loop callback);
 * clears *ok at `//`, `/.` or `..`. */
static long kill_path_step(__u64 i, void *ok)
{
	__u32 zero = 0;
	struct kill_scratch *sc = bpf_map_lookup_elem(&pg_kill_scratch, &zero);
	if (!sc || i == 0 || i >= PG_KILL_PATH)
		return 1;
	struct pg_kill_path_key *pk = &sc->k;
	/* The path starts after the generation byte. */
	__u8 a = pk->data[1 + ((i - 1) & (PG_KILL_PATH - 1))];
	__u8 b = pk->data[1 + (i & (PG_KILL_PATH - 1))];
	if ((a == '/' && (b == '/' || b == '.')) || (a == '.' && b == '.')) {
		*(bool *)ok = false;
		return 1;
	}
	return 0;
}

/*
 * A path the kernel decides on: absolute and needing no normalisation, so that it is the
 * `fd.name` user space will show (the test of shedding, syscall/shed.h; user space keeps
 * other paths to itself). `n` is the length with the NUL.
 */
static __always_inline bool kill_path_plain(const __u8 *p, long n)
{
	if (n < 2 || n > PG_KILL_PATH || p[0] != '/' || p[(n - 2) & (PG_KILL_PATH - 1)] == '/')
		return false;
	bool ok = true;
	bpf_loop(n - 1, kill_path_step, &ok, 0);
	return ok;
}

#define PG_O_ACCMODE 3

/*
 * A successful open's or connect's exit (the dispatcher calls this for those numbers only,
 * and only when kill_hooks() says a filter waits there). `path`, `flags` and `fd` are the
 * call's arguments (open family: path and flags or open_how; connect: fd).
 */
static __noinline void kill_at_exit(__u32 nr, long ret, __u64 path, __u64 flags, __u64 fd)
{
	__u32 zero = 0;
	struct pg_kill_config *c = bpf_map_lookup_elem(&pg_kill_config, &zero);
	if (!c)
		return;
	__u32 gen = c->generation & 1, active = c->active[gen], hooks = c->hooks[gen];
	if (!active)
		return;
	__u64 t0 = bpf_ktime_get_boot_ns();
	struct kill_facts k = {.gen = gen};
	if (nr == PG_SYS_CONNECT) {
		if (!(hooks & PG_KILL_F_CONNECT) || (ret != 0 && ret != -PG_EINPROGRESS))
			return;
		struct sock *sk = fd_sock((long)fd);
		if (!sk)
			return;
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		__u32 port = gen << 16 | bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		struct pg_kill_net_key nk = {.data = {gen}};
		if (family == AF_INET) {
			__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			nk.prefixlen = 16 + 32;
			nk.data[1] = 4;
			__builtin_memcpy(&nk.data[2], &a, 4);
		} else if (family == AF_INET6) {
			nk.prefixlen = 16 + 128;
			nk.data[1] = 6;
			BPF_CORE_READ_INTO(&nk.data[2], sk, __sk_common.skc_v6_daddr);
		} else {
			return;
		}
		k.hook = PG_KILL_F_CONNECT;
		k.ports = kill_mask(&pg_kill_ports, &port);
		k.nets = kill_mask(&pg_kill_nets, &nk);
		k.success = ret == 0;
	} else {
		if (!(hooks & PG_KILL_F_OPEN) || ret < 0)
			return;
		struct kill_scratch *sc = bpf_map_lookup_elem(&pg_kill_scratch, &zero);
		if (!sc)
			return;
		struct pg_kill_path_key *pk = &sc->k;
		pk->data[0] = gen;
		/* n == PG_KILL_PATH - 1 may be a cut path: not decided here. */
		long n = bpf_probe_read_user_str(pk->data + 1, PG_KILL_PATH - 1, (const void *)path);
		if (n <= 1 || n >= PG_KILL_PATH - 1 || !kill_path_plain(pk->data + 1, n))
			return;
		pk->prefixlen = 8 + n * 8;
		k.hook = PG_KILL_F_OPEN;
		k.paths = kill_mask(&pg_kill_paths, pk);
		if (!k.paths)
			return;
		__u64 f = flags;
		if (nr == PG_SYS_OPENAT2) {
			f = 0;
			bpf_probe_read_user(&f, sizeof(f), (const void *)flags);
		}
		__u32 acc = f & PG_O_ACCMODE;
		k.call = nr == PG_SYS_OPEN     ? PG_KILL_OPEN
			 : nr == PG_SYS_OPENAT ? PG_KILL_OPENAT
			 : nr == PG_SYS_OPENAT2 ? PG_KILL_OPENAT2
						: PG_KILL_CREAT;
		/* creat is open(O_CREAT | O_WRONLY | O_TRUNC); Falco's is_open_read/write read the
		 * access mode the same way (O_RDWR is both). */
		if (nr == PG_SYS_CREAT)
			acc = 1;
		k.access = (acc == 0 || acc == 2 ? PG_KILL_F_READ : 0) |
			   (acc == 1 || acc == 2 ? PG_KILL_F_WRITE : 0);
	}
	int i = kill_pick(&k, active);
	if (i >= 0)
		kill_act(gen, i, t0);
}
