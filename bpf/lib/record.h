// SPDX-License-Identifier: Apache-2.0
/*
 * Assembling a record in this CPU's scratch area (struct rec): header, parameter lengths,
 * integer and string pushes; counters and the capture decision.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/*
 * A record being assembled. The write cursor and parameter index live in the scratch header
 * (h->len, h->reserved), i.e. in map memory, on purpose: the verifier does not track values
 * loaded from maps, so records whose variable-length parameters took different sizes converge
 * to one verifier state instead of multiplying states per parameter (every access is masked
 * anyway). Kept on the stack, the exec record alone exceeded the 1M-instruction budget.
 */
struct rec {
	__u8 *b;
	struct pg_record_hdr *h;
	__u8 family;
	__u8 prio; /* goes to the priority lane (PG_INTEREST_PRIO) */
};

static __always_inline struct pg_counters *counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&pg_counters, &zero);
}

static __always_inline void count_read_failure(void)
{
	struct pg_counters *c = counters();
	if (c)
		c->read_failures++;
}

/* Capture decision shared by every hook: not the agent, and the target if one is set. */
static __always_inline bool wanted_tgid(__u32 tgid)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&pg_config, &zero);
	if (!cfg)
		return false;
	if (tgid == cfg->self_tgid)
		return false;
	if (cfg->only_tgid && tgid != cfg->only_tgid)
		return false;
	return true;
}

static __always_inline __u8 interest(__u32 nr)
{
	__u8 *f = bpf_map_lookup_elem(&pg_interest, &nr);
	return f ? *f : 0;
}

/* This CPU's scratch area: the record being built, then the temporary area behind it. */
static __always_inline struct pg_scratch *scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&pg_scratch, &cpu);
}

/* `family` is an enum pg_family, or-ed with PG_INTEREST_PRIO for the priority lane. */
static __always_inline bool rec_init(struct rec *r, __u16 kind, __u16 nr, __u16 nparams,
				     __u8 family)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct pg_scratch *s = scratch();
	if (!s)
		return false;
	r->b = s->data;
	r->h = (struct pg_record_hdr *)s->data;
	r->family = family & PG_INTEREST_FAMILY;
	r->prio = (family & PG_INTEREST_PRIO) != 0;
	struct pg_record_hdr *h = r->h;
	h->reserved = 0;
	h->len = PG_HDR_SIZE + 2 * (nparams & (PG_MAX_PARAMS - 1));
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->tid = (__u32)pid_tgid;
	h->pid = pid_tgid >> 32;
	h->kind = kind;
	h->nr = nr;
	h->nparams = nparams & (PG_MAX_PARAMS - 1);
	h->cpu = cpu;
	h->version = PG_RECORD_VERSION;
	return true;
}

static __always_inline void set_len(struct rec *r, __u32 len)
{
	__u32 off = PG_HDR_SIZE + 2 * (r->h->reserved & (PG_MAX_PARAMS - 1));
	*(__u16 *)&r->b[off] = (__u16)len;
	r->h->reserved++;
}

/* A parameter of `n` bytes has been written at the cursor: move past it, record its length. */
static __always_inline void push_done(struct rec *r, __u32 n)
{
	r->h->len += n;
	set_len(r, n);
}

static __always_inline void push_empty(struct rec *r)
{
	set_len(r, 0);
}

#define DEFINE_PUSH(name, type)                                                                \
	static __always_inline void name(struct rec *r, type v)                                \
	{                                                                                      \
		*(type *)&r->b[r->h->len & PG_POS_MASK] = v;                                      \
		push_done(r, sizeof(type));                                                    \
	}
DEFINE_PUSH(push_u8, __u8)
DEFINE_PUSH(push_u16, __u16)
DEFINE_PUSH(push_u32, __u32)
DEFINE_PUSH(push_u64, __u64)

/* A NUL-terminated string read with `read_str` (the user or kernel variant). */
#define DEFINE_PUSH_STR(name, read_str)                                                        \
	static __always_inline void name(struct rec *r, const void *p)                         \
	{                                                                                      \
		long n = 0;                                                                    \
		if (p) {                                                                       \
			n = read_str(&r->b[r->h->len & PG_POS_MASK], PG_MAX_PATH, p);          \
			if (n < 0) {                                                           \
				count_read_failure();                                          \
				n = 0;                                                         \
			}                                                                      \
		}                                                                              \
		push_done(r, n);                                                               \
	}
DEFINE_PUSH_STR(push_user_str, bpf_probe_read_user_str)
DEFINE_PUSH_STR(push_kernel_str, bpf_probe_read_kernel_str)

/* Raw user bytes, at most `max` (a constant bound; must be <= PG_MAX_ARGS). */
static __always_inline void push_user_bytes(struct rec *r, const void *p, __u64 len, __u32 max)
{
	if (len > max)
		len = max;
	if (!p || len == 0) {
		push_empty(r);
		return;
	}
	len &= (PG_MAX_ARGS * 2 - 1);
	if (len > max)
		len = max;
	if (bpf_probe_read_user(&r->b[r->h->len & PG_POS_MASK], len, p) < 0) {
		count_read_failure();
		push_empty(r);
		return;
	}
	push_done(r, len);
}

static __always_inline __u32 encode_dev(__u32 kdev)
{
	/* Kernel-internal dev_t (major << 20 | minor) to the user-visible encoding (new_encode_dev). */
	__u32 major = kdev >> 20, minor = kdev & 0xfffff;
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}
