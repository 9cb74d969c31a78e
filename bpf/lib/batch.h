// SPDX-License-Identifier: Apache-2.0
/*
 * Emission: ring wakeups, per-CPU batches (struct pg_batch) and their timer, rec_submit.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/*
 * Wake the reader only when the ring is over half full, and then on one record in 64 per CPU:
 * a consumer that has fallen behind is already awake or about to be, and a forced wakeup per
 * record (an irq_work each) multiplied the cost of every event by ten in that state. The
 * fill level is looked at only on those 64th records (two helper calls saved on the others);
 * the timer-driven drain handles everything else.
 */
static __always_inline __u64 wakeup_flags(struct pg_counters *c)
{
	if ((c->wakeup_tick++ & 63) == 0 &&
	    bpf_ringbuf_query(&pg_events, BPF_RB_AVAIL_DATA) >
		    bpf_ringbuf_query(&pg_events, BPF_RB_RING_SIZE) / 2)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void count_ring_full(struct pg_counters *c, __u8 family)
{
	c->drops_ring_full++;
	if (family < PG_FAMILY_MAX)
		c->drops_family[family]++;
}

/* ---- the priority lane (pg_prio) ---- */

/* Wake the reader when the priority ring is over half full; it is drained every round anyway. */
static __always_inline __u64 prio_wakeup_flags(void)
{
	return bpf_ringbuf_query(&pg_prio, BPF_RB_AVAIL_DATA) >
			       bpf_ringbuf_query(&pg_prio, BPF_RB_RING_SIZE) / 2
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_prio(struct pg_counters *c, bool sent, __u8 family)
{
	if (sent) {
		c->events++;
		c->prio_events++;
	} else {
		c->prio_drops_ring_full++;
		count_ring_full(c, family);
	}
}

/* ---- per-CPU batches (struct pg_batch) ---- */

#define PG_CLOCK_MONOTONIC 1
/* Orders the `busy` flag against the batch accesses it guards (same CPU: compiler only). */
#define pg_barrier() asm volatile("" ::: "memory")

static __always_inline struct pg_batch *this_batch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&pg_batch, &cpu);
}

/* Sends the batch as one ring entry, or counts each of its records as lost; empties it. */
static __always_inline void batch_ship(struct pg_batch *b, struct pg_counters *c)
{
	__u32 len = b->len;
	__u32 n = b->nrec;
	if (n == 0)
		return;
	bool ok = len > 0 && len <= PG_BATCH_MAX;
	/* Hide the check from clang so that the mask (the verifier's bound) stays. */
	asm volatile("" : "+r"(len));
	if (ok && bpf_ringbuf_output(&pg_events, b->data, len & (2 * PG_BATCH_MAX - 1),
				     wakeup_flags(c)) == 0) {
		c->events += n;
	} else {
		c->drops_ring_full += n;
		for (int i = 0; i < PG_FAMILY_MAX; i++)
			c->drops_family[i] += b->fam[i];
	}
	c->batched -= n;
	b->len = 0;
	b->nrec = 0;
	__builtin_memset(b->fam, 0, sizeof(b->fam));
}

static int batch_timer(void *map, __u32 *key, struct pg_batch *b)
{
	struct pg_counters *c = counters();
	if (!c)
		return 0;
	if (b->busy) {
		/* It interrupted a writer on this CPU: look again shortly. */
		bpf_timer_start(&b->timer, PG_BATCH_AGE_NS / 8, BPF_F_TIMER_CPU_PIN);
		return 0;
	}
	b->armed = 0;
	batch_ship(b, c);
	return 0;
}

/* Starts the timer that ships this CPU's batch PG_BATCH_AGE_NS from now, on this CPU. */
static __always_inline void batch_arm(struct pg_batch *b)
{
	if (!b->timer_ready) {
		/* -EBUSY (already initialised) is fine: only the callback must be set. */
		bpf_timer_init(&b->timer, &pg_batch, PG_CLOCK_MONOTONIC);
		if (bpf_timer_set_callback(&b->timer, batch_timer) != 0)
			return;
		b->timer_ready = 1;
	}
	if (bpf_timer_start(&b->timer, PG_BATCH_AGE_NS, BPF_F_TIMER_CPU_PIN) == 0)
		b->armed = 1;
}

/*
 * This CPU's batch, marked busy, with room for a record of `size` bytes at b->len (the batch is
 * shipped first if the record would not fit); NULL if batching is off (pg_config.batch_bytes
 * 0), the record is larger than a batch, or the batch is busy.
 */
static __always_inline struct pg_batch *batch_open(__u32 size, struct pg_counters *c)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&pg_config, &zero);
	__u32 limit = cfg ? cfg->batch_bytes : 0;
	__u32 asize = (size + 7) & ~7U;
	if (limit > PG_BATCH_MAX)
		limit = PG_BATCH_MAX;
	if (asize > limit)
		return NULL;
	struct pg_batch *b = this_batch();
	if (!b || b->busy)
		return NULL;
	b->busy = 1;
	pg_barrier();
	if (b->len + asize > limit)
		batch_ship(b, c);
	return b;
}

/* Where batch_open's record goes: the offset is < PG_BATCH_MAX - size by construction. */
static __always_inline __u8 *batch_cursor(struct pg_batch *b)
{
	return b->data + (b->len & (PG_BATCH_MAX - 1));
}

/* The record of `size` bytes at batch_cursor() is complete: account for it, release the batch. */
static __always_inline void batch_commit(struct pg_batch *b, __u32 size, __u8 family, __u64 ts,
					 struct pg_counters *c)
{
	if (b->nrec == 0)
		b->first_ts = ts;
	b->len += (size + 7) & ~7U;
	b->nrec++;
	b->fam[family & 7]++;
	c->batched++;
	/* Process lifecycle records go out at once: the state engine must see a clone, exec or
	 * exit before records that other CPUs write about the processes it creates. */
	if (family == PG_FAMILY_PROCESS || ts - b->first_ts >= PG_BATCH_AGE_NS)
		batch_ship(b, c);
	else if (!b->armed)
		batch_arm(b);
	pg_barrier();
	b->busy = 0;
}

/*
 * Ships this CPU's batch now if it is not busy: a record about to bypass it keeps its order.
 * Before a priority-lane record it is called before the record's timestamp is taken, so every
 * bulk record this CPU wrote earlier is in pg_events with a smaller timestamp (the invariant
 * the user-space merge relies on; bpf/README.md, "Lanes").
 */
static __always_inline void batch_flush(struct pg_counters *c)
{
	struct pg_batch *b = this_batch();
	if (!b || b->busy || b->nrec == 0)
		return;
	b->busy = 1;
	pg_barrier();
	batch_ship(b, c);
	pg_barrier();
	b->busy = 0;
}

static __always_inline void rec_submit(struct rec *r)
{
	struct pg_counters *c = counters();
	struct pg_record_hdr *h = (struct pg_record_hdr *)r->b;
	__u32 len = r->h->len;
	if (!c)
		return;
	if (len > PG_MAX_RECORD) {
		c->drops_too_large++;
		return;
	}
	h->len = len;
	h->reserved = 0;
	if (r->prio) {
		/* The caller's hook flushed this CPU's batch before rec_init took the timestamp. */
		count_prio(c, bpf_ringbuf_output(&pg_prio, r->b, len, prio_wakeup_flags()) == 0,
			   r->family);
		return;
	}
	struct pg_batch *b = batch_open(len, c);
	if (b) {
		/* batch_open guarantees len <= PG_BATCH_MAX; the mask, hidden from clang so that it
		 * stays, bounds it for the verifier. */
		__u32 n = len;
		asm volatile("" : "+r"(n));
		if (bpf_probe_read_kernel(batch_cursor(b), n & (2 * PG_BATCH_MAX - 1), r->b) == 0) {
			batch_commit(b, len, r->family, h->ts_boot_ns, c);
			return;
		}
		/* Copying between two of our own maps does not fail; if it ever did, count it. */
		pg_barrier();
		b->busy = 0;
		count_ring_full(c, r->family);
		return;
	}
	batch_flush(c);
	if (bpf_ringbuf_output(&pg_events, r->b, len, wakeup_flags(c)) == 0)
		c->events++;
	else
		count_ring_full(c, r->family);
}
